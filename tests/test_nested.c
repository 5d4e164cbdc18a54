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

Test(nested, guest_translation_waits_for_the_guest_walk) {
  /* until the two-dimensional guest walk lands, mmu_translate refuses to
   * answer from guest tables while nested paging is on (SPEC 10) */
  pt_map(&E, PT_SLOT(1), PT_DATA, 4096, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(mmu_translate(&E.cpu, PT_SLOT(1), MMU_READ, &r), MMU_OK);
  set_npt(&E, 0);
  EQ(mmu_tlb_count(&E.cpu), 0);
  ST(mmu_translate(&E.cpu, PT_SLOT(1), MMU_READ, &r), MMU_ERR_STATE);
  ST(mmu_reference_translate(&E.cpu, PT_SLOT(1), MMU_READ, &r, NULL), MMU_ERR_STATE);
  mmu_nested off;
  memset(&off, 0, sizeof off);
  ST(mmu_set_nested(&E.cpu, &off), MMU_OK);
  ST(mmu_translate(&E.cpu, PT_SLOT(1), MMU_READ, &r), MMU_OK);
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
