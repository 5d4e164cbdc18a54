/* internal.h - definitions shared by the implementation files in mmu/.
 * Everything here is static: the library is one translation unit. */
#ifndef MMU_INTERNAL_H_INCLUDED
#define MMU_INTERNAL_H_INCLUDED

#include "../include/mmu.h"

#include <string.h>

#ifndef MMU_ASSERT
#include <assert.h>
#define MMU_ASSERT(x) assert(x)
#endif

/* The hit path finds a set by shifting: entries must be a power of two. */
#ifdef __cplusplus
static_assert((sizeof(mmu_tlb_entry) & (sizeof(mmu_tlb_entry) - 1)) == 0,
              "mmu_tlb_entry size must be a power of two");
#else
_Static_assert((sizeof(mmu_tlb_entry) & (sizeof(mmu_tlb_entry) - 1)) == 0,
               "mmu_tlb_entry size must be a power of two");
#endif

#define MMU__MAGIC 0x4D4D5531u /* "MMU1" */
#define MMU__PAGE_MASK 0xFFFull

/* Upper bound on walk restarts after a lost A/D compare-exchange. */
#define MMU__MAX_WALK_RETRIES 64

/* bits hi..lo set */
#define MMU__BITS(hi, lo) ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

/* A walk's findings, before permissions are decided. */
typedef struct mmu__walk_state {
  uint64_t entry_gpa[5]; /* [i] = entry used at level i+1 */
  uint64_t entry[5];
  int top;               /* 5 or 4 */
  int leaf_level;        /* level of the entry that maps the page */
  uint8_t rights;        /* MMU_RIGHT_W|U|X combined over levels (no D) */
  uint64_t paddr;        /* translated address */
  uint32_t page_shift;
} mmu__walk_state;

/* memory.c */
static inline mmu_ram_region const *mmu__ram_find(mmu_cpu *cpu, uint64_t gpa,
                                                  uint64_t len);
static inline int mmu__pt_read(mmu_cpu *cpu, uint64_t gpa, uint64_t *value);
static int mmu__pt_cmpxchg(mmu_cpu *cpu, uint64_t gpa, uint64_t expected,
                           uint64_t desired);
static uint8_t *mmu__host_page(mmu_cpu *cpu, uint64_t gpa);

/* perm.c */
static void mmu__update_tables(mmu_cpu *cpu);
static uint32_t mmu__pfec_base(const mmu_cpu *cpu, unsigned access);
static int mmu__paging_mode(const mmu_regs *r); /* 0 off, 4, 5, -1 other */

/* tlb.c */
static void mmu__tlb_flush_all(mmu_cpu *cpu);
static void mmu__tlb_flush_pcid(mmu_cpu *cpu, uint16_t pcid, int globals_too);
static void mmu__tlb_flush_nonglobal(mmu_cpu *cpu);
static void mmu__tlb_flush_page(mmu_cpu *cpu, uint64_t vaddr, uint16_t pcid,
                                int globals_too);
static mmu_tlb_entry *mmu__tlb_insert(mmu_cpu *cpu, uint64_t vaddr,
                                      const mmu__walk_state *w, int dirty,
                                      int global);
static void mmu__tlb_drop(mmu_cpu *cpu, mmu_tlb_entry *e);
static mmu_tlb_entry *mmu__tlb_lookup(mmu_cpu *cpu, uint64_t vaddr);

static inline int mmu__is_canonical(const mmu_cpu *cpu, uint64_t va) {
  return (uint64_t)(((int64_t)va >> cpu->canon_shift) + 1) <= 1;
}

#endif
