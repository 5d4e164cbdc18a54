/* SPDX-License-Identifier: MIT */
/* fuzz_world.h - guest RAM and page tables built from fuzz input, shared by
 * the walk-differential and tlb-coherence targets.
 *
 * Two RAM regions with a gap between them, each at the start of a buffer
 * kept for the whole process (one per side and region, sized for the
 * largest layout) whose tail past the region is poisoned for ASan, so any
 * byte the library touches outside a region still traps; between inputs
 * only the pages the harness wrote are zeroed again (the library writes
 * only entries that are present, so never in another page),
 * an optional page of MMIO-resident paging entries served through the
 * pt_read / pt_cmpxchg callbacks, and page tables built by mapping linear
 * addresses whose indices come mostly from a small pool (shared upper
 * tables, TLB repeats). Table frames are taken from the top of region 0
 * downwards, so the root is the last page before the region's end and
 * entry 511 its last eight bytes. Decoding is arranged so that zero bytes
 * give present, writable, user, in-RAM mappings: walks succeed often. */
#ifndef MMU_FUZZ_WORLD_H_INCLUDED
#define MMU_FUZZ_WORLD_H_INCLUDED

#include "fuzz_common.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#if __has_feature(memory_sanitizer)
#define FZ_MSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef FZ_MSAN
#include <sanitizer/msan_interface.h>
#endif

/* The largest region of each kind fz_world_layout makes. */
#define FZ_RAM_CAP0 (1 * FZ_MiB)
#define FZ_RAM_CAP1 (64 * FZ_KiB)

#define FZ_MAX_FRAMES 48
#define FZ_MAX_MAPS 24
#define FZ_MAX_WRITTEN 256
#define FZ_ADDR 0x000FFFFFFFFFF000ull /* bits 51:12 */

typedef struct fz_side {
  mmu_cpu cpu;
  mmu_config cfg;
  mmu_ram_region region[2];
  uint8_t *ram[2];   /* region[i].size bytes usable, the rest poisoned */
  uint64_t *mmio;    /* 512 entries, exactly 4 KiB */
  uint64_t mmio_gpa;
  int mmio_mode;     /* cmpxchg: 0 works, 1 bus error, 2 always loses, 3 odd entries bus */
  mmu_tlb_entry *tlb;
  uint64_t dirty[2][FZ_RAM_CAP0 / 4096 / 64]; /* pages the harness wrote */
  /* the entries (8-byte slots) the harness wrote, the only ones the
   * library may write too; past FZ_MAX_WRITTEN, nwritten is one more */
  uint32_t nwritten;
  uint64_t written[FZ_MAX_WRITTEN];
} fz_side;

/* The process-long buffers of side `slot` (0 or 1): RAM regions, MMIO
 * page, TLB storage (the largest any input asks: 64 sets x 4 ways). */
typedef struct fz_pool {
  uint8_t *ram[2];
  uint64_t *mmio;
  void *tlb;
  size_t tlb_bytes;
} fz_pool;

static inline fz_pool *fz_pool_of(unsigned slot) {
  static fz_pool pools[2];
  fz_pool *p = &pools[slot & 1];
  if (!p->ram[0]) {
    mmu_config big;
    memset(&big, 0, sizeof big);
    big.tlb_sets = 64;
    big.tlb_ways = 4;
    p->tlb_bytes = mmu_tlb_storage_size(&big);
    p->ram[0] = (uint8_t *)calloc(1, FZ_RAM_CAP0);
    p->ram[1] = (uint8_t *)calloc(1, FZ_RAM_CAP1);
    p->mmio = (uint64_t *)calloc(512, sizeof(uint64_t));
    p->tlb = malloc(p->tlb_bytes);
    FZ_CHECK(p->ram[0] && p->ram[1] && p->mmio && p->tlb,
             "fuzz harness: out of memory");
  }
  return p;
}

/* Usable bytes [0, size) of a pool buffer of cap bytes; the rest traps. */
static inline void fz_pool_fit(uint8_t *buf, uint64_t size, uint64_t cap) {
#ifdef FZ_ASAN
  ASAN_UNPOISON_MEMORY_REGION(buf, size);
  ASAN_POISON_MEMORY_REGION(buf + size, cap - size);
#else
  (void)buf, (void)size, (void)cap;
#endif
}

FZ_NO_COVERAGE static inline void fz_mark(fz_side *s, unsigned region, uint64_t off) {
  s->dirty[region][off >> 18] |= 1ull << ((off >> 12) & 63);
}

typedef struct fz_world {
  int levels;
  uint32_t nregions;
  uint64_t gpa[2], size[2];
  int mmio_on;
  uint64_t mmio_gpa;
  uint64_t frames[FZ_MAX_FRAMES];
  unsigned nframes, max_frames;
  uint64_t alloc_top[2]; /* next frame is alloc_top - 4096 */
  uint64_t root;         /* the table at the top level (frames[0]) */
  unsigned nmaps;
  uint64_t map_va[FZ_MAX_MAPS], map_size[FZ_MAX_MAPS];
} fz_world;

/* ---- memory of one side ------------------------------------------------ */

FZ_NO_COVERAGE static inline uint64_t *fz_slot(fz_side *s, uint64_t gpa) {
  if (gpa & 7)
    return NULL;
  for (uint32_t i = 0; i < s->cfg.ram_count; i++)
    if (gpa >= s->region[i].gpa && gpa - s->region[i].gpa < s->region[i].size)
      return (uint64_t *)(void *)(s->ram[i] + (gpa - s->region[i].gpa));
  if (s->mmio && gpa >= s->mmio_gpa && gpa - s->mmio_gpa < 4096)
    return &s->mmio[(gpa - s->mmio_gpa) / 8];
  return NULL;
}

FZ_NO_COVERAGE static inline uint64_t fz_rd(fz_side *s, uint64_t gpa) {
  uint64_t *p = fz_slot(s, gpa);
  return p ? *p : 0;
}

FZ_NO_COVERAGE static inline void fz_wr(fz_side *s, uint64_t gpa, uint64_t v) {
  uint64_t *p = fz_slot(s, gpa);
  if (!p)
    return;
  *p = v;
  if (s->nwritten < FZ_MAX_WRITTEN)
    s->written[s->nwritten++] = gpa & ~7ull;
  else
    s->nwritten = FZ_MAX_WRITTEN + 1;
  for (unsigned i = 0; i < s->cfg.ram_count; i++)
    if ((uint8_t *)p >= s->ram[i] && (uint8_t *)p < s->ram[i] + s->region[i].size)
      fz_mark(s, i, (uint64_t)((uint8_t *)p - s->ram[i]));
}

/* Whether the harness wrote the page of gpa since the last reset (else it
 * is all zero: the library writes only into entries the harness made). */
FZ_NO_COVERAGE static inline int fz_written(const fz_side *s, uint64_t gpa) {
  for (uint32_t i = 0; i < s->cfg.ram_count; i++)
    if (gpa >= s->region[i].gpa && gpa - s->region[i].gpa < s->region[i].size) {
      uint64_t k = (gpa - s->region[i].gpa) >> 12;
      return (int)((s->dirty[i][k / 64] >> (k % 64)) & 1);
    }
  return 1; /* not RAM: nothing known */
}

/* Host address the library must report for a final physical address. */
FZ_NO_COVERAGE static inline uint8_t *fz_expected_host(fz_side *s, uint64_t pa) {
  for (uint32_t i = 0; i < s->cfg.ram_count; i++)
    if (pa >= s->region[i].gpa && pa - s->region[i].gpa < s->region[i].size)
      return s->ram[i] + (pa - s->region[i].gpa);
  return NULL;
}

/* MMIO-resident paging entries. */
FZ_NO_COVERAGE static inline int fz_pt_read(void *user, uint64_t gpa, uint64_t *value) {
  fz_side *s = (fz_side *)user;
  if (!s->mmio || gpa < s->mmio_gpa || gpa - s->mmio_gpa >= 4096 || (gpa & 7))
    return -1;
  *value = s->mmio[(gpa - s->mmio_gpa) / 8];
  return 0;
}

FZ_NO_COVERAGE static inline int fz_pt_cmpxchg(void *user, uint64_t gpa, uint64_t expected,
                         uint64_t desired) {
  fz_side *s = (fz_side *)user;
  if (!s->mmio || gpa < s->mmio_gpa || gpa - s->mmio_gpa >= 4096 || (gpa & 7))
    return 2;
  unsigned i = (unsigned)((gpa - s->mmio_gpa) / 8);
  switch (s->mmio_mode) {
  case 1:
    return 2;
  case 2:
    return 1;
  case 3:
    if (i & 1)
      return 2;
    break;
  default:
    break;
  }
  if (s->mmio[i] != expected)
    return 1;
  s->mmio[i] = desired;
  return 0;
}

/* Whether an input compares and clears all of RAM, not only the pages the
 * harness wrote: one in 16, by its bytes, so that what it finds
 * reproduces (a library that wrote where no entry was). */
static inline int fz_full_check_of(const uint8_t *data, size_t size) {
  uint32_t h = (uint32_t)size * 2654435761u;
  if (size)
    h ^= (uint32_t)data[size - 1] * 40503u + data[size / 2];
  return (h >> 28) == 0;
}

/* This side's RAM, MMIO page and TLB for the world's layout, from pool
 * `slot` (one per side), and init the cpu. Returns 0 on success. */
static inline int fz_side_init(fz_side *s, unsigned slot, const fz_world *w,
                               uint32_t maxphy, uint32_t flags, uint32_t sets,
                               uint32_t ways, int mmio_mode) {
  fz_pool *pool = fz_pool_of(slot);
  static const uint64_t cap[2] = {FZ_RAM_CAP0, FZ_RAM_CAP1};
  memset(s, 0, sizeof *s);
  for (uint32_t i = 0; i < 2; i++) {
    uint64_t size = i < w->nregions ? w->size[i] : 0;
    FZ_CHECK(size <= cap[i], "region %u of 0x%llx bytes: the pool has 0x%llx",
             i, (unsigned long long)size, (unsigned long long)cap[i]);
    fz_pool_fit(pool->ram[i], size, cap[i]);
    if (i >= w->nregions)
      continue;
    s->ram[i] = pool->ram[i];
    s->region[i].gpa = w->gpa[i];
    s->region[i].size = size;
    s->region[i].host = s->ram[i];
  }
  s->cfg.tlb_sets = sets;
  s->cfg.tlb_ways = ways;
  /* the front at a quarter of the backing TLB, 16 to 64 entries a view:
   * the short runs a fuzzer makes reach its evictions to the backing TLB,
   * and mmu_init clears less */
  uint32_t quarter = sets * ways / 4;
  s->cfg.front_entries = quarter < 16 ? 16 : quarter > 64 ? 64 : quarter;
  s->cfg.maxphyaddr = maxphy;
  s->cfg.flags = flags;
  s->cfg.ram = s->region;
  s->cfg.ram_count = w->nregions;
  if (w->mmio_on) {
    s->mmio = pool->mmio;
    s->mmio_gpa = w->mmio_gpa;
    s->mmio_mode = mmio_mode;
    s->cfg.pt_read = fz_pt_read;
    s->cfg.pt_cmpxchg = fz_pt_cmpxchg;
    s->cfg.pt_user = s;
  }
  size_t bytes = mmu_tlb_storage_size(&s->cfg);
  if (bytes == 0 || bytes > pool->tlb_bytes)
    return -1;
  s->tlb = (mmu_tlb_entry *)pool->tlb;
  /* storage as an embedder may hand it, with whatever the last input left:
   * mmu_init must define every byte it later reads (MSan holds it to that,
   * the bytes marked undefined again; see
   * fuzz/regressions/walk_differential/msan-tlb-victim-uninit.md) */
#ifdef FZ_MSAN
  __msan_allocated_memory(s->tlb, bytes);
#endif
  return mmu_init(&s->cpu, &s->cfg, s->tlb, bytes) == MMU_OK ? 0 : -1;
}

/* Where a and b differ, or -1 (gpa of the first differing entry): in the
 * pages either side's harness wrote, or with `full` in all of RAM (the
 * library writing where no entry was shows only there). */
FZ_NO_COVERAGE static inline int64_t fz_side_diff_in(const fz_side *a, const fz_side *b,
                                      int full) {
  for (uint32_t i = 0; i < a->cfg.ram_count; i++)
    for (uint64_t pg = 0; pg < a->region[i].size; pg += 4096) {
      uint64_t k = pg >> 12;
      if (!full && !(((a->dirty[i][k / 64] | b->dirty[i][k / 64]) >> (k % 64)) & 1))
        continue;
      if (memcmp(a->ram[i] + pg, b->ram[i] + pg, 4096) == 0)
        continue;
      for (uint64_t off = pg; off < pg + 4096; off += 8)
        if (memcmp(a->ram[i] + off, b->ram[i] + off, 8) != 0)
          return (int64_t)(a->region[i].gpa + off);
    }
  if (a->mmio)
    for (unsigned k = 0; k < 512; k++)
      if (a->mmio[k] != b->mmio[k])
        return (int64_t)(a->mmio_gpa + 8ull * k);
  return -1;
}

/* Back to zero for the next input: the pages the harness wrote (all of
 * RAM with `full`, checking that nothing else was written); the side
 * itself is cleared by the next fz_side_init. */
FZ_NO_COVERAGE static inline void fz_side_fini_in(fz_side *s, int full) {
  for (uint32_t i = 0; i < s->cfg.ram_count; i++) {
    if (!full) { /* only the pages written: a word of the bitmap at a time */
      for (uint64_t w = 0; w < ((s->region[i].size >> 12) + 63) / 64; w++)
        for (uint64_t bits = s->dirty[i][w]; bits; bits &= bits - 1)
          memset(s->ram[i] + ((w * 64 + (uint64_t)__builtin_ctzll(bits)) << 12),
                 0, 4096);
      continue;
    }
    for (uint64_t pg = 0; pg < s->region[i].size; pg += 4096) {
      uint64_t k = pg >> 12;
      static const uint8_t zero[4096];
      if ((s->dirty[i][k / 64] >> (k % 64)) & 1)
        memset(s->ram[i] + pg, 0, 4096);
      else if (memcmp(s->ram[i] + pg, zero, 4096) != 0) /* find the word */
        for (uint64_t off = pg; off < pg + 4096; off += 8)
          FZ_CHECK(*(const uint64_t *)(const void *)(s->ram[i] + off) == 0,
                   "guest RAM at 0x%llx was written outside every page the "
                   "harness wrote: 0x%llx (a write where no entry was)",
                   (unsigned long long)(s->region[i].gpa + off),
                   (unsigned long long)*(const uint64_t *)(const void *)(s->ram[i] + off));
    }
  }
  if (s->mmio)
    memset(s->mmio, 0, 4096);
}

/* Copy all of a's memory into b (same layout): the pages a's harness
 * wrote, which b's harness then owns too. */
FZ_NO_COVERAGE static inline void fz_side_copy_memory(fz_side *b, const fz_side *a) {
  for (uint32_t i = 0; i < a->cfg.ram_count; i++) {
    for (uint64_t pg = 0; pg < a->region[i].size; pg += 4096) {
      uint64_t k = pg >> 12;
      if ((a->dirty[i][k / 64] >> (k % 64)) & 1)
        memcpy(b->ram[i] + pg, a->ram[i] + pg, 4096);
    }
    memcpy(b->dirty[i], a->dirty[i], sizeof b->dirty[i]);
  }
  b->nwritten = a->nwritten;
  memcpy(b->written, a->written, sizeof b->written);
  if (a->mmio)
    memcpy(b->mmio, a->mmio, 4096);
}

/* ---- layout ------------------------------------------------------------ */

/* Region 0 at 0, region 1 (optional) after a gap, MMIO page (optional)
 * right after the last region: the boundaries are where overruns show. */
static inline void fz_world_layout(fz_world *w, fuzz_input *in, int allow_mmio,
                                   uint64_t base0) {
  static const uint64_t sizes0[8] = {64 * FZ_KiB,  64 * FZ_KiB,  128 * FZ_KiB,
                                     128 * FZ_KiB, 192 * FZ_KiB, 256 * FZ_KiB,
                                     512 * FZ_KiB, 1 * FZ_MiB};
  memset(w, 0, sizeof *w);
  uint8_t b = fi_u8(in);
  w->gpa[0] = base0;
  w->size[0] = sizes0[b & 7];
  w->nregions = 1;
  unsigned r1 = (b >> 3) & 7; /* 0..5: region 1 at one of five places */
  if (r1 < 5) {
    uint64_t size1 = (uint64_t)(1 + ((b >> 6) & 3)) * 16 * FZ_KiB;
    static const uint64_t after[5] = {4 * FZ_KiB, 64 * FZ_KiB, 0, 0, 0};
    uint64_t gpa1;
    uint64_t end0 = base0 + w->size[0];
    if (r1 < 2)
      gpa1 = end0 + after[r1];
    else if (r1 == 2) /* ends at a 2 MiB boundary */
      gpa1 = ((end0 + 4 * FZ_MiB - 1) & ~(2 * FZ_MiB - 1)) - size1;
    else if (r1 == 3)
      gpa1 = ((end0 + FZ_GiB) & ~(FZ_GiB - 1));
    else
      gpa1 = ((end0 + 4 * FZ_GiB) & ~(4 * FZ_GiB - 1)) - size1;
    w->gpa[1] = gpa1;
    w->size[1] = size1;
    w->nregions = 2;
  }
  w->mmio_on = allow_mmio && (fi_u8(in) & 3) == 3;
  w->mmio_gpa = w->gpa[w->nregions - 1] + w->size[w->nregions - 1];
  w->alloc_top[0] = w->gpa[0] + w->size[0];
  w->alloc_top[1] = w->nregions > 1 ? w->gpa[1] + w->size[1] : 0;
  w->max_frames = (unsigned)(w->size[0] / 4096) * 3 / 4 +
                  (w->nregions > 1 ? (unsigned)(w->size[1] / 4096) / 2 : 0);
  if (w->max_frames > FZ_MAX_FRAMES)
    w->max_frames = FZ_MAX_FRAMES;
}

/* A fresh table frame (zero: RAM starts zeroed), or 0 when none is left. */
static inline uint64_t fz_alloc_frame(fz_world *w) {
  if (w->nframes >= w->max_frames)
    return 0;
  int r = w->nframes % 5 == 4 && w->nregions > 1 &&
          w->alloc_top[1] - 4096 >= w->gpa[1];
  if (!r && w->alloc_top[0] - 4096 < w->gpa[0] + 4096) /* keep page 0 */
    return 0;
  uint64_t f = w->alloc_top[r] - 4096;
  w->alloc_top[r] = f;
  w->frames[w->nframes++] = f;
  return f;
}

FZ_NO_COVERAGE static inline int fz_is_frame(const fz_world *w, uint64_t gpa) {
  for (unsigned i = 0; i < w->nframes; i++)
    if (w->frames[i] == gpa)
      return 1;
  return 0;
}

/* ---- entries ------------------------------------------------------------ */

/* Flags of an upper (non-leaf) entry: usually P, W, U. */
static inline uint64_t fz_upper_flags(fuzz_input *in) {
  uint8_t u = fi_u8(in);
  uint64_t f = 0;
  if ((u & 0x0F) != 0x0F)
    f |= MMU_PTE_P;
  if (!(u & 0x10))
    f |= MMU_PTE_W;
  if (!(u & 0x20))
    f |= MMU_PTE_U;
  if ((u & 0xC0) == 0xC0)
    f |= MMU_PTE_XD;
  if ((u & 0xC0) == 0x40)
    f |= MMU_PTE_A;
  if ((u & 0xC0) == 0x80)
    f |= MMU_PTE_PWT | MMU_PTE_PCD | (1ull << 9) | (1ull << 52);
  return f;
}

/* Flags of a leaf: usually P, W, U; the rest by bits of two bytes, and a
 * third byte that may flip any one bit (reserved bits, PS, PAT). */
static inline uint64_t fz_leaf_flags(fuzz_input *in) {
  uint8_t a = fi_u8(in), b = fi_u8(in);
  uint64_t f = 0;
  if ((a & 0x07) != 0x07)
    f |= MMU_PTE_P;
  if (!(a & 0x08))
    f |= MMU_PTE_W;
  if (!(a & 0x10))
    f |= MMU_PTE_U;
  if ((a & 0x60) == 0x60)
    f |= MMU_PTE_XD;
  if (a & 0x80)
    f |= MMU_PTE_G;
  if (b & 0x01)
    f |= MMU_PTE_A;
  if (b & 0x02)
    f |= MMU_PTE_D;
  if (b & 0x04)
    f |= MMU_PTE_PWT | MMU_PTE_PCD;
  f |= (uint64_t)((b >> 3) & 15) << MMU_PTE_PKEY_SHIFT;
  if (b & 0x80)
    f |= (7ull << 9) | (0x7Full << 52); /* ignored bits */
  return f;
}

static inline uint64_t fz_maybe_flip(fuzz_input *in, uint64_t v) {
  uint8_t c = fi_u8(in);
  if (c >= 0xF0)
    v ^= 1ull << (fi_u8(in) & 63);
  return v;
}

/* Physical address of a page of the given size: mostly RAM, sometimes the
 * region edges, the gap, a page table, or anything. */
static inline uint64_t fz_leaf_paddr(fz_world *w, fuzz_input *in, uint64_t size) {
  uint8_t k = fi_u8(in) & 7;
  uint64_t pa;
  switch (k) {
  default: /* 0..2: region 0 */
    pa = w->gpa[0] + (uint64_t)(fi_u16(in) % (w->size[0] / 4096)) * 4096;
    break;
  case 3:
    pa = w->nregions > 1
             ? w->gpa[1] + (uint64_t)(fi_u8(in) % (w->size[1] / 4096)) * 4096
             : w->gpa[0] + w->size[0] - 4096;
    break;
  case 4: /* last page of a region */
    pa = w->gpa[w->nregions - 1] + w->size[w->nregions - 1] - 4096;
    break;
  case 5: /* first page after a region: the gap, or MMIO */
    pa = w->gpa[0] + w->size[0];
    break;
  case 6: /* anything: may set bits above MAXPHYADDR, or misalign */
    return fi_u64(in) & FZ_ADDR;
  case 7:
    pa = w->nframes ? w->frames[fi_u8(in) % w->nframes] : 0;
    break;
  }
  return pa & ~(size - 1);
}

/* Map va (size 4 KiB, 2 MiB or 1 GiB) below the table at root, creating
 * missing tables. Existing table entries are reused. Returns 0 when out
 * of frames. All writes go to side a. */
static inline int fz_map(fz_world *w, fz_side *a, fuzz_input *in, uint64_t root,
                  uint64_t va, uint64_t size) {
  int leaf_level = size == FZ_GiB ? 3 : size == 2 * FZ_MiB ? 2 : 1;
  uint64_t upper = fz_upper_flags(in);
  uint64_t table = root;
  for (int level = w->levels; level > leaf_level; level--) {
    uint64_t gpa = table + 8ull * fz_pt_index(va, level);
    uint64_t e = fz_rd(a, gpa);
    uint64_t next = e & FZ_ADDR;
    if (!(e & MMU_PTE_P) || (e & MMU_PTE_PS) || !fz_is_frame(w, next)) {
      next = fz_alloc_frame(w);
      if (!next)
        return 0;
      fz_wr(a, gpa, next | upper);
    }
    table = next;
  }
  uint64_t leaf = fz_leaf_paddr(w, in, size) | fz_leaf_flags(in);
  if (leaf_level > 1)
    leaf |= MMU_PTE_PS;
  leaf = fz_maybe_flip(in, leaf);
  fz_wr(a, table + 8ull * fz_pt_index(va, leaf_level), leaf);
  return 1;
}

/* A linear address built index by index (canonical). */
static inline uint64_t fz_build_va(fuzz_input *in, int levels, uint64_t size) {
  uint64_t raw = 0;
  for (int l = levels; l >= 1; l--)
    raw |= (uint64_t)fz_index(in) << (12 + 9 * (l - 1));
  raw &= ~(size - 1);
  return fz_canon(raw, levels);
}

static inline uint64_t fz_map_size(fuzz_input *in) {
  uint8_t k = fi_u8(in) & 7;
  return k < 5 ? 4096 : k < 7 ? 2 * FZ_MiB : FZ_GiB;
}

/* Build the tables: root, then mappings until the input says stop (count
 * byte) or frames run out. */
static inline void fz_build_tables(fz_world *w, fz_side *a, fuzz_input *in) {
  w->root = fz_alloc_frame(w);
  unsigned count = 1 + fi_u8(in) % FZ_MAX_MAPS;
  for (unsigned i = 0; i < count; i++) {
    uint64_t size = fz_map_size(in);
    uint64_t va = fz_build_va(in, w->levels, size);
    if (!fz_map(w, a, in, w->root, va, size))
      break;
    w->map_va[w->nmaps] = va;
    w->map_size[w->nmaps] = size;
    w->nmaps++;
  }
}

/* A value for a paging entry written over an existing one ("poke"):
 * pointers to other tables, to the region edges, the gap, MMIO, a large
 * page over a table, any value, or a one-bit change of the old value. */
static inline uint64_t fz_entry_value(fz_world *w, fuzz_input *in, uint64_t old) {
  uint8_t k = fi_u8(in) & 7;
  uint64_t f = MMU_PTE_P | MMU_PTE_W | MMU_PTE_U;
  switch (k) {
  case 0: {
    uint8_t i = fi_u8(in);
    uint64_t frame = w->nframes ? w->frames[i % w->nframes] : 0;
    return frame | f | (fi_bool(in) ? MMU_PTE_A : 0);
  }
  case 1: {
    uint8_t i = fi_u8(in);
    uint64_t frame = w->nframes ? w->frames[i % w->nframes] : 0;
    return frame | f | MMU_PTE_PS | (fi_bool(in) ? MMU_PTE_G : 0);
  }
  case 2:
    return (w->gpa[0] + w->size[0] - 4096) | f;
  case 3:
    return (w->gpa[0] + w->size[0]) | f; /* gap or MMIO */
  case 4:
    return (w->nregions > 1 ? w->gpa[1] + w->size[1] - 4096 : 0) | f;
  case 5:
    return fi_u64(in);
  case 6:
    return old ^ (1ull << (fi_u8(in) & 63));
  default:
    return fz_leaf_paddr(w, in, 4096) | fz_leaf_flags(in);
  }
}

/* Gpa of the entry for va at level, following the current tables of side
 * a from root; 0 when the path leaves RAM or ends early. */
static inline uint64_t fz_entry_gpa(fz_side *a, uint64_t root, int levels, uint64_t va,
                             int level) {
  uint64_t table = root & FZ_ADDR;
  for (int l = levels; l > level; l--) {
    uint64_t gpa = table + 8ull * fz_pt_index(va, l);
    if (!fz_slot(a, gpa))
      return 0;
    uint64_t e = fz_rd(a, gpa);
    if (!(e & MMU_PTE_P) || (l <= 3 && (e & MMU_PTE_PS)))
      return 0;
    table = e & FZ_ADDR;
  }
  uint64_t gpa = table + 8ull * fz_pt_index(va, level);
  return fz_slot(a, gpa) ? gpa : 0;
}

/* A linear address for an access (first byte k: < 0xA0 a mapped page plus
 * an offset, < 0xC0 a mapped page with one bit changed, < 0xE0 built from
 * the index pools, < 0xF0 an edge of the canonical range, else a u64 as
 * is). Note for every decoder: one fi_* call per statement, since C leaves
 * the order of evaluation of arguments unspecified and gcc and clang
 * builds must decode an input the same way. */
static inline uint64_t fz_access_va(const fz_world *w, fuzz_input *in) {
  uint8_t k = fi_u8(in);
  if (k < 0xA0 && w->nmaps) {
    unsigned i = fi_u8(in) % w->nmaps;
    uint64_t off = k < 0x60 ? (fi_u16(in) & 0xFFF) : (fi_u32(in) & (w->map_size[i] - 1));
    return w->map_va[i] + off;
  }
  if (k < 0xC0 && w->nmaps) {
    uint64_t va = w->map_va[fi_u8(in) % w->nmaps];
    return va ^ (1ull << (fi_u8(in) & 63));
  }
  if (k < 0xE0) {
    uint64_t raw = 0;
    for (int l = w->levels; l >= 1; l--)
      raw |= (uint64_t)fz_index(in) << (12 + 9 * (l - 1));
    return fz_canon(raw | (fi_u16(in) & 0xFFF), w->levels);
  }
  if (k < 0xF0)
    return fi_pick(in, fz_edge_va);
  return fi_u64(in);
}

/* ---- raw mode: explicit registers and entries (conformance vectors) ---- */

/* A state given entry by entry, as a conformance vector gives it:
 *   base u16 (MiB: region 0's gpa), layout byte (fz_world_layout),
 *   cr0 u32, cr3 u64, cr4 u32, efer u16, pkru u32, cpl|ac<<2 u8,
 *   count u8 then count x (slot u16, value u64): entry at region 0 + 8*slot,
 *   count u8 then count x va u64: addresses accesses pick from.
 * The pages holding entries become the world's frames. fuzz/make_seeds.c
 * writes this form from conformance/vectors/. */
typedef struct fz_raw_regs {
  uint64_t cr0, cr3, cr4, efer;
  uint32_t pkru;
  uint8_t cpl, ac;
} fz_raw_regs;

#define FZ_RAW_MAX_PTES 64
#define FZ_RAW_MAX_VAS FZ_MAX_MAPS

static inline void fz_raw_regs_read(fuzz_input *in, fz_raw_regs *r) {
  r->cr0 = fi_u32(in);
  r->cr3 = fi_u64(in);
  r->cr4 = fi_u32(in);
  r->efer = fi_u16(in);
  r->pkru = fi_u32(in);
  uint8_t b = fi_u8(in);
  r->cpl = b & 3;
  r->ac = (b >> 2) & 1;
}

/* After fz_world_layout: the entries and the addresses. */
static inline void fz_raw_entries(fz_world *w, fz_side *a, fuzz_input *in) {
  unsigned n = fi_u8(in) % (FZ_RAW_MAX_PTES + 1);
  for (unsigned i = 0; i < n; i++) {
    uint64_t gpa = w->gpa[0] + ((uint64_t)fi_u16(in) * 8) % w->size[0];
    fz_wr(a, gpa, fi_u64(in));
    uint64_t frame = gpa & ~0xFFFull;
    if (!fz_is_frame(w, frame) && w->nframes < FZ_MAX_FRAMES)
      w->frames[w->nframes++] = frame;
  }
  unsigned nva = fi_u8(in) % (FZ_RAW_MAX_VAS + 1);
  for (unsigned i = 0; i < nva; i++) {
    w->map_va[w->nmaps] = fi_u64(in) & ~0xFFFull;
    w->map_size[w->nmaps++] = 4096;
  }
  w->root = w->nframes ? w->frames[0] : w->gpa[0];
}

/* After fz_raw_entries: the registers a vector starts with. Under PAE
 * paging the PDPTE registers hold what CR3's PDPT holds in RAM, as a
 * vector's first MOV to CR3 would have loaded them (SPEC 8.2). */
static inline void fz_raw_to_regs(const fz_raw_regs *rr, fz_side *a, mmu_regs *r) {
  r->cr0 = rr->cr0;
  r->cr3 = rr->cr3;
  r->cr4 = rr->cr4;
  r->efer = rr->efer;
  r->pkru = rr->pkru;
  r->cpl = rr->cpl;
  r->ac = rr->ac;
  if ((r->cr0 & MMU_CR0_PG) && (r->cr4 & MMU_CR4_PAE) && !(r->efer & MMU_EFER_LME))
    for (int i = 0; i < 4; i++)
      r->pdpte[i] = fz_rd(a, (r->cr3 & 0xFFFFFFE0ull) + 8ull * (uint64_t)i);
}

#endif
