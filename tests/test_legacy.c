/* SPDX-License-Identifier: MIT */
/* The paging modes before long mode (SDM 4.3, 4.4): 32-bit paging with 4 KiB
 * and 4 MiB pages and PSE-36, PAE paging with its PDPTE registers and 2 MiB
 * pages, paging off, and the register writes that move between them. Every
 * expectation is written from the SDM; the last tests hold mmu_translate to
 * the reference walker over random 32-bit and PAE worlds. */
#include "pt.h"

#include <stdio.h>

TestSuite(legacy, .init = pt_setup4, .fini = pt_teardown);

static void wr32(pt_env *e, uint64_t gpa, uint32_t v) {
  uint8_t *h = pt_host(e, gpa);
  cr_assert(h != NULL);
  memcpy(h, &v, 4);
}

static uint32_t rd32(pt_env *e, uint64_t gpa) {
  uint8_t *h = pt_host(e, gpa);
  cr_assert(h != NULL);
  uint32_t v;
  memcpy(&v, h, 4);
  return v;
}

/* 32-bit paging: the PDE and PTE addresses of va under the directory at
 * dir (SDM 4.3: bits 31:22 and 21:12 index 1024 4-byte entries). */
static uint64_t pde32(uint64_t dir, uint32_t va) { return dir + (va >> 22) * 4; }
static uint64_t pte32(uint64_t table, uint32_t va) {
  return table + ((va >> 12) & 0x3FF) * 4;
}

/* Load 32-bit paging at CPL cpl with extra CR4 and EFER bits. */
static void boot32(pt_env *e, uint64_t cr4, uint64_t efer, unsigned cpl) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr3 = e->root;
  r.cr4 = cr4;
  r.efer = efer;
  r.cpl = (uint8_t)cpl;
  pt_load(e, &r);
}

/* A 4 KiB page va -> pa in 32-bit paging, with a fresh page table. */
static uint64_t map32(pt_env *e, uint32_t va, uint32_t pa, uint32_t pde_flags,
                      uint32_t pte_flags) {
  uint64_t table = pt_alloc(e);
  wr32(e, pde32(e->root, va), (uint32_t)table | pde_flags);
  wr32(e, pte32(table, va), pa | pte_flags);
  return table;
}

Test(legacy, bits32_4k_page_and_its_a_d_flags) {
  uint64_t table = map32(&E, 0x00403123, 0x00900000, F_PWU, F_PWU);
  /* the neighbour entries of both: 4-byte A/D updates must not touch them */
  wr32(&E, pde32(E.root, 0x00403123) + 4, 0xDEADB000 | F_P);
  wr32(&E, pte32(table, 0x00403123) + 4, 0xCAFE0000 | F_P);
  boot32(&E, 0, 0, 3);
  TR_OK(&E, 0x00403123, MMU_READ, 0x00900123);
  EQ(rd32(&E, pde32(E.root, 0x00403123)), table | F_PWU | F_A);
  EQ(rd32(&E, pte32(table, 0x00403123)), 0x00900000 | F_PWU | F_A);
  TR_OK(&E, 0x00403FFF, MMU_WRITE, 0x00900FFF);
  EQ(rd32(&E, pte32(table, 0x00403123)), 0x00900000 | F_PWU | F_A | F_D);
  EQ(rd32(&E, pde32(E.root, 0x00403123) + 4), 0xDEADB000 | F_P);
  EQ(rd32(&E, pte32(table, 0x00403123) + 4), 0xCAFE0000 | F_P);
  mmu_result r;
  ST(pt_tr(&E, 0x00403000, MMU_READ, &r), MMU_OK);
  EQ(r.page_size, 4096);
}

Test(legacy, bits32_linear_addresses_are_32_bits) {
  map32(&E, 0x00001000, 0x00900000, F_PWU, F_PWU);
  boot32(&E, 0, 0, 0);
  /* SDM 3.3.6: outside IA-32e mode the upper half is not part of it */
  TR_OK(&E, 0x500001234ull, MMU_READ, 0x00900234);
  TR_OK(&E, 0x00001234, MMU_READ, 0x00900234);
  wr32(&E, pde32(E.root, 0xFFFFF000), 0);
  mmu_result r;
  ST(pt_tr(&E, 0x1FFFFF000ull, MMU_READ, &r), MMU_PAGE_FAULT);
  EQ(r.cr2, 0xFFFFF000); /* CR2 gets the 32-bit linear address */
  EQ(r.error_code, 0);
}

Test(legacy, bits32_4m_pages_need_pse) {
  /* PDE 1: a 4 MiB page at 0x00C00000 if CR4.PSE, else a table pointer */
  uint32_t pde = 0x00C00000 | F_PWU | F_PS;
  wr32(&E, pde32(E.root, 0x00400000), pde);
  boot32(&E, MMU_CR4_PSE, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, 0x0045ABCD, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0x00C5ABCD);
  EQ(r.page_size, 4 * MiB);
  EQ(rd32(&E, pde32(E.root, 0x00400000)), pde | F_A | F_D);
  /* without PSE bit 7 is ignored: the PDE points to a page table at
   * 0x00C00000 (zeroed RAM: not present) */
  memset(pt_host(&E, 0x00C00000), 0, 4096);
  boot32(&E, 0, 0, 0);
  TR_PF(&E, 0x0045ABCD, MMU_READ, 0);
  wr32(&E, pte32(0x00C00000, 0x0045ABCD), 0x00123000 | F_PW);
  TR_OK(&E, 0x0045ABCD, MMU_READ, 0x00123BCD);
}

Test(legacy, bits32_pse_change_drops_cached_4m_pages) {
  /* a 4 MiB translation filled under PSE = 1 must not outlive MOV to CR4
   * clearing PSE: the same PDE then references a table (SPEC 3.2) */
  wr32(&E, pde32(E.root, 0x00400000), 0x00C00000 | F_PWU | F_PS | F_G);
  memset(pt_host(&E, 0x00C00000), 0, 4096);
  boot32(&E, MMU_CR4_PSE | MMU_CR4_PGE, 0, 0);
  TR_OK(&E, 0x0045ABCD, MMU_READ, 0x00C5ABCD);
  ST(mmu_write_cr4(&E.cpu, MMU_CR4_PGE), MMU_OK);
  TR_PF(&E, 0x0045ABCD, MMU_READ, 0);
  ST(mmu_write_cr4(&E.cpu, MMU_CR4_PGE | MMU_CR4_PSE), MMU_OK);
  TR_OK(&E, 0x0045ABCD, MMU_READ, 0x00C5ABCD);
}

Test(legacy, bits32_pse36_and_its_reserved_bits) {
  /* SDM 4.3, Table 4-4: PDE bits 20:13 are physical bits 39:32 (M = 40
   * here: MAXPHYADDR 52 is more than 40); bit 21 is reserved */
  wr32(&E, pde32(E.root, 0x00800000), 0x00C00000 | (0x5Au << 13) | F_PW | F_PS);
  wr32(&E, pde32(E.root, 0x00C00000), 0x01000000 | (1u << 21) | F_PW | F_PS);
  boot32(&E, MMU_CR4_PSE, 0, 0);
  TR_OK(&E, 0x00812345, MMU_READ, 0x5A00C12345ull);
  TR_PF(&E, 0x00C00000, MMU_READ, EC_P | EC_RSVD);
}

Test(legacy, bits32_pse36_reserved_bits_follow_maxphyaddr) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.maxphyaddr = 36; /* bits 21:17 reserved, 16:13 give bits 35:32 */
  pt_env_init(&E, &cfg, 4);
  wr32(&E, pde32(E.root, 0x00800000), 0x00C00000 | (0xFu << 13) | F_PW | F_PS);
  wr32(&E, pde32(E.root, 0x00C00000), 0x01000000 | (1u << 17) | F_PW | F_PS);
  boot32(&E, MMU_CR4_PSE, 0, 0);
  TR_OK(&E, 0x00800010, MMU_READ, 0xF00C00010ull);
  TR_PF(&E, 0x00C00000, MMU_READ, EC_P | EC_RSVD);
}

Test(legacy, bits32_has_no_execute_disable) {
  map32(&E, 0x00001000, 0x00900000, F_PWU, F_PWU);
  /* SDM 4.6.1: fetches are never denied for XD (no such bit); the I/D
   * error-code bit needs SMEP in 32-bit paging, even with EFER.NXE (4.7) */
  boot32(&E, 0, MMU_EFER_NXE, 3);
  TR_OK(&E, 0x00001000, MMU_FETCH, 0x00900000);
  TR_PF(&E, 0x00802000, MMU_FETCH, EC_U);
  boot32(&E, MMU_CR4_SMEP, MMU_EFER_NXE, 3);
  TR_PF(&E, 0x00802000, MMU_FETCH, EC_U | EC_ID);
  /* SMEP: a supervisor fetch from a user page */
  boot32(&E, MMU_CR4_SMEP, 0, 0);
  TR_PF(&E, 0x00001000, MMU_FETCH, EC_P | EC_ID);
}

Test(legacy, bits32_rights_combine_over_both_levels) {
  map32(&E, 0x00001000, 0x00900000, F_PW, F_PWU); /* supervisor PDE */
  map32(&E, 0x00400000, 0x00901000, F_PWU, F_P | F_U); /* read-only PTE */
  boot32(&E, 0, 0, 3);
  TR_PF(&E, 0x00001000, MMU_READ, EC_P | EC_U);
  TR_OK(&E, 0x00400000, MMU_READ, 0x00901000);
  TR_PF(&E, 0x00400000, MMU_WRITE, EC_P | EC_W | EC_U);
  boot32(&E, 0, 0, 0); /* supervisor, CR0.WP = 1 */
  TR_PF(&E, 0x00400000, MMU_WRITE, EC_P | EC_W);
  ST(mmu_write_cr0(&E.cpu, E.cpu.regs.cr0 & ~MMU_CR0_WP), MMU_OK);
  TR_OK(&E, 0x00400000, MMU_WRITE, 0x00901000);
}

Test(legacy, bits32_global_pages_survive_a_cr3_write) {
  uint64_t table = map32(&E, 0x00001000, 0x00900000, F_PWU, F_PWU | F_G);
  wr32(&E, pte32(table, 0x00002000), 0x00901000 | F_PWU);
  boot32(&E, MMU_CR4_PGE, 0, 0);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
  TR_OK(&E, 0x00002000, MMU_READ, 0x00901000);
  /* both pages move in memory; a CR3 write drops only the non-global */
  wr32(&E, pte32(table, 0x00001000), 0x00A00000 | F_PWU | F_G);
  wr32(&E, pte32(table, 0x00002000), 0x00A01000 | F_PWU);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
  TR_OK(&E, 0x00002000, MMU_READ, 0x00A01000);
  ST(mmu_invlpg(&E.cpu, 0x00001000), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00A00000);
}

Test(legacy, bits32_invlpg_drops_a_whole_4m_page) {
  wr32(&E, pde32(E.root, 0x00800000), 0x00C00000 | F_PW | F_PS);
  boot32(&E, MMU_CR4_PSE, 0, 0);
  TR_OK(&E, 0x00800000, MMU_READ, 0x00C00000);
  TR_OK(&E, 0x00BFF000, MMU_READ, 0x00FFF000);
  wr32(&E, pde32(E.root, 0x00800000), 0x01000000 | F_PW | F_PS);
  ST(mmu_invlpg(&E.cpu, 0x00A00000), MMU_OK); /* any address in it */
  TR_OK(&E, 0x00800000, MMU_READ, 0x01000000);
  TR_OK(&E, 0x00BFF000, MMU_READ, 0x013FF000);
}

/* ---- PAE paging ------------------------------------------------------- */

/* A PDPT at pdpt (32-byte aligned) whose entry i points to a fresh page
 * directory; returns the directories. */
static void pae_tables(pt_env *e, uint64_t pdpt, uint64_t dirs[4]) {
  for (int i = 0; i < 4; i++) {
    dirs[i] = pt_alloc(e);
    pt_wr(e, pdpt + 8 * (uint64_t)i, dirs[i] | F_P);
  }
}

/* 4 KiB page va -> pa under the PAE directories (fresh page table). */
static uint64_t map_pae(pt_env *e, const uint64_t dirs[4], uint32_t va,
                        uint64_t pa, uint64_t pde_flags, uint64_t pte_flags) {
  uint64_t table = pt_alloc(e);
  pt_wr(e, dirs[va >> 30] + ((va >> 21) & 511) * 8, table | pde_flags);
  pt_wr(e, table + ((va >> 12) & 511) * 8, pa | pte_flags);
  return table;
}

/* From real mode into PAE paging the way an OS does it: CR4.PAE, CR3,
 * then CR0.PG, which loads the PDPTEs. */
static int enter_pae(pt_env *e, uint64_t cr3, uint64_t cr4, uint64_t efer) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE;
  pt_load(e, &r);
  ST(mmu_write_efer(&e->cpu, efer), MMU_OK);
  ST(mmu_write_cr4(&e->cpu, MMU_CR4_PAE | cr4), MMU_OK);
  ST(mmu_write_cr3(&e->cpu, cr3), MMU_OK); /* paging off: nothing loaded */
  return mmu_write_cr0(&e->cpu, MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP);
}

Test(legacy, pae_entered_from_real_mode_loads_the_pdptes) {
  uint64_t pdpt = 0x00200020, dirs[4];
  pae_tables(&E, pdpt, dirs);
  uint64_t table = map_pae(&E, dirs, 0xC0401000, 0x00900000, F_PWU, F_PWU);
  ST(enter_pae(&E, pdpt, 0, MMU_EFER_NXE), MMU_OK);
  for (int i = 0; i < 4; i++)
    EQ(E.cpu.regs.pdpte[i], dirs[i] | F_P);
  TR_OK(&E, 0xC0401ABC, MMU_WRITE, 0x00900ABC);
  /* A in the PDE and PTE, D in the PTE; the PDPTE has no A flag */
  EQ(pt_rd(&E, dirs[3] + 2 * 8), table | F_PWU | F_A);
  EQ(pt_rd(&E, table + 8), 0x00900000 | F_PWU | F_A | F_D);
  EQ(pt_rd(&E, pdpt + 3 * 8), dirs[3] | F_P);
  mmu_trace t;
  mmu_result r;
  ST(mmu_reference_translate(&E.cpu, 0xC0401ABC, MMU_READ, &r, &t), MMU_OK);
  EQ(t.count, 3);
  EQ(t.step[0].level, 3);
  EQ(t.step[0].entry_gpa, pdpt + 3 * 8);
  EQ(t.step[0].entry, dirs[3] | F_P);
}

Test(legacy, pae_reserved_pdpte_bits_are_gp_at_load_not_at_use) {
  uint64_t pdpt = 0x00200000, dirs[4];
  pae_tables(&E, pdpt, dirs);
  pt_wr(&E, pdpt + 16, dirs[2] | F_P | F_W); /* bit 1: reserved in a PDPTE */
  ST(enter_pae(&E, pdpt, 0, 0), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr0 & MMU_CR0_PG, 0); /* nothing changed */
  pt_wr(&E, pdpt + 16, dirs[2] | F_P | (1ull << 5)); /* bits 8:5 too */
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_GP_FAULT);
  pt_wr(&E, pdpt + 16, dirs[2] | F_P | (1ull << 63)); /* 63:M: no XD */
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_GP_FAULT);
  pt_wr(&E, pdpt + 16, F_W | (1ull << 63)); /* not present: not checked */
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_OK);
  /* a MOV to CR3 checks the new table, and keeps CR3 on #GP */
  uint64_t other = 0x00200040;
  pt_wr(&E, other, dirs[0] | F_P | (1ull << 8));
  ST(mmu_write_cr3(&E.cpu, other), MMU_GP_FAULT);
  EQ(E.cpu.regs.cr3, pdpt);
  /* the not-present PDPTE register: #PF, P = 0 */
  TR_PF(&E, 0x80000000, MMU_READ, 0);
}

Test(legacy, pae_pdptes_are_registers_until_cr3_is_written) {
  uint64_t pdpt = 0x00200000, dirs[4];
  pae_tables(&E, pdpt, dirs);
  map_pae(&E, dirs, 0x00001000, 0x00900000, F_PW, F_PW);
  ST(enter_pae(&E, pdpt, 0, 0), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
  /* SDM 4.4.1: the PDPTE in memory goes, the register stays; INVLPG
   * and a TLB miss do not reload it */
  pt_wr(&E, pdpt, 0);
  ST(mmu_flush_tlb(&E.cpu), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
  mmu_result r;
  ST(mmu_reference_translate(&E.cpu, 0x00001000, MMU_READ, &r, NULL), MMU_OK);
  /* a MOV to CR3 reloads: now not present */
  ST(mmu_write_cr3(&E.cpu, pdpt), MMU_OK);
  TR_PF(&E, 0x00001000, MMU_READ, 0);
  /* so do CR4 writes that change PGE, PSE or SMEP in PAE paging */
  pt_wr(&E, pdpt, dirs[0] | F_P);
  ST(mmu_write_cr4(&E.cpu, E.cpu.regs.cr4 | MMU_CR4_PSE), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
}

Test(legacy, pae_2m_pages_reserved_bits_and_execute_disable) {
  uint64_t pdpt = 0x00200000, dirs[4];
  pae_tables(&E, pdpt, dirs);
  pt_wr(&E, dirs[0] + 8, 0x00E00000 | F_PWU | F_PS);            /* 2 MiB */
  pt_wr(&E, dirs[0] + 16, 0x01000000 | F_PWU | F_PS | (1ull << 13));
  pt_wr(&E, dirs[0] + 24, 0x01200000 | F_PWU | F_PS | F_XD);
  pt_wr(&E, dirs[0] + 32, 0x01400000 | F_PWU | F_PS | (1ull << 60));
  ST(enter_pae(&E, pdpt, 0, MMU_EFER_NXE), MMU_OK);
  mmu_result r;
  ST(pt_tr(&E, 0x00312345, MMU_READ, &r), MMU_OK);
  EQ(r.paddr, 0x00F12345);
  EQ(r.page_size, 2 * MiB);
  TR_PF(&E, 0x00400000, MMU_READ, EC_P | EC_RSVD);        /* bits 20:13 */
  TR_OK(&E, 0x00600000, MMU_READ, 0x01200000);
  TR_PF(&E, 0x00600000, MMU_FETCH, EC_P | EC_ID);         /* XD with NXE */
  TR_PF(&E, 0x00800000, MMU_READ, EC_P | EC_RSVD);        /* bit 60: 62:M */
  /* without NXE, XD is a reserved bit (and fetches have no I/D) */
  ST(mmu_write_efer(&E.cpu, 0), MMU_OK);
  TR_PF(&E, 0x00600000, MMU_READ, EC_P | EC_RSVD);
  TR_PF(&E, 0x00A00000, MMU_FETCH, 0);
}

Test(legacy, mode_changes_and_their_gp_checks) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE;
  pt_load(&E, &r);
  /* IA-32e needs PAE: CR0.PG with LME and no PAE is #GP (SDM 4.1.2) */
  ST(mmu_write_efer(&E.cpu, MMU_EFER_LME), MMU_OK);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_GP_FAULT);
  /* NW without CD is #GP */
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_NW), MMU_GP_FAULT);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_NW | MMU_CR0_CD), MMU_OK);
  /* 32-bit paging, then PAE by setting CR4.PAE (PDPTEs from CR3) */
  ST(mmu_write_efer(&E.cpu, 0), MMU_OK);
  map32(&E, 0x00001000, 0x00900000, F_PW, F_PW);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00900000);
  uint64_t pdpt = 0x00200000, dirs[4];
  pae_tables(&E, pdpt, dirs);
  map_pae(&E, dirs, 0x00001000, 0x00A00000, F_PW, F_PW);
  ST(mmu_write_cr3(&E.cpu, pdpt), MMU_OK);
  ST(mmu_write_cr4(&E.cpu, MMU_CR4_PAE), MMU_OK);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00A00000); /* flushed, PAE walk */
  /* paging off again: identity, 32 bits */
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE), MMU_OK);
  TR_OK(&E, 0x100001000ull, MMU_READ, 0x00001000);
  /* and on into IA-32e mode: LME, then PG with PAE set */
  ST(mmu_write_efer(&E.cpu, MMU_EFER_LME), MMU_OK);
  ST(mmu_write_cr3(&E.cpu, E.root), MMU_OK);
  ST(mmu_write_cr0(&E.cpu, MMU_CR0_PE | MMU_CR0_PG), MMU_OK);
  cr_assert(E.cpu.regs.efer & MMU_EFER_LMA);
  /* in IA-32e mode PAE cannot be cleared */
  ST(mmu_write_cr4(&E.cpu, 0), MMU_GP_FAULT);
}

Test(legacy, load_regs_takes_the_pdpte_registers_as_given) {
  uint64_t pdpt = 0x00200000, dirs[4];
  pae_tables(&E, pdpt, dirs);
  map_pae(&E, dirs, 0x00001000, 0x00900000, F_PW, F_PW);
  uint64_t other = pt_alloc(&E); /* a directory the memory PDPT lacks */
  map_pae(&E, (uint64_t[4]){other, 0, 0, 0}, 0x00001000, 0x00B00000, F_PW,
          F_PW);
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG;
  r.cr4 = MMU_CR4_PAE;
  r.cr3 = pdpt;
  r.pdpte[0] = other | F_P; /* a snapshot taken before the PDPT changed */
  pt_load(&E, &r);
  TR_OK(&E, 0x00001000, MMU_READ, 0x00B00000);
  r.pdpte[1] = other | F_P | F_W; /* reserved: no load could give it */
  ST(mmu_load_regs(&E.cpu, &r), MMU_ERR_ARG);
  r.pdpte[1] = 0;
  r.cr3 = 1ull << 32; /* CR3 is 32 bits outside IA-32e mode */
  ST(mmu_load_regs(&E.cpu, &r), MMU_ERR_ARG);
}

Test(legacy, paging_off_hits_the_tlb_like_a_page) {
  mmu_result r;
  ST(pt_tr(&E, 0x00123456, MMU_WRITE, &r), MMU_OK);
  EQ(r.paddr, 0x00123456);
  /* the next access to the page is the inline hit */
  cr_assert(mmu_translate_host(&E.cpu, 0x00123000, MMU_FETCH) ==
            E.host[0] + 0x00123000);
  EQ(E.cpu.stats.walks, 0);
}

/* ---- random worlds against the reference walker ----------------------- */

static pt_env A, B; /* A: mmu_translate, B: mmu_reference_translate */
static uint64_t rng;

static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }
static int chance(unsigned percent) { return rn(100) < percent; }

#define LRAM (4 * MiB)

/* Flags of a random entry: mostly usable, sometimes odd. */
static uint64_t rflags(void) {
  uint64_t f = F_P;
  if (chance(80))
    f |= F_W;
  if (chance(70))
    f |= F_U;
  if (chance(30))
    f |= F_A;
  if (chance(20))
    f |= F_D;
  if (chance(20))
    f |= F_G;
  if (chance(8))
    f &= ~(uint64_t)F_P;
  return f;
}

/* A frame of the world: one of 64 in [1 MiB, 1.25 MiB) so walks share
 * tables, now and then one past RAM. */
static uint64_t rframe(void) {
  if (chance(3))
    return 0x3F0000000ull & 0xFFFFF000ull; /* outside RAM */
  return 1 * MiB + (uint64_t)rn(64) * 4096;
}

/* Fill the world's frames with random 32-bit or PAE entries. */
static void random_world(int pae, unsigned maxphy) {
  for (uint64_t f = 1 * MiB; f < 1 * MiB + 64 * 4096; f += 4096)
    for (unsigned i = 0; i < (pae ? 512 : 1024); i++) {
      uint64_t v = 0;
      if (chance(60)) {
        v = rframe() | rflags();
        if (chance(25))
          v |= F_PS;
        if (pae) {
          if (chance(10))
            v |= F_XD;
          if (chance(4))
            v |= 1ull << (maxphy + rn(63 - maxphy)); /* 62:M reserved */
          if (chance(4))
            v |= 1ull << (13 + rn(8)); /* bits 20:13 of a 2 MiB page */
        } else if (chance(8)) {
          v |= (uint64_t)rn(256) << 13; /* PSE-36 and reserved bit 21 */
          v |= chance(30) ? 1u << 21 : 0;
        }
      }
      if (pae) {
        pt_wr(&A, f + i * 8, v);
      } else {
        wr32(&A, f + i * 4, (uint32_t)v);
      }
    }
  memcpy(B.host[0], A.host[0], LRAM);
}

static int compare_one(uint64_t va, unsigned access, unsigned round) {
  mmu_result ra, rb;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  int sa = mmu_translate(&A.cpu, va, access, &ra);
  int sb = mmu_reference_translate(&B.cpu, va, access, &rb, NULL);
  const mmu_regs *r = &A.cpu.regs;
  cr_assert(sa == sb && (sa != MMU_OK || (ra.paddr == rb.paddr &&
                                         ra.page_size == rb.page_size)) &&
                (sa != MMU_PAGE_FAULT ||
                 (ra.error_code == rb.error_code && ra.cr2 == rb.cr2)),
            "round %u va 0x%llx access %u cpl %u cr0 0x%llx cr4 0x%llx efer "
            "0x%llx: translate %d (0x%llx ec 0x%x) reference %d (0x%llx ec "
            "0x%x)",
            round, (unsigned long long)va, access, r->cpl,
            (unsigned long long)r->cr0, (unsigned long long)r->cr4,
            (unsigned long long)r->efer, sa, (unsigned long long)ra.paddr,
            ra.error_code, sb, (unsigned long long)rb.paddr, rb.error_code);
  return sa;
}

Test(legacy, random_worlds_agree_with_the_reference_walker) {
  static const unsigned maxphys[] = {36, 40, 46, 52};
  unsigned outcomes[4] = {0};
  rng = 0x9E3779B97F4A7C15ull;
  uint64_t gpa = 0, size = LRAM;
  for (unsigned round = 0; round < 160; round++) {
    mmu_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.maxphyaddr = maxphys[rn(4)];
    if (chance(30))
      cfg.flags |= MMU_CFG_AD_ON_FAULT_UPPER;
    pt_env_init_regions(&A, &cfg, 4, 1, &gpa, &size, 1 * MiB, 2 * MiB);
    pt_env_init_regions(&B, &cfg, 4, 1, &gpa, &size, 1 * MiB, 2 * MiB);
    int pae = (int)(round & 1);
    random_world(pae, cfg.maxphyaddr);
    mmu_regs r;
    memset(&r, 0, sizeof r);
    r.cr0 = MMU_CR0_PE | MMU_CR0_PG | (chance(70) ? MMU_CR0_WP : 0);
    r.cr4 = (pae ? MMU_CR4_PAE : 0) | (chance(60) ? MMU_CR4_PSE : 0) |
            (chance(40) ? MMU_CR4_PGE : 0) | (chance(30) ? MMU_CR4_SMEP : 0) |
            (chance(30) ? MMU_CR4_SMAP : 0);
    r.efer = chance(60) ? MMU_EFER_NXE : 0;
    r.cr3 = 1 * MiB + (uint64_t)rn(64) * 4096 + (pae ? rn(128) * 32 : 0);
    r.cpl = (uint8_t)rn(4);
    r.ac = (uint8_t)rn(2);
    if (pae) /* the registers a load would give: reserved ones cleared */
      for (int i = 0; i < 4; i++) {
        uint64_t v = pt_rd(&A, (r.cr3 & 0xFFFFFFE0) + 8 * (uint64_t)i);
        r.pdpte[i] = v & ~((~0ull << cfg.maxphyaddr) |
                           0x1E6ull);
      }
    pt_load(&A, &r);
    pt_load(&B, &r);
    for (unsigned step = 0; step < 400; step++) {
      uint64_t va = (uint64_t)(uint32_t)rnd();
      if (chance(70)) /* addresses whose tables are in the world */
        va = (va & 0xC0000000) | ((uint64_t)rn(4) << 22) |
             ((uint64_t)rn(8) << 12) | (va & 0xFFF);
      if (chance(3))
        va |= rnd() << 32; /* wider than 32 bits: its low half counts */
      unsigned access = rn(3);
      if (access != MMU_FETCH && chance(10))
        access |= MMU_IMPLICIT;
      int st = compare_one(va, access, round);
      if (chance(40))
        compare_one(va, rn(3), round); /* again: through the TLB */
      if (chance(5)) {
        unsigned cpl = rn(4);
        ST(mmu_set_cpl(&A.cpu, cpl), MMU_OK);
        ST(mmu_set_cpl(&B.cpu, cpl), MMU_OK);
      }
      outcomes[st == MMU_OK ? 0 : st == MMU_PAGE_FAULT ? 1
                                  : st == MMU_ERR_PT_BUS ? 2 : 3]++;
    }
    cr_assert(memcmp(A.host[0], B.host[0], LRAM) == 0,
              "round %u: the A/D flags written differ", round);
    pt_env_fini(&A);
    pt_env_fini(&B);
  }
  /* the worlds reach every outcome */
  cr_assert(outcomes[0] > 1000 && outcomes[1] > 1000 && outcomes[2] > 0,
            "ok %u pf %u bus %u other %u", outcomes[0], outcomes[1],
            outcomes[2], outcomes[3]);
}
