/* SPDX-License-Identifier: MIT */
/* The VMA rules Linux applies that random sequences against the running
 * kernel exposed (issue "The OS side, exact against Linux", cases A-I).
 * Each test is one minimal sequence; the expected regions are what
 * /proc/self/maps showed (SPEC.md 9.2). Addresses are pages of a window. */
#include <stdio.h>
#include <string.h>

#include "os_test.h"

#define WIN 0x10000000ull
#define P(n) (WIN + (uint64_t)(n)*PAGE)

static osw W;
static mmu_space S;

static void world(uint32_t sys_flags) { ost_world(&W, &S, 4096, 0, sys_flags); }
static void setup(void) { world(0); }
/* With 64 swap slots, for tests that reclaim (.init = NULL). */
static void swap_world(void) { ost_world(&W, &S, 4096, 64, 0); }
static void teardown(void) { ost_world_free(&W, &S); }

static void map_at(mmu_space *s, uint64_t page, uint64_t pages, unsigned prot,
                   unsigned flags) {
  uint64_t got = 0;
  OK(mmu_space_mmap(s, P(page), pages * PAGE, prot, flags | MMU_MAP_FIXED,
                    NULL, 0, &got));
  EQ(got, P(page));
}

static mmu_fault_info touch(mmu_space *s, uint64_t page, int write) {
  mmu_fault_info info;
  uint8_t v = 0x5A;
  int rc = write ? osw_write8(&W, s, P(page), v, &info)
                 : osw_read8(&W, s, P(page), &v, &info);
  cr_assert(rc == MMU_OK || rc == MMU_PAGE_FAULT, "access rc %d", rc);
  return info;
}

/* The space's regions as "start-end prot" in pages of the window. */
static void expect_regions(const mmu_space *s, const char *want) {
  char got[512] = "";
  uint32_t n;
  const mmu_region *r = mmu_space_regions(s, &n);
  for (uint32_t i = 0; i < n; i++) {
    char one[64];
    snprintf(one, sizeof one, "%s%llu-%llu %c%c%c", i ? " " : "",
             (unsigned long long)((r[i].start - WIN) / PAGE),
             (unsigned long long)((r[i].end - WIN) / PAGE),
             r[i].prot & MMU_PROT_READ ? 'r' : '-',
             r[i].prot & MMU_PROT_WRITE ? 'w' : '-',
             r[i].prot & MMU_PROT_EXEC ? 'x' : '-');
    strncat(got, one, sizeof got - strlen(got) - 1);
  }
  cr_assert_str_eq(got, want);
}

static size_t maps_lines_named(const mmu_space *s, const char *name) {
  static char buf[8192];
  cr_assert_lt(mmu_space_maps(s, buf, sizeof buf), sizeof buf);
  size_t n = 0;
  for (const char *p = buf; (p = strstr(p, name)); p++)
    n++;
  return n;
}

TestSuite(linux_vma, .init = setup, .fini = teardown);

/* A: an anonymous mapping over the heap merges with it, and [heap] names
 * the VMAs that overlap [start_brk, brk), by address (vma_is_initial_heap). */
Test(linux_vma, a_mmap_over_heap_merges_and_heap_is_named_by_range) {
  uint64_t brk = 0;
  OK(mmu_space_set_brk_base(&S, P(0)));
  OK(mmu_space_brk(&S, P(11), &brk));
  map_at(&S, 2, 1, RW, 0);
  expect_regions(&S, "0-11 rw-");
  EQ(maps_lines_named(&S, "[heap]"), 1);
}

/* B: mprotect changes the mapped prefix of the range, then fails ENOMEM at
 * the first hole (do_mprotect_pkey's loop). */
Test(linux_vma, b_mprotect_changes_the_prefix_before_enomem) {
  map_at(&S, 10, 4, RW, 0);
  EQ(mmu_space_mprotect(&S, P(12), 4 * PAGE, MMU_PROT_READ),
     MMU_ERR_NOSPACE);
  expect_regions(&S, "10-12 rw- 12-14 r--");
  /* nothing mapped at the start: nothing changes */
  EQ(mmu_space_mprotect(&S, P(9), 2 * PAGE, MMU_PROT_READ), MMU_ERR_NOSPACE);
  expect_regions(&S, "10-12 rw- 12-14 r--");
}

/* C: after fork the child's VMAs that had an anon_vma chain to the
 * parent's too; one without anon_vma does not merge with them
 * (is_mergeable_anon_vma's list_is_singular), nor does brk extend them. */
Test(linux_vma, c_forked_anon_vma_blocks_merge_in_child) {
  mmu_space child;
  uint64_t brk = 0;
  map_at(&S, 0, 2, RW, 0);
  touch(&S, 0, 1);
  OK(mmu_space_set_brk_base(&S, P(20)));
  OK(mmu_space_brk(&S, P(22), &brk));
  touch(&S, 20, 1);
  OK(osw_fork(&S, &child));
  map_at(&child, 2, 2, RW, 0);
  OK(mmu_space_brk(&child, P(24), &brk));
  EQ(brk, P(24));
  expect_regions(&child, "0-2 rw- 2-4 rw- 20-22 rw- 22-24 rw-");
  EQ(maps_lines_named(&child, "[heap]"), 2);
  /* the parent's chains stay single: it merges */
  map_at(&S, 2, 2, RW, 0);
  expect_regions(&S, "0-4 rw- 20-22 rw-");
  osw_space_free(&child);
}

/* D: a private mapping once writable keeps VM_ACCOUNT after mprotect to
 * read-only; one never writable has none; their flags differ. */
Test(linux_vma, d_vm_account_keeps_a_once_writable_mapping_apart) {
  map_at(&S, 0, 2, RW, 0);
  touch(&S, 0, 1);
  OK(mmu_space_mprotect(&S, P(0), 2 * PAGE, MMU_PROT_READ));
  map_at(&S, 2, 2, MMU_PROT_READ, 0);
  expect_regions(&S, "0-2 r-- 2-4 r--");
  /* made writable, the second gets VM_ACCOUNT (mprotect_fixup), and
   * gives it back made read-only again while it has no anon_vma */
  OK(mmu_space_mprotect(&S, P(2), 2 * PAGE, RW));
  OK(mmu_space_mprotect(&S, P(2), 2 * PAGE, MMU_PROT_READ));
  expect_regions(&S, "0-2 r-- 2-4 r--");
  /* written in between (its anon_vma is its neighbour's), it keeps it */
  OK(mmu_space_mprotect(&S, P(2), 2 * PAGE, RW));
  touch(&S, 2, 1);
  OK(mmu_space_mprotect(&S, P(2), 2 * PAGE, MMU_PROT_READ));
  expect_regions(&S, "0-4 r--");
}

/* F: a VMA's first anon_vma is its compatible neighbour's
 * (find_mergeable_anon_vma), so the two merge once their flags agree.
 * Reads take the zero page and no anon_vma where the kernel has one. */
static void f_sequence(void) {
  map_at(&S, 0, 1, MMU_PROT_READ | MMU_PROT_EXEC, 0);
  touch(&S, 0, 0);
  map_at(&S, 1, 1, MMU_PROT_READ, 0);
  touch(&S, 1, 0);
  OK(mmu_space_mprotect(&S, P(0), 2 * PAGE, MMU_PROT_WRITE));
  expect_regions(&S, "0-2 -w-");
}
Test(linux_vma, f_neighbour_anon_vma_is_reused) { f_sequence(); }
Test(linux_vma, f_neighbour_anon_vma_is_reused_without_zero_page,
     .init = NULL) {
  world(MMU_SYS_NO_ZERO_PAGE);
  f_sequence();
}

/* G: brk down to an address whose heap above is already unmapped finds no
 * VMA and keeps the old break (brk's "mapping not found", Linux 6.1+). */
Test(linux_vma, g_brk_shrink_over_unmapped_heap_keeps_the_break) {
  uint64_t brk = 0;
  OK(mmu_space_set_brk_base(&S, P(0)));
  OK(mmu_space_brk(&S, P(26), &brk));
  OK(mmu_space_munmap(&S, P(14), 16 * PAGE));
  EQ(mmu_space_brk(&S, P(19), &brk), MMU_ERR_NOSPACE);
  EQ(brk, P(26));
  expect_regions(&S, "0-14 rw-");
}

/* H: brk extends the VMA below only if it is mergeable with a fresh
 * read-write one (do_brk_flags); else the heap gets a new VMA. */
Test(linux_vma, h_brk_above_read_only_heap_page_makes_a_new_vma) {
  uint64_t brk = 0;
  OK(mmu_space_set_brk_base(&S, P(0)));
  OK(mmu_space_brk(&S, P(4), &brk));
  OK(mmu_space_mprotect(&S, P(3), PAGE, MMU_PROT_READ));
  OK(mmu_space_brk(&S, P(6), &brk));
  mmu_fault_info f = touch(&S, 4, 1);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  expect_regions(&S, "0-3 rw- 3-4 r-- 4-6 rw-");
}

/* I: a stack growing down onto another grow-down VMA only moves its start
 * (expand_downwards); the two stay apart. */
Test(linux_vma, i_stack_growth_does_not_merge) {
  map_at(&S, 10, 2, RW, MMU_MAP_GROWSDOWN);
  map_at(&S, 20, 2, RW, MMU_MAP_GROWSDOWN);
  for (uint64_t p = 19; p >= 12; p--)
    EQ(touch(&S, p, 1).fault_class, MMU_FAULT_MINOR);
  expect_regions(&S, "10-12 rw- 12-22 rw-");
  /* and a later mprotect of one of them merges nothing either */
  OK(mmu_space_mprotect(&S, P(12), PAGE, RW));
  expect_regions(&S, "10-12 rw- 12-22 rw-");
}

/* A stack that grows gets its anon_vma (expand_downwards calls
 * anon_vma_prepare), even when only zero pages were read into it: fork
 * copies its entries, and mprotect away from write keeps its VM_ACCOUNT,
 * so it stays apart from a never-writable neighbour. (Random scripts 235
 * and 139 against Linux 6.18.) */
Test(linux_vma, stack_growth_prepares_the_anon_vma) {
  mmu_space child;
  map_at(&S, 10, 4, MMU_PROT_WRITE, MMU_MAP_GROWSDOWN);
  for (uint64_t p = 10; p < 14; p++)
    touch(&S, p, 0);
  EQ(S.regions[0].anon_id, 0); /* zero pages: no anon_vma yet */
  mmu_fault_info f = touch(&S, 9, 0);
  EQ(f.flags & MMU_FAULTF_STACK_GROWN, MMU_FAULTF_STACK_GROWN);
  cr_assert_neq(S.regions[0].anon_id, 0);
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  for (uint64_t p = 9; p < 14; p++)
    EQ(touch(&child, p, 0).fault_class, MMU_FAULT_NONE);
  osw_space_free(&child);
  OK(mmu_space_activate(&S, &W.cpu));
  /* a PROT_NONE stack grows before the access is refused; a page of it
   * made RW and back keeps VM_ACCOUNT, which the rest never had */
  map_at(&S, 30, 2, MMU_PROT_NONE, MMU_MAP_GROWSDOWN);
  f = touch(&S, 29, 1);
  EQ(f.fault_class, MMU_FAULT_SEGV);
  EQ(f.si_code, MMU_SEGV_ACCERR);
  OK(mmu_space_mprotect(&S, P(29), PAGE, RW));
  OK(mmu_space_mprotect(&S, P(29), PAGE, MMU_PROT_NONE));
  expect_regions(&S, "9-14 -w- 29-30 --- 30-32 ---");
}

/* madvise(MADV_DONTNEED) over a hole: the mapped parts are dropped, then
 * ENOMEM (madvise_walk_vmas); the regions stay. */
Test(linux_vma, madv_dontneed_drops_mapped_parts_then_enomem) {
  map_at(&S, 0, 2, RW, 0);
  map_at(&S, 3, 2, RW, 0);
  for (uint64_t p = 0; p < 5; p++)
    if (p != 2)
      touch(&S, p, 1);
  EQ(S.ru.rss_pages, 4);
  EQ(mmu_space_madvise(&S, P(0), 5 * PAGE, MMU_MADV_DONTNEED),
     MMU_ERR_NOSPACE);
  EQ(S.ru.rss_pages, 0);
  expect_regions(&S, "0-2 rw- 3-5 rw-");
  uint8_t v = 1;
  OK(osw_read8(&W, &S, P(3), &v, NULL));
  EQ(v, 0);
  EQ(mmu_space_madvise(&S, P(0) + 8, PAGE, MMU_MADV_DONTNEED), MMU_ERR_ARG);
  EQ(mmu_space_madvise(&S, P(0), PAGE, 99), MMU_ERR_ARG);
}

/* MAP_POPULATE: a minor fault per page at mmap, none afterwards; a
 * PROT_NONE mapping is left alone (populate_vma_page_range). */
Test(linux_vma, map_populate_faults_every_page_in) {
  uint64_t min0 = S.ru.minflt;
  map_at(&S, 0, 8, RW, MMU_MAP_POPULATE);
  EQ(S.ru.minflt - min0, 8);
  EQ(S.ru.rss_pages, 8);
  for (uint64_t p = 0; p < 8; p++)
    EQ(touch(&S, p, 1).fault_class, MMU_FAULT_NONE);
  map_at(&S, 10, 8, MMU_PROT_NONE, MMU_MAP_POPULATE);
  EQ(S.ru.minflt - min0, 8);
}

/* MADV_FREE (madvise_free_pte_range): pages stay mapped and keep their
 * bytes until reclaim; then an unwritten one is dropped (it reads zero
 * again, a minor fault) while one written since is swapped as usual. */
Test(linux_vma, madv_free_pages_are_dropped_by_reclaim_unless_written,
     .init = NULL) {
  swap_world();
  map_at(&S, 0, 4, RW, 0);
  for (uint64_t p = 0; p < 4; p++)
    OK(osw_write8(&W, &S, P(p), (uint8_t)(p + 1), NULL));
  OK(mmu_space_madvise(&S, P(0), 4 * PAGE, MMU_MADV_FREE));
  EQ(W.sys.vm.pglazyfree, 4);
  uint8_t v = 0;
  mmu_fault_info f;
  OK(osw_read8(&W, &S, P(0), &v, &f)); /* still there, no fault */
  EQ(v, 1);
  EQ(f.fault_class, MMU_FAULT_NONE);
  OK(osw_write8(&W, &S, P(1), 0x42, &f)); /* written again: kept */
  EQ(f.fault_class, MMU_FAULT_NONE);
  uint32_t done = 0;
  OK(mmu_system_reclaim(&W.sys, 4, &done));
  EQ(done, 4);
  EQ(W.sys.vm.pglazyfreed, 3);
  EQ(W.sys.vm.pswpout, 1);
  EQ(S.ru.rss_pages, 0);
  OK(osw_read8(&W, &S, P(0), &v, &f));
  EQ(v, 0);
  EQ(f.fault_class, MMU_FAULT_MINOR);
  OK(osw_read8(&W, &S, P(1), &v, &f));
  EQ(v, 0x42);
  EQ(f.fault_class, MMU_FAULT_MAJOR);
  /* a hole is ENOMEM after the rest */
  EQ(mmu_space_madvise(&S, P(0), 6 * PAGE, MMU_MADV_FREE), MMU_ERR_NOSPACE);
}

/* execve (exec_mmap): a new mm. The child that execs drops every mapping,
 * so the parent's pages are its own again: a write reuses the page, no
 * copy. Fault counters and peak RSS stay with the task. */
Test(linux_vma, exec_replaces_the_space_and_unshares_the_parent) {
  mmu_space child;
  uint64_t brk = 0;
  map_at(&S, 0, 4, RW, 0);
  for (uint64_t p = 0; p < 4; p++)
    touch(&S, p, 1);
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  OK(mmu_space_set_brk_base(&child, P(100)));
  OK(mmu_space_brk(&child, P(102), &brk));
  touch(&child, 100, 1);
  touch(&child, 1, 0);
  uint64_t minflt = child.ru.minflt, peak = child.ru.maxrss_pages;
  EQ(minflt, 1); /* the heap page; page 1 came mapped by fork */
  OK(mmu_space_exec(&child));
  expect_regions(&child, "");
  EQ(child.ru.rss_pages, 0);
  EQ(child.ru.minflt, minflt);
  EQ(child.ru.maxrss_pages, peak);
  EQ(mmu_space_brk(&child, P(110), &brk), MMU_ERR_ARG); /* no heap yet */
  EQ(touch(&child, 0, 0).fault_class, MMU_FAULT_SEGV);
  OK(mmu_space_set_brk_base(&child, P(200)));
  uint64_t reuses = W.sys.vm.cow_reuses, copies = W.sys.vm.cow_copies;
  OK(mmu_space_activate(&S, &W.cpu));
  EQ(touch(&S, 2, 1).fault_class, MMU_FAULT_MINOR); /* write-protected */
  EQ(W.sys.vm.cow_reuses, reuses + 1);              /* by fork, reused */
  EQ(W.sys.vm.cow_copies, copies);
  osw_space_free(&child);
}

/* A region mprotect changes that could join either neighbour but not both
 * (their anon_vmas differ) joins the previous one (vma_merge tries prev
 * first); the random differential found the order. */
Test(linux_vma, mprotect_merges_with_the_previous_region_first) {
  map_at(&S, 0, 2, RW, 0);
  touch(&S, 0, 1);
  map_at(&S, 3, 2, RW, 0);
  touch(&S, 3, 1);
  map_at(&S, 2, 1, MMU_PROT_READ, 0);
  expect_regions(&S, "0-2 rw- 2-3 r-- 3-5 rw-");
  OK(mmu_space_mprotect(&S, P(2), PAGE, RW));
  expect_regions(&S, "0-3 rw- 3-5 rw-");
}

/* ---- mremap, as Linux 6.18 answered each sequence (SPEC 9.2) ---------- */

static uint64_t remap(uint64_t page, uint64_t old_pages, uint64_t new_pages,
                      unsigned flags, uint64_t new_page, int want) {
  uint64_t got = 0;
  EQ(mmu_space_mremap(&S, P(page), old_pages * PAGE, new_pages * PAGE, flags,
                      P(new_page), &got),
     want);
  return got;
}
#define MAYMOVE MMU_MREMAP_MAYMOVE
#define FIXED (MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED)

static uint8_t byte_at(uint64_t page) {
  uint8_t v = 0;
  OK(osw_read8(&W, &S, P(page), &v, NULL));
  return v;
}

Test(linux_vma, mremap_shrink_unmaps_the_tail_across_regions) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 12, 2, MMU_PROT_READ, 0);
  EQ(remap(10, 4, 1, 0, 0, MMU_OK), P(10));
  expect_regions(&S, "10-11 rw-");
}

Test(linux_vma, mremap_of_an_unmapped_address_is_efault_and_changes_nothing) {
  remap(10, 2, 1, 0, 0, MMU_ERR_BADADDR);
  map_at(&S, 30, 2, MMU_PROT_READ, 0);
  remap(10, 2, 2, FIXED, 30, MMU_ERR_BADADDR); /* the target stays */
  remap(10, 2, 3, FIXED, 30, MMU_ERR_BADADDR);
  map_at(&S, 11, 2, RW, 0);
  remap(10, 3, 3, FIXED, 40, MMU_ERR_BADADDR); /* starts in a hole */
  expect_regions(&S, "11-13 rw- 30-32 r--");
}

Test(linux_vma, mremap_resize_past_its_region_is_efault) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 12, 2, MMU_PROT_READ, 0);
  map_at(&S, 40, 1, MMU_PROT_READ, 0);
  remap(10, 4, 5, 0, 0, MMU_ERR_BADADDR);
  remap(10, 4, 5, MAYMOVE, 0, MMU_ERR_BADADDR);
  remap(10, 4, 5, FIXED, 38, MMU_ERR_BADADDR);
  expect_regions(&S, "10-12 rw- 12-14 r-- 40-41 r--");
}

Test(linux_vma, mremap_to_the_same_size_without_fixed_changes_nothing) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 12, 2, MMU_PROT_READ, 0);
  EQ(remap(10, 4, 4, 0, 0, MMU_OK), P(10));
  EQ(remap(10, 4, 4, MAYMOVE, 0, MMU_OK), P(10));
  EQ(remap(11, 1, 1, 0, 0, MMU_OK), P(11));
  expect_regions(&S, "10-12 rw- 12-14 r--");
}

Test(linux_vma, mremap_grows_in_place_and_merges_with_the_next_region) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 14, 2, RW, 0);
  OK(osw_write8(&W, &S, P(10), 7, NULL));
  EQ(remap(10, 2, 4, 0, 0, MMU_OK), P(10));
  expect_regions(&S, "10-16 rw-");
  EQ(byte_at(10), 7);
  map_at(&S, 20, 2, RW, 0);
  map_at(&S, 24, 2, MMU_PROT_READ, 0);
  EQ(remap(20, 2, 4, 0, 0, MMU_OK), P(20));
  expect_regions(&S, "10-16 rw- 20-24 rw- 24-26 r--");
  remap(20, 4, 5, 0, 0, MMU_ERR_NOSPACE); /* blocked, may not move */
}

/* vma_merge_extend: a region grown in place merges with the next one
 * only, never with the one before it, even where that one would fit (a
 * stack split by munmap and grown down again; random script 1483 against
 * Linux 6.18). */
Test(linux_vma, mremap_grow_in_place_merges_with_the_next_region_only) {
  map_at(&S, 30, 4, RW, MMU_MAP_GROWSDOWN);
  touch(&S, 25, 1);
  OK(mmu_space_munmap(&S, P(28), PAGE));
  for (uint64_t p = 27; p < 30; p++)
    touch(&S, p, 1);
  expect_regions(&S, "25-28 rw- 28-34 rw-");
  EQ(remap(30, 4, 6, 0, 0, MMU_OK), P(30));
  expect_regions(&S, "25-28 rw- 28-36 rw-");
}

/* is_mergeable_anon_vma for the grown range (no middle VMA): the region's
 * anon_vma goes to a next region without one even in a forked child,
 * whose chain is not singular (random script 24345 against Linux 6.18). */
Test(linux_vma, mremap_grow_in_place_merges_a_forked_region_into_a_fresh_next) {
  map_at(&S, 30, 1, RW, MMU_MAP_GROWSDOWN);
  touch(&S, 30, 1);
  map_at(&S, 33, 1, RW, MMU_MAP_GROWSDOWN);
  mmu_space child;
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  uint64_t got = 0;
  OK(mmu_space_mremap(&child, P(30), PAGE, 3 * PAGE, 0, 0, &got));
  EQ(got, P(30));
  expect_regions(&child, "30-34 rw-");
  osw_space_free(&child);
  OK(mmu_space_activate(&S, &W.cpu));
}

Test(linux_vma, mremap_maymove_moves_the_pages_without_faults) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 12, 2, MMU_PROT_READ, 0);
  OK(osw_write8(&W, &S, P(10), 0x11, NULL));
  OK(osw_write8(&W, &S, P(11), 0x22, NULL));
  uint64_t min0 = S.ru.minflt, rss = S.ru.rss_pages;
  uint64_t to = remap(10, 2, 4, MAYMOVE, 0, MMU_OK);
  cr_assert(to != P(10) && to > P(64), "placed like mmap, top-down");
  EQ(S.ru.rss_pages, rss);
  uint8_t v;
  mmu_fault_info f;
  OK(osw_read8(&W, &S, to + PAGE, &v, &f));
  EQ(v, 0x22);
  EQ(f.fault_class, MMU_FAULT_NONE);
  EQ(S.ru.minflt, min0);
  OK(osw_write8(&W, &S, to + 3 * PAGE, 1, &f)); /* the grown part is new */
  EQ(f.fault_class, MMU_FAULT_MINOR);
  uint32_t n;
  const mmu_region *r = mmu_space_regions(&S, &n);
  EQ(n, 2);
  EQ(r[0].start, P(12));
  EQ(r[1].start, to);
  EQ(r[1].end, to + 4 * PAGE);
  EQ(touch(&S, 10, 0).si_code, MMU_SEGV_MAPERR);
}

Test(linux_vma, mremap_einval_cases) {
  map_at(&S, 10, 4, RW, 0);
  remap(10, 4, 4, FIXED, 12, MMU_ERR_ARG); /* overlap */
  remap(10, 4, 4, MMU_MREMAP_FIXED, 20, MMU_ERR_ARG); /* FIXED alone */
  remap(10, 0, 4, MAYMOVE, 0, MMU_ERR_ARG); /* old_len 0: shared only */
  remap(10, 2, 0, 0, 0, MMU_ERR_ARG);
  remap(10, 2, 2, MAYMOVE | 8, 0, MMU_ERR_ARG);
  uint64_t got;
  EQ(mmu_space_mremap(&S, P(10) + 1, PAGE, 2 * PAGE, MAYMOVE, 0, &got),
     MMU_ERR_ARG);
  EQ(mmu_space_mremap(&S, P(10), PAGE, PAGE, FIXED, P(30) + 8, &got),
     MMU_ERR_ARG);
  expect_regions(&S, "10-14 rw-");
}

Test(linux_vma, mremap_from_the_middle_splits_and_moving_back_merges) {
  map_at(&S, 10, 6, RW, 0);
  for (uint64_t p = 10; p < 16; p++)
    OK(osw_write8(&W, &S, P(p), (uint8_t)p, NULL));
  EQ(remap(12, 2, 2, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "10-12 rw- 14-16 rw- 30-32 rw-");
  EQ(byte_at(31), 13);
  EQ(remap(30, 2, 2, FIXED, 12, MMU_OK), P(12)); /* offsets run on again */
  expect_regions(&S, "10-16 rw-");
  for (uint64_t p = 10; p < 16; p++)
    EQ(byte_at(p), p);
}

Test(linux_vma, mremap_fixed_same_size_moves_each_region_and_keeps_holes) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 13, 2, MMU_PROT_READ, 0);
  OK(osw_write8(&W, &S, P(11), 0x33, NULL));
  EQ(remap(10, 5, 5, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "30-32 rw- 33-35 r--");
  EQ(byte_at(31), 0x33);
  map_at(&S, 40, 2, RW, 0);
  EQ(remap(40, 3, 3, FIXED, 50, MMU_OK), P(50)); /* ends in a hole */
  expect_regions(&S, "30-32 rw- 33-35 r-- 50-52 rw-");
}

/* do_mremap looks the address up before check_prep_vma refuses old_len
 * 0 (which duplicates shared mappings only): EFAULT first. */
Test(linux_vma, mremap_old_len_zero_is_efault_where_nothing_is_mapped) {
  remap(10, 0, 1, FIXED, 20, MMU_ERR_BADADDR);
  remap(10, 0, 1, 0, 0, MMU_ERR_BADADDR);
  map_at(&S, 10, 2, RW, 0);
  remap(10, 0, 1, FIXED, 20, MMU_ERR_ARG);
  expect_regions(&S, "10-12 rw-");
}

/* remap_move (6.17+): a same-size FIXED move takes each region to its
 * place, unmapping only that region's target; what lies at the targets
 * of the holes between and after them stays. */
Test(linux_vma, mremap_fixed_same_size_leaves_the_targets_of_holes_alone) {
  map_at(&S, 10, 1, RW, 0);
  map_at(&S, 12, 1, MMU_PROT_READ, 0);
  map_at(&S, 29, 6, MMU_PROT_WRITE, 0);
  EQ(remap(10, 5, 5, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "29-30 -w- 30-31 rw- 31-32 -w- 32-33 r-- 33-35 -w-");
}

/* check_prep_vma: what a FIXED shrink keeps must lie in the first
 * region, else EFAULT before anything is unmapped (tail or target). */
Test(linux_vma, mremap_fixed_shrink_keeping_more_than_its_region_is_efault) {
  map_at(&S, 10, 1, RW, 0);
  map_at(&S, 11, 3, MMU_PROT_READ, 0);
  map_at(&S, 30, 4, MMU_PROT_WRITE, 0);
  remap(10, 4, 3, FIXED, 30, MMU_ERR_BADADDR);
  remap(10, 4, 2, FIXED, 30, MMU_ERR_BADADDR);
  expect_regions(&S, "10-11 rw- 11-14 r-- 30-34 -w-");
  EQ(remap(10, 4, 3, 0, 0, MMU_OK), P(10)); /* in place: no such check */
  expect_regions(&S, "10-11 rw- 11-13 r-- 30-34 -w-");
}

/* The unmaps mremap makes (target, tail) are do_munmap's: one cutting a
 * 2 MiB page is EINVAL (hugetlb_vm_op_split), nothing unmapped or moved.
 * (Found by the space-sequence model: the library split the huge region.) */
Test(linux_vma, mremap_unmap_cutting_a_huge_page_is_einval) {
  map_at(&S, 0, 512, RW, MMU_MAP_HUGETLB);
  map_at(&S, 1024, 512, RW, MMU_MAP_HUGETLB);
  map_at(&S, 600, 2, RW, 0);
  map_at(&S, 1020, 4, RW, 0);
  remap(600, 2, 2, FIXED, 10, MMU_ERR_ARG);
  remap(600, 2, 3, FIXED, 10, MMU_ERR_ARG);
  remap(1020, 6, 1, 0, 0, MMU_ERR_ARG); /* the tail ends in a huge page */
  expect_regions(&S, "0-512 rw- 600-602 rw- 1020-1024 rw- 1024-1536 rw-");
  EQ(remap(1020, 4, 1, 0, 0, MMU_OK), P(1020));
  EQ(remap(600, 2, 2, FIXED, 1020 - 2, MMU_OK), P(1018));
  /* a hugetlb region met later in a same-size move is refused there,
   * as the first one is; what came before it has moved */
  remap(1018, 600, 600, FIXED, 2000, MMU_ERR_ARG);
  expect_regions(&S, "0-512 rw- 1024-1536 rw- 2000-2003 rw-");
}

/* remap_move checks for room before each region it moves (move_vma's
 * map_count check), so a same-size move may stop between regions; it
 * never moves a region it could not split off. */
Test(linux_vma, mremap_fixed_same_size_checks_room_before_each_region) {
  mmu_space t;
  mmu_space_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.max_regions = 12;
  OK(osw_space(&W, &t, &cfg));
  for (uint64_t p = 100; p < 110; p += 2)
    map_at(&t, p, 1, RW, 0);
  map_at(&t, 10, 1, RW, 0);
  map_at(&t, 12, 1, MMU_PROT_READ, 0);
  map_at(&t, 14, 2, RW, 0);
  map_at(&t, 29, 11, MMU_PROT_WRITE, 0);
  uint64_t got = 0;
  EQ(mmu_space_mremap(&t, P(10), 5 * PAGE, 5 * PAGE, FIXED, P(30), &got),
     MMU_ERR_NOSPACE);
  expect_regions(&t, "12-13 r-- 14-16 rw- 29-30 -w- 30-31 rw- 31-40 -w- "
                     "100-101 rw- 102-103 rw- 104-105 rw- 106-107 rw- "
                     "108-109 rw-");
  osw_space_free(&t);
}

Test(linux_vma, mremap_fixed_shrink_unmaps_the_tail_then_moves) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 12, 2, MMU_PROT_READ, 0);
  EQ(remap(10, 4, 1, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "30-31 rw-");
}

Test(linux_vma, mremap_fixed_replaces_what_is_at_the_target) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 30, 4, MMU_PROT_READ, 0);
  OK(osw_write8(&W, &S, P(10), 3, NULL));
  EQ(remap(10, 2, 2, FIXED, 31, MMU_OK), P(31));
  expect_regions(&S, "30-31 r-- 31-33 rw- 33-34 r--");
  EQ(byte_at(31), 3);
}

/* copy_vma: a region never faulted takes its new address as offset and
 * merges there; one with pages keeps its offset and stays apart. */
Test(linux_vma, mremap_moved_region_merges_only_if_never_faulted) {
  map_at(&S, 10, 2, RW, 0);
  map_at(&S, 28, 2, RW, 0);
  EQ(remap(10, 2, 2, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "28-32 rw-");
  map_at(&S, 10, 2, RW, 0);
  OK(osw_write8(&W, &S, P(10), 1, NULL));
  map_at(&S, 38, 2, RW, 0);
  EQ(remap(10, 2, 2, FIXED, 40, MMU_OK), P(40));
  expect_regions(&S, "28-32 rw- 38-40 rw- 40-42 rw-");
}

Test(linux_vma, mremap_fixed_grow_moves_and_faults_only_the_new_part) {
  map_at(&S, 10, 2, RW, 0);
  OK(osw_write8(&W, &S, P(10), 9, NULL));
  EQ(remap(10, 2, 4, FIXED, 30, MMU_OK), P(30));
  expect_regions(&S, "30-34 rw-");
  uint64_t min0 = S.ru.minflt;
  EQ(byte_at(30), 9);
  EQ(byte_at(32), 0);
  EQ(byte_at(33), 0);
  EQ(S.ru.minflt - min0, 2);
}

/* Pages a forked child shares stay findable after the parent moves them:
 * reclaim swaps them out of both spaces, each reads its own back, and a
 * write after the move still copies (the reverse map goes by the page's
 * index in its region's offsets). */
Test(linux_vma, mremap_after_fork_keeps_shared_pages_reclaimable,
     .init = NULL) {
  swap_world();
  map_at(&S, 10, 4, RW, 0);
  for (uint64_t p = 0; p < 4; p++)
    OK(osw_write8(&W, &S, P(10 + p), (uint8_t)(0x40 + p), NULL));
  mmu_space child;
  OK(osw_fork(&S, &child));
  EQ(remap(10, 4, 4, FIXED, 30, MMU_OK), P(30));
  uint32_t done = 0;
  OK(mmu_system_reclaim(&W.sys, 4, &done));
  EQ(done, 4);
  cr_assert_eq(W.sys.vm.pswpout, 4, "each shared page written once");
  EQ(S.ru.swap_pages, 4);
  EQ(child.ru.swap_pages, 4);
  mmu_fault_info f;
  OK(osw_write8(&W, &S, P(31), 0x77, &f)); /* swap in, then copy */
  EQ(byte_at(30), 0x40);
  EQ(byte_at(31), 0x77);
  OK(mmu_space_activate(&child, &W.cpu));
  uint8_t v;
  for (uint64_t p = 0; p < 4; p++) {
    OK(osw_read8(&W, &child, P(10 + p), &v, NULL));
    EQ(v, 0x40 + p);
  }
  osw_space_free(&child);
}
