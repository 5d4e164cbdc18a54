/* SPDX-License-Identifier: MIT */
/* nested.c - nested paging (SPEC.md 10): a guest-physical address
 * translated by the host's EPT (Intel VMX) or nested page tables (AMD
 * SVM), with the VM exit each raises. One walker for both formats; the
 * entries' meaning comes from a per-format decode. */
#include "internal.h"

/* EPT reserved bits (SDM 3C, "EPT Translation Mechanism", Tables 28-1 to
 * 28-6): [level][leaf]. Bits 51:M everywhere; bits 7:3 of a PML5E/PML4E;
 * bits 6:3 of an entry that references a table; bits 29:12 of a 1 GiB
 * leaf and 20:12 of a 2 MiB leaf. (Bits 2:0 and the memory type are
 * checked apart: they are misconfigurations of their own.) */
static void mmu__ept_reserved(mmu_cpu *cpu) {
  uint64_t high = cpu->maxphyaddr < 52 ? MMU__BITS(51, cpu->maxphyaddr) : 0;
  for (int level = 0; level < 6; level++) {
    cpu->nested_rsvd[level][0] = high | MMU__BITS(6, 3);
    cpu->nested_rsvd[level][1] = high;
  }
  for (int leaf = 0; leaf < 2; leaf++) {
    cpu->nested_rsvd[5][leaf] = high | MMU__BITS(7, 3);
    cpu->nested_rsvd[4][leaf] = high | MMU__BITS(7, 3);
  }
  cpu->nested_rsvd[3][1] |= MMU__BITS(29, 12);
  cpu->nested_rsvd[2][1] |= MMU__BITS(20, 12);
}

/* Nested page tables have the host's long-mode format (APM 2 15.25.5). */
static void mmu__npt_reserved(mmu_cpu *cpu) {
  uint64_t high = cpu->maxphyaddr < 52 ? MMU__BITS(51, cpu->maxphyaddr) : 0;
  if (!(cpu->nested.flags & MMU_NESTED_NXE))
    high |= MMU_PTE_XD;
  for (int level = 0; level < 6; level++)
    cpu->nested_rsvd[level][0] = cpu->nested_rsvd[level][1] = high;
  for (int ps = 0; ps < 2; ps++) {
    cpu->nested_rsvd[5][ps] |= MMU_PTE_PS | MMU_PTE_G; /* AMD: bit 8 too */
    cpu->nested_rsvd[4][ps] |= MMU_PTE_PS | MMU_PTE_G;
  }
  cpu->nested_rsvd[3][1] |= (cpu->nested.flags & MMU_NESTED_NO_1G)
                                ? MMU_PTE_PS
                                : MMU__BITS(29, 13);
  cpu->nested_rsvd[2][1] |= MMU__BITS(20, 13);
}

/* VM entry's EPTP checks (SDM 3C 26.2.1.1), INVEPT's too: memory type
 * UC or WB, walk length 4 or 5, A/D only where offered, bits 11:7 and
 * 63:M 0. */
static int mmu__eptp_ok(const mmu_cpu *cpu, uint64_t eptp, uint32_t flags) {
  uint64_t mt = eptp & 7, walk = (eptp >> 3) & 7;
  return (mt == MMU_EPTP_UC || mt == MMU_EPTP_WB) && (walk == 3 || walk == 4) &&
         !((eptp & MMU_EPTP_AD) && (flags & MMU_NESTED_NO_AD)) &&
         !(eptp & ~(cpu->addr_mask | MMU__BITS(6, 0)));
}

MMU_API int mmu_set_nested(mmu_cpu *cpu, const mmu_nested *n) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  const uint32_t known = MMU_NESTED_EXEC_ONLY | MMU_NESTED_NO_1G |
                         MMU_NESTED_NO_AD | MMU_NESTED_NXE | MMU_NESTED_LA57;
  if (!n || (n->flags & ~known))
    return MMU_ERR_ARG;
  uint64_t addr = cpu->addr_mask;
  switch (n->kind) {
  case MMU_NESTED_OFF:
    break;
  case MMU_NESTED_EPT:
    if (!mmu__eptp_ok(cpu, n->root, n->flags))
      return MMU_ERR_ARG;
    break;
  case MMU_NESTED_NPT:
    /* nCR3 holds a table address and PWT/PCD; bits 63:M are reserved */
    if (n->root & ~(addr | MMU_PTE_PWT | MMU_PTE_PCD))
      return MMU_ERR_ARG;
    break;
  default:
    return MMU_ERR_ARG;
  }
  cpu->nested = *n;
  cpu->nested_table = n->root & addr;
  if (n->kind == MMU_NESTED_EPT) {
    cpu->nested_levels = (int)((n->root >> 3) & 7) + 1;
    mmu__ept_reserved(cpu);
  } else if (n->kind == MMU_NESTED_NPT) {
    cpu->nested_levels = (n->flags & MMU_NESTED_LA57) ? 5 : 4;
    mmu__npt_reserved(cpu);
  } else {
    cpu->nested_levels = 0;
  }
  /* what the TLB holds was translated through the old tables */
  mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

/* The exit a failed nested translation raises. EPT: a violation's
 * qualification has the access in bits 2:0 and the R/W/X of the entries
 * walked (ANDed; 0 past a not-present one) in bits 5:3; a misconfiguration
 * has none. NPT: EXITINFO1 is the #PF error code of a user access, with
 * bit 32 (the final address) or 33 (a guest table's). */
enum { MMU__NX_PRESENT = 1, MMU__NX_RSVD = 2, MMU__NX_TABLE = 4 };

static int mmu__nested_exit(mmu_cpu *cpu, int status, uint64_t gpa,
                            unsigned access, uint64_t rwx, unsigned how,
                            mmu_result *out) {
  unsigned kind = access & 3u;
  uint64_t q = 0;
  if (status == MMU_EPT_VIOLATION)
    q = (kind == MMU_READ    ? MMU_EPTQ_READ
         : kind == MMU_WRITE ? MMU_EPTQ_WRITE
                             : MMU_EPTQ_FETCH) |
        (rwx & 7) << 3;
  else if (status == MMU_NPF)
    q = ((how & MMU__NX_PRESENT) ? MMU_PFEC_P : 0) | MMU_PFEC_U |
        (kind == MMU_WRITE ? MMU_PFEC_W : 0) |
        ((how & MMU__NX_RSVD) ? MMU_PFEC_RSVD : 0) |
        (kind == MMU_FETCH && (cpu->nested.flags & MMU_NESTED_NXE)
             ? MMU_PFEC_ID
             : 0) |
        ((how & MMU__NX_TABLE) ? MMU_NPF_TABLE : MMU_NPF_FINAL);
  out->gpa = gpa;
  out->exit_qual = q;
  return status;
}

/* EPT entry decode: 1 present (any of R/W/X), -1 misconfigured by bits 2:0
 * (write without read; execute-only where not offered). */
static inline int mmu__ept_present(const mmu_cpu *cpu, uint64_t e) {
  unsigned rwx = (unsigned)(e & 7);
  if (rwx == 0)
    return 0;
  if ((rwx & 3) == 2 ||
      (rwx == 4 && !(cpu->nested.flags & MMU_NESTED_EXEC_ONLY)))
    return -1;
  return 1;
}

/* Translate gpa through the nested tables for an access of `access & 3`
 * (a guest table's read or A/D write when `table`). MMU_OK with *hpa and
 * *shift (the page size), a VM exit with out->gpa/exit_qual, or
 * MMU_ERR_PT_BUS with out->paddr the entry outside RAM. */
/* MMU_CFG_AD_ON_FAULT_UPPER in this dimension too: a walk that exits at
 * `level` sets A in the entries above it (QEMU's nested walk is its
 * walker). EPT only with its A/D on. */
static MMU_NOINLINE void mmu__nested_fault_upper(mmu_cpu *cpu,
                                                 const uint64_t *entry_hpa,
                                                 const uint64_t *entry,
                                                 int level) {
  const int ept = cpu->nested.kind == MMU_NESTED_EPT;
  const uint64_t a = ept ? MMU_EPT_A : MMU_PTE_A;
  if (ept && !(cpu->nested.root & MMU_EPTP_AD))
    return;
  for (int l = cpu->nested_levels; l > level; l--)
    if (!(entry[l - 1] & a))
      (void)mmu__pt_cmpxchg(cpu, entry_hpa[l - 1], entry[l - 1], entry[l - 1] | a);
}

#define MMU__NESTED_FAULT_UPPER(level)                                       \
  do {                                                                       \
    if (MMU_UNLIKELY(cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER))                \
      mmu__nested_fault_upper(cpu, entry_hpa, entry, (level));               \
  } while (0)

static int mmu__nested_walk(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                            int table, uint64_t *hpa, unsigned *shift,
                            unsigned *rwxd, mmu_result *out) {
  const int ept = cpu->nested.kind == MMU_NESTED_EPT;
  const unsigned kind = access & 3u, tbl = table ? MMU__NX_TABLE : 0;
  uint64_t entry_hpa[5], entry[5];
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    uint64_t base = cpu->nested_table, rights = ~0ull;
    int level = cpu->nested_levels, leaf = 0;
    for (;; level--) {
      uint64_t at = base + ((gpa >> (12 + 9 * (level - 1))) & 511) * 8, e;
      if (mmu__pt_read(cpu, at, &e) != 0) {
        cpu->stats.bus_errors++;
        out->paddr = at;
        return MMU_ERR_PT_BUS;
      }
      entry_hpa[level - 1] = at;
      entry[level - 1] = e;
      leaf = level == 1 || ((level == 2 || level == 3) && (e & MMU_PTE_PS));
      if (ept) {
        int p = mmu__ept_present(cpu, e);
        if (p == 0) {
          MMU__NESTED_FAULT_UPPER(level);
          return mmu__nested_exit(cpu, MMU_EPT_VIOLATION, gpa, access, 0, tbl,
                                  out);
        }
        uint64_t mt = (e >> 3) & 7;
        if (p < 0 || (e & cpu->nested_rsvd[level][leaf]) ||
            (leaf && (mt == 2 || mt == 3 || mt == 7)) ||
            (level == 3 && leaf && (cpu->nested.flags & MMU_NESTED_NO_1G))) {
          MMU__NESTED_FAULT_UPPER(level);
          return mmu__nested_exit(cpu, MMU_EPT_MISCONFIG, gpa, access, 0, tbl,
                                  out);
        }
        rights &= e;
      } else {
        if (!(e & MMU_PTE_P) || (e & cpu->nested_rsvd[level][leaf])) {
          MMU__NESTED_FAULT_UPPER(level);
          return mmu__nested_exit(cpu, MMU_NPF, gpa, access, 0,
                                  (e & MMU_PTE_P)
                                      ? MMU__NX_PRESENT | MMU__NX_RSVD | tbl
                                      : tbl,
                                  out);
        }
        /* as EPT's R/W/X bits: a user access (APM 2 15.25.5: nested walks
         * and accesses are user-mode) needs U at every level to do any */
        rights &= (e & MMU_PTE_U) ? MMU_EPT_R | ((e & MMU_PTE_W) ? MMU_EPT_W : 0) |
                                        ((e & MMU_PTE_XD) ? 0 : MMU_EPT_X)
                                  : 0;
      }
      if (leaf)
        break;
      base = e & cpu->addr_mask;
    }
    /* the access against the rights of every level */
    uint64_t need = kind == MMU_READ    ? MMU_EPT_R
                    : kind == MMU_WRITE ? MMU_EPT_W
                                        : MMU_EPT_X;
    if (!(rights & need)) {
      MMU__NESTED_FAULT_UPPER(level);
      return mmu__nested_exit(cpu, ept ? MMU_EPT_VIOLATION : MMU_NPF, gpa,
                              access, rights, MMU__NX_PRESENT | tbl, out);
    }
    /* A in every entry used, D in the leaf on a write: NPT always, EPT when
     * the EPTP enables it (SDM 3C 28.2.5) */
    uint64_t a = ept ? MMU_EPT_A : MMU_PTE_A, d = ept ? MMU_EPT_D : MMU_PTE_D;
    int set_ad = !ept || (cpu->nested.root & MMU_EPTP_AD);
    int lost = 0;
    for (int l = cpu->nested_levels; set_ad && l >= level && !lost; l--) {
      uint64_t want = entry[l - 1] | a | (l == level && kind == MMU_WRITE ? d : 0);
      if (want == entry[l - 1])
        continue;
      int rc = mmu__pt_cmpxchg(cpu, entry_hpa[l - 1], entry[l - 1], want);
      if (rc < 0) {
        cpu->stats.bus_errors++;
        out->paddr = entry_hpa[l - 1];
        return MMU_ERR_PT_BUS;
      }
      lost = rc > 0;
    }
    if (lost) {
      cpu->stats.walk_retries++;
      continue;
    }
    *shift = 12 + 9 * (unsigned)(level - 1);
    /* R/W/X over the levels, and bit 3: a write needs no D update */
    *rwxd = (unsigned)(rights & 7) |
            ((!set_ad || kind == MMU_WRITE || (entry[level - 1] & d)) ? 8u : 0u);
    uint64_t size_mask = (1ull << *shift) - 1;
    *hpa = (entry[level - 1] & cpu->addr_mask & ~size_mask) | (gpa & size_mask);
    return MMU_OK;
  }
  return MMU_ERR_CONTENDED;
}

MMU_API int mmu_nested_translate(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                                 mmu_result *out) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!out || !MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  uint64_t hpa = gpa;
  unsigned shift = 12;
  if (cpu->nested.kind != MMU_NESTED_OFF) {
    if (gpa & ~cpu->addr_mask & ~MMU__PAGE_MASK) /* beyond MAXPHYADDR */
      return MMU_ERR_ARG;
    unsigned rwxd;
    int rc = mmu__nested_walk(cpu, gpa, access, 0, &hpa, &shift, &rwxd, out);
    if (rc != MMU_OK)
      return rc;
  }
  out->paddr = hpa;
  out->page_size = 1ull << shift;
  uint8_t *page = mmu__host_page(cpu, hpa & ~MMU__PAGE_MASK);
  out->host = page ? page + (hpa & MMU__PAGE_MASK) : NULL;
  return MMU_OK;
}

/* ---- the two-dimensional guest walk (SPEC 10.4) -------------------------- */

/* One guest-physical address of a guest walk through the second
 * dimension: a guest table entry's (`table`) or the final address. A VM
 * exit says the guest linear address was valid (EPT qualification bit 7,
 * bit 8 for the final address; NPT: EXITINFO1 bit 33 or 32). */
static int mmu__nested_step(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                            int table, uint64_t *hpa, unsigned *shift,
                            unsigned *rwxd, mmu_result *out) {
  int rc = mmu__nested_walk(cpu, gpa, access, table, hpa, shift, rwxd, out);
  if (rc == MMU_EPT_VIOLATION)
    out->exit_qual |= MMU_EPTQ_LINEAR_VALID | (table ? 0 : MMU_EPTQ_FINAL);
  return rc;
}

/* The guest's walk with every table access and the final address taken
 * through the second dimension. Guest table accesses are writes to it when
 * EPT A/D is on (SDM 3C: "treated as writes"; Bochs agrees) and always for
 * NPT (as KVM's nested MMU has it); reads otherwise. The guest's decision
 * and its A/D updates are the one-dimensional walker's (entries at their
 * host-physical addresses); then the final address is translated, and the
 * TLB keeps the combination: the smaller page, W and X only where both
 * dimensions allow them, nothing where the host allows no read. Guest PAE
 * paging is not modelled under nested paging yet (MMU_ERR_STATE). */
static MMU_NOINLINE int mmu__walk_2d(mmu_cpu *cpu, uint64_t vaddr,
                                     unsigned access, mmu__walk_state *w,
                                     mmu_result *out) {
  const unsigned tkind =
      (cpu->nested.kind == MMU_NESTED_NPT || (cpu->nested.root & MMU_EPTP_AD))
          ? MMU_WRITE
          : MMU_READ;
  const int narrow = cpu->paging == MMU__PAGING_32;
  uint64_t hpa, pte = 0;
  unsigned shift, rwxd;
  int level, rc;
  if (cpu->paging == MMU__PAGING_PAE)
    return MMU_ERR_STATE;
  w->vaddr = vaddr;
  w->narrow = narrow;
  if (cpu->paging == MMU__PAGING_OFF) {
    mmu__walk_paging_off(w, vaddr);
  } else {
    cpu->stats.walks++;
    for (int attempt = 0;; attempt++) {
      if (attempt == MMU__MAX_WALK_RETRIES)
        return MMU_ERR_CONTENDED;
      uint64_t all_and = ~0ull, all_or = 0, gpa = 0;
      uint64_t table = narrow ? cpu->regs.cr3 & MMU__BITS(31, 12)
                              : cpu->regs.cr3 & cpu->addr_mask;
      w->top = narrow ? 2 : cpu->paging;
      w->root = table;
      for (level = w->top;; level--) {
        gpa = narrow ? table + ((vaddr >> (12 + 10 * (level - 1))) & 1023) * 4
                     : table + ((vaddr >> (12 + 9 * (level - 1))) & 511) * 8;
        rc = mmu__nested_step(cpu, gpa, tkind, 1, &hpa, &shift, &rwxd, out);
        if (rc != MMU_OK) {
          /* an exit ends the guest's walk here: the entries above get A
           * as a guest fault at this level would give them (QEMU) */
          if (rc >= MMU_EPT_VIOLATION && rc <= MMU_NPF &&
              (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER))
            mmu__accessed_above(cpu, w, level);
          return rc;
        }
        if ((narrow ? mmu__pt_read32(cpu, hpa, &pte) : mmu__pt_read(cpu, hpa, &pte)) != 0)
          return mmu__walk_stop(cpu, w, access, level, MMU_ERR_PT_BUS, hpa, out);
        w->entry_at[level - 1] = hpa;
        w->entry[level - 1] = pte;
        if (!(pte & MMU_PTE_P))
          return mmu__walk_stop(cpu, w, access, level, 0, gpa, out);
        int ps = (pte & MMU_PTE_PS) != 0;
        int leaf = narrow ? level == 1 || (ps && (cpu->regs.cr4 & MMU_CR4_PSE))
                          : level == 1 || ((level == 2 || level == 3) && ps);
        if (!narrow && (pte & cpu->rsvd[level][0]))
          return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
        if (leaf && level > 1 && (pte & cpu->rsvd[level][1]))
          return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
        all_and &= pte;
        all_or |= pte;
        if (leaf)
          break;
        table = narrow ? pte & MMU__BITS(31, 12) : pte & cpu->addr_mask;
      }
      rc = mmu__walk_leaf(cpu, w, access, level, pte, all_and, all_or, out);
      if (rc == MMU_OK)
        break;
      if (rc != MMU__WALK_RETRY)
        return rc;
    }
  }
  /* the final address: the access's own kind */
  rc = mmu__nested_step(cpu, w->paddr, access, 0, &hpa, &shift, &rwxd, out);
  if (rc != MMU_OK)
    return rc;
  if (shift < w->page_shift)
    w->page_shift = shift;
  w->paddr = hpa;
  if (!(rwxd & MMU_EPT_R)) { /* not kept: the host allows no read */
    out->paddr = hpa;
    out->page_size = 1ull << w->page_shift;
    uint8_t *page = mmu__host_page(cpu, hpa & ~MMU__PAGE_MASK);
    out->host = page ? page + (hpa & MMU__PAGE_MASK) : NULL;
    return MMU__WALK_UNCACHED;
  }
  /* what the host forbids must never hit, whatever the guest's CR0.WP,
   * EFER.NXE or paging allow: then the walk gives the exit */
  if (!(rwxd & MMU_EPT_W) || !(rwxd & 8))
    w->rights &= (uint8_t)~MMU_RIGHT_D;
  if (!(rwxd & MMU_EPT_X))
    w->rights |= MMU_RIGHT_HOST_NOX;
  return MMU_OK;
}

/* ---- VMX's and SVM's invalidations (SPEC 10.5) --------------------------- */

/* The TLB holds the translations of the current context only (one EPTP
 * and VPID, or one ASID: mmu_set_nested flushes on every change), so an
 * invalidation of another context has nothing to drop, and one of this
 * context drops what the SDM or APM names, or more (always allowed). */

MMU_API int mmu_invept(mmu_cpu *cpu, unsigned type, uint64_t eptp) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* SDM 3C 30.3 INVEPT: types 1 (single-context) and 2 (all-context); a
   * single context's EPTP must pass VM entry's checks, else VMfail */
  if (type != 1 && type != 2)
    return MMU_ERR_ARG;
  const int ept = cpu->nested.kind == MMU_NESTED_EPT;
  if (type == 1 && !mmu__eptp_ok(cpu, eptp, ept ? cpu->nested.flags : 0))
    return MMU_ERR_ARG;
  if (ept && (type == 2 || ((eptp ^ cpu->nested.root) & cpu->addr_mask) == 0))
    mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

MMU_API int mmu_invvpid(mmu_cpu *cpu, unsigned type, uint16_t vpid,
                        uint64_t vaddr) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* SDM 3C 30.3 INVVPID: 0 individual address, 1 single context, 2 all
   * contexts, 3 single context but global translations; VPID 0 (the
   * host's) and a non-canonical address are VMfail */
  if (type > 3 || (type != 2 && vpid == 0) ||
      (type == 0 && !mmu__is_canonical(cpu, vaddr)))
    return MMU_ERR_ARG;
  if (cpu->nested.kind != MMU_NESTED_EPT || (type != 2 && vpid != cpu->nested.tag))
    return MMU_OK;
  if (type == 3)
    mmu__tlb_flush_nonglobal(cpu);
  else /* an address: its combined pieces may be anywhere (SPEC 10.4) */
    mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

MMU_API int mmu_invlpga(mmu_cpu *cpu, uint64_t vaddr, uint32_t asid) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* APM 3 INVLPGA: the translation of vaddr in ASID asid (0: the host's,
   * which is this cpu with nested paging off) */
  uint32_t current = cpu->nested.kind == MMU_NESTED_NPT ? cpu->nested.tag
                     : cpu->nested.kind == MMU_NESTED_OFF ? 0u
                                                          : ~0u;
  if (asid == current)
    return mmu_invlpg(cpu, vaddr);
  return MMU_OK;
}
