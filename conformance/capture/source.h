/* SPDX-License-Identifier: MIT */
/* source.h - what a capture source provides to mmu_capture (capture.c)
 * and the self-tests: an independent x86 implementation that runs
 * conformance vectors and reports what it did (SPEC.md 8.5).
 *
 * A source is one file of what is truly its own (kvm.c: KVM's ioctls and
 * its guest's entry; qemu.c: QEMU's process, its boot, shared memory and
 * doorbell; bochs.c: Bochs's process per chunk, RAM image and port 0xE9
 * dump) plus its guest harness (kguest/, qguest/, bguest/), built on what
 * all sources share:
 *   guest/layout.h, guest/macros.inc, guest/steps.inc
 *                  the guest step library: harness pages, step encoding,
 *                  every step op, the access probe, exception stubs
 *   guest.h/.c     its host side: the harness's RAM image, a vector's
 *                  memory and the checks it must pass, step encoding,
 *                  outcome decoding, CPUID decoding, per-vector reasons
 *   departures.c   the detectors of known departures from the SDM
 *   selftest.h/.c  vector builders for the sources' self-tests
 *   booted.h/.c    what the sources that boot qharness in an emulator
 *                  process share (qemu.c, bochs.c): planning a vector
 *                  into commands, the RAM pattern, parsing the results,
 *                  batches in chunks; each gives its transport (booted_ops)
 *
 * A new source (Bochs, say) fills a capture_source: its name, what it
 * needs to run, its capabilities, the paging modes its harness enters,
 * its known departures, and open / describe / run / why / close. Its
 * harness includes guest/macros.inc and guest/steps.inc, defines H_STATE,
 * WRITE_FILL and the labels steps.inc asks for, and enters the mode a
 * vector asks for before its steps (capture_vector_mode). Where the
 * outcomes come back (ioctls, shared memory, an I/O port, a memory dump)
 * is the source's business. */
#ifndef CAPTURE_SOURCE_H_INCLUDED
#define CAPTURE_SOURCE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "../vector.h"

typedef struct capture_source capture_source;

/* A known departure from the SDM and its detector. */
typedef struct capture_departure {
  const char *name; /* first in the vector's 'departs' line */
  const char *what; /* the rest of it: what the source does, what the SDM says */
  /* If the departure explains v's outcomes (it may re-run variants of v
   * on s), make the SDM's outcome v's, keep the source's as 'observed',
   * name it in 'departs' and return 1; else 0, v unchanged. */
  int (*detect)(capture_source *s, vec_vector *v,
                const struct capture_departure *d);
} capture_departure;

struct capture_source {
  /* what it is */
  const char *name;  /* --source NAME, and the 'source' line it writes */
  const char *needs; /* what is missing when open fails with ENOENT,
                        EACCES or EPERM ("KVM device") */
  unsigned caps;     /* GEN_CAP_* vectors it can capture (conformance/gen.h) */
  unsigned modes;    /* CAPTURE_MODE_BIT()s its harness enters (guest.h) */
  /* known, NULL-terminated, tried in order: those that re-run the vector
   * before those that rewrite its outcomes */
  const capture_departure *const *departures;

  /* 0, or a positive errno: ENOENT, EACCES, EPERM when the implementation
   * is absent or not ours to use (re-capture is then skipped). Guest RAM
   * is [0, ram_size). Sets cpu_flags. close must be called either way. */
  int (*open)(capture_source *s, uint64_t ram_size);
  /* One line recorded in every vector file it writes: versions, CPU, the
   * paging features it offers. */
  void (*describe)(const capture_source *s, char *buf, size_t n);
  /* Runs v[0..n): loads each vector's state (RAM, registers), runs its
   * steps and fills every VEC_ACCESS step's expect (OK + physical address,
   * PF + error code + CR2, GP) and ad[] (entries among the vector's and
   * the SET_PTE targets whose value the step changed). status[i]: 0
   * captured, -EINVAL malformed or in conflict with the harness, -ENOTSUP
   * needs what the source cannot do, -ERANGE an entry outside RAM, other
   * < 0 the source failed on it. Returns the number captured, or < 0 when
   * the source could not run at all. */
  int (*run)(capture_source *s, vec_vector *v, size_t n, int *status);
  /* Why vector i of the last run was not captured ("" if it was); after a
   * failed open, why it failed. */
  const char *(*why)(const capture_source *s, size_t i);
  void (*close)(capture_source *s);

  /* set by open */
  unsigned cpu_flags; /* MMU_CFG_* its CPU implies, recorded in vectors */
  void *priv;
};

/* The sources (kvm.c, qemu.c, bochs.c). */
extern capture_source capture_kvm, capture_qemu, capture_bochs;

/* ---- outcomes, for the driver and the detectors (departures.c) ---------- */

/* The known departures (SPEC.md 8.5 lists them). */
extern const capture_departure capture_smap_fetch, capture_pml4_slot256,
    capture_rsvd_without_p, capture_smap_implicit_ac,
    capture_a_on_faulting_leaf, capture_pdpte_a, capture_pse36_rsvd,
    capture_pdpte_low_rsvd;

/* Runs one vector on s; its status. */
int capture_run_one(capture_source *s, vec_vector *v);
/* Clears every step's outcomes, observed outcomes, A/D and 'departs'. */
void capture_clear_outcomes(vec_vector *v);
int capture_same_outcome(const vec_outcome *a, const vec_outcome *b);
/* Same outcome and the same A/D changes (in any order). */
int capture_same_step(const vec_step *a, const vec_step *b);

#endif
