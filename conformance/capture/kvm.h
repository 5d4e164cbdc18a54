/* SPDX-License-Identifier: MIT */
/* kvm.h - run conformance vectors in a real KVM guest and record what KVM
 * does (the "kvm" capture back end).
 *
 * The guest is a small 64-bit harness (guest/harness.S) that owns
 * guest-physical [0, VEC_HARNESS_PHYS_END) and is mapped through top-level
 * slot CAPTURE_HARNESS_SLOT of every top-level table a vector's CR3 points to
 * (the back end adds that one entry). Vectors must therefore not use that
 * slot, nor put paging structures below VEC_HARNESS_PHYS_END. One VM per
 * MAXPHYADDR value is created lazily and reused; a VM whose guest crashed is
 * re-created on the next run.
 *
 * Not thread-safe: one kvm_cap per thread. While kvm_cap_run runs, SIGALRM
 * (ITIMER_REAL) is used as a watchdog; do not use it elsewhere in the
 * process. Linux only. */
#ifndef KVM_CAP_H_INCLUDED
#define KVM_CAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "../vector.h"

#include "guest/layout.h"
#define VEC_HARNESS_PHYS_END 0x200000ull

struct kvm_cap_priv;

typedef struct kvm_cap {
  struct kvm_cap_priv *priv; /* private */
} kvm_cap;

/* Counters, for diagnostics and benchmarks. */
typedef struct kvm_cap_stats {
  uint64_t vectors;      /* kvm_cap_run calls that returned 0 */
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

/* Opens /dev/kvm and records the kernel version and the CPUID KVM offers.
 * ram_size_bytes: guest RAM [0, ram_size), a multiple of 2 MiB between
 * 4 MiB and 64 GiB. Returns 0, or a positive errno value. */
int kvm_cap_open(kvm_cap *k, uint64_t ram_size_bytes);

/* A one-line description: kernel, CPU, the paging features KVM offers. */
void kvm_cap_describe(const kvm_cap *k, char *buf, size_t n);

/* Runs every step of v and fills, for each VEC_ACCESS step, step.expect
 * (OK + physical address, PF + error code + CR2, GP) and step.ad[] (entries
 * among v->pte and the SET_PTE targets whose value the step changed, the
 * harness's own entry excepted). Returns 0, or:
 *   -EINVAL   the vector is malformed or conflicts with the harness
 *   -ENOTSUP  it needs what this back end or KVM cannot do (CR4.PKE,
 *             implicit writes, paging off or not in long mode)
 *   -ERANGE   a paging entry lies outside the VM's RAM
 *   -EIO, -ETIMEDOUT, -EPROTO, other <0: the harness failed (the VM is
 *             re-created on the next call); kvm_cap_last_error says why. */
int kvm_cap_run(kvm_cap *k, vec_vector *v);

/* Why the last kvm_cap_run failed (empty after a success). */
const char *kvm_cap_last_error(const kvm_cap *k);

void kvm_cap_get_stats(const kvm_cap *k, kvm_cap_stats *out);

void kvm_cap_close(kvm_cap *k);

#endif
