/* SPDX-License-Identifier: MIT */
/* vector.h - conformance vectors in memory, and their text form.
 *
 * A vector is a starting CPU state, the paging-structure entries in guest
 * RAM, and a short sequence of steps (accesses, entry rewrites,
 * invalidations, register writes), each access with its outcome. The text
 * format is specified in SPEC.md section 8; vector.c reads and writes it
 * without allocating (fixed-size arrays below). */
#ifndef MMU_VECTOR_H_INCLUDED
#define MMU_VECTOR_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define VEC_MAX_PTES 64
#define VEC_MAX_STEPS 16
#define VEC_MAX_AD 40 /* entries changed by one step (a 2D walk: 35) */
#define VEC_MAX_TEXT 96
#define VEC_MAX_RAM (1ull << 32) /* largest RAM a vector may declare */

typedef enum vec_op {
  VEC_ACCESS = 1, /* translate: kind + va, outcome */
  VEC_SET_PTE,    /* write value at gpa (a = gpa, b = value) */
  VEC_INVLPG,     /* a = va */
  VEC_INVPCID,    /* a = type, b = pcid, c = va */
  VEC_CR0,        /* a = value (also CR3, CR4, EFER, PKRU, CPL, AC) */
  VEC_CR3,
  VEC_CR4,
  VEC_EFER,
  VEC_PKRU,
  VEC_CPL,
  VEC_AC
} vec_op;

typedef enum vec_outcome_kind {
  VEC_OUT_NONE = 0, /* not captured yet */
  VEC_OUT_OK,       /* translated to pa */
  VEC_OUT_PF,       /* #PF with error code and cr2 */
  VEC_OUT_GP,       /* #GP(0) */
  /* nested paging's exits (SPEC 10): gpa the address that failed */
  VEC_OUT_EPT_VIOLATION, /* qual: the exit qualification */
  VEC_OUT_EPT_MISCONFIG,
  VEC_OUT_NPF            /* qual: EXITINFO1 */
} vec_outcome_kind;

typedef struct vec_outcome {
  vec_outcome_kind kind;
  uint32_t error_code;
  uint64_t pa_or_cr2; /* pa for OK, cr2 for PF */
  uint64_t qual, gpa; /* the nested exits' */
} vec_outcome;

typedef struct vec_ad { /* an entry whose value this step changed */
  uint64_t gpa;
  uint64_t value; /* value after the step */
} vec_ad;

typedef struct vec_step {
  vec_op op;
  unsigned access; /* MMU_READ/WRITE/FETCH | MMU_IMPLICIT, for VEC_ACCESS */
  uint64_t a, b, c;
  vec_outcome expect;   /* the SDM's outcome: what the library must give */
  vec_outcome observed; /* the source's, when it departs (see departs) */
  uint32_t ad_count;
  vec_ad ad[VEC_MAX_AD];
} vec_step;

typedef struct vec_pte {
  uint64_t gpa, value;
} vec_pte;

typedef struct vec_vector {
  char id[VEC_MAX_TEXT];
  char category[VEC_MAX_TEXT];
  char departs[VEC_MAX_TEXT]; /* empty unless the source departs from SDM */
  /* config */
  uint32_t maxphyaddr;
  uint32_t flags; /* MMU_CFG_* (NO_1G_PAGES, AD_ON_FAULT_UPPER, AMD) */
  uint64_t ram_size; /* RAM is [0, ram_size) */
  /* registers before the first step */
  uint64_t cr0, cr3, cr4, efer;
  uint32_t pkru;
  uint32_t cpl, ac;
  /* nested paging (mmu_set_nested), off unless a 'nested' line says */
  uint32_t nested_kind;  /* MMU_NESTED_OFF, _EPT or _NPT */
  uint32_t nested_flags; /* MMU_NESTED_* flags */
  uint64_t nested_root;  /* EPTP or nCR3 */
  uint32_t pte_count;
  vec_pte pte[VEC_MAX_PTES];
  uint32_t step_count;
  vec_step step[VEC_MAX_STEPS];
} vec_vector;

/* ---- text form ---------------------------------------------------------- */

enum { VEC_OK = 1, VEC_EOF = 0, VEC_ERROR = -1 };

typedef struct vec_reader {
  const char *text;
  size_t len, pos;
  unsigned long line;  /* last line read, 1-based */
  unsigned long vector_line; /* line of the last vector's 'vector' line */
  unsigned long count; /* vectors read so far */
  int seen_header;
  char source[VEC_MAX_TEXT]; /* the file's 'source' line */
  char error[160];           /* "line N: ..." after VEC_ERROR */
} vec_reader;

/* Read vectors one at a time from a buffer (need not be NUL-terminated).
 * vec_read returns VEC_OK with *v filled, VEC_EOF, or VEC_ERROR with
 * r->error set; after an error the reader must not be used again. */
void vec_reader_init(vec_reader *r, const char *text, size_t len);
int vec_read(vec_reader *r, vec_vector *v);
/* r->error without its "line N: " prefix, for "file:line: ..." reports. */
const char *vec_error_text(const vec_reader *r);

/* Write one vector in the text form (the file header is the caller's). */
#include <stdio.h>
void vec_write(FILE *f, const vec_vector *v);
const char *vec_access_name(unsigned access);

/* A translation's status and result as a step's outcome (VEC_OUT_NONE for
 * a status no outcome names), whether a result is an outcome, and an
 * outcome in the text form ("ok 0x1000", "pf 0x2 cr2=0x..", ...). */
struct mmu_result;
vec_outcome vec_outcome_of(int status, const struct mmu_result *r);
int vec_outcome_matches(const vec_outcome *o, int status,
                        const struct mmu_result *r);
void vec_outcome_text(char *buf, size_t n, const vec_outcome *o);

#endif
