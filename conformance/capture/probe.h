/* SPDX-License-Identifier: MIT */
/* probe.h - what the nested-paging probes share (bochs_vmx_probe.c for
 * EPT, svm_npt_probe.c for NPT): a command list for the harness built
 * alongside the library's copy of the same RAM, the source opened as the
 * ctests want it (exit 77 when absent), the library on that RAM, and the
 * entries read back after each case. One probe per process. */
#ifndef CAPTURE_PROBE_H_INCLUDED
#define CAPTURE_PROBE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "../../include/mmu.h"
#include "source.h"

#define PROBE_MODEL_RAM (16ull << 20) /* what the library sees, from 0 */

extern uint8_t *probe_model; /* the library's RAM (probe_open allocates it) */

/* One quad of the command list; C_WR of one quad, C_ZERO of a 4 KiB page
 * (both done to probe_model too); the list, C_END appended. */
void probe_cmd(uint64_t q);
void probe_wr(uint64_t pa, uint64_t v);
void probe_zero(uint64_t pa);
const uint64_t *probe_cmds(size_t *nquads);

/* The nested tables both probes start from, in five pages from root
 * (zeroed, as is the stub page): root[0] -> PDPT (root + 4 KiB),
 * PDPT[0] -> PD, PD[2] -> the stubs' PT (gpa [4, 6) MiB), PD[3] -> the
 * cases' PT ([6, 8) MiB); links with table_bits (EPT RWX, NPT P|W|U), the
 * stub page mapped to itself with leaf_bits. */
#define PROBE_PDPT(root) ((root) + 0x1000)
#define PROBE_PD(root) ((root) + 0x2000)
#define PROBE_PT_STUB(root) ((root) + 0x3000)
#define PROBE_PT_CASE(root) ((root) + 0x4000)
void probe_nested_base(uint64_t root, uint64_t table_bits, uint64_t stub,
                       uint64_t leaf_bits);

/* One C_VMX or C_SVM: their operands share a layout (qlayout.h VS_*,
 * blayout.h VX_*): the results' offset, two 4 KiB areas (VMXON region
 * and VMCS; host save area and VMCB), EPTP or nCR3, the guest's EIP, ESI
 * and EAX, the quads read back after the exit, its CR0, CR3, CR4, EFER
 * and, for C_VMX, the four GUEST_PDPTE fields (a PAE guest's PDPTE
 * registers at VM entry; 0 for others). */
typedef struct probe_guest_run {
  uint64_t op, resoff, area1, area2, root, rip, rsi, rax;
  const uint64_t *peek;
  int npeek;
  uint64_t cr0, cr3, cr4, efer;
  uint64_t pdpte[4];
} probe_guest_run;
void probe_guest(const probe_guest_run *r);

/* A VMX exit reason's name ("?" for those the probes do not expect). */
const char *probe_vmx_reason(uint64_t reason);

/* Opens s with guest RAM ram_size and prints its description: 0, or the
 * exit status to return (77: the source is absent, 2: it failed). */
int probe_open(capture_source *s, uint64_t ram_size);
/* The EPT probes (bochs_vmx_probe, bochs_pdpte_probe) on Bochs's VMX:
 * guest RAM 64 MiB, the VMXON region and VMCS at 4 MiB, EPT tables from
 * PROBE_EPT_ROOT (probe_nested_base), the stubs at gpa PROBE_STUB. */
#define PROBE_EPT_RAM (64ull << 20)
#define PROBE_VMXON 0x400000ull
#define PROBE_VMCS 0x401000ull
#define PROBE_EPT_ROOT 0x410000ull
#define PROBE_STUB 0x500000ull
/* Their start: probe_open, then the VMXON region and VMCS zeroed and
 * probe_nested_base with EPT RWX links and the stub page RWX, write-back. */
int probe_ept_open(capture_source *s);
/* Prints "  bochs: ..." for one C_VMX's results: the exit (reason,
 * qualification, gpa, linear address, guest RIP and RAX, interruption
 * information and error code), a VMfail or a host exception. */
void probe_vmx_print(const uint8_t *res);
/* The library on probe_model under EPT as Bochs's tigerlake has it
 * (MAXPHYADDR 40, execute-only) with this EPTP; NULL when it fails. */
mmu_cpu *probe_ept_library(uint64_t eptp);
/* After a run_commands (r its return): 0 to go on, else the exit status
 * (2) with the error printed; a guest panic is printed. */
int probe_ran(capture_source *s, int r, const char *err,
              const uint64_t panic[4]);
/* The library on probe_model with nested paging n; NULL when it fails
 * (printed). */
mmu_cpu *probe_library(uint32_t maxphyaddr, uint32_t flags,
                       const mmu_nested *n);
/* Prints "entry AT: SRC GOT mmu LIB" for each of n quads; 1 when the
 * source's all equal the library's (probe_model). */
int probe_entries(const char *src, const uint64_t *at, const uint64_t *got,
                  int n);
/* The last line and the exit status (0: none differ); closes s. */
int probe_finish(capture_source *s, size_t ncases, int bad, int departs);

#endif
