/* SPDX-License-Identifier: MIT */
/* Differential test: mmu_translate (TLB + fast walk) against
 * mmu_reference_translate on two identical copies of guest RAM, over random
 * page tables, random register states and random accesses (fixed seeds).
 * Both must agree on status, paddr, host offset, page size, error code,
 * cr2 and on every A/D update in RAM. */
#include "pt.h"

#include <stdio.h>

#define DRAM (4 * MiB)
#define DFR0 (1 * MiB) /* table frames: 1 MiB .. 2 MiB */
#define DFR1 (2 * MiB)

static pt_env A, B; /* A: mmu_translate, B: mmu_reference_translate */

static uint64_t rng_state;

/* what the random accesses produced: the test checks it covered ground */
static struct {
  unsigned ok, pf, gp, bus, ok_host, ok_large;
  uint64_t ec_seen; /* bit n: error code n seen */
} cov;

static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }
static int chance(unsigned percent) { return rn(100) < percent; }

static void envs_init(const mmu_config *cfg) {
  uint64_t gpa = 0, size = DRAM;
  pt_env_init_regions(&A, cfg, 4, 1, &gpa, &size, DFR0, DFR1);
  pt_env_init_regions(&B, cfg, 4, 1, &gpa, &size, DFR0, DFR1);
}

static void envs_fini(void) {
  pt_env_fini(&A);
  pt_env_fini(&B);
}

static uint64_t canon(uint64_t raw, int levels) {
  int bits = levels == 5 ? 57 : 48;
  return (uint64_t)((int64_t)(raw << (64 - bits)) >> (64 - bits));
}

/* small index pools so that walks share upper tables */
static unsigned pick_index(void) {
  static const unsigned pool[] = {0, 1, 2, 3, 255, 256, 510, 511};
  return chance(80) ? pool[rn(8)] : rn(512);
}

static uint64_t random_flags_upper(void) {
  uint64_t f = 0;
  if (chance(96)) f |= F_P;
  if (chance(85)) f |= F_W;
  if (chance(85)) f |= F_U;
  if (chance(8)) f |= F_XD;
  if (chance(30)) f |= F_A;
  if (chance(10)) f |= MMU_PTE_PWT | MMU_PTE_PCD;
  if (chance(5)) f |= (uint64_t)rn(8) << 9;
  if (chance(5)) f |= (uint64_t)rn(16) << 59;
  return f;
}

static uint64_t random_flags_leaf(void) {
  uint64_t f = 0;
  if (chance(93)) f |= F_P;
  if (chance(70)) f |= F_W;
  if (chance(70)) f |= F_U;
  if (chance(20)) f |= F_XD;
  if (chance(30)) f |= F_A;
  if (chance(20)) f |= F_D;
  if (chance(30)) f |= F_G;
  if (chance(40)) f |= PKEY(rn(16));
  if (chance(5)) f |= (uint64_t)rn(8) << 9;
  return f;
}

/* bits worth flipping to make entries interesting */
static uint64_t random_flip_bit(void) {
  static const int bits[] = {0,  1,  2,  5,  6,  7,  8,  12, 13, 14, 16,
                             20, 21, 29, 30, 36, 39, 40, 45, 51, 52, 58,
                             59, 62, 63, 7,  0,  2,  1,  63};
  return 1ull << bits[rn(sizeof bits / sizeof bits[0])];
}

/* like pt_entry_gpa_from, but gives up on addresses outside RAM */
static int entry_gpa_safe(uint64_t va, int levels, int level, uint64_t *out) {
  uint64_t table = A.root & PT_ADDR_MASK;
  for (int l = levels; l > level; l--) {
    uint64_t g = table + 8ull * pt_index(va, l);
    if (pt_host(&A, g) == NULL)
      return 0;
    table = pt_rd(&A, g) & PT_ADDR_MASK;
  }
  *out = table + 8ull * pt_index(va, level);
  return pt_host(&A, *out) != NULL;
}

#define NVA 14

typedef struct {
  uint64_t va[NVA];
  uint64_t size[NVA];
  int levels;
} world;

static void build_world(world *w, int levels) {
  A.levels = B.levels = levels;
  A.next_frame = DFR0;
  A.root = pt_alloc(&A);
  w->levels = levels;
  for (unsigned i = 0; i < NVA; i++) {
    uint64_t raw = 0;
    for (int l = levels; l >= 1; l--)
      raw |= (uint64_t)pick_index() << (12 + 9 * (l - 1));
    unsigned k = rn(100);
    uint64_t size = k < 60 ? 4 * KiB : k < 85 ? 2 * MiB : 1 * GiB;
    uint64_t pa;
    if (size == 4 * KiB)
      pa = (chance(90) ? rn(DRAM / 4096) : 0x100000u + rn(0x100000u)) * 4096ull;
    else if (size == 2 * MiB)
      pa = (uint64_t)rn(4) * 2 * MiB; /* 0, 2M in RAM; 4M, 6M outside */
    else
      pa = (uint64_t)rn(3) * GiB;
    raw &= ~(size - 1);
    uint64_t va = canon(raw, levels);
    w->va[i] = va;
    w->size[i] = size;
    pt_map_root(&A, A.root, va, pa, size, random_flags_leaf(),
                random_flags_upper());
  }
  /* corrupt a few entries */
  unsigned flips = rn(6);
  for (unsigned f = 0; f < flips; f++) {
    unsigned i = rn(NVA);
    int level = 1 + (int)rn((unsigned)levels);
    uint64_t gpa;
    if (!entry_gpa_safe(w->va[i], levels, level, &gpa))
      continue;
    pt_wr(&A, gpa, pt_rd(&A, gpa) ^ random_flip_bit());
  }
  /* B gets the same RAM */
  memcpy(B.host[0], A.host[0], DRAM);
  B.root = A.root;
}

static mmu_regs random_regs(int levels) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | (chance(70) ? MMU_CR0_WP : 0);
  r.cr4 = MMU_CR4_PAE | (levels == 5 ? MMU_CR4_LA57 : 0);
  if (chance(40)) r.cr4 |= MMU_CR4_SMEP;
  if (chance(40)) r.cr4 |= MMU_CR4_SMAP;
  if (chance(40)) r.cr4 |= MMU_CR4_PKE;
  if (chance(50)) r.cr4 |= MMU_CR4_PGE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | (chance(80) ? MMU_EFER_NXE : 0);
  r.cr3 = A.root | (chance(20) ? MMU_PTE_PWT : 0);
  unsigned c = rn(10);
  r.cpl = (uint8_t)(c < 4 ? 0 : c < 9 ? 3 : c - 8);
  r.ac = (uint8_t)rn(2);
  r.pkru = chance(50) ? (uint32_t)rnd() : 0;
  return r;
}

static uint64_t random_access_va(const world *w) {
  unsigned k = rn(100);
  if (k < 5)
    return rnd(); /* usually non-canonical */
  if (k < 12) {
    uint64_t raw = rnd() & ((1ull << (w->levels == 5 ? 57 : 48)) - 1);
    return canon(raw, w->levels);
  }
  unsigned i = rn(NVA);
  uint64_t off = chance(50) ? rnd() & 0xFFF : rnd() & (w->size[i] - 1);
  return w->va[i] + off;
}

static unsigned random_access(void) {
  unsigned a = rn(3);
  if (a != MMU_FETCH && chance(12))
    a |= MMU_IMPLICIT;
  return a;
}

static void compare(uint64_t va, unsigned access, unsigned round,
                    unsigned step) {
  mmu_result ra, rb;
  mmu_trace t;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  memset(&t, 0, sizeof t);
  int sa = mmu_translate(&A.cpu, va, access, &ra);
  int sb = mmu_reference_translate(&B.cpu, va, access, &rb, &t);
#define CTX                                                                    \
  "round %u step %u va 0x%llx access %u cpl %u cr0 0x%llx cr4 0x%llx "       \
  "efer 0x%llx ac %u pkru 0x%x: "
#define CTXARGS                                                                \
  round, step, (unsigned long long)va, access, A.cpu.regs.cpl,               \
      (unsigned long long)A.cpu.regs.cr0, (unsigned long long)A.cpu.regs.cr4, \
      (unsigned long long)A.cpu.regs.efer, A.cpu.regs.ac, A.cpu.regs.pkru
  cr_assert(sa == sb, CTX "status translate %d reference %d (ec %x/%x)",
            CTXARGS, sa, sb, ra.error_code, rb.error_code);
  if (sa == MMU_OK) {
    cov.ok++;
    cov.ok_host += ra.host != NULL;
    cov.ok_large += ra.page_size > 4096;
  } else if (sa == MMU_PAGE_FAULT) {
    cov.pf++;
    cov.ec_seen |= 1ull << (ra.error_code & 63);
  } else if (sa == MMU_GP_FAULT) {
    cov.gp++;
  } else if (sa == MMU_ERR_PT_BUS) {
    cov.bus++;
  }
  if (sa == MMU_OK) {
    cr_assert(ra.paddr == rb.paddr, CTX "paddr 0x%llx vs 0x%llx", CTXARGS,
              (unsigned long long)ra.paddr, (unsigned long long)rb.paddr);
    long long oa = ra.host ? (long long)(ra.host - A.host[0]) : -1;
    long long ob = rb.host ? (long long)(rb.host - B.host[0]) : -1;
    cr_assert(oa == ob, CTX "host offset %lld vs %lld", CTXARGS, oa, ob);
    cr_assert(oa == (ra.paddr < DRAM ? (long long)ra.paddr : -1),
              CTX "host offset %lld for paddr 0x%llx", CTXARGS, oa,
              (unsigned long long)ra.paddr);
    cr_assert(ra.page_size == rb.page_size, CTX "page size %llu vs %llu",
              CTXARGS, (unsigned long long)ra.page_size,
              (unsigned long long)rb.page_size);
  } else if (sa == MMU_PAGE_FAULT) {
    cr_assert(ra.error_code == rb.error_code, CTX "error code 0x%x vs 0x%x",
              CTXARGS, ra.error_code, rb.error_code);
    cr_assert(ra.cr2 == va && rb.cr2 == va, CTX "cr2 0x%llx / 0x%llx",
              CTXARGS, (unsigned long long)ra.cr2,
              (unsigned long long)rb.cr2);
  } else if (sa == MMU_ERR_PT_BUS) {
    cr_assert(ra.paddr == rb.paddr, CTX "bus paddr 0x%llx vs 0x%llx", CTXARGS,
              (unsigned long long)ra.paddr, (unsigned long long)rb.paddr);
  }
  /* the entries the walk read must be identical in both RAM copies */
  for (uint32_t i = 0; i < t.count && i < 5; i++) {
    uint64_t gpa = t.step[i].entry_gpa;
    if (pt_host(&A, gpa) == NULL)
      continue;
    uint64_t ea = pt_rd(&A, gpa), eb = pt_rd(&B, gpa);
    cr_assert(ea == eb, CTX "level %u entry at 0x%llx: 0x%llx vs 0x%llx",
              CTXARGS, t.step[i].level, (unsigned long long)gpa,
              (unsigned long long)ea, (unsigned long long)eb);
  }
#undef CTX
#undef CTXARGS
}

/* change some state on both cpus between accesses */
static void random_state_change(void) {
  switch (rn(6)) {
  case 0: {
    unsigned cpl = rn(4);
    mmu_set_cpl(&A.cpu, cpl);
    mmu_set_cpl(&B.cpu, cpl);
    break;
  }
  case 1: {
    int ac = (int)rn(2);
    mmu_set_ac(&A.cpu, ac);
    mmu_set_ac(&B.cpu, ac);
    break;
  }
  case 2: {
    uint32_t pkru = (uint32_t)rnd();
    mmu_write_pkru(&A.cpu, pkru);
    mmu_write_pkru(&B.cpu, pkru);
    break;
  }
  case 3: {
    uint64_t cr0 = A.cpu.regs.cr0 ^ MMU_CR0_WP;
    ST(mmu_write_cr0(&A.cpu, cr0), MMU_OK);
    ST(mmu_write_cr0(&B.cpu, cr0), MMU_OK);
    break;
  }
  case 4: {
    static const uint64_t bits[] = {MMU_CR4_SMEP, MMU_CR4_SMAP, MMU_CR4_PKE,
                                    MMU_CR4_PGE};
    uint64_t cr4 = A.cpu.regs.cr4 ^ bits[rn(4)];
    ST(mmu_write_cr4(&A.cpu, cr4), MMU_OK);
    ST(mmu_write_cr4(&B.cpu, cr4), MMU_OK);
    break;
  }
  default: {
    uint64_t efer = A.cpu.regs.efer ^ MMU_EFER_NXE;
    ST(mmu_write_efer(&A.cpu, efer), MMU_OK);
    ST(mmu_write_efer(&B.cpu, efer), MMU_OK);
    break;
  }
  }
}

static void run_differential(const mmu_config *cfg, uint64_t seed,
                             unsigned rounds, unsigned steps) {
  rng_state = seed;
  memset(&cov, 0, sizeof cov);
  envs_init(cfg);
  for (unsigned round = 0; round < rounds; round++) {
    world w;
    build_world(&w, chance(30) ? 5 : 4);
    mmu_regs r = random_regs(w.levels);
    ST(mmu_load_regs(&A.cpu, &r), MMU_OK);
    ST(mmu_load_regs(&B.cpu, &r), MMU_OK);
    for (unsigned step = 0; step < steps; step++) {
      if (chance(10))
        random_state_change();
      uint64_t va = random_access_va(&w);
      unsigned access = random_access();
      compare(va, access, round, step);
      /* repeat sometimes: exercises TLB hits */
      if (chance(40))
        compare(va ^ (rnd() & 0xFFF), random_access(), round, step);
    }
    cr_assert(memcmp(A.host[0], B.host[0], DRAM) == 0,
              "round %u: RAM copies differ after the round", round);
  }
  envs_fini();
  unsigned total = cov.ok + cov.pf + cov.gp + cov.bus;
  unsigned kinds = (unsigned)__builtin_popcountll(cov.ec_seen);
  if (getenv("MMU_DIFF_VERBOSE"))
    fprintf(stderr,
            "differential: %u accesses: ok %u (host %u, large %u) pf %u "
            "(%u distinct error codes, mask 0x%llx) gp %u bus %u\n",
            total, cov.ok, cov.ok_host, cov.ok_large, cov.pf, kinds,
            (unsigned long long)cov.ec_seen, cov.gp, cov.bus);
  /* the random worlds must exercise every outcome */
  cr_assert(cov.ok > total / 5 && cov.pf > total / 10 && cov.gp > 0,
            "poor coverage: ok %u pf %u gp %u of %u", cov.ok, cov.pf, cov.gp,
            total);
  cr_assert(cov.ok_large > 0 && cov.ok_host > 0);
  cr_assert(kinds >= 12, "only %u distinct error codes", kinds);
}

Test(differential, default_config) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  run_differential(&cfg, 0x243F6A8885A308D3ull, 120, 30);
}

Test(differential, ad_on_fault_upper_maxphy40) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_AD_ON_FAULT_UPPER;
  cfg.maxphyaddr = 40;
  run_differential(&cfg, 0x13198A2E03707344ull, 100, 30);
}

Test(differential, no_1g_tiny_tlb) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_NO_1G_PAGES;
  cfg.tlb_sets = 4;
  cfg.tlb_ways = 2;
  cfg.maxphyaddr = 36;
  run_differential(&cfg, 0xA4093822299F31D0ull, 100, 30);
}

/* fixed walk: the trace of the reference walker matches the tables */
Test(differential, reference_trace_levels_and_entries) {
  envs_init(NULL);
  A.levels = 4;
  A.next_frame = DFR0;
  A.root = pt_alloc(&A);
  uint64_t va = 0x00007F8040201000ull;
  pt_map_root(&A, A.root, va, 0x3000, 4 * KiB, F_PWU, F_PWU);
  mmu_regs r = pt_regs(&A);
  ST(mmu_load_regs(&A.cpu, &r), MMU_OK);
  mmu_result res;
  mmu_trace t;
  memset(&t, 0, sizeof t);
  ST(mmu_reference_translate(&A.cpu, va + 0x10, MMU_READ, &res, &t), MMU_OK);
  EQ(res.paddr, 0x3010);
  EQ(t.count, 4);
  uint64_t table = A.root;
  for (unsigned i = 0; i < 4; i++) {
    int l = 4 - (int)i;
    EQ(t.step[i].level, l);
    EQ(t.step[i].entry_gpa, table + 8ull * pt_index(va, l));
    EQ(t.step[i].entry & ~F_A, pt_rd(&A, t.step[i].entry_gpa) & ~F_A);
    table = t.step[i].entry & PT_ADDR_MASK;
  }
  EQ(t.step[3].entry & PT_ADDR_MASK, 0x3000);
  envs_fini();
}
