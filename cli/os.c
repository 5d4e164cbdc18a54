/* SPDX-License-Identifier: MIT */
/* cli/os.h: the system and cpu `mmu trace` and `mmu maps` share. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "os.h"

static void *aligned_bytes(size_t align, size_t n) {
  return aligned_alloc(align, (n + align - 1) & ~(align - 1));
}

int cli_os_init(cli_os *os, const mmu_system_config *cfg, uint32_t tlb_sets,
                uint32_t tlb_ways) {
  memset(os, 0, sizeof *os);
  os->cfg = *cfg;
  os->cfg.pool.gpa = CLI_OS_POOL_GPA;
  os->cfg.pool.host = os->pool = aligned_bytes(4096, (size_t)cfg->pool.size);
  size_t need = mmu_system_storage_size(&os->cfg);
  os->ram = os->cfg.pool;
  mmu_config cc;
  memset(&cc, 0, sizeof cc);
  cc.tlb_sets = tlb_sets;
  cc.tlb_ways = tlb_ways;
  cc.ram = &os->ram;
  cc.ram_count = 1;
  size_t tlb_bytes = mmu_tlb_storage_size(&cc);
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cr3 = CLI_OS_POOL_GPA; /* until a space is activated */
  r.cpl = 3;
  if (os->pool && need && tlb_bytes &&
      (os->sys_storage = aligned_bytes(64, need)) &&
      mmu_system_init(&os->sys, &os->cfg, os->sys_storage, need) == MMU_OK &&
      (os->tlb = aligned_bytes(64, tlb_bytes)) &&
      mmu_init(&os->cpu, &cc, os->tlb, tlb_bytes) == MMU_OK &&
      mmu_load_regs(&os->cpu, &r) == MMU_OK)
    return 1;
  cli_os_free(os);
  return 0;
}

int cli_os_space(cli_os *os, mmu_space *space, uint32_t max_regions,
                 void **storage) {
  mmu_space_config sc;
  memset(&sc, 0, sizeof sc);
  sc.max_regions = max_regions;
  size_t need = mmu_space_storage_size(&sc);
  if (!(*storage = malloc(need)))
    return MMU_ERR_NOMEM;
  int rc = mmu_space_init(space, &os->sys, &sc, *storage, need);
  if (rc != MMU_OK) {
    free(*storage);
    *storage = NULL;
  }
  return rc;
}

void cli_os_free(cli_os *os) {
  free(os->tlb);
  free(os->sys_storage);
  free(os->pool);
  os->tlb = os->sys_storage = os->pool = NULL;
}
