/* SPDX-License-Identifier: MIT */
/* MAP_SHARED: anonymous shared memory and shared file mappings through
 * mmu_object (SPEC.md 9.2, 9.7). The fault counts are what Linux 6.18
 * gave the same sequences (getrusage around each step, transparent huge
 * pages off): a read fault allocates and maps writable, a read fault of a
 * page the object holds maps its 16-page window (fault-around), a child
 * does not inherit the entries and refaults. */
#include <stdio.h>
#include <string.h>

#include "os_test.h"

#define WIN 0x10000000ull
#define P(n) (WIN + (uint64_t)(n)*PAGE)

static osw W;
static mmu_space S;
static mmu_object O;
static uint64_t obj_storage[64];

static void setup(void) { ost_world(&W, &S, 4096, 256, 0); }
static void teardown(void) { ost_world_free(&W, &S); }
TestSuite(linux_shared, .init = setup, .fini = teardown);

/* MAP_SHARED | MAP_ANONYMOUS of `pages` pages at page `at`. */
static void shared_anon(mmu_object *o, uint64_t at, uint64_t pages) {
  OK(mmu_object_init(o, &W.sys, pages, NULL, obj_storage, sizeof obj_storage));
  uint64_t got;
  OK(mmu_space_mmap_object(&S, P(at), pages * PAGE, RW, MMU_MAP_FIXED, o, 0,
                           &got));
  EQ(got, P(at));
}

static uint64_t faults_of(mmu_space *s, uint64_t page, int write,
                          uint8_t value, uint8_t *read) {
  uint64_t before = s->ru.minflt + s->ru.majflt;
  uint8_t v = value;
  int rc = write ? osw_write8(&W, s, P(page), v, NULL)
                 : osw_read8(&W, s, P(page), &v, NULL);
  OK(rc);
  if (read)
    *read = v;
  return s->ru.minflt + s->ru.majflt - before;
}

Test(linux_shared, read_faults_allocate_and_map_writable) {
  shared_anon(&O, 0, 32);
  for (uint64_t p = 0; p < 4; p++)
    EQ(faults_of(&S, p, 0, 0, NULL), 1);
  for (uint64_t p = 0; p < 4; p++)
    EQ(faults_of(&S, p, 1, 1, NULL), 0);
  EQ(S.ru.rss_pages, 4);
}

Test(linux_shared, a_read_fault_maps_the_resident_16_page_window) {
  shared_anon(&O, 0, 32);
  for (uint64_t p = 0; p < 24; p++)
    OK(osw_write8(&W, &S, P(p), (uint8_t)p, NULL));
  OK(mmu_space_madvise(&S, P(0), 32 * PAGE, MMU_MADV_DONTNEED));
  EQ(S.ru.rss_pages, 0);
  uint8_t v;
  EQ(faults_of(&S, 0, 0, 0, &v), 1);
  EQ(v, 0); /* page 0 held 0 */
  uint64_t total = 0;
  for (uint64_t p = 1; p < 24; p++) {
    total += faults_of(&S, p, 0, 0, &v);
    EQ(v, p);
  }
  EQ(total, 1); /* page 16's fault mapped 16-23 */
  EQ(faults_of(&S, 25, 1, 1, NULL), 1);
  EQ(mmu_space_madvise(&S, P(0), PAGE, MMU_MADV_FREE), MMU_ERR_ARG);
}

/* The window starts at the 16-page aligned page below the fault, or at
 * the region's start if later, and runs 16 pages from there: past the
 * aligned window when the region starts inside it, but never past the
 * page table (do_fault_around's from_pte / to_pte). Linux 6.18: a region
 * at page 10 of a window, read at its pages 0, 15, 16 faults 1, 0, 1; at
 * its page 10, then 6, 21, 22: 1, 0, 0, 1; a region at page 500 of a page
 * table, read at 0, 11, 12: 1, 0, 1 (random script 1588). */
Test(linux_shared, fault_around_runs_16_pages_from_a_clipped_start) {
  shared_anon(&O, 10, 32);
  for (uint64_t p = 10; p < 42; p++)
    OK(osw_write8(&W, &S, P(p), 1, NULL));
  OK(mmu_space_madvise(&S, P(10), 32 * PAGE, MMU_MADV_DONTNEED));
  EQ(faults_of(&S, 10, 0, 0, NULL), 1);
  EQ(faults_of(&S, 25, 0, 0, NULL), 0);
  EQ(faults_of(&S, 26, 0, 0, NULL), 1);
  OK(mmu_space_madvise(&S, P(10), 32 * PAGE, MMU_MADV_DONTNEED));
  EQ(faults_of(&S, 20, 0, 0, NULL), 1);
  EQ(faults_of(&S, 16, 0, 0, NULL), 0);
  EQ(faults_of(&S, 31, 0, 0, NULL), 0);
  EQ(faults_of(&S, 32, 0, 0, NULL), 1);
  mmu_object o2;
  static uint64_t st2[32];
  OK(mmu_object_init(&o2, &W.sys, 32, NULL, st2, sizeof st2));
  OK(mmu_space_mmap_object(&S, P(1012), 32 * PAGE, RW, MMU_MAP_FIXED, &o2, 0,
                           NULL));
  for (uint64_t p = 1012; p < 1044; p++)
    OK(osw_write8(&W, &S, P(p), 1, NULL));
  OK(mmu_space_madvise(&S, P(1012), 32 * PAGE, MMU_MADV_DONTNEED));
  EQ(faults_of(&S, 1012, 0, 0, NULL), 1);
  EQ(faults_of(&S, 1023, 0, 0, NULL), 0);
  EQ(faults_of(&S, 1024, 0, 0, NULL), 1); /* the next page table */
}

Test(linux_shared, fork_shares_the_pages_and_the_child_refaults) {
  shared_anon(&O, 0, 32);
  for (uint64_t p = 0; p < 24; p++)
    OK(osw_write8(&W, &S, P(p), 1, NULL));
  mmu_space child;
  OK(osw_fork(&S, &child));
  EQ(mmu_object_mappings(&O), 2);
  OK(mmu_space_activate(&child, &W.cpu));
  uint8_t v;
  EQ(faults_of(&child, 0, 0, 0, &v), 1);
  EQ(v, 1);
  EQ(faults_of(&child, 20, 0, 0, NULL), 1);
  EQ(faults_of(&child, 1, 1, 9, NULL), 0);
  EQ(faults_of(&child, 30, 1, 9, NULL), 1);
  OK(mmu_space_activate(&S, &W.cpu));
  EQ(faults_of(&S, 1, 0, 0, &v), 0);
  EQ(v, 9);
  EQ(faults_of(&S, 30, 0, 0, &v), 1);
  EQ(v, 9);
  osw_space_free(&child);
  EQ(mmu_object_mappings(&O), 1);
}

Test(linux_shared, mprotect_read_only_refuses_writes_and_back_needs_no_fault) {
  shared_anon(&O, 0, 4);
  OK(osw_write8(&W, &S, P(2), 5, NULL));
  OK(mmu_space_mprotect(&S, P(0), 4 * PAGE, MMU_PROT_READ));
  mmu_fault_info f;
  EQ(osw_write8(&W, &S, P(2), 1, &f), MMU_PAGE_FAULT);
  EQ(f.si_code, MMU_SEGV_ACCERR);
  OK(mmu_space_mprotect(&S, P(0), 4 * PAGE, RW));
  EQ(faults_of(&S, 2, 1, 6, NULL), 0);
}

Test(linux_shared, past_the_objects_end_is_sigbus) {
  shared_anon(&O, 0, 4);
  uint64_t to;
  OK(mmu_space_mremap(&S, P(0), 4 * PAGE, 8 * PAGE, MMU_MREMAP_MAYMOVE, 0,
                      &to));
  mmu_fault_info f;
  uint8_t v;
  EQ(mmu_space_read(&S, &W.cpu, to + 5 * PAGE, &v, 1, &f), MMU_PAGE_FAULT);
  EQ(f.fault_class, MMU_FAULT_SIGBUS);
  EQ(f.si_code, MMU_BUS_ADRERR);
  OK(mmu_space_read(&S, &W.cpu, to + 3 * PAGE, &v, 1, &f));
}

/* mremap with old_len 0 of a shared region maps the same pages again
 * (check_prep_vma's "duplicate shm area"), the source kept; a private
 * region is EINVAL, a hole EFAULT, no MAYMOVE ENOMEM; the copy merges with
 * a neighbour of the same object whose offsets run on; a FIXED target
 * whose unmap takes the source address is EFAULT after the unmap.
 * Linux 6.18 gave the same answers (random script 151). */
Test(linux_shared, mremap_of_zero_length_duplicates_a_shared_mapping) {
  shared_anon(&O, 10, 4);
  OK(osw_write8(&W, &S, P(11), 7, NULL));
  uint64_t to;
  EQ(mmu_space_mremap(&S, P(11), 0, 2 * PAGE, 0, 0, &to), MMU_ERR_NOSPACE);
  OK(mmu_space_mremap(&S, P(11), 0, 2 * PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(20), &to));
  EQ(to, P(20));
  OK(mmu_space_mremap(&S, P(13), 0, 2 * PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(22), &to));
  OK(mmu_space_mremap(&S, P(10), 0, PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(19), &to));
  uint8_t v;
  EQ(faults_of(&S, 20, 0, 0, &v), 1);
  EQ(v, 7); /* page 1 of the object, through its second mapping */
  EQ(mmu_object_mappings(&O), 2);
  char buf[512];
  mmu_space_maps(&S, buf, sizeof buf);
  cr_assert(strstr(buf, "1000a000-1000e000 rw-s 00000000") != NULL, "%s", buf);
  cr_assert(strstr(buf, "10013000-10018000 rw-s 00000000") != NULL, "%s", buf);
  EQ(mmu_space_mremap(&S, P(13), 0, 2 * PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(13), &to),
     MMU_ERR_BADADDR);
  EQ(mmu_space_mremap(&S, P(5), 0, PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(40), &to),
     MMU_ERR_BADADDR);
  OK(mmu_space_mmap(&S, P(30), 2 * PAGE, RW, MMU_MAP_FIXED, NULL, 0, NULL));
  EQ(mmu_space_mremap(&S, P(30), 0, PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(40), &to),
     MMU_ERR_ARG);
}

/* A duplicate moves no entries, so it needs no free frame: with the
 * frames in use (populate stops a few short) and no swap, it still maps the pages again, and a FIXED
 * target over the source is still EFAULT after the unmap (as Linux, which
 * never fails it for memory). It was ENOMEM: frames were reserved for a
 * move first. */
Test(linux_shared, mremap_of_zero_length_needs_no_free_frame) {
  ost_world_free(&W, &S);
  ost_world(&W, &S, 64, 0, 0);
  shared_anon(&O, 10, 4);
  OK(osw_write8(&W, &S, P(11), 7, NULL));
  uint64_t got;
  OK(mmu_space_mmap(&S, P(100), 80 * PAGE, RW, MMU_MAP_FIXED | MMU_MAP_POPULATE,
                    NULL, 0, &got));
  mmu_usage u;
  OK(mmu_system_usage(&W.sys, &u));
  cr_assert(u.frames_free < 8, "%llu frames free: fewer than a move's "
            "reserve of 8 wanted", (unsigned long long)u.frames_free);
  uint64_t to;
  OK(mmu_space_mremap(&S, P(11), 0, 2 * PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(20), &to));
  EQ(to, P(20));
  EQ(mmu_object_mappings(&O), 2);
  EQ(mmu_space_mremap(&S, P(13), 0, 2 * PAGE,
                      MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED, P(13), &to),
     MMU_ERR_BADADDR);
  uint8_t v;
  mmu_fault_info f;
  EQ(mmu_space_read(&S, &W.cpu, P(13), &v, 1, &f), MMU_PAGE_FAULT);
  EQ(f.fault_class, MMU_FAULT_SEGV); /* the target's unmap took it */
}

/* A read past the object's end maps the window's held pages first
 * (do_read_fault calls map_pages before the fault that answers SIGBUS); a
 * write does not. Linux 6.18: 0 faults for the SIGBUS, then 0 for the
 * pages the object holds, 1 for the next; after a write past the end the
 * held page faults (random script 13109, a second thread's read). */
Test(linux_shared, a_read_past_the_end_maps_the_window_first) {
  shared_anon(&O, 2, 4);
  uint64_t to;
  OK(mmu_space_mremap(&S, P(2), 4 * PAGE, 6 * PAGE, 0, 0, &to));
  OK(osw_write8(&W, &S, P(2), 1, NULL));
  OK(osw_write8(&W, &S, P(3), 2, NULL));
  OK(mmu_space_madvise(&S, P(2), 6 * PAGE, MMU_MADV_DONTNEED));
  mmu_fault_info f;
  uint8_t v;
  uint64_t before = S.ru.minflt;
  EQ(osw_read8(&W, &S, P(7), &v, &f), MMU_PAGE_FAULT);
  EQ(f.fault_class, MMU_FAULT_SIGBUS);
  EQ(S.ru.minflt, before);
  EQ(faults_of(&S, 2, 0, 0, NULL), 0);
  EQ(faults_of(&S, 3, 0, 0, NULL), 0);
  EQ(faults_of(&S, 4, 0, 0, NULL), 1);
  OK(mmu_space_madvise(&S, P(2), 6 * PAGE, MMU_MADV_DONTNEED));
  EQ(osw_write8(&W, &S, P(7), 1, &f), MMU_PAGE_FAULT);
  EQ(f.fault_class, MMU_FAULT_SIGBUS);
  EQ(faults_of(&S, 2, 0, 0, NULL), 1);
}

Test(linux_shared, maps_shows_a_deleted_dev_zero) {
  shared_anon(&O, 0, 8);
  OK(mmu_space_munmap(&S, P(0), 2 * PAGE));
  char buf[512];
  mmu_space_maps(&S, buf, sizeof buf);
  char want[256];
  int n = snprintf(want, sizeof want, "10002000-10008000 rw-s 00002000 00:01 %llu",
                   (unsigned long long)O.inode);
  snprintf(want + n, sizeof want - (size_t)n, "%*s /dev/zero (deleted)\n",
           72 - n, ""); /* padded to column 72, as fs/proc/task_mmu.c does */
  cr_assert_str_eq(buf, want);
}

Test(linux_shared, swapped_pages_come_back_to_every_mapper) {
  shared_anon(&O, 0, 8);
  for (uint64_t p = 0; p < 8; p++)
    OK(osw_write8(&W, &S, P(p), (uint8_t)(0x10 + p), NULL));
  mmu_space child;
  OK(osw_fork(&S, &child));
  OK(mmu_space_activate(&child, &W.cpu));
  uint8_t v;
  OK(osw_read8(&W, &child, P(3), &v, NULL)); /* maps the window */
  uint32_t done;
  OK(mmu_system_reclaim(&W.sys, 8, &done));
  EQ(done, 8);
  EQ(W.sys.vm.pswpout, 8);
  EQ(S.ru.rss_pages, 0);
  EQ(child.ru.rss_pages, 0);
  uint64_t maj = child.ru.majflt;
  OK(osw_write8(&W, &child, P(3), 0x77, NULL));
  EQ(child.ru.majflt - maj, 1);
  OK(mmu_space_activate(&S, &W.cpu));
  EQ(faults_of(&S, 3, 0, 0, &v), 1);
  EQ(v, 0x77);
  EQ(S.ru.majflt, 0); /* the child brought it in */
  OK(osw_read8(&W, &S, P(6), &v, NULL));
  EQ(v, 0x16);
  osw_space_free(&child);
}

Test(linux_shared, last_unmap_frees_an_anonymous_objects_pages) {
  mmu_usage u0, u1;
  mmu_system_usage(&W.sys, &u0);
  shared_anon(&O, 0, 8);
  for (uint64_t p = 0; p < 8; p++)
    OK(osw_write8(&W, &S, P(p), 1, NULL));
  OK(mmu_space_munmap(&S, P(0), 4 * PAGE));
  EQ(mmu_object_mappings(&O), 1);
  OK(mmu_space_munmap(&S, P(4), 4 * PAGE));
  EQ(mmu_object_mappings(&O), 0);
  mmu_system_usage(&W.sys, &u1);
  EQ(u1.frames_free, u0.frames_free);
  EQ(mmu_object_destroy(&O), MMU_OK);
}

/* A shared file mapping: pages read through read_page (major when it did
 * I/O), dirty ones written back by msync and by reclaim, clean ones
 * dropped without a write. */
typedef struct fake_file {
  uint8_t data[8][4096];
  int reads, writes, fail;
} fake_file;

static int ff_read(void *user, uint64_t off, void *page, int *did_io) {
  fake_file *f = user;
  f->reads++;
  memcpy(page, f->data[off >> 12], 4096);
  *did_io = 1;
  return 0;
}
static int ff_write(void *user, uint64_t off, const void *page) {
  fake_file *f = user;
  if (f->fail)
    return -1;
  f->writes++;
  memcpy(f->data[off >> 12], page, 4096);
  return 0;
}

/* O: an 8-page object of fake file ff (zeroed), path and inode as given. */
static void ff_object(fake_file *ff, mmu_file *file, const char *path,
                      uint64_t inode) {
  memset(ff, 0, sizeof *ff);
  *file = (mmu_file){ff_read, ff, path, 8, 1, inode, ff_write};
  OK(mmu_object_init(&O, &W.sys, 8, file, obj_storage, sizeof obj_storage));
}

Test(linux_shared, file_pages_are_written_back_by_msync_and_reclaim) {
  static fake_file ff;
  mmu_file file;
  ff_object(&ff, &file, "/data/shared", 99);
  for (int i = 0; i < 8; i++)
    ff.data[i][0] = (uint8_t)(0xA0 + i);
  uint64_t got;
  OK(mmu_space_mmap_object(&S, P(0), 8 * PAGE, RW, MMU_MAP_FIXED, &O, 0,
                           &got));
  uint8_t v;
  OK(osw_read8(&W, &S, P(2), &v, NULL));
  EQ(v, 0xA2);
  EQ(S.ru.majflt, 1);
  OK(osw_write8(&W, &S, P(2), 0x55, NULL));
  OK(osw_write8(&W, &S, P(5), 0x66, NULL));
  OK(mmu_space_msync(&S, P(0), 8 * PAGE));
  EQ(ff.writes, 2);
  EQ(ff.data[2][0], 0x55);
  EQ(ff.data[5][0], 0x66);
  OK(mmu_space_msync(&S, P(0), 8 * PAGE)); /* clean now */
  EQ(ff.writes, 2);
  OK(osw_write8(&W, &S, P(5), 0x67, NULL)); /* dirty again */
  uint32_t done;
  OK(mmu_system_reclaim(&W.sys, 2, &done));
  EQ(done, 2);
  EQ(ff.writes, 3);
  EQ(ff.data[5][0], 0x67);
  EQ(W.sys.vm.pswpout, 0);
  ff.fail = 1; /* a refused writeback keeps the page, mapped as it was */
  OK(osw_write8(&W, &S, P(5), 0x68, NULL));
  cr_assert_neq(mmu_system_reclaim(&W.sys, 1, &done), MMU_OK);
  OK(osw_read8(&W, &S, P(5), &v, NULL));
  EQ(v, 0x68);
  ff.fail = 0;
  EQ(mmu_object_destroy(&O), MMU_ERR_BUSY);
  OK(mmu_space_munmap(&S, P(0), 8 * PAGE));
  OK(mmu_object_destroy(&O)); /* writes back the last dirty page */
  EQ(ff.data[5][0], 0x68);
}

/* MAP_POPULATE of a writable shared mapping faults its pages in for
 * reading (populate_vma_page_range: "shared mappings ... don't COW and we
 * would not want to dirty them for nothing"): nothing to write back, and
 * the read faults fault around, here mapping the page a first mapping
 * held next to the new one. Each populated page is one minor or major
 * fault; none is dirty until written. */
Test(linux_shared, populate_of_a_writable_shared_mapping_reads) {
  static fake_file ff;
  mmu_file file;
  ff_object(&ff, &file, "/data/shared", 99);
  uint64_t got;
  OK(mmu_space_mmap_object(&S, P(4), 4 * PAGE, RW, MMU_MAP_FIXED, &O,
                           4 * PAGE, &got));
  uint8_t v;
  OK(osw_read8(&W, &S, P(4), &v, NULL)); /* page 4 is held, and mapped */
  OK(mmu_space_munmap(&S, P(4), 4 * PAGE));
  OK(mmu_space_mmap_object(&S, P(4), 4 * PAGE, RW, MMU_MAP_FIXED, &O,
                           4 * PAGE, &got));
  uint64_t faults = S.ru.minflt + S.ru.majflt;
  OK(mmu_space_mmap_object(&S, P(0), 4 * PAGE, RW,
                           MMU_MAP_FIXED | MMU_MAP_POPULATE, &O, 0, &got));
  EQ(S.ru.minflt + S.ru.majflt - faults, 4);
  OK(mmu_space_msync(&S, P(0), 8 * PAGE));
  EQ(ff.writes, 0); /* populated, not written: nothing dirty */
  faults = S.ru.minflt + S.ru.majflt;
  OK(osw_read8(&W, &S, P(4), &v, NULL)); /* the merged region's page 4: */
  EQ(S.ru.minflt + S.ru.majflt - faults, 0); /* mapped by fault-around */
  OK(osw_write8(&W, &S, P(1), 0x11, NULL));
  OK(mmu_space_msync(&S, P(0), 8 * PAGE));
  EQ(ff.writes, 1);
}

/* page_mkclean and try_to_unmap walk every VMA of the file's i_mmap: a
 * page two regions of one space map is found through both, its D taken
 * from either (msync writes it back whichever mapping wrote it) and both
 * entries gone before reclaim frees it. Found by random script 2044 (a
 * memfd mapped twice; before, only the first region's entry was seen). */
Test(linux_shared, msync_and_reclaim_find_every_mapping_in_one_space) {
  static fake_file ff;
  mmu_file file;
  ff_object(&ff, &file, "/data/twice", 98);
  OK(mmu_space_mmap_object(&S, P(0), 8 * PAGE, MMU_PROT_READ, MMU_MAP_FIXED,
                           &O, 0, NULL));
  OK(mmu_space_mmap_object(&S, P(16), 8 * PAGE, RW, MMU_MAP_FIXED, &O, 0,
                           NULL));
  uint8_t v;
  OK(osw_write8(&W, &S, P(18), 0x42, NULL)); /* the second region writes */
  OK(osw_read8(&W, &S, P(2), &v, NULL));     /* the first maps it too */
  EQ(v, 0x42);
  OK(mmu_space_msync(&S, P(0), 8 * PAGE)); /* through the first region */
  EQ(ff.data[2][0], 0x42);
  OK(osw_write8(&W, &S, P(18), 0x43, NULL));
  uint32_t done;
  OK(mmu_system_reclaim(&W.sys, 1, &done));
  EQ(done, 1);
  EQ(ff.data[2][0], 0x43);
  EQ(S.ru.rss_pages, 0); /* neither entry is left */
  OK(osw_read8(&W, &S, P(2), &v, NULL));
  EQ(v, 0x43);
  OK(osw_read8(&W, &S, P(18), &v, NULL));
  EQ(v, 0x43);
  OK(mmu_space_munmap(&S, P(0), 24 * PAGE));
  OK(mmu_object_destroy(&O));
}

/* msync over a hole: every mapped page is written back, then ENOMEM
 * (mm/msync.c goes on past the hole and reports it at the end). */
Test(linux_shared, msync_over_a_hole_writes_the_rest_then_enomem) {
  static fake_file ff;
  mmu_file file;
  ff_object(&ff, &file, "/data/holes", 98);
  uint64_t got;
  OK(mmu_space_mmap_object(&S, P(0), 2 * PAGE, RW, MMU_MAP_FIXED, &O, 0,
                           &got));
  OK(mmu_space_mmap_object(&S, P(4), 2 * PAGE, RW, MMU_MAP_FIXED, &O,
                           4 * PAGE, &got));
  OK(osw_write8(&W, &S, P(1), 0x11, NULL));
  OK(osw_write8(&W, &S, P(5), 0x55, NULL));
  EQ(mmu_space_msync(&S, P(0), 8 * PAGE), MMU_ERR_NOSPACE);
  EQ(ff.writes, 2);
  EQ(ff.data[1][0], 0x11);
  EQ(ff.data[5][0], 0x55);
  OK(mmu_space_msync(&S, P(4), 2 * PAGE)); /* no hole, nothing dirty */
  EQ(ff.writes, 2);
  OK(mmu_space_munmap(&S, P(0), 8 * PAGE));
  OK(mmu_object_destroy(&O));
}

/* A refused writeback is MMU_ERR_FILE and leaves the page dirty: the next
 * sync writes it. */
Test(linux_shared, object_sync_keeps_a_page_whose_write_failed_dirty) {
  static fake_file ff;
  mmu_file file;
  ff_object(&ff, &file, "/data/failing", 97);
  uint64_t got;
  OK(mmu_space_mmap_object(&S, P(0), 8 * PAGE, RW, MMU_MAP_FIXED, &O, 0,
                           &got));
  OK(osw_write8(&W, &S, P(3), 0x33, NULL));
  ff.fail = 1;
  EQ(mmu_object_sync(&O), MMU_ERR_FILE);
  EQ(ff.writes, 0);
  ff.fail = 0;
  OK(mmu_object_sync(&O));
  EQ(ff.writes, 1);
  EQ(ff.data[3][0], 0x33);
  OK(mmu_object_sync(&O)); /* clean now */
  EQ(ff.writes, 1);
  OK(mmu_space_munmap(&S, P(0), 8 * PAGE));
  OK(mmu_object_destroy(&O));
}
