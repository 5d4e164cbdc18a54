/* SPDX-License-Identifier: MIT */
/* qemu.h - run conformance vectors under QEMU's TCG x86-64 emulator and
 * record what QEMU does (the "qemu" capture back end). It covers what the
 * KVM back end cannot show: 1 GiB pages, PKU with PKRU, LA57 walks, SMEP
 * and SMAP with CPUID advertising them (qemu-system-x86_64 -accel tcg
 * -cpu max).
 *
 * One QEMU process ("instance") runs many vectors: its guest RAM is a file
 * in /dev/shm that the host maps too, so commands and results go through
 * shared memory and the isa-debugcon port is only a doorbell. One instance
 * per (MAXPHYADDR, 1 GiB pages) pair is started lazily (QEMU's phys-bits
 * follows the vector's maxphyaddr) and kept, stopped with SIGSTOP between
 * batches; a guest that crashes or hangs is killed and the batch goes on
 * without the vector that broke it.
 *
 * Layout conventions are those of the KVM back end (kvm.h): the harness
 * owns guest-physical [0, 2 MiB) and top-level slot 1. Successful accesses
 * must land in RAM at or above 2 MiB outside the vector's own paging
 * structures: RAM holds a per-8-byte pattern that encodes its address
 * (and whose bytes are all instructions that raise #UD, so fetches report
 * too); the guest reads it back to learn the physical address.
 *
 * Not thread-safe: one qemu_cap per thread. Linux only. */
#ifndef QEMU_CAP_H_INCLUDED
#define QEMU_CAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "../vector.h"

struct qemu_cap_priv;

typedef struct qemu_cap {
  struct qemu_cap_priv *priv; /* private */
} qemu_cap;

typedef struct qemu_cap_stats {
  uint64_t vectors;   /* captured (status 0) */
  uint64_t refused;   /* -EINVAL, -ENOTSUP, -ERANGE */
  uint64_t failed;    /* broke or hung the guest, or made no sense */
  uint64_t boots;     /* QEMU processes started */
  uint64_t chunks;    /* command lists run */
  uint64_t crashes;   /* instances killed (crash, hang, panic) */
  uint64_t mode_switches; /* 4-level <-> 5-level in the guest */
  double boot_seconds;    /* time spent starting QEMU */
} qemu_cap_stats;

/* Finds qemu-system-x86_64 ($QEMU_SYSTEM_X86_64, else $PATH), records its
 * version and boots it once to record the CPUID the guest runs under.
 * ram_size_bytes: guest RAM [0, ram_size), a multiple of 2 MiB between
 * 4 MiB and 3 GiB (one file of that size in /dev/shm per live instance,
 * at most 3). Returns 0, or a positive errno value (ENOENT: no QEMU; EIO:
 * it did not boot). After a failure qemu_cap_last_error says why, and
 * qemu_cap_close must still be called. Set QEMU_CAP_DEBUG=1 to log boots
 * on stderr. */
int qemu_cap_open(qemu_cap *q, uint64_t ram_size_bytes);

/* One line: QEMU version, command line, CPU vendor/model, the paging
 * features CPUID advertises, MAXPHYADDR handling. */
void qemu_cap_describe(const qemu_cap *q, char *buf, size_t n);

/* Runs n vectors in as few boots as possible. For each vector that runs,
 * fills every VEC_ACCESS step's expect (OK + physical address, PF + error
 * code + CR2, GP) and ad[] (entries among the vector's pte gpas and
 * SET_PTE targets whose value the step changed; the harness's slot-1 entry
 * excepted), and sets MMU_CFG_AD_ON_FAULT_UPPER in v->flags: QEMU sets A in
 * the upper-level entries of a walk that faults, and the recorded ad[]
 * follow that policy. status (may be NULL) receives per vector:
 *   0         captured
 *   -EINVAL   malformed, or conflicts with the harness layout
 *   -ENOTSUP  needs what this back end cannot do (not long mode, implicit
 *             writes/fetches, MMU_CFG_AMD, an access that succeeds outside
 *             RAM or on a paging-structure page, a walk through harness
 *             memory, a register state QEMU refused, CR4.PCIDE or INVPCID:
 *             QEMU 7.2's TCG CPUID offers neither)
 *   -ERANGE   a paging entry lies outside RAM
 *   -EIO      it crashed or hung the guest (retried alone once)
 *   -EPROTO   QEMU's outcome made no sense to the back end
 * qemu_cap_status_reason() says why. Returns the number captured, or a
 * negative errno when QEMU could not be run at all. */
int qemu_cap_run_batch(qemu_cap *q, vec_vector *v, size_t n, int *status);

/* Why vector i of the last batch was not captured ("" if it was). */
const char *qemu_cap_status_reason(const qemu_cap *q, size_t i);

/* The last error that was not about one vector (boot failures...). */
const char *qemu_cap_last_error(const qemu_cap *q);

void qemu_cap_get_stats(const qemu_cap *q, qemu_cap_stats *out);

/* Kills every QEMU this qemu_cap started, removes its files. */
void qemu_cap_close(qemu_cap *q);

#endif
