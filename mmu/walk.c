/* SPDX-License-Identifier: MIT */
/* walk.c - the TLB-miss path: one walker for every paging mode (off,
 * 32-bit, PAE, 4- and 5-level) and all page sizes, permissions from
 * perm.c's tables, A/D by compare-exchange. */
#include "internal.h"

static int mmu__page_fault(mmu_cpu *cpu, uint64_t vaddr, uint32_t pfec,
                           mmu_result *out) {
  if (!(pfec & MMU_PFEC_P))
    cpu->stats.faults_not_present++;
  else if (pfec & MMU_PFEC_RSVD)
    cpu->stats.faults_reserved++;
  else if (pfec & MMU_PFEC_PK)
    cpu->stats.faults_pkey++;
  else
    cpu->stats.faults_protection++;
  out->error_code = pfec;
  out->cr2 = vaddr;
  return MMU_PAGE_FAULT;
}

/* Where the entry used at level L sits (its address is not kept: the walk
 * stores one value per level, and only A/D updates need it). */
static uint64_t mmu__entry_gpa(const mmu_cpu *cpu, const mmu__walk_state *w,
                               int level) {
  if (w->narrow) { /* 32-bit paging: 4-byte entries, 10-bit indices */
    uint64_t table =
        level == w->top ? w->root : (w->entry[level] & MMU__BITS(31, 12));
    return table + ((w->vaddr >> (12 + 10 * (level - 1))) & 1023) * 4;
  }
  uint64_t table =
      level == w->top ? w->root : (w->entry[level] & cpu->addr_mask);
  return table + ((w->vaddr >> (12 + 9 * (level - 1))) & 511) * 8;
}

static int mmu__entry_cmpxchg(mmu_cpu *cpu, const mmu__walk_state *w,
                              int level, uint64_t old, uint64_t want) {
  uint64_t gpa = MMU_UNLIKELY(cpu->nested.kind != MMU_NESTED_OFF)
                     ? w->entry_at[level - 1] /* read through nested paging */
                     : mmu__entry_gpa(cpu, w, level);
  return w->narrow ? mmu__pt_cmpxchg32(cpu, gpa, (uint32_t)old, (uint32_t)want)
                   : mmu__pt_cmpxchg(cpu, gpa, old, want);
}

/* MMU_CFG_AD_ON_FAULT_UPPER: set A in the entries above fault_level. */
static void mmu__accessed_above(mmu_cpu *cpu, const mmu__walk_state *w,
                                int fault_level) {
  for (int level = w->top; level > fault_level; level--) {
    uint64_t old = w->entry[level - 1];
    if (!(old & MMU_PTE_A))
      (void)mmu__entry_cmpxchg(cpu, w, level, old, old | MMU_PTE_A);
  }
}

/* The A/D updates a successful walk needs (SDM 4.8): A in every entry
 * used, D in the leaf on a write. 0, or a bus error / lost race. */
static int mmu__set_accessed_dirty(mmu_cpu *cpu, mmu__walk_state *w, int write,
                                   mmu_result *out) {
  for (int l = w->top; l >= w->leaf_level; l--) {
    uint64_t old = w->entry[l - 1];
    uint64_t want =
        old | MMU_PTE_A | (l == w->leaf_level && write ? MMU_PTE_D : 0);
    if (want == old)
      continue;
    int rc = mmu__entry_cmpxchg(cpu, w, l, old, want);
    if (rc < 0) {
      cpu->stats.bus_errors++;
      out->paddr = cpu->nested.kind != MMU_NESTED_OFF ? w->entry_at[l - 1]
                                                      : mmu__entry_gpa(cpu, w, l);
      return MMU_ERR_PT_BUS;
    }
    if (rc > 0)
      return 1;
    w->entry[l - 1] = want;
  }
  return 0;
}

/* One level of the walk, unrolled (L is a constant): read the entry from
 * the hot RAM region (or the cold path), record it, stop on not-present and
 * reserved bits, fold the rights, and end at a leaf. */
#define MMU__WALK_LEVEL(L)                                                   \
  level = (L);                                                               \
  gpa = table + ((vaddr >> (12 + 9 * ((L)-1))) & 511) * 8;                   \
  if (MMU_LIKELY(gpa - hot_gpa <= hot_limit)) {                              \
    pte = __atomic_load_n((uint64_t *)(void *)(hot + (gpa - hot_gpa)),       \
                          __ATOMIC_ACQUIRE);                                 \
  } else {                                                                   \
    if (mmu__pt_read_cold(cpu, gpa, &pte) != 0)                              \
      goto bus_error;                                                        \
    hot_gpa = cpu->ram_hot_gpa;                                              \
    hot_limit = cpu->ram_hot_limit;                                          \
    hot = cpu->ram_hot_host;                                                 \
  }                                                                          \
  w->entry[(L)-1] = pte;                                                     \
  if (MMU_UNLIKELY(!(pte & MMU_PTE_P)))                                      \
    goto not_present;                                                        \
  if (MMU_UNLIKELY(pte & cpu->rsvd[L][0]))                                   \
    goto reserved;                                                           \
  all_and &= pte;                                                            \
  all_or |= pte;                                                             \
  if (((L) == 2 || (L) == 3) && (pte & MMU_PTE_PS)) {                        \
    if (MMU_UNLIKELY(pte & cpu->rsvd[L][1]))                                 \
      goto reserved;                                                         \
    goto leaf;                                                               \
  }                                                                          \
  table = pte & amask;

/* A walk's outcome when it must start over (an A/D race lost); and a
 * nested walk's translation, in out, that the TLB must not keep. */
#define MMU__WALK_RETRY 0x7FFF
#define MMU__WALK_UNCACHED 0x7FFE

/* A walk that ends in a fault at `level`. */
static int mmu__walk_fault(mmu_cpu *cpu, mmu__walk_state *w, int level,
                           uint32_t pfec, mmu_result *out) {
  w->leaf_level = level;
  if (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER)
    mmu__accessed_above(cpu, w, level);
  return mmu__page_fault(cpu, w->vaddr, pfec, out);
}

/* A walk that stopped before a leaf: the entry at gpa outside RAM
 * (MMU_ERR_PT_BUS), not present (0) or with a reserved bit set
 * (MMU_PFEC_RSVD). */
static int mmu__walk_stop(mmu_cpu *cpu, mmu__walk_state *w, unsigned access,
                          int level, int why, uint64_t gpa, mmu_result *out) {
  if (why == MMU_ERR_PT_BUS) {
    cpu->stats.bus_errors++;
    out->paddr = gpa;
    return MMU_ERR_PT_BUS;
  }
  uint32_t pfec = mmu__pfec_base(cpu, access);
  if (why == MMU_PFEC_RSVD)
    pfec |= MMU_PFEC_P | MMU_PFEC_RSVD;
  return mmu__walk_fault(cpu, w, level, pfec, out);
}

/* The end of every walk that reached a leaf (its entry pte at `level`,
 * the entries' bits ANDed and ORed over the levels): decide the access
 * from perm.c's tables, set A/D where missing, find the address. MMU_OK
 * with w filled, a fault or error with out filled, or MMU__WALK_RETRY. */
static MMU_ALWAYS_INLINE int mmu__walk_leaf(mmu_cpu *cpu, mmu__walk_state *w,
                                            unsigned access, int level,
                                            uint64_t pte, uint64_t all_and,
                                            uint64_t all_or,
                                            mmu_result *out) {
  unsigned idx = (access & 7u) | cpu->mode;
  w->leaf_level = level;
  w->page_shift = level == 1   ? 12
                  : w->narrow ? 22
                              : 12 + 9 * (uint32_t)(level - 1);
  /* XD set anywhere is only reachable with NXE (else reserved) */
  unsigned rights = ((all_and & MMU_PTE_W) ? MMU_RIGHT_W : 0) |
                    ((all_and & MMU_PTE_U) ? MMU_RIGHT_U : 0) |
                    ((all_or & MMU_PTE_XD) ? 0 : MMU_RIGHT_X);
  int pk = (rights & MMU_RIGHT_U) &&
           ((cpu->pk_deny[idx] >> ((pte >> MMU_PTE_PKEY_SHIFT) & 15)) & 1);
  if (MMU_UNLIKELY(((cpu->fault[idx] >> rights) & 1) || pk))
    /* PK is reported with a rights violation too (SDM 4.7) */
    return mmu__walk_fault(cpu, w, level,
                           mmu__pfec_base(cpu, access) | MMU_PFEC_P |
                               (pk ? (uint32_t)MMU_PFEC_PK : 0),
                           out);
  /* no compare-exchange when A (and D for a write) are already set */
  if (MMU_UNLIKELY(!(all_and & MMU_PTE_A) ||
                   ((idx & 3u) == MMU_WRITE && !(pte & MMU_PTE_D)))) {
    int rc = mmu__set_accessed_dirty(cpu, w, (idx & 3u) == MMU_WRITE, out);
    if (rc < 0)
      return rc;
    if (rc > 0) {
      cpu->stats.walk_retries++;
      return MMU__WALK_RETRY;
    }
    pte = w->entry[level - 1];
  }
  w->rights = (uint8_t)(rights | ((pte & MMU_PTE_D) ? MMU_RIGHT_D : 0));
  uint64_t size_mask = ((uint64_t)1 << w->page_shift) - 1;
  uint64_t frame = pte & cpu->addr_mask & ~size_mask;
  if (MMU_UNLIKELY(w->page_shift == 22)) /* PSE-36: bits 39:32 in 20:13 */
    frame = (pte & MMU__BITS(31, 22)) | (pte & MMU__BITS(20, 13)) << 19;
  w->paddr = frame | (w->vaddr & size_mask);
  return MMU_OK;
}

static int mmu__walk_legacy(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                            mmu__walk_state *w, mmu_result *out);
static int mmu__walk_2d(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                        mmu__walk_state *w, mmu_result *out);

/* Walk and decide. Returns MMU_OK with w filled (A/D already set, rights
 * with MMU_RIGHT_D from the leaf), or a fault/error with out filled. The
 * error code is only put together on a fault; A/D are written only when
 * one is missing. IA-32e paging here; the older modes below. */
static int mmu__walk(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                     mmu__walk_state *w, mmu_result *out) {
  if (MMU_UNLIKELY(cpu->paging < MMU__PAGING_4))
    return mmu__walk_legacy(cpu, vaddr, access, w, out);
  const uint64_t amask = cpu->addr_mask;
  uint64_t hot_gpa = cpu->ram_hot_gpa, hot_limit = cpu->ram_hot_limit;
  uint8_t *hot = cpu->ram_hot_host;
  uint64_t table, gpa, pte, all_and, all_or;
  int level, rc;

  cpu->stats.walks++;
  w->top = cpu->paging;
  w->narrow = 0;
  w->vaddr = vaddr;
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    table = w->root = cpu->regs.cr3 & amask;
    all_and = ~0ull;
    all_or = 0;
    if (w->top == 5) {
      MMU__WALK_LEVEL(5)
    }
    MMU__WALK_LEVEL(4)
    MMU__WALK_LEVEL(3)
    MMU__WALK_LEVEL(2)
    MMU__WALK_LEVEL(1)
  leaf:
    rc = mmu__walk_leaf(cpu, w, access, level, pte, all_and, all_or, out);
    if (rc != MMU__WALK_RETRY)
      return rc;
  }
  return MMU_ERR_CONTENDED;

bus_error:
  return mmu__walk_stop(cpu, w, access, level, MMU_ERR_PT_BUS, gpa, out);
not_present:
  return mmu__walk_stop(cpu, w, access, level, 0, gpa, out);
reserved:
  return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
}

/* Paging off: linear is physical; cached like a page every access may use
 * (the tables allow everything while CR0.PG = 0), so the hit is the same. */
static int mmu__walk_paging_off(mmu__walk_state *w, uint64_t vaddr) {
  w->top = w->leaf_level = 1;
  w->entry[0] = 0;
  w->page_shift = 12;
  w->rights = MMU_RIGHT_W | MMU_RIGHT_U | MMU_RIGHT_X | MMU_RIGHT_D;
  w->paddr = vaddr;
  return MMU_OK;
}

/* Paging off, 32-bit paging (SDM 4.3) and PAE paging (SDM 4.4): the modes
 * before IA-32e, kept off the long-mode walker's registers. */
static MMU_NOINLINE int mmu__walk_legacy(mmu_cpu *cpu, uint64_t vaddr,
                                         unsigned access, mmu__walk_state *w,
                                         mmu_result *out) {
  const uint64_t amask = cpu->addr_mask;
  uint64_t hot_gpa = cpu->ram_hot_gpa, hot_limit = cpu->ram_hot_limit;
  uint8_t *hot = cpu->ram_hot_host;
  uint64_t table, gpa, pte, all_and, all_or;
  int level, rc;

  w->vaddr = vaddr;
  w->narrow = cpu->paging == MMU__PAGING_32;
  w->top = 2; /* the top level in memory: the PDE's */
  if (cpu->paging == MMU__PAGING_OFF)
    return mmu__walk_paging_off(w, vaddr);
  cpu->stats.walks++;
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    all_and = ~0ull;
    all_or = 0;
    if (w->narrow)
      goto narrow;
    /* PAE: the PDPTE register (SDM 4.4.1): no memory read, no rights, no
     * A flag; then two levels as IA-32e paging's last two */
    level = 3;
    pte = cpu->regs.pdpte[(vaddr >> 30) & 3];
    w->entry[2] = pte;
    if (!(pte & MMU_PTE_P))
      goto not_present;
    table = w->root = pte & amask;
    MMU__WALK_LEVEL(2)
    MMU__WALK_LEVEL(1)
    goto leaf;
  narrow: /* 32-bit paging: a PDE, then a PTE or a 4 MiB page */
    table = w->root = cpu->regs.cr3 & MMU__BITS(31, 12);
    for (level = 2;; level = 1) {
      gpa = table + ((vaddr >> (12 + 10 * (level - 1))) & 1023) * 4;
      if (mmu__pt_read32(cpu, gpa, &pte) != 0)
        goto bus_error;
      w->entry[level - 1] = pte;
      if (!(pte & MMU_PTE_P))
        goto not_present;
      all_and &= pte;
      all_or |= pte;
      if (level == 1)
        break;
      if ((pte & MMU_PTE_PS) && (cpu->regs.cr4 & MMU_CR4_PSE)) {
        if (pte & cpu->rsvd[2][1])
          goto reserved;
        break;
      }
      table = pte & MMU__BITS(31, 12);
    }
  leaf:
    rc = mmu__walk_leaf(cpu, w, access, level, pte, all_and, all_or, out);
    if (rc != MMU__WALK_RETRY)
      return rc;
  }
  return MMU_ERR_CONTENDED;

bus_error:
  return mmu__walk_stop(cpu, w, access, level, MMU_ERR_PT_BUS, gpa, out);
not_present:
  return mmu__walk_stop(cpu, w, access, level, 0, gpa, out);
reserved:
  return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
}
#undef MMU__WALK_LEVEL

/* A non-canonical address in IA-32e mode: #GP (SDM 4.5.1). */
static MMU_NOINLINE int mmu__translate_noncanonical(mmu_cpu *cpu,
                                                   mmu_result *out) {
  cpu->stats.faults_gp++;
  out->error_code = 0;
  return MMU_GP_FAULT;
}

static inline void mmu__result_from_entry(const mmu_tlb_entry *e,
                                          uint64_t vaddr, mmu_result *out) {
  out->paddr = e->paddr | (vaddr & MMU__PAGE_MASK);
  out->host = e->host ? e->host + (vaddr & MMU__PAGE_MASK) : NULL;
  out->page_size = 1ull << e->page_shift;
}

/* A backing miss, or an entry that does not allow this access as cached
 * (denied, or clean for a write): walk, then fill the set's oldest way
 * and the front. */
static MMU_NOINLINE int mmu__translate_walk(mmu_cpu *cpu, uint64_t vaddr,
                                            unsigned access, uint32_t set,
                                            mmu_result *out) {
  cpu->stats.tlb_misses[access & 3u]++;
  mmu__walk_state w;
  int rc = MMU_UNLIKELY(cpu->nested.kind != MMU_NESTED_OFF)
               ? mmu__walk_2d(cpu, vaddr, access, &w, out)
               : mmu__walk(cpu, vaddr, access, &w, out);
  if (MMU_UNLIKELY(rc != MMU_OK)) {
    /* a fault drops the address's entries (SDM 4.10.4.1), and the front
     * may hold the page for other kinds or views with no backing entry */
    mmu__tlb_drop_faulting(cpu, vaddr);
    return rc == MMU__WALK_UNCACHED ? MMU_OK : rc;
  }
  /* The walk's translation replaces the page's: copies other views'
   * fronts hold of an older one go (one translation per page, SPEC 5.4);
   * this view's slot is refilled below. */
  unsigned v = mmu__view_of(cpu, access);
  if (MMU_UNLIKELY(cpu->front_used & ~(1u << v)))
    mmu__front_clear_page(cpu, vaddr);
  uint64_t leaf = w.entry[w.leaf_level - 1];
  int global = (leaf & MMU_PTE_G) && (cpu->regs.cr4 & MMU_CR4_PGE);
  mmu_tlb_entry *e = mmu__tlb_fill(cpu, vaddr, set, &w, global);
  mmu__result_from_entry(e, vaddr, out);
  mmu__front_fill(cpu, vaddr, v, mmu__kinds(cpu, v, e), e);
  return MMU_OK;
}

/* A front miss: one probe of the backing TLB; on a hit the front is filled
 * from it, on a miss one walk and one fill of both levels. */
MMU_API int mmu_translate_slow(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                               mmu_result *out) {
  /* what the inline hit trusts, checked where every miss goes */
  if (MMU_UNLIKELY(!out || !MMU__ACCESS_OK(access)))
    return MMU_ERR_ARG;
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu_cpu_sync(cpu); /* a miss is an interrupt window too */
  if (MMU_UNLIKELY(cpu->paging < MMU__PAGING_4))
    vaddr = (uint32_t)vaddr; /* 32-bit linear addresses (SDM 3.3.6) */
  else if (MMU_UNLIKELY(!mmu__is_canonical(cpu, vaddr)))
    return mmu__translate_noncanonical(cpu, out);
  cpu->stats.tlb_loads[access & 3u]++;

  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  uint32_t set = mmu__tlb_set(cpu, vaddr, cpu->pcid);
  mmu_tlb_entry *e = cpu->tlb + ((size_t)set << cpu->tlb_ways_log2);
  uint64_t key = page | cpu->pcid;
  mmu_tlb_entry *end = e + cpu->tlb_ways;
  while (e->tag != key)
    if (++e == end) {
      if (cpu->pcid == 0 || !(e = mmu__tlb_find_global(cpu, vaddr)))
        return mmu__translate_walk(cpu, vaddr, access, set, out);
      break;
    }
  unsigned v = mmu__view_of(cpu, access);
  unsigned kinds = mmu__kinds(cpu, v, e);
  if (MMU_UNLIKELY(!((kinds >> (access & 3u)) & 1))) {
    /* Denied or clean for a write: re-walk. A fault through this address
     * drops its entries anyway (SDM 4.10.4.1). */
    mmu__tlb_drop(cpu, e);
    return mmu__translate_walk(cpu, vaddr, access, set, out);
  }
  mmu__tlb_touch(cpu, e);
  mmu__result_from_entry(e, vaddr, out);
  mmu__front_fill(cpu, vaddr, v, kinds, e);
  return MMU_OK;
}

MMU_API int mmu_translate_span(mmu_cpu *cpu, uint64_t vaddr, uint32_t len,
                               unsigned access, mmu_result out[2]) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (len == 0 || len > 4096 || out == NULL || !MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  int rc = mmu_translate(cpu, vaddr, access, &out[0]);
  if (rc != MMU_OK)
    return rc;
  uint64_t last = vaddr + (len - 1); /* wraps at 2^64 as linear addresses do */
  if (((last ^ vaddr) & ~MMU__PAGE_MASK) == 0) {
    out[1] = out[0];
    return MMU_OK;
  }
  return mmu_translate(cpu, last & ~MMU__PAGE_MASK, access, &out[1]);
}
