/* SPDX-License-Identifier: MIT */
/* Nested paging's second dimension (SPEC.md 10): guest-physical addresses
 * through Intel EPT (SDM 3C, "EPT Translation Mechanism", "EPT-Induced VM
 * Exits") and AMD nested page tables (APM 2 15.25). Every expectation is
 * written from the manuals. */
#include "pt.h"

TestSuite(nested, .init = pt_setup4, .fini = pt_teardown);

#define EPT_RWX (MMU_EPT_R | MMU_EPT_W | MMU_EPT_X)
#define GPA 0x40201234ull  /* PML4 0, PDPT 1, PD 1, PT 1 */
#define HPA_PAGE (PT_DATA + 0x5000)

/* Entry addresses of gpa's walk under root, tables created on the way
 * with `upper` (EPT: RWX; NPT: P|W|U); returns the entry at `level`. */
static uint64_t nest_entry(pt_env *e, uint64_t root, uint64_t gpa, int level,
                           uint64_t upper) {
  uint64_t table = root;
  for (int l = 4; l > level; l--) {
    uint64_t at = table + 8ull * pt_index(gpa, l);
    uint64_t v = pt_rd(e, at);
    if (!(v & PT_ADDR_MASK)) {
      v = pt_alloc(e) | upper;
      pt_wr(e, at, v);
    }
    table = v & PT_ADDR_MASK;
  }
  return table + 8ull * pt_index(gpa, level);
}

static void set_ept(pt_env *e, uint64_t eptp_bits, uint32_t flags) {
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_EPT;
  n.flags = flags;
  n.root = e->root | MMU_EPTP_WB | MMU_EPTP_WALK4 | eptp_bits;
  ST(mmu_set_nested(&e->cpu, &n), MMU_OK);
}

static void set_npt(pt_env *e, uint32_t flags) {
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_NPT;
  n.flags = flags;
  n.root = e->root;
  ST(mmu_set_nested(&e->cpu, &n), MMU_OK);
}

/* a 4 KiB EPT leaf for GPA with `leaf` bits, the tables above RWX */
static uint64_t ept_map4k(pt_env *e, uint64_t leaf) {
  uint64_t at = nest_entry(e, e->root, GPA, 1, EPT_RWX);
  pt_wr(e, at, HPA_PAGE | leaf);
  return at;
}

static int nt(pt_env *e, uint64_t gpa, unsigned access, mmu_result *r) {
  memset(r, 0, sizeof *r);
  return mmu_nested_translate(&e->cpu, gpa, access, r);
}

Test(nested, off_is_identity) {
  mmu_result r;
  ST(nt(&E, 0x123456, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0x123456);
  cr_assert(r.host == pt_host(&E, 0x123456));
}

Test(nested, ept_4k_read_write_fetch) {
  ept_map4k(&E, EPT_RWX | MMU_EPT_MT_WB);
  set_ept(&E, 0, 0);
  mmu_result r;
  for (unsigned k = MMU_READ; k <= MMU_FETCH; k++) {
    ST(nt(&E, GPA, k, &r), MMU_OK);
    EQ(r.paddr, HPA_PAGE | 0x234);
    EQ(r.page_size, 4096);
    cr_assert(r.host == pt_host(&E, HPA_PAGE | 0x234));
  }
}

Test(nested, ept_ad_only_when_the_eptp_enables_it) {
  uint64_t leaf = ept_map4k(&E, EPT_RWX | MMU_EPT_MT_WB);
  uint64_t pml4e = E.root + 8 * pt_index(GPA, 4);
  mmu_result r;
  set_ept(&E, 0, 0);
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_OK);
  EQ(pt_rd(&E, leaf) & (MMU_EPT_A | MMU_EPT_D), 0);
  set_ept(&E, MMU_EPTP_AD, 0); /* SDM 3C 28.2.5: A in each entry, D in the leaf */
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  EQ(pt_rd(&E, leaf) & (MMU_EPT_A | MMU_EPT_D), MMU_EPT_A);
  EQ(pt_rd(&E, pml4e) & (MMU_EPT_A | MMU_EPT_D), MMU_EPT_A);
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_OK);
  EQ(pt_rd(&E, leaf) & (MMU_EPT_A | MMU_EPT_D), MMU_EPT_A | MMU_EPT_D);
  EQ(pt_rd(&E, pml4e) & MMU_EPT_D, 0);
}

Test(nested, ept_not_present_is_a_violation) {
  uint64_t pde = nest_entry(&E, E.root, GPA, 2, EPT_RWX);
  (void)pde; /* the PDE stays 0: bits 2:0 clear */
  set_ept(&E, 0, 0);
  mmu_result r;
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_VIOLATION);
  EQ(r.gpa, GPA);
  /* the access, and the AND of R/W/X over the entries: 0 past the PDE */
  EQ(r.exit_qual, MMU_EPTQ_READ);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_FETCH);
}

Test(nested, ept_rights_are_anded_over_levels) {
  ept_map4k(&E, MMU_EPT_R | MMU_EPT_X | MMU_EPT_MT_WB);
  uint64_t pml4e = E.root + 8 * pt_index(GPA, 4);
  set_ept(&E, 0, 0);
  mmu_result r;
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_WRITE | MMU_EPTQ_READABLE | MMU_EPTQ_EXECUTABLE);
  /* X taken away at the top only: a fetch is refused, a read is not */
  pt_wr(&E, pml4e, pt_rd(&E, pml4e) & ~MMU_EPT_X);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_FETCH | MMU_EPTQ_READABLE);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
}

Test(nested, ept_misconfigurations) {
  uint64_t leaf = ept_map4k(&E, EPT_RWX | MMU_EPT_MT_WB);
  uint64_t pdpte = E.root; /* found below */
  pdpte = nest_entry(&E, E.root, GPA, 3, EPT_RWX);
  set_ept(&E, 0, 0);
  mmu_result r;
  /* write without read (bits 2:0 = 010b, 110b) */
  uint64_t old = pt_rd(&E, pdpte);
  pt_wr(&E, pdpte, (old & ~7ull) | MMU_EPT_W);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_MISCONFIG);
  EQ(r.gpa, GPA);
  EQ(r.exit_qual, 0);
  pt_wr(&E, pdpte, (old & ~7ull) | MMU_EPT_W | MMU_EPT_X);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_EPT_MISCONFIG);
  pt_wr(&E, pdpte, old);
  /* a reserved bit: 6:3 of an entry that references a table */
  pt_wr(&E, pdpte, old | (1ull << 3));
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_MISCONFIG);
  pt_wr(&E, pdpte, old);
  /* bits 51:M (MAXPHYADDR 52 here: none); the leaf's memory type 2, 3, 7 */
  for (uint64_t mt = 0; mt < 8; mt++) {
    pt_wr(&E, leaf, HPA_PAGE | EPT_RWX | mt << 3);
    int want = (mt == 2 || mt == 3 || mt == 7) ? MMU_EPT_MISCONFIG : MMU_OK;
    ST(nt(&E, GPA, MMU_READ, &r), want);
  }
}

Test(nested, ept_execute_only_needs_the_capability) {
  uint64_t leaf = ept_map4k(&E, MMU_EPT_X | MMU_EPT_MT_WB);
  (void)leaf;
  mmu_result r;
  set_ept(&E, 0, 0);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_EPT_MISCONFIG);
  set_ept(&E, 0, MMU_NESTED_EXEC_ONLY);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_OK);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_READ | MMU_EPTQ_EXECUTABLE);
}

Test(nested, ept_large_pages) {
  uint64_t pde = nest_entry(&E, E.root, GPA, 2, EPT_RWX);
  pt_wr(&E, pde, 0x00600000ull | MMU_EPT_PS | EPT_RWX | MMU_EPT_MT_WB);
  set_ept(&E, 0, 0);
  mmu_result r;
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x00600000ull | (GPA & (2 * MiB - 1)));
  EQ(r.page_size, 2 * MiB);
  pt_wr(&E, pde, 0x00600000ull | (1ull << 12) | MMU_EPT_PS | EPT_RWX);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_MISCONFIG); /* bits 20:12 */
  uint64_t pdpte = nest_entry(&E, E.root, GPA, 3, EPT_RWX);
  pt_wr(&E, pdpte, MMU_EPT_PS | EPT_RWX | MMU_EPT_MT_WB); /* 1 GiB at 0 */
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, GPA & (GiB - 1));
  EQ(r.page_size, GiB);
  set_ept(&E, 0, MMU_NESTED_NO_1G);
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_EPT_MISCONFIG);
  /* PS in a PML4E is reserved (bit 7) */
  uint64_t pml4e = E.root + 8 * pt_index(GPA, 4);
  pt_wr(&E, pml4e, pt_rd(&E, pml4e) | MMU_EPT_PS);
  set_ept(&E, 0, 0);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_MISCONFIG);
}

Test(nested, ept_reserved_address_bits_follow_maxphyaddr) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.maxphyaddr = 40;
  pt_env_init(&E, &cfg, 4);
  uint64_t leaf = ept_map4k(&E, EPT_RWX | MMU_EPT_MT_WB);
  set_ept(&E, 0, 0);
  mmu_result r;
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  pt_wr(&E, leaf, pt_rd(&E, leaf) | (1ull << 40));
  ST(nt(&E, GPA, MMU_READ, &r), MMU_EPT_MISCONFIG);
  /* bits 62:52 and 63 are ignored (63: suppress #VE) */
  pt_wr(&E, leaf, HPA_PAGE | EPT_RWX | MMU_EPT_MT_WB | (1ull << 63) | (1ull << 55));
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  /* a gpa wider than MAXPHYADDR is not an address */
  ST(nt(&E, 1ull << 40, MMU_READ, &r), MMU_ERR_ARG);
}

Test(nested, ept_five_levels) {
  /* EPTP walk length 5: a PML5 table above the 4-level tables */
  uint64_t pml5 = pt_alloc(&E);
  pt_wr(&E, pml5 + 8 * ((GPA >> 48) & 511), E.root | EPT_RWX);
  ept_map4k(&E, EPT_RWX | MMU_EPT_MT_WB);
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_EPT;
  n.root = pml5 | MMU_EPTP_WB | MMU_EPTP_WALK5;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  mmu_result r;
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | 0x234);
}

Test(nested, eptp_checks_as_vm_entry_does) {
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_EPT;
  uint64_t ok = E.root | MMU_EPTP_WB | MMU_EPTP_WALK4;
  n.root = ok;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  n.root = E.root | MMU_EPTP_UC | MMU_EPTP_WALK4;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  static const uint64_t bad[] = {1, 5, 7}; /* memory types other than UC/WB */
  for (unsigned i = 0; i < 3; i++) {
    n.root = E.root | bad[i] | MMU_EPTP_WALK4;
    ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  }
  n.root = E.root | MMU_EPTP_WB | (2ull << 3); /* a 3-level walk */
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  n.root = ok | (1ull << 7);
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  n.root = ok | MMU_EPTP_AD;
  n.flags = MMU_NESTED_NO_AD;
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  n.flags = 1u << 20; /* no such flag */
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  n.flags = 0;
  n.kind = 7;
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
  ST(mmu_set_nested(&E.cpu, NULL), MMU_ERR_ARG);
}

/* ---- AMD nested page tables ---------------------------------------------- */

static uint64_t npt_map4k(pt_env *e, uint64_t leaf) {
  uint64_t at = nest_entry(e, e->root, GPA, 1, F_PWU);
  pt_wr(e, at, HPA_PAGE | leaf);
  return at;
}

Test(nested, npt_walks_are_user_accesses) {
  uint64_t leaf = npt_map4k(&E, F_PWU);
  set_npt(&E, MMU_NESTED_NXE);
  mmu_result r;
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | 0x234);
  /* A in every entry, D in the leaf (APM 2 15.25.5: as host paging) */
  EQ(pt_rd(&E, leaf) & (F_A | F_D), F_A | F_D);
  /* U clear at any level: even a read is a user-mode violation */
  uint64_t pde = nest_entry(&E, E.root, GPA, 2, F_PWU);
  pt_wr(&E, pde, pt_rd(&E, pde) & ~F_U);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_NPF);
  EQ(r.gpa, GPA);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_U);
  pt_wr(&E, pde, pt_rd(&E, pde) | F_U);
  pt_wr(&E, leaf, HPA_PAGE | F_PU);
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_NPF);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_W | EC_U);
}

Test(nested, npt_not_present_reserved_and_nx) {
  uint64_t leaf = npt_map4k(&E, F_PWU);
  set_npt(&E, MMU_NESTED_NXE);
  mmu_result r;
  pt_wr(&E, leaf, 0);
  ST(nt(&E, GPA, MMU_WRITE, &r), MMU_NPF);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_W | EC_U);
  pt_wr(&E, leaf, HPA_PAGE | F_PWU | (1ull << 51)); /* MAXPHYADDR 52: fine */
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  pt_wr(&E, leaf, HPA_PAGE | F_PWU | F_XD);
  ST(nt(&E, GPA, MMU_FETCH, &r), MMU_NPF);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_U | EC_ID);
  set_npt(&E, 0); /* without the host's NXE, XD is reserved */
  ST(nt(&E, GPA, MMU_READ, &r), MMU_NPF);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_U | EC_RSVD);
}

Test(nested, npt_large_pages_and_root_checks) {
  uint64_t pde = nest_entry(&E, E.root, GPA, 2, F_PWU);
  pt_wr(&E, pde, 0x00600000ull | F_PWU | F_PS);
  set_npt(&E, 0);
  mmu_result r;
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x00600000ull | (GPA & (2 * MiB - 1)));
  pt_wr(&E, pde, 0x00600000ull | F_PWU | F_PS | (1ull << 13));
  ST(nt(&E, GPA, MMU_READ, &r), MMU_NPF);
  EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_U | EC_RSVD);
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_NPT;
  n.root = E.root | MMU_PTE_PWT | MMU_PTE_PCD;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  n.root = E.root | 1; /* bit 0 is not PWT/PCD: reserved */
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
}

/* ---- the two-dimensional guest walk ------------------------------------- */

/* The guest sees gpa = hpa + GOFF for the first 16 MiB of RAM (EPT or NPT
 * 2 MiB leaves), so a walker that confuses the two reads the wrong page. */
#define GOFF (32 * MiB)
#define GVA 0x0000008012345678ull /* PML4 1, PDPT 0x48, PD 0x1a2, PT 0x145 */

typedef struct g2 {
  uint64_t nroot;  /* the nested tables' root (hpa) */
  uint64_t groot;  /* the guest's CR3 (hpa; the guest sees + GOFF) */
  int ept;
} g2;

static void g2_offset_map(pt_env *e, g2 *g, int ept) {
  memset(g, 0, sizeof *g);
  g->ept = ept;
  g->nroot = pt_alloc(e);
  for (uint64_t hpa = 0; hpa < PT_RAM_SIZE; hpa += 2 * MiB) {
    uint64_t at = nest_entry(e, g->nroot, hpa + GOFF, 2, ept ? EPT_RWX : F_PWU);
    pt_wr(e, at, hpa | MMU_PTE_PS | (ept ? EPT_RWX | MMU_EPT_MT_WB : F_PWU));
  }
  g->groot = pt_alloc(e);
}

/* guest entry for va at level, tables created (guest entries hold gpas) */
static uint64_t g2_entry(pt_env *e, g2 *g, uint64_t va, int level) {
  uint64_t table = g->groot;
  for (int l = 4; l > level; l--) {
    uint64_t at = table + 8ull * pt_index(va, l);
    uint64_t v = pt_rd(e, at);
    if (!(v & F_P)) {
      v = (pt_alloc(e) + GOFF) | F_PWU;
      pt_wr(e, at, v);
    }
    table = (v & PT_ADDR_MASK) - GOFF;
  }
  return table + 8ull * pt_index(va, level);
}

static void g2_boot(pt_env *e, g2 *g, uint64_t eptp_bits, uint32_t flags) {
  mmu_regs r = pt_regs(e);
  r.cr3 = g->groot + GOFF;
  pt_load(e, &r);
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = g->ept ? MMU_NESTED_EPT : MMU_NESTED_NPT;
  n.flags = flags;
  n.root = g->nroot | (g->ept ? MMU_EPTP_WB | MMU_EPTP_WALK4 | eptp_bits : 0);
  ST(mmu_set_nested(&e->cpu, &n), MMU_OK);
}

/* the nested leaf that maps gpa's 2 MiB, split into 4 KiB pages so that
 * one of them can be changed: returns the nested PTE address for gpa */
static uint64_t g2_split(pt_env *e, g2 *g, uint64_t gpa) {
  uint64_t pde = nest_entry(e, g->nroot, gpa, 2, 0);
  uint64_t old = pt_rd(e, pde), pt = pt_alloc(e);
  uint64_t flags = old & 0x7F & ~MMU_PTE_PS;
  for (unsigned i = 0; i < 512; i++)
    pt_wr(e, pt + 8 * i, ((old & PT_ADDR_MASK & ~(2 * MiB - 1)) + 4096ull * i) |
                             flags | (g->ept ? MMU_EPT_MT_WB : 0));
  pt_wr(e, pde, pt | (g->ept ? EPT_RWX : F_PWU));
  return pt + 8ull * pt_index(gpa, 1);
}

Test(nested, guest_walk_through_ept) {
  g2 g;
  g2_offset_map(&E, &g, 1);
  uint64_t pte = g2_entry(&E, &g, GVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  g2_boot(&E, &g, MMU_EPTP_AD, 0);
  mmu_result r;
  ST(mmu_translate(&E.cpu, GVA, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | (GVA & 0xFFF));
  cr_assert(r.host == pt_host(&E, HPA_PAGE | (GVA & 0xFFF)));
  EQ(r.page_size, 4096);
  /* the guest's A/D are set in its entries (at their hpa) */
  EQ(pt_rd(&E, pte) & (F_A | F_D), F_A | F_D);
  EQ(pt_rd(&E, g.groot + 8 * pt_index(GVA, 4)) & F_A, F_A);
  /* cached: a second access is a hit (no walk) */
  uint64_t walks = E.cpu.stats.walks;
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_OK);
  EQ(E.cpu.stats.walks, walks);
}

Test(nested, guest_walk_exits_name_the_table_or_the_final_address) {
  g2 g;
  g2_offset_map(&E, &g, 1);
  uint64_t pte = g2_entry(&E, &g, GVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  uint64_t pte_gpa = pte + GOFF;
  /* the guest's page table not in EPT: the exit names its entry's gpa,
   * bit 7 (linear address valid) without bit 8; a read without EPT A/D,
   * a write with it (Bochs shows both: bochs_vmx_probe case j) */
  uint64_t npte = g2_split(&E, &g, pte_gpa);
  pt_wr(&E, npte, 0);
  mmu_result r;
  g2_boot(&E, &g, 0, 0);
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_EPT_VIOLATION);
  EQ(r.gpa, pte_gpa);
  EQ(r.exit_qual, MMU_EPTQ_READ | MMU_EPTQ_LINEAR_VALID);
  g2_boot(&E, &g, MMU_EPTP_AD, 0);
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_WRITE | MMU_EPTQ_LINEAR_VALID);
  pt_wr(&E, npte, ((pte_gpa - GOFF) & PT_ADDR_MASK) | EPT_RWX | MMU_EPT_MT_WB);
  /* the final page read-only in EPT: a read is cached, a write exits with
   * bits 7 and 8 (0x18a: Bochs's case d) */
  uint64_t nfinal = g2_split(&E, &g, HPA_PAGE + GOFF);
  pt_wr(&E, nfinal, HPA_PAGE | MMU_EPT_R | MMU_EPT_MT_WB);
  g2_boot(&E, &g, 0, 0);
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_OK);
  ST(mmu_translate(&E.cpu, GVA, MMU_WRITE, &r), MMU_EPT_VIOLATION);
  EQ(r.gpa, HPA_PAGE + GOFF + (GVA & 0xFFF));
  EQ(r.exit_qual, MMU_EPTQ_WRITE | MMU_EPTQ_READABLE | MMU_EPTQ_LINEAR_VALID |
                      MMU_EPTQ_FINAL);
  /* a guest #PF comes before the final address is translated */
  pt_wr(&E, pte, 0);
  mmu_invlpg(&E.cpu, GVA);
  ST(mmu_translate(&E.cpu, GVA, MMU_WRITE, &r), MMU_PAGE_FAULT);
  EQ(r.error_code, EC_W);
  EQ(r.cr2, GVA);
}

Test(nested, guest_walk_through_npt) {
  g2 g;
  g2_offset_map(&E, &g, 0);
  uint64_t pte = g2_entry(&E, &g, GVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  g2_boot(&E, &g, 0, MMU_NESTED_NXE);
  mmu_result r;
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | (GVA & 0xFFF));
  /* the guest's page table read-only in the nested tables: its walk is a
   * (user) write there, so it exits with bit 33 */
  uint64_t npte = g2_split(&E, &g, pte + GOFF);
  pt_wr(&E, npte, (pte & PT_ADDR_MASK) | F_PU);
  mmu_invlpg(&E.cpu, GVA);
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_NPF);
  EQ(r.gpa, pte + GOFF);
  EQ(r.exit_qual, MMU_NPF_TABLE | EC_P | EC_W | EC_U);
}

/* A guest table the nested tables do not map ends the guest's walk at its
 * level: with MMU_CFG_AD_ON_FAULT_UPPER the guest entries above get A, as
 * QEMU sets them (svm_npt_probe, cases l and n); by default (KVM, Bochs)
 * they stay clear. The fast path and the reference walker alike. */
Test(nested, guest_table_exit_sets_a_above_only_with_fault_upper) {
  for (int upper = 0; upper < 2; upper++) {
    mmu_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = upper ? MMU_CFG_AD_ON_FAULT_UPPER : 0;
    pt_env_init(&E, &cfg, 4);
    for (int ref = 0; ref < 2; ref++) {
      g2 g;
      g2_offset_map(&E, &g, 0);
      uint64_t pte = g2_entry(&E, &g, GVA, 1);
      pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
      uint64_t pml4e = g.groot + 8 * pt_index(GVA, 4);
      uint64_t pde = g2_entry(&E, &g, GVA, 2);
      pt_wr(&E, g2_split(&E, &g, pte + GOFF), 0);
      g2_boot(&E, &g, 0, MMU_NESTED_NXE);
      mmu_result r;
      memset(&r, 0, sizeof r);
      ST(ref ? mmu_reference_translate(&E.cpu, GVA, MMU_READ, &r, NULL)
             : mmu_translate(&E.cpu, GVA, MMU_READ, &r),
         MMU_NPF);
      EQ(r.gpa, pte + GOFF);
      EQ(r.exit_qual, MMU_NPF_TABLE | EC_W | EC_U);
      EQ(pt_rd(&E, pml4e) & F_A, upper ? F_A : 0);
      EQ(pt_rd(&E, pde) & F_A, upper ? F_A : 0);
      EQ(pt_rd(&E, pte) & F_A, 0);
    }
  }
}

/* The second dimension under MMU_CFG_AD_ON_FAULT_UPPER (QEMU's nested
 * walk is its walker: qemu-npt.vec): a nested walk that exits sets A in
 * the entries above the one that stopped it, never in that one; without
 * the flag none. NPT, and EPT with its A/D on; both walkers. */
Test(nested, nested_exit_sets_a_above_only_with_fault_upper) {
  for (int upper = 0; upper < 2; upper++)
    for (int ept = 0; ept < 2; ept++)
      for (int ref = 0; ref < 2; ref++) {
        mmu_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.flags = upper ? MMU_CFG_AD_ON_FAULT_UPPER : 0;
        pt_env_init(&E, &cfg, 4);
        mmu_regs r0;
        memset(&r0, 0, sizeof r0);
        r0.cr0 = MMU_CR0_PE; /* guest paging off: linear = gpa */
        pt_load(&E, &r0);
        uint64_t table = ept ? EPT_RWX : F_PWU, a = ept ? MMU_EPT_A : F_A;
        uint64_t leaf = nest_entry(&E, E.root, GPA, 1, table);
        uint64_t pml4e = E.root + 8 * pt_index(GPA, 4);
        if (ept)
          set_ept(&E, MMU_EPTP_AD, 0);
        else
          set_npt(&E, MMU_NESTED_NXE);
        mmu_result r;
        memset(&r, 0, sizeof r);
        /* the leaf not present, then present but read-only for a write */
        for (int rights = 0; rights < 2; rights++) {
          pt_wr(&E, leaf, rights ? HPA_PAGE | (ept ? MMU_EPT_R | MMU_EPT_MT_WB : F_P | F_U)
                                 : 0);
          pt_wr(&E, pml4e, pt_rd(&E, pml4e) & ~a);
          ST(ref ? mmu_reference_translate(&E.cpu, GPA, MMU_WRITE, &r, NULL)
                 : mmu_translate(&E.cpu, GPA, MMU_WRITE, &r),
             ept ? MMU_EPT_VIOLATION : MMU_NPF);
          EQ(pt_rd(&E, pml4e) & a, upper ? a : 0);
          EQ(pt_rd(&E, leaf) & a, 0);
        }
        pt_teardown();
      }
  pt_setup4();
}

Test(nested, guest_paging_off) {
  g2 g;
  g2_offset_map(&E, &g, 1);
  mmu_regs r0;
  memset(&r0, 0, sizeof r0);
  r0.cr0 = MMU_CR0_PE; /* paging off: linear = gpa */
  pt_load(&E, &r0);
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_EPT;
  n.root = g.nroot | MMU_EPTP_WB | MMU_EPTP_WALK4;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  mmu_result r;
  ST(mmu_translate(&E.cpu, GOFF + 0x123456, MMU_FETCH, &r), MMU_OK);
  EQ(r.paddr, 0x123456);
}

/* ---- a PAE guest under nested paging (SPEC 10.4) --------------------------- */

#define PVA 0x8765A123ull /* PDPTE 2, PD 0x3b, PT 0x5a */

/* A PAE guest's entry for va at level (3: the PDPTE in the PDPT at
 * g->groot; tables created, entries hold gpas = hpa + GOFF). */
static uint64_t g2_pae_entry(pt_env *e, g2 *g, uint64_t va, int level) {
  uint64_t at = g->groot + 8 * ((va >> 30) & 3);
  for (int l = 3; l > level; l--) {
    uint64_t v = pt_rd(e, at);
    if (!(v & F_P)) {
      v = (pt_alloc(e) + GOFF) | F_P | (l == 3 ? 0 : F_W | F_U);
      pt_wr(e, at, v);
    }
    at = (v & PT_ADDR_MASK) - GOFF + 8ull * pt_index(va, l - 1);
  }
  return at;
}

/* Enters the PAE guest as VM entry does: nested paging set, then the
 * registers, the PDPTE registers from the PDPT as the VMCS would hold
 * them (EPT; unused under NPT). */
static void g2_pae_boot(pt_env *e, g2 *g, uint64_t eptp_bits, uint32_t flags) {
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = g->ept ? MMU_NESTED_EPT : MMU_NESTED_NPT;
  n.flags = flags;
  n.root = g->nroot | (g->ept ? MMU_EPTP_WB | MMU_EPTP_WALK4 | eptp_bits : 0);
  ST(mmu_set_nested(&e->cpu, &n), MMU_OK);
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.cr3 = g->groot + GOFF;
  for (int i = 0; i < 4 && g->ept; i++) /* loadable values: no reserved bit */
    r.pdpte[i] = pt_rd(e, g->groot + 8 * (uint64_t)i) & ~(0x1E6ull | F_XD);
  ST(mmu_load_regs(&e->cpu, &r), MMU_OK);
}

/* Both walkers on one access (the reference on a copy of the world). */
static int pae_both(pt_env *e, uint64_t va, unsigned access, mmu_result *r) {
  mmu_result ref;
  memset(r, 0, sizeof *r);
  memset(&ref, 0, sizeof ref);
  int rs = mmu_reference_translate(&e->cpu, va, access, &ref, NULL);
  int st = mmu_translate(&e->cpu, va, access, r);
  cr_assert(st == rs, "translate %d, reference %d", st, rs);
  if (st == MMU_OK)
    EQ(r->paddr, ref.paddr);
  else if (st == MMU_PAGE_FAULT)
    EQ(r->error_code, ref.error_code);
  else if (st != MMU_ERR_PT_BUS)
    cr_assert(r->gpa == ref.gpa && r->exit_qual == ref.exit_qual);
  return st;
}

Test(nested, pae_guest_under_ept_walks_from_the_pdpte_registers) {
  g2 g;
  g2_offset_map(&E, &g, 1);
  uint64_t pte = g2_pae_entry(&E, &g, PVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  uint64_t pdpte_at = g.groot + 8 * (PVA >> 30), pdpte = pt_rd(&E, pdpte_at);
  g2_pae_boot(&E, &g, MMU_EPTP_AD, 0);
  mmu_result r;
  ST(pae_both(&E, PVA, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | (PVA & 0xFFF));
  EQ(pt_rd(&E, pte) & (F_A | F_D), F_A | F_D);
  EQ(pt_rd(&E, pdpte_at), pdpte); /* a PDPTE has no A flag */
  /* the registers, not memory: a cleared PDPTE changes nothing until a
   * MOV to CR3 loads it (through EPT) */
  pt_wr(&E, pdpte_at, 0);
  ST(mmu_flush_tlb(&E.cpu), MMU_OK);
  ST(pae_both(&E, PVA, MMU_READ, &r), MMU_OK);
  ST(mmu_write_cr3(&E.cpu, g.groot + GOFF), MMU_OK);
  EQ(E.cpu.regs.pdpte[PVA >> 30], 0);
  ST(pae_both(&E, PVA, MMU_READ, &r), MMU_PAGE_FAULT);
  EQ(r.error_code, 0);
  ST(mmu_cr_exit(&E.cpu, &r), MMU_ERR_STATE); /* that write made no exit */
}

Test(nested, pae_pdpte_load_through_ept_is_a_read_that_may_exit) {
  g2 g;
  g2_offset_map(&E, &g, 1);
  uint64_t pte = g2_pae_entry(&E, &g, PVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  g2_pae_boot(&E, &g, MMU_EPTP_AD, MMU_NESTED_EXEC_ONLY);
  uint64_t pdpt_gpa = g.groot + GOFF + 0x20; /* CR3 bits 4:0 ignored */
  uint64_t npte = g2_split(&E, &g, pdpt_gpa);
  uint64_t leaf = pt_rd(&E, npte);
  /* read-only: the load is a read even with EPT A/D on (SDM 3C: not
   * treated as a write), A set, D not */
  pt_wr(&E, npte, (leaf & ~(7ull | MMU_EPT_A | MMU_EPT_D)) | MMU_EPT_R);
  ST(mmu_write_cr3(&E.cpu, pdpt_gpa), MMU_OK);
  EQ(pt_rd(&E, npte) & (MMU_EPT_A | MMU_EPT_D), MMU_EPT_A);
  /* not readable: an EPT violation at the MOV, registers unchanged, no
   * linear address in the qualification */
  uint64_t before[4];
  memcpy(before, E.cpu.regs.pdpte, sizeof before);
  pt_wr(&E, npte, (leaf & ~7ull) | MMU_EPT_X);
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_write_cr3(&E.cpu, g.groot + GOFF + 0x40), MMU_EPT_VIOLATION);
  EQ(E.cpu.regs.cr3, pdpt_gpa);
  cr_assert(memcmp(before, E.cpu.regs.pdpte, sizeof before) == 0);
  ST(mmu_cr_exit(&E.cpu, &r), MMU_EPT_VIOLATION);
  EQ(r.gpa, g.groot + GOFF + 0x40);
  EQ(r.exit_qual, MMU_EPTQ_READ | MMU_EPTQ_EXECUTABLE);
  /* MOV to CR4 and CR0 load them too */
  ST(mmu_write_cr4(&E.cpu, MMU_CR4_PAE | MMU_CR4_PGE), MMU_EPT_VIOLATION);
  EQ(E.cpu.regs.cr4, MMU_CR4_PAE);
  ST(mmu_write_cr0(&E.cpu, E.cpu.regs.cr0 | MMU_CR0_CD), MMU_EPT_VIOLATION);
  /* a misconfiguration: write without read */
  pt_wr(&E, npte, (leaf & ~7ull) | MMU_EPT_W);
  ST(mmu_write_cr3(&E.cpu, pdpt_gpa), MMU_EPT_MISCONFIG);
  ST(mmu_cr_exit(&E.cpu, &r), MMU_EPT_MISCONFIG);
  EQ(r.gpa, pdpt_gpa);
  /* a register write that succeeds forgets the exit */
  pt_wr(&E, npte, leaf);
  ST(mmu_write_cr3(&E.cpu, pdpt_gpa), MMU_OK);
  ST(mmu_cr_exit(&E.cpu, &r), MMU_ERR_STATE);
  /* a reserved bit is still #GP, after the EPT translation */
  pt_wr(&E, g.groot + 0x20, F_P | F_W);
  ST(mmu_write_cr3(&E.cpu, pdpt_gpa), MMU_GP_FAULT);
}

Test(nested, pae_guest_under_npt_reads_the_pdpte_at_each_walk) {
  g2 g;
  g2_offset_map(&E, &g, 0);
  uint64_t pte = g2_pae_entry(&E, &g, PVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  uint64_t pdpte_at = g.groot + 8 * (PVA >> 30), pdpte = pt_rd(&E, pdpte_at);
  g2_pae_boot(&E, &g, 0, MMU_NESTED_NXE);
  memset(E.cpu.regs.pdpte, 0, sizeof E.cpu.regs.pdpte); /* never used */
  mmu_result r;
  ST(pae_both(&E, PVA, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | (PVA & 0xFFF));
  EQ(pt_rd(&E, pdpte_at), pdpte); /* no A flag in a PDPTE */
  /* memory, not registers: a rewritten PDPTE counts at the next walk */
  ST(mmu_write_cr3(&E.cpu, g.groot + GOFF), MMU_OK);
  pt_wr(&E, pdpte_at, 0);
  ST(mmu_flush_tlb(&E.cpu), MMU_OK);
  ST(pae_both(&E, PVA, MMU_WRITE, &r), MMU_PAGE_FAULT);
  EQ(r.error_code, MMU_PFEC_W);
  /* a reserved bit: no #GP at MOV to CR3, a #PF at the walk */
  pt_wr(&E, pdpte_at, pdpte | (1ull << 5));
  ST(mmu_write_cr3(&E.cpu, g.groot + GOFF), MMU_OK);
  ST(pae_both(&E, PVA, MMU_READ, &r), MMU_PAGE_FAULT);
  EQ(r.error_code, MMU_PFEC_P | MMU_PFEC_RSVD);
  pt_wr(&E, pdpte_at, pdpte | MMU_PTE_XD);
  ST(pae_both(&E, PVA, MMU_FETCH, &r), MMU_PAGE_FAULT);
  EQ(r.error_code, MMU_PFEC_P | MMU_PFEC_RSVD); /* guest NXE = 0: no I/D */
  /* the PDPT's page read-only in the nested tables: a guest table access
   * (a write to them, SPEC 10.4) exits at the PDPTE's gpa */
  pt_wr(&E, pdpte_at, pdpte);
  uint64_t npte = g2_split(&E, &g, pdpte_at + GOFF);
  pt_wr(&E, npte, pt_rd(&E, npte) & ~(uint64_t)F_W);
  ST(pae_both(&E, PVA, MMU_READ, &r), MMU_NPF);
  EQ(r.gpa, pdpte_at + GOFF);
  EQ(r.exit_qual, MMU_PFEC_P | MMU_PFEC_W | MMU_PFEC_U | MMU_NPF_TABLE);
}

Test(nested, what_the_host_forbids_never_hits_whatever_the_guest_allows) {
  /* guest paging off (no NXE, WP = 0: the guest allows everything), EPT
   * and NPT leaves that allow reads only: a read fills the TLB, and a
   * write or a fetch there must still exit, not hit (found by the
   * generated npt vectors: a fetch hit after a read) */
  for (int npt = 0; npt < 2; npt++) {
    g2 g;
    g2_offset_map(&E, &g, !npt);
    mmu_regs r0;
    memset(&r0, 0, sizeof r0);
    r0.cr0 = MMU_CR0_PE;
    pt_load(&E, &r0);
    uint64_t gpa = GOFF + 0x123000, leaf = g2_split(&E, &g, gpa);
    pt_wr(&E, leaf, npt ? 0x123000 | F_PU | F_A | F_D | MMU_PTE_XD
                        : 0x123000 | MMU_EPT_R | MMU_EPT_MT_WB);
    mmu_nested n;
    memset(&n, 0, sizeof n);
    n.kind = npt ? MMU_NESTED_NPT : MMU_NESTED_EPT;
    n.flags = npt ? MMU_NESTED_NXE : 0;
    n.root = g.nroot | (npt ? 0 : MMU_EPTP_WB | MMU_EPTP_WALK4);
    ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
    mmu_result r;
    ST(mmu_translate(&E.cpu, gpa + 0x10, MMU_READ, &r), MMU_OK);
    ST(mmu_translate(&E.cpu, gpa + 0x10, MMU_READ, &r), MMU_OK);
    ST(mmu_translate(&E.cpu, gpa + 0x10, MMU_WRITE, &r),
       npt ? MMU_NPF : MMU_EPT_VIOLATION);
    ST(mmu_translate(&E.cpu, gpa + 0x10, MMU_READ, &r), MMU_OK);
    ST(mmu_translate(&E.cpu, gpa + 0x10, MMU_FETCH, &r),
       npt ? MMU_NPF : MMU_EPT_VIOLATION);
    EQ(r.gpa, gpa + 0x10);
    pt_teardown();
    pt_setup4();
  }
}

Test(nested, npt_pml4e_reserved_bits) {
  /* nested tables are AMD's long-mode format: PS and bit 8 of a PML4E
   * are reserved (APM 2 5.3.3, as MMU_CFG_AMD has it for guests) */
  npt_map4k(&E, F_PWU);
  uint64_t pml4e = E.root + 8 * pt_index(GPA, 4);
  uint64_t old = pt_rd(&E, pml4e);
  set_npt(&E, 0);
  mmu_result r;
  static const uint64_t bits[] = {F_PS, F_G};
  for (unsigned i = 0; i < 2; i++) {
    pt_wr(&E, pml4e, old | bits[i]);
    ST(nt(&E, GPA, MMU_READ, &r), MMU_NPF);
    EQ(r.exit_qual, MMU_NPF_FINAL | EC_P | EC_U | EC_RSVD);
  }
  pt_wr(&E, pml4e, old);
  ST(nt(&E, GPA, MMU_READ, &r), MMU_OK);
}

Test(nested, guest_large_page_over_small_nested_pages) {
  /* a guest 2 MiB page whose gpa range EPT maps 4 KiB at a time, one page
   * elsewhere: the TLB keeps 4 KiB pieces, never extrapolates */
  g2 g;
  g2_offset_map(&E, &g, 1);
  const uint64_t va = 0x0000008040000000ull, gframe = GOFF + 10 * MiB;
  uint64_t pde = g2_entry(&E, &g, va, 2);
  pt_wr(&E, pde, gframe | F_PWU | F_PS);
  uint64_t npte = g2_split(&E, &g, gframe + 0x3000);
  pt_wr(&E, npte, HPA_PAGE | EPT_RWX | MMU_EPT_MT_WB);
  g2_boot(&E, &g, 0, 0);
  mmu_result r;
  ST(mmu_translate(&E.cpu, va + 0x1010, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 10 * MiB + 0x1010);
  EQ(r.page_size, 4096);
  ST(mmu_translate(&E.cpu, va + 0x3010, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE + 0x10);
  ST(mmu_translate(&E.cpu, va + 0x1020, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 10 * MiB + 0x1020);
}

Test(nested, execute_only_final_page_is_not_cached) {
  /* the host allows a fetch but no read: the fetch goes through, and the
   * TLB keeps nothing (its entries allow reads), so the next fetch walks */
  g2 g;
  g2_offset_map(&E, &g, 1);
  uint64_t pte = g2_entry(&E, &g, GVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  uint64_t nfinal = g2_split(&E, &g, HPA_PAGE + GOFF);
  pt_wr(&E, nfinal, HPA_PAGE | MMU_EPT_X | MMU_EPT_MT_WB);
  g2_boot(&E, &g, 0, MMU_NESTED_EXEC_ONLY);
  mmu_result r;
  ST(mmu_translate(&E.cpu, GVA, MMU_FETCH, &r), MMU_OK);
  EQ(r.paddr, HPA_PAGE | (GVA & 0xFFF));
  uint64_t walks = E.cpu.stats.walks;
  ST(mmu_translate(&E.cpu, GVA, MMU_FETCH, &r), MMU_OK);
  EQ(E.cpu.stats.walks, walks + 1);
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &r), MMU_EPT_VIOLATION);
  EQ(r.exit_qual, MMU_EPTQ_READ | MMU_EPTQ_EXECUTABLE | MMU_EPTQ_LINEAR_VALID |
                      MMU_EPTQ_FINAL);
}

/* ---- the reference walker's second dimension ------------------------------ */

static pt_env A2, B2;
static uint64_t nrng;
static uint64_t nrnd(void) {
  nrng ^= nrng << 13;
  nrng ^= nrng >> 7;
  nrng ^= nrng << 17;
  return nrng;
}
static unsigned nrn(unsigned n) { return (unsigned)(nrnd() % n); }

static void same_result(int sa, const mmu_result *a, int sb, const mmu_result *b,
                        uint64_t va, unsigned access, unsigned round) {
  cr_assert(sa == sb, "round %u va 0x%llx access %u: translate %d, reference %d",
            round, (unsigned long long)va, access, sa, sb);
  if (sa == MMU_OK)
    cr_assert(a->paddr == b->paddr && a->page_size == b->page_size &&
                  (a->host ? a->host - A2.host[0] : -1) ==
                      (b->host ? b->host - B2.host[0] : -1),
              "round %u va 0x%llx: 0x%llx/%llu vs 0x%llx/%llu", round,
              (unsigned long long)va, (unsigned long long)a->paddr,
              (unsigned long long)a->page_size, (unsigned long long)b->paddr,
              (unsigned long long)b->page_size);
  else if (sa == MMU_PAGE_FAULT)
    cr_assert(a->error_code == b->error_code && a->cr2 == b->cr2,
              "round %u va 0x%llx: ec 0x%x vs 0x%x", round,
              (unsigned long long)va, a->error_code, b->error_code);
  else if (sa != MMU_ERR_PT_BUS)
    cr_assert(a->gpa == b->gpa && a->exit_qual == b->exit_qual,
              "round %u va 0x%llx access %u: exit gpa 0x%llx qual 0x%llx vs "
              "0x%llx 0x%llx", round, (unsigned long long)va, access,
              (unsigned long long)a->gpa, (unsigned long long)a->exit_qual,
              (unsigned long long)b->gpa, (unsigned long long)b->exit_qual);
  else
    cr_assert(a->paddr == b->paddr, "bus error at 0x%llx vs 0x%llx",
              (unsigned long long)a->paddr, (unsigned long long)b->paddr);
}

/* One access on A2's TLB path and B2's reference walker: the same result;
 * outcomes counted by kind (ok, #PF, EPT violation, misconfiguration, NPF,
 * other). */
static void both_walkers(uint64_t va, unsigned access, unsigned round,
                         unsigned outcomes[6]) {
  mmu_result ra, rb;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  int sa = mmu_translate(&A2.cpu, va, access, &ra);
  int sb = mmu_reference_translate(&B2.cpu, va, access, &rb, NULL);
  same_result(sa, &ra, sb, &rb, va, access, round);
  outcomes[sa == MMU_OK ? 0 : sa == MMU_PAGE_FAULT ? 1 : sa == MMU_EPT_VIOLATION ? 2
           : sa == MMU_EPT_MISCONFIG ? 3 : sa == MMU_NPF ? 4 : 5]++;
}

/* A guest page's leaf in the second dimension gets random rights. */
static void odd_nested_rights(g2 *g, uint64_t target, int ept) {
  uint64_t np = g2_split(&A2, g, target);
  uint64_t v = pt_rd(&A2, np);
  v = ept ? (v & ~7ull) | nrn(8) : (v & ~(uint64_t)(F_P | F_W | F_U)) | nrn(8);
  pt_wr(&A2, np, v);
}

/* Both cpus: EFER.NXE and CPL 0 or 3 at random. */
static void both_random_nxe_cpl(void) {
  mmu_regs r = A2.cpu.regs;
  r.efer |= nrn(2) ? MMU_EFER_NXE : 0;
  r.cpl = (uint8_t)(nrn(2) ? 3 : 0);
  ST(mmu_load_regs(&A2.cpu, &r), MMU_OK);
  ST(mmu_load_regs(&B2.cpu, &r), MMU_OK);
}

/* A round's end: both walkers wrote the same A/D flags. */
static void same_worlds_end(unsigned round) {
  cr_assert(memcmp(A2.host[0], B2.host[0], PT_RAM_SIZE) == 0,
            "round %u: the A/D flags written differ", round);
  pt_env_fini(&A2);
  pt_env_fini(&B2);
}

Test(nested, random_two_dimensional_worlds_agree_with_the_reference_walker) {
  unsigned outcomes[6] = {0};
  nrng = 0x2545F4914F6CDD1Dull;
  for (unsigned round = 0; round < 120; round++) {
    pt_env_init(&A2, NULL, 4);
    g2 g;
    int ept = (int)(round & 1);
    g2_offset_map(&A2, &g, ept);
    /* the guest maps a few pages; some entries and nested leaves get
     * random flags */
    uint64_t vas[8];
    for (unsigned i = 0; i < 8; i++) {
      vas[i] = 0x0000008000000000ull | ((uint64_t)nrn(4) << 30) |
               ((uint64_t)nrn(4) << 21) | ((uint64_t)nrn(8) << 12);
      uint64_t pte = g2_entry(&A2, &g, vas[i], 1);
      uint64_t flags = F_P | (nrnd() & 0x66) | (nrn(4) == 0 ? F_XD : 0);
      uint64_t target = PT_DATA + GOFF + 4096ull * nrn(256);
      pt_wr(&A2, pte, target | flags);
      if (nrn(2) == 0)
        odd_nested_rights(&g, target, ept);
      if (nrn(8) == 0) { /* a guest table page out of the second dimension */
        uint64_t np = g2_split(&A2, &g, (pte & PT_ADDR_MASK) + GOFF);
        pt_wr(&A2, np, 0);
      }
    }
    uint64_t eptp_bits = nrn(2) ? MMU_EPTP_AD : 0;
    uint32_t flags = ept ? (nrn(2) ? MMU_NESTED_EXEC_ONLY : 0)
                         : (nrn(2) ? MMU_NESTED_NXE : 0);
    /* B: the same world */
    pt_env_init(&B2, NULL, 4);
    memcpy(B2.host[0], A2.host[0], PT_RAM_SIZE);
    g2 gb = g;
    g2_boot(&A2, &g, eptp_bits, flags);
    g2_boot(&B2, &gb, eptp_bits, flags);
    both_random_nxe_cpl();
    for (unsigned step = 0; step < 200; step++) {
      uint64_t va = vas[nrn(8)] | (nrnd() & 0xFF8);
      unsigned access = nrn(3);
      both_walkers(va, access, round, outcomes);
    }
    same_worlds_end(round);
  }
  cr_assert(outcomes[0] > 500 && outcomes[1] > 100 && outcomes[2] > 100 &&
                outcomes[4] > 100,
            "outcomes %u ok, %u #PF, %u EPT violations, %u NPF", outcomes[0],
            outcomes[1], outcomes[2], outcomes[4]);
}

/* PAE guests: PDPTE registers under EPT (loaded at entry and by MOV to
 * CR3 through EPT), PDPTEs read at each walk under NPT; random bits in
 * every guest entry (PDPTE reserved bits too) and odd nested pages, and
 * MOV to CR3 among the accesses. */
Test(nested, random_pae_guests_agree_with_the_reference_walker) {
  unsigned outcomes[6] = {0}, cr3_exits = 0;
  nrng = 0x9E3779B97F4A7C15ull;
  for (unsigned round = 0; round < 120; round++) {
    pt_env_init(&A2, NULL, 4);
    g2 g;
    int ept = (int)(round & 1);
    g2_offset_map(&A2, &g, ept);
    uint64_t vas[8];
    for (unsigned i = 0; i < 8; i++) {
      vas[i] = ((uint64_t)nrn(4) << 30) | ((uint64_t)nrn(4) << 21) |
               ((uint64_t)nrn(8) << 12);
      uint64_t target = PT_DATA + GOFF + 4096ull * nrn(256);
      if (nrn(5) == 0) { /* a 2 MiB guest page */
        uint64_t pde = g2_pae_entry(&A2, &g, vas[i], 2);
        if (!(pt_rd(&A2, pde) & F_P))
          pt_wr(&A2, pde, (target & ~(2 * MiB - 1)) | F_PS | F_P |
                              (nrnd() & 0x66) | (nrn(4) == 0 ? F_XD : 0) |
                              (nrn(10) == 0 ? 1ull << 13 : 0));
      } else {
        uint64_t pte = g2_pae_entry(&A2, &g, vas[i], 1);
        pt_wr(&A2, pte, target | F_P | (nrnd() & 0x66) |
                            (nrn(4) == 0 ? F_XD : 0) |
                            (nrn(12) == 0 ? 1ull << 50 : 0));
        if (nrn(2) == 0)
          odd_nested_rights(&g, target, ept);
      }
      if (nrn(8) == 0) { /* a guest PD out of the second dimension */
        uint64_t pdpte = pt_rd(&A2, g.groot + 8 * (vas[i] >> 30));
        pt_wr(&A2, g2_split(&A2, &g, pdpte & PT_ADDR_MASK), 0);
      }
    }
    /* PDPTEs: sometimes not present, or (in memory) a reserved bit */
    for (unsigned i = 0; i < 4; i++) {
      uint64_t at = g.groot + 8 * i, v = pt_rd(&A2, at);
      if (nrn(10) == 0)
        pt_wr(&A2, at, v & ~(uint64_t)F_P);
      else if ((v & F_P) && nrn(10) == 0)
        pt_wr(&A2, at, v | (nrn(2) ? 1ull << (5 + nrn(4)) : F_XD));
    }
    if (nrn(4) == 0) /* the PDPT's own page odd in the second dimension */
      pt_wr(&A2, g2_split(&A2, &g, g.groot + GOFF),
            ept ? nrn(2) ? 0 : (g.groot | MMU_EPT_X | MMU_EPT_MT_WB)
                : g.groot | F_P | F_U);
    uint64_t eptp_bits = nrn(2) ? MMU_EPTP_AD : 0;
    uint32_t flags = ept ? MMU_NESTED_EXEC_ONLY : (nrn(2) ? MMU_NESTED_NXE : 0);
    pt_env_init(&B2, NULL, 4);
    g2 gb = g;
    g2_pae_boot(&A2, &g, eptp_bits, flags);
    memcpy(B2.host[0], A2.host[0], PT_RAM_SIZE);
    g2_pae_boot(&B2, &gb, eptp_bits, flags);
    both_random_nxe_cpl();
    for (unsigned step = 0; step < 200; step++) {
      if (nrn(40) == 0) { /* MOV to CR3: a load through EPT, or nothing */
        uint64_t cr3 = g.groot + GOFF + 32 * nrn(2);
        int sa = mmu_write_cr3(&A2.cpu, cr3), sb = mmu_write_cr3(&B2.cpu, cr3);
        cr_assert(sa == sb);
        if (sa == MMU_EPT_VIOLATION || sa == MMU_EPT_MISCONFIG) {
          mmu_result ea, eb;
          ST(mmu_cr_exit(&A2.cpu, &ea), sa);
          ST(mmu_cr_exit(&B2.cpu, &eb), sa);
          cr_assert(ea.gpa == (cr3 & ~31ull) && ea.exit_qual == eb.exit_qual);
          cr3_exits++;
        }
        continue;
      }
      uint64_t va = vas[nrn(8)] | (nrnd() & 0xFF8);
      unsigned access = nrn(3);
      both_walkers(va, access, round, outcomes);
    }
    same_worlds_end(round);
  }
  cr_assert(outcomes[0] > 500 && outcomes[1] > 100 && outcomes[2] > 100 &&
                outcomes[3] > 10 && outcomes[4] > 100 && cr3_exits > 5,
            "outcomes %u ok, %u #PF, %u EPT violations, %u misconfigurations, "
            "%u NPF, %u MOV-to-CR3 exits", outcomes[0], outcomes[1],
            outcomes[2], outcomes[3], outcomes[4], cr3_exits);
}

/* ---- INVEPT, INVVPID, INVLPGA (SPEC 10.5) --------------------------------- */

/* A guest page cached through the second dimension (global in the guest's
 * tables where asked), tagged `tag`; the walks so far. */
static uint64_t cached(g2 *g, int ept, uint16_t tag, uint64_t va, int global) {
  g2_offset_map(&E, g, ept);
  uint64_t pte = g2_entry(&E, g, va, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU | (global ? F_G : 0));
  mmu_regs r = pt_regs(&E);
  r.cr3 = g->groot + GOFF;
  r.cr4 |= MMU_CR4_PGE;
  pt_load(&E, &r);
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = ept ? MMU_NESTED_EPT : MMU_NESTED_NPT;
  n.root = g->nroot | (ept ? MMU_EPTP_WB | MMU_EPTP_WALK4 : 0);
  n.tag = tag;
  ST(mmu_set_nested(&E.cpu, &n), MMU_OK);
  mmu_result res;
  ST(mmu_translate(&E.cpu, va, MMU_READ, &res), MMU_OK);
  return E.cpu.stats.walks;
}

/* Whether va is still cached: a read that does not walk. */
static int still_cached(uint64_t va) {
  uint64_t walks = E.cpu.stats.walks;
  mmu_result r;
  ST(mmu_translate(&E.cpu, va, MMU_READ, &r), MMU_OK);
  return E.cpu.stats.walks == walks;
}

Test(nested, invept_drops_its_context_only) {
  g2 g;
  cached(&g, 1, 1, GVA, 0);
  uint64_t eptp = g.nroot | MMU_EPTP_WB | MMU_EPTP_WALK4;
  ST(mmu_invept(&E.cpu, 1, eptp + 0x1000), MMU_OK); /* another EPTP */
  cr_assert(still_cached(GVA));
  ST(mmu_invept(&E.cpu, 1, eptp | MMU_EPTP_AD), MMU_OK); /* bits 11:0 aside */
  cr_assert(!still_cached(GVA));
  ST(mmu_invept(&E.cpu, 2, 0), MMU_OK); /* all contexts: no EPTP checked */
  cr_assert(!still_cached(GVA));
  /* VMfail: no such type; a single context's EPTP as VM entry checks it */
  ST(mmu_invept(&E.cpu, 0, eptp), MMU_ERR_ARG);
  ST(mmu_invept(&E.cpu, 3, eptp), MMU_ERR_ARG);
  ST(mmu_invept(&E.cpu, 1, g.nroot | 1 | MMU_EPTP_WALK4), MMU_ERR_ARG);
  ST(mmu_invept(&E.cpu, 1, g.nroot | MMU_EPTP_WB | (2ull << 3)), MMU_ERR_ARG);
  cr_assert(still_cached(GVA));
}

Test(nested, invvpid_drops_its_vpid_and_keeps_globals_for_type_3) {
  g2 g;
  const uint64_t va2 = GVA + 0x200000; /* another guest page, not global */
  cached(&g, 1, 5, GVA, 1);
  uint64_t pte2 = g2_entry(&E, &g, va2, 1);
  pt_wr(&E, pte2, (HPA_PAGE + GOFF) | F_PWU);
  cr_assert(!still_cached(va2)); /* filled now */
  ST(mmu_invvpid(&E.cpu, 1, 6, 0), MMU_OK); /* another VPID */
  cr_assert(still_cached(GVA) && still_cached(va2));
  ST(mmu_invvpid(&E.cpu, 3, 5, 0), MMU_OK); /* keeps the global page */
  cr_assert(still_cached(GVA));
  cr_assert(!still_cached(va2));
  ST(mmu_invvpid(&E.cpu, 0, 5, GVA), MMU_OK);
  cr_assert(!still_cached(GVA));
  ST(mmu_invvpid(&E.cpu, 1, 5, 0), MMU_OK);
  cr_assert(!still_cached(GVA));
  ST(mmu_invvpid(&E.cpu, 2, 0, 0), MMU_OK);
  cr_assert(!still_cached(GVA));
  /* VMfail: VPID 0 but for all contexts, a non-canonical address, type 4 */
  ST(mmu_invvpid(&E.cpu, 1, 0, 0), MMU_ERR_ARG);
  ST(mmu_invvpid(&E.cpu, 0, 5, 0x0000800000000000ull), MMU_ERR_ARG);
  ST(mmu_invvpid(&E.cpu, 4, 5, 0), MMU_ERR_ARG);
  cr_assert(still_cached(GVA));
}

Test(nested, invlpga_drops_an_address_of_its_asid) {
  g2 g;
  cached(&g, 0, 3, GVA, 0);
  ST(mmu_invlpga(&E.cpu, GVA, 4), MMU_OK);
  cr_assert(still_cached(GVA));
  ST(mmu_invlpga(&E.cpu, GVA, 0), MMU_OK); /* the host's */
  cr_assert(still_cached(GVA));
  ST(mmu_invlpga(&E.cpu, GVA, 3), MMU_OK);
  cr_assert(!still_cached(GVA));
  /* nested paging off: ASID 0 is this cpu's own translations */
  mmu_nested off;
  memset(&off, 0, sizeof off);
  ST(mmu_set_nested(&E.cpu, &off), MMU_OK);
  pt_map4k(&E, GVA, HPA_PAGE, F_PWU);
  mmu_regs r = pt_regs(&E);
  pt_load(&E, &r);
  mmu_result res;
  ST(mmu_translate(&E.cpu, GVA, MMU_READ, &res), MMU_OK);
  EQ(res.paddr, HPA_PAGE | (GVA & 0xFFF));
  ST(mmu_invlpga(&E.cpu, GVA, 3), MMU_OK); /* no guest runs: nothing */
  cr_assert(still_cached(GVA));
  ST(mmu_invlpga(&E.cpu, GVA, 0), MMU_OK);
  cr_assert(!still_cached(GVA));
}

/* The reference walker's trace shows both dimensions (SPEC 10.4): the
 * guest's entries at their gpas, and for each of them and for the final
 * address the nested entries read, top first. */
Test(nested, the_trace_shows_both_dimensions) {
  g2 g;
  g2_offset_map(&E, &g, 1); /* 2 MiB nested pages: 3 levels each */
  uint64_t pte = g2_entry(&E, &g, GVA, 1);
  pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_PWU);
  g2_boot(&E, &g, 0, 0);
  mmu_result r;
  mmu_trace t;
  memset(&t, 0xAA, sizeof t);
  ST(mmu_reference_translate(&E.cpu, GVA, MMU_READ, &r, &t), MMU_OK);
  EQ(t.count, 4);
  EQ(t.nested_count, 5 * 3);
  for (uint32_t i = 0; i < t.nested_count; i++) {
    const mmu_nested_step *s = &t.nested[i];
    unsigned guest = 4 - i / 3; /* 4, 3, 2, 1, then 0: the final address */
    EQ(s->for_level, guest == 0 ? 0 : guest);
    EQ(s->level, 4 - i % 3);
    EQ(s->gpa, guest ? t.step[4 - guest].entry_gpa : HPA_PAGE + GOFF + (GVA & 0xFFF));
    EQ(s->entry, pt_rd(&E, s->entry_hpa) & ~(uint64_t)0);
  }
  /* a walk that exits at a guest table stops there too */
  pt_wr(&E, g2_split(&E, &g, pte + GOFF), 0);
  mmu_invlpg(&E.cpu, GVA);
  ST(mmu_reference_translate(&E.cpu, GVA, MMU_READ, &r, &t), MMU_EPT_VIOLATION);
  EQ(t.count, 3);
  EQ(t.nested[t.nested_count - 1].level, 1);
  EQ(t.nested[t.nested_count - 1].for_level, 1);
  EQ(t.nested[t.nested_count - 1].entry, 0);
}

/* Mode-based execute control (SDM 3C "EPT Translation Mechanism"): with
 * MMU_NESTED_MBEC bit 2 allows fetches from supervisor-mode addresses and
 * bit 10 from user-mode ones (U/S = 1 in every guest entry); the
 * qualification reports bit 10's AND as bit 6; an entry with only bit 10
 * is present (execute-only). Without MBEC bit 10 is ignored. Both walkers. */
Test(nested, mbec_checks_user_fetches_against_xu) {
  for (int user = 0; user < 2; user++)
    for (int ref = 0; ref < 2; ref++) {
      pt_teardown();
      pt_setup4();
      g2 g;
      g2_offset_map(&E, &g, 1);
      uint64_t pte = g2_entry(&E, &g, GVA, 1);
      pt_wr(&E, pte, (HPA_PAGE + GOFF) | F_P | F_W | (user ? F_U : 0));
      const uint64_t gpa = HPA_PAGE + GOFF;
      uint64_t leaf = g2_split(&E, &g, gpa);
      for (int l = 4; l >= 2; l--) { /* XU in the tables above */
        uint64_t at = nest_entry(&E, g.nroot, gpa, l, 0);
        pt_wr(&E, at, pt_rd(&E, at) | MMU_EPT_XU);
      }
      const uint64_t lin = MMU_EPTQ_FETCH | MMU_EPTQ_LINEAR_VALID | MMU_EPTQ_FINAL;
      mmu_result r;
#define FETCH()                                                              \
  (memset(&r, 0, sizeof r), mmu_flush_tlb(&E.cpu),                           \
   ref ? mmu_reference_translate(&E.cpu, GVA, MMU_FETCH, &r, NULL)           \
       : mmu_translate(&E.cpu, GVA, MMU_FETCH, &r))
      /* XS only */
      pt_wr(&E, leaf, HPA_PAGE | MMU_EPT_R | MMU_EPT_X | MMU_EPT_MT_WB);
      g2_boot(&E, &g, 0, MMU_NESTED_MBEC);
      if (user) {
        ST(FETCH(), MMU_EPT_VIOLATION);
        EQ(r.exit_qual, lin | MMU_EPTQ_READABLE | MMU_EPTQ_EXECUTABLE);
      } else {
        ST(FETCH(), MMU_OK);
      }
      /* XU only */
      pt_wr(&E, leaf, HPA_PAGE | MMU_EPT_R | MMU_EPT_XU | MMU_EPT_MT_WB);
      if (user) {
        ST(FETCH(), MMU_OK);
        EQ(r.paddr, HPA_PAGE | (GVA & 0xFFF));
      } else {
        ST(FETCH(), MMU_EPT_VIOLATION);
        EQ(r.exit_qual, lin | MMU_EPTQ_READABLE | MMU_EPTQ_USER_EXECUTABLE);
      }
      /* only XU: present, execute-only (not offered here: misconfigured) */
      pt_wr(&E, leaf, HPA_PAGE | MMU_EPT_XU | MMU_EPT_MT_WB);
      ST(FETCH(), MMU_EPT_MISCONFIG);
      g2_boot(&E, &g, 0, MMU_NESTED_MBEC | MMU_NESTED_EXEC_ONLY);
      ST(FETCH(), user ? MMU_OK : MMU_EPT_VIOLATION);
      /* without MBEC bit 10 is ignored: the entry is not present */
      g2_boot(&E, &g, 0, MMU_NESTED_EXEC_ONLY);
      ST(FETCH(), MMU_EPT_VIOLATION);
      EQ(r.exit_qual, lin);
#undef FETCH
    }
  /* MBEC is EPT's */
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_NPT;
  n.flags = MMU_NESTED_MBEC;
  n.root = E.root;
  ST(mmu_set_nested(&E.cpu, &n), MMU_ERR_ARG);
}
