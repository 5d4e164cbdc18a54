/* SPDX-License-Identifier: MIT */
/* fuzz_common.h - helpers shared by the MMU fuzz targets: failure
 * reporting, address pools, canonical form, a description of a result.
 * Header only; every function is static. */
#ifndef MMU_FUZZ_COMMON_H_INCLUDED
#define MMU_FUZZ_COMMON_H_INCLUDED

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "mmu.h"
#include "../tests/jit_hit.h" /* the JIT's inline hit */

#define FZ_KiB 1024ull
#define FZ_MiB (1024ull * 1024ull)
#define FZ_GiB (1024ull * 1024ull * 1024ull)

/* A disagreement: print and abort, so every engine records the input. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
static inline void fz_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\n==== mmu fuzz: FAILURE ====\n");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  fflush(stderr);
  abort();
}

#define FZ_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond))                                                             \
      fz_fail(__VA_ARGS__);                                                  \
  } while (0)

/* Debug trace of a run, enabled by FUZZ_TRACE=1 (standalone replays). */
static int fz_trace_on __attribute__((unused)) = -1;
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void fz_trace(const char *fmt, ...) {
  if (fz_trace_on < 0)
    fz_trace_on = getenv("FUZZ_TRACE") != NULL;
  if (!fz_trace_on)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

/* Sign-extend from bit 47 (4-level) or 56 (5-level). */
static inline uint64_t fz_canon(uint64_t raw, int levels) {
  int bits = levels == 5 ? 57 : 48;
  return (uint64_t)((int64_t)(raw << (64 - bits)) >> (64 - bits));
}

/* A page-table index: mostly from a small pool, so that walks share upper
 * tables and the TLB sees repeats; 0xE0.. picks any index. */
static inline unsigned fz_index(fuzz_input *in) {
  static const unsigned pool[8] = {0, 1, 511, 2, 256, 3, 510, 255};
  uint8_t b = fi_u8(in);
  if (b < 0xE0)
    return pool[b & 7];
  return fi_u16(in) & 511;
}

static inline unsigned fz_pt_index(uint64_t va, int level) {
  return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

/* Addresses at the edges of the canonical ranges. */
static const uint64_t fz_edge_va[] __attribute__((unused)) = {
    0x0000000000000000ull, 0x0000000000000FFFull, 0x00007FFFFFFFF000ull,
    0x00007FFFFFFFFFFFull, 0x0000800000000000ull, 0xFFFF7FFFFFFFFFFFull,
    0xFFFF800000000000ull, 0xFFFFFFFFFFFFF000ull, 0xFFFFFFFFFFFFFFFFull,
    0x00FFFFFFFFFFF000ull, 0x0100000000000000ull, 0xFF00000000000000ull,
    0xFEFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0x7FFFFFFFFFFFFFFFull,
    0x0000000000200000ull, 0x0000000040000000ull, 0x0000008000000000ull,
};

/* An access kind from an input byte: read, write or fetch, maybe implicit.
 * Kind 3 is not one (MMU_ERR_ARG); it reads as a fetch, as the library
 * treated it before it checked, so old corpora keep their meaning. */
static inline unsigned fz_access_kind(uint8_t b) {
  unsigned k = b & 3u;
  return (k == 3 ? (unsigned)MMU_FETCH : k) | (b & (unsigned)MMU_IMPLICIT);
}

static inline const char *fz_access_name(unsigned a) {
  static const char *names[8] = {"read",      "write",      "fetch",
                                 "invalid",   "read+impl",  "write+impl",
                                 "fetch+impl", "invalid+impl"};
  return names[a & 7];
}

#endif
