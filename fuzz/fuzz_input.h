/* SPDX-License-Identifier: MIT */
/* fuzz_input.h - decode a fuzzer's byte string into structured choices.
 *
 * Every consumer takes bytes from the front of the input and returns zeros
 * once it is exhausted, so any input (including the empty one) decodes to
 * a complete, valid scenario; targets choose encodings where all-zero
 * bytes mean the common case (present, writable, in RAM...). Header only,
 * no allocation, plain C11: shared by every fuzz/fuzz_*.c. */
#ifndef MMU_FUZZ_INPUT_H_INCLUDED
#define MMU_FUZZ_INPUT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Harness plumbing the fuzzer has nothing to learn from (RAM lookups,
 * copies, resets, reading the input's bytes): no coverage callbacks, which cost more than the code. */
#if defined(__clang__) && __clang_major__ >= 13
#define FZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FZ_NO_COVERAGE
#endif


typedef struct fuzz_input {
  const uint8_t *data;
  size_t size, pos;
} fuzz_input;

static inline void fi_init(fuzz_input *in, const uint8_t *data, size_t size) {
  in->data = data;
  in->size = size;
  in->pos = 0;
}

static inline size_t fi_remaining(const fuzz_input *in) {
  return in->size - in->pos;
}

static inline int fi_empty(const fuzz_input *in) { return in->pos >= in->size; }

/* Copy n bytes to dst; bytes past the end of the input read as zero. */
FZ_NO_COVERAGE static inline void fi_bytes(fuzz_input *in, void *dst, size_t n) {
  size_t k = fi_remaining(in) < n ? fi_remaining(in) : n;
  if (k)
    memcpy(dst, in->data + in->pos, k);
  if (n > k)
    memset((uint8_t *)dst + k, 0, n - k);
  in->pos += k;
}

FZ_NO_COVERAGE static inline uint8_t fi_u8(fuzz_input *in) {
  return in->pos < in->size ? in->data[in->pos++] : 0;
}

/* Little-endian, so that a dictionary word lands as written. */
FZ_NO_COVERAGE static inline uint16_t fi_u16(fuzz_input *in) {
  uint16_t v = fi_u8(in);
  return (uint16_t)(v | (uint16_t)fi_u8(in) << 8);
}

FZ_NO_COVERAGE static inline uint32_t fi_u32(fuzz_input *in) {
  uint32_t v = fi_u16(in);
  return v | (uint32_t)fi_u16(in) << 16;
}

FZ_NO_COVERAGE static inline uint64_t fi_u64(fuzz_input *in) {
  uint64_t v = fi_u32(in);
  return v | (uint64_t)fi_u32(in) << 32;
}

static inline int fi_bool(fuzz_input *in) { return fi_u8(in) & 1; }

/* 0..n-1 (n >= 1), one byte for n <= 256, two otherwise. */
FZ_NO_COVERAGE static inline unsigned fi_choice(fuzz_input *in, unsigned n) {
  if (n <= 1)
    return 0;
  return n <= 256 ? fi_u8(in) % n : fi_u16(in) % n;
}

/* One of the n elements of a table: fi_pick(in, table) for arrays. */
#define fi_pick(in, table)                                                   \
  ((table)[fi_choice((in), (unsigned)(sizeof(table) / sizeof((table)[0])))])

#endif
