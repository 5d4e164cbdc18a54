/* SPDX-License-Identifier: MIT */
/* mmu_xxh64 against published XXH64 values and against libxxhash. */
#include <xxhash.h>

#include "pt.h"

/* the spec's prime 1 of XXH32, which xxHash's own sanity check seeds with */
#define XX_SANITY_SEED 0x9E3779B1u

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rng(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)rng();
}

Test(xxh64, published_values) {
  EQ(mmu_xxh64("", 0, 0), 0xEF46DB3751D8E999ull);
  EQ(mmu_xxh64(NULL, 0, 0), 0xEF46DB3751D8E999ull);
  EQ(mmu_xxh64(NULL, 0, XX_SANITY_SEED), 0xAC75FDA2929B17EFull);
  EQ(mmu_xxh64("a", 1, 0), 0xD24EC4F1A98C6E5Bull);
  EQ(mmu_xxh64("abc", 3, 0), 0x44BC2CF5AD770999ull);
}

/* Every tail shape (0..300 covers 0-9 stripes with all 8/4/1-byte tails)
 * and a page, at every misalignment of the input. */
Test(xxh64, matches_libxxhash_every_length) {
  static uint8_t data[4096 + 8];
  const uint64_t seeds[] = {0, 1, XX_SANITY_SEED, 0x9E3779B185EBCA87ull,
                            UINT64_MAX, rng(), rng()};
  fill_random(data, sizeof data);
  for (unsigned s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    for (size_t len = 0; len <= 300; len++)
      for (size_t off = 0; off < 8; off++)
        cr_assert(mmu_xxh64(data + off, len, seeds[s]) ==
                      XXH64(data + off, len, seeds[s]),
                  "len %zu offset %zu seed 0x%llx", len, off,
                  (unsigned long long)seeds[s]);
    for (size_t off = 0; off < 8; off++)
      EQ(mmu_xxh64(data + off, 4096, seeds[s]),
         XXH64(data + off, 4096, seeds[s]));
  }
}

/* Fresh random pages and seeds, and lengths around the stripe size. */
Test(xxh64, matches_libxxhash_random_pages) {
  static uint8_t page[4096];
  for (int i = 0; i < 200; i++) {
    fill_random(page, sizeof page);
    uint64_t seed = rng();
    EQ(mmu_xxh64(page, sizeof page, seed), XXH64(page, sizeof page, seed));
    size_t len = (size_t)(rng() % sizeof page);
    EQ(mmu_xxh64(page, len, seed), XXH64(page, len, seed));
  }
}

/* A swapped page must change its digest when one bit flips, whichever. */
Test(xxh64, every_bit_of_a_page_matters) {
  static uint8_t page[4096];
  fill_random(page, sizeof page);
  uint64_t base = mmu_xxh64(page, sizeof page, 0);
  for (size_t bit = 0; bit < sizeof page * 8; bit += 61) {
    page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    uint64_t h = mmu_xxh64(page, sizeof page, 0);
    cr_assert(h != base, "bit %zu", bit);
    EQ(h, XXH64(page, sizeof page, 0));
    page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  EQ(mmu_xxh64(page, sizeof page, 0), base);
}
