/* SPDX-License-Identifier: MIT */
/* nested_cap.h - capturing nested-paging vectors (categories ept.*, SPEC
 * 8.5) in an emulator's VMX: each access step is one VM entry of a guest
 * that makes that access under the vector's EPT (bguest/vmx.inc, C_VMX),
 * and the VM exit (or the guest's #PF, or its VMCALL after the access) is
 * the outcome. The harness keeps what gen.h gives it: host RAM [2 MiB,
 * 4 MiB) for the VMXON region, the VMCS, its EPT tables and the guest's
 * code, and the guest-physical and linear addresses at GEN_NESTED_STUB. */
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

/* Captures v[0..n) whose nested_kind is EPT; status[i] as capture_source
 * .run gives it, reasons for those not captured. maxphy: the source's
 * MAXPHYADDR (others are refused). Returns the number captured, or < 0
 * when the source could not run at all. */
int nested_cap_run_ept(nested_exec_fn exec, void *src, uint32_t maxphy,
                       vec_vector *v, size_t n, int *status,
                       capture_reasons *reasons);

#endif
