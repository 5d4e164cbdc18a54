/* SPDX-License-Identifier: MIT */
/* bench_icount.c - instructions per translation, counted by callgrind.
 *
 *   bench_icount [--check] [--json FILE] [--quick] [--help]
 *
 * Wall-clock time is noisy on a shared machine; instruction counts under
 * valgrind --tool=callgrind are not (same binary, same input, same count).
 * The program re-runs itself under callgrind, and each case runs its
 * dependent loop twice, N and 2N iterations, between client requests that
 * zero and dump the counters; (I(2N) - I(N)) / N is the cost of one
 * iteration, and the same loop with the translation replaced by nothing
 * ("loop") is subtracted. What remains is what an inlined mmu_translate()
 * costs the caller, stores of the result included.
 *
 * Each case has a goal (SPEC.md 5.8's budget: the target) and a
 * ceiling that CI enforces: the goal where it is met, else the count
 * measured when the ceiling was set plus about 10%, so a miss path not yet
 * at its goal cannot silently get slower. The table says which goals are
 * not met. --check fails (exit 1) when a case is above its ceiling;
 * without valgrind it exits 77 (skipped). --quick runs every loop once
 * natively, for bench_smoke. Exit 2 on bad usage. */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BI_HAVE_CALLGRIND 1
#endif
#endif
#ifndef BI_HAVE_CALLGRIND
#define RUNNING_ON_VALGRIND 0
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

#define BI_N 20000u /* iterations of the short run; the long one is 2N */

/* ---- the guest --------------------------------------------------------- */

#define BI_VA_HIT 0x0000000040000000ull  /* 64 4K pages */
#define BI_VA_BIG 0x0000000200000000ull  /* 4 2M pages */
#define BI_VA_MISS 0x0000000100000000ull /* 256 MiB of 4K pages */
#define BI_HIT_PAGES 64u
#define BI_STREAM 1024u /* addresses per stream (power of two) */
#define BI_VA_MISS32 0x0000000080000000ull /* the miss region below 4 GiB */

/* The paging modes before IA-32e, asked for in a case's cr4 field by bits
 * no CR4 has: the same streams (the miss one below 4 GiB) under 32-bit or
 * PAE tables, or with paging off (the hit stream then in RAM). */
#define BI_MODE_32 (1ull << 40)
#define BI_MODE_PAE (1ull << 41)
#define BI_MODE_OFF (1ull << 42)
#define BI_MODES (BI_MODE_32 | BI_MODE_PAE | BI_MODE_OFF)
/* Nested paging (SPEC.md 10) under the 4-level guest: 4-level EPT (A/D off
 * or on) or NPT, 4 KiB pages, every entry A (and leaves D) set, so a miss
 * is the full 2D walk, 24 references, with no A/D write. */
#define BI_NEST_EPT (1ull << 43)
#define BI_NEST_EPT_AD (1ull << 44)
#define BI_NEST_NPT (1ull << 45)
#define BI_NESTS (BI_NEST_EPT | BI_NEST_EPT_AD | BI_NEST_NPT)
/* Host-physical layout under nested paging: one RAM region, as a
 * hypervisor's would be (a second one would make every switch between the
 * dimensions a cold region lookup): the host tables from 40 MiB, where an
 * untranslated guest-physical access would find nothing, and gpa 0 at
 * 64 MiB. */
#define BI_HOST_PT (40ull << 20)
#define BI_GPA_AT BC_RAM_BYTES
#define BI_2D_REFS 24u /* (4 + 1) * 4 + 4 */

typedef struct bi_world {
  bc_guest g;
  uint64_t
      pml5; /* a PML5 whose entry 0 is the PML4: the same tables, 5 levels */
  mmu_config cfg;
  void *storage;
  mmu_cpu cpu;
  uint8_t *host; /* nested paging: host-physical RAM, g.ram inside it */
  mmu_nested nested;
  uint64_t hit[BI_STREAM], big[BI_STREAM], clash[BI_STREAM],
      miss[BI_STREAM * 64];
} bi_world;

static int bi_setup_legacy(bi_world *w, uint64_t mode, uint64_t cr4,
                           unsigned cpl);
static int bi_nest_host(bi_world *w, uint64_t nest);
static int bi_nest_check(bi_world *w);

static int bi_setup(bi_world *w, uint32_t sets, uint32_t ways, unsigned cpl,
                    uint64_t cr4_extra) {
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  uint64_t mode = cr4_extra & BI_MODES, nest = cr4_extra & BI_NESTS;
  cr4_extra &= ~(BI_MODES | BI_NESTS);
  memset(w, 0, sizeof *w);
  if (bc_guest_init(&w->g, BC_RAM_BYTES, BC_PT_BASE, BC_PT_BYTES))
    return -1;
  for (uint64_t i = 0; i < BI_HIT_PAGES; i++)
    if (!bc_map(&w->g, BI_VA_HIT + (i << 12), bc_frame_4k(i), 12, BC_PTE_RW))
      return -1;
  for (uint64_t i = 0; i < 4; i++)
    if (!bc_map(&w->g, BI_VA_BIG + (i << 21), BC_BIG_BASE + (i << 21), 21,
                BC_PTE_RW))
      return -1;
  for (uint64_t va = BI_VA_MISS; va < BI_VA_MISS + BC_MISS_BYTES; va += 4096)
    if (!bc_map(&w->g, va, bc_frame_4k(va >> 12), 12, BC_PTE_RW))
      return -1;
  w->pml5 = w->g.pt_next;
  w->g.pt_next += 4096;
  *bc_entry(&w->g, w->pml5) = w->g.pml4 | BC_PTE_UPPER;
  if (nest && bi_nest_host(w, nest))
    return -1;

  w->cfg.tlb_sets = sets;
  w->cfg.tlb_ways = ways;
  w->cfg.ram = &w->g.region;
  w->cfg.ram_count = 1;
  size_t bytes = mmu_tlb_storage_size(&w->cfg);
  w->storage = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (!w->storage || mmu_init(&w->cpu, &w->cfg, w->storage, bytes) != MMU_OK)
    return -1;
  if (nest && mmu_set_nested(&w->cpu, &w->nested) != MMU_OK)
    return -1;
  if (bc_enable_paging(&w->cpu, &w->g, cr4_extra, cpl) != MMU_OK)
    return -1;
  if (cr4_extra & MMU_CR4_LA57) {
    mmu_regs r = w->cpu.regs;
    r.cr3 = w->pml5 | (r.cr3 & 0xFFF);
    if (mmu_load_regs(&w->cpu, &r) != MMU_OK)
      return -1;
  }
  for (size_t i = 0; i < BI_STREAM; i++) {
    uint64_t off = (i * 72) & 0xFF8;
    w->hit[i] = BI_VA_HIT + ((i % BI_HIT_PAGES) << 12) + off;
    /* 16 pieces of each 2M page, in 64 distinct front slots: hits */
    w->big[i] = BI_VA_BIG + ((i & 3) << 21) +
                ((((i >> 2) % 16) + 16 * (i & 3)) << 12) + off;
    /* the same piece of each 2M page: 4 pages per front slot, so every
     * access misses the front and hits the backing TLB (a victim hit) */
    w->clash[i] = BI_VA_BIG + ((i & 3) << 21) + (((i >> 2) % 16) << 12) + off;
  }
  for (size_t i = 0; i < BI_STREAM * 64; i++)
    w->miss[i] = BI_VA_MISS + ((bc_rand(&rng) % BC_MISS_BYTES) & ~7ull);
  if (nest && bi_nest_check(w))
    return -1;
  if (!mode)
    return 0;
  if (bi_setup_legacy(w, mode, cr4_extra, cpl))
    return -1;
  /* a PAE guest under nesting: its tables in guest RAM, all mapped; a miss
   * lands in the guest's frame at BI_GPA_AT */
  mmu_result r;
  uint64_t va = w->miss[0];
  return !nest || (mmu_translate(&w->cpu, va, MMU_READ, &r) == MMU_OK &&
                   r.paddr == BI_GPA_AT + bc_frame_4k(va >> 12) + (va & 0xFFF))
             ? 0
             : -1;
}

/* Moves the guest's memory (tables built) to host-physical BI_GPA_AT and
 * maps it there with 4-level EPT or NPT tables of 4 KiB pages. */
static int bi_nest_host(bi_world *w, uint64_t nest) {
  const int ept = nest != BI_NEST_NPT;
  const uint64_t upper =
      ept ? MMU_EPT_R | MMU_EPT_W | MMU_EPT_X | MMU_EPT_A : BC_PTE_UPPER;
  const uint64_t leaf = ept ? upper | MMU_EPT_MT_WB | MMU_EPT_D : BC_PTE_RW;
  uint8_t *h = (uint8_t *)aligned_alloc(4096, (size_t)(2 * BC_RAM_BYTES));
  if (!h)
    return -1;
  memset(h, 0, (size_t)BC_RAM_BYTES);
  memcpy(h + BI_GPA_AT, w->g.ram, (size_t)BC_RAM_BYTES);
  bc_guest_free(&w->g);
  w->host = h;
  w->g.ram = h + BI_GPA_AT;
  w->g.region.gpa = 0; /* host-physical under nested paging */
  w->g.region.size = 2 * BC_RAM_BYTES;
  w->g.region.host = h;
  uint64_t next = BI_HOST_PT + 4096;
  for (uint64_t gpa = 0; gpa < BC_RAM_BYTES; gpa += 4096) {
    uint64_t t = BI_HOST_PT;
    for (int l = 4; l > 1; l--) {
      uint64_t *e =
          (uint64_t *)(void *)(h + t + ((gpa >> (3 + 9 * l)) & 511) * 8);
      if (!*e) {
        *e = next | upper;
        next += 4096;
      }
      t = *e & BC_ADDR_MASK;
    }
    *(uint64_t *)(void *)(h + t + ((gpa >> 12) & 511) * 8) =
        (BI_GPA_AT + gpa) | leaf;
  }
  memset(&w->nested, 0, sizeof w->nested);
  w->nested.kind = ept ? MMU_NESTED_EPT : MMU_NESTED_NPT;
  w->nested.root = BI_HOST_PT | (ept ? MMU_EPTP_WB | MMU_EPTP_WALK4 : 0) |
                   (nest == BI_NEST_EPT_AD ? MMU_EPTP_AD : 0);
  return 0;
}

/* The same tables reached through pt_read/pt_cmpxchg callbacks, which
 * count: a nested miss must read 24 entries and write none. */
typedef struct bi_refs {
  uint8_t *host;
  unsigned reads, writes;
} bi_refs;

static int bi_refs_read(void *user, uint64_t hpa, uint64_t *value) {
  bi_refs *r = (bi_refs *)user;
  if (hpa >= 2 * BC_RAM_BYTES)
    return -1;
  r->reads++;
  memcpy(value, r->host + hpa, 8);
  return 0;
}

static int bi_refs_cmpxchg(void *user, uint64_t hpa, uint64_t expected,
                           uint64_t desired) {
  bi_refs *r = (bi_refs *)user;
  uint64_t now;
  if (hpa >= 2 * BC_RAM_BYTES)
    return -1;
  r->writes++;
  memcpy(&now, r->host + hpa, 8);
  if (now != expected)
    return 1;
  memcpy(r->host + hpa, &desired, 8);
  return 0;
}

/* A miss and a hit land in the guest's frame at BI_GPA_AT, and a miss is
 * the full 2D walk (the harness's walk count cannot tell a 1D one). */
static int bi_nest_check(bi_world *w) {
  bi_refs refs = {w->host, 0, 0};
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pt_read = bi_refs_read;
  cfg.pt_cmpxchg = bi_refs_cmpxchg;
  cfg.pt_user = &refs;
  static mmu_cpu cpu;
  static uint64_t
      storage[MMU_TLB_STORAGE_SIZE(64, 4, MMU_FRONT_DEFAULT(64, 4)) / 8];
  mmu_result r;
  if (mmu_init(&cpu, &cfg, storage, sizeof storage) != MMU_OK ||
      mmu_set_nested(&cpu, &w->nested) != MMU_OK ||
      mmu_load_regs(&cpu, &w->cpu.regs) != MMU_OK ||
      mmu_translate(&cpu, w->miss[0], MMU_READ, &r) != MMU_OK ||
      refs.reads != BI_2D_REFS || refs.writes != 0) {
    fprintf(stderr, "bench_icount: a nested miss read %u entries, wrote %u\n",
            refs.reads, refs.writes);
    return -1;
  }
  const uint64_t probe[2] = {w->miss[0], w->hit[1]};
  const uint64_t frame[2] = {bc_frame_4k(w->miss[0] >> 12), bc_frame_4k(1)};
  for (int i = 0; i < 2; i++) {
    uint64_t va = probe[i];
    if (mmu_translate(&w->cpu, va, MMU_READ, &r) != MMU_OK ||
        r.paddr != BI_GPA_AT + frame[i] + (va & 0xFFF) || r.page_size != 4096)
      return -1;
  }
  return 0;
}

/* 32-bit or PAE tables mapping the hit and miss streams as the 4-level
 * ones do (4 KiB pages, the same frames), and the registers for them. */
static uint64_t bi_alloc_table(bi_world *w) {
  uint64_t t = w->g.pt_next;
  w->g.pt_next += 4096;
  memset(w->g.ram + t, 0, 4096);
  return t;
}

static void bi_map_legacy(bi_world *w, int pae, uint64_t root, uint64_t va,
                          uint64_t pa) {
  const uint32_t upper = (uint32_t)BC_PTE_UPPER, leaf = (uint32_t)BC_PTE_RW;
  uint8_t *ram = w->g.ram;
  if (!pae) { /* 1024 4-byte entries per table */
    uint32_t *pde = (uint32_t *)(void *)(ram + root + (va >> 22) * 4);
    if (!*pde)
      *pde = (uint32_t)bi_alloc_table(w) | upper;
    uint32_t *pte = (uint32_t *)(void *)(ram + (*pde & 0xFFFFF000u) +
                                         ((va >> 12) & 1023) * 4);
    *pte = (uint32_t)pa | leaf;
    return;
  }
  uint64_t *pdpte = (uint64_t *)(void *)(ram + root + (va >> 30) * 8);
  if (!*pdpte)
    *pdpte = bi_alloc_table(w) | MMU_PTE_P;
  uint64_t *pde = (uint64_t *)(void *)(ram + (*pdpte & BC_ADDR_MASK) +
                                       ((va >> 21) & 511) * 8);
  if (!*pde)
    *pde = bi_alloc_table(w) | BC_PTE_UPPER;
  uint64_t *pte = (uint64_t *)(void *)(ram + (*pde & BC_ADDR_MASK) +
                                       ((va >> 12) & 511) * 8);
  *pte = pa | BC_PTE_RW;
}

static int bi_setup_legacy(bi_world *w, uint64_t mode, uint64_t cr4,
                           unsigned cpl) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_WP;
  r.cpl = (uint8_t)cpl;
  if (mode == BI_MODE_OFF) {
    for (size_t i = 0; i < BI_STREAM; i++) /* physical addresses in RAM */
      w->hit[i] = bc_frame_4k(i % BI_HIT_PAGES) + (w->hit[i] & 0xFFF);
    return mmu_load_regs(&w->cpu, &r) == MMU_OK ? 0 : -1;
  }
  int pae = mode == BI_MODE_PAE;
  uint64_t root = bi_alloc_table(w);
  for (uint64_t i = 0; i < BI_HIT_PAGES; i++)
    bi_map_legacy(w, pae, root, BI_VA_HIT + (i << 12), bc_frame_4k(i));
  for (uint64_t va = BI_VA_MISS32; va < BI_VA_MISS32 + BC_MISS_BYTES;
       va += 4096)
    bi_map_legacy(w, pae, root, va, bc_frame_4k(va >> 12));
  for (size_t i = 0; i < BI_STREAM * 64; i++)
    w->miss[i] = w->miss[i] - BI_VA_MISS + BI_VA_MISS32;
  r.cr0 |= MMU_CR0_PG;
  r.cr3 = root;
  r.cr4 = cr4 | (pae ? MMU_CR4_PAE : 0);
  r.efer = pae ? MMU_EFER_NXE : 0;
  if (pae) /* the PDPTE registers a MOV to CR3 would load */
    memcpy(r.pdpte, w->g.ram + root, sizeof r.pdpte);
  return mmu_load_regs(&w->cpu, &r) == MMU_OK ? 0 : -1;
}

static void bi_free(bi_world *w) {
  free(w->storage);
  if (w->host) {
    free(w->host);
    w->host = w->g.ram = NULL;
  } else {
    bc_guest_free(&w->g);
  }
}

/* ---- the loops ---------------------------------------------------------- */
/* Every iteration's address depends on the previous result (through an
 * opaque zero), so nothing is hoisted or overlapped away. */

#define BI_LOOP(name, STEP)                                                    \
  static BC_NOINLINE uint64_t name(bi_world *w, const uint64_t *addrs,         \
                                   size_t mask, uint64_t n) {                  \
    const uint64_t zero = bc_zero_v;                                           \
    mmu_cpu *cpu = &w->cpu;                                                    \
    uint64_t last = 0, bad = 0;                                                \
    (void)cpu;                                                                 \
    for (uint64_t i = 0; i < n; i++) {                                         \
      uint64_t va = addrs[i & mask] ^ (last & zero);                           \
      STEP                                                                     \
    }                                                                          \
    return last + bad;                                                         \
  }

#define BI_TRANSLATE(access)                                                   \
  mmu_result r;                                                                \
  if (MMU_UNLIKELY(mmu_translate(cpu, va, (access), &r) != MMU_OK))            \
    bad++;                                                                     \
  last = r.paddr;

BI_LOOP(bi_loop, last = va;)
BI_LOOP(bi_read, BI_TRANSLATE(MMU_READ))
BI_LOOP(bi_write, BI_TRANSLATE(MMU_WRITE))
BI_LOOP(bi_fetch, BI_TRANSLATE(MMU_FETCH))
BI_LOOP(bi_host, {
  uint8_t *h = mmu_translate_host(cpu, va, MMU_READ);
  if (MMU_UNLIKELY(!h)) {
    mmu_result r;
    bad += mmu_translate(cpu, va, MMU_READ, &r) != MMU_OK;
    h = r.host;
  }
  last = (uint64_t)(uintptr_t)h;
})

/* A managed vCPU's interrupt window with nothing posted (SPEC 2.3). */
BI_LOOP(bi_sync, {
  mmu_cpu_sync(cpu);
  last = va;
})

/* Baselines of the same shape: a bare hashed array (tag, value) and a
 * QEMU-style direct-mapped TLB (comparator + host addend), 256 entries,
 * filled for the hit stream. */
static struct bi_bare { uint64_t tag, val; } bi_bare_t[256];
static struct bi_qemu {
  uint64_t addr_read, addr_write, addr_code;
  uintptr_t addend;
} bi_qemu_t[256];
static BC_NOINLINE uint64_t bi_slow(uint64_t va) { return va; }

BI_LOOP(bi_bare, {
  uint64_t vpn = va >> 12;
  const struct bi_bare *e = &bi_bare_t[vpn & 255];
  last = MMU_LIKELY(e->tag == vpn) ? (e->val | (va & 0xFFF)) : bi_slow(va);
})
BI_LOOP(bi_qemu, {
  const struct bi_qemu *e = &bi_qemu_t[(va >> 12) & 255];
  last = MMU_LIKELY(e->addr_read == (va & ~0xFFFull))
             ? (uint64_t)((uintptr_t)va + e->addend)
             : bi_slow(va);
})

typedef uint64_t (*bi_loop_fn)(bi_world *, const uint64_t *, size_t, uint64_t);

/* ---- the cases ----------------------------------------------------------- */

enum { BI_HIT_KIND, BI_MISS_KIND, BI_BASE_KIND };

typedef struct bi_case {
  const char *name;
  int kind;
  uint32_t sets, ways;
  unsigned cpl;
  uint64_t cr4;
  int stream; /* 0 hit, 1 2M pieces, 2 miss, 3 2M pieces in one slot */
  bi_loop_fn fn;
  double budget;  /* the goal, instructions; 0 = none */
  double ceiling; /* what --check enforces; 0 = nothing */
} bi_case;

/* SPEC.md 5.8: the budgets. */
#define BI_HIT_BUDGET 13
#define BI_HOST_BUDGET 10
#define BI_SYNC_BUDGET 4 /* two loads, a compare, a branch */
#define BI_MISS4_BUDGET 150
#define BI_MISS5_BUDGET 180
/* Ceilings of cases whose goal is not met yet (measured 541, 562, 309,
 * 692, 495 with gcc 12 -O2 when set). */
#define BI_MISS4_CEILING 600
#define BI_MISS5_CEILING 620

static const bi_case bi_cases[] = {
    {"loop (subtracted)", BI_BASE_KIND, 64, 4, 3, 0, 0, bi_loop, 0, 0},
    {"hit read 4K CPL3", BI_HIT_KIND, 64, 4, 3, 0, 0, bi_read, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit write 4K CPL3", BI_HIT_KIND, 64, 4, 3, 0, 0, bi_write, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit fetch 4K CPL3", BI_HIT_KIND, 64, 4, 3, 0, 0, bi_fetch, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit read 4K CPL0", BI_HIT_KIND, 64, 4, 0, 0, 0, bi_read, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit write 4K CPL0", BI_HIT_KIND, 64, 4, 0, 0, 0, bi_write, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit fetch 4K CPL0", BI_HIT_KIND, 64, 4, 0, 0, 0, bi_fetch, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit read 2M piece", BI_HIT_KIND, 64, 4, 3, 0, 1, bi_read, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit write 2M piece", BI_HIT_KIND, 64, 4, 3, 0, 1, bi_write, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit fetch 2M piece", BI_HIT_KIND, 64, 4, 3, 0, 1, bi_fetch, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit read PCID on", BI_HIT_KIND, 64, 4, 3, MMU_CR4_PCIDE, 0, bi_read,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"hit read 16x16", BI_HIT_KIND, 16, 16, 3, 0, 0, bi_read, BI_HIT_BUDGET,
     BI_HIT_BUDGET},
    {"hit read LA57", BI_HIT_KIND, 64, 4, 3, MMU_CR4_LA57, 0, bi_read,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"host pointer hit", BI_HIT_KIND, 64, 4, 3, 0, 0, bi_host, BI_HOST_BUDGET,
     BI_HOST_BUDGET},
    {"mmu_cpu_sync, none posted", BI_HIT_KIND, 64, 4, 3, 0, 0, bi_sync,
     BI_SYNC_BUDGET, BI_SYNC_BUDGET},
    {"front miss, backing hit", BI_HIT_KIND, 64, 4, 3, 0, 3, bi_read, 0, 340},
    {"miss 4-level read", BI_MISS_KIND, 64, 4, 3, 0, 2, bi_read,
     BI_MISS4_BUDGET, BI_MISS4_CEILING},
    {"miss 4-level write", BI_MISS_KIND, 64, 4, 3, 0, 2, bi_write,
     BI_MISS4_BUDGET, BI_MISS4_CEILING},
    {"miss 5-level read", BI_MISS_KIND, 64, 4, 3, MMU_CR4_LA57, 2, bi_read,
     BI_MISS5_BUDGET, BI_MISS5_CEILING},
    {"miss 4-level 16x16", BI_MISS_KIND, 16, 16, 3, 0, 2, bi_read, 0, 760},
    {"miss 4-level 1024x4", BI_MISS_KIND, 1024, 4, 3, 0, 2, bi_read, 0, 545},
    /* the modes before IA-32e: the same hit, their own misses */
    {"hit read, paging off", BI_HIT_KIND, 64, 4, 0, BI_MODE_OFF, 0, bi_read,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"hit read, 32-bit paging", BI_HIT_KIND, 64, 4, 3, BI_MODE_32, 0, bi_read,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"hit write, PAE paging", BI_HIT_KIND, 64, 4, 3, BI_MODE_PAE, 0, bi_write,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"miss 32-bit read", BI_MISS_KIND, 64, 4, 3, BI_MODE_32, 2, bi_read, 0,
     BI_MISS4_CEILING},
    {"miss PAE read", BI_MISS_KIND, 64, 4, 3, BI_MODE_PAE, 2, bi_read, 0,
     BI_MISS4_CEILING},
    /* nested paging: a hit is the same combined entry; a miss the 2D walk
     * (measured 1394, 1396, 1428, 1440 with gcc 12 -O2 when set, 1419,
     * 1421, 1453, 1445 with MBEC's test; the 4-level miss: 566) */
    {"hit read under EPT", BI_HIT_KIND, 64, 4, 3, BI_NEST_EPT, 0, bi_read,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"hit write under NPT", BI_HIT_KIND, 64, 4, 3, BI_NEST_NPT, 0, bi_write,
     BI_HIT_BUDGET, BI_HIT_BUDGET},
    {"miss 4-on-4 EPT read", BI_MISS_KIND, 64, 4, 3, BI_NEST_EPT, 2, bi_read, 0,
     1535},
    {"miss 4-on-4 EPT write", BI_MISS_KIND, 64, 4, 3, BI_NEST_EPT, 2, bi_write,
     0, 1535},
    {"miss 4-on-4 EPT read, A/D", BI_MISS_KIND, 64, 4, 3, BI_NEST_EPT_AD, 2,
     bi_read, 0, 1570},
    {"miss 4-on-4 NPT read", BI_MISS_KIND, 64, 4, 3, BI_NEST_NPT, 2, bi_read, 0,
     1585},
    /* a PAE guest: EPT walks from the PDPTE registers (14 references),
     * NPT reads the PDPTE too (19); measured 1143 and 1335 */
    {"miss PAE-on-4 EPT read", BI_MISS_KIND, 64, 4, 3, BI_NEST_EPT | BI_MODE_PAE,
     2, bi_read, 0, 1260},
    {"miss PAE-on-4 NPT read", BI_MISS_KIND, 64, 4, 3, BI_NEST_NPT | BI_MODE_PAE,
     2, bi_read, 0, 1470},
    {"baseline bare array", BI_BASE_KIND, 64, 4, 3, 0, 0, bi_bare, 0, 0},
    {"baseline QEMU-style", BI_BASE_KIND, 64, 4, 3, 0, 0, bi_qemu, 0, 0},
};
#define BI_NCASES (sizeof bi_cases / sizeof bi_cases[0])

static void bi_fill_baselines(bi_world *w) {
  for (unsigned i = 0; i < 256; i++) {
    bi_bare_t[i].tag = ~0ull;
    bi_qemu_t[i].addr_read = ~0ull;
  }
  for (uint64_t i = 0; i < BI_HIT_PAGES; i++) {
    uint64_t va = BI_VA_HIT + (i << 12), vpn = va >> 12;
    bi_bare_t[vpn & 255].tag = vpn;
    bi_bare_t[vpn & 255].val = bc_frame_4k(i);
    bi_qemu_t[vpn & 255].addr_read = va;
    bi_qemu_t[vpn & 255].addend =
        (uintptr_t)(w->g.ram + bc_frame_4k(i)) - (uintptr_t)va;
  }
}

/* Runs every case (inside callgrind: between zero/dump requests). */
static int bi_run_all(int quick) {
  static bi_world w; /* large: static */
  int failed = 0;
  for (size_t c = 0; c < BI_NCASES; c++) {
    const bi_case *k = &bi_cases[c];
    if (bi_setup(&w, k->sets, k->ways, k->cpl, k->cr4)) {
      fprintf(stderr, "bench_icount: set-up failed\n");
      return -1;
    }
    bi_fill_baselines(&w);
    const uint64_t *s = k->stream == 0   ? w.hit
                        : k->stream == 1 ? w.big
                        : k->stream == 3 ? w.clash
                                         : w.miss;
    size_t mask = (k->stream == 2 ? BI_STREAM * 64 : BI_STREAM) - 1;
    uint64_t n = quick ? 1000 : BI_N;
    mmu_stats_reset(&w.cpu);
    bc_sink += k->fn(&w, s, mask, n); /* warm: hits are hits from here */
    char label[96];
    CALLGRIND_ZERO_STATS;
    bc_sink += k->fn(&w, s, mask, n);
    snprintf(label, sizeof label, "case %zu n", c);
    CALLGRIND_DUMP_STATS_AT(label);
    uint64_t walks0 = w.cpu.stats.walks;
    CALLGRIND_ZERO_STATS;
    bc_sink += k->fn(&w, s, mask, 2 * n);
    snprintf(label, sizeof label, "case %zu 2n", c);
    CALLGRIND_DUMP_STATS_AT(label);
    /* a hit case must not walk after warming; a miss case must walk */
    uint64_t walks = w.cpu.stats.walks - walks0;
    if (k->kind == BI_HIT_KIND && k->fn != bi_host && walks != 0) {
      fprintf(stderr, "bench_icount: %s walked %llu times\n", k->name,
              (unsigned long long)walks);
      failed = 1;
    }
    if (k->kind == BI_MISS_KIND && walks < n / 2) {
      fprintf(stderr, "bench_icount: %s walked only %llu times\n", k->name,
              (unsigned long long)walks);
      failed = 1;
    }
    bi_free(&w);
  }
  return failed;
}

/* ---- the driver ---------------------------------------------------------- */

/* Reads the "totals:" of every dump in a combined callgrind output:
 * counts[case][0] for N iterations, [1] for 2N. */
static int bi_parse(const char *path, double counts[][2]) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char line[512];
  long c = -1;
  int which = 0, seen = 0;
  while (fgets(line, sizeof line, f)) {
    char tag[8];
    long k;
    if (sscanf(line, "desc: Trigger: Client Request: case %ld %7s", &k, tag) ==
        2) {
      c = k;
      which = !strcmp(tag, "2n");
    } else if (!strncmp(line, "totals:", 7) && c >= 0 && c < (long)BI_NCASES) {
      counts[c][which] = strtod(line + 7, NULL);
      seen++;
      c = -1;
    }
  }
  fclose(f);
  return seen == (int)(2 * BI_NCASES) ? 0 : -1;
}

static void usage(FILE *f, const char *argv0) {
  fprintf(f,
          "usage: %s [--check] [--json FILE] [--quick] [--help]\n"
          "Instructions per mmu_translate hit and miss, counted under\n"
          "valgrind --tool=callgrind. --check: exit 1 above a budget,\n"
          "77 without valgrind.\n",
          argv0);
}

int main(int argc, char **argv) {
  int check = 0, quick = 0;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--check"))
      check = 1;
    else if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--help")) {
      usage(stdout, argv[0]);
      return 0;
    } else if (!strcmp(argv[i], "--inside")) {
      return bi_run_all(0) ? 1 : 0;
    } else {
      usage(stderr, argv[0]);
      return 2;
    }
  }
  if (quick) /* natively, once: the loops still run and still check */
    return bi_run_all(1) ? 1 : 0;
#ifndef BI_HAVE_CALLGRIND
  fprintf(stderr, "bench_icount: built without valgrind/callgrind.h\n");
  return check ? 77 : 2;
#else
  if (system("valgrind --version >/dev/null 2>&1") != 0) {
    fprintf(stderr, "bench_icount: valgrind not found: skipped\n");
    return check ? 77 : 2;
  }
  char dir[] = "/tmp/bench_icount.XXXXXX";
  if (!mkdtemp(dir))
    return 2;
  char out[600], cmd[1400];
  snprintf(out, sizeof out, "%s/callgrind.out", dir);
  snprintf(cmd, sizeof cmd,
           "valgrind --tool=callgrind --combine-dumps=yes "
           "--callgrind-out-file='%s' '%s' --inside >/dev/null 2>'%s/log'",
           out, argv[0], dir);
  int rc = system(cmd);
  static double counts[BI_NCASES][2];
  if (rc != 0 || bi_parse(out, counts) != 0) {
    fprintf(stderr, "bench_icount: the callgrind run failed (%s/log)\n", dir);
    return 1;
  }
  double per[BI_NCASES];
  for (size_t c = 0; c < BI_NCASES; c++)
    per[c] = (counts[c][1] - counts[c][0]) / BI_N;
  double loop = per[0];
  int over = 0;
  printf("instructions per iteration under callgrind (loop of %.1f "
         "subtracted), mmu %s\n",
         loop, mmu_version_string());
  printf("%-26s %10s %8s %8s\n", "case", "instr", "goal", "ceiling");
  FILE *j = json ? fopen(json, "w") : NULL;
  if (j)
    fprintf(j, "{\"loop\": %.2f, \"cases\": [", loop);
  for (size_t c = 1; c < BI_NCASES; c++) {
    const bi_case *k = &bi_cases[c];
    double v = per[c] - loop;
    int above = k->ceiling > 0 && v > k->ceiling + 0.05;
    int unmet = k->budget > 0 && v > k->budget + 0.05;
    over |= above;
    char goal[16] = "-", ceil[16] = "-";
    if (k->budget > 0)
      snprintf(goal, sizeof goal, "%.0f", k->budget);
    if (k->ceiling > 0)
      snprintf(ceil, sizeof ceil, "%.0f", k->ceiling);
    printf("%-26s %10.1f %8s %8s%s\n", k->name, v, goal, ceil,
           above   ? "  ABOVE CEILING"
           : unmet ? "  goal not met"
                   : "");
    if (j)
      fprintf(j,
              "%s{\"case\": \"%s\", \"instructions\": %.2f, "
              "\"budget\": %.0f, \"ceiling\": %.0f}",
              c > 1 ? ", " : "", k->name, v, k->budget, k->ceiling);
  }
  if (j) {
    fprintf(j, "]}\n");
    fclose(j);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_icount: could not remove %s\n", dir);
  if (check && over) {
    printf("bench_icount: above a ceiling (SPEC.md 5.8)\n");
    return 1;
  }
  return 0;
#endif
}
