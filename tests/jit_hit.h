/* SPDX-License-Identifier: MIT */
/* jit_hit.h - the inline hit a JIT emits (SPEC.md 5.8), written from the
 * byte offsets of mmu.h alone: no struct field is named, so this is what
 * generated code sees. Shared by tests/test_jit.c and the fuzz targets. */
#ifndef MMU_TESTS_JIT_HIT_H_INCLUDED
#define MMU_TESTS_JIT_HIT_H_INCLUDED

#include <stdint.h>
#include <string.h>

#include "mmu.h"

typedef struct jit_out {
  uint64_t host, paddr, page_size;
} jit_out;

/* 1 with host, paddr and page size when the front lets an access of
 * `size` bytes at vaddr go ahead with no walk, else 0. Comparing the page
 * of the last byte makes a page-crossing access miss. */
static inline int jit_hit(const void *cpu, uint64_t vaddr, unsigned access,
                          unsigned size, jit_out *o) {
  const uint8_t *c = (const uint8_t *)cpu;
  const uint8_t *table;
  uint64_t mask, cmp, add;
  memcpy(&table, c + MMU_CPU_FRONT_OFFSET + 8 * ((access >> 2) & 1),
         sizeof table);
  memcpy(&mask, c + MMU_CPU_FRONT_INDEX_MASK_OFFSET, 8);
  const uint8_t *e = table + ((vaddr >> MMU_FRONT_INDEX_SHIFT) & mask);
  memcpy(&cmp, e + MMU_FRONT_CMP_OFFSET + 8 * (access & 3), 8);
  if (cmp != ((vaddr + size - 1) & ~0xFFFull))
    return 0;
  memcpy(&add, e + MMU_FRONT_HOST_ADD_OFFSET, 8);
  o->host = vaddr + add;
  memcpy(&add, e + MMU_FRONT_PHYS_ADD_OFFSET, 8);
  o->paddr = vaddr + add;
  memcpy(&o->page_size, e + MMU_FRONT_PAGE_SIZE_OFFSET, 8);
  return 1;
}

#endif
