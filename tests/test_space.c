/* SPDX-License-Identifier: MIT */
/* Address spaces: regions, faults and their classes, fork, counters, maps.
 * Expected values come from Linux's documented behaviour (SPEC.md 9). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "os_test.h"


static osw W;
static mmu_space S;

static void setup(void) {
  cr_assert_eq(osw_init(&W, 4096, 0, 0, 0), 0);
  OK(osw_space(&W, &S, NULL));
  OK(mmu_space_activate(&S, &W.cpu));
}
static void teardown(void) {
  if (S.magic)
    osw_space_free(&S);
  osw_free(&W);
}

static uint64_t map(uint64_t addr, uint64_t len, unsigned prot,
                    unsigned flags) {
  uint64_t got = 0;
  OK(mmu_space_mmap(&S, addr, len, prot, flags, NULL, 0, &got));
  return got;
}

static mmu_fault_info touch(mmu_space *s, uint64_t va, int write) {
  mmu_fault_info info;
  uint8_t v = 0x5A;
  int rc = write ? osw_write8(&W, s, va, v, &info) : osw_read8(&W, s, va, &v, &info);
  cr_assert(rc == MMU_OK || rc == MMU_PAGE_FAULT, "access rc %d", rc);
  return info;
}

static uint8_t peek(mmu_space *s, uint64_t va) {
  uint8_t v = 0;
  OK(osw_read8(&W, s, va, &v, NULL));
  return v;
}

TestSuite(space, .init = setup, .fini = teardown);

Test(space, first_touch_read_maps_zero_page_then_write_allocates) {
  uint64_t a = map(0, 4 * PAGE, RW, 0);
  mmu_fault_info f = touch(&S, a, 0);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(f.flags, MMU_FAULTF_ZERO_PAGE);
  EQ(S.ru.rss_pages, 0); /* the zero page is not resident memory */
  f = touch(&S, a, 1);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(f.flags, 0);
  EQ(S.ru.rss_pages, 1);
  f = touch(&S, a + PAGE, 1); /* write first: one fault */
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(S.ru.minflt, 3);
  EQ(S.ru.majflt, 0);
  /* no fault at all for a second access */
  f = touch(&S, a + PAGE, 0);
  EQ(S.ru.minflt, 3);
  EQ(W.sys.vm.zero_maps, 1);
  EQ(W.sys.vm.pgfault, 3);
}

Test(space, segv_maperr_and_accerr) {
  uint64_t a = map(0, PAGE, MMU_PROT_READ, 0);
  mmu_fault_info f = touch(&S, a + PAGE, 0); /* nothing mapped there */
  EQ(f.fault_class, MMU_FAULT_SEGV);
  EQ(f.si_code, MMU_SEGV_MAPERR);
  EQ(f.addr, a + PAGE);
  f = touch(&S, a, 1); /* read-only region */
  EQ(f.fault_class, MMU_FAULT_SEGV);
  EQ(f.si_code, MMU_SEGV_ACCERR);
  uint64_t n = map(0, PAGE, MMU_PROT_NONE, 0);
  f = touch(&S, n, 0);
  EQ(f.si_code, MMU_SEGV_ACCERR);
  /* a fetch from a readable, non-executable page: mapped by the read
   * rules, then refused by XD */
  mmu_result res;
  EQ(mmu_space_access(&S, &W.cpu, a, MMU_FETCH, &res, &f), MMU_PAGE_FAULT);
  EQ(f.si_code, MMU_SEGV_ACCERR);
  /* kernel half */
  f = touch(&S, 0xffff800000000000ull, 0);
  EQ(f.si_code, MMU_SEGV_MAPERR);
  EQ(S.ru.minflt, 1); /* SIGSEGVs are not counted */
}

Test(space, mmap_places_top_down_and_merges) {
  uint64_t a = map(0, 2 * PAGE, RW, 0);
  EQ(a, 0x7f0000000000ull - 2 * PAGE);
  uint64_t b = map(0, PAGE, RW, 0);
  EQ(b, a - PAGE);
  uint32_t n;
  const mmu_region *r = mmu_space_regions(&S, &n);
  EQ(n, 1); /* adjacent, same flags: one VMA */
  EQ(r[0].start, b);
  EQ(r[0].end, a + 2 * PAGE);
  map(0, PAGE, MMU_PROT_READ, 0);
  mmu_space_regions(&S, &n);
  EQ(n, 2);
}

Test(space, munmap_splits_and_frees) {
  uint64_t a = map(0, 8 * PAGE, RW, 0);
  for (int i = 0; i < 8; i++)
    touch(&S, a + i * PAGE, 1);
  mmu_usage u;
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, 8);
  OK(mmu_space_munmap(&S, a + 2 * PAGE, 2 * PAGE));
  uint32_t n;
  const mmu_region *r = mmu_space_regions(&S, &n);
  EQ(n, 2);
  EQ(r[0].end, a + 2 * PAGE);
  EQ(r[1].start, a + 4 * PAGE);
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, 6);
  EQ(S.ru.rss_pages, 6);
  EQ(touch(&S, a + 3 * PAGE, 0).si_code, MMU_SEGV_MAPERR);
  EQ(peek(&S, a + 4 * PAGE), 0x5A);
  OK(mmu_space_munmap(&S, a, 8 * PAGE));
  mmu_space_regions(&S, &n);
  EQ(n, 0);
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, 0);
  EQ(u.frames_pt, 1); /* empty tables freed, the root stays */
  EQ(mmu_space_munmap(&S, a + 1, PAGE), MMU_ERR_ARG);
}

Test(space, mprotect_splits_merges_and_keeps_contents) {
  uint64_t a = map(0, 4 * PAGE, RW, 0);
  for (int i = 0; i < 4; i++)
    touch(&S, a + i * PAGE, 1);
  OK(mmu_space_mprotect(&S, a + PAGE, PAGE, MMU_PROT_READ));
  uint32_t n;
  mmu_space_regions(&S, &n);
  EQ(n, 3);
  EQ(touch(&S, a + PAGE, 1).si_code, MMU_SEGV_ACCERR);
  EQ(peek(&S, a + PAGE), 0x5A);
  OK(mmu_space_mprotect(&S, a + PAGE, PAGE, MMU_PROT_NONE));
  EQ(touch(&S, a + PAGE, 0).si_code, MMU_SEGV_ACCERR);
  uint64_t flt = S.ru.minflt;
  OK(mmu_space_mprotect(&S, a + PAGE, PAGE, RW));
  mmu_space_regions(&S, &n);
  EQ(n, 1); /* merged back */
  /* an exclusive page gets W back without a fault, as on Linux 6.x */
  touch(&S, a + PAGE, 1);
  EQ(S.ru.minflt, flt);
  EQ(peek(&S, a + PAGE), 0x5A);
  EQ(mmu_space_mprotect(&S, a + 8 * PAGE, PAGE, MMU_PROT_READ),
     MMU_ERR_NOSPACE);
}

Test(space, fork_shares_then_copies_on_write) {
  uint64_t a = map(0, 4 * PAGE, RW, 0);
  for (int i = 0; i < 4; i++)
    OK(osw_write8(&W, &S, a + i * PAGE, (uint8_t)(0x10 + i), NULL));
  mmu_usage u0, u;
  mmu_system_usage(&W.sys, &u0);
  mmu_space child;
  OK(osw_fork(&S, &child));
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, u0.frames_anon); /* no page copied */
  EQ(child.ru.rss_pages, 4);
  EQ(child.ru.minflt, 0);
  OK(mmu_space_activate(&child, &W.cpu));
  EQ(peek(&child, a), 0x10); /* shared, readable without a fault */
  EQ(child.ru.minflt, 0);
  mmu_fault_info f = touch(&child, a, 1);
  EQ(f.fault_class, MMU_FAULT_COW);
  EQ(W.sys.vm.cow_copies, 1);
  EQ(peek(&child, a), 0x5A);
  OK(mmu_space_activate(&S, &W.cpu));
  EQ(peek(&S, a), 0x10); /* the parent's byte is untouched */
  f = touch(&S, a, 1); /* the parent is the page's only holder now */
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(W.sys.vm.cow_reuses, 1);
  f = touch(&S, a + PAGE, 1); /* still shared: copied */
  EQ(f.fault_class, MMU_FAULT_COW);
  osw_space_free(&child);
  f = touch(&S, a + 2 * PAGE, 1); /* the child is gone: taken over */
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(W.sys.vm.cow_copies, 2);
  EQ(W.sys.vm.cow_reuses, 2);
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, 4);
}

Test(space, fork_skips_regions_without_anon_pages) {
  uint64_t a = map(0, 2 * PAGE, RW, 0);
  touch(&S, a, 0); /* zero page only: no anon_vma */
  mmu_space child;
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  EQ(touch(&child, a, 0).fault_class, MMU_FAULT_MINOR);
  EQ(child.ru.minflt, 1);
  osw_space_free(&child);
}

Test(space, stack_grows_down_within_limits) {
  mmu_space_config c;
  memset(&c, 0, sizeof c);
  c.stack_limit = 64 * PAGE;
  osw_space_free(&S);
  OK(osw_space(&W, &S, &c));
  OK(mmu_space_activate(&S, &W.cpu));
  uint64_t top = 0x7ff000000000ull;
  uint64_t st = map(top - 4 * PAGE, 4 * PAGE, RW,
                    MMU_MAP_FIXED | MMU_MAP_GROWSDOWN);
  mmu_fault_info f = touch(&S, st - 10 * PAGE + 8, 1);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(f.flags, MMU_FAULTF_STACK_GROWN);
  const mmu_region *r = mmu_space_regions(&S, NULL);
  EQ(r[0].start, st - 10 * PAGE);
  /* beyond RLIMIT_STACK */
  f = touch(&S, top - 65 * PAGE, 1);
  EQ(f.si_code, MMU_SEGV_MAPERR);
  /* not into the guard gap (256 pages) above an accessible mapping: a page
   * whose end is 200 pages below the target refuses the growth ... */
  uint64_t below = map(top - 261 * PAGE, PAGE, RW, MMU_MAP_FIXED);
  f = touch(&S, top - 60 * PAGE, 1);
  EQ(f.fault_class, MMU_FAULT_SEGV);
  EQ(f.si_code, MMU_SEGV_MAPERR);
  r = mmu_space_regions(&S, NULL);
  EQ(r[1].start, st - 10 * PAGE);
  /* ... unless it is PROT_NONE (Linux's vma_is_accessible) */
  OK(mmu_space_mprotect(&S, below, PAGE, MMU_PROT_NONE));
  f = touch(&S, top - 60 * PAGE, 1);
  EQ(f.flags, MMU_FAULTF_STACK_GROWN);
  EQ(r[1].start, top - 60 * PAGE);
}

Test(space, brk_grows_and_shrinks_the_heap) {
  OK(mmu_space_set_brk_base(&S, 0x555555560000ull));
  uint64_t b;
  OK(mmu_space_brk(&S, 0, &b));
  EQ(b, 0x555555560000ull);
  OK(mmu_space_brk(&S, 0x555555560000ull + 3 * PAGE + 5, &b));
  EQ(b, 0x555555560000ull + 3 * PAGE + 5);
  uint32_t n;
  const mmu_region *r = mmu_space_regions(&S, &n);
  EQ(n, 1);
  EQ(r[0].kind, MMU_REGION_HEAP);
  EQ(r[0].end, 0x555555560000ull + 4 * PAGE);
  touch(&S, 0x555555560000ull + 3 * PAGE, 1);
  OK(mmu_space_brk(&S, 0x555555560000ull + PAGE, &b));
  EQ(touch(&S, 0x555555560000ull + 3 * PAGE, 0).si_code, MMU_SEGV_MAPERR);
  mmu_usage u;
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_anon, 0);
  /* a mapping in the way: the break stays */
  map(0x555555560000ull + 8 * PAGE, PAGE, RW, MMU_MAP_FIXED);
  EQ(mmu_space_brk(&S, 0x555555560000ull + 8 * PAGE, &b), MMU_ERR_NOSPACE);
  EQ(b, 0x555555560000ull + PAGE);
}

Test(space, maps_text_is_linux_format) {
  static const mmu_file file = {NULL, NULL, "/usr/bin/cat", 0xfe, 0, 247134,
                                NULL};
  OK(mmu_space_set_brk_base(&S, 0x55ad4baa7000ull));
  uint64_t b;
  OK(mmu_space_brk(&S, 0x55ad4bac8000ull, &b));
  OK(mmu_space_mmap(&S, 0x7fabf2ec8000ull, 0x22000, RW, MMU_MAP_FIXED, NULL,
                    0, NULL));
  mmu_file f = file;
  f.read_page = NULL;
  EQ(mmu_space_mmap(&S, 0x55ad12021000ull, 0x5000, MMU_PROT_READ, MMU_MAP_FIXED,
                    &f, 0x2000, NULL),
     MMU_ERR_ARG); /* a file needs read_page */
  /* [stack]: the region holding the initial stack pointer, not every
   * MAP_GROWSDOWN one */
  OK(mmu_space_mmap(&S, 0x7ffd1c2b6000ull, 0x21000, RW,
                    MMU_MAP_FIXED | MMU_MAP_GROWSDOWN, NULL, 0, NULL));
  OK(mmu_space_mmap(&S, 0x7ffd00000000ull, 0x1000, RW,
                    MMU_MAP_FIXED | MMU_MAP_GROWSDOWN, NULL, 0, NULL));
  OK(mmu_space_set_start_stack(&S, 0x7ffd1c2d5f30ull));
  char buf[512];
  size_t len = mmu_space_maps(&S, buf, sizeof buf);
  const char *want =
      "55ad4baa7000-55ad4bac8000 rw-p 00000000 00:00 0                          [heap]\n"
      "7fabf2ec8000-7fabf2eea000 rw-p 00000000 00:00 0 \n"
      "7ffd00000000-7ffd00001000 rw-p 00000000 00:00 0 \n"
      "7ffd1c2b6000-7ffd1c2d7000 rw-p 00000000 00:00 0                          [stack]\n";
  cr_assert_str_eq(buf, want);
  EQ(len, strlen(want));
  EQ(mmu_space_maps(&S, NULL, 0), len);
  char small[10];
  EQ(mmu_space_maps(&S, small, sizeof small), len);
  cr_assert_str_eq(small, "55ad4baa7");
}

Test(space, destroy_returns_every_frame) {
  uint64_t a = map(0, 64 * PAGE, RW, 0);
  for (int i = 0; i < 64; i += 3)
    touch(&S, a + i * PAGE, i & 1);
  mmu_space child;
  OK(osw_fork(&S, &child));
  osw_space_free(&S);
  OK(mmu_space_activate(&child, &W.cpu));
  touch(&child, a, 1);
  osw_space_free(&child);
  mmu_usage u;
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_free, u.frames_total - 1); /* the zero page */
  EQ(u.frames_pt, 0);
  EQ(u.frames_anon, 0);
}

Test(space, hugetlb_pages) {
  uint64_t a = map(0, 4 << 20, RW, MMU_MAP_HUGETLB);
  EQ(a & ((2 << 20) - 1), 0);
  mmu_fault_info f = touch(&S, a + 5, 1);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  EQ(f.flags, MMU_FAULTF_HUGE);
  EQ(S.ru.rss_pages, 512);
  mmu_result res;
  OK(mmu_space_access(&S, &W.cpu, a + 0x12345, MMU_READ, &res, NULL));
  EQ(res.page_size, 2 << 20);
  EQ(mmu_space_munmap(&S, a + PAGE, PAGE), MMU_ERR_ARG);
  mmu_space child;
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  f = touch(&child, a + 7, 1);
  EQ(f.fault_class, MMU_FAULT_COW);
  EQ(peek(&child, a + 5), 0x5A);
  osw_space_free(&child);
  OK(mmu_space_activate(&S, &W.cpu));
  OK(mmu_space_munmap(&S, a, 2 << 20));
  EQ(S.ru.rss_pages, 0);
}

Test(space, pool_exhaustion_is_a_clean_error) {
  uint64_t a = map(0, 8192 * PAGE, RW, 0);
  int rc = MMU_OK;
  uint64_t i = 0;
  for (; i < 8192 && rc == MMU_OK; i++)
    rc = osw_write8(&W, &S, a + i * PAGE, (uint8_t)i, NULL);
  EQ(rc, MMU_ERR_NOSWAP); /* every frame holds a page that needs swap */
  for (uint64_t j = 0; j + 1 < i; j++)
    EQ(peek(&S, a + j * PAGE), (uint8_t)j);
}

Test(space, five_level_spaces) {
  mmu_space_config c;
  memset(&c, 0, sizeof c);
  c.flags = MMU_SPACE_LA57;
  mmu_space big;
  OK(osw_space(&W, &big, &c));
  EQ(mmu_space_activate(&big, &W.cpu), MMU_ERR_STATE); /* cpu is 4-level */
  mmu_regs r = W.cpu.regs;
  r.cr4 |= MMU_CR4_LA57;
  OK(mmu_load_regs(&W.cpu, &r));
  EQ(mmu_space_activate(&S, &W.cpu), MMU_ERR_STATE);
  OK(mmu_space_activate(&big, &W.cpu));
  uint64_t high = 0x00f0000000000000ull, got;
  OK(mmu_space_mmap(&big, high, 4 * PAGE, RW, MMU_MAP_FIXED, NULL, 0, &got));
  EQ(got, high);
  OK(osw_write8(&W, &big, high + PAGE, 0x77, NULL));
  EQ(peek(&big, high + PAGE), 0x77);
  EQ(touch(&big, 0x00fffffffffff000ull, 0).si_code, MMU_SEGV_MAPERR);
  EQ(mmu_space_mmap(&big, 0x00fffffffffff000ull, PAGE, RW, MMU_MAP_FIXED, NULL,
                    0, NULL),
     MMU_ERR_ARG); /* past TASK_SIZE: the last page stays unmapped */
  /* placement stays below 2^47 unless asked */
  OK(mmu_space_mmap(&big, 0, PAGE, RW, 0, NULL, 0, &got));
  cr_assert_lt(got, 1ull << 47);
  mmu_space child;
  OK(osw_fork(&big, &child));
  EQ(child.levels, 5);
  OK(mmu_space_activate(&child, &W.cpu));
  EQ(peek(&child, high + PAGE), 0x77);
  EQ(touch(&child, high + PAGE, 1).fault_class, MMU_FAULT_COW);
  osw_space_free(&child);
  osw_space_free(&big);
  /* a 4-level space ends a page below 2^47 */
  EQ(mmu_space_mmap(&S, 0x7ffffffff000ull, PAGE, RW, MMU_MAP_FIXED, NULL, 0,
                    NULL),
     MMU_ERR_ARG);
  OK(mmu_space_mmap(&S, 0x7fffffffe000ull, PAGE, RW, MMU_MAP_FIXED, NULL, 0,
                    NULL));
  mmu_usage u;
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_pt, 1); /* S's root only */
}

/* The entry a space uses for va at `level`, found through the pool's host
 * memory as a guest kernel with access to the tables would. */
static uint64_t *entry_of(mmu_space *s, uint64_t va, int level) {
  uint64_t table = s->root;
  for (int l = 4;; l--) {
    uint64_t *e = (uint64_t *)(void *)(W.pool + (table - OSW_POOL_GPA)) +
                  ((va >> (12 + 9 * (l - 1))) & 511);
    if (l == level)
      return e;
    table = *e & 0x000FFFFFFFFFF000ull;
  }
}

/* Entries written behind the library's back (a buggy embedder, a guest
 * kernel with the tables mapped) are never followed into its bookkeeping:
 * accesses, mprotect, fork, munmap and exit neither crash nor corrupt the
 * other pages, and every valid page still comes back. */
Test(space, scribbled_entries_are_never_followed) {
  uint64_t a = map(0, 16 * PAGE, RW, 0);
  for (int i = 0; i < 16; i++)
    OK(osw_write8(&W, &S, a + i * PAGE, (uint8_t)(0x30 + i), NULL));
  uint64_t root = S.root;
  *entry_of(&S, a + 1 * PAGE, 1) = root | MMU_PTE_P | MMU_PTE_W | MMU_PTE_U; /* a table */
  *entry_of(&S, a + 2 * PAGE, 1) = 0x1000 | MMU_PTE_P | MMU_PTE_U;     /* outside */
  *entry_of(&S, a + 3 * PAGE, 1) = (1ull << 50) | 2;       /* swap slot */
  *entry_of(&S, a + 4 * PAGE, 1) = (OSW_POOL_GPA + 4000 * PAGE) | 4; /* free */
  *entry_of(&S, a + 5 * PAGE, 1) = 0xdead0000ull | 0x80;  /* junk, P=0 */
  mmu_flush_tlb(&W.cpu);
  uint8_t v;
  EQ(osw_read8(&W, &S, a + 2 * PAGE, &v, NULL), MMU_ERR_RAM); /* not RAM */
  EQ(osw_read8(&W, &S, a + 3 * PAGE, &v, NULL), MMU_ERR_PT_BUS);
  EQ(osw_read8(&W, &S, a + 4 * PAGE, &v, NULL), MMU_ERR_PT_BUS);
  EQ(osw_read8(&W, &S, a + 5 * PAGE, &v, NULL), MMU_ERR_PT_BUS);
  mmu_space child;
  OK(osw_fork(&S, &child));
  OK(mmu_space_mprotect(&S, a, 16 * PAGE, MMU_PROT_READ));
  EQ(*entry_of(&S, a + 1 * PAGE, 1), 0); /* dropped, not made reachable */
  EQ(*entry_of(&S, a + 2 * PAGE, 1), 0);
  OK(mmu_space_mprotect(&S, a, 16 * PAGE, RW));
  for (int i = 6; i < 16; i++)
    EQ(peek(&S, a + i * PAGE), 0x30 + i);
  OK(mmu_space_activate(&child, &W.cpu));
  for (int i = 6; i < 16; i++)
    EQ(peek(&child, a + i * PAGE), 0x30 + i);
  EQ(peek(&child, a + PAGE), 0); /* not copied: refaults as a new page */
  /* a directory entry pointing outside the pool */
  *entry_of(&child, a, 2) = 0x7000 | MMU_PTE_P | MMU_PTE_W | MMU_PTE_U;
  mmu_flush_tlb(&W.cpu);
  EQ(osw_read8(&W, &child, a + 8 * PAGE, &v, NULL), MMU_ERR_PT_BUS);
  OK(mmu_space_munmap(&child, a, 16 * PAGE));
  osw_space_free(&child);
  OK(mmu_space_activate(&S, &W.cpu));
  for (int i = 6; i < 16; i++)
    EQ(peek(&S, a + i * PAGE), 0x30 + i);
  osw_space_free(&S);
  /* What the scribbles cut off is leaked, never reused while counted: the
   * 5 pages whose entries were overwritten, the child's page table the
   * bad directory entry orphaned, and the child's holds on the 11 shared
   * pages that table mapped. */
  mmu_usage u;
  mmu_system_usage(&W.sys, &u);
  EQ(u.frames_pt, 1);
  EQ(u.frames_anon, 5 + 11);
  EQ(u.frames_free, u.frames_total - 1 - 1 - 16);
}
