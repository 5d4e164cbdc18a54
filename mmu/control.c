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

MMU_API int mmu_write_cr0(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu_regs *r = &cpu->regs;
  if (value >> 32)
    return MMU_GP_FAULT;
  if ((value & MMU_CR0_PG) && !(value & MMU_CR0_PE))
    return MMU_GP_FAULT;
  int pg_on = (value & MMU_CR0_PG) && !(r->cr0 & MMU_CR0_PG);
  int pg_off = !(value & MMU_CR0_PG) && (r->cr0 & MMU_CR0_PG);
  if (pg_on && (r->efer & MMU_EFER_LME) && !(r->cr4 & MMU_CR4_PAE))
    return MMU_GP_FAULT; /* entering IA-32e mode needs PAE (SDM 4.1.2) */
  if (pg_off && (r->cr4 & MMU_CR4_PCIDE))
    return MMU_GP_FAULT; /* SDM 4.10.1: PG cannot clear while PCIDE = 1 */
  r->cr0 = value;
  if (pg_on && (r->efer & MMU_EFER_LME))
    r->efer |= MMU_EFER_LMA;
  if (pg_off) {
    r->efer &= ~MMU_EFER_LMA;
    mmu__tlb_flush_all(cpu);
  }
  mmu__update_tables(cpu);
  return MMU_OK;
}

MMU_API int mmu_write_cr3(mmu_cpu *cpu, uint64_t value) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu_regs *r = &cpu->regs;
  int pcide = (r->cr4 & MMU_CR4_PCIDE) != 0;
  int noflush = pcide && (value & MMU_CR3_NOFLUSH);
  if (pcide)
    value &= ~MMU_CR3_NOFLUSH; /* a hint, never stored */
  if (mmu__cr3_reserved(cpu, value))
    return MMU_GP_FAULT;
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

  uint16_t old_pcid = cpu->pcid;
  r->cr4 = value;
  mmu__update_tables(cpu);
  if ((changed & (MMU_CR4_PGE | MMU_CR4_LA57)) ||
      ((changed & MMU_CR4_PCIDE) && !(value & MMU_CR4_PCIDE)))
    mmu__tlb_flush_all(cpu);
  else if ((changed & MMU_CR4_PAE) ||
           ((changed & MMU_CR4_SMEP) && (value & MMU_CR4_SMEP)))
    mmu__tlb_flush_pcid(cpu, old_pcid, 1);
  return MMU_OK;
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
  r.cr3 &= (r.cr4 & MMU_CR4_PCIDE) ? ~MMU_CR3_NOFLUSH : ~0ull;
  cpu->regs = r;
  mmu__update_tables(cpu);
  mmu__tlb_flush_all(cpu);
  return MMU_OK;
}
