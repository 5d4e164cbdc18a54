/* tlb.c - the hashed set-associative TLB: fill, lookup, invalidation.
 *
 * Placement: a non-global entry lives in set(page, PCID); a global entry in
 * set(page, 0) with PCID field 0, so one probe finds it whatever the current
 * PCID is when PCIDs are off, and the slow path probes set(page, 0) as a
 * second chance when they are on. Large pages are cached as 4 KiB pieces;
 * tlb_large counts them so INVLPG only scans the whole TLB when one exists. */
#include "internal.h"

static inline mmu_tlb_entry *mmu__tlb_set(mmu_cpu *cpu, uint64_t vaddr,
                                          uint32_t pcid) {
  return cpu->tlb +
         (size_t)mmu_tlb_set_index(cpu, vaddr >> 12, MMU_PCID_SALT(pcid)) *
             cpu->tlb_ways;
}

static inline uint16_t mmu__entry_pcid(const mmu_tlb_entry *e) {
  return (uint16_t)(e->tag & MMU__PAGE_MASK);
}

static void mmu__tlb_drop(mmu_cpu *cpu, mmu_tlb_entry *e) {
  if (e->tag == MMU_TLB_EMPTY)
    return;
  if (e->page_shift > 12) {
    MMU_ASSERT(cpu->tlb_large > 0);
    cpu->tlb_large--;
  }
  e->tag = MMU_TLB_EMPTY;
}

static void mmu__tlb_flush_all(mmu_cpu *cpu) {
  size_t n = (size_t)(cpu->tlb_set_mask + 1) * cpu->tlb_ways;
  for (size_t i = 0; i < n; i++)
    cpu->tlb[i].tag = MMU_TLB_EMPTY;
  cpu->tlb_large = 0;
  cpu->stats.flushes_full++;
}

/* Drop entries whose predicate holds, scanning every entry. */
#define MMU__TLB_SCAN(cpu, e, pred)                                          \
  do {                                                                       \
    size_t n_ = (size_t)((cpu)->tlb_set_mask + 1) * (cpu)->tlb_ways;         \
    for (size_t i_ = 0; i_ < n_; i_++) {                                     \
      mmu_tlb_entry *e = &(cpu)->tlb[i_];                                    \
      if (e->tag != MMU_TLB_EMPTY && (pred))                                 \
        mmu__tlb_drop((cpu), e);                                             \
    }                                                                        \
  } while (0)

/* Non-global entries of one PCID; with globals_too, global entries too. */
static void mmu__tlb_flush_pcid(mmu_cpu *cpu, uint16_t pcid, int globals_too) {
  MMU__TLB_SCAN(cpu, e,
                e->global ? globals_too : mmu__entry_pcid(e) == pcid);
  cpu->stats.flushes_pcid++;
}

static void mmu__tlb_flush_nonglobal(mmu_cpu *cpu) {
  MMU__TLB_SCAN(cpu, e, !e->global);
  cpu->stats.flushes_pcid++;
}

/* Entries for the page containing vaddr: non-global ones of pcid, and
 * global ones when globals_too. A large page matches by its own size. */
static void mmu__tlb_flush_page(mmu_cpu *cpu, uint64_t vaddr, uint16_t pcid,
                                int globals_too) {
#define MMU__PAGE_HIT(e)                                                     \
  ((((e)->tag ^ vaddr) >> (e)->page_shift) == 0 &&                           \
   ((e)->global ? globals_too : mmu__entry_pcid(e) == pcid))
  if (cpu->tlb_large) {
    MMU__TLB_SCAN(cpu, e, MMU__PAGE_HIT(e));
    return;
  }
  mmu_tlb_entry *sets[2] = {mmu__tlb_set(cpu, vaddr, pcid),
                            mmu__tlb_set(cpu, vaddr, 0)};
  for (int s = 0; s < (sets[0] == sets[1] ? 1 : 2); s++)
    for (uint32_t w = 0; w < cpu->tlb_ways; w++) {
      mmu_tlb_entry *e = &sets[s][w];
      if (e->tag != MMU_TLB_EMPTY && MMU__PAGE_HIT(e))
        mmu__tlb_drop(cpu, e);
    }
#undef MMU__PAGE_HIT
}

/* The entry translating vaddr in the current context, or NULL. */
static mmu_tlb_entry *mmu__tlb_lookup(mmu_cpu *cpu, uint64_t vaddr) {
  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  mmu_tlb_entry *e = mmu__tlb_set(cpu, vaddr, cpu->pcid);
  for (uint32_t w = 0; w < cpu->tlb_ways; w++)
    if (e[w].tag == (page | cpu->pcid))
      return &e[w];
  if (cpu->pcid == 0)
    return NULL;
  e = mmu__tlb_set(cpu, vaddr, 0);
  for (uint32_t w = 0; w < cpu->tlb_ways; w++)
    if (e[w].tag == page && e[w].global)
      return &e[w];
  return NULL;
}

static mmu_tlb_entry *mmu__tlb_insert(mmu_cpu *cpu, uint64_t vaddr,
                                      const mmu__walk_state *w, int dirty,
                                      int global) {
  uint16_t pcid = global ? 0 : cpu->pcid;
  uint64_t tag = (vaddr & ~MMU__PAGE_MASK) | pcid;
  mmu_tlb_entry *set = mmu__tlb_set(cpu, vaddr, pcid);
  mmu_tlb_entry *e = NULL;
  for (uint32_t i = 0; i < cpu->tlb_ways && !e; i++)
    if (set[i].tag == tag)
      e = &set[i];
  for (uint32_t i = 0; i < cpu->tlb_ways && !e; i++)
    if (set[i].tag == MMU_TLB_EMPTY)
      e = &set[i];
  if (!e) { /* round-robin within the set */
    e = &set[set[0].victim & (cpu->tlb_ways - 1)];
    set[0].victim = (uint8_t)(set[0].victim + 1);
  }
  mmu__tlb_drop(cpu, e);
  MMU_ASSERT(w->page_shift == 12 || w->page_shift == 21 || w->page_shift == 30);

  uint64_t piece = w->paddr & ~MMU__PAGE_MASK;
  e->tag = tag;
  e->paddr = piece;
  e->host = mmu__host_page(cpu, piece);
  e->rights = (uint8_t)(w->rights | (dirty ? MMU_RIGHT_D : 0));
  e->pkey = (w->rights & MMU_RIGHT_U)
                ? (uint8_t)((w->entry[w->leaf_level - 1] >> MMU_PTE_PKEY_SHIFT) & 15)
                : (uint8_t)MMU_PKEY_NONE;
  e->page_shift = (uint8_t)w->page_shift;
  e->global = (uint8_t)(global != 0);
  if (e->page_shift > 12)
    cpu->tlb_large++;
  return e;
}

/* ---- public ------------------------------------------------------------ */

MMU_API void mmu_flush_tlb(mmu_cpu *cpu) { mmu__tlb_flush_all(cpu); }

/* SDM 4.10.4.1: INVLPG drops the page's entries for the current PCID and its
 * global entries. A non-canonical operand is a no-op. */
MMU_API void mmu_invlpg(mmu_cpu *cpu, uint64_t vaddr) {
  cpu->stats.invlpg++;
  if (mmu__is_canonical(cpu, vaddr))
    mmu__tlb_flush_page(cpu, vaddr, cpu->pcid, 1);
}

/* SDM 4.10.4.1 and the INVPCID instruction page. */
MMU_API int mmu_invpcid(mmu_cpu *cpu, unsigned type, uint64_t pcid,
                        uint64_t vaddr) {
  if (type > 3 || pcid > 0xFFF)
    return MMU_GP_FAULT;
  if (type <= 1 && !(cpu->regs.cr4 & MMU_CR4_PCIDE) && pcid != 0)
    return MMU_GP_FAULT;
  if (type == 0 && !mmu__is_canonical(cpu, vaddr))
    return MMU_GP_FAULT;
  cpu->stats.invpcid++;
  switch (type) {
  case 0:
    mmu__tlb_flush_page(cpu, vaddr, (uint16_t)pcid, 0);
    break;
  case 1:
    mmu__tlb_flush_pcid(cpu, (uint16_t)pcid, 0);
    break;
  case 2:
    mmu__tlb_flush_all(cpu);
    break;
  default:
    mmu__tlb_flush_nonglobal(cpu);
    break;
  }
  return MMU_OK;
}

MMU_API uint32_t mmu_tlb_count(const mmu_cpu *cpu) {
  uint32_t count = 0;
  size_t n = (size_t)(cpu->tlb_set_mask + 1) * cpu->tlb_ways;
  for (size_t i = 0; i < n; i++)
    count += cpu->tlb[i].tag != MMU_TLB_EMPTY;
  return count;
}
