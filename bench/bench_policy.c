/* SPDX-License-Identifier: MIT */
/* bench_policy.c - page replacement policies on a recorded trace.
 *
 *   bench_policy [--quick] [trace.xz | trace.gz | trace.txt]
 *
 * Replays a page reference trace (one dense page number per line; default
 * bench/traces/sort.trace.xz, recorded by tools/record_trace.sh) into 1/16,
 * 1/8, 1/4 and 1/2 as many frames as it has distinct pages, and prints the
 * miss ratio of OPT, LRU, Clock, LFU and the two lists, each also as a
 * multiple of OPT's, and the time each took per reference.
 *
 * Exit status 1 if a policy misses less than OPT, or if LRU's count differs
 * from the one Mattson's stack distances give (computed here, apart from
 * the library); 2 if the trace cannot be read. --quick replays the first
 * 500,000 references only (ctest's bench_smoke). */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mmu.h"

#ifndef MMU_TRACE_DIR
#define MMU_TRACE_DIR "bench/traces"
#endif

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The trace, decompressed by xz or gzip through a pipe. */
static uint32_t *read_trace(const char *path, size_t limit, size_t *n,
                            uint32_t *pages) {
  size_t len = strlen(path);
  char cmd[4096];
  FILE *f;
  int piped = 1;
  if (len > 3 && !strcmp(path + len - 3, ".xz"))
    snprintf(cmd, sizeof cmd, "xz -dc -- '%s'", path);
  else if (len > 3 && !strcmp(path + len - 3, ".gz"))
    snprintf(cmd, sizeof cmd, "gzip -dc -- '%s'", path);
  else
    piped = 0;
  f = piped ? popen(cmd, "r") : fopen(path, "r");
  if (!f)
    return NULL;
  size_t cap = 1 << 20, count = 0;
  uint32_t *t = malloc(cap * sizeof *t), max = 0;
  unsigned long v;
  while (t && count < limit && fscanf(f, "%lu", &v) == 1) {
    if (v >= UINT32_MAX)
      break;
    if (count == cap) {
      uint32_t *bigger = realloc(t, 2 * cap * sizeof *t);
      if (!bigger) {
        free(t);
        t = NULL;
        break;
      }
      t = bigger;
      cap *= 2;
    }
    t[count++] = (uint32_t)v;
    if (v > max)
      max = (uint32_t)v;
  }
  /* stopping early (--quick) may leave the decompressor a broken pipe */
  int rc = piped ? pclose(f) : fclose(f);
  if (!t || count == 0 || (count < limit && rc != 0)) {
    free(t);
    return NULL;
  }
  *n = count;
  *pages = max + 1;
  return t;
}

/* Mattson et al. 1970: LRU's stack holds every page in recency order; a
 * reference at depth d hits in every memory of d frames or more. hist[d]
 * counts references at depth d (1-based), hist[0] first touches. The
 * move-to-front scan is short on a trace with locality. */
static uint64_t *stack_distances(const uint32_t *t, size_t n,
                                 uint32_t pages) {
  uint64_t *hist = calloc((size_t)pages + 1, sizeof *hist);
  uint32_t *stack = malloc((size_t)pages * sizeof *stack);
  if (!hist || !stack) {
    free(hist);
    free(stack);
    return NULL;
  }
  uint32_t depth = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t d = 0;
    while (d < depth && stack[d] != t[i])
      d++;
    if (d == depth) {
      hist[0]++;
      depth++;
    } else {
      hist[d + 1]++;
    }
    memmove(stack + 1, stack, d * sizeof *stack);
    stack[0] = t[i];
  }
  free(stack);
  return hist;
}

static uint64_t lru_by_stack(const uint64_t *hist, uint32_t pages,
                             uint32_t frames) {
  uint64_t m = hist[0];
  for (uint32_t d = frames + 1; d <= pages; d++)
    m += hist[d];
  return m;
}

static void *storage_of(size_t bytes) {
  void *p = NULL;
  if (bytes == 0 || posix_memalign(&p, 8, bytes) != 0)
    return NULL;
  return p;
}

static const unsigned kinds[] = {0 /* OPT */, MMU_POLICY_LRU,
                                 MMU_POLICY_CLOCK, MMU_POLICY_LFU,
                                 MMU_POLICY_TWO_LIST};

/* One row per frame count, one column per policy (OPT first); with
 * decimals < 0, values as miss ratios beside their multiple of OPT's. */
static void print_table(const char *title, const uint32_t frames[4],
                        double v[4][5], int decimals) {
  int with_opt_multiple = decimals < 0;
  printf("\n%s\n%8s", title, "frames");
  for (unsigned k = 0; k < 5; k++)
    printf(" %*s", with_opt_multiple ? 19 : 10,
           k ? mmu_policy_name(kinds[k]) : "opt");
  printf("\n");
  for (unsigned d = 0; d < 4; d++) {
    printf("%8u", frames[d]);
    for (unsigned k = 0; k < 5; k++) {
      if (with_opt_multiple)
        printf("  %.5f (%8.3f)", v[d][k],
               v[d][0] > 0 ? v[d][k] / v[d][0] : 1.0);
      else
        printf(" %10.*f", decimals, v[d][k]);
    }
    printf("\n");
  }
}

int main(int argc, char **argv) {
  const char *path = MMU_TRACE_DIR "/sort.trace.xz";
  size_t limit = SIZE_MAX;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      limit = 500000;
    } else if (argv[i][0] != '-') {
      path = argv[i];
    } else {
      fprintf(stderr, "usage: %s [--quick] [trace.xz|trace.gz|trace]\n",
              argv[0]);
      return 2;
    }
  }
  size_t n;
  uint32_t pages;
  uint32_t *t = read_trace(path, limit, &n, &pages);
  if (!t) {
    fprintf(stderr, "bench_policy: cannot read trace %s\n", path);
    return 2;
  }
  uint64_t *hist = stack_distances(t, n, pages);
  if (!hist) {
    fprintf(stderr, "bench_policy: out of memory\n");
    return 2;
  }
  printf("trace %s: %zu references, %u distinct pages\n", path, n, pages);
  static const unsigned divisors[] = {16, 8, 4, 2};
  uint32_t frames[4];
  uint64_t misses[4][5];
  double ns[4][5];
  int failed = 0;
  for (unsigned d = 0; d < 4; d++) {
    uint32_t f = pages / divisors[d] ? pages / divisors[d] : 1;
    frames[d] = f;
    for (unsigned k = 0; k < 5; k++) {
      size_t bytes = k ? mmu_trace_sim_storage_size(kinds[k], pages, f)
                       : mmu_trace_opt_storage_size(n, pages, f);
      void *st = storage_of(bytes);
      uint64_t t0 = now_ns();
      int rc = !st ? MMU_ERR_STORAGE
               : k ? mmu_trace_simulate(kinds[k], t, n, pages, f, st, bytes,
                                        &misses[d][k])
                   : mmu_trace_opt(t, n, pages, f, st, bytes, &misses[d][k]);
      ns[d][k] = (double)(now_ns() - t0) / (double)n;
      free(st);
      if (rc != MMU_OK) {
        fprintf(stderr, "bench_policy: %s failed: %d\n",
                k ? mmu_policy_name(kinds[k]) : "opt", rc);
        return 2;
      }
      if (k && misses[d][k] < misses[d][0]) {
        fprintf(stderr, "bench_policy: %u frames: %s missed %llu < OPT's %llu\n",
                f, mmu_policy_name(kinds[k]),
                (unsigned long long)misses[d][k],
                (unsigned long long)misses[d][0]);
        failed = 1;
      }
    }
    uint64_t want = lru_by_stack(hist, pages, f);
    if (misses[d][1] != want) {
      fprintf(stderr,
              "bench_policy: %u frames: LRU missed %llu, stack distances "
              "say %llu\n",
              f, (unsigned long long)misses[d][1], (unsigned long long)want);
      failed = 1;
    }
  }

  double ratio[4][5], count[4][5];
  for (unsigned d = 0; d < 4; d++)
    for (unsigned k = 0; k < 5; k++) {
      ratio[d][k] = (double)misses[d][k] / (double)n;
      count[d][k] = (double)misses[d][k];
    }
  print_table("miss ratio, and as a multiple of OPT's", frames, ratio, -1);
  print_table("misses", frames, count, 0);
  print_table("ns per reference", frames, ns, 1);
  free(hist);
  free(t);
  if (failed)
    return 1;
  printf("every policy >= OPT; LRU agrees with the stack distances\n");
  return 0;
}
