/* SPDX-License-Identifier: MIT */
/* bochs_pdpte_probe.c - a PAE guest's PDPTE load through EPT against
 * Bochs (ctest conformance_bochs_pdpte_load[_ad]): per case, a PAE guest
 * under EPT executes MOV to CR3 (or, entering PAE paging, MOV to CR0) in
 * Bochs's VMX (C_VMX, bguest/vmx.inc), and the VM exit is compared with
 * the library's mmu_write_cr3 / mmu_write_cr0 and mmu_cr_exit on the same
 * tables (SPEC 3, 10.4: the load is a read to EPT even with EPT A/D on;
 * an exit is at the MOV, without a guest linear address; a reserved bit
 * in a present PDPTE is #GP).
 *
 *   bochs_pdpte_probe [--ad]     exit status 0: every case agrees
 *
 * Guest RAM (host-physical to the library): the VMXON region and VMCS at
 * 4 MiB, EPT tables from 0x410000 (probe_nested_base), the stubs and the
 * guest's PAE tables at gpa 0x500000.. (mapped to themselves), the data
 * page at gpa 0x600000 (hpa 0x700000), each case's PDPT in its own page
 * from gpa 0x601000 (hpa 0x701000..). The guest's paging: PDPTE 0 -> a
 * PD whose 2 MiB page 2 maps linear [4, 6) MiB to itself (the stubs);
 * the new PDPTs add PDPTE 1 -> a PD whose 2 MiB page 0 maps linear 1 GiB
 * to gpa 6 MiB, so the read after the MOV (linear READ_LIN) lands on the
 * data page only through the PDPTEs just loaded. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../include/mmu.h"
#include "bguest/blayout.h"
#include "bochs.h"
#include "probe.h"
#include "qguest/qlayout.h"

#define EPT_PDPT PROBE_PDPT(PROBE_EPT_ROOT)
#define EPT_PT_STUB PROBE_PT_STUB(PROBE_EPT_ROOT) /* gpa [4, 6) MiB */
#define EPT_PT_CASE PROBE_PT_CASE(PROBE_EPT_ROOT) /* gpa [6, 8) MiB */
#define GUEST_PDPT0 0x510000ull /* CR3 at VM entry */
#define GUEST_PD_LOW 0x511000ull
#define GUEST_PD_HIGH 0x512000ull
/* EPT's entry for GUEST_PD_HIGH, which the read's guest walk reads: with
 * A/D on a write to EPT (D set), beside the PDPT's read (A only) */
#define PD_HIGH_EPTE (EPT_PT_STUB + 8 * ((GUEST_PD_HIGH >> 12) & 511))
#define DATA_GPA 0x600000ull
#define DATA_HPA 0x700000ull
#define READ_LIN 0x40000120ull /* -> gpa DATA_GPA + 0x120 */
#define MARKER 0x5a5a1234u
#define PDPT_GPA(i) (0x601000ull + 0x1000ull * (i))
#define PDPT_HPA(i) (0x701000ull + 0x1000ull * (i))
#define FAR_GPA 0x40000000ull /* EPT PDPTE 1 is 0: not mapped */
#define RWX 7ull
#define WB MMU_EPT_MT_WB
#define PDE_2M 0xe3ull /* P W A D PS */
#define CR0_PAGING ((uint64_t)0x80000031) /* PG NE ET PE */
#define CR0_FLAT ((uint64_t)0x31)        /* NE ET PE */

enum { MOV_CR3 = 0, MOV_CR0 = 1 };
enum { PTE_NONE = 0, PTE_FAR = 1 }; /* pte: 0 unmapped, 1 the far gpa */

typedef struct probe_case {
  const char *name;
  int op;
  uint64_t pte;      /* EPT PTE of the PDPT's page, without its address */
  uint64_t low;      /* CR3 bits 4:0 (ignored by PAE paging) */
  uint64_t rsvd[4];  /* or-ed into the PDPT's four entries */
  int clear_p3;      /* PDPTE 3 not present (its reserved bits ignored) */
} probe_case;

static const probe_case cases[] = {
    {"a: MOV CR3, PDPT page RWX", MOV_CR3, RWX | WB, 0, {0}, 0},
    {"b: MOV CR3, PDPT page read-only", MOV_CR3, MMU_EPT_R | WB, 0x1f, {0}, 0},
    {"c: MOV CR3, PDPT page unmapped (EPT PTE 0)", MOV_CR3, PTE_NONE, 0x1f,
     {0}, 0},
    {"d: MOV CR3, PDPT at gpa 1 GiB (EPT PDPTE 0)", MOV_CR3, PTE_FAR, 0x1f,
     {0}, 0},
    {"e: MOV CR3, PDPT page execute-only", MOV_CR3, MMU_EPT_X | WB, 0x1f,
     {0}, 0},
    {"f: MOV CR3, PDPT page write-only (misconfig)", MOV_CR3,
     MMU_EPT_W | WB, 0x1f, {0}, 0},
    {"g: MOV CR3, PDPT page memory type 2 (misconfig)", MOV_CR3,
     RWX | (2ull << 3), 0x1f, {0}, 0},
    {"h: MOV CR3, PDPTE 1 sets bit 1 (reserved)", MOV_CR3, RWX | WB, 0x1f,
     {0, 2, 0, 0}, 0},
    {"i: MOV CR3, PDPTE 1 sets bit 40 (MAXPHYADDR)", MOV_CR3, RWX | WB, 0x1f,
     {0, 1ull << 40, 0, 0}, 0},
    {"j: MOV CR3, PDPTE 3 not present, reserved bits", MOV_CR3, RWX | WB,
     0x1f, {0, 0, 0, 0x1e6 | (1ull << 45)}, 1},
    {"k: MOV CR0 enabling PAE paging, PDPT page read-only", MOV_CR0,
     MMU_EPT_R | WB, 0x1f, {0}, 0},
    {"l: MOV CR0 enabling PAE paging, PDPT page unmapped", MOV_CR0, PTE_NONE,
     0x1f, {0}, 0},
    {"m: MOV CR0 enabling PAE paging, PDPTE 0 sets bit 5", MOV_CR0, RWX | WB,
     0x1f, {0x20, 0, 0, 0}, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The gpa of case i's PDPT (its 32 bytes at +0x20) and the new CR3. */
static uint64_t pdpt_gpa(size_t i) {
  return (cases[i].pte == PTE_FAR ? FAR_GPA : PDPT_GPA(i)) + 0x20;
}
static uint64_t new_cr3(size_t i) { return pdpt_gpa(i) | cases[i].low; }
/* The EPT entry that maps it: the PTE, or EPT PDPTE 1 for the far gpa. */
static uint64_t ept_entry_of(size_t i) {
  return cases[i].pte == PTE_FAR ? EPT_PDPT + 8
                                 : EPT_PT_CASE + 8 * ((PDPT_GPA(i) >> 12) & 511);
}
/* The four entries case i's PDPT holds. */
static void pdpt_of(size_t i, uint64_t q[4]) {
  const uint64_t base[4] = {GUEST_PD_LOW | 1, GUEST_PD_HIGH | 1, 0, 0};
  for (int k = 0; k < 4; k++)
    q[k] = base[k] | cases[i].rsvd[k];
  if (cases[i].clear_p3)
    q[3] &= ~1ull;
}

/* The guest state at VM entry (and the library's start). */
static void entry_regs(size_t i, mmu_regs *r) {
  memset(r, 0, sizeof *r);
  r->cr4 = MMU_CR4_PAE;
  if (cases[i].op == MOV_CR0) { /* paging off, CR3 already the new one */
    r->cr0 = CR0_FLAT;
    r->cr3 = new_cr3(i);
    return;
  }
  r->cr0 = CR0_PAGING;
  r->cr3 = GUEST_PDPT0;
  r->pdpte[0] = GUEST_PD_LOW | 1; /* GUEST_PDPT0's, as the VMCS's fields */
}

static uint64_t q_at(const uint8_t *v, size_t off) {
  uint64_t q;
  memcpy(&q, v + off, 8);
  return q;
}

int main(int argc, char **argv) {
  int ad = argc > 1 && strcmp(argv[1], "--ad") == 0;
  capture_source *s = &capture_bochs;
  int e = probe_ept_open(s);
  if (e)
    return e;
  /* stubs (32-bit): +0 mov cr3,esi; mov eax,[eax]; vmcall
   *                 +16 mov cr0,esi; mov eax,[eax]; vmcall */
  probe_wr(PROBE_STUB, 0xc1010f008bde220full);
  probe_wr(PROBE_STUB + 16, 0xc1010f008bc6220full);
  /* the guest's PAE tables, mapped to themselves */
  for (uint64_t t = GUEST_PDPT0; t <= GUEST_PD_HIGH; t += 0x1000) {
    probe_zero(t);
    probe_wr(EPT_PT_STUB + 8 * ((t >> 12) & 511), t | RWX | WB);
  }
  probe_wr(GUEST_PDPT0, GUEST_PD_LOW | 1);
  probe_wr(GUEST_PD_LOW + 8 * 2, (PROBE_STUB & ~0x1fffffull) | PDE_2M);
  probe_wr(GUEST_PD_HIGH, DATA_GPA | PDE_2M);
  /* the data page, its marker where READ_LIN lands */
  probe_zero(DATA_HPA);
  probe_wr(DATA_HPA + (READ_LIN & 0xfff), MARKER);
  probe_wr(EPT_PT_CASE + 8 * ((DATA_GPA >> 12) & 511), DATA_HPA | RWX | WB);
  /* each case's PDPT at +0x20 of its page; at +0 entries with a reserved
   * bit, which a load from the wrong 32 bytes would meet (#GP) */
  for (size_t i = 0; i < NCASES; i++) {
    if (cases[i].pte == PTE_NONE || cases[i].pte == PTE_FAR)
      continue;
    uint64_t q[4];
    pdpt_of(i, q);
    probe_zero(PDPT_HPA(i));
    for (int k = 0; k < 4; k++) {
      probe_wr(PDPT_HPA(i) + 8 * (uint64_t)k, GUEST_PD_LOW | 3);
      probe_wr(PDPT_HPA(i) + 0x20 + 8 * (uint64_t)k, q[k]);
    }
    probe_wr(ept_entry_of(i), PDPT_HPA(i) | cases[i].pte);
  }

  uint64_t eptp = PROBE_EPT_ROOT | 6 | (3 << 3) | (ad ? MMU_EPTP_AD : 0);
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    uint64_t peek[3] = {ept_entry_of(i), PDPT_HPA(i) + 0x20, PD_HIGH_EPTE};
    mmu_regs r;
    entry_regs(i, &r);
    probe_guest_run g = {C_VMX, i * VR_SIZE, PROBE_VMXON, PROBE_VMCS, eptp,
                         PROBE_STUB + 16 * (uint64_t)c->op,
                         c->op == MOV_CR0 ? CR0_PAGING : new_cr3(i),
                         READ_LIN, peek, 3, r.cr0, r.cr3, r.cr4, r.efer,
                         {r.pdpte[0], r.pdpte[1], r.pdpte[2], r.pdpte[3]}};
    probe_guest(&g);
    probe_cmd(0); /* VX_NPEEK: no list */
  }

  static uint8_t res[NCASES * VR_SIZE];
  uint64_t panic[4] = {0};
  size_t ncmd;
  const uint64_t *cmd = probe_cmds(&ncmd);
  int rc = bochs_cap_run_commands(s, cmd, ncmd, sizeof res, res, panic);
  if ((e = probe_ran(s, rc, bochs_cap_last_error(s), panic)) != 0)
    return e;

  mmu_cpu *cpu = probe_ept_library(eptp);
  if (!cpu)
    return 2;
  int bad = 0;
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    const uint8_t *v = res + i * VR_SIZE;
#define Q(off) q_at(v, (off))
    uint64_t stub = PROBE_STUB + 16 * (uint64_t)c->op;
    printf("%s (new %s %#" PRIx64 ")\n", c->name,
           c->op == MOV_CR0 ? "CR0" : "CR3",
           c->op == MOV_CR0 ? CR0_PAGING : new_cr3(i));
    probe_vmx_print(v);
    if (Q(VR_STATUS) == 2)
      printf("         guest cr0 %#" PRIx64 " cr3 %#" PRIx64 " pdptes %#" PRIx64
             " %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
             Q(VR_GCR0), Q(VR_GCR3), Q(VR_GPDPTE), Q(VR_GPDPTE + 8),
             Q(VR_GPDPTE + 16), Q(VR_GPDPTE + 24));

    /* the library: the guest as VM entry leaves it, then the MOV */
    mmu_regs r;
    entry_regs(i, &r);
    int st = mmu_load_regs(cpu, &r);
    if (st == MMU_OK)
      st = c->op == MOV_CR0 ? mmu_write_cr0(cpu, CR0_PAGING)
                           : mmu_write_cr3(cpu, new_cr3(i));
    mmu_result mr;
    memset(&mr, 0, sizeof mr);
    uint32_t got = 0;
    int rst = MMU_OK;
    if (st == MMU_OK) { /* the read through the PDPTEs it loaded */
      rst = mmu_translate(cpu, READ_LIN, MMU_READ, &mr);
      if (rst == MMU_OK)
        memcpy(&got, probe_model + mr.paddr, 4);
    } else if (st == MMU_EPT_VIOLATION || st == MMU_EPT_MISCONFIG) {
      (void)mmu_cr_exit(cpu, &mr);
    }
    const mmu_regs *now = &cpu->regs;
    printf("  mmu:   %s", mmu_status_name(st));
    if (st == MMU_OK)
      printf(", the read: %s paddr %#" PRIx64 " holds %#x",
             mmu_status_name(rst), mr.paddr, got);
    else if (st == MMU_EPT_VIOLATION || st == MMU_EPT_MISCONFIG)
      printf(" gpa %#" PRIx64 " qual %#" PRIx64, mr.gpa, mr.exit_qual);
    printf("\n         cr0 %#" PRIx64 " cr3 %#" PRIx64 " pdptes %#" PRIx64
           " %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
           now->cr0, now->cr3, now->pdpte[0], now->pdpte[1], now->pdpte[2],
           now->pdpte[3]);

    int agree = Q(VR_STATUS) == 2;
    uint64_t reason = Q(VR_REASON) & 0xffff;
    /* the guest's CR3 and paging as the library leaves them: the new
     * ones after a load, unchanged after an exit or #GP */
    agree &= Q(VR_GCR3) == now->cr3 &&
             (Q(VR_GCR0) & MMU_CR0_PG) == (now->cr0 & MMU_CR0_PG);
    /* the PDPTE registers (saved to the VMCS at the exit under PAE
     * paging): the loaded ones, or those VM entry loaded */
    if (now->cr0 & MMU_CR0_PG)
      for (int k = 0; k < 4; k++)
        agree &= Q(VR_GPDPTE + 8 * k) == now->pdpte[k];
    if (st == MMU_OK) {
      /* VMCALL after the read, which found the marker through the new
       * PDPTEs where the library says */
      agree &= reason == 18 && rst == MMU_OK && got == MARKER &&
               (uint32_t)Q(VR_GRAX) == MARKER;
    } else {
      agree &= Q(VR_GRIP) == stub; /* at the MOV */
      if (st == MMU_EPT_VIOLATION)
        agree &= reason == 48 && Q(VR_GPA) == mr.gpa &&
                 (Q(VR_QUAL) & 0x1bf) == (mr.exit_qual & 0x1bf);
      else if (st == MMU_EPT_MISCONFIG)
        agree &= reason == 49 && Q(VR_GPA) == mr.gpa;
      else if (st == MMU_GP_FAULT) /* #GP(0): hardware exception 13 */
        agree &= reason == 0 && (Q(VR_INTINFO) & 0x80000fffull) ==
                                    0x80000b0dull && Q(VR_ERRC) == 0;
      else
        agree = 0;
    }
    /* the EPT entry of the PDPT (A, not D, with --ad), the PDPT's first
     * entry (no A flag in a PDPTE; none where no PDPT is mapped), EPT's
     * entry for the guest PD the read walked (A and D with --ad) */
    uint64_t after[3], at[3] = {ept_entry_of(i), PDPT_HPA(i) + 0x20,
                              PD_HIGH_EPTE};
    memcpy(after, v + VR_PEEK, sizeof after);
    int nat = 3;
    if (c->pte == PTE_FAR || c->pte == PTE_NONE) {
      at[1] = at[2], after[1] = after[2];
      nat = 2;
    }
    agree &= probe_entries("bochs", at, after, nat);
    printf("  %s\n", agree ? "AGREE" : "DIFFER");
    bad += !agree;
  }
  return probe_finish(s, NCASES, bad, 0);
}
