/* SPDX-License-Identifier: MIT */
/* memory.c - guest physical memory: the only way the library touches RAM.
 * Every paging-entry read and A/D write is bounds-checked against the
 * regions the embedder declared; nothing else is ever dereferenced. */
#include "internal.h"

/* Region holding [gpa, gpa+len), or NULL. Regions never wrap (checked at
 * init), and gpa - r->gpa wraps to a huge value when gpa < r->gpa, so one
 * unsigned comparison tests both bounds. */
static inline int mmu__ram_holds(const mmu_ram_region *r, uint64_t gpa,
                                 uint64_t len) {
  return gpa - r->gpa < r->size && r->size - (gpa - r->gpa) >= len;
}

/* The region walks read from is kept decoded in the cpu (gpa, size - 8,
 * host) so a paging-entry read costs one subtraction and one compare. With
 * no regions, gpa 1 and limit 0 match no 8-aligned entry address. */
static void mmu__ram_make_hot(mmu_cpu *cpu, const mmu_ram_region *r) {
  if (r) {
    cpu->ram_hot_gpa = r->gpa;
    cpu->ram_hot_limit = r->size - 8;
    cpu->ram_hot_host = (uint8_t *)r->host;
  } else {
    cpu->ram_hot_gpa = 1;
    cpu->ram_hot_limit = 0;
    cpu->ram_hot_host = NULL;
  }
}

/* Region holding [gpa, gpa+len), or NULL. */
static mmu_ram_region const *mmu__ram_find(mmu_cpu *cpu, uint64_t gpa,
                                           uint64_t len) {
  for (uint32_t i = 0; i < cpu->ram_count; i++)
    if (mmu__ram_holds(&cpu->ram[i], gpa, len))
      return &cpu->ram[i];
  return NULL;
}

static uint8_t *mmu__host_page(mmu_cpu *cpu, uint64_t gpa) {
  uint64_t off = gpa - cpu->ram_hot_gpa;
  if (MMU_LIKELY(off <= cpu->ram_hot_limit && cpu->ram_hot_limit - off >= 4088))
    return cpu->ram_hot_host + off;
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 4096);
  return r ? (uint8_t *)r->host + (gpa - r->gpa) : NULL;
}

static MMU_NOINLINE int mmu__pt_read_cold(mmu_cpu *cpu, uint64_t gpa,
                                          uint64_t *value) {
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 8);
  if (r) {
    mmu__ram_make_hot(cpu, r);
    uint64_t *p = (uint64_t *)(void *)((uint8_t *)r->host + (gpa - r->gpa));
    *value = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    return 0;
  }
  if (cpu->pt_read && cpu->pt_read(cpu->pt_user, gpa, value) == 0)
    return 0;
  return -1;
}

/* Entries are naturally aligned (gpa is a table base plus 8 * index) and
 * regions are 8-aligned on both sides, so host accesses are aligned. */
static inline int mmu__pt_read(mmu_cpu *cpu, uint64_t gpa, uint64_t *value) {
  uint64_t off = gpa - cpu->ram_hot_gpa;
  if (MMU_LIKELY(off <= cpu->ram_hot_limit)) {
    *value = __atomic_load_n((uint64_t *)(void *)(cpu->ram_hot_host + off),
                             __ATOMIC_ACQUIRE);
    return 0;
  }
  return mmu__pt_read_cold(cpu, gpa, value);
}

/* A 4-byte entry of 32-bit paging, zero-extended: read as the aligned 8
 * bytes holding it (what pt_read callbacks are asked for too). */
static inline int mmu__pt_read32(mmu_cpu *cpu, uint64_t gpa, uint64_t *value) {
  uint64_t both;
  if (mmu__pt_read(cpu, gpa & ~7ull, &both) != 0)
    return -1;
  *value = (uint32_t)(both >> ((gpa & 4) * 8));
  return 0;
}

static int mmu__pt_cmpxchg(mmu_cpu *cpu, uint64_t gpa, uint64_t expected,
                           uint64_t desired);

/* A 4-byte entry's compare-exchange, done on the aligned 8 bytes holding
 * it with the other half as read: a change there only costs a retry here,
 * never this entry's race (0 stored, 1 lost, -1 bus error). A failure
 * with no change to see is this entry's race too: the walk starts over,
 * so a callback that keeps refusing costs 64 tries in all, not 64 here
 * for each of the walk's 64. */
static int mmu__pt_cmpxchg32(mmu_cpu *cpu, uint64_t gpa, uint32_t expected,
                             uint32_t desired) {
  unsigned shift = (unsigned)(gpa & 4) * 8;
  uint64_t seen = 0;
  for (int tries = 0; tries < MMU__MAX_WALK_RETRIES; tries++) {
    uint64_t both;
    if (mmu__pt_read(cpu, gpa & ~7ull, &both) != 0)
      return -1;
    if ((uint32_t)(both >> shift) != expected || (tries && both == seen))
      return 1;
    seen = both;
    uint64_t want = (both & ~(0xFFFFFFFFull << shift)) |
                    (uint64_t)desired << shift;
    int rc = mmu__pt_cmpxchg(cpu, gpa & ~7ull, both, want);
    if (rc != 1)
      return rc;
  }
  return 1;
}

/* 0 stored, 1 lost the race, -1 bus error. */
static int mmu__pt_cmpxchg(mmu_cpu *cpu, uint64_t gpa, uint64_t expected,
                           uint64_t desired) {
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 8);
  if (r) {
    uint64_t *p = (uint64_t *)(void *)((uint8_t *)r->host + (gpa - r->gpa));
    return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
               ? 0
               : 1;
  }
  if (cpu->pt_cmpxchg) {
    int rc = cpu->pt_cmpxchg(cpu->pt_user, gpa, expected, desired);
    return rc == 0 ? 0 : rc == 1 ? 1 : -1;
  }
  return -1;
}
