/* SPDX-License-Identifier: MIT */
/* departures.c - detectors of the sources' known departures from the SDM
 * (SPEC.md 8.5), and the outcome helpers they share with capture.c. A
 * source lists the departures it is known to have (capture_source); a
 * detector re-runs a vector in a form where its departure cannot act, or
 * rewrites outcomes the SDM fixes, and marks the vector. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "../../include/mmu.h"
#include "guest.h"
#include "source.h"

int capture_run_one(capture_source *s, vec_vector *v) {
  int status = 0;
  s->run(s, v, 1, &status);
  return status;
}

void capture_clear_outcomes(vec_vector *v) {
  v->departs[0] = 0;
  for (uint32_t i = 0; i < v->step_count; i++) {
    memset(&v->step[i].expect, 0, sizeof v->step[i].expect);
    memset(&v->step[i].observed, 0, sizeof v->step[i].observed);
    v->step[i].ad_count = 0;
  }
}

int capture_same_outcome(const vec_outcome *a, const vec_outcome *b) {
  return a->kind == b->kind && a->error_code == b->error_code &&
         a->pa_or_cr2 == b->pa_or_cr2 && a->qual == b->qual && a->gpa == b->gpa;
}

int capture_same_step(const vec_step *a, const vec_step *b) {
  if (!capture_same_outcome(&a->expect, &b->expect) || a->ad_count != b->ad_count)
    return 0;
  for (uint32_t k = 0; k < a->ad_count; k++) {
    int found = 0;
    for (uint32_t j = 0; j < b->ad_count; j++)
      found |= a->ad[k].gpa == b->ad[j].gpa && a->ad[k].value == b->ad[j].value;
    if (!found)
      return 0;
  }
  return 1;
}

/* Keep the source's outcomes as 'observed' where the SDM's (from the
 * experiment) differ, take the experiment's as the vector's, and name the
 * departure. */
static void adopt(vec_vector *v, const vec_vector *sdm,
                  const capture_departure *d) {
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_step *s = &v->step[i];
    if (s->op != VEC_ACCESS)
      continue;
    /* what the source did: kept from the first detector that changed it */
    if (!capture_same_outcome(&s->expect, &sdm->step[i].expect) &&
        s->observed.kind == VEC_OUT_NONE)
      s->observed = s->expect;
    s->expect = sdm->step[i].expect;
    s->ad_count = sdm->step[i].ad_count;
    memcpy(s->ad, sdm->step[i].ad, sizeof s->ad);
  }
  if (!v->departs[0]) {
    snprintf(v->departs, sizeof v->departs, "%s: %s", d->name, d->what);
  } else { /* a second departure: append its name */
    size_t used = strlen(v->departs);
    snprintf(v->departs + used, sizeof v->departs - used, "; %s", d->name);
  }
}

/* Does a re-run's access step differ from v's (outcome or A/D)? */
static int access_steps_differ(const vec_vector *v, const vec_vector *alt) {
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS && !capture_same_step(&v->step[i], &alt->step[i]))
      return 1;
  return 0;
}

static int only_access_kind(const vec_vector *v, unsigned access) {
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_AC ||
        (v->step[i].op == VEC_ACCESS && v->step[i].access != access))
      return 0;
  return 1;
}

/* Re-run v with EFLAGS.AC = ac (which cannot change its outcomes by the
 * SDM); if they change, the re-run shows the SDM's. */
static int rerun_with_ac(capture_source *s, vec_vector *v, uint32_t ac,
                         const capture_departure *d) {
  static vec_vector alt;
  alt = *v;
  capture_clear_outcomes(&alt);
  alt.ac = ac;
  if (capture_run_one(s, &alt) != 0)
    return 0;
  if (!access_steps_differ(v, &alt))
    return 0;
  adopt(v, &alt, d);
  return 1;
}

/* KVM applies SMAP to supervisor instruction fetches; SDM 4.6.1 governs
 * fetches by SMEP and XD only, so EFLAGS.AC cannot change a fetch's
 * outcome. Re-run with AC=1: if the outcome changes, AC=1 shows the SDM's. */
static int detect_smap_fetch(capture_source *s, vec_vector *v,
                             const capture_departure *d) {
  if (v->cpl == 3 || v->ac || !(v->cr4 & MMU_CR4_SMAP) ||
      !only_access_kind(v, MMU_FETCH))
    return 0;
  return rerun_with_ac(s, v, 1, d);
}

const capture_departure capture_smap_fetch = {
    "smap-fetch",
    "SMAP applied to a supervisor fetch (SDM 4.6.1: SMEP and XD only)",
    detect_smap_fetch};

/* KVM reports CPL3 accesses in PML4 slot 256 as not present. Move the
 * vector's slot-256 entry to a free slot and its addresses with it: the
 * SDM's outcome cannot depend on which slot holds the same entry. */
static int detect_slot256(capture_source *s, vec_vector *v,
                          const capture_departure *d) {
  if (v->cr4 & MMU_CR4_LA57)
    return 0;
  uint64_t root = v->cr3 & 0x000FFFFFFFFFF000ull;
  int uses = 0, free_slot = -1;
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS && ((v->step[i].a >> 39) & 511) == 256)
      uses = 1;
  if (!uses)
    return 0;
  for (int slot = 257; slot < 511 && free_slot < 0; slot++) {
    int taken = 0;
    for (uint32_t i = 0; i < v->pte_count; i++)
      taken |= v->pte[i].gpa == root + 8ull * (unsigned)slot;
    if (!taken)
      free_slot = slot;
  }
  if (free_slot < 0)
    return 0;
  uint64_t from = root + 8 * 256, to = root + 8ull * (unsigned)free_slot;
  uint64_t shift = (uint64_t)(free_slot - 256) << 39;
  static vec_vector alt;
  alt = *v;
  capture_clear_outcomes(&alt);
  for (uint32_t i = 0; i < alt.pte_count; i++)
    if (alt.pte[i].gpa == from)
      alt.pte[i].gpa = to;
  for (uint32_t i = 0; i < alt.step_count; i++) {
    vec_step *st = &alt.step[i];
    if ((st->op == VEC_ACCESS || st->op == VEC_INVLPG) && ((st->a >> 39) & 511) == 256)
      st->a += shift;
    if (st->op == VEC_SET_PTE && st->a == from)
      st->a = to;
  }
  if (capture_run_one(s, &alt) != 0)
    return 0;
  /* map the relocated outcome back to the original slot */
  for (uint32_t i = 0; i < alt.step_count; i++) {
    vec_step *st = &alt.step[i];
    if (st->op != VEC_ACCESS)
      continue;
    if (st->expect.kind == VEC_OUT_PF)
      st->expect.pa_or_cr2 = v->step[i].a;
    for (uint32_t k = 0; k < st->ad_count; k++)
      if (st->ad[k].gpa == to)
        st->ad[k].gpa = from;
  }
  if (!access_steps_differ(v, &alt))
    return 0;
  adopt(v, &alt, d);
  return 1;
}

const capture_departure capture_pml4_slot256 = {
    "pml4-slot-256", "CPL3 accesses in PML4 slot 256 reported not present",
    detect_slot256};

/* QEMU TCG reports reserved-bit faults with P = 0; SDM 4.7: a fault with
 * RSVD = 1 has P = 1. The SDM's error code is the source's with P set.
 * The same in #VMEXIT(NPF)'s EXITINFO1 (APM 2 15.25.6: a #PF error code). */
static int detect_rsvd_without_p(capture_source *s, vec_vector *v,
                                 const capture_departure *d) {
  (void)s;
  static vec_vector sdm;
  int hit = 0;
  sdm = *v;
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_outcome *o = &sdm.step[i].expect;
    if (v->step[i].op == VEC_ACCESS && o->kind == VEC_OUT_PF &&
        (o->error_code & MMU_PFEC_RSVD) && !(o->error_code & MMU_PFEC_P)) {
      o->error_code |= MMU_PFEC_P;
      hit = 1;
    }
    if (v->step[i].op == VEC_ACCESS && o->kind == VEC_OUT_NPF &&
        (o->qual & MMU_PFEC_RSVD) && !(o->qual & MMU_PFEC_P)) {
      o->qual |= MMU_PFEC_P;
      hit = 1;
    }
  }
  if (hit)
    adopt(v, &sdm, d);
  return hit;
}

const capture_departure capture_rsvd_without_p = {
    "rsvd-without-p",
    "reserved-bit fault with P=0 (SDM 4.7: RSVD faults have P=1)",
    detect_rsvd_without_p};

/* QEMU TCG (at CPL 0) and Bochs (at any CPL) skip SMAP for implicit
 * supervisor reads when EFLAGS.AC = 1; SDM 4.6.1: implicit accesses are
 * checked whatever AC is. Re-run with AC = 0: AC cannot change an implicit
 * access's outcome. */
static int detect_smap_implicit_ac(capture_source *s, vec_vector *v,
                                   const capture_departure *d) {
  if (!v->ac || !(v->cr4 & MMU_CR4_SMAP) ||
      !only_access_kind(v, MMU_READ | MMU_IMPLICIT))
    return 0;
  return rerun_with_ac(s, v, 0, d);
}

const capture_departure capture_smap_implicit_ac = {
    "smap-implicit-ac",
    "SMAP skipped for an implicit read with AC=1 (SDM 4.6.1: AC does not "
    "apply)",
    detect_smap_implicit_ac};

/* QEMU TCG sets A in a 1 GiB leaf when the access then faults (rights, a
 * key, or a reserved bit of that leaf), of the guest's tables or nested. SDM 4.8 leaves A on faulting walks open; the library models "none"
 * and "upper levels only", and this is neither: the vector keeps the
 * upper-levels outcome and says what the source did. */
/* Is gpa an entry of v's nested tables (those reachable from its nested
 * root through its entries)? */
static int in_nested_tables(const vec_vector *v, uint64_t gpa) {
  if (v->nested_kind == MMU_NESTED_OFF)
    return 0;
  uint64_t pages[VEC_MAX_PTES + 1];
  unsigned n = 0, levels[VEC_MAX_PTES + 1];
  pages[n] = v->nested_root & 0x000FFFFFFFFFF000ull;
  levels[n++] = 4;
  for (unsigned i = 0; i < n; i++) {
    for (uint32_t k = 0; k < v->pte_count; k++) {
      uint32_t m = v->maxphyaddr ? v->maxphyaddr : 52;
      uint64_t e = v->pte[k].value, t = e & 0x000FFFFFFFFFF000ull & ((1ull << m) - 1);
      if ((v->pte[k].gpa & ~0xFFFull) != pages[i] || levels[i] == 1 ||
          (e & MMU_PTE_PS) || !(e & 7) || n > VEC_MAX_PTES ||
          cap_contains(pages, n, t))
        continue;
      pages[n] = t;
      levels[n++] = levels[i] - 1;
    }
  }
  return cap_contains(pages, n, gpa & ~0xFFFull);
}

static int detect_a_on_faulting_leaf(capture_source *s, vec_vector *v,
                                     const capture_departure *d) {
  (void)s;
  static vec_vector sdm;
  uint64_t gpa[VEC_MAX_PTES + VEC_MAX_STEPS], val[VEC_MAX_PTES + VEC_MAX_STEPS];
  uint32_t n = 0;
  int hit = 0;
  sdm = *v;
  for (uint32_t i = 0; i < v->pte_count; i++, n++) {
    gpa[n] = v->pte[i].gpa;
    val[n] = v->pte[i].value;
  }
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_step *st = &sdm.step[i];
    if (st->op == VEC_SET_PTE) {
      uint32_t k = 0;
      while (k < n && gpa[k] != st->a)
        k++;
      if (k == n && n < VEC_MAX_PTES + VEC_MAX_STEPS)
        gpa[n++] = st->a;
      if (k < n)
        val[k] = st->b;
      continue;
    }
    if (st->op != VEC_ACCESS)
      continue;
    /* a #PF at a guest leaf, or a #VMEXIT(NPF) at a nested one (QEMU's
     * nested walk is its walker) */
    int pf = st->expect.kind == VEC_OUT_PF && (st->expect.error_code & MMU_PFEC_P);
    int npf = st->expect.kind == VEC_OUT_NPF && (st->expect.qual & MMU_PFEC_P);
    for (uint32_t a = 0; a < st->ad_count; a++) {
      uint32_t k = 0;
      while (k < n && gpa[k] != st->ad[a].gpa)
        k++;
      uint64_t old = k < n ? val[k] : 0;
      int faulted = in_nested_tables(v, st->ad[a].gpa) ? npf : pf;
      if (faulted && (old & MMU_PTE_PS) && (old ^ st->ad[a].value) == MMU_PTE_A) {
        memmove(&st->ad[a], &st->ad[a + 1], (st->ad_count - a - 1) * sizeof st->ad[0]);
        st->ad_count--;
        a--;
        hit = 1;
        continue;
      }
      if (k < n)
        val[k] = st->ad[a].value;
    }
  }
  if (hit) {
    adopt(v, &sdm, d);
    for (uint32_t i = 0; i < v->step_count; i++) /* keep the source's A/D */
      if (v->step[i].op == VEC_ACCESS && v->step[i].observed.kind == VEC_OUT_NONE &&
          v->step[i].ad_count != sdm.step[i].ad_count)
        v->step[i].observed = v->step[i].expect;
  }
  return hit;
}

const capture_departure capture_a_on_faulting_leaf = {
    "a-on-faulting-leaf",
    "A set in a large-page leaf by a faulting access (not a policy the "
    "library models)",
    detect_a_on_faulting_leaf};

/* ---- the modes before IA-32e ------------------------------------------------ */

/* The value of the 8-byte cell at gpa before step `upto`: the vector's
 * entries, SET_PTE steps and the A/D changes recorded so far. */
static uint64_t cell_before(const vec_vector *v, uint32_t upto, uint64_t gpa) {
  uint64_t val = 0;
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == gpa)
      val = v->pte[i].value;
  for (uint32_t s = 0; s < upto && s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    if (st->op == VEC_SET_PTE && st->a == gpa)
      val = st->b;
    for (uint32_t a = 0; st->op == VEC_ACCESS && a < st->ad_count; a++)
      if (st->ad[a].gpa == gpa)
        val = st->ad[a].value;
  }
  return val;
}

/* CR3 when step `upto` runs. */
static uint64_t cr3_at(const vec_vector *v, uint32_t upto) {
  uint64_t cr3 = v->cr3;
  for (uint32_t s = 0; s < upto && s < v->step_count; s++)
    if (v->step[s].op == VEC_CR3)
      cr3 = v->step[s].a;
  return cr3;
}

static int pae_paging(const vec_vector *v) {
  return (v->cr0 & MMU_CR0_PG) && (v->cr4 & MMU_CR4_PAE) &&
         !(v->efer & MMU_EFER_LME);
}

/* Keeps the source's A/D (as 'observed') in the steps whose A/D sdm
 * changed, after adopt. */
static void adopt_ad(vec_vector *v, const vec_vector *sdm,
                     const capture_departure *d) {
  static vec_vector src;
  src = *v;
  adopt(v, sdm, d);
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS && v->step[i].observed.kind == VEC_OUT_NONE &&
        v->step[i].ad_count != src.step[i].ad_count)
      v->step[i].observed = src.step[i].expect;
}

/* QEMU TCG sets A (bit 5) in a PAE PDPTE when it walks through it; SDM
 * 4.4.1: PDPTE bits 8:5 are reserved, and a walk starts from the PDPTE
 * registers, which it does not write back. The SDM's A/D changes are the
 * source's without that one. */
static int detect_pdpte_a(capture_source *s, vec_vector *v,
                          const capture_departure *d) {
  (void)s;
  static vec_vector sdm;
  if (!pae_paging(v))
    return 0;
  int hit = 0;
  sdm = *v;
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_step *st = &sdm.step[i];
    if (st->op != VEC_ACCESS)
      continue;
    uint64_t pdpt = cr3_at(v, i) & 0xffffffe0ull;
    for (uint32_t a = 0; a < st->ad_count; a++) {
      uint64_t g = st->ad[a].gpa;
      if (g < pdpt || g >= pdpt + 32 ||
          (cell_before(v, i, g) ^ st->ad[a].value) != MMU_PTE_A)
        continue;
      memmove(&st->ad[a], &st->ad[a + 1], (st->ad_count - a - 1) * sizeof st->ad[0]);
      st->ad_count--;
      a--;
      hit = 1;
    }
  }
  if (hit)
    adopt_ad(v, &sdm, d);
  return hit;
}

const capture_departure capture_pdpte_a = {
    "pdpte-a",
    "A set in a PAE PDPTE by a walk (SDM 4.4.1: bits 8:5 reserved; walks "
    "start from the PDPTE registers)",
    detect_pdpte_a};

/* QEMU TCG, whose PAE walk reads the PDPTE from memory (which the SDM's
 * PDPTE registers hide from view, but a guest under NPT shows: APM 2 15.25,
 * SPEC 10.4), checks a present PDPTE for bits 63 and 62:M only: one with
 * a reserved bit of 2:1 or 8:5 (SDM 4.4.1 Table 4-8; the APM's PDPE has
 * them MBZ too) is walked through. Re-run with bit 63 added to every such
 * PDPTE: reserved as well, so the SDM's outcomes cannot change, and QEMU
 * checks it. */
static int is_pdpte_low_rsvd(const vec_vector *v, uint64_t gpa, uint64_t val) {
  uint64_t pdpt = v->cr3 & 0xffffffe0ull;
  return gpa >= pdpt && gpa < pdpt + 32 && (val & MMU_PTE_P) &&
         (val & 0x1e6ull) && !(val >> 63);
}

static int detect_pdpte_low_rsvd(capture_source *s, vec_vector *v,
                                 const capture_departure *d) {
  static vec_vector alt;
  if (!pae_paging(v) || v->nested_kind != MMU_NESTED_NPT)
    return 0;
  alt = *v;
  capture_clear_outcomes(&alt);
  int moved = 0;
  for (uint32_t i = 0; i < alt.pte_count; i++)
    if (is_pdpte_low_rsvd(v, alt.pte[i].gpa, alt.pte[i].value)) {
      alt.pte[i].value |= 1ull << 63;
      moved = 1;
    }
  for (uint32_t i = 0; i < alt.step_count; i++)
    if (alt.step[i].op == VEC_SET_PTE &&
        is_pdpte_low_rsvd(v, alt.step[i].a, alt.step[i].b)) {
      alt.step[i].b |= 1ull << 63;
      moved = 1;
    }
  if (!moved || capture_run_one(s, &alt) != 0)
    return 0;
  if (!access_steps_differ(v, &alt))
    return 0;
  adopt_ad(v, &alt, d);
  return 1;
}

const capture_departure capture_pdpte_low_rsvd = {
    "pdpte-low-rsvd",
    "PDPTE bits 2:1, 8:5 not checked (SDM 4.4.1: reserved)",
    detect_pdpte_low_rsvd};

/* QEMU TCG faults on a 4 MiB page whose PDE sets a reserved bit of 20:13
 * (those at and above MAXPHYADDR - 19: PSE-36 address bits past
 * MAXPHYADDR) without RSVD in the error code; SDM 4.3 (Table 4-4) and 4.7:
 * a reserved bit makes the fault RSVD = 1. The SDM's code is the source's
 * with RSVD. */
static int detect_pse36_rsvd(capture_source *s, vec_vector *v,
                             const capture_departure *d) {
  (void)s;
  static vec_vector sdm;
  if (!(v->cr0 & MMU_CR0_PG) || (v->cr4 & MMU_CR4_PAE) ||
      !(v->cr4 & MMU_CR4_PSE))
    return 0;
  uint32_t m = v->maxphyaddr ? v->maxphyaddr : 52;
  if (m >= 40)
    return 0;
  uint32_t reserved = ((1u << 21) - 1) & ~((1u << (m - 19)) - 1); /* 20:(M-19) */
  int hit = 0;
  sdm = *v;
  for (uint32_t i = 0; i < v->step_count; i++) {
    vec_step *st = &sdm.step[i];
    if (st->op != VEC_ACCESS || st->expect.kind != VEC_OUT_PF ||
        (st->expect.error_code & MMU_PFEC_RSVD) ||
        !(st->expect.error_code & MMU_PFEC_P))
      continue;
    uint64_t gpa = (cr3_at(v, i) & 0xfffff000ull) + 4 * ((st->a & 0xffffffffull) >> 22);
    uint32_t pde = (uint32_t)(cell_before(v, i, gpa & ~7ull) >> ((gpa & 4) ? 32 : 0));
    if ((pde & MMU_PTE_P) && (pde & MMU_PTE_PS) && (pde & reserved)) {
      st->expect.error_code |= MMU_PFEC_RSVD;
      hit = 1;
    }
  }
  if (hit)
    adopt(v, &sdm, d);
  return hit;
}

const capture_departure capture_pse36_rsvd = {
    "pse36-rsvd",
    "a 4 MiB page's reserved PSE-36 bit faults without RSVD (SDM 4.7: "
    "RSVD = 1)",
    detect_pse36_rsvd};
