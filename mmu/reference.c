/* SPDX-License-Identifier: MIT */
/* reference.c - the reference walker: SDM 4.5 to 4.8 written out rule by
 * rule, for clarity and not speed. It shares nothing with the fast path but
 * guest-memory access: no TLB, no precomputed tables, no cached masks. Tests
 * and fuzzers hold mmu_translate() against it. */
#include "internal.h"

static int mmu__ref_fault(uint64_t vaddr, uint32_t error_code,
                          mmu_result *out) {
  out->error_code = error_code;
  out->cr2 = vaddr;
  return MMU_PAGE_FAULT;
}

MMU_API int mmu_reference_translate(mmu_cpu *cpu, uint64_t vaddr,
                                    unsigned access, mmu_result *out,
                                    mmu_trace *trace) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!out || !MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  const mmu_regs *r = &cpu->regs;
  if (trace)
    trace->count = 0;

  if (!(r->cr0 & MMU_CR0_PG)) {
    out->paddr = vaddr;
    out->host = NULL;
    const mmu_ram_region *region = mmu__ram_find(cpu, vaddr, 1);
    if (region)
      out->host = (uint8_t *)region->host + (vaddr - region->gpa);
    out->page_size = 4096;
    return MMU_OK;
  }
  /* SDM 4.1.1: 4-level paging is CR0.PG = 1, CR4.PAE = 1, EFER.LME = 1;
   * 5-level adds CR4.LA57. Other modes are not modelled. */
  if (!(r->efer & MMU_EFER_LMA) || !(r->cr4 & MMU_CR4_PAE))
    return MMU_ERR_MODE;
  int la57 = (r->cr4 & MMU_CR4_LA57) != 0;
  int levels = la57 ? 5 : 4;

  /* SDM 4.5.1: linear addresses must be canonical: bits 63:48 (63:57)
   * equal to bit 47 (56). Otherwise #GP (or #SS for stack references). */
  int width = la57 ? 57 : 48;
  uint64_t upper = vaddr >> (width - 1);
  if (upper != 0 && upper != (~0ull >> (width - 1))) {
    out->error_code = 0;
    return MMU_GP_FAULT;
  }

  int fetch = (access & MMU_FETCH) != 0;
  int write = (access & MMU_WRITE) && !fetch;
  int implicit = (access & MMU_IMPLICIT) != 0;
  int user_access = r->cpl == 3 && !implicit; /* SDM 4.6 */
  int nxe = (r->efer & MMU_EFER_NXE) != 0;
  int wp = (r->cr0 & MMU_CR0_WP) != 0;
  int smep = (r->cr4 & MMU_CR4_SMEP) != 0;
  int smap = (r->cr4 & MMU_CR4_SMAP) != 0;
  int pke = (r->cr4 & MMU_CR4_PKE) != 0;

  /* SDM 4.7: error-code bits that describe the access */
  uint32_t ec = 0;
  if (write)
    ec |= MMU_PFEC_W;
  if (user_access)
    ec |= MMU_PFEC_U;
  if (fetch && (nxe || smep))
    ec |= MMU_PFEC_ID;

  unsigned m = cpu->maxphyaddr;
  uint64_t frame_mask = ((m >= 64 ? ~0ull : (1ull << m) - 1)) & ~0xFFFull;
  uint64_t above_maxphy = m < 52 ? (((1ull << 52) - 1) & ~((1ull << m) - 1)) : 0;

  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    uint64_t table = r->cr3 & frame_mask;
    uint64_t gpas[5] = {0}, ptes[5] = {0};
    int rw = 1, us = 1, xd = 0;
    int level, fault_level = 0;
    uint32_t fault_ec = 0;
    uint64_t page_size = 0;
    if (trace)
      trace->count = 0;

    for (level = levels; level >= 1; level--) {
      uint64_t index = (vaddr >> (12 + 9 * (level - 1))) & 0x1FF;
      uint64_t gpa = table + index * 8;
      uint64_t pte;
      if (mmu__pt_read(cpu, gpa, &pte) != 0) {
        out->paddr = gpa;
        return MMU_ERR_PT_BUS;
      }
      gpas[level - 1] = gpa;
      ptes[level - 1] = pte;
      if (trace) {
        trace->step[trace->count].entry_gpa = gpa;
        trace->step[trace->count].entry = pte;
        trace->step[trace->count].level = (uint8_t)level;
        trace->count++;
      }
      /* SDM 4.5.4: P = 0 ends the walk; no other bit matters */
      if (!(pte & MMU_PTE_P)) {
        fault_ec = ec;
        fault_level = level;
        break;
      }
      /* SDM 4.5.4, Tables 4-15 to 4-20: reserved bits */
      int ps = (pte & MMU_PTE_PS) != 0;
      int reserved = (pte & above_maxphy) != 0;
      if (!nxe && (pte & MMU_PTE_XD))
        reserved = 1;
      if (level >= 4 && ps) /* PML5E, PML4E: bit 7 reserved */
        reserved = 1;
      if (level == 3 && ps) {
        if (cpu->flags & MMU_CFG_NO_1G_PAGES)
          reserved = 1;
        else if (pte & (((1ull << 30) - 1) & ~((1ull << 13) - 1)))
          reserved = 1; /* 1 GiB page: bits 29:13 */
      }
      /* AMD: bit 8 of a PML5E or PML4E is reserved */
      if ((cpu->flags & MMU_CFG_AMD) && level >= 4 && (pte & MMU_PTE_G))
        reserved = 1;
      if (level == 2 && ps && (pte & (((1ull << 21) - 1) & ~((1ull << 13) - 1))))
        reserved = 1; /* 2 MiB page: bits 20:13 */
      if (reserved) {
        fault_ec = ec | MMU_PFEC_P | MMU_PFEC_RSVD;
        fault_level = level;
        break;
      }
      /* SDM 4.6: rights combine over every level */
      rw &= (pte & MMU_PTE_W) != 0;
      us &= (pte & MMU_PTE_U) != 0;
      xd |= nxe && (pte & MMU_PTE_XD);
      if (level == 1 || (level <= 3 && ps)) {
        page_size = 1ull << (12 + 9 * (level - 1));
        break;
      }
      table = pte & frame_mask;
    }

    if (!fault_level) {
      uint64_t leaf = ptes[level - 1];
      int user_page = us;
      int denied;
      /* SDM 4.6.1 */
      if (fetch) {
        if (nxe && xd)
          denied = 1;
        else if (user_access)
          denied = !user_page;
        else
          denied = user_page && smep;
      } else if (user_access) {
        denied = !user_page || (write && !rw);
      } else if (user_page && smap && (implicit || !r->ac)) {
        denied = 1;
      } else {
        denied = write && !rw && wp;
      }
      /* SDM 4.6.2: protection keys, user pages, data accesses */
      int pk = 0;
      if (pke && user_page && !fetch) {
        unsigned key = (unsigned)(leaf >> 59) & 15;
        int ad = (r->pkru >> (2 * key)) & 1;
        int wd = (r->pkru >> (2 * key + 1)) & 1;
        pk = ad || (write && wd && (user_access || wp));
      }
      if (denied || pk) {
        fault_ec = ec | MMU_PFEC_P | (pk ? (uint32_t)MMU_PFEC_PK : 0);
        fault_level = level;
      }
    }

    if (fault_level) {
      if (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER)
        for (int l = levels; l > fault_level; l--)
          if (!(ptes[l - 1] & MMU_PTE_A))
            (void)mmu__pt_cmpxchg(cpu, gpas[l - 1], ptes[l - 1],
                                  ptes[l - 1] | MMU_PTE_A);
      return mmu__ref_fault(vaddr, fault_ec, out);
    }

    /* SDM 4.8: set A in each entry used, D in the leaf on a write */
    int lost = 0;
    for (int l = levels; l >= level && !lost; l--) {
      uint64_t want = ptes[l - 1] | MMU_PTE_A;
      if (l == level && write)
        want |= MMU_PTE_D;
      if (want == ptes[l - 1])
        continue;
      int rc = mmu__pt_cmpxchg(cpu, gpas[l - 1], ptes[l - 1], want);
      if (rc < 0) {
        out->paddr = gpas[l - 1];
        return MMU_ERR_PT_BUS;
      }
      lost = rc != 0;
    }
    if (lost)
      continue; /* another agent changed an entry: walk again */

    uint64_t leaf = ptes[level - 1];
    out->paddr = (leaf & frame_mask & ~(page_size - 1)) |
                 (vaddr & (page_size - 1));
    out->page_size = page_size;
    const mmu_ram_region *region = mmu__ram_find(cpu, out->paddr, 1);
    out->host = region ? (uint8_t *)region->host + (out->paddr - region->gpa)
                       : NULL;
    return MMU_OK;
  }
  return MMU_ERR_CONTENDED;
}
