/* SPDX-License-Identifier: MIT */
/* kvm.h - the "kvm" capture source (source.h): runs conformance vectors in
 * a real KVM guest (kguest/kharness.S, on the shared step library) and
 * records what KVM does.
 *
 * The harness owns guest-physical [0, H_END) and top-level slot
 * CAPTURE_HARNESS_SLOT (guest/layout.h). One VM per MAXPHYADDR value is
 * created lazily and reused; a VM whose guest crashed is re-created on the
 * next run. Vectors run one at a time; the status codes are source.h's.
 * Guest RAM: a multiple of 2 MiB between 4 MiB and 64 GiB.
 *
 * Not thread-safe: one open source per process. While it runs, SIGALRM
 * (ITIMER_REAL) is used as a watchdog; do not use it elsewhere in the
 * process. MMU_KVM_DEVICE names another device than /dev/kvm. Linux
 * only. */
#ifndef KVM_CAP_H_INCLUDED
#define KVM_CAP_H_INCLUDED

#include <stdint.h>

#include "source.h"

/* Counters, for diagnostics and benchmarks. */
typedef struct kvm_cap_stats {
  uint64_t vectors;      /* vectors captured (status 0) */
  uint64_t rejected;     /* vectors refused (-EINVAL, -ENOTSUP, -ERANGE) */
  uint64_t failures;     /* harness failures (VM re-created) */
  uint64_t runs;         /* KVM_RUN calls */
  uint64_t exits_mmio;   /* KVM_EXIT_MMIO */
  uint64_t exits_step;   /* translation requests (KVM_TRANSLATE) */
  uint64_t vms_created;
  uint64_t fetch_mmio;   /* fetches from MMIO (KVM cannot emulate them) */
  uint64_t writes_unpredicted; /* write steps whose RAM target the host
                                  did not predict: the probe may have
                                  stored a wrong byte there */
} kvm_cap_stats;

/* capture_kvm's counters (zero before it is open). */
void kvm_cap_get_stats(const capture_source *s, kvm_cap_stats *out);

#endif
