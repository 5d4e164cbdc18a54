/* SPDX-License-Identifier: MIT */
/* qemu_selftest.c - runs hand-built vectors through the QEMU TCG capture
 * source, prints what QEMU did, checks it against what the SDM says and
 * against the library (conformance/check.c: the reference walker, with the
 * flags the source set), then measures vectors/second on a batch of
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

#include "check.h"
#include "mmu.h"
#include "qemu.h"
#include "selftest.h"

#define DATA 0x2000000ull  /* 4 KiB frames at 32 MiB and above */
#define NHAND 48

/* the hand vectors, with what the SDM says for the last access */
static vec_vector hv[NHAND];
static vec_outcome hwant[NHAND];
static int hwant_ad[NHAND];   /* entries changed by the last access; -1 any */
static const char *hnote[NHAND];
static int nh;

static check_ctx cctx;

static vec_vector *hnew(st_builder *b, const char *id, int la57) {
  st_vinit(b, &hv[nh], id, la57);
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
  st_builder b;
  vec_vector *v;
  const uint64_t va = 0x00007f1234567000ull + 0x123;
  const uint64_t leafp = MMU_PTE_P | MMU_PTE_W;

  v = hnew(&b, "4k-read-ok", 0);
  st_map(&b, va, 1, DATA, leafp, ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_ok(DATA + 0x123), 4, NULL);

  v = hnew(&b, "4k-write-ok+D", 0);
  st_map(&b, va, 1, DATA + 0x1000, leafp, ST_UP);
  st_access(v, MMU_WRITE, va);
  hdone(st_ok(DATA + 0x1123), 4, NULL);

  v = hnew(&b, "user-write-readonly-pf7", 0);
  st_map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U, ST_UP);
  v->cpl = 3;
  st_access(v, MMU_WRITE, va);
  hdone(st_pf(7, va), -1, "QEMU sets A in the upper levels of a faulting walk");

  v = hnew(&b, "user-fetch-nx-pf15", 0);
  v->efer |= MMU_EFER_NXE;
  st_map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U | MMU_PTE_XD, ST_UP);
  v->cpl = 3;
  st_access(v, MMU_FETCH, va);
  hdone(st_pf(0x15, va), -1, NULL);

  v = hnew(&b, "user-fetch-ok", 0);
  v->efer |= MMU_EFER_NXE;
  st_map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, ST_UP);
  v->cpl = 3;
  st_access(v, MMU_FETCH, va);
  hdone(st_ok(DATA + 0x2123), 4, NULL);

  {
    /* 1 GiB page at frame 0: offset 0x3456789 lies in RAM */
    const uint64_t va1g = 0x0000004000000000ull + 0x3456789;
    v = hnew(&b, "1g-read-ok", 0);
    st_map(&b, va1g, 3, 0, leafp, ST_UP);
    st_access(v, MMU_READ, va1g);
    hdone(st_ok(0x3456789), 2, NULL);

    v = hnew(&b, "1g-no-pdpe1gb-rsvd-pf9", 0);
    v->flags = MMU_CFG_NO_1G_PAGES;
    st_map(&b, va1g, 3, 0, leafp, ST_UP);
    st_access(v, MMU_READ, va1g);
    hdone(st_pf(9, va1g), -1, "run with -cpu max,pdpe1gb=off");

    v = hnew(&b, "1g-rsvd-bit13-pf9", 0);
    st_map(&b, va1g, 3, 1ull << 13, leafp, ST_UP);
    st_access(v, MMU_READ, va1g);
    hdone(st_pf(9, va1g), -1, NULL);
  }

  {
    const uint64_t va1g = 0x0000004000000000ull + 0x3456789;
    v = hnew(&b, "1g-user-write-readonly-pf7", 0);
    st_map(&b, va1g, 3, 0, MMU_PTE_P | MMU_PTE_U, ST_UP);
    v->cpl = 3;
    st_access(v, MMU_WRITE, va1g);
    hdone(st_pf(7, va1g), -1, "does the faulting walk set A in the 1 GiB leaf?");
  }

  v = hnew(&b, "2m-user-write-readonly-pf7", 0);
  st_map(&b, va, 2, 0x1000000, MMU_PTE_P | MMU_PTE_U, ST_UP);
  v->cpl = 3;
  st_access(v, MMU_WRITE, va);
  hdone(st_pf(7, va), -1, "does the faulting walk set A in the 2 MiB leaf?");

  v = hnew(&b, "2m-read-ok", 0);
  st_map(&b, va, 2, 0x1000000, leafp, ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_ok(0x1000000 + (va & 0x1fffff)), 3, NULL);

  v = hnew(&b, "2m-write-ok+D", 0);
  st_map(&b, va, 2, 0x1200000, leafp, ST_UP);
  st_access(v, MMU_WRITE, va);
  hdone(st_ok(0x1200000 + (va & 0x1fffff)), 3, NULL);

  {
    const uint64_t va57 = 0x0003000012345000ull + 0x42;
    v = hnew(&b, "la57-read-ok", 1);
    st_map(&b, va57, 1, DATA + 0x3000, leafp, ST_UP);
    st_access(v, MMU_READ, va57);
    hdone(st_ok(DATA + 0x3042), 5, NULL);

    const uint64_t va57k = 0xff80000012345000ull + 0x42; /* kernel half */
    v = hnew(&b, "la57-user-read-np-pf4", 1);
    st_map(&b, va57k, 1, DATA + 0x3000, leafp | MMU_PTE_U, ST_UP);
    v->cpl = 3;
    st_access(v, MMU_READ, va57k + 0x1000);
    hdone(st_pf(4, va57k + 0x1000), -1, NULL);

    v = hnew(&b, "la57-noncanonical-gp", 1);
    st_map(&b, va57, 1, DATA + 0x3000, leafp, ST_UP);
    st_access(v, MMU_READ, 0x0100000000000000ull);
    hdone(st_gp(), 0, NULL);
  }

  v = hnew(&b, "pku-ad-user-read-pf25", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2; /* AD for key 1 */
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  v->cpl = 3;
  st_access(v, MMU_READ, va);
  hdone(st_pf(0x25, va), -1, NULL);

  v = hnew(&b, "pku-wd-user-write-pf27", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 2u << 4; /* WD for key 2 */
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U | (2ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  v->cpl = 3;
  st_access(v, MMU_WRITE, va);
  hdone(st_pf(0x27, va), -1, NULL);

  v = hnew(&b, "pku-wd-user-read-ok", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 2u << 4;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U | (2ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  v->cpl = 3;
  st_access(v, MMU_READ, va);
  hdone(st_ok(DATA + 0x123), 4, NULL);

  v = hnew(&b, "pku-ad-sup-read-user-page-pf21", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_pf(0x21, va), -1, NULL);

  v = hnew(&b, "pku-ad+readonly-user-write-pf27", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  st_map(&b, va, 1, DATA, MMU_PTE_P | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT),
      ST_UP);
  v->cpl = 3;
  st_access(v, MMU_WRITE, va);
  hdone(st_pf(0x27, va), -1, "SDM/library: PK set even when R/W denies too");

  v = hnew(&b, "pku-ad-user-fetch-ok", 0);
  v->cr4 |= MMU_CR4_PKE;
  v->pkru = 1u << 2;
  st_map(&b, va, 1, DATA + 0x2000,
      MMU_PTE_P | MMU_PTE_U | (1ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  v->cpl = 3;
  st_access(v, MMU_FETCH, va);
  hdone(st_ok(DATA + 0x2123), 4, "keys never apply to fetches");

  v = hnew(&b, "smap-ac0-sup-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U, ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_pf(1, va), -1, NULL);

  v = hnew(&b, "smap-ac1-sup-read-user-ok", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->ac = 1;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U, ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_ok(DATA + 0x123), 4, NULL);

  v = hnew(&b, "smap-ac1-implicit-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->ac = 1;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U, ST_UP);
  st_access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(st_pf(1, va - 0x123), -1, "implicit accesses ignore AC (SDM 4.6.1)");

  v = hnew(&b, "smap-cpl3-implicit-read-user-pf1", 0);
  v->cr4 |= MMU_CR4_SMAP;
  v->cpl = 3;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U, ST_UP);
  st_access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(st_pf(1, va - 0x123), -1, NULL);

  v = hnew(&b, "smap-sup-fetch-user-ok", 0);
  v->cr4 |= MMU_CR4_SMAP;
  st_map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, ST_UP);
  st_access(v, MMU_FETCH, va);
  hdone(st_ok(DATA + 0x2123), 4, "SMAP never applies to fetches");

  v = hnew(&b, "smep-sup-fetch-user-pf11", 0);
  v->cr4 |= MMU_CR4_SMEP;
  v->efer |= MMU_EFER_NXE;
  st_map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, ST_UP);
  st_access(v, MMU_FETCH, va);
  hdone(st_pf(0x11, va), -1, NULL);

  v = hnew(&b, "smep-nxe0-sup-fetch-user-pf11", 0);
  v->cr4 |= MMU_CR4_SMEP;
  st_map(&b, va, 1, DATA + 0x2000, MMU_PTE_P | MMU_PTE_U, ST_UP);
  st_access(v, MMU_FETCH, va);
  hdone(st_pf(0x11, va), -1, "I/D set by SMEP alone");

  v = hnew(&b, "maxphy36-bit40-rsvd-pf9", 0);
  v->maxphyaddr = 36;
  st_map(&b, va, 1, (1ull << 40) | DATA, leafp, ST_UP);
  st_access(v, MMU_READ, va);
  hdone(st_pf(9, va), -1, "run with phys-bits=36");

  v = hnew(&b, "maxphy40-pde-bit45-rsvd-pf9", 0);
  v->maxphyaddr = 40;
  {
    uint64_t leaf = st_map(&b, va, 1, DATA, leafp, ST_UP);
    (void)leaf;
    /* the PDE (second-to-last entry written) gets bit 45 */
    v->pte[v->pte_count - 2].value |= 1ull << 45;
  }
  st_access(v, MMU_READ, va);
  hdone(st_pf(9, va), -1, NULL);

  v = hnew(&b, "cpl3-implicit-read-sup-ok", 0);
  st_map(&b, va, 1, DATA, leafp, ST_UP);
  v->cpl = 3;
  st_access(v, MMU_READ | MMU_IMPLICIT, va - 0x123);
  hdone(st_ok(DATA), 4, NULL);

  v = hnew(&b, "sup-write-wp0-readonly-ok+D", 0);
  v->cr0 &= ~MMU_CR0_WP;
  st_map(&b, va, 1, DATA + 0x1000, MMU_PTE_P, ST_UP);
  st_access(v, MMU_WRITE, va);
  hdone(st_ok(DATA + 0x1123), 4, NULL);

  v = hnew(&b, "user-read-supervisor-pml4-pf5", 0);
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U, ST_UP);
  v->pte[0].value &= ~MMU_PTE_U; /* the PML4E */
  v->cpl = 3;
  st_access(v, MMU_READ, va);
  hdone(st_pf(5, va), -1, "rights combine over all levels");

  v = hnew(&b, "set-pte-invlpg-then-read", 0);
  {
    uint64_t leaf = st_map(&b, va, 1, DATA, leafp, ST_UP);
    st_access(v, MMU_READ, va);
    vec_step *s = st_step(v, VEC_SET_PTE);
    s->a = leaf;
    s->b = (DATA + 0x5000) | leafp;
    st_step(v, VEC_INVLPG)->a = va;
    st_access(v, MMU_READ, va);
    hdone(st_ok(DATA + 0x5123), 1, NULL);
  }

  v = hnew(&b, "cr0-wp-step-then-write", 0);
  st_map(&b, va, 1, DATA + 0x1000, MMU_PTE_P, ST_UP);
  st_access(v, MMU_WRITE, va);
  st_step(v, VEC_CR0)->a = ST_CR0 & ~MMU_CR0_WP;
  st_access(v, MMU_WRITE, va);
  hdone(st_ok(DATA + 0x1123), 1, "upper A bits were set by the faulting walk");

  v = hnew(&b, "pkru-step-then-read", 0);
  v->cr4 |= MMU_CR4_PKE;
  st_map(&b, va, 1, DATA, leafp | MMU_PTE_U | (3ull << MMU_PTE_PKEY_SHIFT), ST_UP);
  v->cpl = 3;
  st_access(v, MMU_READ, va);
  st_step(v, VEC_PKRU)->a = 1u << 6; /* AD for key 3 */
  st_access(v, MMU_READ, va);
  hdone(st_pf(0x25, va), 0, NULL);
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
    const vec_step *last = st_print_accesses(v);
    const vec_outcome *w = &hwant[i];
    int ok = st_matches(last, w, hwant_ad[i]);
    char ws[96];
    st_outcome_text(w, ws, sizeof ws);
    printf("\n  SDM: %s%s%s", ws, hnote[i] ? "  -- " : "",
           hnote[i] ? hnote[i] : "");
    printf("\n  -> %s", ok ? "as the SDM says" : "DEPARTS from the SDM");
    /* the library, given the flags the source set */
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

static void random_vector(vec_vector *v, unsigned n) {
  st_builder b;
  char id[32];
  snprintf(id, sizeof id, "rand-%u", n);
  int la57 = (st_rnd() & 3) == 0;
  st_vinit(&b, v, id, la57);
  st_random_controls(v);
  if ((st_rnd() & 3) == 0) {
    v->cr4 |= MMU_CR4_PKE;
    v->pkru = (uint32_t)st_rnd();
  }
  if ((st_rnd() & 7) == 0)
    v->maxphyaddr = 40;
  v->cpl = (st_rnd() & 1) ? 3 : 0;
  v->ac = (st_rnd() & 3) == 0;
  int level = (st_rnd() & 3) == 0 ? 2 : (st_rnd() & 7) == 0 ? 3 : 1;
  uint64_t va = st_random_va(la57);
  uint64_t pa;
  if (level == 3) {
    /* frame 0, offset in [32 MiB, 60 MiB) */
    va = (va & ~0x3fffffffull) | DATA | (st_rnd() & 0x1bfffff);
    pa = 0;
  } else if (level == 2) {
    pa = DATA + ((st_rnd() % 14) << 21);
  } else {
    pa = DATA + ((st_rnd() % 4096) << 12);
  }
  uint64_t upper, leaf;
  st_random_flags(&upper, &leaf, (v->efer & MMU_EFER_NXE) != 0);
  leaf |= (st_rnd() & 15) << MMU_PTE_PKEY_SHIFT;
  if ((st_rnd() & 15) == 0)
    leaf |= 1ull << (40 + st_rnd() % 12); /* reserved below MAXPHYADDR 52? */
  st_map(&b, va & ~0xfffull, level, pa, leaf, upper);
  unsigned kind = st_rnd() % 4;
  if (kind == 3) {
    kind = MMU_READ | MMU_IMPLICIT;
    va &= ~7ull;
  }
  st_access(v, kind, va);
}

int main(int argc, char **argv) {
  unsigned count = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4000;
  cctx.ram_capacity = ST_RAM;
  cctx.ram = calloc(1, ST_RAM);
  if (!cctx.ram) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  double t0 = st_now();
  capture_source *q = &capture_qemu;
  int e = q->open(q, ST_RAM);
  if (e) {
    fprintf(stderr, "qemu open: %s (%s)\n", strerror(e), q->why(q, 0));
    q->close(q);
    free(cctx.ram);
    return 1;
  }
  char desc[1024];
  q->describe(q, desc, sizeof desc);
  printf("%s\nopen: %.3f s\n\n", desc, st_now() - t0);
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
    double t1 = st_now();
    int r = q->run(q, v, count, st);
    double dt = st_now() - t1;
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
      st_tally(&v[n].step[0].expect, &ok, &pf, &gp);
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
        st_outcome_text(qo, a, sizeof a);
        st_outcome_text(lo, b2, sizeof b2);
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
    t1 = st_now();
    r = q->run(q, v, count, st);
    dt = st_now() - t1;
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
