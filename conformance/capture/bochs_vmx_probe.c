/* SPDX-License-Identifier: MIT */
/* bochs_vmx_probe.c - EPT against Bochs (ctest conformance_bochs_ept): runs one
 * guest access under EPT per case in Bochs's VMX (C_VMX, bguest/vmx.inc)
 * and compares the VM exit with mmu_nested_translate on the same tables.
 *
 *   bochs_vmx_probe [--ad]      exit status 0: every case agrees
 *
 * Guest RAM (host-physical to the library): the VMXON region and VMCS at
 * 4 MiB, EPT tables from 0x410000, the guest's stubs at gpa 0x500000
 * (mapped to itself), the cases' pages at gpa 0x600000.. (to hpa
 * 0x700000..). The guest is 32-bit protected mode with paging off, so its
 * linear address is the gpa. */
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
#define EPT_PD PROBE_PD(PROBE_EPT_ROOT)
#define EPT_PT_STUB PROBE_PT_STUB(PROBE_EPT_ROOT) /* gpa [4, 6) MiB: PD[2] */
#define EPT_PT_CASE PROBE_PT_CASE(PROBE_EPT_ROOT) /* gpa [6, 8) MiB: PD[3] */
/* the guest's 32-bit paging: PD, PTs for linear 4, 8 and 12 MiB; EPT maps
 * all but GUEST_PT3 */
#define GUEST_PD 0x510000ull
#define GUEST_PT1 0x511000ull
#define GUEST_PT2 0x512000ull
#define GUEST_PT3 0x513000ull
#define RWX 7ull
#define WB (6ull << 3)

enum { K_READ = 0, K_WRITE = 1, K_FETCH = 2 };

typedef struct probe_case {
  const char *name;
  uint64_t gpa;  /* the access */
  int kind;
  uint64_t pte;  /* EPT PTE of gpa's page (0: none) */
  uint64_t lin;  /* guest paging on (32-bit, CR3 GUEST_PD): the guest's */
                 /* linear address (0: paging off, linear = gpa) */
  uint64_t table_gpa; /* with lin: the gpa of the guest table entry EPT */
                      /* does not map, if any */
} probe_case;

#define HPA(i) (0x700000ull + 0x1000ull * (i))
static const probe_case cases[] = {
    {"a: RWX page, read", 0x600120, K_READ, HPA(0) | RWX | WB, 0, 0},
    {"b: unmapped gpa (PTE 0), read", 0x601120, K_READ, 0, 0, 0},
    {"b2: unmapped gpa (PDPTE 0), read", 0x40000120, K_READ, 0, 0, 0},
    {"c: write-only PTE, read", 0x602120, K_READ, HPA(2) | 2 | WB, 0, 0},
    {"d: read-only PTE, write", 0x603120, K_WRITE, HPA(3) | 1 | WB, 0, 0},
    {"e: RW PTE, fetch", 0x604120, K_FETCH, HPA(4) | 3 | WB, 0, 0},
    {"f: execute-only PTE, read", 0x605120, K_READ, HPA(5) | 4 | WB, 0, 0},
    {"g: RWX page, write", 0x606120, K_WRITE, HPA(6) | RWX | WB, 0, 0},
    {"h: PTE memory type 2, read", 0x607120, K_READ, HPA(7) | RWX | (2 << 3),
     0, 0},
    /* guest paging on: its table reads go through EPT too */
    {"i: guest paging, RWX page, read", 0x608120, K_READ, HPA(8) | RWX | WB,
     0x800120, 0},
    {"j: guest paging, its PT not in EPT, read", 0x608120, K_READ,
     HPA(8) | RWX | WB, 0xc00120, GUEST_PT3},
};
#define NCASES (sizeof cases / sizeof cases[0])
/* the quad where case c's access lands: its page's number */
#define MARKER(c) (0x1122334455660000ull | (((c)->pte >> 12) & 0xfff))

/* What the guest reads back after case c's exit: 0 where the access
 * lands (the case's hpa; the stub page for none), 1 the EPT entry that
 * maps it (PTE, or the PDPTE for gpa 1 GiB), 2 the PML4E. */
static uint64_t peek_of(const probe_case *c, int k) {
  if (k == 0)
    return c->pte ? ((c->pte & 0xfffff000ull) | (c->gpa & 0xff8)) : PROBE_STUB;
  if (k == 1)
    return c->gpa >= (1ull << 30) ? EPT_PDPT + 8
                                  : EPT_PT_CASE + 8 * ((c->gpa >> 12) & 511);
  return PROBE_EPT_ROOT;
}

int main(int argc, char **argv) {
  int ad = argc > 1 && strcmp(argv[1], "--ad") == 0;
  capture_source *s = &capture_bochs;
  /* EPT: PML4[0] -> PDPT; PDPT[0] -> PD; PD[2] -> stubs' PT, PD[3] ->
   * the cases' PT; PDPT[1] (gpa 1 GiB) stays 0 */
  int e = probe_ept_open(s);
  if (e)
    return e;
  /* stubs (32-bit): +0 mov eax,[esi]; vmcall  +16 mov [esi],eax; vmcall
   * +32 jmp esi */
  probe_wr(PROBE_STUB, 0x0000c1010f068bull);
  probe_wr(PROBE_STUB + 16, 0x0000c1010f0689ull);
  probe_wr(PROBE_STUB + 32, 0x000000000000e6ffull);
  /* guest tables (4-byte entries, P|W): PDE 1..3 -> PT1..3; linear
   * 0x500000 -> the stubs, 8 and 12 MiB -> gpa 0x608000 */
  probe_zero(GUEST_PD);
  probe_zero(GUEST_PT1);
  probe_zero(GUEST_PT2);
  probe_zero(GUEST_PT3);
  probe_wr(GUEST_PD, (GUEST_PT1 | 3) << 32);
  probe_wr(GUEST_PD + 8, (GUEST_PT2 | 3) | (GUEST_PT3 | 3) << 32);
  probe_wr(GUEST_PT1 + 4 * 0x100, PROBE_STUB | 3);
  probe_wr(GUEST_PT2, 0x608000 | 3);
  probe_wr(GUEST_PT3, 0x608000 | 3);
  for (uint64_t t = GUEST_PD; t < GUEST_PT3; t += 0x1000)
    probe_wr(EPT_PT_STUB + 8 * ((t >> 12) & 511), t | RWX | WB);
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    if (!c->pte)
      continue;
    uint64_t hpa = c->pte & 0xfffff000ull;
    probe_zero(hpa);
    /* the marker where the access lands; a fetch finds VMCALL there */
    uint64_t m = c->kind == K_FETCH ? 0xc1010f : MARKER(c);
    probe_wr(hpa + (c->gpa & 0xfff), m);
    probe_wr(EPT_PT_CASE + 8 * ((c->gpa >> 12) & 511), c->pte);
  }
  uint64_t eptp = PROBE_EPT_ROOT | 6 | (3 << 3) | (ad ? 1 << 6 : 0);
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    uint64_t peek[3];
    for (int k = 0; k < 3; k++)
      peek[k] = peek_of(c, k);
    probe_guest_run g = {C_VMX, i * VR_SIZE, PROBE_VMXON, PROBE_VMCS, eptp,
                         PROBE_STUB + 16 * (uint64_t)c->kind,
                         c->lin ? c->lin : c->gpa,
                         0xabcdef01, /* what a write stores */
                         peek, 3,
                         c->lin ? 0x80000031 : 0, /* PG NE ET PE */
                         c->lin ? GUEST_PD : 0, 0, 0, {0}}; /* no PAE */
    probe_guest(&g);
    probe_cmd(0); /* VX_NPEEK: no list */
  }

  _Static_assert(VX_NPEEK == 8 * (8 + 3 + 3 + 1 + 4) && VX_CR0 == 64 + 8 * 3 &&
                     VX_SIZE == VX_NPEEK + 8,
                 "C_VMX's operands");
  static uint8_t res[NCASES * VR_SIZE];
  uint64_t panic[4] = {0};
  size_t ncmd;
  const uint64_t *cmd = probe_cmds(&ncmd);
  int r = bochs_cap_run_commands(s, cmd, ncmd, sizeof res, res, panic);
  if ((e = probe_ran(s, r, bochs_cap_last_error(s), panic)) != 0)
    return e;

  /* the library on the same tables */
  mmu_cpu *cpu = probe_ept_library(eptp);
  if (!cpu)
    return 2;
  static const unsigned acc[] = {MMU_READ, MMU_WRITE, MMU_FETCH};
  int bad = 0;
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    const uint8_t *v = res + i * VR_SIZE;
#define Q(off) (*(const uint64_t *)(v + (off)))
    printf("%s (gpa %#" PRIx64 ")\n", c->name, c->gpa);
    probe_vmx_print(v);
    /* the library: the guest's fetch of its stub, then the access */
    mmu_result mr;
    memset(&mr, 0, sizeof mr);
    int st = mmu_nested_translate(cpu, PROBE_STUB + 16 * (uint64_t)c->kind,
                                  MMU_FETCH, &mr);
    if (st != MMU_OK)
      printf("  mmu: the stub's fetch: %s\n", mmu_status_name(st));
    memset(&mr, 0, sizeof mr);
    /* paging on: the guest's table reads first (the library has no 2D
     * walk yet: its PDE and PTE gpas by hand) */
    uint64_t walk[2] = {GUEST_PD + 4 * (c->lin >> 22),
                        GUEST_PD + 0x1000 * (c->lin >> 22) +
                            4 * ((c->lin >> 12) & 1023)};
    /* SDM 3C 29.3.3.2: with EPT A/D on, the guest's table accesses are
     * writes to EPT */
    for (int k = 0; c->lin && k < 2 && st == MMU_OK; k++) {
      memset(&mr, 0, sizeof mr);
      st = mmu_nested_translate(cpu, walk[k], ad ? MMU_WRITE : MMU_READ, &mr);
    }
    if (st == MMU_OK) {
      memset(&mr, 0, sizeof mr);
      st = mmu_nested_translate(cpu, c->gpa, acc[c->kind], &mr);
    }
    printf("  mmu:   %s paddr %#" PRIx64 " gpa %#" PRIx64 " qual %#" PRIx64
           "\n",
           mmu_status_name(st), mr.paddr, mr.gpa, mr.exit_qual);
    int agree = 0;
    if (Q(VR_STATUS) == 2) {
      uint64_t reason = Q(VR_REASON);
      if (reason == 18 && st == MMU_OK) {
        /* a read: the 32 bits it read are the marker where the library
         * says the access lands */
        if (c->kind == K_READ)
          agree = (uint32_t)Q(VR_GRAX) == (uint32_t)MARKER(c) &&
                  *(const uint32_t *)(probe_model + mr.paddr) ==
                      (uint32_t)MARKER(c);
        else if (c->kind == K_WRITE) /* it landed where the library says */
          agree = (uint32_t)Q(VR_PEEK) == 0xabcdef01 &&
                  (mr.paddr & ~7ull) == peek_of(c, 0);
        else
          agree = 1;
      } else if (reason == 48 && st == MMU_EPT_VIOLATION) {
        /* bits 7-8 (the guest walk's, not the library's yet): a linear
         * address, and its final translation unless a table's */
        uint64_t b78 = c->table_gpa ? 0x80 : 0x180;
        agree = (Q(VR_QUAL) & 0x3f) == (mr.exit_qual & 0x3f) &&
                (Q(VR_QUAL) & 0x180) == b78 &&
                Q(VR_GLA) == (c->lin ? c->lin : c->gpa) && Q(VR_GPA) == mr.gpa;
      } else if (reason == 49 && st == MMU_EPT_MISCONFIG) {
        agree = Q(VR_GPA) == mr.gpa;
      }
    }
    /* the EPT entries after the exit (A/D with --ad) */
    uint64_t at[2] = {peek_of(c, 1), peek_of(c, 2)};
    agree &= probe_entries("bochs", at, (const uint64_t *)(v + VR_PEEK + 8),
                           2);
    printf("  %s\n", agree ? "AGREE" : "DIFFER");
    bad += !agree;
  }
  return probe_finish(s, NCASES, bad, 0);
}
