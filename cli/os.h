/* SPDX-License-Identifier: MIT */
/* The OS side as `mmu trace` and `mmu maps` run it: a system whose frame
 * pool is `ram` bytes of host memory, and one user-mode cpu (CPL 3, long
 * mode, paging on, NX) whose RAM is that pool. */
#ifndef MMU_CLI_OS_H
#define MMU_CLI_OS_H

#include "mmu.h"

/* 2 MiB aligned: hugetlb pages need aligned frames */
#define CLI_OS_POOL_GPA 0x40000000ull

typedef struct cli_os {
  mmu_system sys;
  mmu_system_config cfg;
  void *sys_storage;
  uint8_t *pool;
  mmu_ram_region ram; /* the cpu keeps a pointer to it */
  mmu_cpu cpu;
  void *tlb;
} cli_os;

/* cfg: the system's (pool.size the RAM in bytes; gpa and host are filled
 * in); tlb_sets/tlb_ways 0 for the defaults. Returns 1, or 0 (everything
 * freed) when the memory or a configuration is refused. */
int cli_os_init(cli_os *os, const mmu_system_config *cfg, uint32_t tlb_sets,
                uint32_t tlb_ways);
/* An empty process with room for max_regions regions; *storage receives
 * its region table (free it after mmu_space_destroy). Returns an MMU_*
 * status. */
int cli_os_space(cli_os *os, mmu_space *space, uint32_t max_regions,
                 void **storage);
void cli_os_free(cli_os *os);

#endif
