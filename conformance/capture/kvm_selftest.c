/* SPDX-License-Identifier: MIT */
/* kvm_selftest.c - runs a few hand-built vectors through the KVM capture
 * back end, prints what KVM did, checks it against what the SDM (or the
 * known KVM behaviour) says, then measures vectors/second on random
 * single-access vectors.
 *
 * usage: kvm_selftest [random-vector-count]   (default 20000; 0 skips) */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../include/mmu.h"
#include "guest/layout.h"
#include "kvm.h"

#define RAM (64ull << 20)
#define TABLES 0x300000ull /* page tables are allocated from here */
#define OUTSIDE (RAM + 0x10000000ull) /* frames outside RAM: MMIO */
#define UP (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U) /* upper-level flags */

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

/* Map va with a leaf at `level` (1 = 4 KiB, 2 = 2 MiB): upper entries get
 * `upper` flags, the leaf `leaf | pa`. Returns the leaf's gpa. */
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
  *entry(b, gpa) = pa | leaf | (level == 2 ? MMU_PTE_PS : 0);
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

static const char *kind_name(unsigned a) {
  static const char *n[] = {"read", "write", "fetch", "?"};
  static char buf[32];
  snprintf(buf, sizeof buf, "%s%s", (a & MMU_IMPLICIT) ? "implicit-" : "",
           n[a & 3]);
  return buf;
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

static int failures;
static int la57_ok = 1; /* cleared when the LA57 hand vector is refused */

/* want: the outcome the SDM (or known KVM behaviour) gives, checked on
 * kind, error code and pa/cr2; want_ad: number of entries changed, -1 to
 * skip the check. */
static void run_one(capture_source *k, vec_vector *v, const vec_outcome *want,
                    int want_ad) {
  int r;
  k->run(k, v, 1, &r);
  printf("%-34s", v->id);
  if (r == -ENOTSUP) {
    if (v->cr4 & MMU_CR4_LA57)
      la57_ok = 0;
    printf(" skipped: %s\n", k->why(k, 0));
    return;
  }
  if (r < 0) {
    printf(" ERROR %d (%s)\n", r, k->why(k, 0));
    failures++;
    return;
  }
  int first = 1;
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_step *s = &v->step[i];
    if (s->op != VEC_ACCESS)
      continue;
    char got[96];
    print_outcome(&s->expect, got, sizeof got);
    printf("%s%s %#" PRIx64 ": %s", first ? " " : "\n  ... ",
           kind_name(s->access), s->a, got);
    for (uint32_t j = 0; j < s->ad_count; j++)
      printf("\n      changed %#" PRIx64 " -> %#" PRIx64, s->ad[j].gpa,
             s->ad[j].value);
    first = 0;
  }
  /* the check applies to the last access step */
  vec_step *last = NULL;
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS)
      last = &v->step[i];
  if (want && last) {
    int ok = last->expect.kind == want->kind &&
             (want->kind == VEC_OUT_GP ||
              (last->expect.pa_or_cr2 == want->pa_or_cr2 &&
               (want->kind != VEC_OUT_PF ||
                last->expect.error_code == want->error_code))) &&
             (want_ad < 0 || (int)last->ad_count == want_ad);
    char w[96];
    print_outcome(want, w, sizeof w);
    if (ok) {
      printf("\n  -> as expected\n");
    } else {
      printf("\n  -> MISMATCH: expected %s", w);
      if (want_ad >= 0)
        printf(" with %d entries changed", want_ad);
      printf("\n");
      failures++;
    }
  } else {
    printf("\n");
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

static void hand_vectors(capture_source *k) {
  vec_vector v;
  builder b;
  vec_outcome w;
  const uint64_t va = 0x00007f1234567000ull + 0x123;
  const uint64_t leafp = MMU_PTE_P | MMU_PTE_W;

  vinit(&b, &v, "4k-read-ok-mmio", 0);
  map(&b, va, 1, OUTSIDE, leafp, UP);
  access(&v, MMU_READ, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "4k-read-ok-ram", 0);
  map(&b, va, 1, 0x800000, leafp, UP);
  access(&v, MMU_READ, va);
  w = OK(0x800123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "user-write-readonly-pf7", 0);
  map(&b, va, 1, OUTSIDE, MMU_PTE_P | MMU_PTE_U, UP);
  v.cpl = 3;
  access(&v, MMU_WRITE, va);
  w = PF(7, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "user-write-not-present-pf6", 0);
  map(&b, va, 1, OUTSIDE, 0, UP);
  *entry(&b, v.pte[v.pte_count - 1].gpa) = 0; /* leaf not present */
  v.pte_count--;                              /* (and not listed) */
  v.cpl = 3;
  access(&v, MMU_WRITE, va);
  w = PF(6, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "sup-write-not-present-pf2", 0);
  map(&b, va, 1, OUTSIDE, leafp, UP);
  access(&v, MMU_WRITE, va + 0x1000); /* next PTE is zero */
  w = PF(2, va + 0x1000);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "user-fetch-nx-pf15", 0);
  v.efer |= MMU_EFER_NXE;
  map(&b, va, 1, 0x800000, MMU_PTE_P | MMU_PTE_U | MMU_PTE_XD, UP);
  v.cpl = 3;
  access(&v, MMU_FETCH, va);
  w = PF(0x15, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "user-fetch-ok-ram", 0);
  v.efer |= MMU_EFER_NXE;
  map(&b, va, 1, 0x800000, MMU_PTE_P | MMU_PTE_U, UP);
  v.cpl = 3;
  access(&v, MMU_FETCH, va);
  w = OK(0x800123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "sup-fetch-ok-mmio", 0);
  map(&b, va, 1, OUTSIDE, MMU_PTE_P, UP);
  access(&v, MMU_FETCH, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "2m-read-ok-ram", 0);
  map(&b, va, 2, 0x1000000, leafp, UP);
  access(&v, MMU_READ, va);
  w = OK(0x1000000 + (va & 0x1fffff));
  run_one(k, &v, &w, 3);

  vinit(&b, &v, "2m-read-ok-mmio", 0);
  map(&b, va, 2, OUTSIDE, leafp, UP);
  access(&v, MMU_READ, va);
  w = OK(OUTSIDE + (va & 0x1fffff));
  run_one(k, &v, &w, 3);

  {
    const uint64_t va57 = 0x0003000012345000ull + 0x42;
    vinit(&b, &v, "la57-read-ok (needs LA57)", 1);
    map(&b, va57, 1, OUTSIDE, leafp, UP);
    access(&v, MMU_READ, va57);
    w = OK(OUTSIDE + 0x42);
    run_one(k, &v, &w, 5);
  }

  vinit(&b, &v, "maxphy36-bit40-rsvd-pf9", 0);
  v.maxphyaddr = 36;
  map(&b, va, 1, (1ull << 40) | 0x800000, leafp, UP);
  access(&v, MMU_READ, va);
  w = PF(9, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "maxphy52-bit40-ok", 0);
  map(&b, va, 1, (1ull << 40) | 0x800000, leafp, UP);
  access(&v, MMU_READ, va);
  w = OK((1ull << 40) | 0x800123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "sup-write-wp0-readonly-ok+D", 0);
  v.cr0 &= ~MMU_CR0_WP;
  map(&b, va, 1, OUTSIDE, MMU_PTE_P, UP);
  access(&v, MMU_WRITE, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "sup-write-wp1-readonly-pf3", 0);
  map(&b, va, 1, OUTSIDE, MMU_PTE_P, UP);
  access(&v, MMU_WRITE, va);
  w = PF(3, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "ad-read-then-write", 0);
  map(&b, va, 1, OUTSIDE, leafp, UP);
  access(&v, MMU_READ, va);
  access(&v, MMU_WRITE, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 1);

  vinit(&b, &v, "user-read-supervisor-pf5", 0);
  map(&b, va, 1, OUTSIDE, leafp, MMU_PTE_P | MMU_PTE_W);
  v.cpl = 3;
  access(&v, MMU_READ, va);
  w = PF(5, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "non-canonical-gp", 0);
  map(&b, va, 1, OUTSIDE, leafp, UP);
  access(&v, MMU_READ, 0x0000900000000000ull);
  w = GP();
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "smap-ac0-sup-read-user-pf1", 0);
  v.cr4 |= MMU_CR4_SMAP;
  map(&b, va, 1, OUTSIDE, leafp | MMU_PTE_U, UP);
  access(&v, MMU_READ, va);
  w = PF(1, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "smap-ac1-sup-read-user-ok", 0);
  v.cr4 |= MMU_CR4_SMAP;
  v.ac = 1;
  map(&b, va, 1, 0x800000, leafp | MMU_PTE_U, UP);
  access(&v, MMU_READ, va);
  w = OK(0x800123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "smap-ac1-implicit-read-user-pf1", 0);
  v.cr4 |= MMU_CR4_SMAP;
  v.ac = 1;
  map(&b, va, 1, OUTSIDE, leafp | MMU_PTE_U, UP);
  access(&v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  w = PF(1, va - 0x123);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "cpl3-implicit-read-sup-ok", 0);
  map(&b, va, 1, 0x800000, leafp, UP);
  v.cpl = 3;
  access(&v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  w = OK(0x800000);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "cpl3-implicit-read-np-pf0", 0);
  map(&b, va, 1, 0x800000, leafp, UP);
  v.cpl = 3;
  access(&v, MMU_READ | MMU_IMPLICIT, va + 0x1000 - 0x123);
  w = PF(0, va + 0x1000 - 0x123);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "set-pte-then-read", 0);
  {
    uint64_t leaf = map(&b, va, 1, OUTSIDE, leafp, UP);
    access(&v, MMU_READ, va);
    vec_step *s = step(&v, VEC_SET_PTE);
    s->a = leaf;
    s->b = (OUTSIDE + 0x5000) | leafp;
    access(&v, MMU_READ, va);
    w = OK(OUTSIDE + 0x5123);
    run_one(k, &v, &w, 1);
  }

  vinit(&b, &v, "cr0-wp-step-then-write", 0);
  map(&b, va, 1, OUTSIDE, MMU_PTE_P, UP);
  access(&v, MMU_WRITE, va);
  step(&v, VEC_CR0)->a = CR0 & ~MMU_CR0_WP;
  access(&v, MMU_WRITE, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 4);

  vinit(&b, &v, "cpl-step-user-then-sup", 0);
  map(&b, va, 1, OUTSIDE, leafp, UP & ~MMU_PTE_U);
  v.cpl = 3;
  access(&v, MMU_READ, va);
  step(&v, VEC_CPL)->a = 0;
  access(&v, MMU_READ, va);
  w = OK(OUTSIDE + 0x123);
  run_one(k, &v, &w, 4);

  {
    const uint64_t va256 = 0xffff800000001000ull;
    /* SDM: OK. kvm_pvm keeps this slot for its switcher; CPL 3 gets a
     * #PF whose error code is 0x4 or 0xd from one run to the next
     * (measured): printed, not checked */
    vinit(&b, &v, "cpl3-slot256-read (departure)", 0);
    map(&b, va256, 1, OUTSIDE, leafp | MMU_PTE_U, UP);
    v.cpl = 3;
    access(&v, MMU_READ, va256);
    run_one(k, &v, NULL, -1);
  }

  /* SDM: SMAP never applies to fetches (OK). KVM applies it: PF 1, and
   * sets the A bits of the walk although it faults (measured) */
  vinit(&b, &v, "smap-sup-fetch-user (departure)", 0);
  v.cr4 |= MMU_CR4_SMAP;
  map(&b, va, 1, 0x800000, MMU_PTE_P | MMU_PTE_U, UP);
  access(&v, MMU_FETCH, va);
  w = PF(1, va);
  run_one(k, &v, &w, -1);

  vinit(&b, &v, "smep-sup-fetch-user-pf11", 0);
  v.cr4 |= MMU_CR4_SMEP;
  v.efer |= MMU_EFER_NXE;
  map(&b, va, 1, 0x800000, MMU_PTE_P | MMU_PTE_U, UP);
  access(&v, MMU_FETCH, va);
  w = PF(0x11, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "pke-pkru-ad-user-read", 0);
  v.cr4 |= MMU_CR4_PKE;
  v.pkru = 1u << 2; /* AD for key 1 */
  map(&b, va, 1, OUTSIDE, leafp | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT),
      UP);
  v.cpl = 3;
  access(&v, MMU_READ, va);
  w = PF(0x25, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "sup-write-ram-keeps-memory", 0);
  {
    /* the leaf points at a page-table page: the probe store must not
     * change the byte it hits (an entry's low byte) */
    uint64_t leaf = map(&b, va, 1, TABLES + 0x3000, leafp, UP);
    (void)leaf;
    access(&v, MMU_WRITE, (va & ~0xfffull) | (leaf & 0xfff));
    w = OK(leaf);
    run_one(k, &v, &w, 4);
  }

  vinit(&b, &v, "rsvd-pde-bit13-2m", 0);
  map(&b, va, 2, OUTSIDE | (1ull << 13), leafp, UP);
  access(&v, MMU_READ, va);
  w = PF(9, va);
  run_one(k, &v, &w, 0);

  vinit(&b, &v, "1g-page (no pdpe1gb -> rsvd)", 0);
  {
    /* PDPTE with PS */
    uint64_t top = v.cr3;
    uint64_t pdpt = b.next;
    b.next += 0x1000;
    *entry(&b, top + 8 * ((va >> 39) & 511)) = pdpt | UP;
    *entry(&b, pdpt + 8 * ((va >> 30) & 511)) =
        (4ull << 30) | leafp | MMU_PTE_PS;
    access(&v, MMU_READ, va);
    w = PF(9, va);
    run_one(k, &v, &w, 0);
  }
}

/* ---- random vectors for throughput -------------------------------------- */

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
  int la57 = la57_ok && (rnd() & 7) == 0;
  vinit(&b, v, id, la57);
  if (rnd() & 1)
    v->efer |= MMU_EFER_NXE;
  if (rnd() & 1)
    v->cr0 &= ~MMU_CR0_WP;
  if ((rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMEP;
  if ((rnd() & 3) == 0)
    v->cr4 |= MMU_CR4_SMAP;
  v->cpl = (rnd() & 1) ? 3 : 0;
  v->ac = (rnd() & 3) == 0;
  uint64_t va;
  do {
    va = rnd() & (la57 ? 0x00fffffffffff000ull : 0x0000fffffffff000ull);
    if (la57 ? (va >> 56) & 1 : (va >> 47) & 1)
      va |= la57 ? 0xff00000000000000ull : 0xffff000000000000ull;
  } while (((va >> (la57 ? 48 : 39)) & 511) == CAPTURE_HARNESS_SLOT);
  va |= rnd() & 0xfff;
  int level = (rnd() & 3) == 0 ? 2 : 1;
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
  uint64_t pa = (rnd() & 1) ? OUTSIDE + ((rnd() & 0xfff) << 21)
                            : 0x2000000ull; /* RAM, 32 MiB */
  map(&b, va & ~0xfffull, level, pa, leaf, upper);
  unsigned kind = rnd() % 3;
  access(v, kind, va);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  unsigned count = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
  capture_source *k = &capture_kvm;
  int e = k->open(k, RAM);
  if (e) {
    fprintf(stderr, "kvm open: %s\n", strerror(e));
    k->close(k);
    return 1;
  }
  char desc[512];
  k->describe(k, desc, sizeof desc);
  printf("%s\n\n", desc);
  hand_vectors(k);
  printf("\nhand vectors: %d mismatches or errors\n", failures);

  if (count) {
    static vec_vector v;
    unsigned ok = 0, pf = 0, gp = 0, err = 0;
    double t0 = now_s();
    for (unsigned n = 0; n < count; n++) {
      random_vector(&v, n);
      int r;
      k->run(k, &v, 1, &r);
      if (r < 0) {
        if (err < 5)
          fprintf(stderr, "%s: %d %s\n", v.id, r, k->why(k, 0));
        err++;
        continue;
      }
      switch (v.step[0].expect.kind) {
      case VEC_OUT_OK:
        ok++;
        break;
      case VEC_OUT_PF:
        pf++;
        break;
      default:
        gp++;
      }
    }
    double dt = now_s() - t0;
    kvm_cap_stats st;
    kvm_cap_get_stats(k, &st);
    printf("random: %u vectors in %.2f s = %.0f vectors/s (OK %u, PF %u, GP "
           "%u, errors %u)\n",
           count, dt, count / dt, ok, pf, gp, err);
    printf("stats: runs %" PRIu64 " mmio %" PRIu64 " translate %" PRIu64
           " failures %" PRIu64 " rejected %" PRIu64 " vms %" PRIu64 "\n",
           st.runs, st.exits_mmio, st.exits_step, st.failures, st.rejected,
           st.vms_created);
    if (err)
      failures++;
  }
  k->close(k);
  return failures ? 1 : 0;
}
