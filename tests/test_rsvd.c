/* SPDX-License-Identifier: MIT */
/* Reserved bits (SDM 4.5, Tables 4-14 to 4-20) and the RSVD error code
 * (SDM 4.7). */
#include "pt.h"

#define V 0x00007FFF12345000ull
#define PA (PT_DATA + 0x10000ull)
#define V1G 0x0000004000000000ull
#define V2M 0x0000000080000000ull

#define EC_R (EC_P | EC_RSVD)

TestSuite(rsvd, .init = pt_setup4, .fini = pt_teardown);

static void setup_maxphy36(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.maxphyaddr = 36;
  pt_env_init(&E, &cfg, 4);
}

static void setup_no1g(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_NO_1G_PAGES;
  pt_env_init(&E, &cfg, 4);
}

Test(rsvd, pml4e_ps) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 4, F_PS);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, EC_R);
}

Test(rsvd, pml5e_ps, .init = pt_setup5) {
  uint64_t va = 0x00ABCDEF12345000ull;
  pt_map4k(&E, va, PA, F_PWU);
  pt_or(&E, va, 5, F_PS);
  pt_boot(&E, 0, 0);
  TR_PF(&E, va + 1, MMU_READ, EC_R);
}

Test(rsvd, pdpte_1g_bit13) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU | (1ull << 13), F_PWU);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V1G + 0x1000, MMU_READ, EC_R);
}

Test(rsvd, pdpte_1g_bit29) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU | (1ull << 29), F_PWU);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V1G + 0x1000, MMU_READ, EC_R);
}

Test(rsvd, pdpte_1g_bits_between_all_reserved) {
  for (int bit = 13; bit <= 29; bit++) {
    uint64_t va = V1G + ((uint64_t)bit << 30);
    pt_map(&E, va, 0, 1 * GiB, F_PWU | (1ull << bit), F_PWU);
  }
  pt_boot(&E, 0, 0);
  for (int bit = 13; bit <= 29; bit++)
    TR_PF(&E, V1G + ((uint64_t)bit << 30), MMU_READ, EC_R);
}

Test(rsvd, pdpte_1g_pat_bit12_ok) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU | (1ull << 12), F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V1G + 0x1234, MMU_READ, 0x1234);
}

Test(rsvd, pde_2m_bits_20_13) {
  for (int bit = 13; bit <= 20; bit++) {
    uint64_t va = V2M + ((uint64_t)bit << 21);
    pt_map(&E, va, 12 * MiB, 2 * MiB, F_PWU | (1ull << bit), F_PWU);
  }
  pt_boot(&E, 0, 0);
  for (int bit = 13; bit <= 20; bit++)
    TR_PF(&E, V2M + ((uint64_t)bit << 21) + 0x80, MMU_READ, EC_R);
}

Test(rsvd, pde_2m_pat_bit12_ok) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU | (1ull << 12), F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V2M + 0x80, MMU_READ, 12 * MiB + 0x80);
}

Test(rsvd, no_1g_pages_ps_in_pdpte, .init = setup_no1g) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V1G + 0x10, MMU_READ, EC_R);
}

Test(rsvd, no_1g_pages_2m_still_fine, .init = setup_no1g) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V2M + 0x10, MMU_READ, 12 * MiB + 0x10);
}

/* bits 51:MAXPHYADDR */
Test(rsvd, maxphy36_pte_bit36, .init = setup_maxphy36) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 1, 1ull << 36);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, EC_R);
}

Test(rsvd, maxphy36_each_level_bit51, .init = setup_maxphy36) {
  for (int level = 4; level >= 1; level--) {
    uint64_t va = PT_SLOT(level);
    pt_map4k(&E, va, PA, F_PWU);
    pt_or(&E, va, level, 1ull << 51);
  }
  pt_boot(&E, 0, 0);
  for (int level = 4; level >= 1; level--)
    TR_PF(&E, PT_SLOT(level), MMU_READ, EC_R);
}

Test(rsvd, maxphy36_large_leaves, .init = setup_maxphy36) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU | (1ull << 40), F_PWU);
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU | (1ull << 36), F_PWU);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V1G, MMU_READ, EC_R);
  TR_PF(&E, V2M, MMU_READ, EC_R);
}

Test(rsvd, maxphy36_bit35_is_address, .init = setup_maxphy36) {
  pt_map4k(&E, V, (1ull << 35) | PA, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V + 3, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, (1ull << 35) | (PA + 3));
  PTREQ(r.host, NULL);
}

Test(rsvd, maxphy52_bit51_is_address) {
  pt_map4k(&E, V, (1ull << 51) | PA, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V + 3, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, (1ull << 51) | (PA + 3));
  PTREQ(r.host, NULL);
}

/* bit 63 is reserved when EFER.NXE = 0 */
static void boot_nonxe(unsigned cpl) {
  mmu_regs r = pt_regs(&E);
  r.efer &= ~MMU_EFER_NXE;
  r.cpl = (uint8_t)cpl;
  pt_load(&E, &r);
}

Test(rsvd, xd_without_nxe_leaf) {
  pt_map4k(&E, V, PA, F_PWU | F_XD);
  boot_nonxe(0);
  TR_PF(&E, V, MMU_READ, EC_R);
  TR_PF(&E, V, MMU_FETCH, EC_R); /* no I/D: NXE=0, SMEP=0 */
}

Test(rsvd, xd_without_nxe_upper_levels) {
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    pt_map4k(&E, va, PA, F_PWU);
    pt_or(&E, va, level, F_XD);
  }
  boot_nonxe(3);
  for (int level = 4; level >= 2; level--)
    TR_PF(&E, PT_SLOT(level), MMU_WRITE, EC_R | EC_W | EC_U);
}

Test(rsvd, xd_without_nxe_smep_reports_id) {
  pt_map4k(&E, V, PA, F_PW | F_XD);
  mmu_regs r = pt_regs(&E);
  r.efer &= ~MMU_EFER_NXE;
  r.cr4 |= MMU_CR4_SMEP;
  pt_load(&E, &r);
  TR_PF(&E, V, MMU_FETCH, EC_R | EC_ID);
}

Test(rsvd, error_code_access_bits) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 4, F_PS);
  pt_boot(&E, 0, 3);
  TR_PF(&E, V, MMU_READ, EC_R | EC_U);
  TR_PF(&E, V, MMU_WRITE, EC_R | EC_W | EC_U);
  TR_PF(&E, V, MMU_FETCH, EC_R | EC_U | EC_ID);
  TR_PF(&E, V, MMU_WRITE | MMU_IMPLICIT, EC_R | EC_W);
}

/* the walk stops at the entry with a reserved bit: what lies below (a
 * not-present PTE) does not matter */
Test(rsvd, beats_not_present_below, .init = setup_maxphy36) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_clr(&E, V, 1, F_P);
  pt_or(&E, V, 2, 1ull << 45);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, EC_R);
}

/* reserved bit and a U/S violation: still a reserved-bit fault */
Test(rsvd, beats_permission) {
  pt_map4k(&E, V, PA, F_PW);
  pt_clr(&E, V, 4, F_U);
  pt_or(&E, V, 4, F_PS);
  pt_boot(&E, 0, 3);
  TR_PF(&E, V, MMU_READ, EC_R | EC_U);
}

/* bits 62:59 of non-leaf entries are ignored, PKE or not */
Test(rsvd, high_bits_nonleaf_ignored_with_pke) {
  pt_map(&E, V, PA, 4 * KiB, F_PWU, F_PWU | (0xFull << 59) | (0x7Full << 52));
  pt_boot(&E, MMU_CR4_PKE, 3);
  TR_OK(&E, V, MMU_WRITE, PA);
}

Test(rsvd, stats_counter) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 4, F_PS);
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  TR_PF(&E, V, MMU_READ, EC_R);
  EQ(E.cpu.stats.faults_reserved, 1);
  EQ(E.cpu.stats.faults_protection, 0);
  EQ(E.cpu.stats.faults_not_present, 0);
}

/* a faulting walk caches nothing: fixing the entry is enough */
Test(rsvd, fault_not_cached) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 4, F_PS);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, EC_R);
  pt_clr(&E, V, 4, F_PS);
  TR_OK(&E, V, MMU_READ, PA);
}

/* reference walker agrees on a reserved-bit fault */
Test(rsvd, reference_agrees) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU | (1ull << 17), F_PWU);
  pt_boot(&E, 0, 3);
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_reference_translate(&E.cpu, V2M + 9, MMU_WRITE, &r, NULL),
     MMU_PAGE_FAULT);
  EQ(r.error_code, EC_R | EC_W | EC_U);
  EQ(r.cr2, V2M + 9);
}

/* --- MMU_CFG_AMD (SPEC 4.4: bit 8 of PML5E and PML4E must be zero, as
 * captured under KVM on AMD; a non-leaf PDPTE's bit 8 is ignored); Intel
 * ignores it everywhere ---------------------------------------------------- */

static void setup_amd(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_AMD;
  pt_env_init(&E, &cfg, 4);
}

Test(rsvd, intel_bit8_nonleaf_ignored) {
  pt_map(&E, V, PA, 4 * KiB, F_PWU, F_PWU | F_G);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_READ, PA);
}

Test(rsvd, amd_bit8_pml4e_reserved_pdpte_ignored, .init = setup_amd) {
  pt_map4k(&E, PT_SLOT(4), PA, F_PWU);
  pt_or(&E, PT_SLOT(4), 4, F_G);
  pt_map4k(&E, PT_SLOT(3), PA, F_PWU);
  pt_or(&E, PT_SLOT(3), 3, F_G);
  pt_boot(&E, 0, 0);
  TR_PF(&E, PT_SLOT(4), MMU_READ, EC_R);
  TR_OK(&E, PT_SLOT(3), MMU_READ, PA);
}

Test(rsvd, amd_bit8_pde_and_leaves_fine, .init = setup_amd) {
  pt_map4k(&E, V, PA, F_PWU | F_G);
  pt_or(&E, V, 2, F_G); /* non-leaf PDE: not covered by the AMD rule */
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU | F_G, F_PWU); /* G in a 1G leaf */
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V1G + 0x10, MMU_READ, 0x10);
}

static void setup_amd5(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_AMD;
  pt_env_init(&E, &cfg, 5);
}

Test(rsvd, amd_bit8_pml5e, .init = setup_amd5) {
  uint64_t va = 0x00ABCDEF12345000ull;
  pt_map4k(&E, va, PA, F_PWU);
  pt_or(&E, va, 5, F_G);
  pt_boot(&E, 0, 0);
  TR_PF(&E, va, MMU_READ, EC_R);
}
