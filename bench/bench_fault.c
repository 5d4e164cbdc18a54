/* SPDX-License-Identifier: MIT */
/* bench_fault.c - what each kind of page fault costs in mmu_space, end to
 * end (translate, #PF, handler, retry), beside what the fault must do at
 * the least, measured in the same process: zeroing a page (first write),
 * copying one (copy-on-write), copying and hashing one (swap-in through a
 * RAM device), and that plus zeroing (a write that evicts a page). Rows
 * without page work (zero-page read, reuse) are scaled by memset too: the
 * "no fault" row is the floor of any access that walks.
 *
 *   bench_fault [--quick]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

enum { PAGES = 4096, ROUNDS = 5 };


static void check(int rc, const char *what) {
  if (rc != MMU_OK) {
    fprintf(stderr, "bench_fault: %s: %s\n", what, mmu_status_name(rc));
    exit(1);
  }
}

/* RAM swap device. */
static uint8_t *swap_mem;
static long swap_read(void *user, uint64_t slot, void *page) {
  (void)user;
  memcpy(page, swap_mem + slot * 4096, 4096);
  return 4096;
}
static int swap_write(void *user, uint64_t slot, const void *page) {
  (void)user;
  memcpy(swap_mem + slot * 4096, page, 4096);
  return 0;
}

typedef struct world {
  uint8_t *pool;
  void *storage, *tlb;
  mmu_system sys;
  mmu_cpu cpu;
  mmu_space s, child;
  mmu_region regions[2][64];
  uint64_t a;
} world;

static void world_init(world *w, uint32_t frames, unsigned policy) {
  memset(w, 0, sizeof *w);
  w->pool = aligned_alloc(4096, (size_t)frames * 4096);
  memset(w->pool, 0, (size_t)frames * 4096); /* host faults out of timings */
  mmu_system_config c;
  memset(&c, 0, sizeof c);
  c.pool.gpa = 1ull << 32;
  c.pool.size = (uint64_t)frames * 4096;
  c.pool.host = w->pool;
  c.policy = policy;
  c.swap.read = swap_read;
  c.swap.write = swap_write;
  c.swap.slots = PAGES;
  size_t need = mmu_system_storage_size(&c);
  w->storage = aligned_alloc(64, (need + 63) & ~(size_t)63);
  check(mmu_system_init(&w->sys, &c, w->storage, need), "system");
  mmu_config cc;
  memset(&cc, 0, sizeof cc);
  static mmu_ram_region ram;
  ram = c.pool;
  cc.ram = &ram;
  cc.ram_count = 1;
  size_t tb = mmu_tlb_storage_size(&cc);
  w->tlb = aligned_alloc(64, tb);
  check(mmu_init(&w->cpu, &cc, w->tlb, tb), "cpu");
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cr3 = c.pool.gpa;
  r.cpl = 3;
  check(mmu_load_regs(&w->cpu, &r), "regs");
  check(mmu_space_init(&w->s, &w->sys, NULL, w->regions[0],
                       sizeof w->regions[0]), "space");
  check(mmu_space_activate(&w->s, &w->cpu), "activate");
  check(mmu_space_mmap(&w->s, 0, (uint64_t)PAGES * 4096,
                       MMU_PROT_READ | MMU_PROT_WRITE, 0, NULL, 0, &w->a),
        "mmap");
}

static void world_free(world *w) {
  if (w->child.magic)
    mmu_space_destroy(&w->child);
  mmu_space_destroy(&w->s);
  free(w->pool);
  free(w->storage);
  free(w->tlb);
}

static void touch_all(world *w, mmu_space *s, unsigned access) {
  for (uint64_t p = 0; p < PAGES; p++) {
    mmu_result res;
    check(mmu_space_access(s, &w->cpu, w->a + p * 4096, access, &res, NULL),
          "access");
    bc_sink += res.paddr;
  }
}

/* ns per page of one pass of `access` over every page, after `prepare`. */
typedef void (*prep_fn)(world *w);
static double per_page(prep_fn prepare, unsigned access, int in_child,
                       uint32_t frames, unsigned policy) {
  uint64_t v[ROUNDS];
  for (int i = 0; i < ROUNDS; i++) {
    world *w = malloc(sizeof *w);
    world_init(w, frames, policy);
    if (prepare)
      prepare(w);
    mmu_space *s = &w->s;
    if (in_child) {
      check(mmu_space_activate(&w->child, &w->cpu), "activate child");
      s = &w->child;
    }
    uint64_t t0 = bc_now_ns();
    touch_all(w, s, access);
    v[i] = bc_now_ns() - t0;
    world_free(w);
    free(w);
  }
  qsort(v, ROUNDS, sizeof v[0], bc_cmp_u64);
  return (double)v[ROUNDS / 2] / PAGES;
}

static void prep_read(world *w) { touch_all(w, &w->s, MMU_READ); }
static void prep_write(world *w) { touch_all(w, &w->s, MMU_WRITE); }
static void prep_fork(world *w) {
  prep_write(w);
  check(mmu_space_fork(&w->s, &w->child, w->regions[1], sizeof w->regions[1]),
        "fork");
}
static void prep_fork_exit(world *w) {
  prep_fork(w);
  mmu_space_destroy(&w->child);
}
static void prep_swapped(world *w) {
  prep_write(w);
  uint32_t got;
  check(mmu_system_reclaim(&w->sys, PAGES, &got), "reclaim");
}

/* Baselines over PAGES distinct pages, as the faults touch them. */
static double base_ns(int kind) {
  uint8_t *a = aligned_alloc(4096, (size_t)PAGES * 4096);
  uint8_t *b = aligned_alloc(4096, (size_t)PAGES * 4096);
  memset(a, 1, (size_t)PAGES * 4096);
  memset(b, 2, (size_t)PAGES * 4096);
  uint64_t v[ROUNDS];
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t t0 = bc_now_ns();
    for (uint64_t p = 0; p < PAGES; p++) {
      uint8_t *x = a + p * 4096, *y = b + p * 4096;
      if (kind == 0) {
        memset(x, 0, 4096);
      } else if (kind == 1) {
        memcpy(x, y, 4096);
      } else if (kind == 2) { /* swap-in: read the slot, check it */
        memcpy(x, y, 4096);
        bc_sink += mmu_xxh64(x, 4096, 0);
      } else { /* a write that evicts: write a page out, zero a new one */
        memcpy(y, x, 4096);
        bc_sink += mmu_xxh64(x, 4096, 0);
        memset(x, 0, 4096);
      }
    }
    v[i] = bc_now_ns() - t0;
    bc_sink += a[i];
  }
  free(a);
  free(b);
  qsort(v, ROUNDS, sizeof v[0], bc_cmp_u64);
  return (double)v[ROUNDS / 2] / PAGES;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--quick") != 0) {
      fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 2;
    }
  uint32_t frames = PAGES * 2 + 64, small = PAGES / 4 + 64;
  swap_mem = malloc((size_t)PAGES * 4096);
  double zero = base_ns(0), copy = base_ns(1), in = base_ns(2),
         out = base_ns(3);
  struct {
    const char *name;
    prep_fn prep;
    unsigned access;
    int child;
    uint32_t frames;
    double base;
    const char *base_name;
    unsigned policy; /* 0: the default (two lists) */
  } rows[] = {
      {"read, zero page mapped", NULL, MMU_READ, 0, frames, zero, "memset 4K", 0},
      {"write, first touch", NULL, MMU_WRITE, 0, frames, zero, "memset 4K", 0},
      {"write over zero page", prep_read, MMU_WRITE, 0, frames, zero,
       "memset 4K", 0},
      {"no fault (TLB miss, walk)", prep_write, MMU_WRITE, 0, frames, zero,
       "memset 4K", 0},
      {"COW write in child", prep_fork, MMU_WRITE, 1, frames, copy,
       "memcpy 4K", 0},
      {"write, reuse after exit", prep_fork_exit, MMU_WRITE, 0, frames, copy,
       "memcpy 4K", 0},
      {"major: swap-in (RAM dev)", prep_swapped, MMU_READ, 0, frames, in,
       "copy+XXH64", 0},
      {"evicting write, clock", NULL, MMU_WRITE, 0, small, out,
       "copy+XXH64+memset", MMU_POLICY_CLOCK},
      {"evicting write, lru", NULL, MMU_WRITE, 0, small, out,
       "copy+XXH64+memset", MMU_POLICY_LRU},
      {"evicting write, lfu", NULL, MMU_WRITE, 0, small, out,
       "copy+XXH64+memset", MMU_POLICY_LFU},
      {"evicting write, two lists", NULL, MMU_WRITE, 0, small, out,
       "copy+XXH64+memset", MMU_POLICY_TWO_LIST},
  };
  printf("%-28s %10s   %-18s %9s %7s\n", "per page, 4096 pages", "mmu",
         "baseline", "", "ratio");
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    double t = per_page(rows[i].prep, rows[i].access, rows[i].child,
                        rows[i].frames, rows[i].policy);
    printf("%-28s %7.1f ns   %-18s %6.1f ns %6.2fx\n", rows[i].name, t,
           rows[i].base_name, rows[i].base, t / rows[i].base);
  }
  free(swap_mem);
  return 0;
}
