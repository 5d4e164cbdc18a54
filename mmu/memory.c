/* memory.c - guest physical memory: the only way the library touches RAM.
 * Every paging-entry read and A/D write is bounds-checked against the
 * regions the embedder declared; nothing else is ever dereferenced. */
#include "internal.h"

/* Region holding [gpa, gpa+len), or NULL. Regions never wrap (checked at
 * init), so the comparisons below cannot overflow. */
static mmu_ram_region const *mmu__ram_find(mmu_cpu *cpu, uint64_t gpa,
                                           uint64_t len) {
  uint32_t n = cpu->ram_count;
  if (n == 0)
    return NULL;
  uint32_t i = cpu->ram_last < n ? cpu->ram_last : 0;
  for (uint32_t k = 0; k < n; k++, i = (i + 1 == n) ? 0 : i + 1) {
    const mmu_ram_region *r = &cpu->ram[i];
    if (gpa >= r->gpa && gpa - r->gpa < r->size && r->size - (gpa - r->gpa) >= len) {
      cpu->ram_last = i;
      return r;
    }
  }
  return NULL;
}

static uint8_t *mmu__host_page(mmu_cpu *cpu, uint64_t gpa) {
  const mmu_ram_region *r = mmu__ram_find(cpu, gpa, 4096);
  return r ? (uint8_t *)r->host + (gpa - r->gpa) : NULL;
}

/* Entries are naturally aligned (gpa is a table base plus 8 * index) and
 * regions are 8-aligned on both sides, so host accesses are aligned. */
static int mmu__pt_read(mmu_cpu *cpu, uint64_t gpa, uint64_t *value) {
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
