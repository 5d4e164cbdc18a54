/* SPDX-License-Identifier: MIT */
/* pt.h - page-table building helpers for the mmu Criterion tests.
 *
 * A pt_env owns one mmu_cpu, its TLB storage, guest RAM (one or two regions)
 * and a bump allocator for page-table frames. pt_map() builds 4-level or
 * 5-level tables; pt_get()/pt_set() read and write the entry that a linear
 * address uses at a given level (5 = PML5E ... 1 = PTE).
 *
 * Expectations in the tests are written from the Intel SDM vol. 3A ch. 4,
 * never from the implementation.
 */
#ifndef MMU_TESTS_PT_H
#define MMU_TESTS_PT_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define GiB (1024ull * 1024ull * 1024ull)

#define PT_ADDR_MASK 0x000FFFFFFFFFF000ull /* bits 51:12 */

/* #PF error-code shorthands */
#define EC_P MMU_PFEC_P
#define EC_W MMU_PFEC_W
#define EC_U MMU_PFEC_U
#define EC_RSVD MMU_PFEC_RSVD
#define EC_ID MMU_PFEC_ID
#define EC_PK MMU_PFEC_PK

/* common entry flag sets */
#define F_P MMU_PTE_P
#define F_W MMU_PTE_W
#define F_U MMU_PTE_U
#define F_A MMU_PTE_A
#define F_D MMU_PTE_D
#define F_PS MMU_PTE_PS
#define F_G MMU_PTE_G
#define F_XD MMU_PTE_XD
#define F_PWU (F_P | F_W | F_U)
#define F_PW (F_P | F_W)
#define F_PU (F_P | F_U)
#define PKEY(k) ((uint64_t)(k) << MMU_PTE_PKEY_SHIFT)

/* default layout of the single-region environment */
#define PT_RAM_SIZE (16 * MiB)
#define PT_FRAMES_START (1 * MiB) /* page-table frames: 1 MiB .. 8 MiB */
#define PT_FRAMES_END (8 * MiB)
#define PT_DATA (8 * MiB) /* data pages the tests map: 8 MiB .. 16 MiB */

/* linear addresses in distinct PML4 slots (slot n + 1), all canonical */
#define PT_SLOT(n) (0x0000008012345000ull + ((uint64_t)(n) << 39))

typedef struct pt_env {
  mmu_cpu cpu;
  mmu_config cfg;
  mmu_ram_region region[2];
  uint8_t *host[2];
  uint32_t nregions;
  void *tlb;
  size_t tlb_bytes;
  uint64_t next_frame, frame_end;
  uint64_t root;
  int levels;
} pt_env;

static pt_env E __attribute__((unused)); /* the default environment of a test */

/* ------------------------------------------------------------------------ */
/* assertions printing 64-bit values in hex */

#define EQ(actual, expected)                                                   \
  do {                                                                         \
    uint64_t eq_a_ = (uint64_t)(actual), eq_e_ = (uint64_t)(expected);         \
    cr_assert(eq_a_ == eq_e_, "%s == %s: got 0x%llx, expected 0x%llx",         \
              #actual, #expected, (unsigned long long)eq_a_,                   \
              (unsigned long long)eq_e_);                                      \
  } while (0)

#define EXPECT_EQ(actual, expected)                                            \
  do {                                                                         \
    uint64_t eq_a_ = (uint64_t)(actual), eq_e_ = (uint64_t)(expected);         \
    cr_expect(eq_a_ == eq_e_, "%s == %s: got 0x%llx, expected 0x%llx",         \
              #actual, #expected, (unsigned long long)eq_a_,                   \
              (unsigned long long)eq_e_);                                      \
  } while (0)

#define PTREQ(actual, expected)                                                \
  do {                                                                         \
    const void *pq_a_ = (const void *)(actual);                                \
    const void *pq_e_ = (const void *)(expected);                              \
    cr_assert(pq_a_ == pq_e_, "%s == %s: got %p, expected %p", #actual,        \
              #expected, pq_a_, pq_e_);                                        \
  } while (0)

/* status with its name in the message */
#define ST(actual, expected)                                                   \
  do {                                                                         \
    int st_a_ = (actual), st_e_ = (expected);                                  \
    cr_assert(st_a_ == st_e_, "%s: got %d, expected %d (%s)", #actual, st_a_,  \
              st_e_, #expected);                                               \
  } while (0)

/* ------------------------------------------------------------------------ */
/* RAM */

static inline uint8_t *pt_host(pt_env *e, uint64_t gpa) {
  for (uint32_t i = 0; i < e->nregions; i++)
    if (gpa >= e->region[i].gpa && gpa - e->region[i].gpa < e->region[i].size)
      return e->host[i] + (gpa - e->region[i].gpa);
  return NULL;
}

static inline uint64_t pt_rd(pt_env *e, uint64_t gpa) {
  uint8_t *h = pt_host(e, gpa);
  cr_assert(h != NULL, "pt_rd: gpa 0x%llx not in RAM", (unsigned long long)gpa);
  uint64_t v;
  memcpy(&v, h, 8);
  return v;
}

static inline void pt_wr(pt_env *e, uint64_t gpa, uint64_t v) {
  uint8_t *h = pt_host(e, gpa);
  cr_assert(h != NULL, "pt_wr: gpa 0x%llx not in RAM", (unsigned long long)gpa);
  memcpy(h, &v, 8);
}

/* bump allocator of zeroed 4 KiB frames */
static inline uint64_t pt_alloc(pt_env *e) {
  cr_assert(e->next_frame + 4096 <= e->frame_end, "pt_alloc: out of frames");
  uint64_t f = e->next_frame;
  e->next_frame += 4096;
  uint8_t *h = pt_host(e, f);
  cr_assert(h != NULL, "pt_alloc: frame 0x%llx not in RAM",
            (unsigned long long)f);
  memset(h, 0, 4096);
  return f;
}

/* ------------------------------------------------------------------------ */
/* environment */

/* Set up e with n RAM regions (gpa[i], size[i]); page-table frames come from
 * [frames, frames_end). base may be NULL; its ram fields are replaced. */
static inline void pt_env_init_regions(pt_env *e, const mmu_config *base,
                                       int levels, unsigned n,
                                       const uint64_t *gpa,
                                       const uint64_t *size, uint64_t frames,
                                       uint64_t frames_end) {
  /* Criterion runs the suite's .init and then the test's: a test-level init
   * replaces the environment the suite set up. */
  if (e->tlb != NULL) {
    for (uint32_t i = 0; i < e->nregions; i++)
      free(e->host[i]);
    free(e->tlb);
  }
  memset(e, 0, sizeof *e);
  if (base)
    e->cfg = *base;
  cr_assert(n >= 1 && n <= 2);
  for (unsigned i = 0; i < n; i++) {
    e->host[i] = aligned_alloc(4096, (size_t)size[i]);
    cr_assert(e->host[i] != NULL);
    memset(e->host[i], 0, (size_t)size[i]);
    e->region[i].gpa = gpa[i];
    e->region[i].size = size[i];
    e->region[i].host = e->host[i];
  }
  e->nregions = n;
  e->cfg.ram = e->region;
  e->cfg.ram_count = n;
  e->tlb_bytes = mmu_tlb_storage_size(&e->cfg);
  cr_assert(e->tlb_bytes > 0, "mmu_tlb_storage_size returned 0");
  e->tlb = aligned_alloc(64, (e->tlb_bytes + 63) & ~(size_t)63);
  cr_assert(e->tlb != NULL);
  int st = mmu_init(&e->cpu, &e->cfg, e->tlb, e->tlb_bytes);
  cr_assert(st == MMU_OK, "mmu_init failed: %d", st);
  e->levels = levels;
  e->next_frame = frames;
  e->frame_end = frames_end;
  e->root = pt_alloc(e);
}

static inline void pt_env_init(pt_env *e, const mmu_config *base, int levels) {
  uint64_t gpa = 0, size = PT_RAM_SIZE;
  pt_env_init_regions(e, base, levels, 1, &gpa, &size, PT_FRAMES_START,
                      PT_FRAMES_END);
}

static inline void pt_env_fini(pt_env *e) {
  for (uint32_t i = 0; i < e->nregions; i++)
    free(e->host[i]);
  free(e->tlb);
  memset(e, 0, sizeof *e);
}

/* default long-mode registers: CR0=PE|PG|WP, CR4=PAE(+LA57), EFER=LME|LMA|NXE */
static inline mmu_regs pt_regs(pt_env *e) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr3 = e->root;
  r.cr4 = MMU_CR4_PAE | (e->levels == 5 ? MMU_CR4_LA57 : 0);
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cpl = 0;
  r.pkru = 0;
  r.ac = 0;
  return r;
}

static inline void pt_load(pt_env *e, const mmu_regs *r) {
  int st = mmu_load_regs(&e->cpu, r);
  cr_assert(st == MMU_OK, "mmu_load_regs failed: %d", st);
}

/* load default registers with extra CR4 bits and a CPL */
static inline void pt_boot(pt_env *e, uint64_t cr4_extra, unsigned cpl) {
  mmu_regs r = pt_regs(e);
  r.cr4 |= cr4_extra;
  r.cpl = (uint8_t)cpl;
  pt_load(e, &r);
}

/* ------------------------------------------------------------------------ */
/* page tables */

static inline unsigned pt_index(uint64_t va, int level) {
  return (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
}

/* gpa of the entry va uses at level, following the address fields of the
 * entries above (their P and PS bits are not looked at) */
static inline uint64_t pt_entry_gpa_from(pt_env *e, uint64_t root, uint64_t va,
                                         int level) {
  uint64_t table = root & PT_ADDR_MASK;
  for (int l = e->levels; l > level; l--)
    table = pt_rd(e, table + 8ull * pt_index(va, l)) & PT_ADDR_MASK;
  return table + 8ull * pt_index(va, level);
}

static inline uint64_t pt_entry_gpa(pt_env *e, uint64_t va, int level) {
  return pt_entry_gpa_from(e, e->root, va, level);
}

static inline uint64_t pt_get(pt_env *e, uint64_t va, int level) {
  return pt_rd(e, pt_entry_gpa(e, va, level));
}
static inline void pt_set(pt_env *e, uint64_t va, int level, uint64_t v) {
  pt_wr(e, pt_entry_gpa(e, va, level), v);
}
static inline void pt_or(pt_env *e, uint64_t va, int level, uint64_t bits) {
  pt_set(e, va, level, pt_get(e, va, level) | bits);
}
static inline void pt_clr(pt_env *e, uint64_t va, int level, uint64_t bits) {
  pt_set(e, va, level, pt_get(e, va, level) & ~bits);
}

/* Map the page of size page (4 KiB, 2 MiB or 1 GiB) containing va to pa
 * under the tables at root. The leaf gets pa | leaf (| PS for large pages);
 * missing intermediate tables are allocated and their entries get
 * table | upper. Existing intermediate entries are kept as they are, unless
 * they are large-page leaves, which are replaced. */
static inline void pt_map_root(pt_env *e, uint64_t root, uint64_t va,
                               uint64_t pa, uint64_t page, uint64_t leaf,
                               uint64_t upper) {
  int leaf_level = page == 4 * KiB ? 1 : page == 2 * MiB ? 2 : 3;
  cr_assert(page == 4 * KiB || page == 2 * MiB || page == 1 * GiB);
  cr_assert((pa & (page - 1)) == 0, "pt_map: pa not aligned to the page");
  uint64_t table = root & PT_ADDR_MASK;
  for (int l = e->levels; l > leaf_level; l--) {
    uint64_t gpa = table + 8ull * pt_index(va, l);
    uint64_t ent = pt_rd(e, gpa);
    if (ent == 0 || (l <= 3 && (ent & F_PS))) {
      ent = pt_alloc(e) | upper;
      pt_wr(e, gpa, ent);
    }
    table = ent & PT_ADDR_MASK;
  }
  pt_wr(e, table + 8ull * pt_index(va, leaf_level),
        pa | leaf | (leaf_level > 1 ? F_PS : 0));
}

static inline void pt_map(pt_env *e, uint64_t va, uint64_t pa, uint64_t page,
                          uint64_t leaf, uint64_t upper) {
  pt_map_root(e, e->root, va, pa, page, leaf, upper);
}

static inline void pt_map4k(pt_env *e, uint64_t va, uint64_t pa,
                            uint64_t leaf) {
  pt_map(e, va, pa, 4 * KiB, leaf, F_PWU);
}

/* a fresh PML4/PML5 table (for a second address space) */
static inline uint64_t pt_new_root(pt_env *e) { return pt_alloc(e); }

/* ------------------------------------------------------------------------ */
/* translation shorthands */

static inline int pt_tr(pt_env *e, uint64_t va, unsigned access,
                        mmu_result *r) {
  memset(r, 0, sizeof *r);
  return mmu_translate(&e->cpu, va, access, r);
}

/* translate, expect MMU_OK and the given physical address */
#define TR_OK(e, va, access, pa)                                               \
  do {                                                                         \
    mmu_result tr_r_;                                                          \
    int tr_s_ = pt_tr((e), (va), (access), &tr_r_);                            \
    cr_assert(tr_s_ == MMU_OK,                                                 \
              "translate(0x%llx, %u): status %d ec 0x%x, expected MMU_OK",     \
              (unsigned long long)(va), (unsigned)(access), tr_s_,             \
              tr_r_.error_code);                                               \
    EQ(tr_r_.paddr, (pa));                                                     \
  } while (0)

/* translate, expect #PF with the given error code and cr2 = va */
#define TR_PF(e, va, access, ec)                                               \
  do {                                                                         \
    mmu_result tr_r_;                                                          \
    int tr_s_ = pt_tr((e), (va), (access), &tr_r_);                            \
    cr_assert(tr_s_ == MMU_PAGE_FAULT,                                         \
              "translate(0x%llx, %u): status %d, expected MMU_PAGE_FAULT",     \
              (unsigned long long)(va), (unsigned)(access), tr_s_);            \
    EQ(tr_r_.error_code, (ec));                                                \
    EQ(tr_r_.cr2, (va));                                                       \
  } while (0)

#define WALKS(e) ((e)->cpu.stats.walks)

/* default per-test init/fini for Criterion */
static inline void pt_setup4(void) { pt_env_init(&E, NULL, 4); }
static inline void pt_setup5(void) { pt_env_init(&E, NULL, 5); }
static inline void pt_teardown(void) { pt_env_fini(&E); }

#endif
