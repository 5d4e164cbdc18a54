/* SPDX-License-Identifier: MIT */
/* Swap and reclaim: major faults bring back exactly what was evicted,
 * checksums catch bad reads, a full device or pool is a clean error, and
 * the policies see the Accessed bits the MMU sets. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>

#include "../examples/swap_file.h"
#include "os_test.h"


static uint8_t pattern(uint64_t page, unsigned i) {
  return (uint8_t)(page * 131 + i * 7 + 1);
}

/* Write a recognisable 64-byte pattern into pages [0, n) of a. */
static void fill(osw *w, mmu_space *s, uint64_t a, uint64_t n) {
  for (uint64_t p = 0; p < n; p++) {
    uint8_t buf[64];
    for (unsigned i = 0; i < 64; i++)
      buf[i] = pattern(p, i);
    OK(mmu_space_write(s, &w->cpu, a + p * PAGE + 100, buf, sizeof buf, NULL));
  }
}

static void check(osw *w, mmu_space *s, uint64_t a, uint64_t n) {
  for (uint64_t p = 0; p < n; p++) {
    uint8_t buf[64];
    OK(mmu_space_read(s, &w->cpu, a + p * PAGE + 100, buf, sizeof buf, NULL));
    for (unsigned i = 0; i < 64; i++)
      cr_assert_eq(buf[i], pattern(p, i), "page %llu byte %u",
                   (unsigned long long)p, i);
  }
}

static uint64_t anon(mmu_space *s, uint64_t pages) {
  uint64_t a;
  OK(mmu_space_mmap(s, 0, pages * PAGE, RW, 0, NULL, 0, &a));
  return a;
}

static void assert_all_returned(osw *w) {
  mmu_usage u;
  mmu_system_usage(&w->sys, &u);
  EQ(u.frames_free, u.frames_total - 1);
  EQ(u.swap_used, 0);
}

/* A world and one running space. */
static void start(osw *w, mmu_space *s, uint32_t frames, uint64_t slots,
                  unsigned policy) {
  cr_assert_eq(osw_init(w, frames, slots, policy, 0), 0);
  OK(osw_space(w, s, NULL));
  OK(mmu_space_activate(s, &w->cpu));
}

/* Destroy the space: every frame and slot must come back. */
static void finish(osw *w, mmu_space *s) {
  osw_space_free(s);
  assert_all_returned(w);
  osw_free(w);
}

Test(swap, evicted_pages_come_back_by_major_faults) {
  osw w;
  mmu_space s;
  start(&w, &s, 64, 64, MMU_POLICY_LRU);
  uint64_t a = anon(&s, 32);
  fill(&w, &s, a, 32);
  EQ(s.ru.rss_pages, 32);
  uint32_t got;
  OK(mmu_system_reclaim(&w.sys, 8, &got));
  EQ(got, 8);
  EQ(w.sys.vm.pswpout, 8);
  EQ(s.ru.rss_pages, 24);
  EQ(s.ru.swap_pages, 8);
  EQ(w.swap.writes, 8);
  check(&w, &s, a, 32);
  EQ(s.ru.majflt, 8);
  EQ(w.sys.vm.pswpin, 8);
  EQ(s.ru.swap_pages, 0);
  mmu_usage u;
  mmu_system_usage(&w.sys, &u);
  EQ(u.swap_used, 0); /* a slot read back by its only holder is freed */
  char text[256];
  mmu_format_time_v(&s.ru, text, sizeof text);
  cr_assert(strstr(text, "\tMajor (requiring I/O) page faults: 8\n"), "%s", text);
  finish(&w, &s);
}

/* More pages than frames: faults reclaim by themselves. */
static void overcommit(unsigned policy) {
  osw w;
  mmu_space s;
  start(&w, &s, 48, 256, policy);
  uint64_t a = anon(&s, 200);
  fill(&w, &s, a, 200);
  check(&w, &s, a, 200);
  cr_assert(s.ru.majflt > 0);
  EQ(s.ru.majflt, w.sys.vm.pswpin);
  EQ(s.ru.rss_pages + s.ru.swap_pages, 200);
  finish(&w, &s);
}

Test(swap, overcommit_lru) { overcommit(MMU_POLICY_LRU); }
Test(swap, overcommit_clock) { overcommit(MMU_POLICY_CLOCK); }
Test(swap, overcommit_lfu) { overcommit(MMU_POLICY_LFU); }
Test(swap, overcommit_two_list) { overcommit(MMU_POLICY_TWO_LIST); }

/* A page touched between every allocation keeps its Accessed bit set and
 * is never chosen, whichever policy runs, once the first reclaim has read
 * the bits: until then every page looks referenced (all were touched once)
 * and the Accessed bits cannot order them. With aging between accesses (a
 * timer tick), LRU and LFU tell the hot page apart from the start: not even
 * the first reclaim takes it. */
static void hot_page(unsigned policy, int age) {
  osw w;
  mmu_space s;
  start(&w, &s, 32, 256, policy);
  uint64_t a = anon(&s, 120);
  fill(&w, &s, a, 1); /* page 0: hot */
  for (uint64_t p = 1; p < 120; p++) {
    mmu_fault_info f;
    uint8_t v = 1;
    OK(mmu_space_write(&s, &w.cpu, a + p * PAGE, &v, 1, NULL));
    if (age)
      mmu_system_age(&w.sys);
    OK(mmu_space_read(&s, &w.cpu, a + 100, &v, 1, &f));
    if (!age && p < 60)
      continue;
    cr_assert_neq(f.fault_class, MMU_FAULT_MAJOR, "%s evicted the hot page at %llu",
                  mmu_policy_name(policy), (unsigned long long)p);
  }
  cr_assert(w.sys.vm.pswpout >= 80);
  finish(&w, &s);
}

static void hot_page_survives(unsigned policy) { hot_page(policy, 0); }
static void hot_page_with_aging(unsigned policy) { hot_page(policy, 1); }

Test(swap, hot_page_aged_lru) { hot_page_with_aging(MMU_POLICY_LRU); }
Test(swap, hot_page_aged_lfu) { hot_page_with_aging(MMU_POLICY_LFU); }

Test(swap, aging_counts_referenced_pages) {
  osw w;
  mmu_space s;
  start(&w, &s, 64, 16, MMU_POLICY_LRU);
  uint64_t a = anon(&s, 8);
  fill(&w, &s, a, 8);
  EQ(mmu_system_age(&w.sys), 8); /* each page was touched */
  EQ(mmu_system_age(&w.sys), 0); /* the bits were cleared */
  uint8_t v;
  OK(mmu_space_read(&s, &w.cpu, a + 3 * PAGE, &v, 1, NULL));
  OK(mmu_space_read(&s, &w.cpu, a + 5 * PAGE, &v, 1, NULL));
  EQ(mmu_system_age(&w.sys), 2); /* the TLB entries went too: A set again */
  finish(&w, &s);
  start(&w, &s, 64, 16, MMU_POLICY_CLOCK);
  a = anon(&s, 4);
  fill(&w, &s, a, 4);
  EQ(mmu_system_age(&w.sys), 0); /* Clock reads the bits itself */
  finish(&w, &s);
}

Test(swap, hot_page_lru) { hot_page_survives(MMU_POLICY_LRU); }
Test(swap, hot_page_clock) { hot_page_survives(MMU_POLICY_CLOCK); }
Test(swap, hot_page_lfu) { hot_page_survives(MMU_POLICY_LFU); }
Test(swap, hot_page_two_list) { hot_page_survives(MMU_POLICY_TWO_LIST); }

Test(swap, corrupt_slot_is_an_error_never_wrong_data) {
  osw w;
  mmu_space s;
  start(&w, &s, 64, 8, MMU_POLICY_LRU);
  uint64_t a = anon(&s, 4);
  fill(&w, &s, a, 4);
  uint32_t got;
  OK(mmu_system_reclaim(&w.sys, 4, &got));
  EQ(got, 4);
  /* flip one bit of every slot in use */
  for (uint64_t i = 0; i < 4; i++)
    w.swap.data[i * 4096 + 100] ^= 0x10;
  uint8_t v;
  for (int tries = 0; tries < 3; tries++)
    EQ(mmu_space_read(&s, &w.cpu, a + 100, &v, 1, NULL), MMU_ERR_SWAP_CORRUPT);
  EQ(s.ru.majflt, 0);
  EQ(s.ru.swap_pages, 4); /* the entry still points at the slot */
  mmu_usage u;
  mmu_system_usage(&w.sys, &u);
  EQ(u.frames_anon, 0); /* the frame read into was given back */
  for (uint64_t i = 0; i < 4; i++)
    w.swap.data[i * 4096 + 100] ^= 0x10; /* repaired: nothing was lost */
  check(&w, &s, a, 4);
  EQ(s.ru.majflt, 4);
  finish(&w, &s);
}

Test(swap, short_read_and_failed_write_are_errors) {
  osw w;
  mmu_space s;
  start(&w, &s, 64, 8, MMU_POLICY_CLOCK);
  uint64_t a = anon(&s, 2);
  fill(&w, &s, a, 2);
  w.swap.fail_writes = 1;
  uint32_t got;
  EQ(mmu_system_reclaim(&w.sys, 1, &got), MMU_ERR_SWAP_IO);
  EQ(got, 0);
  EQ(s.ru.rss_pages, 2);
  w.swap.fail_writes = 0;
  OK(mmu_system_reclaim(&w.sys, 2, &got));
  w.swap.short_read = 4000;
  uint8_t v;
  EQ(mmu_space_read(&s, &w.cpu, a + 100, &v, 1, NULL), MMU_ERR_SWAP_IO);
  w.swap.short_read = -1;
  check(&w, &s, a, 2);
  finish(&w, &s);
}

Test(swap, full_device_and_full_pool_are_clean_errors) {
  osw w;
  mmu_space s;
  start(&w, &s, 16, 4, MMU_POLICY_LRU);
  uint64_t a = anon(&s, 64);
  uint64_t p = 0;
  int rc = MMU_OK;
  for (; p < 64; p++) {
    uint8_t v = pattern(p, 0);
    if ((rc = mmu_space_write(&s, &w.cpu, a + p * PAGE + 100, &v, 1, NULL)))
      break;
  }
  EQ(rc, MMU_ERR_NOSWAP);
  mmu_usage u;
  mmu_system_usage(&w.sys, &u);
  EQ(u.swap_used, 4);
  EQ(s.ru.rss_pages + s.ru.swap_pages, p); /* every page written is kept */
  for (uint64_t q = 0; q < p; q++) {
    uint8_t v;
    int r = mmu_space_read(&s, &w.cpu, a + q * PAGE + 100, &v, 1, NULL);
    if (r == MMU_OK)
      EQ(v, pattern(q, 0));
    else
      EQ(r, MMU_ERR_NOSWAP); /* no room to swap another out to read it */
  }
  finish(&w, &s);

  /* no swap at all: the pool running out is MMU_ERR_NOSWAP, as reclaim */
  start(&w, &s, 16, 0, 0);
  a = anon(&s, 64);
  for (p = 0; p < 64; p++)
    if ((rc = mmu_space_write(&s, &w.cpu, a + p * PAGE, &rc, 1, NULL)))
      break;
  EQ(rc, MMU_ERR_NOSWAP);
  EQ(mmu_system_reclaim(&w.sys, 1, NULL), MMU_ERR_NOSWAP);
  finish(&w, &s);
}

/* Two written pages, forked, then both swapped out: each slot is held by
 * both processes. */
static uint64_t forked_and_swapped(osw *w, mmu_space *s, mmu_space *c) {
  start(w, s, 64, 16, MMU_POLICY_LRU);
  uint64_t a = anon(s, 2);
  fill(w, s, a, 2);
  OK(osw_fork(s, c));
  uint32_t got;
  OK(mmu_system_reclaim(&w->sys, 2, &got));
  EQ(got, 2);
  return a;
}

/* A slot shared after fork: the first process to fault reads it (major)
 * and leaves the page in the swap cache; the other maps that same frame
 * (minor, no I/O), as Linux's swap cache does. */
Test(swap, shared_slot_after_fork_goes_through_the_swap_cache) {
  osw w;
  mmu_space s, c;
  uint64_t a = forked_and_swapped(&w, &s, &c);
  EQ(w.sys.vm.pswpout, 2); /* one write per page, two holders each */
  EQ(s.ru.swap_pages, 2);
  EQ(c.ru.swap_pages, 2);
  mmu_usage u;
  mmu_system_usage(&w.sys, &u);
  EQ(u.swap_used, 2);
  OK(mmu_space_activate(&c, &w.cpu));
  check(&w, &c, a, 2);
  EQ(c.ru.majflt, 2);
  mmu_system_usage(&w.sys, &u);
  EQ(u.swap_used, 2); /* the parent still holds them */
  OK(mmu_space_activate(&s, &w.cpu));
  uint64_t minflt = s.ru.minflt;
  check(&w, &s, a, 2);
  EQ(s.ru.majflt, 0); /* swap-cache hits */
  EQ(s.ru.minflt, minflt + 2);
  EQ(w.sys.vm.pswpin, 2);
  mmu_system_usage(&w.sys, &u);
  EQ(u.swap_used, 0);
  EQ(u.frames_anon, 2); /* one frame per page, shared */
  /* a write still copies: the child keeps its bytes */
  mmu_fault_info f;
  uint8_t v = 0xEE;
  OK(mmu_space_write(&s, &w.cpu, a + 100, &v, 1, &f));
  EQ(f.fault_class, MMU_FAULT_COW);
  OK(mmu_space_activate(&c, &w.cpu));
  check(&w, &c, a, 2);
  osw_space_free(&c);
  finish(&w, &s);
}

/* Evicting a page the swap cache still ties to its slot writes nothing;
 * a write to it first cuts the tie (the slot's bytes are then stale). */
Test(swap, swap_cache_page_evicts_without_io) {
  osw w;
  mmu_space s, c;
  uint32_t got;
  uint64_t a = forked_and_swapped(&w, &s, &c);
  check(&w, &s, a, 1); /* page 0 in, cached: the child still points at it */
  EQ(w.sys.vm.pswpin, 1);
  EQ(w.swap.writes, 2);
  OK(mmu_system_reclaim(&w.sys, 1, &got)); /* LRU: page 0 again */
  EQ(got, 1);
  EQ(w.swap.writes, 2); /* the slot had its bytes */
  EQ(s.ru.swap_pages, 2);
  check(&w, &s, a, 2);
  /* the parent writes page 0 while the child still holds the slot: a copy,
   * the child still reads the old bytes from the slot */
  uint8_t v = 0xEE;
  OK(mmu_space_write(&s, &w.cpu, a + 100, &v, 1, NULL));
  OK(mmu_space_activate(&c, &w.cpu));
  check(&w, &c, a, 2);
  osw_space_free(&c);
  finish(&w, &s);
}

/* A file page read but never written is the file's: reclaim drops it and
 * the next fault reads the file again. */
static int file_reads;
static int file_read_page(void *user, uint64_t offset, void *page, int *did_io) {
  (void)user;
  file_reads++;
  memset(page, (int)(offset >> 12) + 0x40, 4096);
  *did_io = 1;
  return 0;
}

Test(swap, clean_file_pages_are_dropped) {
  osw w;
  mmu_space s;
  static const mmu_file file = {file_read_page, NULL, "/data", 8, 1, 42, NULL};
  start(&w, &s, 64, 16, MMU_POLICY_LRU);
  uint64_t a;
  OK(mmu_space_mmap(&s, 0, 2 * PAGE, RW, 0, &file, 3 * PAGE, &a));
  uint8_t v;
  mmu_fault_info f;
  OK(mmu_space_read(&s, &w.cpu, a + PAGE, &v, 1, &f));
  EQ(v, 0x44);
  EQ(f.fault_class, MMU_FAULT_MAJOR);
  OK(mmu_space_write(&s, &w.cpu, a, &v, 1, &f)); /* private copy, dirty */
  EQ(f.fault_class, MMU_FAULT_MAJOR);
  uint32_t got;
  OK(mmu_system_reclaim(&w.sys, 2, &got));
  EQ(got, 2);
  EQ(w.sys.vm.pswpout, 1); /* only the written page needed swap */
  EQ(w.sys.vm.pgsteal, 2);
  OK(mmu_space_read(&s, &w.cpu, a + PAGE, &v, 1, &f));
  EQ(v, 0x44);
  EQ(file_reads, 3);
  OK(mmu_space_read(&s, &w.cpu, a, &v, 1, &f));
  EQ(v, 0x44);
  EQ(w.sys.vm.pswpin, 1);
  finish(&w, &s);
}

Test(swap, file_backend) {
  char path[] = "/tmp/mmu-swap-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  swap_file sf;
  cr_assert_eq(swap_file_open(&sf, path, 64), 0);
  osw w;
  mmu_space s;
  cr_assert_eq(osw_init(&w, 32, 0, MMU_POLICY_TWO_LIST, 0), 0);
  /* rebuild the system around the file device */
  w.cfg.swap = swap_file_backend(&sf);
  free(w.sys_storage);
  size_t need = mmu_system_storage_size(&w.cfg);
  w.sys_storage = aligned_alloc(64, (need + 63) & ~(size_t)63);
  OK(mmu_system_init(&w.sys, &w.cfg, w.sys_storage, need));
  OK(osw_space(&w, &s, NULL));
  OK(mmu_space_activate(&s, &w.cpu));
  uint64_t a = anon(&s, 60);
  fill(&w, &s, a, 60);
  check(&w, &s, a, 60);
  cr_assert(w.sys.vm.pswpout > 0 && w.sys.vm.pswpin > 0);
  /* a truncated file is a short read, reported */
  uint32_t got;
  OK(mmu_system_reclaim(&w.sys, 20, &got));
  cr_assert_eq(ftruncate(sf.fd, 0), 0);
  int rc = MMU_OK;
  for (uint64_t p = 0; p < 60 && rc == MMU_OK; p++) {
    uint8_t v;
    rc = mmu_space_read(&s, &w.cpu, a + p * PAGE + 100, &v, 1, NULL);
    if (rc == MMU_OK)
      EQ(v, pattern(p, 0));
  }
  EQ(rc, MMU_ERR_SWAP_IO);
  finish(&w, &s);
  swap_file_close(&sf);
  unlink(path);
}

/* A write to a present read-only page the process owns alone takes it over
 * (wp_page_reuse: a minor fault, no frame). The frames the fault handler
 * reserves first must not come from that very page: evicting it would turn
 * the minor fault into a major one (found by mmu trace, LFU at 256 KiB). */
static void takeover_keeps_the_page(unsigned policy) {
  osw w;
  mmu_space s;
  /* zero page, root, 3 tables, the page, and 3 free frames: the write
   * fault's reservation of 4 must reclaim, and the page is all it could */
  start(&w, &s, 9, 4, policy);
  uint64_t a = anon(&s, 1);
  fill(&w, &s, a, 1);
  uint32_t got = 0;
  OK(mmu_system_reclaim(&w.sys, 1, &got));
  EQ(got, 1);
  mmu_fault_info fi;
  uint8_t b;
  OK(mmu_space_read(&s, &w.cpu, a, &b, 1, &fi)); /* swapped in, read-only */
  EQ(fi.fault_class, MMU_FAULT_MAJOR);
  uint64_t majors = s.ru.majflt, reuses = w.sys.vm.cow_reuses;
  b = 0x5A;
  OK(mmu_space_write(&s, &w.cpu, a, &b, 1, &fi));
  EQ(fi.fault_class, MMU_FAULT_MINOR);
  EQ(s.ru.majflt, majors);
  EQ(w.sys.vm.cow_reuses, reuses + 1);
  finish(&w, &s);
}
Test(swap, takeover_keeps_the_page_lru) { takeover_keeps_the_page(MMU_POLICY_LRU); }
Test(swap, takeover_keeps_the_page_clock) { takeover_keeps_the_page(MMU_POLICY_CLOCK); }
Test(swap, takeover_keeps_the_page_lfu) { takeover_keeps_the_page(MMU_POLICY_LFU); }
Test(swap, takeover_keeps_the_page_two_list) { takeover_keeps_the_page(MMU_POLICY_TWO_LIST); }

/* A copy-on-write fault with no frame free reclaims, but never the page it
 * is copying: the victim is the other page. */
Test(swap, cow_copy_keeps_its_source) {
  osw w;
  mmu_space s, child;
  /* zero page, root, 3 tables, pages A and B, the child's 4 tables: full */
  start(&w, &s, 11, 8, MMU_POLICY_LRU);
  uint64_t a = anon(&s, 2);
  fill(&w, &s, a, 2);
  OK(osw_fork(&s, &child));
  mmu_usage u;
  OK(mmu_system_usage(&w.sys, &u));
  EQ(u.frames_free, 0);
  mmu_fault_info fi;
  uint8_t b = 0x5A;
  uint64_t majors = s.ru.majflt;
  OK(mmu_space_write(&s, &w.cpu, a, &b, 1, &fi)); /* page A, first victim */
  EQ(fi.fault_class, MMU_FAULT_COW);
  EQ(s.ru.majflt, majors);
  EQ(w.sys.vm.pswpout, 1); /* B: one write, one slot for both spaces */
  uint8_t back = 0;
  OK(mmu_space_read(&s, &w.cpu, a, &back, 1, &fi)); /* the copy, mapped */
  EQ(back, 0x5A);
  EQ(fi.fault_class, MMU_FAULT_NONE);
  osw_space_free(&child);
  finish(&w, &s);
}
