/* SPDX-License-Identifier: MIT */
/* bench_fork.c - what mmu_space_fork() costs: a process with SIZE bytes of
 * written anonymous memory, in 4 KiB pages and in 2 MiB (hugetlb) pages,
 * forked and the child destroyed, medians of several rounds. Baselines run
 * in the same process: copying the parent's page-table pages (the work
 * fork must do) and copying all of its memory (what an O(memory) fork
 * would do).
 *
 *   bench_fork [--quick] [--mib N]      (default 1024 MiB; --quick: 64)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

#define ROUNDS 7

static uint64_t median(uint64_t *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bc_cmp_u64);
  return v[n / 2];
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_fork: %s: %s\n", what, mmu_status_name(rc));
  exit(1);
}

typedef struct result {
  uint64_t fork_ns, exit_ns, pt_frames, pt_copy_ns;
} result;


static result run(uint64_t bytes, int huge) {
  result res;
  const uint64_t pool_gpa = 1ull << 32; /* 2 MiB aligned */
  uint64_t frames = bytes / 4096 + 4096; /* data, tables, slack */
  uint8_t *pool = aligned_alloc(2u << 20, frames * 4096);
  if (!pool) {
    perror("bench_fork: pool");
    exit(1);
  }
  memset(pool, 0, frames * 4096); /* host page faults out of the timings */
  mmu_system_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pool.gpa = pool_gpa;
  cfg.pool.size = frames * 4096;
  cfg.pool.host = pool;
  size_t need = mmu_system_storage_size(&cfg);
  void *st = aligned_alloc(64, (need + 63) & ~(size_t)63);
  mmu_system sys;
  int rc = mmu_system_init(&sys, &cfg, st, need);
  if (rc)
    die("system", rc);

  mmu_config ccfg;
  memset(&ccfg, 0, sizeof ccfg);
  ccfg.ram = &cfg.pool;
  ccfg.ram_count = 1;
  size_t tlb_bytes = mmu_tlb_storage_size(&ccfg);
  void *tlb = aligned_alloc(64, tlb_bytes);
  mmu_cpu cpu;
  if ((rc = mmu_init(&cpu, &ccfg, tlb, tlb_bytes)))
    die("cpu", rc);
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cr3 = pool_gpa;
  r.cpl = 3;
  if ((rc = mmu_load_regs(&cpu, &r)))
    die("regs", rc);

  static mmu_region parent_regions[64], child_regions[64];
  mmu_space parent, child;
  if ((rc = mmu_space_init(&parent, &sys, NULL, parent_regions,
                           sizeof parent_regions)))
    die("space", rc);
  if ((rc = mmu_space_activate(&parent, &cpu)))
    die("activate", rc);
  uint64_t a;
  rc = mmu_space_mmap(&parent, 0, bytes, MMU_PROT_READ | MMU_PROT_WRITE,
                      huge ? MMU_MAP_HUGETLB : 0, NULL, 0, &a);
  if (rc)
    die("mmap", rc);
  uint64_t step = huge ? 2u << 20 : 4096;
  for (uint64_t off = 0; off < bytes; off += step) {
    uint8_t v = (uint8_t)(off >> 12);
    if ((rc = mmu_space_write(&parent, &cpu, a + off, &v, 1, NULL)))
      die("populate", rc);
  }
  res.pt_frames = parent.pt_frames;

  uint64_t fork_ns[ROUNDS], exit_ns[ROUNDS], copy_ns[ROUNDS];
  uint8_t *scratch = malloc(parent.pt_frames * 4096);
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t t0 = bc_now_ns();
    if ((rc = mmu_space_fork(&parent, &child, child_regions,
                             sizeof child_regions)))
      die("fork", rc);
    uint64_t t1 = bc_now_ns();
    mmu_space_destroy(&child);
    uint64_t t2 = bc_now_ns();
    fork_ns[i] = t1 - t0;
    exit_ns[i] = t2 - t1;
    /* baseline: copy as many bytes as the parent has page tables */
    t0 = bc_now_ns();
    memcpy(scratch, pool, parent.pt_frames * 4096);
    bc_sink = scratch[(uint64_t)i * 4099 % (parent.pt_frames * 4096)];
    copy_ns[i] = bc_now_ns() - t0;
  }
  res.fork_ns = median(fork_ns, ROUNDS);
  res.exit_ns = median(exit_ns, ROUNDS);
  res.pt_copy_ns = median(copy_ns, ROUNDS);
  mmu_space_destroy(&parent);
  free(scratch);
  free(tlb);
  free(st);
  free(pool);
  return res;
}

/* Copying every byte: the cost fork avoids. */
static uint64_t memory_copy_ns(uint64_t bytes) {
  uint8_t *src = malloc(bytes), *dst = malloc(bytes);
  if (!src || !dst) {
    perror("bench_fork: copy buffers");
    exit(1);
  }
  memset(src, 1, bytes);
  memset(dst, 2, bytes);
  uint64_t v[3];
  for (int i = 0; i < 3; i++) {
    uint64_t t0 = bc_now_ns();
    memcpy(dst, src, bytes);
    bc_sink = dst[(uint64_t)i * 4097 % bytes];
    v[i] = bc_now_ns() - t0;
  }
  free(src);
  free(dst);
  return median(v, 3);
}

int main(int argc, char **argv) {
  uint64_t mib = 1024;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      mib = 64;
    else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
      mib = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--quick] [--mib N]\n", argv[0]);
      return 2;
    }
  }
  if (!mib || mib % 2) {
    fprintf(stderr, "bench_fork: --mib must be even and nonzero\n");
    return 2;
  }
  uint64_t bytes = mib << 20;
  result small = run(bytes, 0), huge = run(bytes, 1);
  uint64_t copy = memory_copy_ns(bytes);
  printf("fork of %llu MiB of written anonymous memory (median of %d)\n",
         (unsigned long long)mib, ROUNDS);
  printf("%-14s %12s %12s %10s %16s %14s\n", "pages", "fork", "exit(child)",
         "pt pages", "copy pt bytes", "fork/copy-all");
  const result *rs[2] = {&small, &huge};
  const char *names[2] = {"4 KiB", "2 MiB hugetlb"};
  for (int i = 0; i < 2; i++)
    printf("%-14s %9.1f us %9.1f us %10llu %13.1f us %13.5fx\n", names[i],
           rs[i]->fork_ns / 1e3, rs[i]->exit_ns / 1e3,
           (unsigned long long)rs[i]->pt_frames, rs[i]->pt_copy_ns / 1e3,
           (double)rs[i]->fork_ns / (double)copy);
  printf("copying all %llu MiB (an O(memory) fork): %.3f ms\n",
         (unsigned long long)mib, copy / 1e6);
  printf("4 KiB / 2 MiB fork time: %.1fx (page-table pages: %.1fx)\n",
         (double)small.fork_ns / (double)huge.fork_ns,
         (double)small.pt_frames / (double)huge.pt_frames);
  return 0;
}
