/* SPDX-License-Identifier: MIT */
/* selftest.c - see selftest.h. */
#define _GNU_SOURCE
#include "selftest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guest/layout.h"

void st_vinit(st_builder *b, vec_vector *v, const char *id, int la57) {
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", id);
  snprintf(v->category, sizeof v->category, "selftest");
  v->maxphyaddr = 52;
  v->ram_size = ST_RAM;
  v->cr0 = ST_CR0;
  v->cr4 = MMU_CR4_PAE | (la57 ? MMU_CR4_LA57 : 0);
  v->efer = MMU_EFER_LME | MMU_EFER_LMA;
  v->cr3 = ST_TABLES;
  b->v = v;
  b->next = ST_TABLES + 0x1000;
}

uint64_t *st_entry(st_builder *b, uint64_t gpa) {
  vec_vector *v = b->v;
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == gpa)
      return &v->pte[i].value;
  if (v->pte_count >= VEC_MAX_PTES) {
    fprintf(stderr, "too many entries\n");
    exit(2);
  }
  v->pte[v->pte_count].gpa = gpa;
  v->pte[v->pte_count].value = 0;
  return &v->pte[v->pte_count++].value;
}

uint64_t st_map(st_builder *b, uint64_t va, int level, uint64_t pa,
                uint64_t leaf, uint64_t upper) {
  int top = (b->v->cr4 & MMU_CR4_LA57) ? 5 : 4;
  uint64_t table = b->v->cr3 & ~0xfffull;
  for (int l = top; l > level; l--) {
    uint64_t gpa = table + 8 * ((va >> (12 + 9 * (l - 1))) & 511);
    uint64_t *e = st_entry(b, gpa);
    if (!*e) {
      *e = b->next | upper;
      b->next += 0x1000;
    }
    table = *e & 0x000ffffffffff000ull;
  }
  uint64_t gpa = table + 8 * ((va >> (12 + 9 * (level - 1))) & 511);
  *st_entry(b, gpa) = pa | leaf | (level > 1 ? MMU_PTE_PS : 0);
  return gpa;
}

vec_step *st_step(vec_vector *v, vec_op op) {
  vec_step *s = &v->step[v->step_count++];
  memset(s, 0, sizeof *s);
  s->op = op;
  return s;
}

vec_step *st_access(vec_vector *v, unsigned kind, uint64_t va) {
  vec_step *s = st_step(v, VEC_ACCESS);
  s->access = kind;
  s->a = va;
  return s;
}

vec_outcome st_ok(uint64_t pa) {
  vec_outcome o = {VEC_OUT_OK, 0, pa, 0, 0};
  return o;
}

vec_outcome st_pf(uint32_t ec, uint64_t cr2) {
  vec_outcome o = {VEC_OUT_PF, ec, cr2, 0, 0};
  return o;
}

vec_outcome st_gp(void) {
  vec_outcome o = {VEC_OUT_GP, 0, 0, 0, 0};
  return o;
}

void st_outcome_text(const vec_outcome *o, char *buf, size_t n) {
  switch (o->kind) {
  case VEC_OUT_OK:
    snprintf(buf, n, "OK pa=%#" PRIx64, o->pa_or_cr2);
    break;
  case VEC_OUT_PF:
    snprintf(buf, n, "PF ec=%#x cr2=%#" PRIx64, o->error_code, o->pa_or_cr2);
    break;
  case VEC_OUT_GP:
    snprintf(buf, n, "GP");
    break;
  default:
    snprintf(buf, n, "none");
  }
}

const vec_step *st_print_accesses(const vec_vector *v) {
  const vec_step *last = NULL;
  for (uint32_t i = 0; i < v->step_count; i++) {
    const vec_step *s = &v->step[i];
    if (s->op != VEC_ACCESS)
      continue;
    char got[96];
    st_outcome_text(&s->expect, got, sizeof got);
    printf("%s%s %#" PRIx64 ": %s", last ? "\n  ... " : " ",
           vec_access_name(s->access), s->a, got);
    for (uint32_t j = 0; j < s->ad_count; j++)
      printf("\n      changed %#" PRIx64 " -> %#" PRIx64, s->ad[j].gpa,
             s->ad[j].value);
    last = s;
  }
  return last;
}

int st_matches(const vec_step *st, const vec_outcome *want, int want_ad) {
  return st && st->expect.kind == want->kind &&
         (want->kind == VEC_OUT_GP ||
          (st->expect.pa_or_cr2 == want->pa_or_cr2 &&
           (want->kind != VEC_OUT_PF ||
            st->expect.error_code == want->error_code))) &&
         (want_ad < 0 || (int)st->ad_count == want_ad);
}

void st_tally(const vec_outcome *o, unsigned *ok, unsigned *pf, unsigned *gp) {
  if (o->kind == VEC_OUT_OK)
    ++*ok;
  else if (o->kind == VEC_OUT_PF)
    ++*pf;
  else
    ++*gp;
}

/* ---- random vectors ----------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t st_rnd(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545f4914f6cdd1dull;
}

double st_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void st_random_controls(vec_vector *v) {
  if (st_rnd() & 1)
    v->efer |= MMU_EFER_NXE;
  if (st_rnd() & 1)
    v->cr0 &= ~MMU_CR0_WP;
  if ((st_rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMEP;
  if ((st_rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMAP;
}

uint64_t st_random_va(int la57) {
  uint64_t va;
  do {
    va = st_rnd() & (la57 ? 0x00fffffffffff000ull : 0x0000fffffffff000ull);
    if (la57 ? (va >> 56) & 1 : (va >> 47) & 1)
      va |= la57 ? 0xff00000000000000ull : 0xffff000000000000ull;
  } while (((va >> (la57 ? 48 : 39)) & 511) == CAPTURE_HARNESS_SLOT);
  return va | (st_rnd() & 0xfff);
}

void st_random_flags(uint64_t *upper, uint64_t *leaf, int nxe) {
  static const uint64_t bits[] = {MMU_PTE_W, MMU_PTE_U, MMU_PTE_A, MMU_PTE_D};
  *upper = MMU_PTE_P;
  *leaf = MMU_PTE_P;
  for (int i = 0; i < 4; i++) {
    if (st_rnd() % 8)
      *upper |= bits[i] & ~MMU_PTE_D;
    if (st_rnd() % 4)
      *leaf |= bits[i];
  }
  if (nxe && (st_rnd() & 3) == 0)
    *leaf |= MMU_PTE_XD;
  if ((st_rnd() & 15) == 0)
    *leaf &= ~MMU_PTE_P;
}
