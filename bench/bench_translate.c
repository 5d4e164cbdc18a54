/* SPDX-License-Identifier: MIT */
/* bench_translate.c - microbenchmark of the mmu_translate hot path.
 *
 *   bench_translate [--quick] [--no-icount] [--reps N] [--sets N] [--ways N]
 *
 * Prints ns per translate for TLB hits (sequential and 2 MiB-strided 4K
 * pages, reads and writes, pieces of 2 MiB pages), TLB misses (random 4K
 * pages over 256 MiB: 4-level walks; random pieces of 2 MiB pages: 3-level
 * walks) and the reference walker, each as a ratio against baselines run
 * interleaved in the same process: a bare hashed array, a QEMU-style
 * direct-mapped TLB of the same entry count, and 3 or 4 dependent loads in
 * a table as large as the page tables. Every lookup depends on the previous
 * result. Then simulates the TLB set-index quality of mmu_tlb_set_index()
 * against a low-bits index and Fibonacci hashing.
 *
 * Then, beside the timings, the instructions per hit and per miss counted
 * under callgrind: it runs bench_icount from its own directory (skipped,
 * and said so, without valgrind; not with --quick or --no-icount).
 *
 * --quick runs 100x fewer iterations (ctest). Exit status 1 if a
 * translation failed. */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <sys/wait.h>

/* bench_icount's table (SPEC.md 5.8): instruction counts are what a noisy
 * machine cannot blur. */
static void run_icount(const char *argv0, FILE *out) {
  char cmd[4200];
  const char *slash = strrchr(argv0, '/');
  int dir = slash ? (int)(slash - argv0) : 1;
  snprintf(cmd, sizeof cmd, "'%.*s/bench_icount'", dir, slash ? argv0 : ".");
  fprintf(out, "\n");
  fflush(out);
  int rc = system(cmd);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
    fprintf(out, "instructions per translation: not counted (%s exited %d;"
                 " it needs valgrind)\n",
            cmd, rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc));
}

static unsigned parse_uint(const char *s, const char *what) {
  char *end;
  unsigned long v = strtoul(s, &end, 0);
  if (*s == '\0' || *end != '\0' || v > 0xFFFFFFFFul) {
    fprintf(stderr, "bench_translate: bad %s '%s'\n", what, s);
    exit(2);
  }
  return (unsigned)v;
}

int main(int argc, char **argv) {
  bc_opts o;
  int icount = 1;
  memset(&o, 0, sizeof o);
  o.div = 1;
  o.reps = 7;
  o.verbose = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      o.div = 100;
      o.reps = 5;
      icount = 0;
    } else if (!strcmp(argv[i], "--no-icount")) {
      icount = 0;
    } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      o.reps = parse_uint(argv[++i], "--reps");
    } else if (!strcmp(argv[i], "--sets") && i + 1 < argc) {
      o.sets = parse_uint(argv[++i], "--sets");
    } else if (!strcmp(argv[i], "--ways") && i + 1 < argc) {
      o.ways = parse_uint(argv[++i], "--ways");
    } else {
      fprintf(stderr,
              "usage: %s [--quick] [--no-icount] [--reps N] [--sets N] "
              "[--ways N]\n",
              argv[0]);
      return 2;
    }
  }
  printf("mmu %s\n", mmu_version_string());
  int rc = bc_bench_main(&o, stdout);
  if (icount)
    run_icount(argv[0], stdout);
  return rc;
}
