/* SPDX-License-Identifier: MIT */
/* bench_common.h - guest set-up and the translation benchmark core, shared by
 * bench/bench_translate.c and examples/demo.c.
 *
 * Header-only, every function static: include it in exactly one file of a
 * program, after defining _POSIX_C_SOURCE (clock_gettime) and before nothing
 * else of the project. Benchmarks may allocate (malloc); the library never
 * does.
 *
 *   bc_guest   guest RAM at gpa 0 plus a bump allocator for paging structures
 *   bc_map     map one 4 KiB / 2 MiB / 1 GiB page, creating the tables above
 *   bc_bench   the microbenchmark: translate hits / misses / 2 MiB pages
 *              against a bare hashed array, a QEMU-style direct-mapped TLB
 *              and dependent loads; then a set-index quality simulation
 */
#ifndef BENCH_COMMON_H_INCLUDED
#define BENCH_COMMON_H_INCLUDED

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mmu.h"

#if defined(__GNUC__) || defined(__clang__)
#define BC_UNUSED __attribute__((unused))
#define BC_NOINLINE __attribute__((noinline))
#else
#define BC_UNUSED
#define BC_NOINLINE
#endif
#define BC_FN static BC_UNUSED

/* ------------------------------------------------------------------------ */
/* Small utilities.                                                         */

/* Opaque zero: the compiler cannot prove it is 0, so "x & bc_zero" keeps a
 * real data dependency on x at the cost of one AND. */
static volatile uint64_t bc_zero_v = 0;
/* Everything measured ends up here, so no loop is dead code. */
static volatile uint64_t bc_sink;

BC_FN uint64_t bc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: deterministic pseudo-random numbers. */
BC_FN uint64_t bc_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

BC_FN int bc_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

BC_FN uint64_t bc_median(uint64_t *v, unsigned n) {
  qsort(v, n, sizeof v[0], bc_cmp_u64);
  return n ? v[n / 2] : 0;
}

/* ------------------------------------------------------------------------ */
/* Guest RAM and a page-table builder (4-level paging).                     */

#define BC_PTE_UPPER (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U | MMU_PTE_A)
#define BC_PTE_RW (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U | MMU_PTE_A | MMU_PTE_D)
#define BC_ADDR_MASK 0x000FFFFFFFFFF000ull

typedef struct bc_guest {
  uint8_t *ram;      /* host memory of gpa 0 .. size */
  uint64_t size;
  uint64_t pt_next;  /* bump allocator for paging structures */
  uint64_t pt_end;
  uint64_t pml4;     /* gpa of the PML4 table: CR3 */
  uint64_t pt_pages; /* paging-structure pages allocated */
  mmu_ram_region region;
} bc_guest;

/* Allocate size bytes of guest RAM (zeroed, 4 KiB aligned) and reserve
 * [pt_base, pt_base + pt_size) for paging structures. */
BC_FN int bc_guest_init(bc_guest *g, uint64_t size, uint64_t pt_base,
                        uint64_t pt_size) {
  memset(g, 0, sizeof *g);
  g->ram = (uint8_t *)aligned_alloc(4096, (size_t)size);
  if (!g->ram)
    return -1;
  memset(g->ram, 0, (size_t)size);
  g->size = size;
  g->pt_next = pt_base;
  g->pt_end = pt_base + pt_size;
  if (g->pt_end > size)
    return -1;
  g->region.gpa = 0;
  g->region.size = size;
  g->region.host = g->ram;
  g->pml4 = g->pt_next;
  g->pt_next += 4096;
  g->pt_pages = 1;
  return 0;
}

BC_FN void bc_guest_free(bc_guest *g) {
  free(g->ram);
  g->ram = NULL;
}

BC_FN uint64_t *bc_entry(bc_guest *g, uint64_t gpa) {
  return (uint64_t *)(void *)(g->ram + gpa);
}

/* Pointer to the paging entry for va at level (4 = PML4E .. 1 = PTE), or
 * NULL if a table on the way is missing or a large page ends the walk
 * earlier. */
BC_FN uint64_t *bc_lookup(bc_guest *g, uint64_t va, int level) {
  uint64_t table = g->pml4;
  for (int l = 4;; l--) {
    uint64_t *e = bc_entry(g, table + ((va >> (12 + 9 * (l - 1))) & 511) * 8);
    if (l == level)
      return e;
    if (!(*e & MMU_PTE_P) || (*e & MMU_PTE_PS))
      return NULL;
    table = *e & BC_ADDR_MASK;
  }
}

/* Map the page of 1 << shift bytes (shift 12, 21 or 30) at va to pa with
 * leaf flags (MMU_PTE_PS is added for large pages). Tables above are created
 * with P|W|U|A, so the leaf alone decides the rights. Returns the leaf entry,
 * or NULL if the pool is exhausted or a large page is in the way. */
BC_FN uint64_t *bc_map(bc_guest *g, uint64_t va, uint64_t pa, unsigned shift,
                       uint64_t flags) {
  int leaf = shift == 30 ? 3 : shift == 21 ? 2 : 1;
  uint64_t table = g->pml4;
  for (int l = 4; l > leaf; l--) {
    uint64_t *e = bc_entry(g, table + ((va >> (12 + 9 * (l - 1))) & 511) * 8);
    if (!(*e & MMU_PTE_P)) {
      if (g->pt_next + 4096 > g->pt_end)
        return NULL;
      memset(g->ram + g->pt_next, 0, 4096);
      *e = g->pt_next | BC_PTE_UPPER;
      g->pt_next += 4096;
      g->pt_pages++;
    } else if (*e & MMU_PTE_PS) {
      return NULL;
    }
    table = *e & BC_ADDR_MASK;
  }
  uint64_t *e = bc_entry(g, table + ((va >> shift) & 511) * 8);
  *e = (pa & BC_ADDR_MASK) | flags | (shift > 12 ? MMU_PTE_PS : 0);
  return e;
}

/* CR0 = PE|PG|WP, CR4 = PAE (+extra), EFER = LME|LMA|NXE, CR3 = the PML4. */
BC_FN int bc_enable_paging(mmu_cpu *cpu, const bc_guest *g, uint64_t cr4_extra,
                           unsigned cpl) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP; /* 0x80010001 */
  r.cr3 = g->pml4;
  r.cr4 = MMU_CR4_PAE | cr4_extra;                          /* 0x20 */
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;      /* 0xD00 */
  r.cpl = (uint8_t)cpl;
  return mmu_load_regs(cpu, &r);
}

/* ------------------------------------------------------------------------ */
/* The benchmark.                                                           */

typedef struct bc_opts {
  unsigned div;  /* divide iteration counts: 1 full, 100 for --quick */
  unsigned reps; /* repetitions, median taken; odd is best */
  uint32_t sets, ways;
  int verbose;
} bc_opts;

/* Virtual layout of the benchmark guest (all user pages, P|W|U|A|D). */
#define BC_VA_SEQ 0x0000000040000000ull    /* 4K pages, sequential */
#define BC_VA_STRIDE 0x0000000080000000ull /* 4K pages, one per 2 MiB */
#define BC_VA_MISS 0x0000000100000000ull   /* 256 MiB of 4K pages */
#define BC_VA_2M 0x0000000200000000ull     /* 256 MiB of 2M pages */
#define BC_MISS_BYTES (256ull << 20)
#define BC_RAM_BYTES (64ull << 20)
#define BC_PT_BASE (1ull << 20)
#define BC_PT_BYTES (7ull << 20)
#define BC_DATA_BASE (8ull << 20) /* frames for 4K pages: 8..32 MiB */
#define BC_DATA_FRAMES ((24ull << 20) >> 12)
#define BC_BIG_BASE (32ull << 20) /* frames for 2M pages: 32..64 MiB */
#define BC_BIG_FRAMES 16u

typedef struct bc_bench {
  bc_opts o;
  bc_guest g;
  mmu_config cfg;
  void *storage;
  mmu_cpu cpu;
  uint32_t entries;   /* sets * ways */
  uint64_t hit_pages; /* working set of the hit cases */
  /* address streams (power-of-two lengths) */
  uint64_t *seq, *stride, *big_hit, *miss, *big_miss;
  size_t hit_len, miss_len;
  /* baselines */
  struct bc_bare {
    uint64_t tag, val;
  } *bare;
  struct bc_qemu { /* QEMU's CPUTLBEntry: 32 bytes */
    uint64_t addr_read, addr_write, addr_code;
    uintptr_t addend;
  } *qemu;
  uint64_t *chase;
  size_t chase_slots;
  uint64_t bad; /* translations that did not return MMU_OK / missed */
} bc_bench;

/* Frame backing virtual page number vpn of the 4K regions: spread over the
 * data area, deterministic. */
BC_FN uint64_t bc_frame_4k(uint64_t vpn) {
  return BC_DATA_BASE + (((vpn * 0x9E3779B1u) % BC_DATA_FRAMES) << 12);
}

BC_FN void bc_bench_free(bc_bench *b) {
  free(b->storage);
  free(b->seq);
  free(b->stride);
  free(b->big_hit);
  free(b->miss);
  free(b->big_miss);
  free(b->bare);
  free(b->qemu);
  free(b->chase);
  bc_guest_free(&b->g);
}

BC_FN int bc_bench_setup(bc_bench *b, const bc_opts *o, FILE *out) {
  uint64_t rng = 0x123456789ABCDEFull;
  memset(b, 0, sizeof *b);
  b->o = *o;
  if (bc_guest_init(&b->g, BC_RAM_BYTES, BC_PT_BASE, BC_PT_BYTES)) {
    fprintf(out, "bench: cannot allocate guest RAM\n");
    return -1;
  }
  b->cfg.tlb_sets = o->sets;
  b->cfg.tlb_ways = o->ways;
  b->cfg.ram = &b->g.region;
  b->cfg.ram_count = 1;
  size_t bytes = mmu_tlb_storage_size(&b->cfg);
  if (!bytes) {
    fprintf(out, "bench: invalid TLB geometry %u x %u\n", o->sets, o->ways);
    return -1;
  }
  b->storage = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  int rc = b->storage ? mmu_init(&b->cpu, &b->cfg, b->storage, bytes) : -1;
  if (rc != MMU_OK) {
    fprintf(out, "bench: mmu_init: %s\n", mmu_status_name(rc));
    return -1;
  }
  b->entries = b->cpu.tlb_ways * (b->cpu.tlb_set_mask + 1);
  b->hit_pages = b->entries / 2; /* fits comfortably whatever the index */
  if (b->hit_pages < 1)
    b->hit_pages = 1;

  /* (a) hits: hit_pages sequential pages, and hit_pages pages 2 MiB apart */
  for (uint64_t i = 0; i < b->hit_pages; i++) {
    uint64_t va = BC_VA_SEQ + (i << 12);
    if (!bc_map(&b->g, va, bc_frame_4k(va >> 12), 12, BC_PTE_RW))
      goto nomem;
    va = BC_VA_STRIDE + (i << 21);
    if (!bc_map(&b->g, va, bc_frame_4k(va >> 12), 12, BC_PTE_RW))
      goto nomem;
  }
  uint64_t pt_before_miss = b->g.pt_pages;
  /* (b) misses: 256 MiB of 4K pages */
  for (uint64_t va = BC_VA_MISS; va < BC_VA_MISS + BC_MISS_BYTES; va += 4096)
    if (!bc_map(&b->g, va, bc_frame_4k(va >> 12), 12, BC_PTE_RW))
      goto nomem;
  uint64_t miss_pt_pages = b->g.pt_pages - pt_before_miss;
  /* (c) 256 MiB of 2M pages over 16 frames of 2 MiB */
  for (uint64_t i = 0; i < (BC_MISS_BYTES >> 21); i++)
    if (!bc_map(&b->g, BC_VA_2M + (i << 21),
                BC_BIG_BASE + ((i % BC_BIG_FRAMES) << 21), 21, BC_PTE_RW))
      goto nomem;
  rc = bc_enable_paging(&b->cpu, &b->g, 0, 3);
  if (rc != MMU_OK) {
    fprintf(out, "bench: mmu_load_regs: %s\n", mmu_status_name(rc));
    return -1;
  }

  /* Address streams. Hit streams cycle through the working set with a
   * varying in-page offset; miss streams are uniform random. */
  b->hit_len = 1;
  while (b->hit_len < 4 * b->hit_pages)
    b->hit_len <<= 1;
  b->miss_len = 1u << 16;
  b->seq = (uint64_t *)malloc(b->hit_len * sizeof(uint64_t));
  b->stride = (uint64_t *)malloc(b->hit_len * sizeof(uint64_t));
  b->big_hit = (uint64_t *)malloc(b->hit_len * sizeof(uint64_t));
  b->miss = (uint64_t *)malloc(b->miss_len * sizeof(uint64_t));
  b->big_miss = (uint64_t *)malloc(b->miss_len * sizeof(uint64_t));
  if (!b->seq || !b->stride || !b->big_hit || !b->miss || !b->big_miss)
    goto nomem;
  for (size_t i = 0; i < b->hit_len; i++) {
    uint64_t page = i % b->hit_pages, off = (i * 72) & 0xFF8;
    b->seq[i] = BC_VA_SEQ + (page << 12) + off;
    b->stride[i] = BC_VA_STRIDE + (page << 21) + off;
    /* 4 KiB pieces of 4 of the 2 MiB pages */
    b->big_hit[i] = BC_VA_2M + ((page & 3) << 21) + ((page >> 2) << 12) + off;
  }
  for (size_t i = 0; i < b->miss_len; i++) {
    uint64_t r = bc_rand(&rng);
    b->miss[i] = BC_VA_MISS + ((r % BC_MISS_BYTES) & ~7ull);
    b->big_miss[i] = BC_VA_2M + (((r >> 7) % BC_MISS_BYTES) & ~7ull);
  }

  /* Baseline 1: a bare hashed array of the same entry count, index = low
   * bits of the page number, filled for the sequential stream. */
  b->bare = (struct bc_bare *)calloc(b->entries, sizeof *b->bare);
  b->qemu = (struct bc_qemu *)calloc(b->entries, sizeof *b->qemu);
  if (!b->bare || !b->qemu)
    goto nomem;
  for (uint32_t i = 0; i < b->entries; i++) {
    b->bare[i].tag = ~0ull;
    b->qemu[i].addr_read = b->qemu[i].addr_write = b->qemu[i].addr_code = ~0ull;
  }
  for (uint64_t i = 0; i < b->hit_pages; i++) {
    uint64_t va = BC_VA_SEQ + (i << 12), vpn = va >> 12;
    size_t x = (size_t)(vpn & (b->entries - 1));
    b->bare[x].tag = vpn;
    b->bare[x].val = bc_frame_4k(vpn);
    /* Baseline 3: QEMU-style, addend = host - vaddr */
    b->qemu[x].addr_read = b->qemu[x].addr_write = b->qemu[x].addr_code = va;
    b->qemu[x].addend =
        (uintptr_t)(b->g.ram + bc_frame_4k(vpn)) - (uintptr_t)va;
  }
  /* Baseline 2: pointer chasing in a table as large as the page tables of
   * the 4K miss region (nearest power of two). */
  b->chase_slots = 512; /* nearest power of two to the tables' bytes */
  while (b->chase_slots * 8 * 3 / 2 < (miss_pt_pages + 2) * 4096)
    b->chase_slots <<= 1;
  b->chase = (uint64_t *)malloc(b->chase_slots * sizeof(uint64_t));
  if (!b->chase)
    goto nomem;
  for (size_t i = 0; i < b->chase_slots; i++)
    b->chase[i] = bc_rand(&rng) & (b->chase_slots - 1);
  if (b->o.verbose)
    fprintf(out,
            "guest: %llu MiB RAM, %llu paging-structure pages (%llu for the "
            "256 MiB 4K region)\n",
            (unsigned long long)(BC_RAM_BYTES >> 20),
            (unsigned long long)b->g.pt_pages,
            (unsigned long long)miss_pt_pages);
  return 0;
nomem:
  fprintf(out, "bench: out of memory / page-table pool\n");
  return -1;
}

/* One timed run of mmu_translate over a stream. Returns ns; *misses gets the
 * library's TLB-miss count for the run. */
BC_FN BC_NOINLINE uint64_t bc_run_lib(bc_bench *b, const uint64_t *addrs,
                                       size_t len, unsigned access,
                                       uint64_t iters, uint64_t *misses) {
  mmu_cpu *cpu = &b->cpu;
  const uint64_t zero = bc_zero_v;
  const size_t mask = len - 1;
  uint64_t last = 0, acc = 0, bad = 0;
  mmu_stats_reset(cpu);
  uint64_t t0 = bc_now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t va = addrs[i & mask] ^ (last & zero);
    mmu_result r;
    if (MMU_UNLIKELY(mmu_translate(cpu, va, access, &r) != MMU_OK)) {
      bad++;
      r.paddr = 0;
    }
    last = r.paddr;
    acc += last;
  }
  uint64_t t1 = bc_now_ns();
  *misses = cpu->stats.tlb_misses[access & 3];
  bc_sink += acc;
  b->bad += bad;
  return t1 - t0;
}

/* The reference walker (no TLB) over a stream. */
BC_FN BC_NOINLINE uint64_t bc_run_ref(bc_bench *b, const uint64_t *addrs,
                                       size_t len, unsigned access,
                                       uint64_t iters) {
  const uint64_t zero = bc_zero_v;
  const size_t mask = len - 1;
  uint64_t last = 0, acc = 0, bad = 0;
  uint64_t t0 = bc_now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t va = addrs[i & mask] ^ (last & zero);
    mmu_result r;
    if (MMU_UNLIKELY(mmu_reference_translate(&b->cpu, va, access, &r,
                                             NULL) != MMU_OK)) {
      bad++;
      r.paddr = 0;
    }
    last = r.paddr;
    acc += last;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  b->bad += bad;
  return t1 - t0;
}

BC_FN BC_NOINLINE uint64_t bc_bare_miss(uint64_t vpn) { return vpn << 12; }

BC_FN BC_NOINLINE uint64_t bc_run_bare(bc_bench *b, const uint64_t *addrs,
                                        size_t len, uint64_t iters) {
  const struct bc_bare *t = b->bare;
  const uint64_t zero = bc_zero_v, emask = b->entries - 1;
  const size_t mask = len - 1;
  uint64_t last = 0, acc = 0;
  uint64_t t0 = bc_now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t va = addrs[i & mask] ^ (last & zero);
    uint64_t vpn = va >> 12;
    const struct bc_bare *e = &t[vpn & emask];
    uint64_t pa;
    if (MMU_LIKELY(e->tag == vpn))
      pa = e->val | (va & 0xFFF);
    else
      pa = bc_bare_miss(vpn);
    last = pa;
    acc += pa;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  return t1 - t0;
}

BC_FN BC_NOINLINE uintptr_t bc_qemu_miss(uint64_t va) { return (uintptr_t)va; }

BC_FN BC_NOINLINE uint64_t bc_run_qemu(bc_bench *b, const uint64_t *addrs,
                                        size_t len, int write, uint64_t iters) {
  const struct bc_qemu *t = b->qemu;
  const uint64_t zero = bc_zero_v, emask = b->entries - 1;
  const size_t mask = len - 1;
  uint64_t last = 0, acc = 0;
  uint64_t t0 = bc_now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t va = addrs[i & mask] ^ (last & zero);
    const struct bc_qemu *e = &t[(va >> 12) & emask];
    uint64_t cmp = write ? e->addr_write : e->addr_read;
    uintptr_t host;
    if (MMU_LIKELY(cmp == (va & ~0xFFFull)))
      host = (uintptr_t)va + e->addend;
    else
      host = bc_qemu_miss(va);
    last = (uint64_t)host;
    acc += last;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  return t1 - t0;
}

/* n dependent loads at random slots of the chase table; the first slot
 * comes from the (random) miss stream so the pattern matches the walks. */
BC_FN BC_NOINLINE uint64_t bc_run_chase(bc_bench *b, unsigned n,
                                         uint64_t iters) {
  const uint64_t *t = b->chase, *addrs = b->miss;
  const uint64_t zero = bc_zero_v, smask = b->chase_slots - 1;
  const size_t mask = b->miss_len - 1;
  uint64_t last = 0, acc = 0;
  uint64_t t0 = bc_now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t x = ((addrs[i & mask] >> 12) ^ (last & zero)) & smask;
    for (unsigned k = 0; k < n; k++)
      x = t[x];
    last = x;
    acc += x;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  return t1 - t0;
}

/* ------------------------------------------------------------------------ */
/* Set-index quality: an LRU set-associative TLB simulated over the same     */
/* geometry, fed the same page stream under three index functions.          */

enum { BC_IDX_LIB, BC_IDX_LOW, BC_IDX_FIB, BC_IDX_N };
static const char *const bc_idx_name[BC_IDX_N] = {"mmu_tlb_set_index",
                                                  "low bits", "fibonacci"};

BC_FN uint32_t bc_index(const mmu_cpu *cpu, int kind, uint64_t vpn) {
  switch (kind) {
  case BC_IDX_LIB:
    return mmu_tlb_set_index(cpu, vpn, 0);
  case BC_IDX_LOW:
    return (uint32_t)vpn & cpu->tlb_set_mask;
  default: {
    unsigned bits = 0;
    while ((1u << bits) <= cpu->tlb_set_mask)
      bits++;
    if (bits == 0)
      return 0;
    return (uint32_t)((vpn * 0x9E3779B97F4A7C15ull) >> (64 - bits));
  }
  }
}

/* Steady-state hit rate (after one warm-up pass) of a stream of n_pages
 * pages: cyclic order, or uniform random picks if random_order. */
BC_FN double bc_sim(const mmu_cpu *cpu, int kind, const uint64_t *vpns,
                     uint32_t n_pages, int random_order) {
  uint32_t sets = cpu->tlb_set_mask + 1, ways = cpu->tlb_ways;
  uint64_t *tag = (uint64_t *)malloc((size_t)sets * ways * sizeof(uint64_t));
  uint64_t *age = (uint64_t *)calloc((size_t)sets * ways, sizeof(uint64_t));
  uint64_t rng = 42, clock = 0, hits = 0, total = 0;
  if (!tag || !age) {
    free(tag);
    free(age);
    return -1;
  }
  for (size_t i = 0; i < (size_t)sets * ways; i++)
    tag[i] = ~0ull;
  const uint32_t passes = 17;
  for (uint32_t p = 0; p < passes; p++) {
    for (uint32_t k = 0; k < n_pages; k++) {
      uint64_t vpn =
          vpns[random_order ? (uint32_t)(bc_rand(&rng) % n_pages) : k];
      uint32_t s = bc_index(cpu, kind, vpn);
      uint64_t *st = tag + (size_t)s * ways, *sa = age + (size_t)s * ways;
      uint32_t victim = 0;
      int hit = 0;
      clock++;
      for (uint32_t w = 0; w < ways; w++) {
        if (st[w] == vpn) {
          sa[w] = clock;
          hit = 1;
          break;
        }
        if (sa[w] < sa[victim])
          victim = w;
      }
      if (!hit) {
        st[victim] = vpn;
        sa[victim] = clock;
      }
      if (p > 0) {
        total++;
        hits += (uint64_t)hit;
      }
    }
  }
  free(tag);
  free(age);
  return total ? 100.0 * (double)hits / (double)total : 0;
}

BC_FN void bc_index_quality(const mmu_cpu *cpu, FILE *out) {
  uint32_t sets = cpu->tlb_set_mask + 1, ways = cpu->tlb_ways;
  uint32_t entries = sets * ways;
  uint64_t *vpns = (uint64_t *)malloc(entries * sizeof(uint64_t));
  if (!vpns)
    return;
  static const struct {
    const char *name;
    uint64_t base, step; /* page numbers; step 0 = random */
  } pat[] = {
      {"seq 4K (heap)", 0x555555559000ull >> 12, 1},
      {"seq 4K (aligned)", 0x40000000ull >> 12, 1},
      {"stride 2M", 0x7f3a1c200000ull >> 12, 512},
      {"random", 0, 0},
      {"stride 64K", 0x7f0000000000ull >> 12, 16},
      {"stride 1G", 0x7f0000000000ull >> 12, 1u << 18},
  };
  fprintf(out,
          "\nTLB set-index quality: simulated %u sets x %u ways, LRU, "
          "steady-state hit rate\n",
          sets, ways);
  fprintf(out, "%-18s %6s  %17s  %9s  %9s\n", "pattern", "pages",
          bc_idx_name[0], bc_idx_name[1], bc_idx_name[2]);
  for (size_t p = 0; p < sizeof pat / sizeof pat[0]; p++) {
    uint32_t sizes[2] = {entries / 2 ? entries / 2 : 1, entries};
    for (int z = 0; z < 2; z++) {
      uint64_t rng = 0xC0FFEE + p;
      for (uint32_t k = 0; k < sizes[z]; k++)
        vpns[k] = pat[p].step ? pat[p].base + k * pat[p].step
                              : (bc_rand(&rng) >> 29); /* 35-bit vpn */
      fprintf(out, "%-18s %6u ", pat[p].name, sizes[z]);
      for (int kind = 0; kind < BC_IDX_N; kind++)
        fprintf(out, " %*.1f%%", kind == 0 ? 16 : 8,
                bc_sim(cpu, kind, vpns, sizes[z], pat[p].step == 0));
      fprintf(out, "\n");
    }
  }
  free(vpns);
}

/* ------------------------------------------------------------------------ */
/* Running it all.                                                          */

enum {
  BC_HIT_SEQ_R,
  BC_HIT_SEQ_W,
  BC_HIT_STR_R,
  BC_HIT_STR_W,
  BC_HIT_2M_R,
  BC_MISS_4K_R,
  BC_MISS_4K_W,
  BC_MISS_2M_R,
  BC_REF_4K_R,
  BC_BASE_BARE,
  BC_BASE_QEMU_R,
  BC_BASE_QEMU_W,
  BC_BASE_CHASE4,
  BC_BASE_CHASE3,
  BC_NCASES
};

static const char *const bc_case_name[BC_NCASES] = {
    "hit/seq-read",     "hit/seq-write",      "hit/2M-stride-read",
    "hit/2M-stride-write", "hit/2M-page-read", "miss/4K-rand-read",
    "miss/4K-rand-write", "miss/2M-page-read", "walk/reference-4K",
    "base/bare-array",  "base/qemu-tlb-read", "base/qemu-tlb-write",
    "base/chase4",      "base/chase3"};

BC_FN uint64_t bc_run_case(bc_bench *b, int c, uint64_t iters,
                            uint64_t *misses) {
  *misses = 0;
  switch (c) {
  case BC_HIT_SEQ_R:
    return bc_run_lib(b, b->seq, b->hit_len, MMU_READ, iters, misses);
  case BC_HIT_SEQ_W:
    return bc_run_lib(b, b->seq, b->hit_len, MMU_WRITE, iters, misses);
  case BC_HIT_STR_R:
    return bc_run_lib(b, b->stride, b->hit_len, MMU_READ, iters, misses);
  case BC_HIT_STR_W:
    return bc_run_lib(b, b->stride, b->hit_len, MMU_WRITE, iters, misses);
  case BC_HIT_2M_R:
    return bc_run_lib(b, b->big_hit, b->hit_len, MMU_READ, iters, misses);
  case BC_MISS_4K_R:
    return bc_run_lib(b, b->miss, b->miss_len, MMU_READ, iters, misses);
  case BC_MISS_4K_W:
    return bc_run_lib(b, b->miss, b->miss_len, MMU_WRITE, iters, misses);
  case BC_MISS_2M_R:
    return bc_run_lib(b, b->big_miss, b->miss_len, MMU_READ, iters, misses);
  case BC_REF_4K_R:
    return bc_run_ref(b, b->miss, b->miss_len, MMU_READ, iters);
  case BC_BASE_BARE:
    return bc_run_bare(b, b->seq, b->hit_len, iters);
  case BC_BASE_QEMU_R:
    return bc_run_qemu(b, b->seq, b->hit_len, 0, iters);
  case BC_BASE_QEMU_W:
    return bc_run_qemu(b, b->seq, b->hit_len, 1, iters);
  case BC_BASE_CHASE4:
    return bc_run_chase(b, 4, iters);
  default:
    return bc_run_chase(b, 3, iters);
  }
}

BC_FN int bc_is_hit_case(int c) { return c <= BC_HIT_2M_R; }
BC_FN int bc_is_lib_case(int c) { return c <= BC_MISS_2M_R; }

/* Run the whole benchmark; returns 0, or 1 if any translation failed. */
BC_FN int bc_bench_main(const bc_opts *opts, FILE *out) {
  bc_opts o = *opts;
  if (!o.div)
    o.div = 1;
  if (!o.reps)
    o.reps = 7;
  if (o.reps > 99)
    o.reps = 99;
  bc_bench *b = (bc_bench *)calloc(1, sizeof *b);
  if (!b)
    return 1;
  if (bc_bench_setup(b, &o, out)) {
    bc_bench_free(b);
    free(b);
    return 1;
  }
  uint64_t hit_iters = 4000000 / o.div, miss_iters = 1000000 / o.div;
  if (hit_iters < 1000)
    hit_iters = 1000;
  if (miss_iters < 1000)
    miss_iters = 1000;
  uint64_t t_ns[BC_NCASES][99], miss_cnt[BC_NCASES][99];
  uint64_t iters_of[BC_NCASES];
  for (int c = 0; c < BC_NCASES; c++)
    iters_of[c] =
        (bc_is_hit_case(c) || c == BC_BASE_BARE || c == BC_BASE_QEMU_R ||
         c == BC_BASE_QEMU_W)
            ? hit_iters
            : miss_iters;

  fprintf(out,
          "mmu_translate benchmark: TLB %u sets x %u ways (%u entries), hit "
          "working set %llu pages, %u reps interleaved, median%s\n",
          b->cpu.tlb_set_mask + 1, b->cpu.tlb_ways, b->entries,
          (unsigned long long)b->hit_pages, o.reps,
          o.div > 1 ? " (reduced iterations)" : "");
  /* One untimed pass over everything: page tables, chase table and address
   * streams come into the caches as they will be in the timed runs. */
  for (int c = 0; c < BC_NCASES; c++) {
    uint64_t dummy;
    bc_run_case(b, c, iters_of[c], &dummy);
  }
  /* Interleaved: every repetition runs every case once. Each hit-case run is
   * preceded by an untimed warm-up pass that refills the TLB the previous
   * case evicted. */
  for (unsigned r = 0; r < o.reps; r++) {
    for (int c = 0; c < BC_NCASES; c++) {
      uint64_t dummy;
      if (bc_is_hit_case(c))
        bc_run_case(b, c, 2 * b->hit_len, &dummy);
      t_ns[c][r] = bc_run_case(b, c, iters_of[c], &miss_cnt[c][r]);
    }
  }
  double ns[BC_NCASES], hit_pct[BC_NCASES];
  for (int c = 0; c < BC_NCASES; c++) {
    uint64_t misses = 0;
    for (unsigned r = 0; r < o.reps; r++)
      misses += miss_cnt[c][r];
    hit_pct[c] = 100.0 * (1.0 - (double)misses /
                                    ((double)iters_of[c] * (double)o.reps));
    ns[c] = (double)bc_median(t_ns[c], o.reps) / (double)iters_of[c];
  }
  fprintf(out, "%-22s %8s   %-36s %8s\n", "case", "ns/op", "ratio",
          "TLB hit");
  for (int c = 0; c < BC_NCASES; c++) {
    char ratio[80] = "";
    if (bc_is_hit_case(c)) {
      int qc = (c == BC_HIT_SEQ_W || c == BC_HIT_STR_W) ? BC_BASE_QEMU_W
                                                        : BC_BASE_QEMU_R;
      snprintf(ratio, sizeof ratio, "%5.2fx bare-array  %5.2fx qemu-tlb",
               ns[c] / ns[BC_BASE_BARE], ns[c] / ns[qc]);
    } else if (c == BC_MISS_2M_R) {
      snprintf(ratio, sizeof ratio, "%5.2fx chase3      %5.2fx chase4",
               ns[c] / ns[BC_BASE_CHASE3], ns[c] / ns[BC_BASE_CHASE4]);
    } else if (c < BC_BASE_BARE) {
      snprintf(ratio, sizeof ratio, "%5.2fx chase4      %5.2fx hit/seq",
               ns[c] / ns[BC_BASE_CHASE4], ns[c] / ns[BC_HIT_SEQ_R]);
    }
    if (c == BC_BASE_BARE)
      fprintf(out, "baselines (same dependent chain; bare/qemu on the "
                   "sequential stream, chase over %zu KiB):\n",
              b->chase_slots * 8 / 1024);
    if (bc_is_lib_case(c))
      fprintf(out, "%-22s %8.2f   %-36s %7.1f%%\n", bc_case_name[c], ns[c],
              ratio, hit_pct[c]);
    else
      fprintf(out, "%-22s %8.2f   %s\n", bc_case_name[c], ns[c], ratio);
  }
  if (b->bad)
    fprintf(out, "ERROR: %llu translations did not return MMU_OK\n",
            (unsigned long long)b->bad);
  bc_index_quality(&b->cpu, out);
  int rc = b->bad ? 1 : 0;
  bc_bench_free(b);
  free(b);
  return rc;
}

#endif /* BENCH_COMMON_H_INCLUDED */
