/* SPDX-License-Identifier: MIT */
/* gen.c - the conformance vector generator. Every vector is a function of
 * (category, seed, index, capabilities): captures are reproducible and a
 * fork can regenerate exactly the vectors a file holds. */
#include "gen.h"

#include <stdio.h>
#include <string.h>

#include "mmu.h"

/* ---- randomness: splitmix64 over (seed, category, index) ---------------- */

static uint64_t gen_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

typedef struct gen_rng {
  uint64_t s;
} gen_rng;

static uint64_t gen_next(gen_rng *r) { return r->s = gen_mix(r->s); }
static uint64_t gen_below(gen_rng *r, uint64_t n) { return n ? gen_next(r) % n : 0; }
static int gen_chance(gen_rng *r, unsigned percent) { return gen_below(r, 100) < percent; }

static uint64_t gen_hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* ---- building page tables inside a vector ------------------------------- */

typedef struct gen_builder {
  vec_vector *v;
  unsigned caps;
  int levels;
  uint64_t root;
  uint64_t next_table; /* bump allocator for paging-structure frames */
} gen_builder;

#define GEN_OUTSIDE_BASE (1ull << 33) /* 8 GiB: data frames outside RAM */

static uint64_t *gen_slot(gen_builder *b, uint64_t gpa, int create) {
  vec_vector *v = b->v;
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == gpa)
      return &v->pte[i].value;
  if (!create || v->pte_count >= VEC_MAX_PTES)
    return NULL;
  v->pte[v->pte_count].gpa = gpa;
  v->pte[v->pte_count].value = 0;
  return &v->pte[v->pte_count++].value;
}

static uint64_t gen_get(gen_builder *b, uint64_t gpa) {
  uint64_t *p = gen_slot(b, gpa, 0);
  return p ? *p : 0;
}

static void gen_set(gen_builder *b, uint64_t gpa, uint64_t value) {
  uint64_t *p = gen_slot(b, gpa, 1);
  if (p)
    *p = value;
}

static void gen_begin(gen_builder *b, vec_vector *v, int levels) {
  unsigned caps = b->caps;
  memset(b, 0, sizeof *b);
  b->caps = caps;
  b->v = v;
  b->levels = levels;
  b->next_table = GEN_TABLES_BASE;
  b->root = b->next_table;
  b->next_table += 4096;
}

static unsigned gen_index(uint64_t va, int level) {
  return (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
}

/* Entry gpa that va uses at level, creating tables on the way with the
 * given per-level flags (flags[level], present tables only). */
static uint64_t gen_entry(gen_builder *b, uint64_t va, int level,
                          const uint64_t *flags) {
  uint64_t table = b->root;
  for (int l = b->levels; l > level; l--) {
    uint64_t gpa = table + 8ull * gen_index(va, l);
    uint64_t e = gen_get(b, gpa);
    if (!(e & MMU_PTE_P) || !(e & 0x000FFFFFFFFFF000ull)) {
      uint64_t t = b->next_table;
      b->next_table += 4096;
      e = t | flags[l] | MMU_PTE_P;
      gen_set(b, gpa, e);
    }
    table = e & 0x000FFFFFFFFFF000ull;
  }
  return table + 8ull * gen_index(va, level);
}

/* Map a page (4096, 2 MiB or 1 GiB) with leaf flags; upper[l] for the
 * tables above it (levels above the leaf). */
static uint64_t gen_map(gen_builder *b, uint64_t va, uint64_t pa, uint64_t size,
                        uint64_t leaf, const uint64_t *upper) {
  int level = size == 4096 ? 1 : size == (2ull << 20) ? 2 : 3;
  uint64_t gpa = gen_entry(b, va, level, upper);
  gen_set(b, gpa, pa | leaf | (level > 1 ? MMU_PTE_PS : 0));
  return gpa;
}

/* ---- vector set-up ------------------------------------------------------ */

static const uint64_t gen_upper_default[6] = {0, 0, 0x27, 0x27, 0x27, 0x27};

static void gen_regs(vec_vector *v, int la57, int nxe, int wp, int smep,
                     int smap, int pke, unsigned cpl, unsigned ac) {
  v->cr0 = MMU_CR0_PE | MMU_CR0_PG | (wp ? MMU_CR0_WP : 0);
  v->cr4 = MMU_CR4_PAE | (la57 ? MMU_CR4_LA57 : 0) | (smep ? MMU_CR4_SMEP : 0) |
           (smap ? MMU_CR4_SMAP : 0) | (pke ? MMU_CR4_PKE : 0);
  v->efer = MMU_EFER_LME | MMU_EFER_LMA | (nxe ? MMU_EFER_NXE : 0);
  v->cpl = cpl;
  v->ac = ac;
}

static void gen_start(vec_vector *v, gen_builder *b, const char *prefix,
                      const char *category, uint64_t index, int levels,
                      uint32_t maxphyaddr) {
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s-%s-%06llu", prefix, category,
           (unsigned long long)index);
  snprintf(v->category, sizeof v->category, "%s", category);
  v->maxphyaddr = maxphyaddr;
  v->ram_size = GEN_RAM_SIZE;
  gen_begin(b, v, levels);
  v->cr3 = b->root;
}

static void gen_access(vec_vector *v, unsigned access, uint64_t va) {
  if (v->step_count >= VEC_MAX_STEPS)
    return;
  vec_step *s = &v->step[v->step_count++];
  memset(s, 0, sizeof *s);
  s->op = VEC_ACCESS;
  s->access = access;
  s->a = va;
}

static void gen_op(vec_vector *v, vec_op op, uint64_t a, uint64_t b) {
  if (v->step_count >= VEC_MAX_STEPS)
    return;
  vec_step *s = &v->step[v->step_count++];
  memset(s, 0, sizeof *s);
  s->op = op;
  s->a = a;
  s->b = b;
}

/* A canonical linear address in a random top-level slot other than the
 * harness's, 4 KiB aligned plus a small offset. */
static uint64_t gen_va(gen_rng *r, int levels) {
  int top_shift = levels == 5 ? 48 : 39;
  unsigned slot;
  do
    slot = (unsigned)gen_below(r, 512);
  while (slot == GEN_HARNESS_SLOT);
  uint64_t va = ((uint64_t)slot << top_shift) |
                (gen_next(r) & ((1ull << top_shift) - 1) & ~0xFFFull);
  int width = levels == 5 ? 57 : 48;
  if (va & (1ull << (width - 1)))
    va |= ~0ull << width; /* sign-extend */
  return va | (gen_below(r, 512) * 8);
}

static unsigned gen_kind(gen_rng *r) {
  static const unsigned kinds[] = {MMU_READ, MMU_WRITE, MMU_FETCH};
  return kinds[gen_below(r, 3)];
}

/* A data frame: in RAM, or outside (MMIO) where the source can see where
 * such accesses go. */
static uint64_t gen_frame(gen_builder *b, gen_rng *r, uint64_t size, int outside) {
  outside = outside && (b->caps & GEN_CAP_MMIO);
  uint64_t base = outside ? GEN_OUTSIDE_BASE : GEN_DATA_BASE;
  uint64_t span = outside ? (1ull << 30) : (32ull << 20);
  if (size >= span)
    return outside ? GEN_OUTSIDE_BASE : 0x40000000ull; /* 1 GiB: at 1 GiB */
  return base + (gen_below(r, span / size) * size);
}

/* ---- categories --------------------------------------------------------- */

/* access: the flag dimensions of kvm-unit-tests' x86/access.c, sampled:
 * PTE and PDE W/U/A/D/NX/P, PDE PS, reserved bits 51/36/13, PDPTE
 * writability, user/write/fetch, a read before the real access, NXE, WP,
 * SMEP, PKU AD/WD. */
static int gen_cat_access(gen_rng *r, unsigned caps, vec_vector *v,
                          gen_builder *b, const char *prefix, uint64_t index) {
  int bit36 = gen_chance(r, 15), bit51 = gen_chance(r, 10);
  uint32_t maxphy = (caps & GEN_CAP_MAXPHY) && gen_chance(r, 50) ? 36 : 46;
  gen_start(v, b, prefix, "access", index, 4, maxphy);
  int pde_ps = gen_chance(r, 35), pte_p = gen_chance(r, 85),
      pde_p = gen_chance(r, 90);
  int pke = (caps & GEN_CAP_PKU) && gen_chance(r, 30);
  int smep = (caps & GEN_CAP_SMAP) && gen_chance(r, 50);
  int nxe = gen_chance(r, 70), wp = gen_chance(r, 50);
  unsigned user = gen_chance(r, 50) ? 3 : 0;
  gen_regs(v, 0, nxe, wp, smep, 0, pke, user, 0);
  if (pke)
    v->pkru = (uint32_t)gen_next(r);

  uint64_t upper[6] = {0, 0, 0x27, 0x27, 0x27, 0x27};
  if (gen_chance(r, 25))
    upper[3] &= ~MMU_PTE_W; /* PDPTE not writable */
  uint64_t va = gen_va(r, 4);
  uint64_t pde_flags = (pde_p ? MMU_PTE_P : 0) | (gen_next(r) & 0x66) |
                       (nxe && gen_chance(r, 30) ? MMU_PTE_XD : 0);
  uint64_t pte_flags = (pte_p ? MMU_PTE_P : 0) | (gen_next(r) & 0x66) |
                       (nxe && gen_chance(r, 30) ? MMU_PTE_XD : 0);
  if (pke)
    pte_flags |= gen_below(r, 16) << MMU_PTE_PKEY_SHIFT;
  uint64_t extra = (bit36 ? 1ull << 36 : 0) | (bit51 ? 1ull << 51 : 0);
  int outside = gen_chance(r, 50);
  uint64_t pde_gpa = gen_entry(b, va, 2, upper);
  if (pde_ps) {
    if (gen_chance(r, 15))
      extra |= 1ull << 13;
    uint64_t pa = gen_frame(b, r, 2ull << 20, outside);
    if (pke)
      pde_flags |= gen_below(r, 16) << MMU_PTE_PKEY_SHIFT;
    gen_set(b, pde_gpa, pa | pde_flags | MMU_PTE_PS | extra);
  } else {
    uint64_t pt = b->next_table;
    b->next_table += 4096;
    /* in a table pointer only reserved bits: an address bit would move the
     * page table out of RAM, where the SDM says nothing */
    uint64_t reserved = extra & ~((1ull << maxphy) - 1);
    gen_set(b, pde_gpa, pt | pde_flags | (gen_chance(r, 20) ? reserved : 0));
    uint64_t pa = gen_frame(b, r, 4096, outside);
    gen_set(b, pt + 8ull * gen_index(va, 1), pa | pte_flags | extra);
  }
  unsigned kind = gen_kind(r);
  if (gen_chance(r, 25))
    gen_access(v, MMU_READ, va); /* AC_ACCESS_TWICE: a read first */
  gen_access(v, kind, va);
  return 1;
}

/* levels: one right (W, U or XD) taken away at exactly one level, every
 * access kind and privilege, with WP/SMEP/SMAP/NXE varied. */
static int gen_cat_levels(gen_rng *r, unsigned caps, vec_vector *v,
                          gen_builder *b, const char *prefix, uint64_t index) {
  int la57 = (caps & GEN_CAP_LA57) && gen_chance(r, 25);
  int levels = la57 ? 5 : 4;
  gen_start(v, b, prefix, "levels", index, levels, 46);
  int smap = (caps & GEN_CAP_SMAP) && gen_chance(r, 50);
  int smep = (caps & GEN_CAP_SMAP) && gen_chance(r, 50);
  gen_regs(v, la57, 1, gen_chance(r, 50), smep, smap, 0,
           gen_chance(r, 50) ? 3 : 0, gen_chance(r, 50));
  uint64_t upper[6] = {0, 0x67, 0x27, 0x27, 0x27, 0x27};
  uint64_t leaf = 0x67;
  int level = 1 + (int)gen_below(r, (uint64_t)levels);
  static const uint64_t rights[3] = {MMU_PTE_W, MMU_PTE_U, MMU_PTE_XD};
  uint64_t right = rights[gen_below(r, 3)];
  if (right == MMU_PTE_XD) {
    if (level == 1)
      leaf |= right;
    else
      upper[level] |= right;
  } else if (level == 1) {
    leaf &= ~right;
  } else {
    upper[level] &= ~right;
  }
  uint64_t va = gen_va(r, levels);
  gen_map(b, va & ~0xFFFull, gen_frame(b, r, 4096, gen_chance(r, 50)), 4096, leaf,
          upper);
  gen_access(v, gen_kind(r), va);
  return 1;
}

/* smap: supervisor data accesses to user pages with SMAP, AC, implicit
 * reads, at CPL 0 and 3; fetches with SMEP. */
static int gen_cat_smap(gen_rng *r, unsigned caps, vec_vector *v,
                        gen_builder *b, const char *prefix, uint64_t index) {
  if (!(caps & GEN_CAP_SMAP))
    return 0;
  gen_start(v, b, prefix, "smap", index, 4, 46);
  int implicit = (caps & GEN_CAP_IMPLICIT) && gen_chance(r, 35);
  gen_regs(v, 0, 1, gen_chance(r, 50), gen_chance(r, 50), gen_chance(r, 80), 0,
           gen_chance(r, 30) ? 3 : 0, gen_chance(r, 50));
  uint64_t leaf = 0x63 | (gen_chance(r, 80) ? MMU_PTE_U : 0) |
                  (gen_chance(r, 20) ? MMU_PTE_XD : 0);
  uint64_t va = gen_va(r, 4);
  gen_map(b, va & ~0xFFFull, gen_frame(b, r, 4096, !implicit && gen_chance(r, 50)),
          4096, leaf, gen_upper_default);
  unsigned kind = implicit ? (MMU_READ | MMU_IMPLICIT) : gen_kind(r);
  gen_access(v, kind, implicit ? va & ~7ull : va);
  return 1;
}

/* pages: 2 MiB and 1 GiB pages, with their reserved bits and PAT bit. */
static int gen_cat_pages(gen_rng *r, unsigned caps, vec_vector *v,
                         gen_builder *b, const char *prefix, uint64_t index) {
  int gb = (caps & GEN_CAP_1G) && gen_chance(r, 50);
  gen_start(v, b, prefix, gb ? "pages.1g" : "pages.2m", index, 4, 46);
  gen_regs(v, 0, 1, 1, 0, 0, 0, gen_chance(r, 50) ? 3 : 0, 0);
  uint64_t size = gb ? (1ull << 30) : (2ull << 20);
  uint64_t va = gen_va(r, 4);
  uint64_t leaf = 0x67 | (gen_chance(r, 30) ? (1ull << 12) : 0); /* PAT */
  if (gen_chance(r, 25))
    leaf |= 1ull << (13 + gen_below(r, gb ? 17 : 8)); /* reserved */
  int outside = gen_chance(r, 50) && (caps & GEN_CAP_MMIO);
  uint64_t frame = gen_frame(b, r, size, outside);
  if (gb && !outside) { /* the 1 GiB page at 0: land in the data frames */
    frame = 0;
    va = (va & ~(size - 1)) | GEN_DATA_BASE | (gen_below(r, 32ull << 20) & ~7ull);
  }
  gen_map(b, va & ~(size - 1), frame, size, leaf, gen_upper_default);
  gen_access(v, gen_kind(r), va);
  return 1;
}

/* la57: 5-level walks, 57-bit canonical addresses. */
static int gen_cat_la57(gen_rng *r, unsigned caps, vec_vector *v,
                        gen_builder *b, const char *prefix, uint64_t index) {
  if (!(caps & GEN_CAP_LA57))
    return 0;
  gen_start(v, b, prefix, "la57", index, 5, 46);
  gen_regs(v, 1, 1, 1, 0, 0, 0, gen_chance(r, 50) ? 3 : 0, 0);
  uint64_t upper[6] = {0, 0, 0x27, 0x27, 0x27, 0x27};
  if (gen_chance(r, 20))
    upper[5] |= MMU_PTE_PS; /* reserved in a PML5E */
  if (gen_chance(r, 15))
    upper[5] &= ~MMU_PTE_U;
  uint64_t va = gen_va(r, 5);
  gen_map(b, va & ~0xFFFull, gen_frame(b, r, 4096, gen_chance(r, 50)), 4096, 0x67,
          upper);
  gen_access(v, gen_kind(r), va);
  if (gen_chance(r, 30)) /* a 48-bit-canonical view of a 57-bit address */
    gen_access(v, MMU_READ, (va << 16) >> 16);
  return 1;
}

/* maxphy: MAXPHYADDR 36..52 with address bits at and above it. */
static int gen_cat_maxphy(gen_rng *r, unsigned caps, vec_vector *v,
                          gen_builder *b, const char *prefix, uint64_t index) {
  if (!(caps & GEN_CAP_MAXPHY))
    return 0;
  uint32_t m = 36 + (uint32_t)gen_below(r, 17);
  gen_start(v, b, prefix, "maxphy", index, 4, m);
  gen_regs(v, 0, 1, 1, 0, 0, 0, 0, 0);
  uint64_t va = gen_va(r, 4);
  uint64_t upper[6] = {0, 0, 0x27, 0x27, 0x27, 0x27};
  unsigned bitno = m - 2 + (unsigned)gen_below(r, 4); /* M-2 .. M+1 */
  if (bitno > 51)
    bitno = 51;
  uint64_t pa = gen_frame(b, r, 4096, 1);
  if (bitno < m) /* an address bit: only a leaf may carry it */
    pa |= 1ull << bitno;
  else if (gen_chance(r, 50)) /* reserved: in the leaf or above */
    pa |= 1ull << bitno;
  else
    upper[2 + gen_below(r, 3)] |= 1ull << bitno;
  gen_map(b, va & ~0xFFFull, pa, 4096, 0x63, upper);
  gen_access(v, gen_kind(r), va);
  return 1;
}

/* canonical: addresses around the canonical boundaries. */
static int gen_cat_canonical(gen_rng *r, unsigned caps, vec_vector *v,
                             gen_builder *b, const char *prefix, uint64_t index) {
  int la57 = (caps & GEN_CAP_LA57) && gen_chance(r, 30);
  int levels = la57 ? 5 : 4;
  gen_start(v, b, prefix, "canonical", index, levels, 46);
  gen_regs(v, la57, 1, 1, 0, 0, 0, gen_chance(r, 50) ? 3 : 0, 0);
  int width = la57 ? 57 : 48;
  static const uint64_t picks[] = {0, 1, 2, 3};
  uint64_t edge = 1ull << (width - 1);
  uint64_t va;
  switch (picks[gen_below(r, 4)]) {
  case 0: va = edge - 8 - gen_below(r, 4) * 4096; break;  /* top of low half */
  case 1: va = edge + gen_below(r, 1ull << 20) * 8; break; /* non-canonical */
  case 2: va = (~0ull << (width - 1)) - 8 - gen_below(r, 64) * 8; break;
  default: va = gen_next(r); break;
  }
  uint64_t canon = (uint64_t)((int64_t)(va << (64 - width)) >> (64 - width));
  unsigned slot = (unsigned)((canon >> (width - 9)) & 511);
  if (slot != GEN_HARNESS_SLOT)
    gen_map(b, canon & ~0xFFFull, gen_frame(b, r, 4096, 1), 4096, 0x67,
            gen_upper_default);
  gen_access(v, gen_kind(r), va);
  return 1;
}

/* sequence: a read then a write (D must still be set), a rewrite of the
 * leaf then INVLPG, a CR0.WP or CPL change between accesses. */
static int gen_cat_sequence(gen_rng *r, unsigned caps, vec_vector *v,
                            gen_builder *b, const char *prefix, uint64_t index) {
  (void)caps;
  gen_start(v, b, prefix, "sequence", index, 4, 46);
  gen_regs(v, 0, 1, gen_chance(r, 50), 0, 0, 0, gen_chance(r, 50) ? 3 : 0, 0);
  uint64_t va = gen_va(r, 4);
  uint64_t leaf = 0x07 | (gen_chance(r, 50) ? MMU_PTE_A : 0);
  uint64_t pa = gen_frame(b, r, 4096, gen_chance(r, 50));
  uint64_t gpa = gen_map(b, va & ~0xFFFull, pa, 4096, leaf, gen_upper_default);
  gen_access(v, MMU_READ, va);
  gen_access(v, MMU_WRITE, va);
  switch (gen_below(r, 3)) {
  case 0: /* remove write permission, invalidate, write again */
    gen_op(v, VEC_SET_PTE, gpa, pa | 0x05);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_WRITE, va);
    break;
  case 1: /* WP=0 supervisor write to a read-only page */
    gen_op(v, VEC_SET_PTE, gpa, pa | 0x05 | MMU_PTE_A);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_op(v, VEC_CPL, 0, 0);
    gen_op(v, VEC_CR0, MMU_CR0_PE | MMU_CR0_PG, 0);
    gen_access(v, MMU_WRITE, va);
    break;
  default: /* not present, then present again */
    gen_op(v, VEC_SET_PTE, gpa, 0);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_READ, va);
    gen_op(v, VEC_SET_PTE, gpa, pa | 0x07);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_WRITE, va);
    break;
  }
  return 1;
}

/* pcid: fills under several PCIDs, a leaf changed, then an invalidation
 * that must remove every translation the next access could use (SPEC 5.5:
 * INVLPG, INVPCID 0-3, CR3 without bit 63, a PCID switch and back with
 * bit 63, CR4.PGE), so each outcome is architectural; global leaves take
 * only what must drop globals. Some end in a step that must raise #GP. */
static void gen_invpcid(vec_vector *v, unsigned type, uint64_t pcid,
                        uint64_t va) {
  gen_op(v, VEC_INVPCID, type, pcid);
  if (v->step_count && v->step[v->step_count - 1].op == VEC_INVPCID)
    v->step[v->step_count - 1].c = va;
}

static int gen_cat_pcid(gen_rng *r, unsigned caps, vec_vector *v,
                        gen_builder *b, const char *prefix, uint64_t index) {
  if (!(caps & GEN_CAP_PCID))
    return 0;
  gen_start(v, b, prefix, "pcid", index, 4, 46);
  int pge = gen_chance(r, 60), global = pge && gen_chance(r, 40);
  gen_regs(v, 0, 1, 1, 0, 0, 0, 0, 0);
  v->cr4 |= MMU_CR4_PCIDE | (pge ? MMU_CR4_PGE : 0);
  uint64_t root = v->cr3, cr4 = v->cr4;
  uint64_t x = gen_chance(r, 25) ? 0 : 1 + gen_below(r, 0xffe);
  uint64_t y = (x + 1 + gen_below(r, 0xffe)) & 0xfff; /* another PCID */
  v->cr3 = root | x;
  uint64_t va = gen_va(r, 4), pa = gen_frame(b, r, 4096, 1);
  uint64_t leaf = 0x07 | MMU_PTE_A | MMU_PTE_D | (global ? MMU_PTE_G : 0);
  uint64_t gpa = gen_map(b, va & ~0xFFFull, pa, 4096, leaf, gen_upper_default);
  const uint64_t NF = 1ull << 63;
  /* fills: under x, maybe under y too, back to x */
  gen_access(v, MMU_READ, va);
  if (gen_chance(r, 60)) {
    gen_op(v, VEC_CR3, root | y | (gen_chance(r, 50) ? NF : 0), 0);
    gen_access(v, MMU_READ, va);
    gen_op(v, VEC_CR3, root | x | NF, 0);
  }
  /* the change */
  switch (gen_below(r, 3)) {
  case 0: gen_op(v, VEC_SET_PTE, gpa, 0); break;
  case 1: gen_op(v, VEC_SET_PTE, gpa, (leaf & ~(uint64_t)MMU_PTE_W)); break;
  default:
    gen_op(v, VEC_SET_PTE, gpa, gen_frame(b, r, 4096, 1) | leaf);
    break;
  }
  /* an invalidation that must drop (x, va), and globals where needed */
  unsigned how = global ? (unsigned[]){0, 3, 8}[gen_below(r, 3)]
                        : (unsigned)gen_below(r, pge ? 9 : 8);
  switch (how) {
  case 0: gen_op(v, VEC_INVLPG, va, 0); break;
  case 1: gen_invpcid(v, 0, x, va); break;
  case 2: gen_invpcid(v, 1, x, 0); break;
  case 3: gen_invpcid(v, 2, gen_below(r, 0x1000), 0); break;
  case 4: gen_invpcid(v, 3, gen_below(r, 0x1000), 0); break;
  case 5: /* CR3 without bit 63, maybe through y first */
    if (gen_chance(r, 50))
      gen_op(v, VEC_CR3, root | y | (gen_chance(r, 50) ? NF : 0), 0);
    gen_op(v, VEC_CR3, root | x, 0);
    break;
  case 6: /* from y, flush x's context or address, back with bit 63 */
    gen_op(v, VEC_CR3, root | y | (gen_chance(r, 50) ? NF : 0), 0);
    if (gen_chance(r, 50))
      gen_invpcid(v, 1, x, 0);
    else
      gen_invpcid(v, 0, x, va);
    gen_op(v, VEC_CR3, root | x | NF, 0);
    break;
  case 7: /* from y, every non-global entry, back with bit 63 */
    gen_op(v, VEC_CR3, root | y | NF, 0);
    gen_invpcid(v, 3, 0, 0);
    gen_op(v, VEC_CR3, root | x | NF, 0);
    break;
  default: /* CR4.PGE off (everything), maybe on again */
    gen_op(v, VEC_CR4, cr4 & ~(uint64_t)MMU_CR4_PGE, 0);
    if (gen_chance(r, 50))
      gen_op(v, VEC_CR4, cr4 | MMU_CR4_PGE, 0);
    break;
  }
  gen_access(v, gen_chance(r, 50) ? MMU_WRITE : MMU_READ, va);
  /* steps that must raise #GP */
  if (gen_chance(r, 30)) {
    switch (gen_below(r, 5)) {
    case 0: gen_invpcid(v, 4 + gen_below(r, 60), x, 0); break;
    case 1: gen_invpcid(v, 0, x, 0x0000800000000000ull | va); break;
    case 2: gen_invpcid(v, gen_below(r, 4), 0x1000 << gen_below(r, 40), 0);
      break;
    case 3: /* PCIDE on with CR3[11:0] not 0 */
      gen_op(v, VEC_CR4, cr4 & ~(uint64_t)MMU_CR4_PCIDE, 0);
      gen_op(v, VEC_CR3, root | 0x08, 0);
      gen_op(v, VEC_CR4, cr4, 0);
      break;
    default: /* PCIDE off: INVPCID 0 or 1 names PCID 0 only */
      gen_op(v, VEC_CR4, cr4 & ~(uint64_t)MMU_CR4_PCIDE, 0);
      gen_invpcid(v, gen_below(r, 2), 1 + gen_below(r, 0xffe), va);
      break;
    }
  }
  return 1;
}

/* pku: protection keys with PKRU AD/WD, CPL 0 and 3, WP. */
static int gen_cat_pku(gen_rng *r, unsigned caps, vec_vector *v, gen_builder *b,
                       const char *prefix, uint64_t index) {
  if (!(caps & GEN_CAP_PKU))
    return 0;
  gen_start(v, b, prefix, "pku", index, 4, 46);
  gen_regs(v, 0, 1, gen_chance(r, 50), 0, 0, 1, gen_chance(r, 60) ? 3 : 0,
           gen_chance(r, 50));
  unsigned key = (unsigned)gen_below(r, 16);
  v->pkru = (uint32_t)gen_next(r);
  uint64_t leaf = 0x63 | (gen_chance(r, 85) ? MMU_PTE_U : 0) |
                  ((uint64_t)key << MMU_PTE_PKEY_SHIFT);
  if (gen_chance(r, 20))
    leaf &= ~MMU_PTE_W;
  uint64_t va = gen_va(r, 4);
  gen_map(b, va & ~0xFFFull, gen_frame(b, r, 4096, gen_chance(r, 50)), 4096, leaf,
          gen_upper_default);
  gen_access(v, gen_kind(r), va);
  return 1;
}

/* random: random entries along the walk of a random address, often
 * present, sometimes with any bit set; random CPU state. */
static int gen_cat_random(gen_rng *r, unsigned caps, vec_vector *v,
                          gen_builder *b, const char *prefix, uint64_t index) {
  int la57 = (caps & GEN_CAP_LA57) && gen_chance(r, 20);
  int levels = la57 ? 5 : 4;
  uint32_t m = (caps & GEN_CAP_MAXPHY) ? 36 + (uint32_t)gen_below(r, 17) : 46;
  gen_start(v, b, prefix, "random", index, levels, m);
  int smap = (caps & GEN_CAP_SMAP) && gen_chance(r, 40);
  int smep = (caps & GEN_CAP_SMAP) && gen_chance(r, 40);
  int pke = (caps & GEN_CAP_PKU) && gen_chance(r, 30);
  gen_regs(v, la57, gen_chance(r, 80), gen_chance(r, 60), smep, smap, pke,
           gen_chance(r, 50) ? 3 : 0, gen_chance(r, 50));
  if (pke)
    v->pkru = (uint32_t)gen_next(r);
  uint64_t va = gen_va(r, levels);
  uint64_t table = b->root;
  for (int l = levels; l >= 1; l--) {
    uint64_t gpa = table + 8ull * gen_index(va, l);
    uint64_t flags = (gen_chance(r, 92) ? MMU_PTE_P : 0) | (gen_next(r) & 0x1FE);
    if (gen_chance(r, 70))
      flags |= MMU_PTE_W | MMU_PTE_U;
    if (gen_chance(r, 10))
      flags |= MMU_PTE_XD;
    if (m < 52 && gen_chance(r, 8)) /* a reserved address bit */
      flags |= 1ull << (m + gen_below(r, 52 - m));
    if (gen_chance(r, 10))
      flags |= gen_next(r) & 0x7FF0000000000000ull; /* ignored / pkey bits */
    if (l >= 4)
      flags &= gen_chance(r, 90) ? ~MMU_PTE_PS : ~0ull;
    if (l == 3 && !(caps & GEN_CAP_1G) && gen_chance(r, 70))
      flags &= ~MMU_PTE_PS;
    int leaf = l == 1 || ((l == 2 || l == 3) && (flags & MMU_PTE_PS));
    uint64_t next;
    if (leaf) {
      uint64_t size = 1ull << (12 + 9 * (l - 1));
      next = gen_frame(b, r, size, gen_chance(r, 50));
      if (gen_chance(r, 15))
        next |= (gen_next(r) & (size - 1)) & ~0xFFFull; /* low bits */
    } else {
      next = b->next_table;
      b->next_table += 4096;
    }
    gen_set(b, gpa, (next & 0x000FFFFFFFFFF000ull) | flags);
    if (leaf || !(flags & MMU_PTE_P))
      break;
    table = next;
  }
  unsigned kind = gen_kind(r);
  if ((caps & GEN_CAP_IMPLICIT) && kind == MMU_READ && gen_chance(r, 15)) {
    kind |= MMU_IMPLICIT;
    va &= ~7ull;
  }
  if (gen_chance(r, 20))
    gen_access(v, MMU_READ, va);
  gen_access(v, kind, va);
  return 1;
}

/* ---- the modes before IA-32e ---------------------------------------------- */

/* 4-byte entries (32-bit paging) share the 8-byte 'pte' lines. */
static void gen_set32(gen_builder *b, uint64_t gpa, uint32_t value) {
  uint64_t *p = gen_slot(b, gpa & ~7ull, 1);
  if (!p)
    return;
  unsigned sh = (gpa & 4) ? 32 : 0;
  *p = (*p & ~(0xFFFFFFFFull << sh)) | ((uint64_t)value << sh);
}

static uint64_t gen_new_table(gen_builder *b) {
  uint64_t t = b->next_table;
  b->next_table += 4096;
  return t;
}

static void gen_regs_legacy(vec_vector *v, int paging, int pae, uint64_t cr4,
                            int nxe, int wp, unsigned cpl, unsigned ac) {
  v->cr0 = MMU_CR0_PE | (paging ? MMU_CR0_PG : 0) | (wp ? MMU_CR0_WP : 0);
  v->cr4 = cr4 | (pae ? MMU_CR4_PAE : 0);
  v->efer = nxe ? MMU_EFER_NXE : 0;
  v->cpl = cpl;
  v->ac = ac;
}

/* CR4 controls a legacy vector may set: PSE and PGE always, SMEP/SMAP
 * where the source has them. */
static uint64_t gen_cr4_legacy(gen_rng *r, unsigned caps, int pse) {
  uint64_t cr4 = (pse ? MMU_CR4_PSE : 0) | (gen_chance(r, 40) ? MMU_CR4_PGE : 0);
  if ((caps & GEN_CAP_SMAP) && gen_chance(r, 40))
    cr4 |= MMU_CR4_SMEP;
  if ((caps & GEN_CAP_SMAP) && gen_chance(r, 40))
    cr4 |= MMU_CR4_SMAP;
  return cr4;
}

/* A data frame below 4 GiB: in RAM, or (where the source sees MMIO) in
 * [2 GiB, 3 GiB), outside it. */
static uint64_t gen_frame32(gen_builder *b, gen_rng *r, uint64_t size, int outside) {
  if (outside && (b->caps & GEN_CAP_MMIO))
    return 0x80000000ull + gen_below(r, (1ull << 30) / size) * size;
  return gen_frame(b, r, size, 0);
}

/* A linear address with 32-bit paging: above the harness's PDEs. */
static uint64_t gen_va32(gen_rng *r, uint64_t low) {
  uint64_t va = low + (gen_next(r) % ((1ull << 32) - low));
  return (va & ~0xFFFull) | (gen_below(r, 512) * 8);
}

/* The access steps of a legacy vector: sometimes a read first, sometimes
 * a read then a write (D), sometimes a CR3 reload in between (a global
 * page's rights are the same after it). */
static void gen_accesses_legacy(gen_rng *r, vec_vector *v, uint64_t va) {
  unsigned kind = gen_kind(r);
  if (gen_chance(r, 25))
    gen_access(v, MMU_READ, va);
  gen_access(v, kind, va);
  if (gen_chance(r, 25)) {
    if ((v->cr0 & MMU_CR0_PG) && gen_chance(r, 50))
      gen_op(v, VEC_CR3, v->cr3, 0);
    gen_access(v, gen_kind(r), va);
  }
}

/* nopaging: paging off, linear = physical (32 bits), every access kind at
 * CPL 0 and 3, in RAM and outside it. */
static int gen_cat_nopaging(gen_rng *r, unsigned caps, vec_vector *v,
                            gen_builder *b, const char *prefix, uint64_t index) {
  gen_start(v, b, prefix, "nopaging", index, 2, 46);
  gen_regs_legacy(v, 0, gen_chance(r, 20), gen_cr4_legacy(r, caps, gen_chance(r, 50)),
                  gen_chance(r, 30), gen_chance(r, 50), gen_chance(r, 50) ? 3 : 0,
                  gen_chance(r, 30));
  v->cr3 = 0;
  uint64_t va = gen_frame32(b, r, 4096, gen_chance(r, 40)) | (gen_below(r, 512) * 8);
  gen_accesses_legacy(r, v, va);
  return 1;
}

/* paging32: 4 KiB pages under 32-bit paging: P, R/W, U/S at CPL 0 and 3,
 * WP, SMEP/SMAP with AC, A/D of 4-byte entries, G with PGE. */
static int gen_cat_paging32(gen_rng *r, unsigned caps, vec_vector *v,
                            gen_builder *b, const char *prefix, uint64_t index) {
  gen_start(v, b, prefix, "paging32", index, 2, 46);
  gen_regs_legacy(v, 1, 0, gen_cr4_legacy(r, caps, gen_chance(r, 50)),
                  gen_chance(r, 20), gen_chance(r, 50), gen_chance(r, 50) ? 3 : 0,
                  gen_chance(r, 40));
  uint64_t va = gen_va32(r, GEN_LEGACY32_LOW);
  uint32_t pde = (gen_chance(r, 92) ? 1u : 0u) | (uint32_t)(gen_next(r) & 0x7E) |
                 (gen_chance(r, 70) ? 6u : 0u);
  pde &= ~(uint32_t)MMU_PTE_PS;
  uint32_t pte = (gen_chance(r, 88) ? 1u : 0u) | (uint32_t)(gen_next(r) & 0x17E) |
                 (gen_chance(r, 70) ? 6u : 0u);
  uint64_t pt = gen_new_table(b);
  gen_set32(b, b->root + 4 * (va >> 22), (uint32_t)pt | pde);
  uint64_t pa = gen_frame32(b, r, 4096, gen_chance(r, 40));
  uint64_t pte_gpa = pt + 4 * ((va >> 12) & 1023);
  gen_set32(b, pte_gpa, (uint32_t)pa | pte);
  gen_accesses_legacy(r, v, va);
  if (gen_chance(r, 15)) { /* take W away, INVLPG, write again */
    gen_op(v, VEC_SET_PTE, pte_gpa & ~7ull,
           gen_get(b, pte_gpa & ~7ull) & ~((uint64_t)MMU_PTE_W << ((pte_gpa & 4) ? 32 : 0)));
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_WRITE, va);
  }
  return 1;
}

/* pse36: 4 MiB pages (CR4.PSE): PA[M-1:32] in bits 20:13 of the PDE
 * (PSE-36) under several MAXPHYADDRs, reserved bit 21 and bits
 * 20:(M-19), PS ignored without CR4.PSE (the PDE then points to a table). */
static int gen_cat_pse36(gen_rng *r, unsigned caps, vec_vector *v,
                         gen_builder *b, const char *prefix, uint64_t index) {
  static const uint32_t ms[] = {36, 39, 40, 46};
  uint32_t m = (caps & GEN_CAP_MAXPHY) ? ms[gen_below(r, 4)] : 46;
  gen_start(v, b, prefix, "pse36", index, 2, m);
  int pse = gen_chance(r, 80);
  gen_regs_legacy(v, 1, 0, gen_cr4_legacy(r, caps, pse), 0, gen_chance(r, 50),
                  gen_chance(r, 40) ? 3 : 0, gen_chance(r, 30));
  uint64_t va = gen_va32(r, GEN_LEGACY32_LOW);
  /* in RAM: a 4 MiB frame in [16 MiB, 64 MiB) */
  uint64_t frame = GEN_DATA_BASE + gen_below(r, 12) * (4ull << 20);
  uint32_t pde = (uint32_t)frame | (uint32_t)MMU_PTE_PS | 1u |
                 (uint32_t)(gen_next(r) & 0x17E) | (gen_chance(r, 70) ? 6u : 0u);
  unsigned abits = m - 32 > 8 ? 8 : m - 32; /* bits 13 .. 13+abits-1 */
  switch (gen_below(r, 4)) {
  case 0: /* an address bit above 4 GiB: outside RAM */
    if (caps & GEN_CAP_MMIO)
      pde |= 1u << (13 + gen_below(r, abits));
    break;
  case 1: /* reserved bit 21, or one of 20:(13+abits) */
    pde |= 1u << (13 + abits + gen_below(r, 9 - abits));
    break;
  default:
    break;
  }
  gen_set32(b, b->root + 4 * (va >> 22), pde);
  if (!pse && gen_chance(r, 60)) { /* the PDE's frame read as a table */
    uint64_t pa = gen_frame32(b, r, 4096, 0);
    gen_set32(b, (pde & 0xFFFFF000u) + 4 * ((va >> 12) & 1023), (uint32_t)pa | 0x67u);
  }
  gen_accesses_legacy(r, v, va);
  return 1;
}

/* pae: PAE paging: the four PDPTE registers (not present, loaded from a
 * rewritten PDPTE only by a MOV to CR3, #GP at that MOV for a reserved
 * bit), 2 MiB pages with bits 20:13 reserved, XD with and without NXE,
 * reserved bits M..62 in the PDE and PTE. */
static int gen_cat_pae(gen_rng *r, unsigned caps, vec_vector *v, gen_builder *b,
                       const char *prefix, uint64_t index) {
  static const uint32_t ms[] = {36, 39, 46};
  uint32_t m = (caps & GEN_CAP_MAXPHY) ? ms[gen_below(r, 3)] : 46;
  gen_start(v, b, prefix, "pae", index, 3, m);
  int nxe = gen_chance(r, 60);
  gen_regs_legacy(v, 1, 1, gen_cr4_legacy(r, caps, gen_chance(r, 50)), nxe,
                  gen_chance(r, 50), gen_chance(r, 40) ? 3 : 0, gen_chance(r, 30));
  /* the PDPT: 32 bytes anywhere 32-byte aligned in its page */
  uint64_t pdpt = b->root + 32 * gen_below(r, 128);
  v->cr3 = pdpt;
  uint64_t va = GEN_PAE_LOW + (gen_next(r) % (3ull << 30));
  va = (va & ~0xFFFull) | (gen_below(r, 512) * 8);
  uint64_t pdpte_gpa = pdpt + 8 * (va >> 30);
  uint64_t pd = gen_new_table(b);
  int pdpte_p = gen_chance(r, 92);
  uint64_t pdpte = pd | (pdpte_p ? 1u : 0u) | (gen_next(r) & 0x18); /* PWT PCD */
  gen_set(b, pdpte_gpa, pdpte);
  uint64_t rsvd = m < 52 && gen_chance(r, 12) ? 1ull << (m + gen_below(r, 63 - m)) : 0;
  uint64_t pde_gpa = pd + 8 * ((va >> 21) & 511);
  uint64_t pde = 1u | (gen_next(r) & 0x7E) | (gen_chance(r, 70) ? 6u : 0u) |
                 (gen_chance(r, 15) ? MMU_PTE_XD : 0);
  uint64_t leaf_gpa;
  if (gen_chance(r, 40)) { /* a 2 MiB page */
    uint64_t pa = gen_frame(b, r, 2ull << 20, gen_chance(r, 40));
    if (gen_chance(r, 15))
      pde |= 1ull << (13 + gen_below(r, 8)); /* reserved 20:13 */
    if (gen_chance(r, 20))
      pde |= 1ull << 12; /* PAT */
    gen_set(b, pde_gpa, pa | pde | MMU_PTE_PS | (gen_chance(r, 50) ? rsvd : 0));
    leaf_gpa = pde_gpa;
  } else {
    uint64_t pt = gen_new_table(b);
    gen_set(b, pde_gpa, pt | (pde & ~MMU_PTE_PS) | (gen_chance(r, 20) ? rsvd : 0));
    uint64_t pte = (gen_chance(r, 88) ? 1u : 0u) | (gen_next(r) & 0x17E) |
                   (gen_chance(r, 70) ? 6u : 0u) | (gen_chance(r, 20) ? MMU_PTE_XD : 0);
    leaf_gpa = pt + 8 * ((va >> 12) & 511);
    gen_set(b, leaf_gpa, gen_frame(b, r, 4096, gen_chance(r, 40)) | pte | rsvd);
  }
  gen_accesses_legacy(r, v, va);
  switch (gen_below(r, 4)) {
  case 0: { /* the PDPTE register outlives its memory until MOV to CR3 */
    /* not global: under PGE a global translation may outlive the MOV to
     * CR3 in the TLB (SDM 4.10.4.1), hiding the PDPTE reload */
    gen_set(b, leaf_gpa, gen_get(b, leaf_gpa) & ~MMU_PTE_G);
    uint64_t pd2 = gen_new_table(b);
    uint64_t alt = gen_chance(r, 50) ? 0 : pd2 | 1u;
    if (alt)
      gen_set(b, pd2 + 8 * ((va >> 21) & 511),
              gen_frame(b, r, 2ull << 20, 0) | 0xE7u);
    gen_op(v, VEC_SET_PTE, pdpte_gpa, alt);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_READ, va);
    gen_op(v, VEC_CR3, pdpt, 0);
    gen_access(v, MMU_READ, va);
    break;
  }
  case 1: { /* a reserved PDPTE bit: MOV to CR3 is #GP, the old PDPTEs stay */
    static const uint64_t bits[] = {1ull << 1, 1ull << 2, 1ull << 5, 1ull << 6,
                                    1ull << 7, 1ull << 8, MMU_PTE_XD};
    uint64_t bad = gen_chance(r, 60) && m < 52 ? 1ull << (m + gen_below(r, 63 - m))
                                               : bits[gen_below(r, 7)];
    gen_op(v, VEC_SET_PTE, pdpte_gpa, pd | 1u | bad);
    gen_op(v, VEC_CR3, pdpt, 0);
    gen_access(v, MMU_READ, va);
    break;
  }
  default:
    break;
  }
  return 1;
}

/* ---- nested paging: ept, npt ------------------------------------------- */

/* The second dimension as the generator builds it: host tables from the
 * same bump allocator as the guest's. */
typedef struct gen_nest {
  gen_builder *b;
  int ept;
  uint64_t root;
} gen_nest;

/* A table reference with every right the kind has, A set: the harness's
 * own accesses (its code's fetch, the guest's PD) pass through these
 * entries before each access and set A (and D: gen_nest_map) there. */
static uint64_t gen_nest_full(const gen_nest *n) {
  return n->ept ? MMU_EPT_R | MMU_EPT_W | MMU_EPT_X | MMU_EPT_A
                : MMU_PTE_P | MMU_PTE_W | MMU_PTE_U | MMU_PTE_A;
}

/* A table reference as a test wants it: mostly full rights, sometimes not
 * present, fewer rights (W without R: a misconfiguration; U = 0 or W = 0
 * for NPT's user accesses), a reserved bit, XD. */
static uint64_t gen_nest_upper(const gen_nest *n, gen_rng *r, uint32_t maxphy) {
  uint64_t e = gen_nest_full(n) &
              ~(gen_chance(r, 50) ? (n->ept ? MMU_EPT_A : MMU_PTE_A) : 0);
  unsigned k = (unsigned)gen_below(r, 100);
  if (k < 5)
    return 0;
  if (k < 13)
    e = n->ept ? (e & ~7ull) | (1 + gen_below(r, 7))
               : e & ~(gen_chance(r, 50) ? MMU_PTE_W : MMU_PTE_U);
  else if (k < 17)
    e |= n->ept ? 1ull << (3 + gen_below(r, 4)) /* 6:3 of a table reference */
                : 1ull << (maxphy + gen_below(r, 52 - maxphy));
  else if (k < 22 && !n->ept)
    e |= MMU_PTE_XD;
  return e;
}

/* A leaf of size bytes (4 KiB, 2 MiB, 1 GiB) for hpa. */
static uint64_t gen_nest_leaf(const gen_nest *n, gen_rng *r, uint64_t hpa,
                              uint64_t size, uint32_t maxphy) {
  uint64_t e = hpa | (size > 4096 ? MMU_PTE_PS : 0);
  if (n->ept) {
    e |= gen_chance(r, 60) ? 7 : gen_below(r, 8); /* 0: not present */
    e |= (gen_chance(r, 80) ? 6ull : gen_below(r, 8)) << 3; /* 2, 3, 7: bad */
    e |= gen_chance(r, 20) ? 1ull << 6 : 0;                /* ignore PAT */
    e |= gen_chance(r, 50) ? MMU_EPT_A : 0;
    e |= gen_chance(r, 40) ? MMU_EPT_D : 0;
  } else {
    e |= gen_chance(r, 92) ? MMU_PTE_P : 0;
    e |= gen_chance(r, 75) ? MMU_PTE_W : 0;
    e |= gen_chance(r, 88) ? MMU_PTE_U : 0;
    e |= gen_chance(r, 15) ? MMU_PTE_XD : 0;
    e |= gen_chance(r, 50) ? MMU_PTE_A : 0;
    e |= gen_chance(r, 40) ? MMU_PTE_D : 0;
  }
  if (size > 4096 && gen_chance(r, 8)) /* reserved: 20:12 (13 for NPT) or 29:12 */
    e |= 1ull << (13 + gen_below(r, size == (2ull << 20) ? 8 : 17));
  if (gen_chance(r, 4))
    e |= 1ull << (maxphy + gen_below(r, 52 - maxphy));
  if (gen_chance(r, 10))
    e |= 1ull << (52 + gen_below(r, 10)); /* ignored */
  return e;
}

/* The entry gpa uses at level (4 = top), tables made on the way with
 * gen_nest_upper's entries, or with full rights where full is set. */
static uint64_t gen_nest_entry(gen_nest *n, gen_rng *r, uint64_t gpa, int level,
                               int full, uint32_t maxphy) {
  uint64_t table = n->root;
  for (int l = 4; l > level; l--) {
    uint64_t at = table + 8ull * gen_index(gpa, l);
    uint64_t e = gen_get(n->b, at);
    uint64_t addr = ((1ull << maxphy) - 1) & ~0xFFFull; /* not reserved bits */
    if (!(e & addr)) {
      e = gen_new_table(n->b) |
          (full ? gen_nest_full(n) : gen_nest_upper(n, r, maxphy));
      gen_set(n->b, at, e);
    }
    table = e & addr;
  }
  return table + 8ull * gen_index(gpa, level);
}

/* Maps gpa's page of size bytes to hpa (random leaf and new tables), or
 * with full rights: 4 KiB, RWX/P W U, A and D where the kind has them. */
static void gen_nest_map(gen_nest *n, gen_rng *r, uint64_t gpa, uint64_t hpa,
                         uint64_t size, int full, uint32_t maxphy) {
  int level = size == 4096 ? 1 : size == (2ull << 20) ? 2 : 3;
  uint64_t at = gen_nest_entry(n, r, gpa, level, full, maxphy);
  if (gen_get(n->b, at))
    return; /* already mapped (two targets in one page) */
  uint64_t e = full ? hpa | gen_nest_full(n) |
                          (n->ept ? MMU_EPT_MT_WB | MMU_EPT_D : MMU_PTE_D)
                    : gen_nest_leaf(n, r, hpa, size, maxphy);
  gen_set(n->b, at, e);
}

/* A guest-physical page for a target: below 1 GiB (under the nested
 * PDPTE every vector has) or in [1 GiB, 3 GiB) (its own PDPTE). */
static uint64_t gen_nest_gpa(gen_rng *r, uint64_t align) {
  uint64_t base = gen_chance(r, 50) ? GEN_DATA_BASE : 1ull << 30;
  uint64_t span = base == GEN_DATA_BASE ? (1ull << 30) - base : 2ull << 30;
  return base + gen_below(r, span / align) * align;
}

/* The second dimension of a nested vector: its root (EPT A/D on or off;
 * NPT with the host's NXE), flags, and nested entry 0 and its PDPT with
 * every right (the harness's stub lies behind them). */
static gen_nest gen_nest_begin(gen_rng *r, unsigned caps, vec_vector *v,
                               gen_builder *b, int ept, uint32_t maxphy) {
  gen_nest n = {b, ept, gen_new_table(b)};
  v->nested_kind = ept ? MMU_NESTED_EPT : MMU_NESTED_NPT;
  v->nested_root = n.root;
  if (ept) {
    v->nested_flags = MMU_NESTED_EXEC_ONLY;
    v->nested_root |= MMU_EPTP_WB | MMU_EPTP_WALK4 |
                      (gen_chance(r, 50) ? MMU_EPTP_AD : 0);
  } else {
    v->nested_flags = MMU_NESTED_NXE; /* the harnesses' hosts run with NXE */
  }
  if (!(caps & GEN_CAP_1G))
    v->nested_flags |= MMU_NESTED_NO_1G;
  (void)gen_nest_entry(&n, r, 0, 3, 1, maxphy);
  return n;
}

/* The data page of a nested vector: its guest-physical and host-physical
 * address and nested page size (4 KiB to 1 GiB); returns the gpa the
 * accesses use in it, whose host page is data ([16 MiB, 48 MiB)). */
static uint64_t gen_nest_data(gen_rng *r, unsigned caps, gen_builder *b,
                              uint64_t *dgpa, uint64_t *dhpa, uint64_t *nsize) {
  *nsize = 4096;
  unsigned k = (unsigned)gen_below(r, 100);
  if (k < 20)
    *nsize = 2ull << 20;
  else if (k < 28 && (caps & GEN_CAP_1G))
    *nsize = 1ull << 30;
  if (*nsize == (1ull << 30)) { /* its own PDPTE; host frame 0 */
    *dgpa = (1ull + gen_below(r, 2)) << 30;
    *dhpa = 0;
  } else {
    *dgpa = gen_nest_gpa(r, *nsize);
    *dhpa = gen_frame(b, r, *nsize, 0);
  }
  uint64_t off = *nsize == 4096 ? 0
                 : *nsize == (1ull << 30)
                     ? GEN_DATA_BASE + gen_below(r, (32ull << 20) >> 12) * 4096
                     : gen_below(r, *nsize >> 12) * 4096;
  return *dgpa + off + gen_below(r, 512) * 8;
}

/* A read, write or fetch, sometimes after a read, sometimes followed by
 * another access. */
static void gen_nest_accesses(gen_rng *r, vec_vector *v, uint64_t va) {
  unsigned kind = gen_kind(r);
  if (gen_chance(r, 25))
    gen_access(v, MMU_READ, va);
  gen_access(v, kind, va);
  if (gen_chance(r, 20))
    gen_access(v, gen_kind(r), va);
}

/* ept, npt: a guest at CPL 0 with paging off or 32-bit paging (its PD's
 * page mapped with every right, its page table and data pages mapped as
 * chance gives, 4 KiB to 1 GiB in the second dimension, EPT A/D on or
 * off, NPT with or without the host's NXE), a read, write or fetch,
 * sometimes after a read, sometimes followed by another access. */
static int gen_cat_nested(gen_rng *r, unsigned caps, vec_vector *v,
                          gen_builder *b, const char *prefix, uint64_t index,
                          int ept) {
  int paging = gen_chance(r, 60);
  char cat[32];
  snprintf(cat, sizeof cat, "%s.%s", ept ? "ept" : "npt",
           paging ? "paging32" : "off");
  gen_start(v, b, prefix, cat, index, 2, 46);
  uint32_t maxphy = (caps & GEN_CAP_PHYS40) ? 40 : 46;
  int pse = gen_chance(r, 50);
  gen_regs_legacy(v, paging, 0, pse ? MMU_CR4_PSE : 0, 0, gen_chance(r, 50), 0, 0);
  if (!paging)
    v->cr3 = 0;
  /* nested entry 0 and its PDPT, then the guest's PD at gpa = hpa */
  gen_nest n = gen_nest_begin(r, caps, v, b, ept, maxphy);
  if (paging)
    gen_nest_map(&n, r, b->root, b->root, 4096, 1, maxphy);

  uint64_t dgpa, dhpa, nsize;
  uint64_t gpa = gen_nest_data(r, caps, b, &dgpa, &dhpa, &nsize);
  uint64_t va = gpa;
  if (paging) {
    /* the guest's page: 4 KiB through a page table, or 4 MiB (PSE) */
    uint32_t flags = (gen_chance(r, 94) ? 1u : 0u) | (gen_chance(r, 80) ? 2u : 0u) |
                     (uint32_t)(gen_next(r) & 0x64); /* U, A, D */
    va = (GEN_LEGACY32_LOW +
          gen_below(r, GEN_NESTED_LINEAR_TOP - GEN_LEGACY32_LOW)) & ~0xFFFull;
    uint32_t pde_at = (uint32_t)(va >> 22);
    if (pse && gen_chance(r, 30)) { /* a 4 MiB guest page over the data */
      uint64_t base = gpa & ~((4ull << 20) - 1);
      gen_set32(b, b->root + 4 * pde_at, (uint32_t)base | flags | MMU_PTE_PS);
      va = (va & ~((4ull << 20) - 1)) | (gpa & ((4ull << 20) - 1));
    } else {
      uint64_t pt = gen_new_table(b);
      uint64_t pt_gpa = gen_chance(r, 50) ? pt : gen_nest_gpa(r, 4096);
      uint32_t pde = (gen_chance(r, 95) ? 1u : 0u) | (gen_chance(r, 85) ? 2u : 0u) |
                     (uint32_t)(gen_next(r) & 0x24);
      gen_set32(b, b->root + 4 * pde_at, (uint32_t)pt_gpa | pde);
      gen_nest_map(&n, r, pt_gpa, pt, 4096, gen_chance(r, 40), maxphy);
      gen_set32(b, pt + 4 * ((va >> 12) & 1023), (uint32_t)(gpa & ~0xFFFull) | flags);
      va |= gpa & 0xFFF;
    }
  }
  gen_nest_map(&n, r, dgpa, dhpa, nsize, 0, maxphy);
  gen_nest_accesses(r, v, va);
  return 1;
}

/* A guest table for a nested PAE vector: at gpa = hpa or elsewhere, its
 * page mapped in the second dimension with every right or as chance
 * gives; returns its gpa (*hpa where it is). */
static uint64_t gen_nest_table(gen_nest *n, gen_rng *r, uint64_t *hpa,
                               uint32_t maxphy) {
  *hpa = gen_new_table(n->b);
  uint64_t gpa = gen_chance(r, 50) ? *hpa : gen_nest_gpa(r, 4096);
  gen_nest_map(n, r, gpa, *hpa, 4096, gen_chance(r, 40), maxphy);
  return gpa;
}

/* ept-pae, npt-pae: a guest at CPL 0 with PAE paging (gen.h): its PDPT
 * 32-byte aligned in a page mapped gpa = hpa with every right, PDPTEs
 * 0..2 (not present sometimes; under NPT, which reads them from memory
 * on every walk, a reserved bit sometimes: EPT's VM entry would refuse
 * one), a page directory and page table at gpa = hpa or elsewhere,
 * mapped as chance gives, a 2 MiB or 4 KiB guest page with random
 * W/U/A/D, XD with and without the guest's NXE, reserved bits; the data
 * page 4 KiB to 1 GiB in the second dimension; accesses as ept/npt's,
 * sometimes then the PDPTE rewritten and a read (the vendors differ). */
static int gen_cat_nested_pae(gen_rng *r, unsigned caps, vec_vector *v,
                              gen_builder *b, const char *prefix,
                              uint64_t index, int ept) {
  int big = gen_chance(r, 35); /* a 2 MiB guest page */
  char cat[32];
  snprintf(cat, sizeof cat, "%s-pae.%s", ept ? "ept" : "npt", big ? "2m" : "4k");
  uint32_t maxphy = (caps & GEN_CAP_PHYS40) ? 40 : 46;
  gen_start(v, b, prefix, cat, index, 3, 46);
  int nxe = gen_chance(r, 50);
  gen_regs_legacy(v, 1, 1, gen_chance(r, 30) ? MMU_CR4_PSE : 0, nxe,
                  gen_chance(r, 50), 0, 0);
  uint64_t pdpt = b->root + 32 * gen_below(r, 128);
  v->cr3 = pdpt;
  gen_nest n = gen_nest_begin(r, caps, v, b, ept, maxphy);
  gen_nest_map(&n, r, b->root, b->root, 4096, 1, maxphy);

  uint64_t dgpa, dhpa, nsize;
  uint64_t gpa = gen_nest_data(r, caps, b, &dgpa, &dhpa, &nsize);
  /* linear: PDPTE 0, 1 or 2 (3 is the harness's) */
  uint64_t va = (gen_below(r, 3) << 30) | (gen_next(r) & 0x3FFFF000ull);
  uint64_t pd, pd_gpa = gen_nest_table(&n, r, &pd, maxphy);
  uint64_t pdpte = pd_gpa | (gen_chance(r, 92) ? 1u : 0u) | (gen_next(r) & 0x18);
  if (!ept && gen_chance(r, 12)) { /* bits 2:1, 8:5, 63:M */
    static const unsigned low[] = {1, 2, 5, 6, 7, 8};
    pdpte |= gen_chance(r, 50) ? 1ull << low[gen_below(r, 6)]
                               : 1ull << (maxphy + gen_below(r, 64 - maxphy));
  }
  for (unsigned i = 0; i < 3; i++) /* the others: unused, sometimes there */
    if (i == (va >> 30))
      gen_set(b, pdpt + 8 * i, pdpte);
    else if (gen_chance(r, 30))
      gen_set(b, pdpt + 8 * i, pd_gpa | 1u);
  /* a reserved address bit (M..62) for the PDE or PTE */
  uint64_t rsvd = gen_chance(r, 10) ? 1ull << (maxphy + gen_below(r, 63 - maxphy)) : 0;
  uint64_t flags = (gen_chance(r, 94) ? 1u : 0u) | (gen_chance(r, 80) ? 2u : 0u) |
                   (gen_next(r) & 0x64) | /* U, A, D */
                   (gen_chance(r, 15) ? MMU_PTE_XD : 0);
  uint64_t pde_gpa = pd + 8 * ((va >> 21) & 511);
  if (big) {
    if (gen_chance(r, 10))
      flags |= 1ull << (13 + gen_below(r, 8)); /* reserved 20:13 */
    gen_set(b, pde_gpa, (gpa & ~((2ull << 20) - 1)) | flags | MMU_PTE_PS | rsvd);
    va = (va & ~((2ull << 20) - 1)) | (gpa & ((2ull << 20) - 1));
  } else {
    uint64_t pt, pt_gpa = gen_nest_table(&n, r, &pt, maxphy);
    uint64_t pde = (gen_chance(r, 95) ? 1u : 0u) | (gen_chance(r, 85) ? 2u : 0u) |
                   (gen_next(r) & 0x24) | (gen_chance(r, 8) ? MMU_PTE_XD : 0);
    int rsvd_pde = gen_chance(r, 30);
    gen_set(b, pde_gpa, pt_gpa | pde | (rsvd_pde ? rsvd : 0));
    gen_set(b, pt + 8 * ((va >> 12) & 511),
            (gpa & ~0xFFFull) | flags | (rsvd_pde ? 0 : rsvd));
    va |= gpa & 0xFFF;
  }
  gen_nest_map(&n, r, dgpa, dhpa, nsize, 0, maxphy);
  gen_nest_accesses(r, v, va);
  if (gen_chance(r, 20)) {
    /* the PDPTE rewritten in memory (P flipped, or cleared): under EPT the
     * register VM entry loads keeps the old one, under NPT the next walk
     * reads the new one */
    uint64_t at = pdpt + 8 * (va >> 30);
    gen_op(v, VEC_SET_PTE, at, gen_chance(r, 50) ? 0 : pdpte ^ MMU_PTE_P);
    gen_op(v, VEC_INVLPG, va, 0);
    gen_access(v, MMU_READ, va);
  }
  return 1;
}

static int gen_cat_ept(gen_rng *r, unsigned caps, vec_vector *v, gen_builder *b,
                       const char *prefix, uint64_t index) {
  return gen_cat_nested(r, caps, v, b, prefix, index, 1);
}

static int gen_cat_npt(gen_rng *r, unsigned caps, vec_vector *v, gen_builder *b,
                       const char *prefix, uint64_t index) {
  return gen_cat_nested(r, caps, v, b, prefix, index, 0);
}

static int gen_cat_ept_pae(gen_rng *r, unsigned caps, vec_vector *v,
                           gen_builder *b, const char *prefix, uint64_t index) {
  return gen_cat_nested_pae(r, caps, v, b, prefix, index, 1);
}

static int gen_cat_npt_pae(gen_rng *r, unsigned caps, vec_vector *v,
                           gen_builder *b, const char *prefix, uint64_t index) {
  return gen_cat_nested_pae(r, caps, v, b, prefix, index, 0);
}

typedef int (*gen_fn)(gen_rng *, unsigned, vec_vector *, gen_builder *,
                      const char *, uint64_t);

static const struct {
  gen_category info;
  gen_fn fn;
} gen_table[] = {
    {{"access", 0, "access.c flag dimensions (PTE/PDE bits, reserved 51/36/13, NXE, WP, SMEP, PKU)"},
     gen_cat_access},
    {{"levels", 0, "W, U or XD taken away at one level"}, gen_cat_levels},
    {{"smap", GEN_CAP_SMAP, "SMAP with and without AC, implicit reads, SMEP"}, gen_cat_smap},
    {{"pages", 0, "2 MiB and 1 GiB pages, reserved and PAT bits"}, gen_cat_pages},
    {{"la57", GEN_CAP_LA57, "5-level walks"}, gen_cat_la57},
    {{"maxphy", GEN_CAP_MAXPHY, "MAXPHYADDR 36..52 and the bits around it"}, gen_cat_maxphy},
    {{"canonical", 0, "addresses at the canonical boundaries"}, gen_cat_canonical},
    {{"sequence", 0, "read-then-write D bit, rewrites with INVLPG, WP and CPL changes"},
     gen_cat_sequence},
    {{"pku", GEN_CAP_PKU, "protection keys, PKRU AD/WD"}, gen_cat_pku},
    {{"random", 0, "random paging entries and CPU state"}, gen_cat_random},
    {{"nopaging", GEN_CAP_NOPAGING, "paging off: linear is physical, CPL 0 and 3"},
     gen_cat_nopaging},
    {{"paging32", GEN_CAP_PAGING32, "32-bit paging, 4 KiB pages: P, R/W, U/S, WP, SMEP/SMAP, A/D, G"},
     gen_cat_paging32},
    {{"pse36", GEN_CAP_PAGING32, "32-bit paging, 4 MiB pages: PSE-36 bits, reserved 21:13, PS without PSE"},
     gen_cat_pse36},
    {{"pae", GEN_CAP_PAE, "PAE paging: PDPTE registers, 2 MiB pages, XD with and without NXE, reserved bits"},
     gen_cat_pae},
    {{"pcid", GEN_CAP_PCID, "PCIDs: fills, changes, INVLPG, INVPCID 0-3, CR3 bit 63, #GP"},
     gen_cat_pcid},
    {{"ept", GEN_CAP_EPT, "a guest (paging off, 32-bit) under 4-level EPT: rights, execute-only, misconfigurations, memory types, large pages, A/D"},
     gen_cat_ept},
    {{"npt", GEN_CAP_NPT, "a guest (paging off, 32-bit) under nested paging: U/W/XD, reserved bits, large pages, A/D"},
     gen_cat_npt},
    {{"ept-pae", GEN_CAP_EPT | GEN_CAP_PAE, "a PAE guest under 4-level EPT: the PDPTEs from the VMCS, guest tables and pages through EPT"},
     gen_cat_ept_pae},
    {{"npt-pae", GEN_CAP_NPT | GEN_CAP_PAE, "a PAE guest under nested paging: PDPTEs read through the nested tables (not present, reserved), guest tables and pages"},
     gen_cat_npt_pae},
};

const gen_category *gen_categories(size_t *count) {
  static gen_category cats[sizeof gen_table / sizeof gen_table[0]];
  for (size_t i = 0; i < sizeof gen_table / sizeof gen_table[0]; i++)
    cats[i] = gen_table[i].info;
  *count = sizeof gen_table / sizeof gen_table[0];
  return cats;
}

int gen_vector(const char *category, uint64_t seed, uint64_t index,
               unsigned caps, const char *id_prefix, vec_vector *v) {
  for (size_t i = 0; i < sizeof gen_table / sizeof gen_table[0]; i++) {
    if (strcmp(gen_table[i].info.name, category) != 0)
      continue;
    if ((gen_table[i].info.needs & caps) != gen_table[i].info.needs)
      return 0;
    gen_rng r = {gen_mix(seed ^ gen_mix(gen_hash_str(category) ^ gen_mix(index)))};
    gen_builder b;
    b.caps = caps;
    if (!gen_table[i].fn(&r, caps, v, &b, id_prefix, index))
      return 0;
    if (!(caps & GEN_CAP_1G)) /* the source's CPUID has no Page1GB */
      v->flags |= MMU_CFG_NO_1G_PAGES;
    if ((caps & GEN_CAP_PHYS40) && v->maxphyaddr == 46)
      v->maxphyaddr = 40; /* the source's fixed MAXPHYADDR (Bochs) */
    return 1;
  }
  return 0;
}

/* ---- enumerations -------------------------------------------------------- */

/* The access dimension every enumeration shares (0..11): bit 0 the CPL
 * (0 or 3), then read, write or fetch, once or after a read (which sets
 * A first and caches the entry). */
#define GEN_ENUM_ACCESSES 12u

static unsigned gen_enum_kind(unsigned acc) {
  static const unsigned kinds[3] = {MMU_READ, MMU_WRITE, MMU_FETCH};
  return kinds[(acc >> 1) % 3];
}

static void gen_enum_accesses(vec_vector *v, unsigned acc, unsigned kind,
                              uint64_t va) {
  if (acc >= 6)
    gen_access(v, MMU_READ, va);
  gen_access(v, kind, va);
}

/* access-all: every legal combination of the flag dimensions of
 * kvm-unit-tests' x86/access.c, one vector each, at a fixed address:
 *   access   user or supervisor x read/write/fetch x once or after a read
 *   cpu      EFER.NXE x CR0.WP x CR4.SMEP (x CR4.PKE with PKRU AD/WD and
 *            the PTE's key 0 or 1, where the source has PKU)
 *   PDPTE    writable or not
 *   PDE      not present | present with W/U/A/D/NX/bit51/bit36, then either
 *            PS with or without bit 13, or a page table whose PTE is not
 *            present | present with W/U/A/D/NX/bit51/bit36
 * MAXPHYADDR is 36, so bits 36 and 51 are both reserved (as access.c has
 * them where MAXPHYADDR allows). Illegal combinations (write and fetch
 * together; flags of an entry below a not-present or PS one) are not
 * enumerated. */
#define GEN_PDE_COMBOS (1u + 128u * 2u + 128u * 129u)

static uint64_t gen_access_all_count(unsigned caps) {
  uint64_t cpu = 8 * ((caps & GEN_CAP_PKU) ? 1 + 8 : 1);
  return 12 * cpu * 2 * GEN_PDE_COMBOS;
}

static uint64_t gen_flag_bits(unsigned f) { /* 7 flags -> entry bits */
  return ((f & 1) ? MMU_PTE_W : 0) | ((f & 2) ? MMU_PTE_U : 0) |
         ((f & 4) ? MMU_PTE_A : 0) | ((f & 8) ? MMU_PTE_D : 0) |
         ((f & 16) ? MMU_PTE_XD : 0) | ((f & 32) ? 1ull << 51 : 0) |
         ((f & 64) ? 1ull << 36 : 0);
}

static int gen_access_all(uint64_t index, unsigned caps, const char *prefix,
                          vec_vector *v) {
  if (index >= gen_access_all_count(caps))
    return 0;
  uint64_t x = index;
  unsigned pde = (unsigned)(x % GEN_PDE_COMBOS);
  x /= GEN_PDE_COMBOS;
  int pdpte_ro = (int)(x % 2);
  x /= 2;
  unsigned cpu_count = (caps & GEN_CAP_PKU) ? 8 * 9 : 8;
  unsigned cpu = (unsigned)(x % cpu_count);
  x /= cpu_count;
  unsigned acc = (unsigned)x; /* 0..11 */

  gen_builder b;
  b.caps = caps;
  gen_start(v, &b, prefix, "access-all", index, 4, 36);
  /* leaves outside RAM where the source sees MMIO (KVM), else in RAM */
  uint64_t frame = (caps & GEN_CAP_MMIO) ? GEN_OUTSIDE_BASE : GEN_DATA_BASE;
  int nxe = cpu & 1, wp = (cpu >> 1) & 1, smep = (cpu >> 2) & 1;
  unsigned pku = cpu >> 3; /* 0: PKE off; 1..8: on, AD/WD/key */
  gen_regs(v, 0, nxe, wp, smep, 0, pku != 0, (acc & 1) ? 3 : 0, 0);
  if (pku) {
    unsigned ad = (pku - 1) & 1, wd = ((pku - 1) >> 1) & 1, key = ((pku - 1) >> 2) & 1;
    /* the rights of key 1 (or 0); the other key allows everything */
    v->pkru = (ad | wd << 1) << (2 * key);
  }
  unsigned kind = gen_enum_kind(acc);

  const uint64_t va = 0x0000010000401000ull | 0x238; /* PML4 slot 2 */
  uint64_t upper[6] = {0, 0, 0x27, 0x27, 0x27, 0x27};
  if (pdpte_ro)
    upper[3] &= ~MMU_PTE_W;
  uint64_t pde_gpa = gen_entry(&b, va, 2, upper);
  uint64_t key_bits = (pku && (((pku - 1) >> 2) & 1)) ? 1ull << MMU_PTE_PKEY_SHIFT : 0;
  if (pde != 0) {
    unsigned k = pde - 1;
    if (k < 256) { /* a 2 MiB page */
      uint64_t bits = gen_flag_bits(k & 127) | ((k & 128) ? 1ull << 13 : 0);
      gen_set(&b, pde_gpa, frame | MMU_PTE_P | MMU_PTE_PS | bits | key_bits);
    } else {
      k -= 256;
      unsigned pde_flags = k % 128, pte = k / 128; /* pte 0: not present */
      uint64_t pt = b.next_table;
      b.next_table += 4096;
      gen_set(&b, pde_gpa, pt | MMU_PTE_P | gen_flag_bits(pde_flags));
      if (pte)
        gen_set(&b, pt + 8ull * gen_index(va, 1),
                (frame + 0x5000) | MMU_PTE_P | gen_flag_bits(pte - 1) |
                    key_bits);
    }
  }
  gen_enum_accesses(v, acc, kind, va);
  if (!(caps & GEN_CAP_1G))
    v->flags |= MMU_CFG_NO_1G_PAGES;
  return 1;
}

/* paging32-all: the same dimensions under 32-bit paging (SDM 4.3), where
 * an entry has no XD and no reserved bit but bit 21 of a 4 MiB PDE:
 *   access   as access-all (12)
 *   cpu      CR0.WP x CR4.PSE (x CR4.SMEP where the source has it)
 *   PDE      not present | present with W/U/A/D/PAT/bit21 and PS (a 4 MiB
 *            page with CR4.PSE; without it a table at the same frame,
 *            whose PTE is a user-writable page) | present with W/U/A/D
 *            and a page table whose PTE is not present | present with
 *            W/U/A/D/PAT/G
 * Leaves are in RAM at a fixed address above the harness's PDEs. */
#define GEN_P32_PDE_COMBOS (1u + 64u + 16u * 65u)

static unsigned gen_enum_cpus(unsigned caps) { /* WP x PSE|NXE (x SMEP) */
  return (caps & GEN_CAP_SMAP) ? 8 : 4;
}

/* index -> (access, cpu, entries), entries varying fastest; 0 past the end */
typedef struct {
  unsigned acc, cpu, entries;
} gen_enum_point;

static uint64_t gen_enum_count(unsigned caps, unsigned entry_combos) {
  return GEN_ENUM_ACCESSES * gen_enum_cpus(caps) * (uint64_t)entry_combos;
}

/* Starts vector 'index' of a legacy enumeration: 32-bit paging (levels 2)
 * or PAE (3), MAXPHYADDR 36 (40 where the source fixes it), the CPU state
 * of its cpu dimension: CR0.WP, then CR4.PSE (32-bit) or EFER.NXE (PAE),
 * then CR4.SMEP. */
static int gen_enum_begin(vec_vector *v, gen_builder *b, gen_enum_point *p,
                          const char *prefix, const char *name, uint64_t index,
                          unsigned caps, unsigned entry_combos, int levels) {
  if (index >= gen_enum_count(caps, entry_combos))
    return 0;
  uint64_t x = index;
  p->entries = (unsigned)(x % entry_combos);
  x /= entry_combos;
  p->cpu = (unsigned)(x % gen_enum_cpus(caps));
  p->acc = (unsigned)(x / gen_enum_cpus(caps));
  b->caps = caps;
  gen_start(v, b, prefix, name, index, levels, (caps & GEN_CAP_PHYS40) ? 40 : 36);
  int pae = levels == 3, wp = p->cpu & 1, second = (p->cpu >> 1) & 1;
  uint64_t cr4 = ((p->cpu & 4) ? MMU_CR4_SMEP : 0) | (!pae && second ? MMU_CR4_PSE : 0);
  gen_regs_legacy(v, 1, pae, cr4, pae && second, wp, (p->acc & 1) ? 3 : 0, 0);
  return 1;
}

static uint32_t gen_flag_bits32(unsigned f, uint32_t bit4, uint32_t bit5) {
  return ((f & 1) ? (uint32_t)MMU_PTE_W : 0) | ((f & 2) ? (uint32_t)MMU_PTE_U : 0) |
         ((f & 4) ? (uint32_t)MMU_PTE_A : 0) | ((f & 8) ? (uint32_t)MMU_PTE_D : 0) |
         ((f & 16) ? bit4 : 0) | ((f & 32) ? bit5 : 0);
}

static uint64_t gen_paging32_all(gen_builder *b, unsigned pde) {
  const uint64_t va = 0x80401238ull; /* PDE 0x201, PTE 1 */
  const uint64_t frame = GEN_DATA_BASE; /* 4 MiB aligned */
  uint64_t pde_gpa = b->root + 4 * (va >> 22);
  if (pde != 0) {
    unsigned k = pde - 1;
    if (k < 64) { /* PS: a 4 MiB page, or (no PSE) a table at its frame */
      gen_set32(b, pde_gpa, (uint32_t)frame | 1u | (uint32_t)MMU_PTE_PS |
                                 gen_flag_bits32(k, 1u << 12, 1u << 21));
      gen_set32(b, frame + 4 * ((va >> 12) & 1023),
                (uint32_t)(frame + 0x7000) | 0x67u);
    } else {
      k -= 64;
      unsigned pde_flags = k % 16, pte = k / 16; /* pte 0: not present */
      uint64_t pt = gen_new_table(b);
      gen_set32(b, pde_gpa, (uint32_t)pt | 1u | gen_flag_bits32(pde_flags, 0, 0));
      if (pte)
        gen_set32(b, pt + 4 * ((va >> 12) & 1023),
                  (uint32_t)(frame + 0x5000) | 1u |
                      gen_flag_bits32(pte - 1, 1u << 7, (uint32_t)MMU_PTE_G));
    }
  }
  return va;
}

/* pae-all: the same dimensions under PAE paging (SDM 4.4):
 *   access   as access-all (12)
 *   cpu      EFER.NXE x CR0.WP (x CR4.SMEP where the source has it)
 *   PDPTE    not present | present (its register loaded from memory)
 *   PDE      not present | present with W/U/A/D/XD/bit M (the lowest
 *            reserved address bit, M = MAXPHYADDR), then either PS with or
 *            without bit 13 (reserved in a 2 MiB PDE), or a page table whose
 *            PTE is not present | present with W/U/A/D/XD/bit M
 * XD is reserved without NXE. MAXPHYADDR is 36 (40 where it is fixed). */
#define GEN_PAE_PDE_COMBOS (1u + 1u + 64u * 2u + 64u * 65u)

static uint64_t gen_flag_bits_pae(unsigned f, uint64_t rsvd) { /* W U A D XD M */
  return gen_flag_bits32(f & 15, 0, 0) | ((f & 16) ? MMU_PTE_XD : 0) |
         ((f & 32) ? rsvd : 0);
}

static uint64_t gen_pae_all(gen_builder *b, unsigned pde) {
  uint32_t m = b->v->maxphyaddr;
  const uint64_t va = 0x40401238ull; /* PDPTE 1, PDE 2, PTE 1 */
  const uint64_t frame = GEN_DATA_BASE; /* 2 MiB aligned */
  uint64_t pd = gen_new_table(b);
  uint64_t pdpte_gpa = b->root + 8 * (va >> 30);
  uint64_t pde_gpa = pd + 8 * ((va >> 21) & 511);
  uint64_t rsvd = 1ull << m;
  if (pde == 0) {
    gen_set(b, pdpte_gpa, pd); /* not present */
  } else {
    gen_set(b, pdpte_gpa, pd | 1u);
    unsigned k = pde - 2;
    if (pde == 1) {
      /* the PDE is not present */
    } else if (k < 128) { /* a 2 MiB page */
      gen_set(b, pde_gpa, frame | 1u | MMU_PTE_PS | gen_flag_bits_pae(k & 63, rsvd) |
                               ((k & 64) ? 1ull << 13 : 0));
    } else {
      k -= 128;
      unsigned pde_flags = k % 64, pte = k / 64; /* pte 0: not present */
      uint64_t pt = gen_new_table(b);
      gen_set(b, pde_gpa, pt | 1u | gen_flag_bits_pae(pde_flags, rsvd));
      if (pte)
        gen_set(b, pt + 8 * ((va >> 12) & 511),
                (frame + 0x5000) | 1u | gen_flag_bits_pae(pte - 1, rsvd));
    }
  }
  return va;
}

/* The legacy enumerations: each fills the tables of its entry combination
 * and returns the linear address the accesses use. */
static const struct {
  const char *name;
  unsigned needs, entry_combos;
  int levels;
  uint64_t (*fill)(gen_builder *, unsigned entries);
} gen_enum_table[] = {
    {"paging32-all", GEN_CAP_PAGING32, GEN_P32_PDE_COMBOS, 2, gen_paging32_all},
    {"pae-all", GEN_CAP_PAE, GEN_PAE_PDE_COMBOS, 3, gen_pae_all},
};

static int gen_enum_find(const char *name, unsigned caps) {
  for (int i = 0; i < (int)(sizeof gen_enum_table / sizeof gen_enum_table[0]); i++)
    if (strcmp(gen_enum_table[i].name, name) == 0)
      return (caps & gen_enum_table[i].needs) == gen_enum_table[i].needs ? i : -1;
  return -1;
}

uint64_t gen_enumeration_count(const char *name, unsigned caps) {
  if (strcmp(name, "access-all") == 0)
    return gen_access_all_count(caps);
  int e = gen_enum_find(name, caps);
  return e < 0 ? 0 : gen_enum_count(caps, gen_enum_table[e].entry_combos);
}

int gen_enumerated(const char *name, uint64_t index, unsigned caps,
                   const char *prefix, vec_vector *v) {
  if (strcmp(name, "access-all") == 0)
    return gen_access_all(index, caps, prefix, v);
  int e = gen_enum_find(name, caps);
  gen_builder b;
  gen_enum_point p;
  if (e < 0 || !gen_enum_begin(v, &b, &p, prefix, name, index, caps,
                               gen_enum_table[e].entry_combos, gen_enum_table[e].levels))
    return 0;
  uint64_t va = gen_enum_table[e].fill(&b, p.entries);
  gen_enum_accesses(v, p.acc, gen_enum_kind(p.acc), va);
  return 1;
}
