/* SPDX-License-Identifier: MIT */
/* Page walk: levels, page sizes, LA57, canonical addresses, RAM lookup,
 * bus errors, traces (SDM 4.5). */
#include "pt.h"

#define V4K 0x00007FFF12345000ull
#define V2M 0x0000123456600000ull
#define V1G 0x0000004000000000ull
#define PA4K (PT_DATA + 0x200000ull) /* 10 MiB */
#define PA2M (12 * MiB)

TestSuite(walk, .init = pt_setup4, .fini = pt_teardown);

Test(walk, page_4k_read) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K + 0x678, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA4K + 0x678);
  PTREQ(r.host, E.host[0] + PA4K + 0x678);
  EQ(r.page_size, 4096);
}

Test(walk, page_4k_write_and_fetch) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V4K + 1, MMU_WRITE, PA4K + 1);
  TR_OK(&E, V4K + 0xFFF, MMU_FETCH, PA4K + 0xFFF);
}

Test(walk, translate_slow_same_result) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_translate_slow(&E.cpu, V4K + 0x10, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA4K + 0x10);
  PTREQ(r.host, E.host[0] + PA4K + 0x10);
}

Test(walk, page_2m) {
  pt_map(&E, V2M, PA2M, 2 * MiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V2M + 0x12345, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA2M + 0x12345);
  PTREQ(r.host, E.host[0] + PA2M + 0x12345);
  EQ(r.page_size, 2 * MiB);
  ST(pt_tr(&E, V2M + 0x1FFFFF, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, PA2M + 0x1FFFFF);
}

Test(walk, page_1g) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V1G + 0xABCDEF, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0xABCDEF);
  PTREQ(r.host, E.host[0] + 0xABCDEF);
  EQ(r.page_size, 1 * GiB);
  /* same page, beyond the end of RAM: fine, no host pointer */
  ST(pt_tr(&E, V1G + 0x30000123, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x30000123);
  PTREQ(r.host, NULL);
  EQ(r.page_size, 1 * GiB);
}

Test(walk, page_1g_outside_ram) {
  pt_map(&E, V1G, 2 * GiB, 1 * GiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V1G + 0x1234, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 2 * GiB + 0x1234);
  PTREQ(r.host, NULL);
}

Test(walk, final_address_outside_ram_is_ok) {
  pt_map4k(&E, V4K, 0x40000000ull, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K + 0x88, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0x40000088ull);
  PTREQ(r.host, NULL);
}

/* PTE bit 7 is PAT, not PS: still a 4 KiB page (SDM Table 4-20) */
Test(walk, pte_bit7_is_pat) {
  pt_map4k(&E, V4K, PA4K, F_PWU | (1ull << 7));
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K + 0x345, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA4K + 0x345);
  EQ(r.page_size, 4096);
}

/* Ignored bits (11:9, 58:52 with MAXPHYADDR 52 and PKE=0, bits 62:59 too)
 * are not part of the address. */
Test(walk, ignored_bits_not_in_address) {
  uint64_t ign = (7ull << 9) | (0x7Full << 52) | (0xFull << 59);
  pt_map(&E, V4K, PA4K, 4 * KiB, F_PWU | ign, F_PWU | ign);
  pt_map(&E, V2M, PA2M, 2 * MiB, F_PWU | ign, F_PWU | ign);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V4K + 0x10, MMU_READ, PA4K + 0x10);
  TR_OK(&E, V2M + 0x10, MMU_READ, PA2M + 0x10);
}

/* PAT bit (12) of a 2 MiB PDE is not an address bit */
Test(walk, pde_2m_pat_bit_not_address) {
  pt_map(&E, V2M, PA2M, 2 * MiB, F_PWU | (1ull << 12), F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V2M + 0x1234, MMU_READ, PA2M + 0x1234);
}

Test(walk, cr3_pwt_pcd_ignored) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  mmu_regs r = pt_regs(&E);
  r.cr3 |= MMU_PTE_PWT | MMU_PTE_PCD;
  pt_load(&E, &r);
  TR_OK(&E, V4K + 8, MMU_READ, PA4K + 8);
}

Test(walk, not_present_each_level) {
  for (int level = 4; level >= 1; level--) {
    uint64_t va = PT_SLOT(level); /* separate PML4 slots */
    pt_map4k(&E, va, PA4K, F_PWU);
    pt_clr(&E, va, level, F_P);
  }
  pt_boot(&E, 0, 0);
  for (int level = 4; level >= 1; level--) {
    uint64_t va = PT_SLOT(level);
    TR_PF(&E, va + 0x123, MMU_READ, 0);
  }
}

Test(walk, not_present_error_code_bits) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_clr(&E, V4K, 1, F_P);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V4K, MMU_READ, 0);
  TR_PF(&E, V4K + 4, MMU_WRITE, EC_W);
  TR_PF(&E, V4K + 8, MMU_FETCH, EC_ID); /* NXE=1 */
  mmu_set_cpl(&E.cpu, 3);
  TR_PF(&E, V4K, MMU_READ, EC_U);
  TR_PF(&E, V4K + 4, MMU_WRITE, EC_W | EC_U);
  TR_PF(&E, V4K + 8, MMU_FETCH, EC_U | EC_ID);
  /* implicit supervisor access at CPL 3: no U */
  TR_PF(&E, V4K + 12, MMU_READ | MMU_IMPLICIT, 0);
  TR_PF(&E, V4K + 12, MMU_WRITE | MMU_IMPLICIT, EC_W);
}

/* fetch with NXE=0 and SMEP=0: I/D is not reported (SDM 4.7) */
Test(walk, not_present_fetch_without_nxe_no_id) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_clr(&E, V4K, 1, F_P);
  mmu_regs r = pt_regs(&E);
  r.efer &= ~MMU_EFER_NXE;
  pt_load(&E, &r);
  TR_PF(&E, V4K, MMU_FETCH, 0);
  r.cr4 |= MMU_CR4_SMEP;
  pt_load(&E, &r);
  TR_PF(&E, V4K, MMU_FETCH, EC_ID);
}

/* a not-present entry's other bits are ignored, even "reserved" ones */
Test(walk, not_present_other_bits_ignored) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_set(&E, V4K, 1, ~(uint64_t)F_P);
  uint64_t va2 = PT_SLOT(1);
  pt_map4k(&E, va2, PA4K, F_PWU);
  pt_set(&E, va2, 3, 0xFFF0000000000080ull); /* PS, high bits, P=0 */
  pt_boot(&E, 0, 3);
  TR_PF(&E, V4K, MMU_READ, EC_U);
  TR_PF(&E, va2, MMU_WRITE, EC_U | EC_W);
}

Test(walk, fault_stats_counters) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_clr(&E, V4K, 2, F_P);
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  TR_PF(&E, V4K, MMU_READ, 0);
  EQ(E.cpu.stats.faults_not_present, 1);
  EQ(E.cpu.stats.faults_protection, 0);
  EQ(E.cpu.stats.faults_reserved, 0);
}

static void expect_gp(pt_env *e, uint64_t va, unsigned access) {
  mmu_result r;
  memset(&r, 0xFF, sizeof r);
  int st = mmu_translate(&e->cpu, va, access, &r);
  cr_assert(st == MMU_GP_FAULT, "va 0x%llx access %u: status %d, expected GP",
            (unsigned long long)va, access, st);
  EQ(r.error_code, 0);
}

Test(walk, non_canonical_48) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  expect_gp(&E, 0x0000800000000000ull, MMU_READ);
  expect_gp(&E, 0xFFFF7FFFFFFFF000ull, MMU_WRITE);
  expect_gp(&E, 0x8000000000000000ull, MMU_FETCH);
  expect_gp(&E, 0x0001000000000000ull | V4K, MMU_READ); /* bit 48 only */
  expect_gp(&E, 0x00FFFFFFFFFFE000ull, MMU_READ); /* LA57-canonical */
  EQ(E.cpu.stats.faults_gp, 5);
}

Test(walk, canonical_high_half) {
  pt_map4k(&E, 0xFFFF800000001000ull, PA4K, F_PW);
  pt_map4k(&E, 0xFFFFFFFFFFFFF000ull, PA4K + 0x1000, F_PW);
  pt_boot(&E, 0, 0);
  TR_OK(&E, 0xFFFF800000001234ull, MMU_READ, PA4K + 0x234);
  TR_OK(&E, 0xFFFFFFFFFFFFFFF8ull, MMU_WRITE, PA4K + 0x1FF8);
  TR_OK(&E, 0xFFFF800000001000ull, MMU_FETCH, PA4K);
}

Test(walk, page_fault_sets_cr2_exactly) {
  pt_boot(&E, 0, 0);
  TR_PF(&E, 0xFFFF8123456789ABull, MMU_READ, 0);
  TR_PF(&E, 0x00007FFFFFFFFFFFull, MMU_WRITE, EC_W);
}

/* --- 5-level paging (SDM 4.5, LA57) ------------------------------------- */

TestSuite(walk57, .init = pt_setup5, .fini = pt_teardown);

Test(walk57, page_4k_57bit_addresses) {
  const uint64_t va[] = {0x00FFFFFFFFFFE000ull, 0xFF00000000001000ull,
                         0x0000800000000000ull, 0x0001000000042000ull};
  for (unsigned i = 0; i < 4; i++)
    pt_map4k(&E, va[i], PA4K + 0x1000 * i, F_PWU);
  pt_boot(&E, 0, 0);
  for (unsigned i = 0; i < 4; i++)
    TR_OK(&E, va[i] + 0x77, MMU_READ, PA4K + 0x1000 * i + 0x77);
}

Test(walk57, non_canonical_57) {
  pt_boot(&E, 0, 0);
  expect_gp(&E, 0x0100000000000000ull, MMU_READ);
  expect_gp(&E, 0xFE00000000000000ull, MMU_WRITE);
  expect_gp(&E, 0x8000000000000000ull, MMU_FETCH);
  expect_gp(&E, 0x7FFFFFFFFFFFF000ull, MMU_READ);
}

Test(walk57, pml5e_not_present) {
  pt_map4k(&E, 0x00FFFFFFFFFFE000ull, PA4K, F_PWU);
  pt_clr(&E, 0x00FFFFFFFFFFE000ull, 5, F_P);
  pt_boot(&E, 0, 3);
  TR_PF(&E, 0x00FFFFFFFFFFE010ull, MMU_WRITE, EC_W | EC_U);
}

Test(walk57, pages_2m_1g) {
  uint64_t v2 = 0x0080000000200000ull, v1 = 0xFF80000040000000ull;
  pt_map(&E, v2, PA2M, 2 * MiB, F_PWU, F_PWU);
  pt_map(&E, v1, 0, 1 * GiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, v2 + 0x1ABCD, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA2M + 0x1ABCD);
  EQ(r.page_size, 2 * MiB);
  ST(pt_tr(&E, v1 + 0x123456, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x123456);
  PTREQ(r.host, E.host[0] + 0x123456);
  EQ(r.page_size, 1 * GiB);
}

Test(walk57, trace_five_levels) {
  uint64_t va = 0x00ABCDEF12345000ull;
  pt_map4k(&E, va, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  uint64_t gpa[6], val[6];
  for (int l = 5; l >= 1; l--) {
    gpa[l] = pt_entry_gpa(&E, va, l);
    val[l] = pt_rd(&E, gpa[l]);
  }
  EQ(gpa[5], E.root + 8ull * pt_index(va, 5));
  mmu_result r;
  mmu_trace t;
  memset(&r, 0, sizeof r);
  memset(&t, 0, sizeof t);
  ST(mmu_reference_translate(&E.cpu, va + 0x9A, MMU_READ, &r, &t), MMU_OK);
  EQ(r.paddr, PA4K + 0x9A);
  EQ(t.count, 5);
  for (unsigned i = 0; i < 5; i++) {
    int l = 5 - (int)i;
    EQ(t.step[i].level, l);
    EQ(t.step[i].entry_gpa, gpa[l]);
    EQ(t.step[i].entry, val[l]);
  }
}

/* 48-bit-canonical address in a 4-level cpu vs a 5-level one */
Test(walk, la57_address_in_4level_is_gp) {
  pt_boot(&E, 0, 0);
  expect_gp(&E, 0x0080000000000000ull, MMU_READ);
}

/* --- traces ---------------------------------------------------------------- */

Test(walk, trace_4k) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  uint64_t gpa[5], val[5];
  for (int l = 4; l >= 1; l--) {
    gpa[l] = pt_entry_gpa(&E, V4K, l);
    val[l] = pt_rd(&E, gpa[l]);
  }
  EQ(gpa[4], E.root + 8ull * pt_index(V4K, 4));
  mmu_result r;
  mmu_trace t;
  memset(&t, 0xFF, sizeof t);
  memset(&r, 0, sizeof r);
  ST(mmu_reference_translate(&E.cpu, V4K + 0x321, MMU_WRITE, &r, &t), MMU_OK);
  EQ(r.paddr, PA4K + 0x321);
  PTREQ(r.host, E.host[0] + PA4K + 0x321);
  EQ(t.count, 4);
  for (unsigned i = 0; i < 4; i++) {
    int l = 4 - (int)i;
    EQ(t.step[i].level, l);
    EQ(t.step[i].entry_gpa, gpa[l]);
    EQ(t.step[i].entry, val[l]); /* before the A/D update */
  }
}

Test(walk, trace_2m_three_steps) {
  pt_map(&E, V2M, PA2M, 2 * MiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  mmu_trace t;
  memset(&t, 0, sizeof t);
  ST(mmu_reference_translate(&E.cpu, V2M + 5, MMU_READ, &r, &t), MMU_OK);
  EQ(r.paddr, PA2M + 5);
  EQ(t.count, 3);
  EQ(t.step[0].level, 4);
  EQ(t.step[2].level, 2);
  EQ(t.step[2].entry, PA2M | F_PWU | F_PS);
  EQ(t.step[2].entry_gpa, pt_entry_gpa(&E, V2M, 2));
}

Test(walk, trace_stops_at_not_present) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_clr(&E, V4K, 2, F_P);
  uint64_t pde = pt_get(&E, V4K, 2);
  pt_boot(&E, 0, 0);
  mmu_result r;
  mmu_trace t;
  memset(&t, 0, sizeof t);
  memset(&r, 0, sizeof r);
  ST(mmu_reference_translate(&E.cpu, V4K, MMU_READ, &r, &t), MMU_PAGE_FAULT);
  EQ(r.error_code, 0);
  EQ(r.cr2, V4K);
  EQ(t.count, 3);
  EQ(t.step[2].level, 2);
  EQ(t.step[2].entry, pde);
}

Test(walk, reference_null_trace_ok) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_reference_translate(&E.cpu, V4K + 1, MMU_READ, &r, NULL), MMU_OK);
  EQ(r.paddr, PA4K + 1);
}

/* --- RAM, bus errors, callbacks ------------------------------------------ */

Test(walk, pt_bus_error_intermediate) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_set(&E, V4K, 3, 0x40000000ull | F_PWU); /* PD outside RAM */
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  mmu_result r;
  ST(pt_tr(&E, V4K, MMU_READ, &r), MMU_ERR_PT_BUS);
  EQ(r.paddr, 0x40000000ull + 8ull * pt_index(V4K, 2));
  EQ(E.cpu.stats.bus_errors, 1);
}

Test(walk, pt_bus_error_root) {
  mmu_regs regs = pt_regs(&E);
  regs.cr3 = 0x2000000ull; /* 32 MiB: no RAM there */
  pt_load(&E, &regs);
  mmu_result r;
  ST(pt_tr(&E, V4K, MMU_READ, &r), MMU_ERR_PT_BUS);
  EQ(r.paddr, 0x2000000ull + 8ull * pt_index(V4K, 4));
  ST(mmu_reference_translate(&E.cpu, V4K, MMU_READ, &r, NULL), MMU_ERR_PT_BUS);
  EQ(r.paddr, 0x2000000ull + 8ull * pt_index(V4K, 4));
}

/* pt_read supplies entries outside RAM */
static struct {
  uint64_t base;
  uint64_t table[512];
  unsigned reads, cmpxchgs;
} mmio;

static int mmio_read(void *user, uint64_t gpa, uint64_t *value) {
  cr_assert(user == &mmio);
  if (gpa < mmio.base || gpa >= mmio.base + 4096 || (gpa & 7))
    return -1;
  mmio.reads++;
  *value = mmio.table[(gpa - mmio.base) / 8];
  return 0;
}

static int mmio_cmpxchg(void *user, uint64_t gpa, uint64_t expected,
                        uint64_t desired) {
  cr_assert(user == &mmio);
  if (gpa < mmio.base || gpa >= mmio.base + 4096 || (gpa & 7))
    return -1;
  mmio.cmpxchgs++;
  uint64_t *p = &mmio.table[(gpa - mmio.base) / 8];
  if (*p != expected)
    return 1;
  *p = desired;
  return 0;
}

static void setup_mmio(void) {
  memset(&mmio, 0, sizeof mmio);
  mmio.base = 0x80000000ull;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pt_read = mmio_read;
  cfg.pt_cmpxchg = mmio_cmpxchg;
  cfg.pt_user = &mmio;
  pt_env_init(&E, &cfg, 4);
}

Test(walk, pt_read_callback_resolves_entry, .init = setup_mmio) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  uint64_t pdpte = pt_get(&E, V4K, 3);
  unsigned i3 = pt_index(V4K, 3);
  mmio.table[i3] = pdpte;                             /* PDPT lives in MMIO */
  pt_set(&E, V4K, 4, mmio.base | F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K + 0x44, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PA4K + 0x44);
  PTREQ(r.host, E.host[0] + PA4K + 0x44);
  cr_assert(mmio.reads >= 1);
  /* A set in the MMIO entry through the cmpxchg callback (SDM 4.8) */
  EQ(mmio.table[i3], pdpte | F_A);
}

Test(walk, pt_read_callback_failure_is_bus_error, .init = setup_mmio) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  pt_set(&E, V4K, 4, (mmio.base + 0x10000) | F_PWU); /* callback refuses */
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K, MMU_READ, &r), MMU_ERR_PT_BUS);
  EQ(r.paddr, mmio.base + 0x10000 + 8ull * pt_index(V4K, 3));
}

/* SPEC 2.4: an A/D update the callbacks cannot make is a bus error */
static void setup_mmio_read_only(void) {
  memset(&mmio, 0, sizeof mmio);
  mmio.base = 0x80000000ull;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pt_read = mmio_read; /* no pt_cmpxchg */
  cfg.pt_user = &mmio;
  pt_env_init(&E, &cfg, 4);
}

Test(walk, pt_read_without_cmpxchg_needs_a_set, .init = setup_mmio_read_only) {
  pt_map4k(&E, V4K, PA4K, F_PWU);
  uint64_t pdpte = pt_get(&E, V4K, 3);
  unsigned i3 = pt_index(V4K, 3);
  mmio.table[i3] = pdpte & ~F_A; /* A clear: must be written */
  pt_set(&E, V4K, 4, mmio.base | F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K, MMU_READ, &r), MMU_ERR_PT_BUS);
  EQ(r.paddr, mmio.base + 8ull * i3);
  mmio.table[i3] = pdpte | F_A; /* nothing to write: fine */
  TR_OK(&E, V4K + 4, MMU_READ, PA4K + 4);
}

/* two RAM regions with a gap */
#define R1_GPA 0x10000000ull

static void setup_two_regions(void) {
  uint64_t gpa[2] = {0, R1_GPA}, size[2] = {8 * MiB, 8 * MiB};
  pt_env_init_regions(&E, NULL, 4, 2, gpa, size, R1_GPA, R1_GPA + 4 * MiB);
}

Test(walk, two_regions_host_pointers, .init = setup_two_regions) {
  EQ(E.root, R1_GPA); /* tables in the second region */
  pt_map4k(&E, V4K, R1_GPA + 6 * MiB, F_PWU);
  pt_map4k(&E, V4K + 0x1000, 0x5000, F_PWU);
  pt_map4k(&E, V4K + 0x2000, 0x09000000ull, F_PWU); /* in the gap */
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K + 0x10, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, R1_GPA + 6 * MiB + 0x10);
  PTREQ(r.host, E.host[1] + 6 * MiB + 0x10);
  ST(pt_tr(&E, V4K + 0x1010, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x5010);
  PTREQ(r.host, E.host[0] + 0x5010);
  ST(pt_tr(&E, V4K + 0x2010, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x09000010ull);
  PTREQ(r.host, NULL);
  /* again, now from the TLB */
  ST(pt_tr(&E, V4K + 0x18, MMU_READ, &r), MMU_OK);
  PTREQ(r.host, E.host[1] + 6 * MiB + 0x18);
  ST(pt_tr(&E, V4K + 0x2018, MMU_READ, &r), MMU_OK);
  PTREQ(r.host, NULL);
}

Test(walk, two_regions_table_in_gap, .init = setup_two_regions) {
  pt_map4k(&E, V4K, 0x5000, F_PWU);
  pt_set(&E, V4K, 2, 0x0A000000ull | F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V4K, MMU_READ, &r), MMU_ERR_PT_BUS);
  EQ(r.paddr, 0x0A000000ull + 8ull * pt_index(V4K, 1));
}

/* --- paging off ----------------------------------------------------------- */

Test(walk, paging_off_identity_after_init) {
  mmu_result r;
  ST(pt_tr(&E, 0x123456, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x123456);
  PTREQ(r.host, E.host[0] + 0x123456);
  ST(pt_tr(&E, 0xABCDEF, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0xABCDEF);
  ST(pt_tr(&E, 0x1000, MMU_FETCH, &r), MMU_OK);
  EQ(r.paddr, 0x1000);
  ST(pt_tr(&E, 0x2000000, MMU_READ, &r), MMU_OK); /* beyond RAM */
  EQ(r.paddr, 0x2000000);
  PTREQ(r.host, NULL);
  EQ(WALKS(&E), 0);
}

Test(walk, paging_off_protected_mode_identity) {
  mmu_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.cr0 = MMU_CR0_PE;
  regs.cpl = 3;
  pt_load(&E, &regs);
  mmu_result r;
  ST(pt_tr(&E, 0x00F00010, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0x00F00010);
  PTREQ(r.host, E.host[0] + 0x00F00010);
  EQ(WALKS(&E), 0);
}

