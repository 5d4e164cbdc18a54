/* SPDX-License-Identifier: MIT */
/* gen.h - the conformance vector generator: deterministic from a seed,
 * vectors without outcomes, by category. A capture back end fills the
 * outcomes. Layout rules shared with the back ends: paging structures and
 * data frames live at or above GEN_PHYS_BASE, top-level slot
 * GEN_HARNESS_SLOT is never used, RAM is GEN_RAM_SIZE bytes at 0. */
#ifndef MMU_GEN_H_INCLUDED
#define MMU_GEN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "vector.h"

#define GEN_HARNESS_SLOT 1
#define GEN_PHYS_BASE 0x200000ull  /* below: the capture harness */
#define GEN_RAM_SIZE (64ull << 20) /* RAM every vector declares */
#define GEN_TABLES_BASE 0x400000ull  /* paging structures from here */
#define GEN_DATA_BASE 0x1000000ull   /* 16 MiB: data frames in RAM */

/* What a source can show; the generator emits only vectors it can run. */
enum {
  GEN_CAP_1G = 1u << 0,       /* 1 GiB pages */
  GEN_CAP_PKU = 1u << 1,      /* CR4.PKE and PKRU */
  GEN_CAP_LA57 = 1u << 2,     /* 5-level paging */
  GEN_CAP_IMPLICIT = 1u << 3, /* implicit supervisor reads */
  GEN_CAP_SMAP = 1u << 4,     /* CR4.SMAP/SMEP */
  GEN_CAP_MAXPHY = 1u << 5,   /* MAXPHYADDR below 52 can be set */
  GEN_CAP_MMIO = 1u << 6,     /* sees where accesses outside RAM go */
  GEN_CAP_NOPAGING = 1u << 7, /* runs steps with paging off */
  GEN_CAP_PAGING32 = 1u << 8, /* runs steps under 32-bit paging */
  GEN_CAP_PAE = 1u << 9,      /* runs steps under PAE paging */
  GEN_CAP_PCID = 1u << 10,    /* CR4.PCIDE, PCIDs and INVPCID */
  GEN_CAP_PHYS40 = 1u << 11,  /* MAXPHYADDR is 40 and cannot be set */
  GEN_CAP_EPT = 1u << 12,     /* runs a guest under EPT (VMX) */
  GEN_CAP_NPT = 1u << 13      /* runs a guest under nested paging (SVM) */
};

/* Nested vectors (categories ept, npt; SPEC 10, 8.1): RAM is host-physical;
 * the guest runs at CPL 0 with paging off or 32-bit paging (PAE: below).
 * The harness
 * keeps host RAM [GEN_PHYS_BASE, GEN_TABLES_BASE) for its VMX/SVM pages
 * and nested tables, guest-physical [GEN_NESTED_HOLE, 4 GiB) (entry 3 of
 * the PDPT that nested entry 0 references) and guest-linear
 * [GEN_NESTED_LINEAR_TOP, 4 GiB) (the guest's PDEs 1022 and 1023) for the
 * code that makes each access (at GEN_NESTED_STUB, linear = gpa); nested
 * entry 0 and that PDPT are always there, and the guest's top-level table
 * is always reachable through the nested tables. */
#define GEN_NESTED_HOLE 0xC0000000ull
#define GEN_NESTED_LINEAR_TOP 0xFF800000ull
#define GEN_NESTED_STUB 0xFFFFF000ull

/* Nested PAE vectors (categories ept-pae, npt-pae): the same second
 * dimension and harness RAM, a CPL-0 guest with CR0.PG, CR4.PAE and its
 * own EFER (NXE or not). Its PDPT (CR3, 32-byte aligned) lies in a page
 * mapped gpa = hpa with every right, A and D, since the harness's own
 * walk reads PDPTE 3 there under NPT (and under EPT the harness loads
 * PDPTEs 0..2 as the vector's RAM holds them at CR3, with its PDPTE 3,
 * into the VMCS's guest PDPTE fields). PDPTE 3 (linear [3 GiB, 4 GiB))
 * is the harness's: the vector never lists it, and its linear addresses
 * lie in [0, 3 GiB) (PDPTEs 0..2; the nested harness keeps no low linear
 * addresses). Under EPT no present PDPTE has a reserved bit (VM entry
 * would fail); under NPT PDPTEs are read from memory on every walk, so
 * a reserved bit is a #PF with RSVD. */

/* Vectors in the modes before IA-32e leave the low linear addresses to the
 * harness: with 32-bit paging PDEs 0..15 ([0, 64 MiB)), with PAE paging
 * PDPTE 0 ([0, 1 GiB)); their addresses lie above. */
#define GEN_LEGACY32_LOW (64ull << 20)
#define GEN_PAE_LOW (1ull << 30)

typedef struct gen_category {
  const char *name;    /* dotted prefix of the vectors' categories */
  unsigned needs;      /* GEN_CAP_* the category cannot do without */
  const char *summary; /* one line, for --list */
} gen_category;

/* The categories, in a fixed order; *count receives their number. */
const gen_category *gen_categories(size_t *count);

/* Fill v with vector number index of a category (ids are
 * "<prefix>-<category>-<index>"), given the source's capabilities. Returns
 * 1 if a vector was made, 0 if the category has no more vectors (or none
 * for these capabilities). Same (category, seed, index, caps) -> same
 * vector, always. */
int gen_vector(const char *category, uint64_t seed, uint64_t index,
               unsigned caps, const char *id_prefix, vec_vector *v);

/* Enumerations: categories too large to check in as text ("access-all",
 * every legal combination of access.c's dimensions). Vector index of an
 * enumeration is a mixed-radix number over its dimensions; count is the
 * number of vectors for these capabilities (0: no such enumeration). */
uint64_t gen_enumeration_count(const char *name, unsigned caps);
int gen_enumerated(const char *name, uint64_t index, unsigned caps,
                   const char *prefix, vec_vector *v);

#endif
