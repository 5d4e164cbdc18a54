/* SPDX-License-Identifier: MIT */
/* Access rights (SDM 4.6.1), protection keys (SDM 4.6.2) and #PF error
 * codes (SDM 4.7). Defaults: CR0.WP=1, EFER.NXE=1, 4-level paging. */
#include "pt.h"

#define V 0x00007FFF12345000ull
#define PA (PT_DATA + 0x10000ull)

TestSuite(perm, .init = pt_setup4, .fini = pt_teardown);

/* map V with leaf flags and the same upper flags at every upper level */
static void map(uint64_t leaf, uint64_t upper) {
  pt_map(&E, V, PA, 4 * KiB, leaf, upper);
}

static void boot(uint64_t cr4_extra, unsigned cpl) {
  pt_boot(&E, cr4_extra, cpl);
}

static void boot_wp0(uint64_t cr4_extra, unsigned cpl) {
  mmu_regs r = pt_regs(&E);
  r.cr0 &= ~MMU_CR0_WP;
  r.cr4 |= cr4_extra;
  r.cpl = (uint8_t)cpl;
  pt_load(&E, &r);
}

/* --- U/S ---------------------------------------------------------------- */

Test(perm, user_all_access_on_user_page) {
  map(F_PWU, F_PWU);
  boot(0, 3);
  TR_OK(&E, V + 1, MMU_READ, PA + 1);
  TR_OK(&E, V + 2, MMU_WRITE, PA + 2);
  TR_OK(&E, V + 3, MMU_FETCH, PA + 3);
}

Test(perm, user_read_supervisor_leaf) {
  map(F_PW, F_PWU);
  boot(0, 3);
  TR_PF(&E, V + 0x10, MMU_READ, EC_P | EC_U);
  TR_PF(&E, V + 0x10, MMU_WRITE, EC_P | EC_W | EC_U);
  TR_PF(&E, V + 0x10, MMU_FETCH, EC_P | EC_U | EC_ID);
}

/* U/S is ANDed over all levels: U=0 in any one level makes it supervisor */
Test(perm, user_bit_anded_over_levels) {
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    pt_map(&E, va, PA, 4 * KiB, F_PWU, F_PWU);
    pt_clr(&E, va, level, F_U);
  }
  boot(0, 3);
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    TR_PF(&E, va, MMU_READ, EC_P | EC_U);
  }
}

Test(perm, supervisor_reads_user_page_without_smap) {
  map(F_PU, F_PWU);
  boot(0, 0);
  TR_OK(&E, V, MMU_READ, PA);
}

Test(perm, cpl_1_and_2_are_supervisor) {
  map(F_PW, F_PW);
  boot(0, 1);
  TR_OK(&E, V + 4, MMU_WRITE, PA + 4);
  mmu_set_cpl(&E.cpu, 2);
  TR_OK(&E, V + 8, MMU_READ, PA + 8);
  mmu_set_cpl(&E.cpu, 3);
  TR_PF(&E, V + 8, MMU_READ, EC_P | EC_U);
}

/* implicit accesses at CPL 3 are supervisor-mode accesses */
Test(perm, implicit_at_cpl3_is_supervisor) {
  map(F_PW, F_PW);
  boot(0, 3);
  TR_OK(&E, V + 0x20, MMU_READ | MMU_IMPLICIT, PA + 0x20);
  TR_OK(&E, V + 0x28, MMU_WRITE | MMU_IMPLICIT, PA + 0x28);
  TR_PF(&E, V + 0x20, MMU_READ, EC_P | EC_U);
}

Test(perm, implicit_write_readonly_wp1_no_u_bit) {
  map(F_P, F_PW);
  boot(0, 3);
  TR_PF(&E, V, MMU_WRITE | MMU_IMPLICIT, EC_P | EC_W);
}

/* --- R/W and CR0.WP ------------------------------------------------------ */

Test(perm, user_write_readonly_leaf) {
  map(F_PU, F_PWU);
  boot(0, 3);
  TR_OK(&E, V, MMU_READ, PA);
  TR_PF(&E, V + 0x40, MMU_WRITE, EC_P | EC_W | EC_U);
}

Test(perm, rw_bit_anded_over_levels) {
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    pt_map(&E, va, PA, 4 * KiB, F_PWU, F_PWU);
    pt_clr(&E, va, level, F_W);
  }
  boot(0, 3);
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    TR_OK(&E, va, MMU_READ, PA);
    TR_PF(&E, va, MMU_WRITE, EC_P | EC_W | EC_U);
  }
}

Test(perm, user_write_readonly_wp0_still_faults) {
  map(F_PU, F_PWU);
  boot_wp0(0, 3);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U);
}

Test(perm, supervisor_write_readonly_wp1_faults) {
  map(F_P, F_PW);
  boot(0, 0);
  TR_PF(&E, V + 0x123, MMU_WRITE, EC_P | EC_W);
}

Test(perm, supervisor_write_readonly_wp0_allowed) {
  map(F_P, F_P); /* read-only at every level */
  boot_wp0(0, 0);
  TR_OK(&E, V + 0x123, MMU_WRITE, PA + 0x123);
}

Test(perm, supervisor_write_readonly_user_page_wp0_allowed) {
  map(F_PU, F_PU);
  boot_wp0(0, 0);
  TR_OK(&E, V + 0x8, MMU_WRITE, PA + 0x8);
}

Test(perm, supervisor_write_readonly_user_page_wp1_faults) {
  map(F_PU, F_PWU);
  boot(0, 0);
  TR_PF(&E, V + 0x8, MMU_WRITE, EC_P | EC_W);
}

/* --- XD ------------------------------------------------------------------ */

Test(perm, user_fetch_xd_leaf) {
  map(F_PWU | F_XD, F_PWU);
  boot(0, 3);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE, PA);
  TR_PF(&E, V + 0x10, MMU_FETCH, EC_P | EC_U | EC_ID);
}

Test(perm, supervisor_fetch_xd_leaf) {
  map(F_PW | F_XD, F_PW);
  boot(0, 0);
  TR_PF(&E, V + 0x10, MMU_FETCH, EC_P | EC_ID);
}

/* XD is ORed over levels */
Test(perm, xd_ored_over_levels) {
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    pt_map(&E, va, PA, 4 * KiB, F_PWU, F_PWU);
    pt_or(&E, va, level, F_XD);
  }
  boot(0, 3);
  for (int level = 4; level >= 2; level--) {
    uint64_t va = PT_SLOT(level);
    TR_OK(&E, va, MMU_READ, PA);
    TR_PF(&E, va, MMU_FETCH, EC_P | EC_U | EC_ID);
  }
}

Test(perm, xd_on_2m_page) {
  uint64_t va = 0x0000000080000000ull;
  pt_map(&E, va, 12 * MiB, 2 * MiB, F_PWU | F_XD, F_PWU);
  boot(0, 0);
  TR_PF(&E, va + 0x1234, MMU_FETCH, EC_P | EC_ID);
  TR_OK(&E, va + 0x1234, MMU_READ, 12 * MiB + 0x1234);
}

/* --- SMEP ---------------------------------------------------------------- */

Test(perm, smep_supervisor_fetch_user_page) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMEP, 0);
  TR_PF(&E, V + 0x30, MMU_FETCH, EC_P | EC_ID);
  TR_OK(&E, V + 0x30, MMU_READ, PA + 0x30); /* data accesses unaffected */
  TR_OK(&E, V + 0x30, MMU_WRITE, PA + 0x30);
}

Test(perm, no_smep_supervisor_fetch_user_page_ok) {
  map(F_PWU, F_PWU);
  boot(0, 0);
  TR_OK(&E, V + 0x30, MMU_FETCH, PA + 0x30);
}

/* U=0 at some level: a supervisor page, SMEP does not apply */
Test(perm, smep_supervisor_page_ok) {
  map(F_PWU, F_PWU);
  pt_clr(&E, V, 3, F_U);
  boot(MMU_CR4_SMEP, 0);
  TR_OK(&E, V + 0x30, MMU_FETCH, PA + 0x30);
}

/* SMEP alone makes I/D reported (NXE=0) */
Test(perm, smep_fault_id_without_nxe) {
  map(F_PWU, F_PWU);
  mmu_regs r = pt_regs(&E);
  r.efer &= ~MMU_EFER_NXE;
  r.cr4 |= MMU_CR4_SMEP;
  pt_load(&E, &r);
  TR_PF(&E, V, MMU_FETCH, EC_P | EC_ID);
}

Test(perm, smep_user_fetch_unaffected) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMEP, 3);
  TR_OK(&E, V, MMU_FETCH, PA);
}

/* --- SMAP ---------------------------------------------------------------- */

Test(perm, smap_supervisor_read_user_page_ac0) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  TR_PF(&E, V + 0x50, MMU_READ, EC_P);
  TR_PF(&E, V + 0x50, MMU_WRITE, EC_P | EC_W);
}

Test(perm, smap_ac1_explicit_allowed) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  mmu_set_ac(&E.cpu, 1);
  TR_OK(&E, V + 0x50, MMU_READ, PA + 0x50);
  TR_OK(&E, V + 0x58, MMU_WRITE, PA + 0x58);
}

Test(perm, smap_implicit_faults_even_with_ac1) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  mmu_set_ac(&E.cpu, 1);
  TR_PF(&E, V + 0x50, MMU_READ | MMU_IMPLICIT, EC_P);
  TR_PF(&E, V + 0x50, MMU_WRITE | MMU_IMPLICIT, EC_P | EC_W);
}

Test(perm, smap_implicit_at_cpl3) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 3);
  mmu_set_ac(&E.cpu, 1);
  TR_PF(&E, V + 0x60, MMU_READ | MMU_IMPLICIT, EC_P);
  TR_OK(&E, V + 0x60, MMU_READ, PA + 0x60); /* user-mode access: fine */
}

Test(perm, smap_not_for_fetch) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  TR_OK(&E, V + 0x70, MMU_FETCH, PA + 0x70);
}

Test(perm, smap_supervisor_page_ok) {
  map(F_PW, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE | MMU_IMPLICIT, PA);
}

Test(perm, smap_ac1_write_readonly_user_page_wp) {
  map(F_PU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  mmu_set_ac(&E.cpu, 1);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W);
  mmu_flush_tlb(&E.cpu);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_OK); /* WP=0 */
  TR_OK(&E, V, MMU_WRITE, PA);
}

/* AC and SMAP apply to later translations at once (no flush needed) */
Test(perm, smap_ac_change_applies_to_cached) {
  map(F_PWU, F_PWU);
  boot(MMU_CR4_SMAP, 0);
  mmu_set_ac(&E.cpu, 1);
  TR_OK(&E, V, MMU_READ, PA);
  mmu_set_ac(&E.cpu, 0);
  TR_PF(&E, V, MMU_READ, EC_P);
}

Test(perm, cpl_change_applies_to_cached) {
  map(F_PW, F_PW);
  boot(0, 0);
  TR_OK(&E, V, MMU_READ, PA);
  mmu_set_cpl(&E.cpu, 3);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U);
}

Test(perm, smap_enable_applies_to_cached) {
  map(F_PWU, F_PWU);
  boot(0, 0);
  TR_OK(&E, V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_SMAP), MMU_OK);
  TR_PF(&E, V, MMU_READ, EC_P);
}

/* --- protection keys (SDM 4.6.2) ------------------------------------------ */

#define AD(k) (1u << (2 * (k)))
#define WD(k) (2u << (2 * (k)))

static void boot_pk(uint32_t pkru, unsigned cpl, int wp) {
  mmu_regs r = pt_regs(&E);
  r.cr4 |= MMU_CR4_PKE;
  if (!wp)
    r.cr0 &= ~MMU_CR0_WP;
  r.pkru = pkru;
  r.cpl = (uint8_t)cpl;
  pt_load(&E, &r);
}

Test(perm, pk_access_disable_user_read) {
  map(F_PWU | PKEY(5), F_PWU);
  boot_pk(AD(5), 3, 1);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U | EC_PK);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK);
}

Test(perm, pk_other_key_unaffected) {
  map(F_PWU | PKEY(5), F_PWU);
  boot_pk(AD(4) | WD(4) | AD(6) | WD(6), 3, 1);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE, PA);
}

Test(perm, pk_key_zero_and_fifteen) {
  map(F_PWU | PKEY(0), F_PWU);
  uint64_t v2 = V + 0x1000;
  pt_map(&E, v2, PA, 4 * KiB, F_PWU | PKEY(15), F_PWU);
  boot_pk(AD(0) | WD(15), 3, 1);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U | EC_PK);
  TR_OK(&E, v2, MMU_READ, PA);
  TR_PF(&E, v2, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK);
}

Test(perm, pk_write_disable_user) {
  map(F_PWU | PKEY(5), F_PWU);
  boot_pk(WD(5), 3, 0); /* WP irrelevant for user-mode accesses */
  TR_OK(&E, V, MMU_READ, PA);
  TR_PF(&E, V + 8, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK);
}

Test(perm, pk_fetch_unaffected) {
  map(F_PWU | PKEY(5), F_PWU);
  boot_pk(AD(5) | WD(5), 3, 1);
  TR_OK(&E, V, MMU_FETCH, PA);
}

Test(perm, pk_supervisor_access_disable) {
  map(F_PWU | PKEY(7), F_PWU);
  boot_pk(AD(7), 0, 1);
  TR_PF(&E, V, MMU_READ, EC_P | EC_PK);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_PK);
  TR_OK(&E, V, MMU_FETCH, PA);
}

Test(perm, pk_supervisor_write_disable_wp1) {
  map(F_PWU | PKEY(7), F_PWU);
  boot_pk(WD(7), 0, 1);
  TR_OK(&E, V, MMU_READ, PA);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_PK);
}

Test(perm, pk_supervisor_write_disable_wp0) {
  map(F_PWU | PKEY(7), F_PWU);
  boot_pk(WD(7), 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
}

Test(perm, pk_implicit_at_cpl3_is_supervisor) {
  map(F_PWU | PKEY(2), F_PWU);
  boot_pk(WD(2), 3, 0);
  TR_OK(&E, V, MMU_WRITE | MMU_IMPLICIT, PA);   /* WP=0 */
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK); /* user mode */
}

/* keys apply only to user pages: U=0 at any level exempts the page */
Test(perm, pk_supervisor_page_exempt) {
  map(F_PWU | PKEY(5), F_PWU);
  pt_clr(&E, V, 2, F_U);
  boot_pk(AD(5) | WD(5), 0, 1);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE, PA);
}

Test(perm, pk_disabled_when_pke0) {
  map(F_PWU | PKEY(5), F_PWU);
  mmu_regs r = pt_regs(&E);
  r.pkru = AD(5) | WD(5);
  r.cpl = 3;
  pt_load(&E, &r);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE, PA);
}

/* PK is ORed in alongside another permission violation */
Test(perm, pk_with_rw_violation) {
  map(F_PU | PKEY(3), F_PWU);
  boot_pk(WD(3), 3, 1);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK);
}

Test(perm, pk_with_smap_violation) {
  map(F_PWU | PKEY(3), F_PWU);
  mmu_regs r = pt_regs(&E);
  r.cr4 |= MMU_CR4_PKE | MMU_CR4_SMAP;
  r.pkru = AD(3);
  pt_load(&E, &r);
  TR_PF(&E, V, MMU_READ, EC_P | EC_PK);
}

/* user access to a supervisor page: no pkey check at all, no PK */
Test(perm, pk_not_reported_for_supervisor_page_user_access) {
  map(F_PW | PKEY(3), F_PWU);
  boot_pk(AD(3), 3, 1);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U);
}

Test(perm, pkru_change_applies_to_cached) {
  map(F_PWU | PKEY(9), F_PWU);
  boot_pk(0, 3, 1);
  TR_OK(&E, V, MMU_READ, PA);
  TR_OK(&E, V, MMU_WRITE, PA);
  mmu_write_pkru(&E.cpu, WD(9));
  TR_OK(&E, V, MMU_READ, PA);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U | EC_PK);
  mmu_write_pkru(&E.cpu, AD(9));
  TR_PF(&E, V, MMU_READ, EC_P | EC_U | EC_PK);
  mmu_write_pkru(&E.cpu, 0);
  TR_OK(&E, V, MMU_READ, PA);
}

/* The TLB caches the protection key (SDM 4.10.2.2) whatever CR4.PKE was;
 * setting PKE afterwards must make PKRU apply to that translation. */
Test(perm, pke_enable_applies_to_cached) {
  map(F_PWU | PKEY(3), F_PWU);
  mmu_regs r = pt_regs(&E);
  r.cpl = 3;
  r.pkru = AD(3);
  pt_load(&E, &r);
  TR_OK(&E, V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_PKE), MMU_OK);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U | EC_PK);
}

Test(perm, pk_fault_stats) {
  map(F_PWU | PKEY(5), F_PWU);
  boot_pk(AD(5), 3, 1);
  mmu_stats_reset(&E.cpu);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U | EC_PK);
  EQ(E.cpu.stats.faults_pkey, 1);
  EQ(E.cpu.stats.faults_protection, 0);
}

Test(perm, protection_fault_stats) {
  map(F_PW, F_PWU);
  boot(0, 3);
  mmu_stats_reset(&E.cpu);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U);
  EQ(E.cpu.stats.faults_protection, 1);
  EQ(E.cpu.stats.faults_not_present, 0);
}

/* --- permission denial on a TLB hit: re-walk, current tables decide ------ */

Test(perm, denied_hit_rewalks_and_sees_new_rights) {
  map(F_PU, F_PWU);
  boot(0, 3);
  TR_OK(&E, V, MMU_READ, PA);
  uint64_t w = WALKS(&E);
  pt_or(&E, V, 1, F_W); /* no INVLPG */
  TR_OK(&E, V + 4, MMU_WRITE, PA + 4);
  EQ(WALKS(&E), w + 1);
}

Test(perm, denied_hit_still_faults_when_tables_deny) {
  map(F_PU, F_PWU);
  boot(0, 3);
  TR_OK(&E, V, MMU_READ, PA);
  uint64_t w = WALKS(&E);
  TR_PF(&E, V + 4, MMU_WRITE, EC_P | EC_W | EC_U);
  EQ(WALKS(&E), w + 1);
}

/* fault outcome reflects current tables: page now not present */
Test(perm, denied_hit_rewalk_reports_not_present) {
  map(F_PU, F_PWU);
  boot(0, 3);
  TR_OK(&E, V, MMU_READ, PA);
  pt_clr(&E, V, 1, F_P);
  TR_PF(&E, V, MMU_WRITE, EC_W | EC_U);
}
