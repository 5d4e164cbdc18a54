/* SPDX-License-Identifier: MIT */
/* consumer.c - uses the generated single-file mmu.h as an embedder would.
 *
 * Built three ways by CMakeLists.txt (tests single_header_c and
 * single_header_static, and with consumer.cpp for single_header_cxx):
 *   - this file with MMU_IMPLEMENTATION, linked with consumer_extra.c, a
 *     second C translation unit that includes the header without it;
 *   - this file alone with MMU_STATIC as well.
 * Sets up 1 MiB of guest RAM, 4-level page tables mapping one 4 KiB page,
 * enables long-mode paging through mmu_load_regs() and checks one
 * translation and one not-present #PF. Exits non-zero on any mismatch. */
#define MMU_IMPLEMENTATION
#include "mmu.h"
#include "mmu.h" /* the header and its implementation part are idempotent */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "consumer.h"

#ifndef MMU_STATIC
int consumer_extra_check(mmu_cpu *cpu, uint64_t vaddr, uint64_t want_paddr);
#endif

static uint64_t ram[CONSUMER_RAM_BYTES / 8]; /* 8-byte aligned */
static uint64_t tlb_storage[8192];           /* 64 KiB, plenty for defaults */
static mmu_cpu cpu;
static int failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                        \
      failures++;                                                            \
    }                                                                        \
  } while (0)

static void put_entry(uint64_t gpa, uint64_t value) { ram[gpa / 8] = value; }

static void map_one_page(void) {
  const uint64_t v = CONSUMER_VADDR;
  const uint64_t flags = MMU_PTE_P | MMU_PTE_W;
  put_entry(CONSUMER_PML4 + ((v >> 39) & 511) * 8, CONSUMER_PDPT | flags);
  put_entry(CONSUMER_PDPT + ((v >> 30) & 511) * 8, CONSUMER_PD | flags);
  put_entry(CONSUMER_PD + ((v >> 21) & 511) * 8, CONSUMER_PT | flags);
  put_entry(CONSUMER_PT + ((v >> 12) & 511) * 8, CONSUMER_FRAME | flags);
}

int main(void) {
  mmu_ram_region region;
  mmu_config cfg;
  mmu_regs regs;
  mmu_result res;
  size_t need;
  int rc;
  const uint64_t vaddr = CONSUMER_VADDR + CONSUMER_OFFSET;
  const uint64_t hole = CONSUMER_VADDR + 0x1000u + 0x18u; /* PTE not present */

  CHECK(mmu_version() == MMU_VERSION);
  CHECK(strcmp(mmu_version_string(), MMU_VERSION_STRING) == 0);

  region.gpa = 0;
  region.size = CONSUMER_RAM_BYTES;
  region.host = ram;
  memset(&cfg, 0, sizeof cfg);
  cfg.ram = &region;
  cfg.ram_count = 1;

  need = mmu_tlb_storage_size(&cfg);
  CHECK(need > 0 && need <= sizeof tlb_storage);
  rc = mmu_init(&cpu, &cfg, tlb_storage, sizeof tlb_storage);
  CHECK(rc == MMU_OK);
  if (rc != MMU_OK) {
    fprintf(stderr, "mmu_init: %s\n", mmu_status_name(rc));
    return 1;
  }

  map_one_page();
  memset(&regs, 0, sizeof regs);
  regs.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  regs.cr3 = CONSUMER_PML4;
  regs.cr4 = MMU_CR4_PAE;
  regs.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  regs.cpl = 0;
  rc = mmu_load_regs(&cpu, &regs);
  CHECK(rc == MMU_OK);
  if (rc != MMU_OK) {
    fprintf(stderr, "mmu_load_regs: %s\n", mmu_status_name(rc));
    return 1;
  }

  /* one translation: the slow path on the first access, the TLB after */
  for (int pass = 0; pass < 2; pass++) {
    memset(&res, 0, sizeof res);
    rc = mmu_translate(&cpu, vaddr, MMU_READ, &res);
    CHECK(rc == MMU_OK);
    CHECK(res.paddr == CONSUMER_FRAME + CONSUMER_OFFSET);
    CHECK(res.host == (uint8_t *)ram + CONSUMER_FRAME + CONSUMER_OFFSET);
    CHECK(res.page_size == 4096);
  }

  /* one not-present #PF: supervisor read, so error code 0 */
  memset(&res, 0, sizeof res);
  rc = mmu_translate(&cpu, hole, MMU_READ, &res);
  CHECK(rc == MMU_PAGE_FAULT);
  CHECK(res.error_code == 0);
  CHECK(res.cr2 == hole);

#ifndef MMU_STATIC
  failures += consumer_extra_check(&cpu, vaddr, CONSUMER_FRAME + CONSUMER_OFFSET);
#endif

  if (failures) {
    fprintf(stderr, "consumer (C): %d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer (C%s): translation and #PF as expected\n",
#ifdef MMU_STATIC
         ", MMU_STATIC"
#else
         ""
#endif
  );
  return 0;
}
