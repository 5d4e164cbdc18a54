/* SPDX-License-Identifier: MIT */
/* selftest.h - what the sources' self-tests (kvm_selftest.c,
 * qemu_selftest.c) share: building hand-made vectors (page tables from
 * ST_TABLES up, 64 MiB of RAM), printing and checking what a source did
 * with them, and the parts of random single-access vectors both draw. */
#ifndef CAPTURE_SELFTEST_H_INCLUDED
#define CAPTURE_SELFTEST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "../../include/mmu.h"
#include "../vector.h"

#define ST_RAM (64ull << 20)
#define ST_TABLES 0x300000ull /* page tables are allocated from here */
#define ST_UP (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U) /* upper-level flags */
#define ST_CR0 (MMU_CR0_PE | MMU_CR0_WP | MMU_CR0_PG | 0x10)

typedef struct st_builder {
  vec_vector *v;
  uint64_t next; /* next free table page */
} st_builder;

/* v: long mode (5-level with la57), CR3 at ST_TABLES, no entries, no
 * steps. */
void st_vinit(st_builder *b, vec_vector *v, const char *id, int la57);
/* The entry at gpa, added (zero) if v has none there yet. */
uint64_t *st_entry(st_builder *b, uint64_t gpa);
/* Maps va with a leaf at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB): upper
 * entries get `upper` flags, the leaf `leaf | pa`. Returns the leaf's gpa. */
uint64_t st_map(st_builder *b, uint64_t va, int level, uint64_t pa,
                uint64_t leaf, uint64_t upper);
vec_step *st_step(vec_vector *v, vec_op op);
vec_step *st_access(vec_vector *v, unsigned kind, uint64_t va);

vec_outcome st_ok(uint64_t pa);
vec_outcome st_pf(uint32_t ec, uint64_t cr2);
vec_outcome st_gp(void);
void st_outcome_text(const vec_outcome *o, char *buf, size_t n);

/* Prints v's access steps (" kind va: outcome", each on its own line after
 * the first, and the entries each changed); returns the last one, or
 * NULL. */
const vec_step *st_print_accesses(const vec_vector *v);
/* Does st show want (its kind, and error code and pa/cr2 unless #GP) and,
 * unless want_ad < 0, that many changed entries? */
int st_matches(const vec_step *st, const vec_outcome *want, int want_ad);

/* Counts o as OK, PF or anything else (GP). */
void st_tally(const vec_outcome *o, unsigned *ok, unsigned *pf, unsigned *gp);

/* ---- random vectors ----------------------------------------------------- */

uint64_t st_rnd(void); /* xorshift*, the same sequence every run */
double st_now(void);   /* seconds, monotonic */
/* NXE, WP, SMEP, SMAP at random (in that order). */
void st_random_controls(vec_vector *v);
/* A canonical address outside the harness's slot, random offset. */
uint64_t st_random_va(int la57);
/* Random W/U/A (and D for the leaf), then XD (with NXE), then P. */
void st_random_flags(uint64_t *upper, uint64_t *leaf, int nxe);

#endif
