/* SPDX-License-Identifier: MIT */
/* main.c - an embedder of an installed (or add_subdirectory) libmmu: maps
 * one 4 KiB page with 4-level paging in a RAM array, translates an address
 * in it and prints "VADDR -> PADDR". Exits non-zero on any mismatch.
 * Built by tools/check_install.sh with CMake (tests/install_consumer/
 * CMakeLists.txt) and with pkg-config and plain cc. */
#include <mmu.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RAM_BYTES (64u * 4096u)
#define PML4 0x1000u /* PDPT, PD and PT in the three pages after it */
#define FRAME 0x20000u
#define VADDR 0x00007f1234567000ull
#define OFFSET 0xabcu

static uint64_t ram[RAM_BYTES / 8];
static uint64_t tlb_storage[8192];
static mmu_cpu cpu;

int main(void) {
  mmu_ram_region region = {.gpa = 0, .size = RAM_BYTES, .host = ram};
  mmu_config cfg;
  mmu_regs regs;
  mmu_result res;
  const uint64_t flags = MMU_PTE_P | MMU_PTE_W;
  int rc;

  if (strcmp(mmu_version_string(), MMU_VERSION_STRING) != 0) {
    fprintf(stderr, "library %s, header %s\n", mmu_version_string(),
            MMU_VERSION_STRING);
    return 1;
  }
  memset(&cfg, 0, sizeof cfg);
  cfg.ram = &region;
  cfg.ram_count = 1;
  rc = mmu_init(&cpu, &cfg, tlb_storage, sizeof tlb_storage);
  if (rc != MMU_OK) {
    fprintf(stderr, "mmu_init: %s\n", mmu_status_name(rc));
    return 1;
  }

  /* level 4 (PML4) down to level 1 (PT), one table page each */
  for (unsigned level = 4; level >= 1; level--) {
    uint64_t table = PML4 + (4 - level) * 0x1000u;
    uint64_t next = level > 1 ? table + 0x1000u : FRAME;
    ram[table / 8 + ((VADDR >> (12 + 9 * (level - 1))) & 511)] = next | flags;
  }

  memset(&regs, 0, sizeof regs);
  regs.cr0 = MMU_CR0_PE | MMU_CR0_PG;
  regs.cr3 = PML4;
  regs.cr4 = MMU_CR4_PAE;
  regs.efer = MMU_EFER_LME | MMU_EFER_LMA;
  rc = mmu_load_regs(&cpu, &regs);
  if (rc != MMU_OK) {
    fprintf(stderr, "mmu_load_regs: %s\n", mmu_status_name(rc));
    return 1;
  }

  rc = mmu_translate(&cpu, VADDR + OFFSET, MMU_WRITE, &res);
  if (rc != MMU_OK || res.paddr != FRAME + OFFSET ||
      res.host != (uint8_t *)ram + FRAME + OFFSET) {
    fprintf(stderr, "translate: %s, paddr 0x%llx\n", mmu_status_name(rc),
            (unsigned long long)res.paddr);
    return 1;
  }
  printf("mmu %s: 0x%llx -> 0x%llx\n", mmu_version_string(),
         (unsigned long long)(VADDR + OFFSET), (unsigned long long)res.paddr);
  return 0;
}
