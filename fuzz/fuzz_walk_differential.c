/* SPDX-License-Identifier: MIT */
/* fuzz_walk_differential.c - the fast path (mmu_translate: TLB + walker)
 * against the reference walker (mmu_reference_translate), each on its own
 * copy of guest RAM.
 *
 * The input builds page tables in a small guest RAM (fuzz_world.h: two
 * exactly sized regions with a gap, optional MMIO-resident entries behind
 * the callbacks), a CPU state (CR0/CR4/EFER bits, LA57, PCIDE, CPL, AC,
 * PKRU, MAXPHYADDR 36..52, MMU_CFG flags, TLB geometry) and a list of
 * operations: accesses of any kind (implicit too, spans too), INVLPG,
 * INVPCID, CR3 writes, register changes. Both paths must agree on every
 * status, paddr, host pointer, page size, error code and cr2, and on the
 * RAM contents (A/D writes). Paging entries are never rewritten after the
 * tables are built (A/D updates do not change outcomes), so every TLB hit
 * is still what the tables say and the paths must agree exactly.
 *
 * Nested paging (SPEC 10): an operation turns EPT or NPT on or off, on
 * nested tables it builds in fresh frames of both RAMs (identity over the
 * regions at some page size, plus mappings with any rights, flags and
 * targets), or with a root as given (vectors). Exits must agree on gpa and
 * qualification (EXITINFO1), and the pages holding entries on their A/D
 * after every access (guest entries then live at host-physical addresses
 * the trace does not give). One A/D write does change an outcome: a guest
 * entry's A or D (bits 5, 6) landing in a slot that is also an EPT entry,
 * where they are memory type and ignore-PAT, or reserved above a leaf.
 * That is the processor's own write making a cached translation stale, as
 * the SDM allows (tlb_coherence's subject), so side a's TLB is flushed
 * when an EPT entry a walk read changes other than in its own A/D bits. */
#include "fuzz_world.h"

#define WD_MAX_EPT 64

typedef struct wd_state {
  fz_world w;
  fz_side a, b; /* a: mmu_translate, b: mmu_reference_translate */
  unsigned op;
  uint64_t roots[5];
  /* nested tables built so far: [EPT, NPT][4, 5 levels]; 0 if not yet */
  uint64_t host_root[2][2];
  unsigned guest_frames; /* w.frames below this index are the guest's */
  int nested_ops;        /* op bytes 0xFC..0xFF are wd_nested */
  int full;              /* compare all of RAM, not the harness's pages */
  /* EPT entries walks read, with their values then (wd_ept_watch) */
  uint32_t nept;
  uint64_t ept_at[WD_MAX_EPT], ept_val[WD_MAX_EPT];
  /* what the run covered (FUZZ_TRACE prints it) */
  unsigned ok, pf, gp, bus, exits, other;
} wd_state;

static void wd_context(wd_state *s, char *buf, size_t n) {
  const mmu_regs *r = &s->a.cpu.regs;
  const mmu_nested *nn = &s->a.cpu.nested;
  snprintf(buf, n,
           "op %u: cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx cpl %u ac %u "
           "pkru 0x%x maxphy %u flags 0x%x levels %d nested %u/0x%x/0x%llx",
           s->op, (unsigned long long)r->cr0, (unsigned long long)r->cr3,
           (unsigned long long)r->cr4, (unsigned long long)r->efer, r->cpl,
           r->ac, r->pkru, s->a.cpu.maxphyaddr, s->a.cpu.flags, s->w.levels,
           nn->kind, nn->flags, (unsigned long long)nn->root);
}

/* The context for a failure message, made only when a check fails
 * (FZ_CHECK evaluates its message's arguments then, and only then). */
static const char *wd_ctx(wd_state *s) {
  static char buf[320];
  wd_context(s, buf, sizeof buf);
  return buf;
}

static void wd_regs_agree(wd_state *s, const char *what, int ra, int rb) {
  const mmu_regs *x = &s->a.cpu.regs, *y = &s->b.cpu.regs;
  FZ_CHECK(ra == rb, "%s: %s returned %d on one cpu and %d on the other", wd_ctx(s),
           what, ra, rb);
  FZ_CHECK(x->cr0 == y->cr0 && x->cr3 == y->cr3 && x->cr4 == y->cr4 &&
               x->efer == y->efer && x->pkru == y->pkru && x->cpl == y->cpl &&
               x->ac == y->ac &&
               memcmp(x->pdpte, y->pdpte, sizeof x->pdpte) == 0,
           "%s: registers differ after %s", wd_ctx(s), what);
  /* a PDPTE load through EPT that exits (SPEC 10.4) */
  mmu_result ea, eb;
  int xa = mmu_cr_exit(&s->a.cpu, &ea), xb = mmu_cr_exit(&s->b.cpu, &eb);
  FZ_CHECK(xa == xb && (xa == MMU_ERR_STATE ||
                        (ea.gpa == eb.gpa && ea.exit_qual == eb.exit_qual)),
           "%s: the exits of %s differ", wd_ctx(s), what);
}

/* One translated page of an access: both results of one status. */
static void wd_compare_result(wd_state *s, const char *what, uint64_t va,
                              unsigned access, int st, const mmu_result *ra,
                              const mmu_result *rb, uint64_t expect_cr2) {
  if (!(s->a.cpu.regs.efer & MMU_EFER_LMA))
    expect_cr2 = (uint32_t)expect_cr2; /* a 32-bit linear address */
#define WD_CTX "%s: %s %s va 0x%llx: "
#define WD_ARGS wd_ctx(s), what, fz_access_name(access), (unsigned long long)va
  switch (st) {
  case MMU_OK: {
    s->ok++;
    FZ_CHECK(ra->paddr == rb->paddr, WD_CTX "paddr 0x%llx, reference 0x%llx",
             WD_ARGS, (unsigned long long)ra->paddr,
             (unsigned long long)rb->paddr);
    FZ_CHECK(ra->page_size == rb->page_size,
             WD_CTX "page size 0x%llx, reference 0x%llx", WD_ARGS,
             (unsigned long long)ra->page_size,
             (unsigned long long)rb->page_size);
    uint8_t *ha = fz_expected_host(&s->a, ra->paddr);
    uint8_t *hb = fz_expected_host(&s->b, rb->paddr);
    FZ_CHECK(ra->host == ha,
             WD_CTX "host %p for paddr 0x%llx, expected %p", WD_ARGS,
             (void *)ra->host, (unsigned long long)ra->paddr, (void *)ha);
    FZ_CHECK(rb->host == hb,
             WD_CTX "reference host %p for paddr 0x%llx, expected %p",
             WD_ARGS, (void *)rb->host, (unsigned long long)rb->paddr,
             (void *)hb);
    if (ra->host) { /* the whole 4 KiB piece must be addressable */
      volatile uint8_t *h = ra->host;
      (void)h[0];
      (void)h[4095 - (ra->paddr & 0xFFF)];
    }
    break;
  }
  case MMU_PAGE_FAULT:
    s->pf++;
    FZ_CHECK(ra->error_code == rb->error_code,
             WD_CTX "#PF error code 0x%x, reference 0x%x", WD_ARGS,
             ra->error_code, rb->error_code);
    FZ_CHECK(ra->cr2 == expect_cr2 && rb->cr2 == expect_cr2,
             WD_CTX "cr2 0x%llx, reference 0x%llx, expected 0x%llx", WD_ARGS,
             (unsigned long long)ra->cr2, (unsigned long long)rb->cr2,
             (unsigned long long)expect_cr2);
    FZ_CHECK(ra->error_code < 64, WD_CTX "error code 0x%x has unknown bits",
             WD_ARGS, ra->error_code);
    break;
  case MMU_GP_FAULT:
    s->gp++;
    FZ_CHECK(ra->error_code == 0 && rb->error_code == 0,
             WD_CTX "#GP error code %u / %u", WD_ARGS, ra->error_code,
             rb->error_code);
    break;
  case MMU_ERR_PT_BUS:
    s->bus++;
    FZ_CHECK(ra->paddr == rb->paddr,
             WD_CTX "bus error at 0x%llx, reference 0x%llx", WD_ARGS,
             (unsigned long long)ra->paddr, (unsigned long long)rb->paddr);
    FZ_CHECK(!fz_slot(&s->a, ra->paddr) || s->a.mmio,
             WD_CTX "bus error at 0x%llx, which is RAM", WD_ARGS,
             (unsigned long long)ra->paddr);
    break;
  case MMU_EPT_VIOLATION:
  case MMU_EPT_MISCONFIG:
  case MMU_NPF:
    s->exits++;
    FZ_CHECK(s->a.cpu.nested.kind != MMU_NESTED_OFF,
             WD_CTX "exit %d without nested paging", WD_ARGS, st);
    FZ_CHECK(ra->gpa == rb->gpa && ra->exit_qual == rb->exit_qual,
             WD_CTX "exit %d gpa 0x%llx qual 0x%llx, reference gpa 0x%llx "
                    "qual 0x%llx",
             WD_ARGS, st, (unsigned long long)ra->gpa,
             (unsigned long long)ra->exit_qual, (unsigned long long)rb->gpa,
             (unsigned long long)rb->exit_qual);
    break;
  default:
    s->other++;
    FZ_CHECK(st == MMU_ERR_CONTENDED || st == MMU_ERR_MODE,
             WD_CTX "unexpected status %d", WD_ARGS, st);
    break;
  }
#undef WD_CTX
#undef WD_ARGS
}

/* The entry at host-physical address at (its 8-byte slot: 32-bit paging's
 * entries are half of one) must hold the same value in both RAMs. */
FZ_NO_COVERAGE static void wd_compare_slot(wd_state *s, uint64_t va, unsigned level,
                                           uint64_t at) {
  uint64_t *pa = fz_slot(&s->a, at & ~7ull);
  if (!pa)
    return;
  uint64_t ea = *pa, eb = *fz_slot(&s->b, at & ~7ull);
  if (ea != eb) {
    char ctx[320];
    wd_context(s, ctx, sizeof ctx);
    fz_fail("%s: va 0x%llx: level %u entry at 0x%llx is 0x%llx after "
            "mmu_translate, 0x%llx after the reference walk",
            ctx, (unsigned long long)va, level, (unsigned long long)at,
            (unsigned long long)ea, (unsigned long long)eb);
  }
}

/* Where a guest entry the walk read is in host memory: under nested
 * paging the nested walk of its gpa (the steps for its level) ends at a
 * leaf that gives the frame; 0 when that walk stopped before one (the
 * guest entry was not read). */
FZ_NO_COVERAGE static uint64_t wd_guest_entry_hpa(const mmu_trace *t, unsigned level,
                                                  uint64_t gpa) {
  const mmu_nested_step *leaf = NULL;
  for (uint32_t i = 0; i < t->nested_count && i < MMU_TRACE_NESTED_MAX; i++)
    if (t->nested[i].for_level == level)
      leaf = &t->nested[i];
  if (!leaf || !(leaf->level == 1 || (leaf->level <= 3 && (leaf->entry & MMU_PTE_PS))))
    return 0;
  uint64_t size = 1ull << (12 + 9 * (leaf->level - 1));
  return (leaf->entry & FZ_ADDR & ~(size - 1)) | (gpa & (size - 1));
}

/* Entries the reference walk read must hold the same value in both RAMs:
 * the guest's (through the nested walk of their gpa under nested paging)
 * and the nested tables'. */
FZ_NO_COVERAGE static void wd_compare_trace(wd_state *s, uint64_t va, const mmu_trace *t) {
  int nested = s->a.cpu.nested.kind != MMU_NESTED_OFF;
  for (uint32_t i = 0; i < t->count && i < 5; i++) {
    uint64_t at = t->step[i].entry_gpa;
    if (nested && !(at = wd_guest_entry_hpa(t, t->step[i].level, at)))
      continue;
    wd_compare_slot(s, va, t->step[i].level, at);
  }
  for (uint32_t i = 0; i < t->nested_count && i < MMU_TRACE_NESTED_MAX; i++)
    wd_compare_slot(s, va, t->nested[i].level, t->nested[i].entry_hpa);
}

/* After an access under EPT: the EPT entries its reference walk read join
 * the watch list, and if a watched entry changed other than in its EPT A/D
 * bits (a guest A/D write into the same slot), side a's TLB may hold what
 * the tables no longer say: flush it. Past the list's size, every access
 * that walked flushes. */
FZ_NO_COVERAGE static void wd_ept_watch(wd_state *s, const mmu_trace *t) {
  if (s->a.cpu.nested.kind != MMU_NESTED_EPT)
    return;
  int flush = 0;
  for (uint32_t i = 0; i < t->nested_count && i < MMU_TRACE_NESTED_MAX; i++) {
    uint64_t at = t->nested[i].entry_hpa & ~7ull;
    uint32_t k = 0;
    while (k < s->nept && k < WD_MAX_EPT && s->ept_at[k] != at)
      k++;
    if (k == s->nept && k < WD_MAX_EPT) {
      s->ept_at[k] = at;
      s->ept_val[k] = t->nested[i].entry; /* as read, before A/D */
      s->nept++;
    } else if (k == WD_MAX_EPT) {
      s->nept = WD_MAX_EPT + 1;
    }
  }
  flush = s->nept > WD_MAX_EPT && t->nested_count > 0;
  for (uint32_t k = 0; k < s->nept && k < WD_MAX_EPT; k++) {
    uint64_t now = fz_rd(&s->a, s->ept_at[k]);
    if ((now ^ s->ept_val[k]) & ~(MMU_EPT_A | MMU_EPT_D))
      flush = 1;
    s->ept_val[k] = now;
  }
  if (flush) {
    fz_trace("op %u: an EPT entry changed under a walk: flush\n", s->op);
    mmu_flush_tlb(&s->a.cpu);
  }
}

/* Under NPT a PAE guest's walk reads its PDPTEs from memory each time
 * (SPEC 10.4). When the guest's tables put another entry in a PDPTE's
 * slot, that walk's own A/D write into it sets bits reserved in a PDPTE
 * (bits 5 and 6): the next walk faults, while what the walk filled is
 * still cached, as the SDM lets a processor's own write leave it (as
 * wd_ept_watch, for EPT entries). A PDPTE the walk read that holds
 * another value now: side a's TLB is flushed. */
FZ_NO_COVERAGE static void wd_pdpte_watch(wd_state *s, const mmu_trace *t) {
  const mmu_regs *r = &s->a.cpu.regs;
  if (s->a.cpu.nested.kind != MMU_NESTED_NPT || !(r->cr0 & MMU_CR0_PG) ||
      !(r->cr4 & MMU_CR4_PAE) || (r->efer & MMU_EFER_LMA))
    return;
  for (uint32_t i = 0; i < t->count && i < 5; i++) {
    if (t->step[i].level != 3)
      continue;
    uint64_t at = wd_guest_entry_hpa(t, 3, t->step[i].entry_gpa);
    if (at && fz_slot(&s->a, at & ~7ull) && fz_rd(&s->a, at & ~7ull) != t->step[i].entry) {
      fz_trace("op %u: a walk's A/D write changed the PDPTE it read: flush\n", s->op);
      mmu_flush_tlb(&s->a.cpu);
    }
  }
}

FZ_NO_COVERAGE static void wd_compare_ram(wd_state *s) {
  int64_t at = fz_side_diff_in(&s->a, &s->b, s->full);
  if (at >= 0) {
    char ctx[320];
    wd_context(s, ctx, sizeof ctx);
    fz_fail("%s: guest RAM differs at 0x%llx: 0x%llx (mmu_translate) vs "
            "0x%llx (reference)",
            ctx, (unsigned long long)at,
            (unsigned long long)fz_rd(&s->a, (uint64_t)at),
            (unsigned long long)fz_rd(&s->b, (uint64_t)at));
  }
}

static void wd_entry_differs(wd_state *s, uint64_t va, uint64_t at) {
  char ctx[320];
  wd_context(s, ctx, sizeof ctx);
  fz_fail("%s: va 0x%llx: entry at 0x%llx is 0x%llx after mmu_translate, "
          "0x%llx after the reference walk",
          ctx, (unsigned long long)va, (unsigned long long)at,
          (unsigned long long)fz_rd(&s->a, at),
          (unsigned long long)fz_rd(&s->b, at));
}

/* Under nested paging, in the inputs that check all of RAM (s->full):
 * every entry the harness wrote (guest and nested tables; the only ones a
 * walker writes), now, before a later access could set the same bits on
 * the other side; past the list's capacity, every table page. The other
 * inputs compare the entries the reference walk read (wd_compare_trace)
 * and the harness's pages at op 19 and at the end, as without nested
 * paging: a nested fill writes hundreds of entries, and comparing them
 * all at each access took a fifth of the target's time. */
FZ_NO_COVERAGE static void wd_compare_frames(wd_state *s, uint64_t va) {
  if (s->a.cpu.nested.kind == MMU_NESTED_OFF || !s->full)
    return;
  if (s->a.nwritten <= FZ_MAX_WRITTEN && s->b.nwritten <= FZ_MAX_WRITTEN) {
    for (const fz_side *side = &s->a; side; side = side == &s->a ? &s->b : NULL)
      for (uint32_t i = 0; i < side->nwritten; i++)
        if (fz_rd(&s->a, side->written[i]) != fz_rd(&s->b, side->written[i]))
          wd_entry_differs(s, va, side->written[i]);
    return;
  }
  for (unsigned i = 0; i < s->w.nframes; i++) {
    uint64_t f = s->w.frames[i];
    uint64_t *pa = fz_slot(&s->a, f), *pb = fz_slot(&s->b, f);
    if (!pa || !pb || memcmp(pa, pb, 4096) == 0)
      continue;
    for (uint64_t off = 0; off < 4096; off += 8)
      if (pa[off / 8] != pb[off / 8])
        wd_entry_differs(s, va, f + off);
  }
}

/* What the front now lets a JIT do at va with no walk (SPEC 5.8, from the
 * byte offsets), for one access kind an access in turn (each check is a
 * reference walk), the reference walker must allow with the same
 * translation: a front decision that outlives the rights (a fetch the
 * host forbids, a write before D is set) shows here. With the library
 * right the reference sets no A/D bit then (the hit needs them). */
static void wd_jit_agrees(wd_state *s, uint64_t va) {
  static const unsigned kinds[4] = {MMU_READ, MMU_WRITE, MMU_FETCH,
                                    MMU_READ | MMU_IMPLICIT};
  unsigned kind = kinds[s->op & 3];
  jit_out o;
  if (!jit_hit(&s->a.cpu, va, kind, 1, &o))
    return;
  mmu_result r;
  memset(&r, 0, sizeof r);
  int st = mmu_reference_translate(&s->b.cpu, va, kind, &r, NULL);
  FZ_CHECK(st == MMU_OK && r.paddr == o.paddr && r.page_size == o.page_size &&
               o.host == (uint64_t)(uintptr_t)fz_expected_host(&s->a, o.paddr),
           "%s: the front lets a JIT %s va 0x%llx (paddr 0x%llx, host "
           "0x%llx), the reference walker says %d (%s) paddr 0x%llx",
           wd_ctx(s), fz_access_name(kind), (unsigned long long)va,
           (unsigned long long)o.paddr, (unsigned long long)o.host, st,
           mmu_status_name(st), (unsigned long long)r.paddr);
}

static void wd_access(wd_state *s, uint64_t va, unsigned access) {
  mmu_result ra, rb;
  mmu_trace t;
  memset(&ra, 0xA5, sizeof ra);
  memset(&rb, 0x5A, sizeof rb);
  memset(&t, 0, sizeof t);
  int sa = mmu_translate(&s->a.cpu, va, access, &ra);
  int sb = mmu_reference_translate(&s->b.cpu, va, access, &rb, &t);
  fz_trace("op %u: %s 0x%llx -> %d / %d pa 0x%llx ec 0x%x\n", s->op,
           fz_access_name(access), (unsigned long long)va, sa, sb,
           (unsigned long long)(sa == MMU_OK ? ra.paddr : 0),
           sa == MMU_PAGE_FAULT ? ra.error_code : 0);
  if (sa != sb) {
    char ctx[320];
    wd_context(s, ctx, sizeof ctx);
    fz_fail("%s: %s va 0x%llx: mmu_translate status %d (%s), reference %d "
            "(%s); ec 0x%x / 0x%x",
            ctx, fz_access_name(access), (unsigned long long)va, sa,
            mmu_status_name(sa), sb, mmu_status_name(sb),
            sa == MMU_PAGE_FAULT ? ra.error_code : 0,
            sb == MMU_PAGE_FAULT ? rb.error_code : 0);
  }
  wd_compare_result(s, "translate", va, access, sa, &ra, &rb, va);
  wd_compare_trace(s, va, &t);
  wd_compare_frames(s, va);
  wd_ept_watch(s, &t);
  wd_pdpte_watch(s, &t);
  wd_jit_agrees(s, va);
}

/* SPEC 4.9 written out on the reference walker; *second says whether the
 * status is the second page's. */
static int wd_reference_span(mmu_cpu *cpu, uint64_t va, uint32_t len,
                             unsigned access, mmu_result out[2], int *second,
                             mmu_trace t[2]) {
  *second = 0;
  int rc = mmu_reference_translate(cpu, va, access, &out[0], &t[0]);
  if (rc != MMU_OK)
    return rc;
  uint64_t last = va + (len - 1); /* wraps at 2^64 */
  if ((last >> 12) == (va >> 12)) {
    out[1] = out[0];
    return MMU_OK;
  }
  *second = 1;
  return mmu_reference_translate(cpu, last & ~0xFFFull, access, &out[1], &t[1]);
}

static void wd_span(wd_state *s, uint64_t va, uint32_t len, unsigned access) {
  mmu_result ra[2], rb[2];
  memset(ra, 0xA5, sizeof ra);
  memset(rb, 0x5A, sizeof rb);
  int second;
  mmu_trace t[2];
  memset(t, 0, sizeof t);
  int sa = mmu_translate_span(&s->a.cpu, va, len, access, ra);
  int sb = wd_reference_span(&s->b.cpu, va, len, access, rb, &second, t);
  fz_trace("op %u: span %s 0x%llx len %u -> %d / %d\n", s->op,
           fz_access_name(access), (unsigned long long)va, len, sa, sb);
  FZ_CHECK(sa == sb, "%s: span %s va 0x%llx len %u: status %d, reference %d",
           wd_ctx(s), fz_access_name(access), (unsigned long long)va, len, sa,
           sb);
  if (!second) { /* the first page decided (and the access did not cross) */
    wd_compare_result(s, "span page 0", va, access, sa, &ra[0], &rb[0], va);
    if (sa == MMU_OK)
      FZ_CHECK(memcmp(&ra[0], &ra[1], sizeof ra[0]) == 0,
               "%s: span va 0x%llx len %u does not cross, but out[1] "
               "differs from out[0]",
               wd_ctx(s), (unsigned long long)va, len);
    wd_compare_trace(s, va, &t[0]);
    wd_compare_frames(s, va);
    wd_ept_watch(s, &t[0]);
    wd_pdpte_watch(s, &t[0]);
    return;
  }
  uint64_t page1 = (va + (len - 1)) & ~0xFFFull;
  wd_compare_result(s, "span page 0", va, access, MMU_OK, &ra[0], &rb[0], va);
  wd_compare_result(s, "span page 1", page1, access, sa, &ra[1], &rb[1], page1);
  wd_compare_trace(s, va, &t[0]);
  wd_compare_trace(s, page1, &t[1]);
  wd_compare_frames(s, va);
  wd_ept_watch(s, &t[0]);
  wd_ept_watch(s, &t[1]);
  wd_pdpte_watch(s, &t[0]);
  wd_pdpte_watch(s, &t[1]);
}

/* Apply the same register operation to both cpus. */
#define WD_BOTH(s, call_a, call_b, what)                                     \
  do {                                                                       \
    int ra_ = (call_a), rb_ = (call_b);                                      \
    wd_regs_agree((s), (what), ra_, rb_);                                    \
  } while (0)

static uint64_t wd_cr3(wd_state *s, fuzz_input *in, uint64_t root) {
  uint64_t v = root;
  uint8_t k = fi_u8(in);
  if (s->a.cpu.regs.cr4 & MMU_CR4_PCIDE) {
    v |= (k & 0x40) ? 0xFFFu : (k & 3);
    if (k & 0x80)
      v |= MMU_CR3_NOFLUSH;
  } else if (k & 0x40) {
    v |= MMU_PTE_PWT | MMU_PTE_PCD;
  }
  if ((k & 0x3C) == 0x3C) /* reserved bits: #GP */
    v |= 1ull << (36 + (fi_u8(in) % 28));
  return v;
}

static mmu_regs wd_regs(wd_state *s, fuzz_input *in) {
  mmu_regs r;
  memset(&r, 0, sizeof r);
  uint8_t b = fi_u8(in);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | ((b & 1) ? 0 : MMU_CR0_WP);
  r.cr4 = MMU_CR4_PAE | (s->w.levels == 5 ? MMU_CR4_LA57 : 0);
  if (b & 0x02)
    r.cr4 |= MMU_CR4_SMEP;
  if (b & 0x04)
    r.cr4 |= MMU_CR4_SMAP;
  if (b & 0x08)
    r.cr4 |= MMU_CR4_PKE;
  if (b & 0x10)
    r.cr4 |= MMU_CR4_PGE;
  if (b & 0x20)
    r.cr4 |= MMU_CR4_PCIDE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | ((b & 0x40) ? 0 : MMU_EFER_NXE);
  r.ac = (b >> 7) & 1;
  uint8_t c = fi_u8(in);
  r.cpl = (uint8_t)(c & 3);
  static const uint32_t pkrus[4] = {0, 0x55555554u, 0xAAAAAAA8u, 0};
  r.pkru = (c & 0x30) == 0x30 ? fi_u32(in) : pkrus[(c >> 4) & 3];
  r.cr3 = s->roots[(c >> 6) & 3] | ((r.cr4 & MMU_CR4_PCIDE) ? (c & 4 ? 1 : 0) : 0);
  return r;
}

/* Now and then a state before IA-32e mode on the same tables: 32-bit
 * paging (their 8-byte entries read as pairs of 4-byte ones) or PAE, with
 * the PDPTE registers a MOV to CR3 would load (reserved bits cleared: a
 * load with them is #GP, tried by the register ops). */
static void wd_legacy(wd_state *s, fuzz_input *in, mmu_regs *r) {
  uint8_t m = fi_u8(in);
  if ((m & 3) == 0 || (m & 3) == 3)
    return;
  r->cr4 &= ~(uint64_t)(MMU_CR4_LA57 | MMU_CR4_PCIDE | MMU_CR4_PAE);
  r->efer &= ~(uint64_t)(MMU_EFER_LME | MMU_EFER_LMA);
  r->cr3 = (uint32_t)(r->cr3 & ~0xFFFull);
  if ((m & 3) == 1) {
    if (m & 4)
      r->cr4 |= MMU_CR4_PSE;
    return;
  }
  r->cr4 |= MMU_CR4_PAE;
  r->cr3 |= (uint64_t)((m >> 3) & 0x1F) * 32;
  uint64_t reserved = (~0ull << s->a.cpu.maxphyaddr) | 0x1E6ull /* 63:M, 8:5, 2:1 */;
  for (int i = 0; i < 4; i++)
    r->pdpte[i] = fz_rd(&s->a, r->cr3 + 8 * (uint64_t)i) & ~reserved;
}

/* Which tables a MOV to CR3 leaves the cpu on: CR3's table and, under
 * PAE paging, the four PDPTE registers (CR3 bits 11:5 pick the PDPT, so
 * the same page may hold other ones). Another set makes the TLB's
 * global entries stale, which tlb_coherence covers, not this target. */
typedef struct wd_tables {
  uint64_t root, pdpte[4];
} wd_tables;

static wd_tables wd_tables_of(const mmu_cpu *c) {
  wd_tables t;
  t.root = c->regs.cr3 & FZ_ADDR;
  for (int i = 0; i < 4; i++)
    t.pdpte[i] = c->regs.pdpte[i];
  return t;
}

static void wd_flush_if_other_tables(mmu_cpu *c, const wd_tables *before) {
  wd_tables now = wd_tables_of(c);
  if (memcmp(&now, before, sizeof now) != 0)
    mmu_flush_tlb(c);
}

/* ---- nested paging: tables and the operation that turns it on --------- */

/* A fresh frame for a nested table: one no entry of the input uses (all
 * zero; raw-mode entries may sit anywhere), in both RAMs alike. */
FZ_NO_COVERAGE static uint64_t wd_host_frame(wd_state *s) {
  static const uint8_t zero[4096];
  for (;;) {
    uint64_t f = fz_alloc_frame(&s->w);
    if (!f)
      return 0;
    uint64_t *p = fz_slot(&s->a, f);
    if (p && (!fz_written(&s->a, f) || memcmp(p, zero, sizeof zero) == 0))
      return f;
  }
}

static int wd_host_leaf_at(uint64_t e, int level) {
  return level == 1 || (level <= 3 && (e & MMU_PTE_PS));
}

/* Flags of a nested table reference: usually all rights (EPT: R W X; NPT:
 * P W U). */
static uint64_t wd_host_upper(fuzz_input *in, int ept) {
  if (!ept)
    return fz_upper_flags(in);
  uint8_t u = fi_u8(in);
  uint64_t f = (u & 0x0F) == 0x0F ? (u >> 4) & 7 : 7;
  if ((u & 0xC0) == 0x40)
    f |= MMU_EPT_A;
  if ((u & 0xC0) == 0x80)
    f |= 7ull << 9 | 1ull << 63; /* ignored bits, suppress #VE */
  return f;
}

/* Flags of a nested leaf: usually all rights, EPT memory type WB. */
static uint64_t wd_host_leaf(fuzz_input *in, int ept) {
  if (!ept)
    return fz_leaf_flags(in);
  uint8_t a = fi_u8(in), b = fi_u8(in);
  uint64_t f = 7 ^ (uint64_t)(a & 7);
  f |= (uint64_t)(6 ^ ((b >> 3) & 7)) << 3; /* memory type, 2/3/7 misconfig */
  if (b & 0x01)
    f |= MMU_EPT_A;
  if (b & 0x02)
    f |= MMU_EPT_D;
  if (b & 0x04)
    f |= 1ull << 6; /* ignore PAT */
  if (b & 0x80)
    f |= 0x7Full << 52 | 1ull << 63; /* ignored, suppress #VE */
  return f;
}

/* Map gpa to hpa with a leaf of size at most `size` in the nested tables
 * at root. fill: identity where nothing is mapped yet, all rights, no
 * input read; otherwise the entry is written with the input's flags.
 * Returns the bytes the leaf at gpa covers (4096 when the walk met no
 * leaf), 0 when out of frames. Writes go to both RAMs. */
FZ_NO_COVERAGE static uint64_t wd_host_map(wd_state *s, fuzz_input *in, int ept, int levels,
                       uint64_t root, uint64_t gpa, uint64_t hpa,
                       uint64_t size, int fill) {
  uint64_t upper = fill ? 7 : wd_host_upper(in, ept);
  uint64_t table = root;
  for (int level = levels;; level--) {
    uint64_t at = table + 8ull * fz_pt_index(gpa, level);
    uint64_t e = fz_rd(&s->a, at);
    uint64_t span = 1ull << (12 + 9 * (level - 1));
    if (fill && e) { /* what is there stays */
      if (wd_host_leaf_at(e, level))
        return span;
      if (!fz_is_frame(&s->w, e & FZ_ADDR))
        return 4096;
      table = e & FZ_ADDR;
      continue;
    }
    if (span <= size && level <= 3) {
      uint64_t leaf = (hpa & FZ_ADDR & ~(span - 1)) |
                      (fill ? (ept ? 7 | MMU_EPT_MT_WB : 7) : wd_host_leaf(in, ept));
      if (level > 1)
        leaf |= MMU_PTE_PS;
      if (!fill)
        leaf = fz_maybe_flip(in, leaf);
      fz_wr(&s->a, at, leaf);
      fz_wr(&s->b, at, leaf);
      return span;
    }
    if (!e || wd_host_leaf_at(e, level) || !fz_is_frame(&s->w, e & FZ_ADDR)) {
      uint64_t next = wd_host_frame(s);
      if (!next)
        return 0;
      e = next | upper;
      fz_wr(&s->a, at, e);
      fz_wr(&s->b, at, e);
    }
    table = e & FZ_ADDR;
  }
}

/* Nested tables of one format: mappings from the input first (a guest
 * table, a page of RAM, a root, any address; identity or elsewhere; any
 * rights), then identity over the RAM regions and the MMIO page where
 * nothing is mapped, at a page size the input picks. */
static uint64_t wd_host_build(wd_state *s, fuzz_input *in, int ept, int levels) {
  uint64_t root = wd_host_frame(s);
  if (!root)
    return s->w.gpa[0]; /* no room: a root of whatever is there */
  unsigned n = fi_u8(in) % 8;
  for (unsigned i = 0; i < n; i++) {
    uint8_t k = fi_u8(in);
    uint64_t gpa;
    switch (k & 3) {
    case 0:
      gpa = s->guest_frames ? s->w.frames[fi_u8(in) % s->guest_frames] : 0;
      break;
    case 1:
      gpa = fz_leaf_paddr(&s->w, in, 4096);
      break;
    case 2:
      gpa = s->roots[fi_u8(in) % 5];
      break;
    default:
      gpa = fi_u64(in) & FZ_ADDR & ((1ull << s->a.cpu.maxphyaddr) - 1);
      break;
    }
    uint64_t size = fz_map_size(in);
    uint64_t hpa = (k & 0xC0) == 0xC0 ? fz_leaf_paddr(&s->w, in, size) : gpa;
    if (!wd_host_map(s, in, ept, levels, root, gpa, hpa, size, 0))
      return root;
  }
  static const uint64_t fill_size[4] = {2 * FZ_MiB, 4096, FZ_GiB, 2 * FZ_MiB};
  uint64_t size = fill_size[fi_u8(in) & 3];
  for (uint32_t r = 0; r < s->w.nregions; r++)
    for (uint64_t gpa = s->w.gpa[r]; gpa < s->w.gpa[r] + s->w.size[r];) {
      uint64_t span = wd_host_map(s, in, ept, levels, root, gpa, gpa, size, 1);
      if (!span)
        return root;
      gpa = (gpa | (span - 1)) + 1; /* past the leaf found or made */
    }
  if (s->w.mmio_on)
    wd_host_map(s, in, ept, levels, root, s->w.mmio_gpa, s->w.mmio_gpa, 4096, 1);
  return root;
}

/* Op bytes 0xFC..0xFF (0xFC off, 0xFD EPT, 0xFE NPT, 0xFF as given):
 * mmu_set_nested on both cpus, then maybe another guest mode. */
static void wd_nested(wd_state *s, fuzz_input *in, unsigned kind) {
  mmu_cpu *A = &s->a.cpu, *B = &s->b.cpu;
  mmu_nested n;
  memset(&n, 0, sizeof n);
  uint8_t k = kind == 0 || kind == 3 ? 0 : fi_u8(in);
  int levels = (k & 4) ? 5 : 4;
  if (kind == 1 || kind == 2) {
    int ept = kind == 1;
    uint64_t *root = &s->host_root[ept ? 0 : 1][levels - 4];
    if (!*root)
      *root = wd_host_build(s, in, ept, levels);
    n.root = *root;
  }
  if (kind == 1) {
    n.kind = MMU_NESTED_EPT;
    n.root |= ((k & 0x20) ? MMU_EPTP_UC : MMU_EPTP_WB) |
              (levels == 5 ? MMU_EPTP_WALK5 : MMU_EPTP_WALK4) |
              ((k & 8) ? MMU_EPTP_AD : 0);
    n.flags = ((k & 0x10) ? MMU_NESTED_EXEC_ONLY : 0) |
              ((k & 0x40) ? MMU_NESTED_NO_1G : 0) |
              ((k & 0x80) ? MMU_NESTED_NO_AD : 0) | /* with AD: refused */
              ((k & 0x88) == 0x80 ? MMU_NESTED_MBEC : 0);
  } else if (kind == 2) {
    n.kind = MMU_NESTED_NPT;
    n.root |= (k & 0x20) ? MMU_PTE_PWT | MMU_PTE_PCD : 0;
    n.flags = ((k & 8) ? 0 : MMU_NESTED_NXE) |
              (levels == 5 ? MMU_NESTED_LA57 : 0) |
              ((k & 0x40) ? MMU_NESTED_NO_1G : 0);
  } else if (kind == 3) { /* a vector's 'nested' line; anything */
    n.kind = fi_u8(in) % 3;
    n.flags = fi_u16(in);
    n.root = fi_u64(in);
  }
  /* nested tables were just written: what the TLB holds may be stale
   * (mmu_set_nested flushes, but not when it refuses) */
  mmu_flush_tlb(A);
  WD_BOTH(s, mmu_set_nested(A, &n), mmu_set_nested(B, &n), "set nested");
  FZ_CHECK(memcmp(&A->nested, &B->nested, sizeof A->nested) == 0,
           "op %u: nested state differs after mmu_set_nested", s->op);
  if (kind == 3)
    return;
  /* the guest's mode: as it is, paging off, 32-bit paging, PAE or IA-32e
   * paging on the first tables */
  uint8_t g = fi_u8(in);
  if ((g & 3) == 0)
    return;
  mmu_regs r = A->regs;
  r.cr4 &= ~(uint64_t)(MMU_CR4_LA57 | MMU_CR4_PCIDE | MMU_CR4_PAE | MMU_CR4_PSE);
  r.efer &= ~(uint64_t)(MMU_EFER_LME | MMU_EFER_LMA);
  r.cr3 = (uint32_t)(s->w.root & ~0xFFFull);
  if ((g & 3) == 1) {
    r.cr0 &= ~(uint64_t)MMU_CR0_PG;
  } else if ((g & 3) == 2) {
    r.cr0 |= MMU_CR0_PG | MMU_CR0_PE;
    r.cr4 |= (g & 4) ? MMU_CR4_PSE : 0;
  } else if (g & 8) {
    /* PAE: the first table's first 32 bytes are the PDPT; the PDPTE
     * registers what VM entry would load (EPT; NPT reads them at each
     * walk), without the reserved bits that would fail it */
    r.cr0 |= MMU_CR0_PG | MMU_CR0_PE;
    r.cr4 |= MMU_CR4_PAE;
    r.cr3 |= (g >> 4) << 5;
    for (int i = 0; i < 4; i++)
      r.pdpte[i] = fz_rd(&s->a, r.cr3 + 8ull * (uint64_t)i) &
                   ~(0x1E6ull | (~0ull << A->maxphyaddr));
  } else {
    r.cr0 |= MMU_CR0_PG | MMU_CR0_PE;
    r.cr4 |= MMU_CR4_PAE | (s->w.levels == 5 ? MMU_CR4_LA57 : 0);
    r.efer |= MMU_EFER_LME | MMU_EFER_LMA;
    r.cr3 = s->w.root;
  }
  WD_BOTH(s, mmu_load_regs(A, &r), mmu_load_regs(B, &r), "load regs (nested)");
}

static void wd_op(wd_state *s, fuzz_input *in) {
  mmu_cpu *A = &s->a.cpu, *B = &s->b.cpu;
  /* with nested ops on (c1 bits 7:6 = 3), 0xFC..0xFF: nested paging */
  uint8_t ob = fi_u8(in);
  if (s->nested_ops && ob >= 0xFC) {
    wd_nested(s, in, ob & 3u);
    return;
  }
  uint8_t op = ob % 21;
  switch (op) {
  default: { /* 0..9: an access */
    unsigned access = fz_access_kind(fi_u8(in));
    wd_access(s, fz_access_va(&s->w, in), access);
    break;
  }
  case 10:
  case 11: { /* an access that may cross a page */
    unsigned access = fz_access_kind(fi_u8(in));
    static const uint32_t lens[8] = {1, 2, 4, 8, 16, 4096, 0, 0};
    uint8_t k = fi_u8(in);
    uint32_t len = lens[k & 7];
    if (len == 0)
      len = 1 + fi_u16(in) % 4096;
    uint64_t va = fz_access_va(&s->w, in);
    if (k & 0x80)
      va = (va | 0xFFFull) - (fi_u8(in) & 15);
    wd_span(s, va, len, access);
    break;
  }
  case 12: { /* CPL, AC, PKRU */
    uint8_t k = fi_u8(in);
    if ((k & 3) == 0) {
      mmu_set_cpl(A, (k >> 2) & 3);
      mmu_set_cpl(B, (k >> 2) & 3);
    } else if ((k & 3) == 1) {
      mmu_set_ac(A, (k >> 2) & 1);
      mmu_set_ac(B, (k >> 2) & 1);
    } else {
      uint32_t pkru = fi_u32(in);
      mmu_write_pkru(A, pkru);
      mmu_write_pkru(B, pkru);
    }
    wd_regs_agree(s, "cpl/ac/pkru", 0, 0);
    break;
  }
  case 13: { /* toggle a CR0, CR4 or EFER bit */
    static const uint64_t cr4_bits[8] = {
        MMU_CR4_SMEP, MMU_CR4_SMAP, MMU_CR4_PKE, MMU_CR4_PGE,
        MMU_CR4_PCIDE, MMU_CR4_LA57, MMU_CR4_PAE, MMU_CR4_PSE};
    uint8_t k = fi_u8(in);
    wd_tables before = wd_tables_of(A); /* PAE: the writes reload PDPTEs */
    if (k < 0x40) {
      uint64_t v = A->regs.cr0 ^ ((k & 1) ? MMU_CR0_PG : MMU_CR0_WP);
      if ((k & 0x0E) == 0x0E)
        v |= 1ull << 40; /* #GP */
      WD_BOTH(s, mmu_write_cr0(A, v), mmu_write_cr0(B, v), "mov cr0");
      wd_flush_if_other_tables(A, &before);
    } else if (k < 0xE0) {
      uint64_t v = A->regs.cr4 ^ cr4_bits[k & 7];
      WD_BOTH(s, mmu_write_cr4(A, v), mmu_write_cr4(B, v), "mov cr4");
      wd_flush_if_other_tables(A, &before);
    } else {
      uint64_t v = A->regs.efer ^ ((k & 1) ? MMU_EFER_LME : MMU_EFER_NXE);
      WD_BOTH(s, mmu_write_efer(A, v), mmu_write_efer(B, v), "wrmsr efer");
    }
    break;
  }
  case 14:
    mmu_invlpg(A, fz_access_va(&s->w, in));
    break;
  case 15: {
    uint8_t k = fi_u8(in);
    unsigned type = k % 5; /* 4: #GP */
    uint64_t pcid = (k & 0x80) ? 0x1000 + (k & 0x10) : (k >> 3) & 3;
    uint64_t va = fz_access_va(&s->w, in);
    WD_BOTH(s, mmu_invpcid(A, type, pcid, va), mmu_invpcid(B, type, pcid, va),
            "invpcid");
    break;
  }
  case 16:
  case 17: { /* MOV to CR3: same tables, another PCID; or other tables */
    uint8_t k = fi_u8(in);
    wd_tables before = wd_tables_of(A);
    uint64_t root = (k & 7) == 7 ? s->roots[fi_u8(in) % 5] : before.root;
    uint64_t v = wd_cr3(s, in, root);
    WD_BOTH(s, mmu_write_cr3(A, v), mmu_write_cr3(B, v), "mov cr3");
    /* other tables: what the TLB holds is stale (tlb-coherence's subject) */
    wd_flush_if_other_tables(A, &before);
    break;
  }
  case 18: { /* whole new state */
    mmu_regs r = wd_regs(s, in);
    wd_legacy(s, in, &r);
    WD_BOTH(s, mmu_load_regs(A, &r), mmu_load_regs(B, &r), "load regs");
    break;
  }
  case 19:
    if (fi_bool(in))
      mmu_flush_tlb(A);
    else
      wd_compare_ram(s);
    break;
  case 20: { /* a register write with any value (vector steps) */
    uint8_t k = fi_u8(in) % 7;
    uint64_t v = fi_u64(in);
    wd_tables before = wd_tables_of(A);
    switch (k) {
    case 0:
      WD_BOTH(s, mmu_write_cr0(A, v), mmu_write_cr0(B, v), "mov cr0");
      wd_flush_if_other_tables(A, &before);
      break;
    case 1:
      WD_BOTH(s, mmu_write_cr3(A, v), mmu_write_cr3(B, v), "mov cr3");
      wd_flush_if_other_tables(A, &before); /* see case 16 */
      break;
    case 2:
      WD_BOTH(s, mmu_write_cr4(A, v), mmu_write_cr4(B, v), "mov cr4");
      wd_flush_if_other_tables(A, &before);
      break;
    case 3:
      WD_BOTH(s, mmu_write_efer(A, v), mmu_write_efer(B, v), "wrmsr efer");
      break;
    case 4:
      mmu_write_pkru(A, (uint32_t)v);
      mmu_write_pkru(B, (uint32_t)v);
      break;
    case 5:
      mmu_set_cpl(A, (unsigned)v & 3);
      mmu_set_cpl(B, (unsigned)v & 3);
      break;
    default:
      mmu_set_ac(A, (int)(v & 1));
      mmu_set_ac(B, (int)(v & 1));
      break;
    }
    wd_regs_agree(s, "register write", 0, 0);
    break;
  }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static wd_state s; /* large: keep it off the stack */
  fuzz_input in;
  fi_init(&in, data, size);
  memset(&s, 0, sizeof s);
  s.full = fz_full_check_of(data, size);

  /* configuration: c0 = LA57 | raw << 1 | maxphy; c1 = flags, TLB shape
   * (bits 7:6 = 3: 4 ways, as 0, and nested-paging ops; inputs from
   * before nested paging keep their meaning) */
  uint8_t c0 = fi_u8(&in), c1 = fi_u8(&in);
  int raw = (c0 >> 1) & 1;
  int levels = (c0 & 1) ? 5 : 4;
  uint32_t maxphy = 52 - (uint32_t)((c0 >> 2) % 17);
  uint32_t flags = (c1 & 7);
  uint32_t sets = 64u >> ((c1 >> 3) % 7);
  uint32_t ways = 4u >> ((c1 >> 6) % 3);
  s.nested_ops = (c1 >> 6) == 3;
  uint64_t base0 = raw ? (uint64_t)(fi_u16(&in) & 0xFFF) * FZ_MiB : 0;
  fz_world_layout(&s.w, &in, 1, base0);
  int mmio_mode = fi_u8(&in) & 3;
  if (fz_side_init(&s.a, 0, &s.w, maxphy, flags, sets, ways, mmio_mode) != 0 ||
      fz_side_init(&s.b, 1, &s.w, maxphy, flags, sets, ways, mmio_mode) != 0)
    fz_fail("init failed: maxphy %u flags %u sets %u ways %u", maxphy, flags,
            sets, ways);

  mmu_regs r;
  memset(&r, 0, sizeof r);
  if (raw) { /* registers and entries as given (conformance vectors) */
    fz_raw_regs rr;
    fz_raw_regs_read(&in, &rr);
    s.w.levels = (rr.cr4 & MMU_CR4_LA57) ? 5 : 4;
    fz_raw_entries(&s.w, &s.a, &in);
    fz_raw_to_regs(&rr, &s.a, &r);
    s.w.root = rr.cr3 & FZ_ADDR;
  } else { /* page tables from mappings, then pokes over them */
    s.w.levels = levels;
    fz_build_tables(&s.w, &s.a, &in);
  }
  if (s.w.mmio_on) /* MMIO page starts as a copy of the root table */
    for (unsigned i = 0; i < 512; i++)
      s.a.mmio[i] = fz_rd(&s.a, s.w.root + 8ull * i);
  unsigned pokes = raw ? 0 : fi_u8(&in) % 8;
  for (unsigned p = 0; p < pokes && s.w.nframes; p++) {
    uint8_t k = fi_u8(&in);
    uint64_t table = (s.w.mmio_on && (k & 0x80)) ? s.w.mmio_gpa
                                                  : s.w.frames[k % s.w.nframes];
    uint64_t gpa = table + 8ull * fz_index(&in);
    fz_wr(&s.a, gpa, fz_entry_value(&s.w, &in, fz_rd(&s.a, gpa)));
  }
  fz_side_copy_memory(&s.b, &s.a);
  s.guest_frames = s.w.nframes;

  /* candidate roots: the tables, the MMIO page, a region end, the gap */
  s.roots[0] = s.w.root;
  s.roots[1] = s.w.nframes > 1 ? s.w.frames[1] : s.w.root;
  s.roots[2] = s.w.mmio_on ? s.w.mmio_gpa : s.w.root;
  s.roots[3] = s.w.gpa[s.w.nregions - 1] + s.w.size[s.w.nregions - 1] - 4096;
  s.roots[4] = s.w.gpa[0] + s.w.size[0] + (s.w.mmio_on ? 4096 : 0); /* no RAM */

  if (!raw)
    r = wd_regs(&s, &in);
  int la = mmu_load_regs(&s.a.cpu, &r), lb = mmu_load_regs(&s.b.cpu, &r);
  FZ_CHECK(la == lb, "mmu_load_regs: %d vs %d", la, lb);
  if (la != MMU_OK) { /* an impossible state: start from a plain one */
    memset(&r, 0, sizeof r);
    r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
    r.cr4 = MMU_CR4_PAE | (s.w.levels == 5 ? MMU_CR4_LA57 : 0);
    r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
    r.cr3 = s.w.gpa[0];
    FZ_CHECK(mmu_load_regs(&s.a.cpu, &r) == MMU_OK &&
                 mmu_load_regs(&s.b.cpu, &r) == MMU_OK,
             "mmu_load_regs rejected a valid state");
  }

  for (s.op = 0; s.op < 400 && !fi_empty(&in); s.op++)
    wd_op(&s, &in);
  /* a short input still runs a few accesses (the zero bytes decode to
   * accesses of the first mapping) */
  for (unsigned k = 0; k < 4 && s.op < 4; k++, s.op++)
    wd_op(&s, &in);
  wd_compare_ram(&s);
  fz_trace("walk-differential: %u ops: ok %u pf %u gp %u bus %u exits %u "
           "other %u\n",
           s.op, s.ok, s.pf, s.gp, s.bus, s.exits, s.other);

  fz_side_fini_in(&s.a, s.full);
  fz_side_fini_in(&s.b, s.full);
  return 0;
}
