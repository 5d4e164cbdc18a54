/* SPDX-License-Identifier: MIT */
/* mmu_space_maps() against the kernel's own /proc/self/maps: the same
 * mappings are made for real in this process (mmap with
 * MAP_FIXED_NOREPLACE inside a range found free) and on an mmu_space at
 * the same addresses, and the kernel's lines for that range must equal
 * the library's text byte for byte. Covers anonymous mappings of every
 * protection, merging of adjacent mappings (before and after, with and
 * without anon_vma on one side, refused between two anon_vmas), mprotect
 * splits and the merge back, munmap holes, PROT_NONE, private file
 * mappings (offsets, merging of contiguous offsets) and MAP_GROWSDOWN.
 * Linux only. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os_world.h"

#define PAGE 4096ull
#define RANGE_PAGES 512ull /* the compared range; free around it too */

static osw W;
static mmu_space S;
static uint8_t *reservation; /* guard page, range, guard page */
static uint64_t lo, hi;      /* the compared range */
static int fd = -1;
static char path[PATH_MAX];
static mmu_file file;

static int read_file_page(void *user, uint64_t offset, void *page,
                          int *did_io) {
  (void)user;
  *did_io = 1;
  memset(page, 0, 4096);
  return pread(fd, page, 4096, (off_t)offset) < 0;
}

/* A temporary file of 8 pages, described as /proc shows it. */
static void make_file(void) {
  char tmpl[] = "/tmp/mmu_maps_XXXXXX";
  fd = mkstemp(tmpl);
  cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
  static uint8_t fill[8 * 4096];
  memset(fill, 0xA5, sizeof fill);
  cr_assert_eq(write(fd, fill, sizeof fill), (ssize_t)sizeof fill);
  cr_assert_not_null(realpath(tmpl, path));
  struct stat st;
  cr_assert_eq(fstat(fd, &st), 0);
  file.read_page = read_file_page;
  file.path = path;
  file.dev_major = major(st.st_dev);
  file.dev_minor = minor(st.st_dev);
  file.inode = (uint64_t)st.st_ino;
}

static void setup(void) {
  cr_assert_eq(osw_init(&W, 1024, 0, 0, 0), 0);
  cr_assert_eq(osw_space(&W, &S, NULL), MMU_OK);
  cr_assert_eq(mmu_space_activate(&S, &W.cpu), MMU_OK);
  /* A free range: reserved with a guard page either side, then the middle
   * given back; the guards keep other mappings from landing next to it. */
  size_t len = (RANGE_PAGES + 2) * PAGE;
  reservation = mmap(NULL, len, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert_neq(reservation, MAP_FAILED, "mmap: %s", strerror(errno));
  lo = (uint64_t)(uintptr_t)reservation + PAGE;
  hi = lo + RANGE_PAGES * PAGE;
  cr_assert_eq(munmap((void *)(uintptr_t)lo, RANGE_PAGES * PAGE), 0);
  make_file();
}

static void teardown(void) {
  if (reservation)
    munmap(reservation, (RANGE_PAGES + 2) * PAGE);
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  if (S.magic)
    osw_space_free(&S);
  osw_free(&W);
}

TestSuite(maps_kernel, .init = setup, .fini = teardown);

/* ---- the same operation on both sides ---------------------------------- */

static uint64_t at(uint64_t page) {
  cr_assert_lt(page, RANGE_PAGES);
  return lo + page * PAGE;
}

/* mmap at range page `page`: anonymous, or of `file` at `offset` pages. */
static void both_mmap(uint64_t page, uint64_t pages, unsigned prot,
                      int growsdown, const mmu_file *f, uint64_t offset) {
#ifndef MAP_FIXED_NOREPLACE
  (void)page, (void)pages, (void)prot, (void)growsdown, (void)f, (void)offset;
  cr_skip_test("no MAP_FIXED_NOREPLACE in this libc");
#else
  void *want = (void *)(uintptr_t)at(page);
  int flags = MAP_PRIVATE | MAP_FIXED_NOREPLACE |
              (f ? 0 : MAP_ANONYMOUS) | (growsdown ? MAP_GROWSDOWN : 0);
  void *got = mmap(want, pages * PAGE, (int)prot, flags, f ? fd : -1,
                   (off_t)(offset * PAGE));
  if (got == MAP_FAILED || got != want) {
    /* EEXIST: something took the range meanwhile; a kernel before 4.17
     * ignores the flag and maps elsewhere. */
    if (got != MAP_FAILED)
      munmap(got, pages * PAGE);
    cr_skip_test("MAP_FIXED_NOREPLACE at %p: %s", want,
                 got == MAP_FAILED ? strerror(errno) : "mapped elsewhere");
  }
  cr_assert_eq(mmu_space_mmap(&S, at(page), pages * PAGE, prot,
                              MMU_MAP_FIXED |
                                  (growsdown ? MMU_MAP_GROWSDOWN : 0u),
                              f, offset * PAGE, NULL),
               MMU_OK);
#endif
}

static void both_mprotect(uint64_t page, uint64_t pages, unsigned prot) {
  cr_assert_eq(mprotect((void *)(uintptr_t)at(page), pages * PAGE, (int)prot),
               0, "mprotect: %s", strerror(errno));
  cr_assert_eq(mmu_space_mprotect(&S, at(page), pages * PAGE, prot), MMU_OK);
}

static void both_munmap(uint64_t page, uint64_t pages) {
  cr_assert_eq(munmap((void *)(uintptr_t)at(page), pages * PAGE), 0);
  cr_assert_eq(mmu_space_munmap(&S, at(page), pages * PAGE), MMU_OK);
}

/* A write to one page: the region gets its anon_vma on both sides. */
static void both_write(uint64_t page) {
  uint8_t v = 0;
  *(volatile uint8_t *)(uintptr_t)at(page) = 1;
  cr_assert_eq(osw_write8(&W, &S, at(page), 1, NULL), MMU_OK);
  cr_assert_eq(osw_read8(&W, &S, at(page), &v, NULL), MMU_OK);
  cr_assert_eq(v, 1);
}

/* ---- the texts ------------------------------------------------------------ */

/* The lines of /proc/PID/maps (pid 0: self) inside [lo, hi), in out
 * (NUL-terminated); a line reaching across either end fails the test. */
static void kernel_maps_of(pid_t pid, char *out, size_t cap) {
  char name[64];
  if (pid)
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
  else
    snprintf(name, sizeof name, "/proc/self/maps");
  FILE *f = fopen(name, "r");
  cr_assert_not_null(f, "%s: %s", name, strerror(errno));
  char line[PATH_MAX + 128];
  size_t len = 0;
  out[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    unsigned long long start, end;
    cr_assert_eq(sscanf(line, "%llx-%llx", &start, &end), 2, "%s", line);
    if (end <= lo || start >= hi)
      continue;
    cr_assert(start >= lo && end <= hi, "kernel line crosses the range: %s",
              line);
    size_t n = strlen(line);
    cr_assert_lt(len + n, cap);
    memcpy(out + len, line, n + 1);
    len += n;
  }
  fclose(f);
}

static void kernel_maps(char *out, size_t cap) { kernel_maps_of(0, out, cap); }

static void library_maps_of(const mmu_space *s, char *out, size_t cap) {
  size_t n = mmu_space_maps(s, out, cap);
  cr_assert_lt(n, cap);
}

static void library_maps(char *out, size_t cap) {
  library_maps_of(&S, out, cap);
}

/* The first line where two texts differ, for the failure message. */
static void first_difference(const char *a, const char *b, char *msg,
                             size_t cap) {
  while (*a && *b) {
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    size_t la = ea ? (size_t)(ea - a) : strlen(a);
    size_t lb = eb ? (size_t)(eb - b) : strlen(b);
    if (la != lb || memcmp(a, b, la)) {
      snprintf(msg, cap, "kernel:  [%.*s]\nlibrary: [%.*s]", (int)la, a,
               (int)lb, b);
      return;
    }
    a += la + (ea != NULL);
    b += lb + (eb != NULL);
  }
  snprintf(msg, cap, "kernel:  [%.*s]\nlibrary: [%.*s]", 200, a, 200, b);
}

static void expect_same_text(const char *k, const char *l) {
  static char msg[1024];
  cr_assert_neq(k[0], '\0', "no kernel line in the range");
  if (strcmp(k, l) != 0) {
    first_difference(k, l, msg, sizeof msg);
    cr_assert_fail("maps differ; first difference:\n%s\n"
                   "--- kernel ---\n%s--- library ---\n%s",
                   msg, k, l);
  }
}

static void expect_same_maps(void) {
  static char k[1 << 16], l[1 << 16];
  kernel_maps(k, sizeof k);
  library_maps(l, sizeof l);
  expect_same_text(k, l);
}

/* ---- the tests ------------------------------------------------------------ */

#define R MMU_PROT_READ
#define RW (MMU_PROT_READ | MMU_PROT_WRITE)
#define RX (MMU_PROT_READ | MMU_PROT_EXEC)

Test(maps_kernel, anonymous_protections) {
  both_mmap(4, 2, R, 0, NULL, 0);
  both_mmap(8, 3, RW, 0, NULL, 0);
  both_mmap(16, 1, RX, 0, NULL, 0);
  both_mmap(20, 4, MMU_PROT_NONE, 0, NULL, 0);
  both_mmap(30, 2, MMU_PROT_WRITE, 0, NULL, 0); /* shown -w-p */
  expect_same_maps();
}

Test(maps_kernel, adjacent_mappings_merge) {
  both_mmap(10, 4, RW, 0, NULL, 0);
  both_mmap(14, 4, RW, 0, NULL, 0); /* after: one line */
  both_mmap(6, 4, RW, 0, NULL, 0);  /* before: still one */
  both_mmap(18, 2, R, 0, NULL, 0);  /* other protection: its own line */
  both_mmap(40, 4, MMU_PROT_NONE, 0, NULL, 0);
  both_mmap(44, 4, MMU_PROT_NONE, 0, NULL, 0); /* PROT_NONE merge too */
  expect_same_maps();
}

Test(maps_kernel, merge_with_and_between_anon_vmas) {
  both_mmap(10, 4, RW, 0, NULL, 0);
  both_write(10);                   /* anon_vma on the first */
  both_mmap(14, 4, RW, 0, NULL, 0); /* none on the new one: merges */
  both_mmap(30, 4, RW, 0, NULL, 0);
  both_write(30);
  both_mmap(38, 4, RW, 0, NULL, 0);
  both_write(38);
  /* Filling the gap between two anon_vmas: merges with the one below
   * only (Linux's vma_merge cannot join two anon_vmas). */
  both_mmap(34, 4, RW, 0, NULL, 0);
  expect_same_maps();
}

Test(maps_kernel, mprotect_splits_and_merges_back) {
  both_mmap(10, 8, R, 0, NULL, 0);
  both_mprotect(12, 3, RW); /* r-- rw- r-- */
  both_mmap(40, 6, RW, 0, NULL, 0);
  both_write(41);
  both_mprotect(42, 2, R);
  both_mprotect(42, 2, RW); /* back to one line */
  both_mmap(60, 4, RW, 0, NULL, 0);
  both_mprotect(62, 2, MMU_PROT_NONE); /* the tail */
  expect_same_maps();
}

Test(maps_kernel, munmap_makes_a_hole) {
  both_mmap(10, 8, RW, 0, NULL, 0);
  both_write(10);
  both_munmap(13, 2);
  both_mmap(30, 4, R, 0, NULL, 0);
  both_munmap(30, 1); /* the head */
  expect_same_maps();
}

Test(maps_kernel, private_file_mappings) {
  both_mmap(10, 2, R, 0, &file, 1); /* offset 0x1000 */
  /* contiguous offsets right after: one line */
  both_mmap(12, 2, R, 0, &file, 3);
  /* not contiguous in the file: two lines */
  both_mmap(20, 1, R, 0, &file, 0);
  both_mmap(21, 1, R, 0, &file, 5);
  both_mmap(30, 3, RW, 0, &file, 2); /* private and writable */
  both_mmap(40, 4, RX, 0, &file, 4);
  both_mprotect(41, 1, R); /* split: offsets follow the pieces */
  expect_same_maps();
}

Test(maps_kernel, file_mapping_beside_anonymous) {
  both_mmap(10, 2, R, 0, NULL, 0);
  both_mmap(12, 2, R, 0, &file, 0); /* never merges with anonymous */
  both_mmap(14, 2, R, 0, NULL, 0);
  expect_same_maps();
}

/* A MAP_GROWSDOWN mapping that is not the main stack: the kernel names
 * only the VMA holding mm->start_stack "[stack]" (fs/proc/task_mmu.c,
 * vma_is_initial_stack), so its line is unnamed; the library names every
 * MMU_REGION_STACK region "[stack]". Everything before the name agrees;
 * the name is the one, known, difference this test pins down. */
/* Only the region holding the initial stack pointer is [stack]: a
 * MAP_GROWSDOWN mapping is otherwise plain anonymous memory. */
Test(maps_kernel, growsdown_is_unnamed) {
  both_mmap(300, 4, RW, 1, NULL, 0);
  expect_same_maps();
}

Test(maps_kernel, everything_together) {
  both_mmap(2, 4, RW, 0, NULL, 0);
  both_mmap(6, 4, RW, 0, NULL, 0);
  both_write(7);
  both_mmap(20, 16, RW, 0, NULL, 0);
  both_mprotect(24, 4, R);
  both_munmap(30, 2);
  both_mmap(50, 4, MMU_PROT_NONE, 0, NULL, 0);
  both_mmap(60, 2, R, 0, &file, 6);
  both_mmap(62, 2, RW, 0, NULL, 0);
  both_mmap(80, 3, RX, 0, &file, 0);
  both_mmap(83, 1, RX, 0, &file, 3);
  expect_same_maps();
}

/* fork() copies the layout: a real child's maps against a forked space's. */
Test(maps_kernel, forked_child_has_the_same_lines) {
  both_mmap(2, 4, RW, 0, NULL, 0);
  both_write(3);
  both_mmap(10, 8, R, 0, NULL, 0);
  both_mprotect(12, 2, RW);
  both_mmap(30, 2, R, 0, &file, 1);
  both_mmap(40, 2, MMU_PROT_NONE, 0, NULL, 0);
  int ready[2];
  cr_assert_eq(pipe(ready), 0);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
  if (pid == 0) { /* holds its address space until killed */
    char c = 1;
    close(ready[0]);
    if (write(ready[1], &c, 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char c;
  cr_assert_eq(read(ready[0], &c, 1), 1);
  close(ready[0]);
  static char k[1 << 16], l[1 << 16];
  kernel_maps_of(pid, k, sizeof k);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  mmu_space child;
  cr_assert_eq(osw_fork(&S, &child), MMU_OK);
  library_maps_of(&child, l, sizeof l);
  osw_space_free(&child);
  expect_same_text(k, l);
}
