/* SPDX-License-Identifier: MIT */
/* svm_npt_probe.c - AMD nested paging against QEMU (ctest
 * conformance_qemu_npt): runs one guest access per case under SVM with
 * NP_ENABLE (C_SVM, qguest/svm.inc) and compares the #VMEXIT with the
 * library (mmu_set_nested NPT on the same tables; mmu_nested_translate
 * with the guest's paging off, mmu_translate with it on).
 *
 *   svm_npt_probe [--source qemu|bochs]
 *
 * exit status: 0 every case agrees (or is a known departure, marked),
 * 1 some differ, 2 error, 77 the source is absent.
 *
 * Guest RAM (host-physical to the library): the host save area and VMCB
 * at 4 MiB, the nested tables from 0x410000 (4-level, the host's NXE on),
 * the guest's stubs at gpa 0x500000 and its 32-bit tables at 0x510000
 * (mapped to themselves), the cases' pages at gpa 0x600000.. (to hpa
 * 0x700000..), a 2 MiB nested page at gpa 8 MiB (to hpa 12 MiB). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/mmu.h"
#include "bochs.h"
#include "probe.h"
#include "qemu.h"
#include "qguest/qlayout.h"

#define RAM_SIZE (64ull << 20)
#define MAXPHY 40 /* QEMU's phys-bits here; Bochs's build has 40 too */
#define HSAVE_PA 0x400000ull
#define VMCB_PA 0x401000ull
#define NPT_PML4 0x410000ull
#define NPT_PDPT PROBE_PDPT(NPT_PML4)
#define NPT_PD PROBE_PD(NPT_PML4)
#define NPT_PT_STUB PROBE_PT_STUB(NPT_PML4) /* gpa [4, 6) MiB: PD[2] */
#define NPT_PT_CASE PROBE_PT_CASE(NPT_PML4) /* gpa [6, 8) MiB: PD[3] */
#define BIG_GPA 0x800000ull     /* PD index 4: a 2 MiB page */
#define BIG_HPA 0xc00000ull
#define STUB_GPA 0x500000ull
/* the guest's 32-bit paging: PD; PT1 maps the stubs (linear 0x500000),
 * PT2 linear 8 MiB, PT3 12 MiB (not in the nested tables), PT4 16 MiB
 * (read-only in them) */
#define GUEST_PD 0x510000ull
#define GUEST_PT1 0x511000ull
#define GUEST_PT2 0x512000ull
#define GUEST_PT3 0x513000ull
#define GUEST_PT4 0x514000ull
#define NP 1ull
#define NW 2ull
#define NU 4ull
#define NA 0x20ull
#define ND 0x40ull
#define NPS 0x80ull
#define NXD (1ull << 63)
#define PWU (NP | NW | NU)

enum { K_READ = 0, K_WRITE = 1, K_FETCH = 2 };

typedef struct probe_case {
  const char *name;
  uint64_t gpa;  /* the access's final gpa */
  int kind;
  uint64_t npte; /* nested PTE of gpa's page (0: none; unused for BIG_GPA) */
  uint64_t lin;  /* guest paging on (CR3 GUEST_PD): the linear address */
                 /* (0: paging off, linear = gpa) */
  uint64_t gentry; /* with lin: the deepest guest entry the walk reads */
} probe_case;

#define HPA(i) (0x700000ull + 0x1000ull * (i))
#define CGPA(i) (0x600120ull + 0x1000ull * (i))
static const probe_case cases[] = {
    {"a: mapped, read", CGPA(0), K_READ, HPA(0) | PWU, 0, 0},
    {"b: mapped, write", CGPA(1), K_WRITE, HPA(1) | PWU, 0, 0},
    {"c: mapped, fetch", CGPA(2), K_FETCH, HPA(2) | PWU, 0, 0},
    {"d: nested PTE not present, read", CGPA(3), K_READ, 0, 0, 0},
    {"e: nested PDPTE not present, read", 0x40000120, K_READ, 0, 0, 0},
    {"f: read-only nested page, write", CGPA(5), K_WRITE, HPA(5) | NP | NU,
     0, 0},
    {"g: NX nested page, fetch", CGPA(6), K_FETCH, HPA(6) | PWU | NXD, 0, 0},
    {"h: supervisor (U=0) nested page, read", CGPA(7), K_READ,
     HPA(7) | NP | NW, 0, 0},
    {"i: reserved bit 45 in the nested PTE, read", CGPA(8), K_READ,
     HPA(8) | PWU | (1ull << 45), 0, 0},
    {"j: 2 MiB nested page, read", BIG_GPA + 0x12340, K_READ, 0, 0, 0},
    /* guest paging on: its table reads go through the nested tables too */
    {"k: guest paging, mapped, read", CGPA(10), K_READ, HPA(10) | PWU,
     0x800120, GUEST_PT2},
    {"l: guest paging, its PT not in the nested tables, read", CGPA(11),
     K_READ, HPA(11) | PWU, 0xc00120, GUEST_PD + 4 * 3},
    {"m: guest paging, final gpa not mapped, read", CGPA(12), K_READ, 0,
     0x801120, GUEST_PT2 + 4},
    {"n: guest paging, its PT read-only in the nested tables, read",
     CGPA(13), K_READ, HPA(13) | PWU, 0x1000120, GUEST_PD + 4 * 4},
    {"o: guest paging, mapped, write", CGPA(14), K_WRITE, HPA(14) | PWU,
     0x802120, GUEST_PT2 + 8},
};
#define NCASES (sizeof cases / sizeof cases[0])
#define CASE_TABLE 11 /* l */
#define CASE_FINAL 12 /* m */
/* the quad where case c's access lands */
#define MARKER(i) (0x1122334455660000ull | (uint64_t)(i))

static void wr32(uint64_t gpa, uint32_t v) { /* a guest 32-bit entry */
  uint64_t q;
  memcpy(&q, probe_model + (gpa & ~7ull), 8);
  int sh = (int)(gpa & 4) * 8;
  q = (q & ~(0xffffffffull << sh)) | ((uint64_t)v << sh);
  probe_wr(gpa & ~7ull, q);
}

static int big(const probe_case *c) {
  return c->gpa >= BIG_GPA && c->gpa < BIG_GPA + (2u << 20);
}

/* The quads read back after case c's exit: 0 where the access lands (the
 * stub page for none), 1 the nested leaf of its gpa (PTE, the 2 MiB PDE,
 * or the PDPTE for gpa 1 GiB), 2 the nested PDE, 3 the nested PDPTE, 4
 * the guest entry (paging on; else the nested PML4E), 5 the nested PTE of
 * the guest's table (paging on) or of the stub page. */
static uint64_t peek_of(const probe_case *c, int k) {
  uint64_t g = c->gpa;
  switch (k) {
  case 0:
    if (big(c))
      return BIG_HPA + (g & 0x1ffff8);
    return c->npte ? ((c->npte & 0xfffff000ull) | (g & 0xff8)) : STUB_GPA;
  case 1:
    if (g >= (1ull << 30))
      return NPT_PDPT + 8;
    return big(c) ? NPT_PD + 8 * 4 : NPT_PT_CASE + 8 * ((g >> 12) & 511);
  case 2:
    return NPT_PD + 8 * ((big(c) || g >= (1ull << 30)) ? 3 : (g >> 21) & 511);
  case 3:
    return NPT_PDPT;
  case 4:
    return c->lin ? c->gentry & ~7ull : NPT_PML4;
  default:
    return NPT_PT_STUB + 8 * (((c->lin ? c->gentry : STUB_GPA) >> 12) & 511);
  }
}

static const char *exit_name(uint64_t e) {
  switch (e) {
  case 0x4e: return "#PF";
  case 0x78: return "HLT";
  case 0x7f: return "shutdown";
  case 0x81: return "VMMCALL";
  case 0x400: return "NPF";
  case (uint64_t)-1: return "VMRUN failed (invalid state)";
  default: return e >= 0x40 && e < 0x60 ? "exception" : "?";
  }
}

/* A known departure of QEMU 7.2 from the APM: QEMU's outcome q (EXITINFO1)
 * against the library's l. The reason, or NULL. */
static const char *departure(uint64_t q_exit, uint64_t q_info1, int st,
                             uint64_t l_info1) {
  /* excp_helper.c mmu_translate: do_fault_rsvd builds the error code
   * without P (the source's rsvd-without-p departure, SPEC 8.5); APM 2
   * 8.4.2: RSVD faults come from present entries, P = 1 */
  if (q_exit == 0x400 && st == MMU_NPF && (l_info1 & 9) == 9 &&
      q_info1 == (l_info1 & ~1ull))
    return "rsvd-without-p: QEMU's reserved-bit fault drops P (APM 2 8.4.2: "
           "P = 1)";
  return NULL;
}

int main(int argc, char **argv) {
  const char *src = "qemu";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--source") && i + 1 < argc)
      src = argv[++i];
    else {
      fprintf(stderr, "usage: svm_npt_probe [--source qemu|bochs]\n");
      return 2;
    }
  }
  int bochs = !strcmp(src, "bochs");
  if (!bochs && strcmp(src, "qemu")) {
    fprintf(stderr, "svm_npt_probe: unknown source %s\n", src);
    return 2;
  }
  if (bochs) /* an AMD model with SVM and nested paging */
    setenv("BOCHS_CPU_MODEL", "ryzen", 0);
  capture_source *s = bochs ? &capture_bochs : &capture_qemu;
  int e = probe_open(s, RAM_SIZE);
  if (e)
    return e;

  /* nested tables: PML4[0] -> PDPT; PDPT[0] -> PD; PD[2] -> the stubs'
   * PT, PD[3] -> the cases' PT, PD[4] a 2 MiB page; PDPT[1] stays 0 */
  probe_zero(HSAVE_PA);
  probe_zero(VMCB_PA);
  probe_nested_base(NPT_PML4, PWU, STUB_GPA, PWU);
  probe_wr(NPT_PD + 8 * 4, BIG_HPA | PWU | NPS);
  probe_wr(NPT_PT_STUB + 8 * ((STUB_GPA >> 12) & 511), STUB_GPA | PWU);
  /* stubs (32-bit): +0 mov eax,[esi]; vmmcall  +16 mov [esi],eax; vmmcall
   * +32 jmp esi */
  probe_wr(STUB_GPA, 0x0000d9010f068bull);
  probe_wr(STUB_GPA + 16, 0x0000d9010f0689ull);
  probe_wr(STUB_GPA + 32, 0x000000000000e6ffull);
  /* guest tables (4-byte entries, P|W): PDE 1..4 -> PT1..4; linear
   * 0x500000 -> the stubs; PT2[0..2], PT3[0], PT4[0] -> the cases' gpas */
  uint64_t gt[] = {GUEST_PD, GUEST_PT1, GUEST_PT2, GUEST_PT3, GUEST_PT4};
  for (size_t i = 0; i < 5; i++)
    probe_zero(gt[i]);
  for (uint32_t i = 1; i <= 4; i++)
    wr32(GUEST_PD + 4 * i, (uint32_t)gt[i] | 3);
  wr32(GUEST_PT1 + 4 * 0x100, (uint32_t)STUB_GPA | 3);
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    if (c->lin) {
      uint64_t pt = (c->lin >> 22) == 3 ? GUEST_PT3
                    : (c->lin >> 22) == 4 ? GUEST_PT4 : GUEST_PT2;
      wr32(pt + 4 * ((c->lin >> 12) & 1023),
           (uint32_t)(c->gpa & ~0xfffull) | 3);
    }
  }
  /* the guest's tables in the nested tables: PT3 not, PT4 read-only */
  for (size_t i = 0; i < 5; i++)
    if (gt[i] != GUEST_PT3)
      probe_wr(NPT_PT_STUB + 8 * ((gt[i] >> 12) & 511),
         gt[i] | (gt[i] == GUEST_PT4 ? NP | NU : PWU));
  probe_zero(BIG_HPA);
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    if (!c->npte && !big(c))
      continue;
    uint64_t land = peek_of(c, 0);
    if (!big(c)) {
      probe_zero(land & ~0xfffull);
      probe_wr(NPT_PT_CASE + 8 * ((c->gpa >> 12) & 511), c->npte);
    }
    /* the marker where the access lands; a fetch finds VMMCALL there */
    probe_wr(land, c->kind == K_FETCH ? 0xd9010full : MARKER(i));
  }
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    uint64_t peek[VS_NPEEK];
    for (int k = 0; k < VS_NPEEK; k++)
      peek[k] = peek_of(c, k);
    probe_guest_run g = {C_SVM, i * SR_SIZE, HSAVE_PA, VMCB_PA, NPT_PML4,
                         STUB_GPA + 16 * (uint64_t)c->kind,
                         c->lin ? c->lin : c->gpa,
                         0xabcdef01, /* what a write stores */
                         peek, VS_NPEEK,
                         c->lin ? 0x80000011 : 0, /* PG ET PE */
                         c->lin ? GUEST_PD : 0, 0, 0, {0}}; /* no PAE */
    probe_guest(&g);
    probe_cmd(0); /* VS_NLIST: no list */
  }
  _Static_assert(VS_NLIST == 8 * (8 + VS_NPEEK + 3 + 1) && VS_LEN == VS_NLIST + 8 &&
                     VS_CR0 == VS_PEEK + 8 * VS_NPEEK,
                 "C_SVM's operands");

  static uint8_t res[NCASES * SR_SIZE];
  uint64_t panic[4] = {0};
  size_t ncmd;
  const uint64_t *cmd = probe_cmds(&ncmd);
  int r = bochs
              ? bochs_cap_run_commands(s, cmd, ncmd, sizeof res, res, panic)
              : qemu_cap_run_commands(s, MAXPHY, cmd, ncmd, sizeof res, res,
                                      panic);
  if ((e = probe_ran(s, r,
                     bochs ? bochs_cap_last_error(s) : qemu_cap_last_error(s),
                     panic)) != 0)
    return e;

  /* the library on the same tables, with the source's flags (QEMU: A in
   * the upper entries of a walk that faults) */
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_NPT;
  n.flags = MMU_NESTED_NXE; /* svm.inc sets the host's EFER.NXE */
  n.root = NPT_PML4;
  n.tag = 1;
  mmu_cpu *cpu = probe_library(MAXPHY, s->cpu_flags, &n);
  if (!cpu)
    return 2;
  static const unsigned acc[] = {MMU_READ, MMU_WRITE, MMU_FETCH};
  static const char *const kind_name[] = {"read", "write", "fetch"};
  int bad = 0, departs = 0;
  for (size_t i = 0; i < NCASES; i++) {
    const probe_case *c = &cases[i];
    const uint8_t *v = res + i * SR_SIZE;
#define Q(off) (*(const uint64_t *)(v + (off)))
    printf("%s (%s, gpa %#" PRIx64, c->name, kind_name[c->kind], c->gpa);
    if (c->lin)
      printf(", linear %#" PRIx64, c->lin);
    printf(")\n  %s: status %" PRIu64 " stage %" PRIu64, src, Q(SR_STATUS),
           Q(SR_STAGE));
    if (Q(SR_STATUS) == 2)
      printf(" exit %#" PRIx64 " (%s) info1 %#" PRIx64 " info2 %#" PRIx64
             " intinfo %#" PRIx64 " guest rip %#" PRIx64 " rax %#" PRIx64,
             Q(SR_EXITCODE), exit_name(Q(SR_EXITCODE)), Q(SR_INFO1),
             Q(SR_INFO2), Q(SR_INTINFO), Q(SR_GRIP), Q(SR_GRAX));
    else if (Q(SR_STATUS) == 4)
      printf(" host exception %" PRIu64 " code %#" PRIx64, Q(SR_EXC),
             Q(SR_EXCEC));
    printf(" (host efer %#" PRIx64 ")\n", Q(SR_EFER));

    /* the library: VMRUN flushes (TLB_CONTROL), the guest's registers,
     * its fetch of the stub, then the access */
    mmu_flush_tlb(cpu);
    mmu_regs g;
    memset(&g, 0, sizeof g);
    g.cr0 = c->lin ? 0x80000011 : 0x11;
    g.cr3 = c->lin ? GUEST_PD : 0;
    if ((e = mmu_load_regs(cpu, &g)) != MMU_OK) {
      fprintf(stderr, "mmu_load_regs: %s\n", mmu_status_name(e));
      return 2;
    }
    mmu_result mr;
    memset(&mr, 0, sizeof mr);
    uint64_t stub = STUB_GPA + 16 * (uint64_t)c->kind;
    int st = c->lin ? mmu_translate(cpu, stub, MMU_FETCH, &mr)
                    : mmu_nested_translate(cpu, stub, MMU_FETCH, &mr);
    if (st != MMU_OK)
      printf("  mmu: the stub's fetch: %s\n", mmu_status_name(st));
    if (st == MMU_OK) {
      memset(&mr, 0, sizeof mr);
      st = c->lin ? mmu_translate(cpu, c->lin, acc[c->kind], &mr)
                  : mmu_nested_translate(cpu, c->gpa, acc[c->kind], &mr);
    }
    printf("  mmu:  %s", mmu_status_name(st));
    if (st == MMU_OK)
      printf(" paddr %#" PRIx64, mr.paddr);
    else if (st == MMU_NPF)
      printf(" info1 %#" PRIx64 " info2 %#" PRIx64, mr.exit_qual, mr.gpa);
    else if (st == MMU_PAGE_FAULT)
      printf(" error code %#x cr2 %#" PRIx64, mr.error_code, mr.cr2);
    printf("\n");
    int agree = 0;
    const char *why = NULL;
    if (Q(SR_STATUS) == 2) {
      uint64_t ex = Q(SR_EXITCODE);
      if (ex == 0x81 && st == MMU_OK) {
        if (c->kind == K_READ) /* it read the marker the library points at */
          agree = (uint32_t)Q(SR_GRAX) == (uint32_t)MARKER(i) &&
                  *(const uint32_t *)(probe_model + mr.paddr) ==
                      (uint32_t)MARKER(i);
        else if (c->kind == K_WRITE) /* it landed where the library says */
          agree = (uint32_t)Q(SR_PEEK) == 0xabcdef01 &&
                  (mr.paddr & ~7ull) == peek_of(c, 0);
        else /* VMMCALL ran at the target */
          agree = Q(SR_GRIP) == (c->lin ? c->lin : c->gpa) &&
                  (mr.paddr & ~7ull) == peek_of(c, 0);
      } else if (ex == 0x400 && st == MMU_NPF) {
        agree = Q(SR_INFO1) == mr.exit_qual && Q(SR_INFO2) == mr.gpa;
        if (!agree && Q(SR_INFO2) == mr.gpa &&
            (why = departure(ex, Q(SR_INFO1), st, mr.exit_qual)) != NULL)
          agree = 2;
      } else if (ex == 0x4e && st == MMU_PAGE_FAULT) {
        agree = Q(SR_INFO1) == mr.error_code && Q(SR_INFO2) == mr.cr2;
      }
    }
    /* the entries after the exit: nested A/D, the guest's A/D */
    uint64_t at[VS_NPEEK - 1];
    for (int k = 1; k < VS_NPEEK; k++)
      at[k - 1] = peek_of(c, k);
    if (!probe_entries(src, at, (const uint64_t *)(v + SR_PEEK + 8),
                       VS_NPEEK - 1))
      agree = 0;
    if (agree == 2) {
      printf("  departure (known): %s\n", why);
      departs++;
    } else {
      printf("  %s\n", agree ? "AGREE" : "DIFFER");
      bad += !agree;
    }
  }
  /* SPEC 10.4's two questions as the source answers them: case l (a
   * guest table not mapped) and m (the final gpa not mapped) */
  const uint8_t *vl = res + CASE_TABLE * SR_SIZE;
  const uint8_t *vm = res + CASE_FINAL * SR_SIZE;
  uint64_t gpte = *(const uint64_t *)(vm + SR_PEEK + 8 * 4) >>
                  (8 * (cases[CASE_FINAL].gentry & 4));
  printf("%s: a guest table read exits with EXITINFO1 %#" PRIx64
         " (W %s); the guest's PTE has A %s after the final gpa's #NPF\n",
         src, *(const uint64_t *)(vl + SR_INFO1),
         (*(const uint64_t *)(vl + SR_INFO1) & 2) ? "set" : "clear",
         (gpte & NA) ? "set" : "clear");
  return probe_finish(s, NCASES, bad, departs);
}
