/* SPDX-License-Identifier: MIT */
/* Initialisation, configuration checks, register writes. */
#include "pt.h"

static _Alignas(64) uint8_t storage[1 << 20];

static mmu_config zero_cfg(void) {
  mmu_config c;
  memset(&c, 0, sizeof c);
  return c;
}

Test(init, version) {
  EQ(mmu_version(), MMU_VERSION);
  cr_assert_str_eq(mmu_version_string(), MMU_VERSION_STRING);
}

Test(init, storage_size_defaults) {
  mmu_config c = zero_cfg();
  size_t def = mmu_tlb_storage_size(NULL);
  cr_assert(def >= 64 * 4 * sizeof(mmu_tlb_entry));
  EQ(mmu_tlb_storage_size(&c), def);
  c.tlb_sets = 64;
  c.tlb_ways = 4;
  EQ(mmu_tlb_storage_size(&c), def);
  c.tlb_sets = 128;
  cr_assert(mmu_tlb_storage_size(&c) >= 128 * 4 * sizeof(mmu_tlb_entry));
}

Test(init, storage_size_invalid_geometry_zero) {
  mmu_config c = zero_cfg();
  c.tlb_sets = 3;
  EQ(mmu_tlb_storage_size(&c), 0);
  c.tlb_sets = 131072;
  EQ(mmu_tlb_storage_size(&c), 0);
  c.tlb_sets = 64;
  c.tlb_ways = 17;
  EQ(mmu_tlb_storage_size(&c), 0);
}

Test(init, init_ok_and_initial_state) {
  mmu_cpu cpu;
  size_t need = mmu_tlb_storage_size(NULL);
  ST(mmu_init(&cpu, NULL, storage, need), MMU_OK);
  EQ(cpu.regs.cpl, 0);
  EQ(cpu.regs.cr0, 0x60000010); /* reset value (SPEC 2.1) */
  EQ(cpu.regs.cr0 & MMU_CR0_PG, 0);
  EQ(mmu_tlb_count(&cpu), 0);
  EQ(cpu.stats.walks, 0);
  /* paging off: identity, no RAM configured so no host pointer */
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_translate(&cpu, 0x12345678, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x12345678);
  PTREQ(r.host, NULL);
}

Test(init, geometry_extremes_ok) {
  mmu_cpu cpu;
  mmu_config c = zero_cfg();
  c.tlb_sets = 1;
  c.tlb_ways = 1;
  ST(mmu_init(&cpu, &c, storage, mmu_tlb_storage_size(&c)), MMU_OK);
  c.tlb_sets = 1024;
  c.tlb_ways = 16;
  size_t need = mmu_tlb_storage_size(&c);
  cr_assert(need > 0 && need <= sizeof storage);
  ST(mmu_init(&cpu, &c, storage, need), MMU_OK);
  c.maxphyaddr = 36;
  ST(mmu_init(&cpu, &c, storage, need), MMU_OK);
  c.maxphyaddr = 52;
  ST(mmu_init(&cpu, &c, storage, need), MMU_OK);
}

Test(init, max_sets) {
  mmu_config c = zero_cfg();
  c.tlb_sets = 65536;
  c.tlb_ways = 1;
  size_t need = mmu_tlb_storage_size(&c);
  cr_assert(need >= 65536 * sizeof(mmu_tlb_entry));
  void *buf = aligned_alloc(64, (need + 63) & ~(size_t)63);
  mmu_cpu cpu;
  ST(mmu_init(&cpu, &c, buf, need), MMU_OK);
  free(buf);
}

Test(init, wrong_version) {
  mmu_cpu cpu;
  size_t need = mmu_tlb_storage_size(NULL);
  ST(mmu_init_versioned(&cpu, sizeof cpu - 8, MMU_VERSION, NULL, storage, need),
     MMU_ERR_VERSION);
  ST(mmu_init_versioned(&cpu, sizeof cpu + 8, MMU_VERSION, NULL, storage, need),
     MMU_ERR_VERSION);
  ST(mmu_init_versioned(&cpu, sizeof cpu, MMU_VERSION + (1u << 16), NULL,
                        storage, need),
     MMU_ERR_VERSION);
  ST(mmu_init_versioned(&cpu, sizeof cpu, MMU_VERSION, NULL, storage, need),
     MMU_OK);
}

Test(init, bad_geometry) {
  mmu_cpu cpu;
  mmu_config c = zero_cfg();
  c.tlb_sets = 3;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.tlb_sets = 48;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.tlb_sets = 131072;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.tlb_sets = 64;
  c.tlb_ways = 17;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.tlb_ways = 32;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
}

/* SPEC 2.1: ways must also be a power of two */
Test(init, ways_not_power_of_two) {
  mmu_cpu cpu;
  mmu_config c = zero_cfg();
  c.tlb_ways = 3;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
}

Test(init, bad_maxphyaddr) {
  mmu_cpu cpu;
  mmu_config c = zero_cfg();
  c.maxphyaddr = 35;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.maxphyaddr = 53;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
  c.maxphyaddr = 64;
  ST(mmu_init(&cpu, &c, storage, sizeof storage), MMU_ERR_CONFIG);
}

Test(init, storage_too_small) {
  mmu_cpu cpu;
  size_t need = mmu_tlb_storage_size(NULL);
  ST(mmu_init(&cpu, NULL, storage, need - 1), MMU_ERR_STORAGE);
  ST(mmu_init(&cpu, NULL, storage, need - sizeof(mmu_tlb_entry)),
     MMU_ERR_STORAGE);
  ST(mmu_init(&cpu, NULL, storage, 0), MMU_ERR_STORAGE);
}

Test(init, storage_misaligned) {
  mmu_cpu cpu;
  size_t need = mmu_tlb_storage_size(NULL);
  ST(mmu_init(&cpu, NULL, storage + 4, need), MMU_ERR_STORAGE);
  ST(mmu_init(&cpu, NULL, storage + 1, need), MMU_ERR_STORAGE);
}

Test(init, null_cpu_is_arg_error) {
  size_t need = mmu_tlb_storage_size(NULL);
  ST(mmu_init(NULL, NULL, storage, need), MMU_ERR_ARG);
}

static _Alignas(4096) uint8_t ram_a[8192], ram_b[8192];

static int init_with_ram(const mmu_ram_region *reg, uint32_t n) {
  mmu_cpu cpu;
  mmu_config c = zero_cfg();
  c.ram = reg;
  c.ram_count = n;
  return mmu_init(&cpu, &c, storage, mmu_tlb_storage_size(&c));
}

Test(init, ram_ok) {
  mmu_ram_region r[2] = {{0, 8192, ram_a}, {0x100000, 8192, ram_b}};
  ST(init_with_ram(r, 2), MMU_OK);
  mmu_ram_region s[2] = {{0x100000, 8192, ram_b}, {0, 8192, ram_a}};
  ST(init_with_ram(s, 2), MMU_OK); /* order does not matter */
  mmu_ram_region t[2] = {{0, 8192, ram_a}, {8192, 8192, ram_b}};
  ST(init_with_ram(t, 2), MMU_OK); /* adjacent, not overlapping */
}

Test(init, ram_overlap) {
  mmu_ram_region r[2] = {{0, 8192, ram_a}, {4096, 8192, ram_b}};
  ST(init_with_ram(r, 2), MMU_ERR_RAM);
  mmu_ram_region s[2] = {{0x10000, 8192, ram_a}, {0x10000, 8192, ram_b}};
  ST(init_with_ram(s, 2), MMU_ERR_RAM);
  mmu_ram_region t[2] = {{0x11000, 4096, ram_a}, {0x10000, 8192, ram_b}};
  ST(init_with_ram(t, 2), MMU_ERR_RAM);
}

Test(init, ram_unaligned) {
  mmu_ram_region r[1] = {{0x800, 8192, ram_a}};
  ST(init_with_ram(r, 1), MMU_ERR_RAM);
  mmu_ram_region s[1] = {{0, 6000, ram_a}};
  ST(init_with_ram(s, 1), MMU_ERR_RAM);
  mmu_ram_region t[1] = {{0, 4096, ram_a + 4}};
  ST(init_with_ram(t, 1), MMU_ERR_RAM);
}

Test(init, ram_empty_or_null_host) {
  mmu_ram_region r[1] = {{0, 0, ram_a}};
  ST(init_with_ram(r, 1), MMU_ERR_RAM);
  mmu_ram_region s[1] = {{0, 4096, NULL}};
  ST(init_with_ram(s, 1), MMU_ERR_RAM);
}

Test(init, stats_reset) {
  pt_env_init(&E, NULL, 4);
  pt_boot(&E, 0, 0);
  mmu_result r;
  pt_tr(&E, 0x1000, MMU_READ, &r);
  cr_assert(E.cpu.stats.walks > 0 || E.cpu.stats.tlb_loads[0] > 0);
  mmu_stats_reset(&E.cpu);
  mmu_stats zero;
  memset(&zero, 0, sizeof zero);
  cr_assert(memcmp(&E.cpu.stats, &zero, sizeof zero) == 0);
  pt_env_fini(&E);
}

/* --- register writes --------------------------------------------------- */

TestSuite(regs, .init = pt_setup4, .fini = pt_teardown);

Test(regs, load_regs_roundtrip) {
  mmu_regs r = pt_regs(&E);
  r.cr4 |= MMU_CR4_SMEP | MMU_CR4_SMAP | MMU_CR4_PKE | MMU_CR4_PGE;
  r.pkru = 0x12345678;
  r.cpl = 3;
  r.ac = 1;
  pt_load(&E, &r);
  EQ(E.cpu.regs.cr0, r.cr0);
  EQ(E.cpu.regs.cr3, r.cr3);
  EQ(E.cpu.regs.cr4, r.cr4);
  EQ(E.cpu.regs.efer, r.efer);
  EQ(E.cpu.regs.pkru, r.pkru);
  EQ(E.cpu.regs.cpl, 3);
  EQ(E.cpu.regs.ac, 1);
}

/* a state the processor cannot be in: refused (SPEC 3.1 says MMU_ERR_ARG
 * for load_regs; the brief says #GP for PG without PE) */
Test(regs, load_regs_pg_without_pe) {
  mmu_regs r = pt_regs(&E);
  r.cr0 &= ~MMU_CR0_PE;
  int st = mmu_load_regs(&E.cpu, &r);
  cr_assert(st == MMU_ERR_ARG || st == MMU_GP_FAULT, "status %d", st);
}

Test(regs, load_regs_impossible_combinations) {
  mmu_regs r = pt_regs(&E);
  r.efer &= ~MMU_EFER_LMA; /* LMA != LME && PG */
  ST(mmu_load_regs(&E.cpu, &r), MMU_ERR_ARG);
  r = pt_regs(&E);
  r.cpl = 4;
  ST(mmu_load_regs(&E.cpu, &r), MMU_ERR_ARG);
  r = pt_regs(&E);
  r.cr3 |= 1ull << 55; /* reserved CR3 bit */
  ST(mmu_load_regs(&E.cpu, &r), MMU_ERR_ARG);
}

Test(regs, cr0_high_bits_gp) {
  pt_boot(&E, 0, 0);
  ST(mmu_write_cr0(&E.cpu, E.cpu.regs.cr0 | (1ull << 32)), MMU_GP_FAULT);
}

Test(regs, cr0_pg_on_sets_lma) {
  mmu_regs r = pt_regs(&E);
  r.cr0 &= ~MMU_CR0_PG;
  r.efer &= ~MMU_EFER_LMA;
  pt_load(&E, &r);
  ST(mmu_write_cr0(&E.cpu, r.cr0 | MMU_CR0_PG), MMU_OK);
  EQ(E.cpu.regs.efer & MMU_EFER_LMA, MMU_EFER_LMA);
}

/* SDM 4.1.2: entering IA-32e mode (PG 0->1 with LME=1) needs PAE */
Test(regs, cr0_pg_on_lme_without_pae_gp) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE;
  r.efer = MMU_EFER_LME;
  pt_load(&E, &r);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr0 & MMU_CR0_PG, 0);
  EQ(E.cpu.regs.efer & MMU_EFER_LMA, 0);
}

/* SDM 4.10.1: clearing PG while PCIDE=1 is #GP */
Test(regs, cr0_pg_off_with_pcide_gp) {
  pt_boot(&E, MMU_CR4_PCIDE, 0);
  ST(mmu_write_cr0(&E.cpu, E.cpu.regs.cr0 & ~MMU_CR0_PG), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr0 & MMU_CR0_PG, MMU_CR0_PG);
}

Test(regs, cr0_pg_without_pe_gp) {
  pt_boot(&E, 0, 0);
  mmu_regs before = E.cpu.regs;
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PG | MMU_CR0_WP), MMU_GP_FAULT);
  cr_assert(memcmp(&before, &E.cpu.regs, sizeof before) == 0);
}

Test(regs, cr0_write_ok) {
  pt_boot(&E, 0, 0);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_OK);
  EQ(E.cpu.regs.cr0 & (MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP),
     MMU_CR0_PE | MMU_CR0_PG);
}

Test(regs, cr3_reserved_bits_default_maxphy) {
  pt_boot(&E, 0, 0);
  uint64_t cr3 = E.cpu.regs.cr3;
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 52)), MMU_GP_FAULT);
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 62)), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr3, cr3);
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 51)), MMU_OK);
  EQ(E.cpu.regs.cr3, E.root | (1ull << 51));
}

/* with PCIDE=0 bit 63 of CR3 is reserved (SDM Table 4-12) */
Test(regs, cr3_bit63_without_pcide_gp) {
  pt_boot(&E, 0, 0);
  ST(mmu_write_cr3(&E.cpu, E.root | MMU_CR3_NOFLUSH), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr3, E.root);
}

static void setup_maxphy36(void) {
  mmu_config cfg = zero_cfg();
  cfg.maxphyaddr = 36;
  pt_env_init(&E, &cfg, 4);
}

Test(regs, cr3_reserved_bits_maxphy36, .init = setup_maxphy36) {
  pt_boot(&E, 0, 0);
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 36)), MMU_GP_FAULT);
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 40)), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr3, E.root);
  ST(mmu_write_cr3(&E.cpu, E.root | (1ull << 35)), MMU_OK);
}

Test(regs, cr4_pcide_with_cr3_low_bits_gp) {
  mmu_regs r = pt_regs(&E);
  r.cr3 = E.root | 0x8; /* PWT: bits 11:0 != 0 */
  pt_load(&E, &r);
  ST(mmu_write_cr4(&E.cpu, r.cr4 | MMU_CR4_PCIDE), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr4 & MMU_CR4_PCIDE, 0);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  ST(mmu_write_cr4(&E.cpu, r.cr4 | MMU_CR4_PCIDE), MMU_OK);
  EQ(E.cpu.regs.cr4 & MMU_CR4_PCIDE, MMU_CR4_PCIDE);
}

Test(regs, cr4_pcide_without_lma_gp) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE;
  r.cr4 = MMU_CR4_PAE;
  pt_load(&E, &r);
  ST(mmu_write_cr4(&E.cpu, r.cr4 | MMU_CR4_PCIDE), MMU_GP_FAULT);
}

Test(regs, cr4_high_bits_gp) {
  pt_boot(&E, 0, 0);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | (1ull << 32)), MMU_GP_FAULT);
}

/* LA57 can change while paging is off */
Test(regs, cr4_la57_with_paging_off_ok) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME;
  pt_load(&E, &r);
  ST(mmu_write_cr4(&E.cpu, r.cr4 | MMU_CR4_LA57), MMU_OK);
  EQ(E.cpu.regs.cr4 & MMU_CR4_LA57, MMU_CR4_LA57);
}

Test(regs, cr4_la57_change_in_long_mode_gp) {
  pt_boot(&E, 0, 0);
  uint64_t cr4 = E.cpu.regs.cr4;
  ST(mmu_write_cr4(&E.cpu, cr4 | MMU_CR4_LA57), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr4, cr4);
}

Test(regs, cr4_la57_clear_in_long_mode_gp, .init = pt_setup5) {
  pt_boot(&E, 0, 0);
  uint64_t cr4 = E.cpu.regs.cr4;
  ST(mmu_write_cr4(&E.cpu, cr4 & ~MMU_CR4_LA57), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr4, cr4);
}

Test(regs, cr4_clear_pae_in_long_mode_gp) {
  pt_boot(&E, 0, 0);
  uint64_t cr4 = E.cpu.regs.cr4;
  ST(mmu_write_cr4(&E.cpu, cr4 & ~MMU_CR4_PAE), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr4, cr4);
}

Test(regs, cr4_other_bits_ok) {
  pt_boot(&E, 0, 0);
  uint64_t cr4 = E.cpu.regs.cr4 | MMU_CR4_SMEP | MMU_CR4_SMAP | MMU_CR4_PKE |
                 MMU_CR4_PGE;
  ST(mmu_write_cr4(&E.cpu, cr4), MMU_OK);
  EQ(E.cpu.regs.cr4, cr4);
}

Test(regs, efer_lme_change_while_paging_gp) {
  pt_boot(&E, 0, 0);
  uint64_t efer = E.cpu.regs.efer;
  ST(mmu_write_efer(&E.cpu, efer & ~MMU_EFER_LME), MMU_GP_FAULT);
  EQ(E.cpu.regs.efer, efer);
  ST(mmu_write_efer(&E.cpu, efer & ~MMU_EFER_NXE), MMU_OK);
  EQ(E.cpu.regs.efer & MMU_EFER_NXE, 0);
}

Test(regs, set_cpl_ac_pkru) {
  pt_boot(&E, 0, 0);
  mmu_set_cpl(&E.cpu, 3);
  EQ(E.cpu.regs.cpl, 3);
  mmu_set_ac(&E.cpu, 1);
  EQ(E.cpu.regs.ac, 1);
  mmu_write_pkru(&E.cpu, 0xC);
  EQ(E.cpu.regs.pkru, 0xC);
}
