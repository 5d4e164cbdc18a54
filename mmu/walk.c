/* walk.c - the TLB-miss path: one walker for 4- and 5-level paging and all
 * page sizes, permissions from perm.c's tables, A/D by compare-exchange. */
#include "internal.h"

static void mmu__result_from_entry(const mmu_tlb_entry *e, uint64_t vaddr,
                                   mmu_result *out) {
  out->paddr = e->paddr | (vaddr & MMU__PAGE_MASK);
  out->host = e->host ? e->host + (vaddr & MMU__PAGE_MASK) : NULL;
  out->page_size = 1ull << e->page_shift;
}

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

/* MMU_CFG_AD_ON_FAULT_UPPER: set A in the entries above fault_level. */
static void mmu__accessed_above(mmu_cpu *cpu, const mmu__walk_state *w,
                                int fault_level) {
  for (int level = w->top; level > fault_level; level--) {
    uint64_t old = w->entry[level - 1];
    if (!(old & MMU_PTE_A))
      (void)mmu__pt_cmpxchg(cpu, w->entry_gpa[level - 1], old, old | MMU_PTE_A);
  }
}

/* Walk and decide. Returns MMU_OK with w filled (A/D already set), or a
 * fault/error with out filled. */
static int mmu__walk(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                     mmu__walk_state *w, mmu_result *out) {
  unsigned idx = (access & 7u) | cpu->mode;
  int write = (access & MMU_WRITE) && !(access & MMU_FETCH);

  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    uint64_t table = cpu->regs.cr3 & cpu->addr_mask;
    unsigned rights = MMU_RIGHT_W | MMU_RIGHT_U | MMU_RIGHT_X;
    int level, faulted = 1;
    uint32_t pfec = 0;

    cpu->stats.walks += attempt == 0;
    w->top = cpu->canon_shift == 56 ? 5 : 4;
    w->page_shift = 12;
    for (level = w->top;; level--) {
      uint32_t shift = 12 + 9 * (uint32_t)(level - 1);
      uint64_t gpa = table + ((vaddr >> shift) & 511) * 8;
      uint64_t pte;
      if (mmu__pt_read(cpu, gpa, &pte) != 0) {
        cpu->stats.bus_errors++;
        out->paddr = gpa;
        return MMU_ERR_PT_BUS;
      }
      w->entry_gpa[level - 1] = gpa;
      w->entry[level - 1] = pte;
      if (!(pte & MMU_PTE_P)) {
        pfec = mmu__pfec_base(cpu, access);
        break;
      }
      int ps = level > 1 && (pte & MMU_PTE_PS);
      if (pte & cpu->rsvd[level][ps]) {
        pfec = mmu__pfec_base(cpu, access) | MMU_PFEC_P | MMU_PFEC_RSVD;
        break;
      }
      if (!(pte & MMU_PTE_W))
        rights &= ~(unsigned)MMU_RIGHT_W;
      if (!(pte & MMU_PTE_U))
        rights &= ~(unsigned)MMU_RIGHT_U;
      if (pte & MMU_PTE_XD) /* reserved unless NXE, so only reached with it */
        rights &= ~(unsigned)MMU_RIGHT_X;
      if (level == 1 || ps) {
        w->page_shift = shift;
        faulted = 0;
        break;
      }
      table = pte & cpu->addr_mask;
    }
    w->leaf_level = level;
    w->rights = (uint8_t)rights;

    if (!faulted) {
      uint64_t leaf = w->entry[level - 1];
      int pk = (rights & MMU_RIGHT_U) &&
               ((cpu->pk_deny[idx] >> ((leaf >> MMU_PTE_PKEY_SHIFT) & 15)) & 1);
      faulted = ((cpu->fault[idx] >> rights) & 1) || pk;
      pfec = mmu__pfec_base(cpu, access) | MMU_PFEC_P |
             (pk ? (uint32_t)MMU_PFEC_PK : 0);
    }
    if (faulted) {
      if (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER)
        mmu__accessed_above(cpu, w, level);
      return mmu__page_fault(cpu, vaddr, pfec, out);
    }

    /* SDM 4.8: A in every entry used, D in the leaf on a write. */
    int lost = 0;
    for (int l = w->top; l >= level && !lost; l--) {
      uint64_t old = w->entry[l - 1];
      uint64_t want = old | MMU_PTE_A | (l == level && write ? MMU_PTE_D : 0);
      if (want == old)
        continue;
      int rc = mmu__pt_cmpxchg(cpu, w->entry_gpa[l - 1], old, want);
      if (rc < 0) {
        cpu->stats.bus_errors++;
        out->paddr = w->entry_gpa[l - 1];
        return MMU_ERR_PT_BUS;
      }
      if (rc > 0)
        lost = 1;
      else
        w->entry[l - 1] = want;
    }
    if (lost) {
      cpu->stats.walk_retries++;
      continue;
    }
    uint64_t size_mask = (1ull << w->page_shift) - 1;
    w->paddr = (w->entry[level - 1] & cpu->addr_mask & ~size_mask) |
               (vaddr & size_mask);
    return MMU_OK;
  }
  return MMU_ERR_CONTENDED;
}

MMU_API int mmu_translate_slow(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                               mmu_result *out) {
  MMU_ASSERT(cpu->magic == MMU__MAGIC); /* mmu_init was called */
  int mode = mmu__paging_mode(&cpu->regs);
  if (mode == 0) { /* paging off: linear is physical */
    out->paddr = vaddr;
    out->host = NULL;
    const mmu_ram_region *r = mmu__ram_find(cpu, vaddr, 1);
    if (r)
      out->host = (uint8_t *)r->host + (vaddr - r->gpa);
    out->page_size = 4096;
    return MMU_OK;
  }
  if (mode < 0)
    return MMU_ERR_MODE;
  if (!mmu__is_canonical(cpu, vaddr)) {
    cpu->stats.faults_gp++;
    out->error_code = 0;
    return MMU_GP_FAULT;
  }

  unsigned idx = (access & 7u) | cpu->mode;
  mmu_tlb_entry *e = mmu__tlb_lookup(cpu, vaddr);
  if (e) {
    if (((cpu->allow[idx] >> e->rights) & 1) &&
        !((cpu->pk_deny[idx] >> e->pkey) & 1)) {
      mmu__result_from_entry(e, vaddr, out); /* global, other PCID set */
      return MMU_OK;
    }
    /* Denied or clean for a write: re-walk. A fault through this address
     * drops its entries anyway (SDM 4.10.4.1, page-fault exceptions). */
    mmu__tlb_drop(cpu, e);
  }
  cpu->stats.tlb_misses[access & 3u]++;

  mmu__walk_state w;
  int rc = mmu__walk(cpu, vaddr, access, &w, out);
  if (rc != MMU_OK)
    return rc;
  uint64_t leaf = w.entry[w.leaf_level - 1];
  int global = (leaf & MMU_PTE_G) && (cpu->regs.cr4 & MMU_CR4_PGE);
  e = mmu__tlb_insert(cpu, vaddr, &w, (leaf & MMU_PTE_D) != 0, global);
  mmu__result_from_entry(e, vaddr, out);
  return MMU_OK;
}

MMU_API int mmu_translate_span(mmu_cpu *cpu, uint64_t vaddr, uint32_t len,
                               unsigned access, mmu_result out[2]) {
  if (len == 0 || len > 4096 || out == NULL)
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
