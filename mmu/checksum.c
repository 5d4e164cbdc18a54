/* SPDX-License-Identifier: MIT */
/* checksum.c - XXH64, written from the xxHash specification (xxhash_spec.md,
 * "XXH64 algorithm description"): five 64-bit primes, 32-byte stripes
 * into four accumulators, a merge, the tail in 8-, 4- and 1-byte pieces,
 * then the avalanche. Swapped pages are checksummed with it, so the digest
 * must equal libxxhash's XXH64 on every host, whatever its byte order. */
#include "internal.h"

#define MMU__XXP1 0x9E3779B185EBCA87ull
#define MMU__XXP2 0xC2B2AE3D27D4EB4Full
#define MMU__XXP3 0x165667B19E3779F9ull
#define MMU__XXP4 0x85EBCA77C2B2AE63ull
#define MMU__XXP5 0x27D4EB2F165667C5ull

/* The spec reads input as little-endian words. One unaligned load (memcpy:
 * defined for any alignment) and a byte swap on big-endian hosts, so the
 * digest is the same on either byte order. A load assembled from bytes is
 * one load to an optimising compiler but eight checked loads under ASan
 * and at -O0, where swap-heavy fuzzing spent 4% of its time in it. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&             \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MMU__LE_HOST 1
#else
#define MMU__LE_HOST 0
#endif

static inline uint64_t mmu__le64(const uint8_t *p) {
  if (MMU__LE_HOST) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
  }
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
         (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
         (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint32_t mmu__le32(const uint8_t *p) {
  if (MMU__LE_HOST) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
  }
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline uint64_t mmu__rotl64(uint64_t x, unsigned r) {
  return (x << r) | (x >> (64 - r));
}

static inline uint64_t mmu__xxh_round(uint64_t acc, uint64_t lane) {
  acc += lane * MMU__XXP2;
  return mmu__rotl64(acc, 31) * MMU__XXP1;
}

static inline uint64_t mmu__xxh_merge(uint64_t acc, uint64_t v) {
  acc ^= mmu__xxh_round(0, v);
  return acc * MMU__XXP1 + MMU__XXP4;
}

MMU_API uint64_t mmu_xxh64(const void *data, size_t len, uint64_t seed) {
  /* a count, not an end pointer: data may be NULL when len is 0 */
  const uint8_t *p = (const uint8_t *)data;
  size_t rem = len;
  uint64_t acc;

  if (len >= 32) {
    uint64_t v1 = seed + MMU__XXP1 + MMU__XXP2;
    uint64_t v2 = seed + MMU__XXP2;
    uint64_t v3 = seed;
    uint64_t v4 = seed - MMU__XXP1;
    /* four independent chains: the multiplies of a stripe overlap */
    do {
      v1 = mmu__xxh_round(v1, mmu__le64(p));
      v2 = mmu__xxh_round(v2, mmu__le64(p + 8));
      v3 = mmu__xxh_round(v3, mmu__le64(p + 16));
      v4 = mmu__xxh_round(v4, mmu__le64(p + 24));
      p += 32;
      rem -= 32;
    } while (rem >= 32);
    acc = mmu__rotl64(v1, 1) + mmu__rotl64(v2, 7) + mmu__rotl64(v3, 12) +
          mmu__rotl64(v4, 18);
    acc = mmu__xxh_merge(acc, v1);
    acc = mmu__xxh_merge(acc, v2);
    acc = mmu__xxh_merge(acc, v3);
    acc = mmu__xxh_merge(acc, v4);
  } else {
    acc = seed + MMU__XXP5;
  }
  acc += (uint64_t)len;

  for (; rem >= 8; rem -= 8, p += 8) {
    acc ^= mmu__xxh_round(0, mmu__le64(p));
    acc = mmu__rotl64(acc, 27) * MMU__XXP1 + MMU__XXP4;
  }
  if (rem >= 4) {
    acc ^= (uint64_t)mmu__le32(p) * MMU__XXP1;
    acc = mmu__rotl64(acc, 23) * MMU__XXP2 + MMU__XXP3;
    p += 4;
    rem -= 4;
  }
  for (; rem > 0; rem--, p++) {
    acc ^= (uint64_t)*p * MMU__XXP5;
    acc = mmu__rotl64(acc, 11) * MMU__XXP1;
  }

  acc ^= acc >> 33;
  acc *= MMU__XXP2;
  acc ^= acc >> 29;
  acc *= MMU__XXP3;
  acc ^= acc >> 32;
  return acc;
}
