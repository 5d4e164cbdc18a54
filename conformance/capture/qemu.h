/* SPDX-License-Identifier: MIT */
/* qemu.h - the "qemu" capture source (source.h): runs conformance vectors
 * under QEMU's TCG x86-64 emulator and records what QEMU does. It covers
 * what the KVM source cannot show: 1 GiB pages, PKU with PKRU, LA57 walks,
 * SMEP and SMAP with CPUID advertising them (qemu-system-x86_64 -accel tcg
 * -cpu max).
 *
 * One QEMU process ("instance") runs many vectors: its guest RAM is a file
 * in /dev/shm that the host maps too, so commands and results go through
 * shared memory and the isa-debugcon port is only a doorbell. One instance
 * per (MAXPHYADDR, 1 GiB pages) pair is started lazily (QEMU's phys-bits
 * follows the vector's maxphyaddr) and kept, stopped with SIGSTOP between
 * batches; a guest that crashes or hangs is killed and the batch goes on
 * without the vector that broke it (retried alone once).
 *
 * The harness (qguest/qharness.S, on the shared step library) owns
 * guest-physical [0, H_END) and top-level slot CAPTURE_HARNESS_SLOT
 * (guest/layout.h). Successful accesses must land in RAM at or above
 * H_END outside the vector's own paging structures: RAM holds a
 * per-8-byte pattern that encodes its address (and whose bytes are all
 * instructions that raise #UD, so fetches report too); the guest reads it
 * back to learn the physical address. Besides the status codes of
 * source.h, run refuses (-ENOTSUP) MMU_CFG_AMD, implicit reads crossing a
 * page, an access that succeeds outside RAM or on a paging-structure page,
 * a walk through harness memory, a register state QEMU refused, CR4.PCIDE
 * or INVPCID (QEMU 7.2's TCG CPUID offers neither); -EIO: it crashed or
 * hung the guest; -EPROTO: QEMU's outcome made no sense to the source. It
 * sets MMU_CFG_AD_ON_FAULT_UPPER in every vector it captures.
 *
 * open finds qemu-system-x86_64 ($QEMU_SYSTEM_X86_64, else $PATH; ENOENT
 * if none), records its version and boots it once to record the CPUID the
 * guest runs under (EIO: it did not boot; why(s, 0) says why). Guest RAM:
 * a multiple of 2 MiB between 4 MiB and 3 GiB (one file of that size in
 * /dev/shm per live instance, at most 3). Set QEMU_CAP_DEBUG=1 to log
 * boots on stderr. close kills every QEMU it started and removes its
 * files.
 *
 * Not thread-safe: one open source per process. Linux only. */
#ifndef QEMU_CAP_H_INCLUDED
#define QEMU_CAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "booted.h"
#include "source.h"

typedef booted_stats qemu_cap_stats; /* booted.h */

/* capture_qemu's counters (zero before it is open). */
void qemu_cap_get_stats(const capture_source *s, qemu_cap_stats *out);

/* The last error that was not about one vector (boot failures...). */
const char *qemu_cap_last_error(const capture_source *s);

/* A raw command list (quads, ending in C_END) on a QEMU booted with
 * MAXPHYADDR maxphy and 1 GiB pages: copies back [H_RES, +reslen) and the
 * mailbox's panic record (vector, code, CR2, RIP; all zero when none). 0
 * when the list ran to its end, 1 when the guest panicked, < 0 on error
 * (last_error). The instance is killed after: its memory is no longer the
 * one booted.c plans on. For probes such as C_SVM (svm_npt_probe.c). */
int qemu_cap_run_commands(capture_source *s, uint32_t maxphy,
                          const uint64_t *cmd, size_t nquads, uint64_t reslen,
                          uint8_t *res, uint64_t panic[4]);

#endif
