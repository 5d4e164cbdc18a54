/* SPDX-License-Identifier: MIT */
/* nested_cap.h - capturing nested-paging vectors (categories ept.*,
 * npt.*, ept-pae.* and npt-pae.*, SPEC 8.5) in an emulator's VMX or SVM
 * (a CPL-0 guest with paging off, 32-bit or PAE paging): each access step is one
 * VM entry (VMRUN) of a guest that makes that access under the vector's
 * EPT (bguest/vmx.inc, C_VMX) or nested page tables (qguest/svm.inc,
 * C_SVM), and the exit (or the guest's #PF, or its VMCALL/VMMCALL after
 * the access) is the outcome. The harness keeps what gen.h gives it: host
 * RAM [2 MiB, 4 MiB) for the VMXON region and VMCS (host save area and
 * VMCB), its nested tables, the guest's page table and (PAE) page
 * directory for its code and the code, and the guest-physical
 * and linear addresses at GEN_NESTED_STUB. */
#ifndef NESTED_CAP_H_INCLUDED
#define NESTED_CAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "guest.h"

/* Runs a command list (quads, ending in C_END) on a fresh guest of the
 * source and copies back reslen bytes of results: 0 when the list ran to
 * its end, 1 when the guest panicked, < 0 when the source failed (its
 * error is the source's). */
typedef int (*nested_exec_fn)(void *src, const uint64_t *cmd, size_t nquads,
                              uint64_t reslen, uint8_t *res);

/* Captures v[0..n) whose nested_kind is `kind` (MMU_NESTED_EPT: C_VMX,
 * MMU_NESTED_NPT: C_SVM; others are refused); status[i] as capture_source
 * .run gives it, reasons for those not captured. maxphy: the source's
 * MAXPHYADDR (others are refused). Returns the number captured, or < 0
 * when the source could not run at all. */
int nested_cap_run(nested_exec_fn exec, void *src, uint32_t maxphy,
                   uint32_t kind, vec_vector *v, size_t n, int *status,
                   capture_reasons *reasons);

/* A source's batch: MMU_NESTED_OFF when no vector is nested (the source
 * runs them its own way); else reasons reset to n and the kind when all
 * are of one kind, or -1 with every vector refused when they mix. */
int nested_cap_kind(const vec_vector *v, size_t n, int *status,
                    capture_reasons *reasons);

#endif
