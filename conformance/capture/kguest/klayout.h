/* SPDX-License-Identifier: MIT */
/* klayout.h - the KVM capture harness's own layout: its mailbox, results
 * and exit codes, shared by the guest code (kharness.S, through cpp) and
 * the host (kvm.c). The rest (harness pages, selectors, steps) is
 * guest/layout.h. Plain #defines only: this file is included from
 * assembly. */
#ifndef KVM_CAP_GUEST_LAYOUT_H
#define KVM_CAP_GUEST_LAYOUT_H

#include "../guest/layout.h"

#define H_RES 0x8000   /* guest -> host: what happened (0x8000..0xffff) */
#define H_STATE H_RES  /* the step library's run-time record */

/* exits: out EXIT_PORT, al */
#define EXIT_PORT 0x10
#define EXIT_DONE 1
#define EXIT_STEP 2   /* an access may have succeeded: translate it */
#define EXIT_PANIC 3  /* exception with no recovery armed */
#define EXIT_BADCR3 4 /* MOV to CR3 of the vector's CR3 faulted */
#define EXIT_BADPKRU 5 /* WRPKRU of the initial PKRU faulted */

/* mailbox (offsets from H_MBOX, host -> guest, 0x5000..0x7fff) */
#define MB_VEC_CR3 0x00
#define MB_NPOST 0x08 /* writes after MOV to CR3 (old harness entries) */
#define MB_NWRITES 0x10
#define MB_NMON 0x20
#define MB_NSTEPS 0x28
#define MB_CPL 0x30
#define MB_AC 0x38
#define MB_PKRU_SET 0x40 /* 1: WRPKRU MB_PKRU before the first step */
#define MB_PKRU 0x48
#define MB_MMIO_SEEN 0x80 /* [16] quads, set by the host on MMIO exits */
#define MB_STEPS 0x100    /* [16] x STEP_SIZE */
#define MB_MON 0xe00 /* [MAX_WATCH] gpas */
/* (gpa, value) pairs; a gpa that is not a multiple of 8 is a one-byte
 * rewrite of the byte there (which makes KVM drop its shadow page: later
 * writes to that page do not trap) */
#define MB_WRITES 0x1200
#define MB_MAX_WRITES 256
#define MB_POST 0x2200
#define MB_MAX_POST 32

/* results (offsets from H_RES, after the run-time record's R_*) */
#define R_EXC 0x100 /* [16] x (vec, ec, cr2, rip) */
#define R_SNAP 0x400 /* [17][MAX_WATCH] quads: monitored entries */

#endif
