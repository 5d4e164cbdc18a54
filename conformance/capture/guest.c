/* SPDX-License-Identifier: MIT */
/* guest.c - the host side of the shared capture harness: see guest.h. */
#define _GNU_SOURCE
#include "guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../include/mmu.h"

/* the guest dispatches on these numbers (guest/macros.inc) */
_Static_assert(OP_ACCESS == VEC_ACCESS && OP_SET_PTE == VEC_SET_PTE &&
                   OP_INVLPG == VEC_INVLPG && OP_INVPCID == VEC_INVPCID &&
                   OP_CR0 == VEC_CR0 && OP_CR3 == VEC_CR3 &&
                   OP_CR4 == VEC_CR4 && OP_EFER == VEC_EFER &&
                   OP_PKRU == VEC_PKRU && OP_CPL == VEC_CPL &&
                   OP_AC == VEC_AC,
               "guest/layout.h OP_* must be vector.h's vec_op");

int cap_add_unique(uint64_t *arr, unsigned *n, unsigned max, uint64_t x) {
  for (unsigned i = 0; i < *n; i++)
    if (arr[i] == x)
      return 0;
  if (*n >= max)
    return -1;
  arr[(*n)++] = x;
  return 0;
}

int cap_contains(const uint64_t *arr, unsigned n, uint64_t x) {
  for (unsigned i = 0; i < n; i++)
    if (arr[i] == x)
      return 1;
  return 0;
}

/* ---- the harness image --------------------------------------------------- */

int capture_image_open(capture_image *img, const unsigned char *start,
                       const unsigned char *end) {
  uint64_t off_user, magic;
  img->start = start;
  img->len = (size_t)(end - start);
  if (img->len != H_USCRATCH - H_CODE)
    return EPROTO;
  memcpy(&img->off_stubs, start + HDR_STUBS, 8);
  memcpy(&img->off_lldt, start + HDR_LLDT, 8);
  img->off_stubs32 = 0;
  memcpy(&off_user, start + HDR_USER, 8);
  memcpy(&magic, start + HDR_MAGIC, 8);
  if (magic != IMAGE_MAGIC || off_user != H_USER - H_CODE)
    return EPROTO;
  return 0;
}

uint64_t capture_lldt_rip(const capture_image *img, int la57) {
  return cap_hb(la57) + H_CODE + img->off_lldt;
}

void capture_build_harness(uint8_t *mem, uint64_t ram_size,
                           const capture_image *img) {
  const uint64_t PWA = MMU_PTE_P | MMU_PTE_W | MMU_PTE_A;
  memset(mem, 0, H_END);
  memcpy(mem + H_CODE, img->start, img->len);

  cap_wr64(mem, H_GDT + SEL_KCODE, 0x00209a0000000000ull);
  cap_wr64(mem, H_GDT + SEL_KDATA, 0x00cf92000000ffffull);
  cap_wr64(mem, H_GDT + SEL_UDATA, 0x00cff2000000ffffull);
  cap_wr64(mem, H_GDT + SEL_UCODE, 0x0020fa0000000000ull);
  cap_wr64(mem, H_GDT + SEL_KCODE32, 0x00cf9a000000ffffull);
  cap_wr64(mem, H_GDT + SEL_UCODE32, 0x00cffa000000ffffull);
  if (img->off_stubs32) { /* outside IA-32e: 8-byte gates, a 32-bit TSS */
    uint64_t b = H_TSS32;
    cap_wr64(mem, H_GDT + SEL_TSS32, 0x67 | ((b & 0xffffff) << 16) |
                                         (0x89ull << 40) | (((b >> 24) & 0xff) << 56));
    uint32_t esp0 = H_XSTACK_TOP, ss0 = SEL_KDATA;
    memcpy(mem + H_TSS32 + 4, &esp0, 4);
    memcpy(mem + H_TSS32 + 8, &ss0, 4);
    uint16_t iomap = 104;
    memcpy(mem + H_TSS32 + 102, &iomap, 2);
    for (uint64_t i = 0; i < 32; i++) {
      uint64_t off = H_CODE + img->off_stubs32 + 16 * i;
      cap_wr64(mem, H_IDT32 + 8 * i, (off & 0xffff) | ((uint64_t)SEL_KCODE32 << 16) |
                                         (0x8eull << 40) | (((off >> 16) & 0xffff) << 48));
    }
  }
  for (int la57 = 0; la57 <= 1; la57++) {
    uint64_t hb = cap_hb(la57);
    uint64_t tss = la57 ? H_TSS5 : H_TSS4;
    uint64_t b = hb + tss;
    uint64_t lo = 0x67 | ((b & 0xffffff) << 16) | (0x89ull << 40) |
                  (((b >> 24) & 0xff) << 56);
    uint64_t sel = la57 ? SEL_TSS5 : SEL_TSS4;
    cap_wr64(mem, H_GDT + sel, lo);
    cap_wr64(mem, H_GDT + sel + 8, b >> 32);
    cap_wr64(mem, tss + 4, hb + H_XSTACK_TOP); /* RSP0 */
    uint16_t iomap = 104;
    memcpy(mem + tss + 102, &iomap, 2);
    uint64_t idt = la57 ? H_IDT5 : H_IDT4;
    for (uint64_t i = 0; i < 32; i++) {
      uint64_t off = hb + H_CODE + img->off_stubs + 16 * i;
      uint64_t gate = (off & 0xffff) | ((uint64_t)SEL_KCODE << 16) |
                      (0x8eull << 40) | (((off >> 16) & 0xffff) << 48);
      cap_wr64(mem, idt + 16 * i, gate);
      cap_wr64(mem, idt + 16 * i + 8, off >> 32);
    }
  }

  /* outside IA-32e: [0, H_LEGACY_MAP) at linear = physical */
  for (uint64_t pa = 0; pa < H_LEGACY_MAP; pa += 4096) {
    uint64_t u = (pa == H_USER || pa == H_USCRATCH || pa == H_USTACK - 0x1000)
                     ? MMU_PTE_U : 0;
    uint32_t e32 = (uint32_t)(pa | PWA | MMU_PTE_D | u);
    memcpy(mem + H_LPT32 + 4 * (pa >> 12), &e32, 4);
    if (pa < (2ull << 20))
      cap_wr64(mem, H_LPT_PAE + 8 * (pa >> 12), pa | PWA | MMU_PTE_D | u);
  }
  cap_wr64(mem, H_LPD_PAE, H_LPT_PAE | PWA | MMU_PTE_U);
  for (uint64_t j = 1; j < H_LEGACY_MAP >> 21; j++)
    cap_wr64(mem, H_LPD_PAE + 8 * j, (j << 21) | PWA | MMU_PTE_D | MMU_PTE_PS);

  /* the window: HB + gpa -> gpa over all RAM */
  for (uint64_t i = 0; i < 512; i++) {
    uint64_t pa = i << 12, u = 0;
    if (pa == H_USER || pa == H_USCRATCH || pa == H_USTACK - 0x1000)
      u = MMU_PTE_U;
    cap_wr64(mem, H_PT0 + 8 * i, pa | PWA | MMU_PTE_D | u);
  }
  uint64_t ngib = (ram_size + (1ull << 30) - 1) >> 30;
  for (uint64_t g = 0; g < ngib; g++) {
    cap_wr64(mem, H_PDPT + 8 * g, (H_PD + 4096 * g) | PWA | MMU_PTE_U);
    for (uint64_t j = 0; j < 512; j++) {
      uint64_t pa = (g << 30) | (j << 21);
      if (pa >= ram_size)
        break;
      uint64_t e = pa == 0 ? (H_PT0 | PWA | MMU_PTE_U)
                           : (pa | PWA | MMU_PTE_D | MMU_PTE_PS);
      cap_wr64(mem, H_PD + 4096 * g + 8 * j, e);
    }
  }
  cap_wr64(mem, H_PML4 + 8 * CAPTURE_HARNESS_SLOT, H_PDPT | PWA | MMU_PTE_U);
  cap_wr64(mem, H_PML4_5 + 0, H_PDPT | PWA | MMU_PTE_U);
  cap_wr64(mem, H_PML5 + 8 * CAPTURE_HARNESS_SLOT, H_PML4_5 | PWA | MMU_PTE_U);
}

uint64_t capture_harness_entry(int la57) {
  return (la57 ? H_PML4_5 : H_PDPT) | MMU_PTE_P | MMU_PTE_W | MMU_PTE_U |
         MMU_PTE_A;
}

/* ---- a vector under the harness ----------------------------------------- */

enum capture_mode capture_vector_mode(const vec_vector *v) {
  if (!(v->cr0 & MMU_CR0_PG) || !(v->cr0 & MMU_CR0_PE))
    return CAPTURE_MODE_OFF;
  if (!(v->cr4 & MMU_CR4_PAE))
    return CAPTURE_MODE_32;
  if (!(v->efer & MMU_EFER_LME))
    return CAPTURE_MODE_PAE;
  return (v->cr4 & MMU_CR4_LA57) ? CAPTURE_MODE_LONG5 : CAPTURE_MODE_LONG4;
}

static int refuse(char *why, size_t n, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(char *why, size_t n, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && n)
    vsnprintf(why, n, fmt, ap);
  va_end(ap);
  return err;
}

/* The harness's entries in a top-level table of a vector in mode md: the
 * first at top + 8 * (*first), *count quads; their values in val[]. */
static void harness_entries(enum capture_mode md, unsigned *first,
                            unsigned *count, uint64_t val[8]) {
  const uint64_t PWUA = MMU_PTE_P | MMU_PTE_W | MMU_PTE_U | MMU_PTE_A;
  if (md == CAPTURE_MODE_32) { /* PDEs 0..15, two to a quad */
    *first = 0;
    *count = 8;
    for (unsigned i = 0; i < 8; i++)
      val[i] = (H_LPT32 + 8192ull * i) | PWUA |
               ((H_LPT32 + 8192ull * i + 4096) | PWUA) << 32;
  } else if (md == CAPTURE_MODE_PAE) { /* PDPTE 0: P only (SDM 4.4.1) */
    *first = 0;
    *count = 1;
    val[0] = H_LPD_PAE | MMU_PTE_P;
  } else {
    *first = CAPTURE_HARNESS_SLOT;
    *count = md == CAPTURE_MODE_OFF ? 0 : 1;
    val[0] = capture_harness_entry(md == CAPTURE_MODE_LONG5);
  }
}

/* Is gpa one of the harness's entries in the vector's top-level tables? */
static int in_harness_slot(const capture_vmem *m, enum capture_mode md,
                           uint64_t gpa) {
  unsigned first, count;
  uint64_t val[8];
  harness_entries(md, &first, &count, val);
  for (unsigned t = 0; t < m->ntop; t++)
    if (gpa >= m->top[t] + 8 * first && gpa < m->top[t] + 8 * (first + count))
      return 1;
  return 0;
}

/* Steps outside IA-32e run in 32-bit code (steps32.inc): IA-32e-only
 * steps and controls are refused, and so are addresses of 4 GiB and up. */
static int plan_legacy_steps(const vec_vector *v, char *why, size_t n) {
  if (v->cr4 & (MMU_CR4_PKE | MMU_CR4_PCIDE | MMU_CR4_LA57))
    return refuse(why, n, -ENOTSUP, "CR4 %#llx: a control of IA-32e only",
                  (unsigned long long)v->cr4);
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    if (st->op == VEC_INVPCID || st->op == VEC_PKRU ||
        (st->op == VEC_EFER && (st->a & MMU_EFER_LME)))
      return refuse(why, n, -ENOTSUP, "step %u: not outside IA-32e", s);
    if (st->op == VEC_ACCESS && (st->access & MMU_IMPLICIT))
      return refuse(why, n, -ENOTSUP, "step %u: implicit accesses only in "
                    "IA-32e", s);
    if (st->op == VEC_ACCESS && st->a > 0xffffffffull)
      return refuse(why, n, -ENOTSUP, "step %u: address above 4 GiB", s);
    /* the harness maps itself in one format: no switch between 32-bit and
     * PAE paging, and no paging turned on that was off */
    if (st->op == VEC_CR4 && ((st->a ^ v->cr4) & MMU_CR4_PAE))
      return refuse(why, n, -ENOTSUP, "step %u: CR4.PAE changes", s);
    if (st->op == VEC_CR0 && (st->a & MMU_CR0_PG) && !(v->cr0 & MMU_CR0_PG))
      return refuse(why, n, -ENOTSUP, "step %u: paging turned on", s);
    if (st->op == VEC_ACCESS && st->a < (v->cr0 & MMU_CR0_PG ? H_LEGACY_MAP : H_END))
      return refuse(why, n, -EINVAL, "step %u: access to the harness's "
                    "linear addresses", s);
  }
  return 0;
}

int capture_plan_vector(const capture_limits *lim, const vec_vector *v,
                        capture_vmem *m, char *why, size_t n) {
  static const uint64_t controls = MMU_CR4_LA57 | MMU_CR4_PKE |
                                   MMU_CR4_PCIDE | MMU_CR4_SMEP | MMU_CR4_SMAP;
  uint64_t ram = lim->ram_size;
  memset(m, 0, sizeof *m);
  if (why && n)
    why[0] = 0;
  if (v->pte_count > VEC_MAX_PTES || v->step_count > VEC_MAX_STEPS)
    return refuse(why, n, -EINVAL, "too many entries or steps");
  uint32_t mp = v->maxphyaddr ? v->maxphyaddr : 52;
  if (mp < 36 || mp > 52)
    return refuse(why, n, -EINVAL, "maxphyaddr %u out of range", mp);
  if (!(lim->modes & CAPTURE_MODE_BIT(capture_vector_mode(v))))
    return refuse(why, n, -ENOTSUP, "the harness cannot enter this paging "
                  "mode (CR0 %#llx CR4 %#llx EFER %#llx)",
                  (unsigned long long)v->cr0, (unsigned long long)v->cr4,
                  (unsigned long long)v->efer);
  if ((v->cr4 & controls & ~lim->cr4) || ((v->efer & MMU_EFER_NXE) && !lim->nx))
    return refuse(why, n, -ENOTSUP, "CR4/EFER %#llx/%#llx needs a feature "
                  "the CPU does not offer", (unsigned long long)v->cr4,
                  (unsigned long long)v->efer);
  enum capture_mode md = capture_vector_mode(v);
  if (md < CAPTURE_MODE_LONG4) {
    int r = plan_legacy_steps(v, why, n);
    if (r)
      return r;
  }
  /* top-level tables: the initial CR3 and the valid CR3 writes (32-bit
   * paging: bits 31:12; PAE: 31:5) */
  uint64_t cr3_mask = ((1ull << mp) - 1) & ~0xfffull;
  if (md == CAPTURE_MODE_32)
    cr3_mask = 0xfffff000ull;
  else if (md == CAPTURE_MODE_PAE)
    cr3_mask = 0xffffffe0ull;
  if (md != CAPTURE_MODE_OFF && (v->cr3 & ~(cr3_mask | 0xfffull)))
    return refuse(why, n, -EINVAL, "initial CR3 has reserved bits");
  if (md != CAPTURE_MODE_OFF)
    m->top[m->ntop++] = v->cr3 & cr3_mask;
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    if (st->op < VEC_ACCESS || st->op > VEC_AC)
      return refuse(why, n, -EINVAL, "step %u: unknown op %d", s, (int)st->op);
    if (st->op == VEC_CR3 && md != CAPTURE_MODE_OFF &&
        !(st->a & ~(cr3_mask | 0xfffull | (1ull << 63))))
      cap_add_unique(m->top, &m->ntop, VEC_MAX_STEPS + 1, st->a & cr3_mask);
    if (st->op == VEC_ACCESS) {
      unsigned kind = st->access & 3;
      if (kind == 3 || (st->access & ~7u))
        return refuse(why, n, -EINVAL, "step %u: bad access kind %#x", s,
                      st->access);
      if ((st->access & MMU_IMPLICIT) && kind != MMU_READ)
        return refuse(why, n, -ENOTSUP, "step %u: implicit writes/fetches "
                      "not supported", s);
    }
  }
  for (unsigned t = 0; t < m->ntop; t++) {
    if (m->top[t] < H_END)
      return refuse(why, n, -EINVAL, "top-level table %#llx in the harness",
                    (unsigned long long)m->top[t]);
    if (m->top[t] + 4096 > ram)
      return refuse(why, n, -ERANGE, "top-level table %#llx outside RAM",
                    (unsigned long long)m->top[t]);
  }
  /* its entries, then the harness's; what it watches */
  for (uint32_t i = 0; i < v->pte_count; i++) {
    uint64_t g = v->pte[i].gpa;
    if ((g & 7) || g < H_END)
      return refuse(why, n, -EINVAL, "entry at %#llx: misaligned or in the "
                    "harness", (unsigned long long)g);
    if (g + 8 > ram)
      return refuse(why, n, -ERANGE, "entry at %#llx outside RAM",
                    (unsigned long long)g);
    if (in_harness_slot(m, md, g))
      return refuse(why, n, -EINVAL, "entry at %#llx is in the harness's "
                    "top-level slot", (unsigned long long)g);
    m->gpa[m->n] = g;
    m->val[m->n++] = v->pte[i].value;
    cap_add_unique(m->watch, &m->nwatch, MAX_WATCH, g);
  }
  unsigned first, count;
  uint64_t hval[8];
  harness_entries(md, &first, &count, hval);
  for (unsigned t = 0; t < m->ntop; t++)
    for (unsigned i = 0; i < count; i++) {
      if (m->n >= sizeof m->gpa / sizeof m->gpa[0])
        return refuse(why, n, -EINVAL, "too many top-level tables");
      m->gpa[m->n] = m->top[t] + 8 * (first + i);
      m->val[m->n++] = hval[i];
    }
  for (unsigned i = 0; i < m->n; i++)
    cap_add_unique(m->touched, &m->ntouched, sizeof m->touched / 8, m->gpa[i]);
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    if (st->op != VEC_SET_PTE)
      continue;
    uint64_t g = st->a;
    if ((g & 7) || g < H_END || in_harness_slot(m, md, g))
      return refuse(why, n, -EINVAL, "step %u: SET_PTE at %#llx conflicts "
                    "with the harness", s, (unsigned long long)g);
    if (g + 8 > ram)
      return refuse(why, n, -ERANGE, "step %u: SET_PTE at %#llx outside RAM",
                    s, (unsigned long long)g);
    cap_add_unique(m->watch, &m->nwatch, MAX_WATCH, g);
    cap_add_unique(m->touched, &m->ntouched, sizeof m->touched / 8, g);
  }
  return 0;
}

void capture_encode_step(const vec_step *st, uint64_t target,
                         uint64_t q[STEP_SIZE / 8]) {
  uint64_t a = st->a, b = st->b;
  if (st->op == VEC_CPL)
    a = (a & 3) == 3 ? 3 : 0; /* CPL 1 and 2 are supervisor like 0 */
  if (st->op == VEC_ACCESS)
    b = (st->access & 7) == MMU_WRITE ? target : UINT64_MAX;
  q[S_OP / 8] = (uint64_t)st->op;
  q[S_KIND / 8] = st->access;
  q[S_A / 8] = a;
  q[S_B / 8] = b;
  q[S_C / 8] = st->c;
}

/* ---- outcomes -------------------------------------------------------------- */

static int canonical(uint64_t va, int la57) {
  int s = la57 ? 56 : 47;
  uint64_t top = (uint64_t)((int64_t)va >> s);
  return top == 0 || top == UINT64_MAX;
}

int capture_decode(const capture_image *img, int la57,
                   enum capture_fetch_probe fetch, const vec_step *st,
                   const capture_exc *e, vec_outcome *o) {
  unsigned kind = st->access & 3;
  int implicit = (st->access & MMU_IMPLICIT) != 0;
  memset(o, 0, sizeof *o);
  if (kind == MMU_FETCH) {
    int pf = e->vec == 14, gp = e->vec == 13;
    if (fetch == CAPTURE_FETCH_RUNS) {
      /* a #PF elsewhere, or a #GP at a canonical address, came from the
       * fetched bytes: the fetch itself went through */
      pf &= e->cr2 == st->a;
      gp &= !canonical(st->a, la57);
    } else if (!pf && !gp && !(e->vec == 6 && e->rip == st->a)) {
      return -1;
    }
    o->kind = pf ? VEC_OUT_PF : gp ? VEC_OUT_GP : VEC_OUT_OK;
  } else if (e->vec == 14) {
    o->kind = VEC_OUT_PF;
  } else if (e->vec == 13) {
    /* an implicit read's #GP at LLDT: the base was not canonical; its
     * #GP(selector) at the segment load: the descriptor was read */
    o->kind = implicit && e->rip != capture_lldt_rip(img, la57) && e->ec != 0
                  ? VEC_OUT_OK
                  : VEC_OUT_GP;
  } else if (e->vec == UINT64_MAX || e->vec == 6 || (e->vec == 11 && implicit)) {
    o->kind = VEC_OUT_OK; /* no exception, the user stub's #UD, or #NP
                             from the segment load */
  } else {
    return -1;
  }
  if (o->kind == VEC_OUT_PF) {
    o->error_code = (uint32_t)e->ec;
    o->pa_or_cr2 = e->cr2;
  }
  return 0;
}

/* ---- the CPU a source runs ------------------------------------------------- */

const uint32_t capture_cpuid_leaves[CPUID_N] = {
    0, 1, 7, 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004,
    0x80000008, 0x8000000a};

void capture_cpu_decode(const uint32_t r[CPUID_N][4], capture_cpu *c) {
  memset(c, 0, sizeof *c);
  memcpy(c->vendor, &r[0][1], 4);
  memcpy(c->vendor + 4, &r[0][3], 4);
  memcpy(c->vendor + 8, &r[0][2], 4);
  for (int i = 0; i < 3; i++)
    memcpy(c->brand_buf + 16 * i, r[5 + i], 16);
  c->brand = c->brand_buf;
  while (*c->brand == ' ')
    c->brand++;
  uint32_t fms = r[1][0];
  c->family = (fms >> 8 & 0xf) + ((fms >> 8 & 0xf) == 0xf ? (fms >> 20 & 0xff) : 0);
  c->model = (fms >> 4 & 0xf) | ((fms >> 16 & 0xf) << 4);
  c->stepping = fms & 0xf;
  c->pcid = r[1][2] >> 17 & 1;
  c->smep = r[2][1] >> 7 & 1;
  c->invpcid = r[2][1] >> 10 & 1;
  c->smap = r[2][1] >> 20 & 1;
  c->pku = r[2][2] >> 3 & 1;
  c->la57 = r[2][2] >> 16 & 1;
  c->nx = r[4][3] >> 20 & 1;
  c->pdpe1gb = r[4][3] >> 26 & 1;
  c->maxphyaddr = r[8][0] & 0xff;
  c->vmx = r[1][2] >> 5 & 1;
  c->svm = r[4][2] >> 2 & 1;
  if (c->svm && r[3][0] >= 0x8000000a) {
    c->svm_features = r[9][3];
    c->npt = r[9][3] & 1;
  }
}

capture_limits capture_limits_of(const capture_cpu *offer, uint64_t ram_size,
                                 unsigned modes) {
  capture_limits lim = {ram_size, modes, 0, offer->nx};
  lim.cr4 = (offer->la57 ? MMU_CR4_LA57 : 0) | (offer->pku ? MMU_CR4_PKE : 0) |
            (offer->pcid ? MMU_CR4_PCIDE : 0) |
            (offer->smep ? MMU_CR4_SMEP : 0) | (offer->smap ? MMU_CR4_SMAP : 0);
  return lim;
}

/* ---- why vectors were not captured ---------------------------------------- */

int capture_reasons_reset(capture_reasons *r, size_t n) {
  free(r->text);
  r->text = calloc(n ? n : 1, sizeof *r->text);
  r->n = r->text ? n : 0;
  return r->text ? 0 : -ENOMEM;
}

void capture_reason(capture_reasons *r, size_t i, const char *fmt, ...) {
  if (!r->text || i >= r->n)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->text[i], sizeof r->text[i], fmt, ap);
  va_end(ap);
}

const char *capture_reason_of(const capture_reasons *r, size_t i) {
  return r->text && i < r->n ? r->text[i] : "";
}

void capture_reasons_free(capture_reasons *r) {
  free(r->text);
  r->text = NULL;
  r->n = 0;
}
