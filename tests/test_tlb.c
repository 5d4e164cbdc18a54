/* SPDX-License-Identifier: MIT */
/* TLB hits and the invalidation rules of SDM 4.10.4.1, as sequences:
 * fill, change the tables, flush (or not), see whether a walk happened. */
/* the hit counts dTLB loads too (SPEC.md 6) */
#define MMU_COUNT_HITS 1
#include "pt.h"

#define V 0x00007FFF12345000ull
#define VB (V + 0x1000)
#define VG 0xFFFF800000200000ull /* global page */
#define PA (PT_DATA + 0x10000ull)
#define PA2 (PT_DATA + 0x20000ull)
#define PAB (PT_DATA + 0x30000ull)
#define PAG (PT_DATA + 0x40000ull)
#define V2M 0x0000000080000000ull
#define V1G 0x0000004000000000ull

TestSuite(tlb, .init = pt_setup4, .fini = pt_teardown);

/* translate, expect OK at pa and no page walk (a TLB hit) */
#define HIT(va, access, pa)                                                    \
  do {                                                                         \
    uint64_t hw_ = WALKS(&E);                                                  \
    TR_OK(&E, (va), (access), (pa));                                           \
    cr_assert(WALKS(&E) == hw_, "expected a TLB hit for 0x%llx",               \
              (unsigned long long)(va));                                       \
  } while (0)

/* translate, expect OK at pa after exactly one page walk */
#define MISS(va, access, pa)                                                   \
  do {                                                                         \
    uint64_t hw_ = WALKS(&E);                                                  \
    TR_OK(&E, (va), (access), (pa));                                           \
    cr_assert(WALKS(&E) == hw_ + 1, "expected one walk for 0x%llx, got %llu",  \
              (unsigned long long)(va),                                        \
              (unsigned long long)(WALKS(&E) - hw_));                          \
  } while (0)

/* V -> PA, VB -> PAB non-global; VG -> PAG global (leaf G) */
static void map_std(void) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_map4k(&E, VB, PAB, F_PWU);
  pt_map4k(&E, VG, PAG, F_PW | F_G);
}

static void retarget(uint64_t va, uint64_t pa) {
  uint64_t e = pt_get(&E, va, 1);
  pt_set(&E, va, 1, (e & ~PT_ADDR_MASK) | pa);
}

Test(tlb, hit_needs_no_walk) {
  map_std();
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  MISS(V, MMU_READ, PA);
  HIT(V + 0x80, MMU_READ, PA + 0x80);
  HIT(V + 0xFFF, MMU_READ, PA + 0xFFF);
  EQ(E.cpu.stats.walks, 1);
  EQ(E.cpu.stats.tlb_loads[0], 3);
  EQ(E.cpu.stats.tlb_misses[0], 1);
}

Test(tlb, hit_returns_host_pointer) {
  map_std();
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V + 1, MMU_WRITE, &r), MMU_OK);
  uint64_t w = WALKS(&E);
  ST(pt_tr(&E, V + 0x777, MMU_WRITE, &r), MMU_OK);
  EQ(WALKS(&E), w);
  EQ(r.paddr, PA + 0x777);
  PTREQ(r.host, E.host[0] + PA + 0x777);
  EQ(r.page_size, 4096);
}

Test(tlb, stale_translation_used_until_invlpg) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PA2);
  HIT(V + 4, MMU_READ, PA + 4); /* no flush yet: stale */
  mmu_invlpg(&E.cpu, V + 0x123); /* any address in the page */
  MISS(V + 4, MMU_READ, PA2 + 4);
}

Test(tlb, stale_not_present_used_until_invlpg) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  pt_clr(&E, V, 1, F_P);
  HIT(V, MMU_READ, PA);
  mmu_invlpg(&E.cpu, V);
  TR_PF(&E, V, MMU_READ, 0);
}

Test(tlb, invlpg_keeps_other_pages) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  MISS(VB, MMU_READ, PAB);
  mmu_invlpg(&E.cpu, V);
  HIT(VB, MMU_READ, PAB);
  MISS(V, MMU_READ, PA);
}

Test(tlb, invlpg_2m_drops_every_piece) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  MISS(V2M + 0x1000, MMU_READ, 12 * MiB + 0x1000);
  MISS(V2M + 0x5000, MMU_READ, 12 * MiB + 0x5000);
  HIT(V2M + 0x1010, MMU_READ, 12 * MiB + 0x1010);
  EQ(mmu_tlb_count(&E.cpu), 2);
  pt_set(&E, V2M, 2, (10 * MiB) | F_PWU | F_PS | F_A);
  mmu_invlpg(&E.cpu, V2M + 0x1FF000); /* a piece never used */
  MISS(V2M + 0x1000, MMU_READ, 10 * MiB + 0x1000);
  MISS(V2M + 0x5000, MMU_READ, 10 * MiB + 0x5000);
}

Test(tlb, invlpg_1g_drops_every_piece) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  MISS(V1G + 0x1000, MMU_READ, 0x1000);
  MISS(V1G + 0x20000000, MMU_READ, 0x20000000);
  pt_set(&E, V1G, 3, (1 * GiB) | F_PWU | F_PS | F_A);
  HIT(V1G + 0x1000, MMU_READ, 0x1000);
  mmu_invlpg(&E.cpu, V1G + 0x3FFFF000);
  MISS(V1G + 0x1000, MMU_READ, GiB + 0x1000);
  MISS(V1G + 0x20000000, MMU_READ, GiB + 0x20000000);
}

Test(tlb, invlpg_drops_global) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  retarget(VG, PA2);
  mmu_invlpg(&E.cpu, VG);
  MISS(VG, MMU_READ, PA2);
}

Test(tlb, tlb_count_and_flush_all) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(V, MMU_READ, PA);
  MISS(VB, MMU_READ, PAB);
  MISS(VG, MMU_READ, PAG);
  EQ(mmu_tlb_count(&E.cpu), 3);
  mmu_flush_tlb(&E.cpu);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
}

Test(tlb, load_regs_flushes_everything) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  pt_boot(&E, MMU_CR4_PGE, 0);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
}

/* --- CR3 ---------------------------------------------------------------- */

Test(tlb, cr3_write_flushes_nonglobal_keeps_global) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(V, MMU_READ, PA);
  MISS(VG, MMU_READ, PAG);
  retarget(V, PA2);
  retarget(VG, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  HIT(VG, MMU_READ, PAG); /* global: survives, stale */
  MISS(V, MMU_READ, PA2);
}

Test(tlb, cr3_write_flushes_global_bit_when_pge0) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  MISS(VG, MMU_READ, PAG);
}

/* G is meaningful only in the leaf */
Test(tlb, g_in_nonleaf_entry_ignored) {
  pt_map(&E, V, PA, 4 * KiB, F_PWU, F_PWU | F_G);
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  MISS(V, MMU_READ, PA);
}

Test(tlb, global_2m_page_survives_cr3) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PW | F_G, F_PW);
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(V2M + 0x3000, MMU_READ, 12 * MiB + 0x3000);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  HIT(V2M + 0x3000, MMU_READ, 12 * MiB + 0x3000);
}

Test(tlb, cr3_switch_address_space) {
  map_std();
  uint64_t root2 = pt_new_root(&E);
  pt_map_root(&E, root2, V, PA2, 4 * KiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2), MMU_OK);
  EQ(E.cpu.regs.cr3, root2);
  MISS(V, MMU_READ, PA2);
}

/* --- PCID ----------------------------------------------------------------- */

static uint64_t root2;

/* PCIDE=1, CR3 = root | pcid; second address space root2 maps V -> PA2 */
static void boot_pcid(uint64_t pcid, uint64_t cr4_extra) {
  map_std();
  root2 = pt_new_root(&E);
  pt_map_root(&E, root2, V, PA2, 4 * KiB, F_PWU, F_PWU);
  pt_map_root(&E, root2, VG, PAG, 4 * KiB, F_PW | F_G, F_PW);
  mmu_regs r = pt_regs(&E);
  r.cr4 |= MMU_CR4_PCIDE | cr4_extra;
  r.cr3 = E.root | pcid;
  pt_load(&E, &r);
  EQ(E.cpu.regs.cr3, E.root | pcid);
}

Test(tlb, pcid_new_pcid_keeps_old_pcid_entries) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1 | MMU_CR3_NOFLUSH), MMU_OK);
  EQ(E.cpu.regs.cr3, E.root | 1); /* bit 63 is not stored */
  HIT(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA2);
}

Test(tlb, pcid_cr3_without_noflush_flushes_that_pcid) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1), MMU_OK); /* flushes PCID 1 */
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA2); /* PCID 2 untouched */
}

Test(tlb, pcid_noflush_same_pcid_keeps_stale) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PAB);
  ST(mmu_write_cr3(&E.cpu, E.root | 1 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, E.root | 1), MMU_OK);
  MISS(V, MMU_READ, PAB);
}

Test(tlb, pcid_cr3_keeps_global) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  retarget(VG, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1), MMU_OK);
  HIT(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
}

Test(tlb, pcid_zero_with_pcide) {
  boot_pcid(0, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, E.root | 7), MMU_OK);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, E.root | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA);
}

Test(tlb, invlpg_current_pcid_only) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  mmu_invlpg(&E.cpu, V);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA);
}

/* --- INVPCID -------------------------------------------------------------- */

Test(tlb, invpcid_type0_address) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA);
  MISS(VB, MMU_READ, PAB);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_invpcid(&E.cpu, 0, 1, V + 0x10), MMU_OK);
  HIT(VB, MMU_READ, PAB);
  MISS(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 0, 1, VG), MMU_OK); /* not global translations */
  HIT(VG, MMU_READ, PAG);
  ST(mmu_invpcid(&E.cpu, 0, 2, VB), MMU_OK); /* another PCID */
  HIT(VB, MMU_READ, PAB);
}

Test(tlb, invpcid_type1_single_pcid) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_invpcid(&E.cpu, 1, 2, 0), MMU_OK); /* other PCID: nothing here */
  HIT(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 1, 1, 0), MMU_OK);
  MISS(V, MMU_READ, PA);
  HIT(VG, MMU_READ, PAG);
}

Test(tlb, invpcid_type2_all_including_global) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  ST(mmu_invpcid(&E.cpu, 2, 0, 0), MMU_OK);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
}

Test(tlb, invpcid_type3_all_but_global) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_invpcid(&E.cpu, 3, 0, 0), MMU_OK);
  HIT(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1 | MMU_CR3_NOFLUSH), MMU_OK);
  MISS(V, MMU_READ, PA); /* PCID 1 dropped too */
}

Test(tlb, invpcid_gp_cases) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 4, 0, 0), MMU_GP_FAULT);
  ST(mmu_invpcid(&E.cpu, 1, 4096, 0), MMU_GP_FAULT);
  ST(mmu_invpcid(&E.cpu, 0, 4096, V), MMU_GP_FAULT);
  ST(mmu_invpcid(&E.cpu, 0, 1, 0x0000800000000000ull), MMU_GP_FAULT);
  HIT(V, MMU_READ, PA); /* a faulting INVPCID invalidates nothing */
  ST(mmu_invpcid(&E.cpu, 0, 4095, V), MMU_OK);
}

Test(tlb, invpcid_gp_pcide0) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 0, 1, V), MMU_GP_FAULT);
  ST(mmu_invpcid(&E.cpu, 1, 1, 0), MMU_GP_FAULT);
  HIT(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 0, 0, V), MMU_OK);
  MISS(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 1, 0, 0), MMU_OK);
  MISS(V, MMU_READ, PA);
  ST(mmu_invpcid(&E.cpu, 2, 0, 0), MMU_OK);
  ST(mmu_invpcid(&E.cpu, 3, 0, 0), MMU_OK);
}

/* --- CR4 ------------------------------------------------------------------ */

Test(tlb, cr4_pge_clear_flushes_global) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 & ~MMU_CR4_PGE), MMU_OK);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
}

Test(tlb, cr4_pge_set_flushes_all) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_PGE), MMU_OK);
  MISS(V, MMU_READ, PA);
}

Test(tlb, cr4_pcide_clear_flushes_all) {
  boot_pcid(0, MMU_CR4_PGE);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 & ~MMU_CR4_PCIDE), MMU_OK);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
}

Test(tlb, cr4_smep_set_flushes_current_pcid_incl_global) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_SMEP), MMU_OK);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
}

Test(tlb, cr4_smep_clear_no_flush) {
  map_std();
  pt_boot(&E, MMU_CR4_SMEP, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PA2);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 & ~MMU_CR4_SMEP), MMU_OK);
  HIT(V, MMU_READ, PA);
}

/* SMEP 0 -> 1 with PCIDE: other PCIDs' entries survive */
Test(tlb, cr4_smep_set_keeps_other_pcid) {
  boot_pcid(1, 0);
  MISS(V, MMU_READ, PA);
  ST(mmu_write_cr3(&E.cpu, root2 | 2), MMU_OK);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_SMEP), MMU_OK);
  MISS(V, MMU_READ, PA2);
  ST(mmu_write_cr3(&E.cpu, E.root | 1 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA);
}

Test(tlb, cr4_smap_change_no_flush) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PA2);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_SMAP), MMU_OK);
  mmu_set_ac(&E.cpu, 1);
  HIT(V, MMU_READ, PA);
}

/* --- CR0 ------------------------------------------------------------------ */

Test(tlb, cr0_pg_clear_flushes_everything) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  MISS(V, MMU_READ, PA);
  uint64_t cr0 = E.cpu.regs.cr0;
  ST(mmu_write_cr0(&E.cpu, cr0 & ~MMU_CR0_PG), MMU_OK);
  EQ(mmu_tlb_count(&E.cpu), 0);
  TR_OK(&E, 0x5000, MMU_READ, 0x5000); /* identity while paging is off */
  ST(mmu_write_cr0(&E.cpu, cr0), MMU_OK);
  MISS(VG, MMU_READ, PAG);
}

Test(tlb, cr0_wp_no_flush_but_applies_at_once) {
  pt_map4k(&E, V, PA, F_PU); /* read-only */
  mmu_regs r = pt_regs(&E);
  r.cr0 &= ~MMU_CR0_WP;
  pt_load(&E, &r);
  MISS(V, MMU_WRITE, PA); /* WP=0: supervisor may write */
  HIT(V, MMU_WRITE, PA);
  ST(mmu_write_cr0(&E.cpu, r.cr0 | MMU_CR0_WP), MMU_OK);
  HIT(V, MMU_READ, PA); /* not flushed */
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W);
  ST(mmu_write_cr0(&E.cpu, r.cr0), MMU_OK);
  TR_OK(&E, V, MMU_WRITE, PA);
}

Test(tlb, cr0_wp_change_keeps_stale) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PA2);
  ST(mmu_write_cr0(&E.cpu, E.cpu.regs.cr0 & ~MMU_CR0_WP), MMU_OK);
  HIT(V, MMU_READ, PA);
}

/* CPL / AC changes are not flushes */
Test(tlb, cpl_change_keeps_entries) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  retarget(V, PA2);
  mmu_set_cpl(&E.cpu, 3);
  HIT(V, MMU_READ, PA);
}

/* --- geometry --------------------------------------------------------------- */

/* The smallest front (16 slots): pages 16 apart share its slot, so what
 * the TLB holds is that slot plus the backing ways. */
#define FRONT_STRIDE (16 * 0x1000ull)

static void setup_tiny(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tlb_sets = 1;
  cfg.tlb_ways = 2;
  cfg.front_entries = 16;
  pt_env_init(&E, &cfg, 4);
}

Test(tlb, eviction_keeps_results_correct, .init = setup_tiny) {
  for (unsigned i = 0; i < 8; i++)
    pt_map4k(&E, V + FRONT_STRIDE * i, PA + 0x1000 * i, F_PWU);
  pt_boot(&E, 0, 0);
  for (unsigned round = 0; round < 3; round++)
    for (unsigned i = 0; i < 8; i++)
      TR_OK(&E, V + FRONT_STRIDE * i + 8, MMU_READ, PA + 0x1000 * i + 8);
  EQ(mmu_tlb_count(&E.cpu), 2);
  MISS(V, MMU_READ, PA); /* evicted from the backing ways and the front */
}

/* SPEC 5.8: the front is not inclusive; a page evicted from the backing
 * TLB still hits in the front until its slot is reused or cleared. */
Test(tlb, front_keeps_page_evicted_from_backing, .init = setup_tiny) {
  for (unsigned i = 0; i < 3; i++)
    pt_map4k(&E, V + 0x1000 * i, PA + 0x1000 * i, F_PWU);
  pt_boot(&E, 0, 0);
  for (unsigned i = 0; i < 3; i++)
    MISS(V + 0x1000 * i, MMU_READ, PA + 0x1000 * i);
  EQ(mmu_tlb_count(&E.cpu), 2); /* V left the backing ways */
  HIT(V, MMU_READ, PA);
  mmu_invlpg(&E.cpu, V); /* and INVLPG still reaches it */
  MISS(V, MMU_READ, PA);
  HIT(V + 0x2000, MMU_READ, PA + 0x2000);
}

/* A piece of a 2 MiB page left only in the front still goes with INVLPG
 * of another address in the page. */
Test(tlb, invlpg_2m_reaches_front_only_piece, .init = setup_tiny) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  for (unsigned i = 0; i < 2; i++)
    pt_map4k(&E, V + 0x1000 * i, PA + 0x1000 * i, F_PWU);
  pt_boot(&E, 0, 0);
  MISS(V2M + 0x1000, MMU_READ, 12 * MiB + 0x1000);
  MISS(V, MMU_READ, PA);
  MISS(V + 0x1000, MMU_READ, PA + 0x1000); /* the piece left the ways */
  HIT(V2M + 0x1000, MMU_READ, 12 * MiB + 0x1000);
  mmu_invlpg(&E.cpu, V2M + 0x7000);
  MISS(V2M + 0x1000, MMU_READ, 12 * MiB + 0x1000);
}

/* Each set's recency order holds every way once. */
static void lru_intact(const mmu_cpu *cpu) {
  for (uint32_t set = 0; set <= cpu->tlb_set_mask; set++) {
    unsigned seen = 0;
    for (unsigned i = 0; i < cpu->tlb_ways; i++)
      seen |= 1u << ((cpu->tlb_lru[set] >> (4 * i)) & 15);
    cr_assert(seen == (1u << cpu->tlb_ways) - 1,
              "set %u: recency order 0x%llx lost a way", set,
              (unsigned long long)cpu->tlb_lru[set]);
  }
}

/* A global fill under another PCID that replaces the page's PCID 0 entry
 * in a way other than the oldest moves that way to the recent end; it
 * must not rotate it in and push the oldest way out of the order (found by
 * fuzz_tlb_coherence: regressions/tlb_coherence/lru-lost-way). */
Test(tlb, global_fill_over_a_recent_way_keeps_the_lru_order,
     .init = setup_tiny) {
  boot_pcid(0, MMU_CR4_PGE);
  MISS(VB, MMU_READ, PAB);
  MISS(V, MMU_READ, PA); /* V in the recent way, VB the oldest */
  pt_set(&E, V, 1, pt_get(&E, V, 1) | F_G);
  ST(mmu_write_cr3(&E.cpu, E.root | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  MISS(V, MMU_READ, PA); /* the global fill takes V's way */
  lru_intact(&E.cpu);
  EQ(mmu_tlb_count(&E.cpu), 2);
  ST(mmu_write_cr3(&E.cpu, E.root | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(VB, MMU_READ, PAB); /* still cached: nothing was pushed out */
  lru_intact(&E.cpu);
}

Test(tlb, direct_mapped_single_entry) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tlb_sets = 1;
  cfg.tlb_ways = 1;
  cfg.front_entries = 16;
  pt_env_init(&E, &cfg, 4);
  map_std();
  pt_map4k(&E, V + FRONT_STRIDE, PAB, F_PWU);
  pt_map4k(&E, V + 2 * FRONT_STRIDE, PA2, F_PWU);
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  HIT(V, MMU_READ, PA);
  MISS(V + FRONT_STRIDE, MMU_READ, PAB);
  HIT(V, MMU_READ, PA); /* written back to the way when the front evicted it */
  MISS(V + 2 * FRONT_STRIDE, MMU_READ, PA2);
  MISS(V + FRONT_STRIDE, MMU_READ, PAB);
  MISS(V, MMU_READ, PA);
  EQ(mmu_tlb_count(&E.cpu), 1);
}

/* --- SPEC-specific choices ------------------------------------------------- */

/* SPEC 3.2: INVLPG of a non-canonical address is a no-op */
Test(tlb, invlpg_non_canonical_noop) {
  map_std();
  pt_boot(&E, 0, 0);
  MISS(V, MMU_READ, PA);
  mmu_invlpg(&E.cpu, V ^ 0x8000000000000000ull);
  mmu_invlpg(&E.cpu, 0x0000800000000000ull);
  HIT(V, MMU_READ, PA);
}

/* SPEC 3.2: changing EFER.NXE drops everything (allowed by SDM 4.10.4.1) */
Test(tlb, efer_nxe_change_flushes_all) {
  map_std();
  pt_boot(&E, MMU_CR4_PGE, 0);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_write_efer(&E.cpu, E.cpu.regs.efer & ~MMU_EFER_NXE), MMU_OK);
  EQ(mmu_tlb_count(&E.cpu), 0);
  MISS(VG, MMU_READ, PAG);
}

/* SPEC 5.3 / SDM 4.10.2.4: a global entry matches under every PCID */
Test(tlb, global_entry_matches_other_pcid) {
  boot_pcid(1, MMU_CR4_PGE);
  MISS(VG, MMU_READ, PAG);
  ST(mmu_write_cr3(&E.cpu, root2 | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(VG, MMU_READ, PAG);
}

/* the TLB counters of SPEC 6 */
Test(tlb, flush_counters) {
  map_std();
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  mmu_invlpg(&E.cpu, V);
  EQ(E.cpu.stats.invlpg, 1);
  mmu_flush_tlb(&E.cpu);
  EQ(E.cpu.stats.flushes_full, 1);
}

/* SDM 4.10.4.1 / SPEC 3.2: a #PF drops the faulting address's entries */
Test(tlb, page_fault_drops_entry) {
  pt_map4k(&E, V, PA, F_PU); /* read-only user page */
  pt_boot(&E, 0, 3);
  MISS(V, MMU_READ, PA);
  HIT(V, MMU_READ, PA);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W | EC_U);
  MISS(V, MMU_READ, PA);
}

/* SPEC 3.2: a #PF also drops the page's global entry, though another PCID
 * filled it: the fault must not recur from a cached entry (SDM 4.10.4.1;
 * Linux's spurious_kernel_fault() relies on it for global kernel pages). */
Test(tlb, page_fault_drops_global_entry_of_the_page) {
  boot_pcid(2, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA); /* (V, PCID 2), clean */
  pt_set(&E, V, 1, pt_get(&E, V, 1) | F_G);
  ST(mmu_write_cr3(&E.cpu, E.root | 3 | MMU_CR3_NOFLUSH), MMU_OK);
  MISS(V, MMU_READ, PA); /* the global entry */
  pt_set(&E, V, 1, 0);
  ST(mmu_write_cr3(&E.cpu, E.root | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  /* the clean (V, 2) entry re-walks for the write, which faults */
  TR_PF(&E, V, MMU_WRITE, EC_W);
  uint64_t walks = WALKS(&E);
  TR_PF(&E, V, MMU_READ, 0); /* not served by the global entry */
  EQ(WALKS(&E), walks + 1);
}

/* SPEC 5.3: a global fill under another PCID replaces the page's PCID 0
 * entry, which has the same tag: one tag, one translation, the newest. */
Test(tlb, global_fill_replaces_the_pcid0_entry_of_the_page) {
  boot_pcid(0, MMU_CR4_PGE);
  MISS(V, MMU_READ, PA);
  pt_set(&E, V, 1, (pt_get(&E, V, 1) & ~PT_ADDR_MASK) | PA2 | F_G);
  ST(mmu_write_cr3(&E.cpu, E.root | 2 | MMU_CR3_NOFLUSH), MMU_OK);
  MISS(V, MMU_READ, PA2);
  EQ(mmu_tlb_count(&E.cpu), 1);
  ST(mmu_write_cr3(&E.cpu, E.root | MMU_CR3_NOFLUSH), MMU_OK);
  HIT(V, MMU_READ, PA2);
}

Test(tlb, stats_by_access_kind) {
  map_std();
  pt_boot(&E, 0, 0);
  mmu_stats_reset(&E.cpu);
  MISS(V, MMU_READ, PA);
  HIT(V, MMU_READ | MMU_IMPLICIT, PA);
  MISS(VB, MMU_WRITE, PAB);
  HIT(VB, MMU_WRITE, PAB);
  MISS(VG, MMU_FETCH, PAG);
  EQ(E.cpu.stats.tlb_loads[0], 2);
  EQ(E.cpu.stats.tlb_loads[1], 2);
  EQ(E.cpu.stats.tlb_loads[2], 1);
  EQ(E.cpu.stats.tlb_misses[0], 1);
  EQ(E.cpu.stats.tlb_misses[1], 1);
  EQ(E.cpu.stats.tlb_misses[2], 1);
}
