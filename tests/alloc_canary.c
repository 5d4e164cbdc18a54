/* SPDX-License-Identifier: MIT */
/* alloc_canary.c - deliberately allocates. Built into a small static library
 * only so that the no_allocation test can prove its nm check flags a heap
 * call when there is one (see tools/check_no_alloc.sh). Never linked into
 * anything. */
#include <stdlib.h>

void *mmu_alloc_canary(size_t n);

void *mmu_alloc_canary(size_t n) { return malloc(n); }
