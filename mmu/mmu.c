/* SPDX-License-Identifier: MIT */
/* mmu.c - the whole library as one translation unit.
 *
 * include/mmu.h pulls in mmu/internal.h and every implementation file of
 * mmu/ when MMU_IMPLEMENTATION is defined; this is the only file the build
 * compiles for the library (see CMakeLists.txt). */
#define MMU_IMPLEMENTATION
#include "../include/mmu.h"
