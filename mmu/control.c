/* SPDX-License-Identifier: MIT */
/* control.c - register writes, their #GP checks, and the flushes SDM
 * 4.10.4.1 attaches to them. The backing TLB holds rights, not decisions
 * (SDM 4.10.2.2), so a change of WP, SMAP, AC, CPL or PKRU flushes nothing
 * architectural; the front holds decisions and is cleared by perm.c when
 * the registers behind them change (CPL and AC only switch its view). */
#include "internal.h"

static int mmu__cr3_reserved(const mmu_cpu *cpu, uint64_t cr3) {
  /* bits 63:MAXPHYADDR; bit 63 was already consumed as the no-flush hint */
  return (cr3 & ~MMU__BITS(cpu->maxphyaddr - 1, 0)) != 0;
}

/* PAE paging's PDPTE registers from the 32-byte table at CR3 bits 31:5
 * (SDM 4.4.1): MMU_GP_FAULT if a present one sets a reserved bit,
 * MMU_ERR_PT_BUS if the table is not in RAM; pdpte[] is written only on
 * MMU_OK. Under EPT the table's gpa goes through EPT first (its exit is
 * mmu_cr_exit's); under NPT nothing is loaded: each walk reads the PDPTE
 * (SPEC 10.4). */
static int mmu__pdptes_load(mmu_cpu *cpu, uint64_t cr3, uint64_t pdpte[4]) {
  uint64_t base = cr3 & MMU__BITS(31, 5), got[4];
  uint64_t reserved = mmu__pdpte_reserved(cpu);
  if (cpu->nested.kind == MMU_NESTED_NPT)
    return MMU_OK;
  if (cpu->nested.kind == MMU_NESTED_EPT)
    MMU__TRY(mmu__nested_pdptes_at(cpu, base, &base));
  for (int i = 0; i < 4; i++) {
    if (mmu__pt_read(cpu, base + 8 * (uint64_t)i, &got[i]) != 0)
      return MMU_ERR_PT_BUS;
    if ((got[i] & MMU_PTE_P) && (got[i] & reserved))
      return MMU_GP_FAULT;
  }
  memcpy(pdpte, got, sizeof got);
  return MMU_OK;
}

/* Would these registers be PAE paging (CR0.PG, CR4.PAE, not IA-32e)? */
static int mmu__pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer) {
  return (cr0 & MMU_CR0_PG) && (cr4 & MMU_CR4_PAE) && !(efer & MMU_EFER_LME);
}

MMU_API int mmu_write_cr0(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->cr_exit_status = 0;
  mmu_regs *r = &cpu->regs;
  if (value >> 32)
    return MMU_GP_FAULT;
  if ((value & MMU_CR0_PG) && !(value & MMU_CR0_PE))
    return MMU_GP_FAULT;
  if ((value & MMU_CR0_NW) && !(value & MMU_CR0_CD))
    return MMU_GP_FAULT;
  int pg_on = (value & MMU_CR0_PG) && !(r->cr0 & MMU_CR0_PG);
  int pg_off = !(value & MMU_CR0_PG) && (r->cr0 & MMU_CR0_PG);
  if (pg_on && (r->efer & MMU_EFER_LME) && !(r->cr4 & MMU_CR4_PAE))
    return MMU_GP_FAULT; /* entering IA-32e mode needs PAE (SDM 4.1.2) */
  if (pg_off && (r->cr4 & MMU_CR4_PCIDE))
    return MMU_GP_FAULT; /* SDM 4.10.1: PG cannot clear while PCIDE = 1 */
  /* SDM 4.4.1: entering PAE paging, or changing CD, NW or PG in it,
   * loads the PDPTEs (#GP for a reserved bit, nothing changed) */
  if (mmu__pae_paging(value, r->cr4, r->efer) &&
      ((value ^ r->cr0) & (MMU_CR0_PG | MMU_CR0_CD | MMU_CR0_NW))) {
    int rc = mmu__pdptes_load(cpu, r->cr3, r->pdpte);
    if (rc != MMU_OK)
      return rc;
  }
  r->cr0 = value;
  if (pg_on && (r->efer & MMU_EFER_LME))
    r->efer |= MMU_EFER_LMA;
  if (pg_off)
    r->efer &= ~MMU_EFER_LMA;
  if (pg_on || pg_off) /* SDM 4.10.4.1: every entry, global ones too */
    mmu__tlb_flush_all(cpu);
  mmu__update_tables(cpu);
  return MMU_OK;
}

MMU_API int mmu_write_cr3(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->cr_exit_status = 0;
  mmu_regs *r = &cpu->regs;
  int pcide = (r->cr4 & MMU_CR4_PCIDE) != 0;
  int noflush = pcide && (value & MMU_CR3_NOFLUSH);
  if (pcide)
    value &= ~MMU_CR3_NOFLUSH; /* a hint, never stored */
  if (!(r->efer & MMU_EFER_LMA))
    value = (uint32_t)value; /* CR3 is 32 bits wide outside IA-32e mode */
  if (mmu__cr3_reserved(cpu, value))
    return MMU_GP_FAULT;
  if (cpu->paging == MMU__PAGING_PAE) {
    int rc = mmu__pdptes_load(cpu, value, r->pdpte);
    if (rc != MMU_OK)
      return rc;
  }
  uint16_t old_pcid = cpu->pcid;
  r->cr3 = value;
  mmu__update_pcid(cpu);
  if (!pcide)
    mmu__tlb_flush_pcid(cpu, 0, 0);
  else if (!noflush)
    mmu__tlb_flush_pcid(cpu, cpu->pcid, 0);
  else if (cpu->pcid != old_pcid)
    mmu__front_clear_all(cpu); /* it holds the current PCID's entries */
  return MMU_OK;
}

MMU_API int mmu_write_cr4(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->cr_exit_status = 0;
  mmu_regs *r = &cpu->regs;
  uint64_t changed = value ^ r->cr4;
  int lma = (r->efer & MMU_EFER_LMA) != 0;
  if (value >> 32)
    return MMU_GP_FAULT;
  if ((changed & MMU_CR4_PCIDE) && (value & MMU_CR4_PCIDE) &&
      ((r->cr3 & 0xFFF) || !lma))
    return MMU_GP_FAULT;
  if (lma && (changed & MMU_CR4_LA57))
    return MMU_GP_FAULT;
  if (lma && !(value & MMU_CR4_PAE))
    return MMU_GP_FAULT;
  /* SDM 4.4.1: in PAE paging, a change of PAE, PGE, PSE or SMEP loads the
   * PDPTEs (#GP for a reserved bit, nothing changed) */
  if (mmu__pae_paging(r->cr0, value, r->efer) &&
      (changed & (MMU_CR4_PAE | MMU_CR4_PGE | MMU_CR4_PSE | MMU_CR4_SMEP))) {
    int rc = mmu__pdptes_load(cpu, r->cr3, r->pdpte);
    if (rc != MMU_OK)
      return rc;
  }

  uint16_t old_pcid = cpu->pcid;
  r->cr4 = value;
  mmu__update_tables(cpu);
  /* PSE under 32-bit paging: a choice, as for EFER.NXE (SPEC 3.2) */
  if ((changed & (MMU_CR4_PGE | MMU_CR4_LA57)) ||
      ((changed & MMU_CR4_PCIDE) && !(value & MMU_CR4_PCIDE)) ||
      ((changed & MMU_CR4_PSE) && cpu->paging == MMU__PAGING_32))
    mmu__tlb_flush_all(cpu);
  else if ((changed & MMU_CR4_PAE) ||
           ((changed & MMU_CR4_SMEP) && (value & MMU_CR4_SMEP)))
    mmu__tlb_flush_pcid(cpu, old_pcid, 1);
  return MMU_OK;
}

MMU_API int mmu_cr_exit(const mmu_cpu *cpu, mmu_result *out) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!out)
    return MMU_ERR_ARG;
  if (!cpu->cr_exit_status)
    return MMU_ERR_STATE;
  out->gpa = cpu->cr_exit_gpa;
  out->exit_qual = cpu->cr_exit_qual;
  return cpu->cr_exit_status;
}

MMU_API int mmu_write_efer(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu_regs *r = &cpu->regs;
  if ((r->cr0 & MMU_CR0_PG) && ((value ^ r->efer) & MMU_EFER_LME))
    return MMU_GP_FAULT; /* LME cannot change while paging is on */
  /* LMA is read-only: the processor sets it from LME and CR0.PG */
  value = (value & ~MMU_EFER_LMA) | (r->efer & MMU_EFER_LMA);
  int nxe_changed = ((value ^ r->efer) & MMU_EFER_NXE) != 0;
  r->efer = value;
  mmu__update_tables(cpu);
  /* Not required by the SDM; keeps cached XD rights and the reserved-bit
   * meaning of bit 63 in step (SPEC.md, "EFER.NXE"). */
  if (nxe_changed)
    mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

MMU_API int mmu_write_pkru(mmu_cpu *cpu, uint32_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->regs.pkru = value;
  mmu__update_pkeys(cpu);
  return MMU_OK;
}

MMU_API int mmu_set_cpl(mmu_cpu *cpu, unsigned cpl) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (cpl > 3)
    return MMU_ERR_ARG;
  cpu->regs.cpl = (uint8_t)cpl;
  mmu__update_mode(cpu);
  return MMU_OK;
}

MMU_API int mmu_set_ac(mmu_cpu *cpu, int ac) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->regs.ac = (uint8_t)(ac != 0);
  mmu__update_mode(cpu);
  return MMU_OK;
}

MMU_API int mmu_load_regs(mmu_cpu *cpu, const mmu_regs *regs) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (regs == NULL)
    return MMU_ERR_ARG;
  mmu_regs r = *regs;
  int pg = (r.cr0 & MMU_CR0_PG) != 0;
  int lma = (r.efer & MMU_EFER_LMA) != 0;
  if ((r.cr0 >> 32) || (r.cr4 >> 32) || r.cpl > 3 || r.ac > 1)
    return MMU_ERR_ARG;
  if (pg && !(r.cr0 & MMU_CR0_PE))
    return MMU_ERR_ARG;
  if (lma != (pg && (r.efer & MMU_EFER_LME)))
    return MMU_ERR_ARG;
  if (lma && !(r.cr4 & MMU_CR4_PAE))
    return MMU_ERR_ARG;
  if ((r.cr4 & MMU_CR4_PCIDE) && !lma)
    return MMU_ERR_ARG;
  if (!(r.cr4 & MMU_CR4_PCIDE) || !lma) {
    if (mmu__cr3_reserved(cpu, r.cr3))
      return MMU_ERR_ARG;
  } else if (mmu__cr3_reserved(cpu, r.cr3 & ~MMU_CR3_NOFLUSH)) {
    return MMU_ERR_ARG;
  }
  if ((r.cr0 & MMU_CR0_NW) && !(r.cr0 & MMU_CR0_CD))
    return MMU_ERR_ARG;
  if (!lma && (r.cr3 >> 32))
    return MMU_ERR_ARG; /* a 32-bit register outside IA-32e mode */
  /* the PDPTE registers as given (a snapshot may hold stale ones), but
   * only values a load could have produced */
  if (mmu__pae_paging(r.cr0, r.cr4, r.efer))
    for (int i = 0; i < 4; i++)
      if ((r.pdpte[i] & MMU_PTE_P) && (r.pdpte[i] & mmu__pdpte_reserved(cpu)))
        return MMU_ERR_ARG;
  r.cr3 &= (r.cr4 & MMU_CR4_PCIDE) ? ~MMU_CR3_NOFLUSH : ~0ull;
  cpu->regs = r;
  mmu__update_tables(cpu);
  mmu__tlb_flush_all(cpu);
  return MMU_OK;
}
