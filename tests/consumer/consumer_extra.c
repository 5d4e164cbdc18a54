/* SPDX-License-Identifier: MIT */
/* consumer_extra.c - a second translation unit that includes the single
 * header WITHOUT MMU_IMPLEMENTATION (twice), to prove the declarations and
 * the inline hit path can live in any number of files next to the one that
 * holds the implementation. */
#include "mmu.h"
#include "mmu.h"

#include <stdio.h>

int consumer_extra_check(mmu_cpu *cpu, uint64_t vaddr, uint64_t want_paddr);

int consumer_extra_check(mmu_cpu *cpu, uint64_t vaddr, uint64_t want_paddr) {
  mmu_result res;
  int rc = mmu_translate(cpu, vaddr, MMU_READ, &res);
  if (rc != MMU_OK || res.paddr != want_paddr) {
    fprintf(stderr, "consumer_extra: translate gave %s, paddr %#llx\n",
            mmu_status_name(rc), (unsigned long long)res.paddr);
    return 1;
  }
  return 0;
}
