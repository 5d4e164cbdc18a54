/* SPDX-License-Identifier: MIT */
/* qemu_selftest.c - runs hand-built vectors through the QEMU TCG capture
 * back end, prints what QEMU did, checks it against what the SDM says and
 * against the library (conformance/check.c: the reference walker, with the
 * flags the back end set), then measures vectors/second on a batch of
 * random single-access vectors and counts where QEMU and the library
 * disagree.
 *
 * usage: qemu_selftest [random-vector-count]   (default 4000; 0 skips) */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "mmu.h"
#include "qemu.h"

#define RAM (64ull << 20)
#define TABLES 0x300000ull /* page tables are allocated from here */
#define DATA 0x2000000ull  /* 4 KiB frames at 32 MiB and above */
#define UP (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U) /* upper-level flags */
#define NHAND 48

static const uint64_t CR0 = MMU_CR0_PE | MMU_CR0_WP | MMU_CR0_PG | 0x10;
static const uint64_t EFER = MMU_EFER_LME | MMU_EFER_LMA;

typedef struct builder {
  vec_vector *v;
  uint64_t next; /* next free table page */
} builder;

static void vinit(builder *b, vec_vector *v, const char *id, int la57) {
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", id);
  snprintf(v->category, sizeof v->category, "selftest");
  v->maxphyaddr = 52;
  v->ram_size = RAM;
  v->cr0 = CR0;
  v->cr4 = MMU_CR4_PAE | (la57 ? MMU_CR4_LA57 : 0);
  v->efer = EFER;
  v->cr3 = TABLES;
  b->v = v;
  b->next = TABLES + 0x1000;
}

static uint64_t *entry(builder *b, uint64_t gpa) {
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

/* Map va with a leaf at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB): upper
 * entries get `upper` flags, the leaf `leaf | pa`. Returns the leaf's gpa. */
static uint64_t map(builder *b, uint64_t va, int level, uint64_t pa,
                    uint64_t leaf, uint64_t upper) {
  int top = (b->v->cr4 & MMU_CR4_LA57) ? 5 : 4;
  uint64_t table = b->v->cr3 & ~0xfffull;
  for (int l = top; l > level; l--) {
    uint64_t gpa = table + 8 * ((va >> (12 + 9 * (l - 1))) & 511);
    uint64_t *e = entry(b, gpa);
    if (!*e) {
      *e = b->next | upper;
      b->next += 0x1000;
    }
    table = *e & 0x000ffffffffff000ull;
  }
  uint64_t gpa = table + 8 * ((va >> (12 + 9 * (level - 1))) & 511);
  *entry(b, gpa) = pa | leaf | (level > 1 ? MMU_PTE_PS : 0);
  return gpa;
}

static vec_step *step(vec_vector *v, vec_op op) {
  vec_step *s = &v->step[v->step_count++];
  memset(s, 0, sizeof *s);
  s->op = op;
  return s;
}

static vec_step *access(vec_vector *v, unsigned kind, uint64_t va) {
  vec_step *s = step(v, VEC_ACCESS);
  s->access = kind;
  s->a = va;
  return s;
}

static void print_outcome(const vec_outcome *o, char *buf, size_t n) {
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

static vec_outcome OK(uint64_t pa) {
  vec_outcome o = {VEC_OUT_OK, 0, pa};
  return o;
}
static vec_outcome PF(uint32_t ec, uint64_t cr2) {
  vec_outcome o = {VEC_OUT_PF, ec, cr2};
  return o;
}
static vec_outcome GP(void) {
  vec_outcome o = {VEC_OUT_GP, 0, 0};
  return o;
}

/* the hand vectors, with what the SDM says for the last access */
static vec_vector hv[NHAND];
static vec_outcome hwant[NHAND];
static int hwant_ad[NHAND];   /* entries changed by the last access; -1 any */
static const char *hnote[NHAND];
static int nh;

static check_ctx cctx;

static vec_vector *hnew(builder *b, const char *id, int la57) {
  vinit(b, &hv[nh], id, la57);
  hwant_ad[nh] = -1;
  hnote[nh] = NULL;
  return &hv[nh];
}
static void hdone(vec_outcome w, int want_ad, const char *note) {
  hwant[nh] = w;
  hwant_ad[nh] = want_ad;
  hnote[nh] = note;
  nh++;
}

static void build_hand(void) {
  builder b;
  vec_vector *v;
  const uint64_t va = 0x00007f1234567000ull + 0x123;
  const uint64_t leafp = MMU_PTE_P | MMU_PTE_W;

  v = hnew(&b, "4k-read-ok", 0);
  map(&b, va, 1, DATA, leafp, UP);
  access(v, MMU_READ, va);
  hdone(OK(DATA + 0x123), 4, NULL);

  v = hnew(&b, "4k-write-ok+D", 0);
  map(&b, va, 1, DATA + 0x1000, leafp, UP);
  access(v, MMU_WRITE, va);
  hdone(OK(DATA + 0x1123), 4, NULL);

  v = hnew(&b, "user-write-readonly-pf7", 0);
  map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U, UP);
  v->cpl = 3;
  access(v, MMU_WRITE, va);
  hdone(PF(7, va), -1, "QEMU sets A in the upper levels of a faulting walk");

  v = hnew(&b, "user-fetch-nx-pf15", 0);
  v->efer |= MMU_EFER_NXE;
  map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U | MMU_PTE_XD, UP);
  v->cpl = 3;
  access(v, MMU_FETCH, va);
  hdone(PF(0x15, va), -1, NULL);

  v = hnew(&b, "user-fetch-ok", 0);
  v->efer |= MMU_EFER_NXE;
  map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, UP);
  v->cpl = 3;
  access(v, MMU_FETCH, va);
  hdone(OK(DATA + 0x2123), 4, NULL);

  {
    /* 1 GiB page at frame 0: offset 0x3456789 lies in RAM */
    const uint64_t va1g = 0x0000004000000000ull + 0x3456789;
    v = hnew(&b, "1g-read-ok", 0);
    map(&b, va1g, 3, 0, leafp, UP);
    access(v, MMU_READ, va1g);
    hdone(OK(0x3456789), 2, NULL);

    v = hnew(&b, "1g-no-pdpe1gb-rsvd-pf9", 0);
    v->flags = MMU_CFG_NO_1G_PAGES;
    map(&b, va1g, 3, 0, leafp, UP);
    access(v, MMU_READ, va1g);
    hdone(PF(9, va1g), -1, "run with -cpu max,pdpe1gb=off");

    v = hnew(&b, "1g-rsvd-bit13-pf9", 0);
    map(&b, va1g, 3, 1ull << 13, leafp, UP);
    access(v, MMU_READ, va1g);
    hdone(PF(9, va1g), -1, NULL);
  }

  {
    const uint64_t va1g = 0x0000004000000000ull + 0x3456789;
    v = hnew(&b, "1g-user-write-readonly-pf7", 0);
    map(&b, va1g, 3, 0, MMU_PTE_P | MMU_PTE_U, UP);
    v->cpl = 3;
    access(v, MMU_WRITE, va1g);
    hdone(PF(7, va1g), -1, "does the faulting walk set A in the 1 GiB leaf?");
  }

  v = hnew(&b, "2m-user-write-readonly-pf7", 0);
  map(&b, va, 2, 0x1000000, MMU_PTE_P | MMU_PTE_U, UP);
  v->cpl = 3;
  access(v, MMU_WRITE, va);
  hdone(PF(7, va), -1, "does the faulting walk set A in the 2 MiB leaf?");

  v = hnew(&b, "2m-read-ok", 0);
  map(&b, va, 2, 0x1000000, leafp, UP);
  access(v, MMU_READ, va);
  hdone(OK(0x1000000 + (va & 0x1fffff)), 3, NULL);

  v = hnew(&b, "2m-write-ok+D", 0);
  map(&b, va, 2, 0x1200000, leafp, UP);
  access(v, MMU_WRITE, va);
  hdone(OK(0x1200000 + (va & 0x1fffff)), 3, NULL);

  {
    const uint64_t va57 = 0x0003000012345000ull + 0x42;
    v = hnew(&b, "la57-read-ok", 1);
    map(&b, va57, 1, DATA + 0x3000, leafp, UP);
    access(v, MMU_READ, va57);
    hdone(OK(DATA + 0x3042), 5, NULL);

    const uint64_t va57k = 0xff80000012345000ull + 0x42; /* kernel half */
    v = hnew(&b, "la57-user-read-np-pf4", 1);
    map(&b, va57k, 1, DATA + 0x3000, leafp | MMU_PTE_U, UP);
    v->cpl = 3;
    access(v, MMU_READ, va57k + 0x1000);
    hdone(PF(4, va57k + 0x1000), -1, NULL);

    v = hnew(&b, "la57-noncanonical-gp", 1);
    map(&b, va57, 1, DATA + 0x3000, leafp, UP);
    access(v, MMU_READ, 0x0100000000000000ull);
    hdone(GP(), 0, NULL);
  }

  v = hnew(&b, "pku-ad-user-read-pf25", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2; /* AD for key 1 */
  map(&b, va, 1, DATA, leafp | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), UP);
  v->cpl = 3;
  access(v, MMU_READ, va);
  hdone(PF(0x25, va), -1, NULL);

  v = hnew(&b, "pku-wd-user-write-pf27", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 2u << 4; /* WD for key 2 */
  map(&b, va, 1, DATA, leafp | MMU_PTE_U | (2ull << MMU_PTE_PKEY_SHIFT), UP);
  v->cpl = 3;
  access(v, MMU_WRITE, va);
  hdone(PF(0x27, va), -1, NULL);

  v = hnew(&b, "pku-wd-user-read-ok", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 2u << 4;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U | (2ull << MMU_PTE_PKEY_SHIFT), UP);
  v->cpl = 3;
  access(v, MMU_READ, va);
  hdone(OK(DATA + 0x123), 4, NULL);

  v = hnew(&b, "pku-ad-sup-read-user-page-pf21", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), UP);
  access(v, MMU_READ, va);
  hdone(PF(0x21, va), -1, NULL);

  v = hnew(&b, "pku-ad+readonly-user-write-pf27", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT),
      UP);
  v->cpl = 3;
  access(v, MMU_WRITE, va);
  hdone(PF(0x27, va), -1, "SDM/library: PK set even when R/W denies too");

  v = hnew(&b, "pku-ad-user-fetch-ok", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  map(&b, va, 1, DATA + 0x2000,
      MMU_PTE_P | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), UP);
  v->cpl = 3;
  access(v, MMU_FETCH, va);
  hdone(OK(DATA + 0x2123), 4, "keys never apply to fetches");

  v = hnew(&b, "smap-ac0-sup-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U, UP);
  access(v, MMU_READ, va);
  hdone(PF(1, va), -1, NULL);

  v = hnew(&b, "smap-ac1-sup-read-user-ok", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->ac = 1;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U, UP);
  access(v, MMU_READ, va);
  hdone(OK(DATA + 0x123), 4, NULL);

  v = hnew(&b, "smap-ac1-implicit-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->ac = 1;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U, UP);
  access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(PF(1, va - 0x123), -1, "implicit accesses ignore AC (SDM 4.6.1)");

  v = hnew(&b, "smap-cpl3-implicit-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->cpl = 3;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U, UP);
  access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(PF(1, va - 0x123), -1, NULL);

  v = hnew(&b, "smap-sup-fetch-user-ok", 0);
  v->cr4 |= MMU_CR4_SMAP;
  map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, UP);
  access(v, MMU_FETCH, va);
  hdone(OK(DATA + 0x2123), 4, "SMAP never applies to fetches");

  v = hnew(&b, "smep-sup-fetch-user-pf11", 0);
  v->cr4 |= MMU_CR4_SMEP;
  v->efer |= MMU_EFER_NXE;
  map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, UP);
  access(v, MMU_FETCH, va);
  hdone(PF(0x11, va), -1, NULL);

  v = hnew(&b, "smep-nxe0-sup-fetch-user-pf11", 0);
  v->cr4 |= MMU_CR4_SMEP;
  map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, UP);
  access(v, MMU_FETCH, va);
  hdone(PF(0x11, va), -1, "I/D set by SMEP alone");

  v = hnew(&b, "maxphy36-bit40-rsvd-pf9", 0);
  v->maxphyaddr = 36;
  map(&b, va, 1, (1ull << 40) | DATA, leafp, UP);
  access(v, MMU_READ, va);
  hdone(PF(9, va), -1, "run with phys-bits=36");

  v = hnew(&b, "maxphy40-pde-bit45-rsvd-pf9", 0);
  v->maxphyaddr = 40;
  {
    uint64_t leaf = map(&b, va, 1, DATA, leafp, UP);
    (void)leaf;
    /* the PDE (second-to-last entry written) gets bit 45 */
    v->pte[v->pte_count - 2].value |= 1ull << 45;
  }
  access(v, MMU_READ, va);
  hdone(PF(9, va), -1, NULL);

  v = hnew(&b, "cpl3-implicit-read-sup-ok", 0);
  map(&b, va, 1, DATA, leafp, UP);
  v->cpl = 3;
  access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(OK(DATA), 4, NULL);

  v = hnew(&b, "sup-write-wp0-readonly-ok+D", 0);
  v->cr0 &= ~MMU_CR0_WP;
  map(&b, va, 1, DATA + 0x1000, MMU_PTE_P, UP);
  access(v, MMU_WRITE, va);
  hdone(OK(DATA + 0x1123), 4, NULL);

  v = hnew(&b, "user-read-supervisor-pml4-pf5", 0);
  map(&b, va, 1, DATA, leafp | MMU_PTE_U, UP);
  v->pte[0].value &= ~MMU_PTE_U; /* the PML4E */
  v->cpl = 3;
  access(v, MMU_READ, va);
  hdone(PF(5, va), -1, "rights combine over all levels");

  v = hnew(&b, "set-pte-invlpg-then-read", 0);
  {
    uint64_t leaf = map(&b, va, 1, DATA, leafp, UP);
    access(v, MMU_READ, va);
    vec_step *s = step(v, VEC_SET_PTE);
    s->a = leaf;
    s->b = (DATA + 0x5000) | leafp;
    step(v, VEC_INVLPG)->a = va;
    access(v, MMU_READ, va);
    hdone(OK(DATA + 0x5123), 1, NULL);
  }

  v = hnew(&b, "cr0-wp-step-then-write", 0);
  map(&b, va, 1, DATA + 0x1000, MMU_PTE_P, UP);
  access(v, MMU_WRITE, va);
  step(v, VEC_CR0)->a = CR0 & ~MMU_CR0_WP;
  access(v, MMU_WRITE, va);
  hdone(OK(DATA + 0x1123), 1, "upper A bits were set by the faulting walk");

  v = hnew(&b, "pkru-step-then-read", 0);
  v->cr4 |= MMU_CR4_PKE;
  map(&b, va, 1, DATA, leafp | MMU_PTE_U | (3ull << MMU_PTE_PKEY_SHIFT), UP);
  v->cpl = 3;
  access(v, MMU_READ, va);
  step(v, VEC_PKRU)->a = 1u << 6; /* AD for key 3 */
  access(v, MMU_READ, va);
  hdone(PF(0x25, va), 0, NULL);
}

static int hand_vectors(capture_source *q) {
  int st[NHAND];
  int failures = 0, departures = 0;
  build_hand();
  int r = q->run(q, hv, (size_t)nh, st);
  if (r < 0) {
    printf("run: %d (%s)\n", r, qemu_cap_last_error(q));
    return 1;
  }
  for (int i = 0; i < nh; i++) {
    vec_vector *v = &hv[i];
    printf("%-36s", v->id);
    if (st[i] != 0) {
      printf(" status %d: %s\n", st[i], q->why(q, (size_t)i));
      failures++;
      continue;
    }
    int first = 1;
    vec_step *last = NULL;
    for (uint32_t k = 0; k < v->step_count; k++) {
      vec_step *s = &v->step[k];
      if (s->op != VEC_ACCESS)
        continue;
      last = s;
      char got[96];
      print_outcome(&s->expect, got, sizeof got);
      printf("%s%s %#" PRIx64 ": %s", first ? " " : "\n  ... ",
             vec_access_name(s->access), s->a, got);
      for (uint32_t j = 0; j < s->ad_count; j++)
        printf("\n      changed %#" PRIx64 " -> %#" PRIx64, s->ad[j].gpa,
               s->ad[j].value);
      first = 0;
    }
    const vec_outcome *w = &hwant[i];
    int ok = last && last->expect.kind == w->kind &&
             (w->kind == VEC_OUT_GP ||
              (last->expect.pa_or_cr2 == w->pa_or_cr2 &&
               (w->kind != VEC_OUT_PF ||
                last->expect.error_code == w->error_code))) &&
             (hwant_ad[i] < 0 || (int)last->ad_count == hwant_ad[i]);
    char ws[96];
    print_outcome(w, ws, sizeof ws);
    printf("\n  SDM: %s%s%s", ws, hnote[i] ? "  -- " : "",
           hnote[i] ? hnote[i] : "");
    printf("\n  -> %s", ok ? "as the SDM says" : "DEPARTS from the SDM");
    /* the library, given the flags the back end set */
    char msg[2048];
    int c = check_vector(&cctx, v, CHECK_REFERENCE, msg, sizeof msg);
    printf("; library (flags %#x): %s\n", v->flags,
           c == 1 ? "agrees" : c == 0 ? "DISAGREES" : "cannot run");
    if (c == 0)
      printf("%s\n", msg);
    if (!ok)
      departures++;
  }
  printf("\nhand vectors: %d run, %d not run (errors), %d departing from "
         "the SDM\n", nh - failures, failures, departures);
  return failures;
}

/* ---- random vectors ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545f4914f6cdd1dull;
}

static void random_vector(vec_vector *v, unsigned n) {
  builder b;
  char id[32];
  snprintf(id, sizeof id, "rand-%u", n);
  int la57 = (rnd() & 3) == 0;
  vinit(&b, v, id, la57);
  if (rnd() & 1)
    v->efer |= MMU_EFER_NXE;
  if (rnd() & 1)
    v->cr0 &= ~MMU_CR0_WP;
  if ((rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMEP;
  if ((rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMAP;
  if ((rnd() & 3) == 0) {
    v->cr4 |= MMU_CR4_PKE;
    v->pkru = (uint32_t)rnd();
  }
  if ((rnd() & 7) == 0)
    v->maxphyaddr = 40;
  v->cpl = (rnd() & 1) ? 3 : 0;
  v->ac = (rnd() & 3) == 0;
  int level = (rnd() & 3) == 0 ? 2 : (rnd() & 7) == 0 ? 3 : 1;
  uint64_t va;
  do {
    va = rnd() & (la57 ? 0x00fffffffffff000ull : 0x0000fffffffff000ull);
    if (la57 ? (va >> 56) & 1 : (va >> 47) & 1)
      va |= la57 ? 0xff00000000000000ull : 0xffff000000000000ull;
  } while (((va >> (la57 ? 48 : 39)) & 511) == 1);
  va |= rnd() & 0xfff;
  uint64_t pa;
  if (level == 3) {
    /* frame 0, offset in [32 MiB, 60 MiB) */
    va = (va & ~0x3fffffffull) | DATA | (rnd() & 0x1bfffff);
    pa = 0;
  } else if (level == 2) {
    pa = DATA + ((rnd() % 14) << 21);
  } else {
    pa = DATA + ((rnd() % 4096) << 12);
  }
  uint64_t flags_bits[] = {MMU_PTE_W, MMU_PTE_U, MMU_PTE_A, MMU_PTE_D};
  uint64_t upper = MMU_PTE_P, leaf = MMU_PTE_P;
  for (int i = 0; i < 4; i++) {
    if (rnd() % 8)
      upper |= flags_bits[i] & ~MMU_PTE_D;
    if (rnd() % 4)
      leaf |= flags_bits[i];
  }
  if ((v->efer & MMU_EFER_NXE) && (rnd() & 3) == 0)
    leaf |= MMU_PTE_XD;
  if ((rnd() & 15) == 0)
    leaf &= ~MMU_PTE_P;
  leaf |= (rnd() & 15) << MMU_PTE_PKEY_SHIFT;
  if ((rnd() & 15) == 0)
    leaf |= 1ull << (40 + rnd() % 12); /* reserved below MAXPHYADDR 52? */
  map(&b, va & ~0xfffull, level, pa, leaf, upper);
  unsigned kind = rnd() % 4;
  if (kind == 3) {
    kind = MMU_READ | MMU_IMPLICIT;
    va &= ~7ull;
  }
  access(v, kind, va);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  unsigned count = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4000;
  cctx.ram_capacity = RAM;
  cctx.ram = calloc(1, RAM);
  if (!cctx.ram) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  double t0 = now_s();
  capture_source *q = &capture_qemu;
  int e = q->open(q, RAM);
  if (e) {
    fprintf(stderr, "qemu open: %s (%s)\n", strerror(e), q->why(q, 0));
    q->close(q);
    free(cctx.ram);
    return 1;
  }
  char desc[1024];
  q->describe(q, desc, sizeof desc);
  printf("%s\nopen: %.3f s\n\n", desc, now_s() - t0);
  int failures = hand_vectors(q);

  if (count) {
    vec_vector *v = calloc(count, sizeof *v);
    int *st = calloc(count, sizeof *st);
    if (!v || !st) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    for (unsigned n = 0; n < count; n++)
      random_vector(&v[n], n);
    qemu_cap_stats s0;
    qemu_cap_get_stats(q, &s0);
    double t1 = now_s();
    int r = q->run(q, v, count, st);
    double dt = now_s() - t1;
    qemu_cap_stats s1;
    qemu_cap_get_stats(q, &s1);
    unsigned ok = 0, pf = 0, gp = 0, bad = 0, refused = 0, agree = 0,
             disagree = 0, shown_bad = 0;
    unsigned kinds[4] = {0, 0, 0, 0}, shown_kind[4] = {0, 0, 0, 0};
    static const char *const kind_names[4] = {
        "RSVD fault without P", "same outcome, A/D differ",
        "different outcome", "library cannot run it"};
    for (unsigned n = 0; n < count; n++) {
      if (st[n] != 0) {
        if (st[n] == -ENOTSUP || st[n] == -EINVAL || st[n] == -ERANGE)
          refused++;
        else
          bad++;
        if (shown_bad++ < 8)
          printf( "%s: %d %s\n", v[n].id, st[n],
                  q->why(q, n));
        continue;
      }
      switch (v[n].step[0].expect.kind) {
      case VEC_OUT_OK:
        ok++;
        break;
      case VEC_OUT_PF:
        pf++;
        break;
      default:
        gp++;
      }
      char msg[2048];
      int c = check_vector(&cctx, &v[n], CHECK_REFERENCE, msg, sizeof msg);
      if (c == 1) {
        agree++;
        continue;
      }
      disagree++;
      /* what kind of disagreement: the library's own outcome */
      static vec_vector lib;
      lib = v[n];
      if (check_fill(&cctx, &lib, CHECK_REFERENCE, msg, sizeof msg) != 1) {
        kinds[3]++;
        continue;
      }
      const vec_outcome *qo = &v[n].step[0].expect, *lo = &lib.step[0].expect;
      int k;
      if (qo->kind == VEC_OUT_PF && lo->kind == VEC_OUT_PF &&
          (qo->error_code ^ lo->error_code) == MMU_PFEC_P &&
          (qo->error_code & MMU_PFEC_RSVD))
        k = 0; /* RSVD fault without P */
      else if (qo->kind == lo->kind && qo->error_code == lo->error_code &&
               qo->pa_or_cr2 == lo->pa_or_cr2)
        k = 1; /* same outcome, entries differ */
      else
        k = 2;
      kinds[k]++;
      if (shown_kind[k]++ < (getenv("SHOW_ALL") ? 1000u : 2u)) {
        char a[96], b2[96];
        print_outcome(qo, a, sizeof a);
        print_outcome(lo, b2, sizeof b2);
        printf("disagreement (%s) %s: %s %#" PRIx64 ": QEMU %s, library %s\n",
               kind_names[k], v[n].id, vec_access_name(v[n].step[0].access),
               v[n].step[0].a, a, b2);
        for (uint32_t j = 0; j < v[n].pte_count; j++)
          printf("    pte %#" PRIx64 " %#" PRIx64 "\n", v[n].pte[j].gpa,
                 v[n].pte[j].value);
        printf("    regs cr0=%#" PRIx64 " cr4=%#" PRIx64 " efer=%#" PRIx64
               " pkru=%#x cpl=%u ac=%u maxphyaddr=%u\n", v[n].cr0, v[n].cr4,
               v[n].efer, v[n].pkru, v[n].cpl, v[n].ac, v[n].maxphyaddr);
        for (uint32_t j = 0; j < v[n].step[0].ad_count; j++)
          printf("    QEMU changed %#" PRIx64 " -> %#" PRIx64 "\n",
                 v[n].step[0].ad[j].gpa, v[n].step[0].ad[j].value);
        for (uint32_t j = 0; j < lib.step[0].ad_count; j++)
          printf("    library changes %#" PRIx64 " -> %#" PRIx64 "\n",
                 lib.step[0].ad[j].gpa, lib.step[0].ad[j].value);
      }
    }
    printf("random: %u vectors in %.2f s = %.0f vectors/s (captured %d: OK "
           "%u, PF %u, GP %u; refused %u, failed %u; boots %" PRIu64
           " (%.2f s), chunks %" PRIu64 ", crashes %" PRIu64 ")\n",
           count, dt, count / dt, r, ok, pf, gp, refused, bad,
           s1.boots - s0.boots, s1.boot_seconds - s0.boot_seconds,
           s1.chunks - s0.chunks, s1.crashes - s0.crashes);
    printf("library vs QEMU on the random vectors: %u agree, %u disagree "
           "(%s %u, %s %u, %s %u, %s %u)\n", agree, disagree, kind_names[0],
           kinds[0], kind_names[1], kinds[1], kind_names[2], kinds[2],
           kind_names[3], kinds[3]);
    /* a second run: instances are warm */
    t1 = now_s();
    r = q->run(q, v, count, st);
    dt = now_s() - t1;
    printf("again (warm): %u vectors in %.2f s = %.0f vectors/s (captured "
           "%d)\n", count, dt, count / dt, r);
    if (bad)
      failures++;
    free(v);
    free(st);
  }
  q->close(q);
  free(cctx.ram);
  return failures ? 1 : 0;
}
