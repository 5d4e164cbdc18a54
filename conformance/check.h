/* SPDX-License-Identifier: MIT */
/* check.h - run a conformance vector against the library. */
#ifndef MMU_CHECK_H_INCLUDED
#define MMU_CHECK_H_INCLUDED

#include "mmu.h"
#include "vector.h"

enum { CHECK_FAST = 0, CHECK_REFERENCE = 1 }; /* which path translates */

/* Guest RAM (ram_capacity bytes, 4 KiB aligned, zero-filled before the
 * first vector) and TLB storage for running vectors, owned by the caller. */
typedef struct check_ctx {
  uint8_t *ram;
  uint64_t ram_capacity;
  uint64_t tlb[MMU_TLB_STORAGE_SIZE(64, 4, MMU_FRONT_DEFAULT(64, 4)) / 8 + 1];
  /* entries the current vector wrote, zeroed again before the next one */
  uint64_t written[VEC_MAX_PTES + VEC_MAX_STEPS];
  uint32_t written_count;
  mmu_ram_region region; /* the vector's RAM, as the cpu sees it */
  uint32_t failed_step;  /* after a disagreement: the step's index */
  /* optional (NULL in a zeroed ctx): called on every access step just
   * before it translates (status and r NULL) and just after (its status
   * and result), with the vector's cpu; for tests of the inline hit */
  void (*on_access)(void *user, mmu_cpu *cpu, const vec_step *s,
                    const int *status, const mmu_result *r);
  void *on_access_user;
} check_ctx;

/* Runs v on the given path. Returns 1 if every step agrees, 0 on the first
 * disagreement, -1 if the vector itself is unusable (message says why).
 * msg receives a human-readable report (the step, expected and actual
 * outcome, and the reference walk trace). */
int check_vector(check_ctx *ctx, const vec_vector *v, int path, char *msg,
                 size_t msg_len);

/* Like check_vector, but runs only the steps before step `until` on *cpu
 * (initialised here), which is then left just before that step: for a
 * caller that explains the step itself (mmu walk). */
int check_run_until(check_ctx *ctx, const vec_vector *v, int path,
                    uint32_t until, mmu_cpu *cpu, char *msg, size_t msg_len);

/* Fills v's outcomes (expect, ad) with what the library does on the given
 * path. Returns 1, or -1 if the vector is unusable (msg says why). */
int check_fill(check_ctx *ctx, vec_vector *v, int path, char *msg,
               size_t msg_len);

#endif
