/* SPDX-License-Identifier: MIT */
/* bochs.h - the "bochs" capture source (source.h): runs conformance vectors
 * in the Bochs emulator (cpu: model=tigerlake by default, $BOCHS_CPU_MODEL
 * otherwise) and records what Bochs does. It covers what neither KVM here
 * nor QEMU 7.2's TCG offers: CR4.PCIDE, PCIDs and INVPCID, and PAE
 * vectors that rewrite PDPTEs (Bochs has PDPTE registers), besides 1 GiB
 * pages, PKU, SMEP, SMAP and every paging mode. See bochs.c for how it is
 * driven.
 *
 * open finds bochs ($BOCHS, else $PATH; ENOENT if none), records its
 * version and boots it once for the CPUID (EIO: it did not boot; why(s, 0)
 * says why). Besides the status codes of source.h, run refuses (-ENOTSUP)
 * what the QEMU source refuses (qemu.h) but CR4.PCIDE, INVPCID and PDPTE
 * rewrites, and vectors whose MAXPHYADDR is not the model's or that turn
 * 1 GiB pages off. Not thread-safe: one open source per process. Linux
 * only. */
#ifndef BOCHS_CAP_H_INCLUDED
#define BOCHS_CAP_H_INCLUDED

#include <stdint.h>

#include "booted.h"
#include "source.h"

typedef booted_stats bochs_cap_stats; /* booted.h: a boot is a chunk */

void bochs_cap_get_stats(const capture_source *s, bochs_cap_stats *out);
const char *bochs_cap_last_error(const capture_source *s);
/* A raw command list on a fresh Bochs (prototype: bochs_vmx_probe.c). */
int bochs_cap_run_commands(capture_source *s, const uint64_t *cmd,
                           size_t nquads, uint64_t reslen, uint8_t *res,
                           uint64_t panic[4]);

#endif
