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

static mmu_ram_region const *mmu__ram_search(mmu_cpu *cpu, uint64_t gpa,
                                             uint64_t len) {
  for (uint32_t i = 0; i < cpu->ram_count; i++)
    if (mmu__ram_holds(&cpu->ram[i], gpa, len)) {
      cpu->ram_last = i;
      return &cpu->ram[i];
    }
  return NULL;
}

/* Walks touch the same region level after level: try the last one first. */
static inline mmu_ram_region const *mmu__ram_find(mmu_cpu *cpu, uint64_t gpa,
                                                  uint64_t len) {
  if (cpu->ram_last < cpu->ram_count &&
      mmu__ram_holds(&cpu->ram[cpu->ram_last], gpa, len))
    return &cpu->ram[cpu->ram_last];
  return mmu__ram_search(cpu, gpa, len);
}

static uint8_t *mmu__host_page(mmu_cpu *cpu, uint64_t gpa) {
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 4096);
  return r ? (uint8_t *)r->host + (gpa - r->gpa) : NULL;
}

/* Entries are naturally aligned (gpa is a table base plus 8 * index) and
 * regions are 8-aligned on both sides, so host accesses are aligned. */
static inline int mmu__pt_read(mmu_cpu *cpu, uint64_t gpa, uint64_t *value) {
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 8);
  if (r) {
    uint64_t *p = (uint64_t *)(void *)((uint8_t *)r->host + (gpa - r->gpa));
    *value = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    return 0;
  }
  if (cpu->pt_read && cpu->pt_read(cpu->pt_user, gpa, value) == 0)
    return 0;
  return -1;
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
