/* SPDX-License-Identifier: MIT */
/* fuzz_tlb_coherence.c - TLB staleness and invalidation against SPEC 3.2.
 *
 * Random sequences of translations, paging-entry rewrites, INVLPG,
 * INVPCID (all types), MOV to CR3 (PCIDs, no-flush bit, two sets of
 * tables), CR4 toggles (PGE, PCIDE, SMEP, SMAP, PKE), CR0.WP/PG and
 * EFER.NXE toggles, CPL/AC/PKRU changes and full flushes, run on the fast
 * path (side a) while the reference walker (side b, its own copy of RAM
 * with the same rewrites) says what the current tables mean.
 *
 * The harness keeps a shadow model of what the TLB may hold: for each
 * (4 KiB page, PCID or global) at most one translation, the one the last
 * walk for that key filled (SPEC 5.1-5.3: one entry per tag, large pages
 * splintered into 4 KiB pieces), with its rights, dirty flag, key and page
 * size. The operations of SPEC 3.2 remove what they must drop; a #PF
 * removes the address's entries for the current PCID and its global one.
 * Oracle, per access:
 *  - it walked (stats.walks moved): the result is the reference's, exactly;
 *  - it did not walk and translated: the result is a cached translation of
 *    the model for (page, current PCID) or (page, global) whose cached
 *    rights allow this access under the current CR0/CR4/EFER/CPL/AC/PKRU
 *    (SPEC 5.4: a hit that is not enough re-walks);
 *  - faults (#PF, #GP) and errors always equal the reference (SPEC 5.4).
 * The model only ever holds more than the TLB (eviction is always allowed),
 * so a result outside it is a stale translation the library should have
 * dropped. */
#include "fuzz_world.h"

#define TC_GLOBAL 0xFFFFu
#define TC_MAX_KEYS 1024
#define TC_MAX_OPS 400

typedef struct tc_cand {
  uint64_t page;  /* 4 KiB linear page (key) */
  uint32_t tag;   /* PCID, or TC_GLOBAL (key) */
  int valid;
  uint64_t piece; /* physical 4 KiB piece */
  unsigned shift; /* page size it came from: 12, 21, 30 */
  int w, u, x, dirty;
  unsigned pkey;  /* 16: supervisor page */
  unsigned born;  /* op that filled it */
} tc_cand;

typedef struct tc_state {
  fz_world w;
  fz_side a, b;
  uint64_t roots[2];
  unsigned ncand;
  unsigned op;
  uint64_t last_va;
  unsigned hits, walks, stale_hits, faults;
  tc_cand cand[TC_MAX_KEYS]; /* last: an input clears only what is above */
} tc_state;

static void tc_context(tc_state *s, char *buf, size_t n) {
  const mmu_regs *r = &s->a.cpu.regs;
  snprintf(buf, n,
           "op %u: cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx cpl %u ac %u "
           "pkru 0x%x levels %d",
           s->op, (unsigned long long)r->cr0, (unsigned long long)r->cr3,
           (unsigned long long)r->cr4, (unsigned long long)r->efer, r->cpl,
           r->ac, r->pkru, s->w.levels);
}

static uint32_t tc_pcid(const mmu_regs *r) {
  return (r->cr4 & MMU_CR4_PCIDE) ? (uint32_t)(r->cr3 & 0xFFF) : 0;
}

/* ---- the model ----------------------------------------------------------- */

static tc_cand *tc_find(tc_state *s, uint64_t page, uint32_t tag) {
  for (unsigned i = 0; i < s->ncand; i++)
    if (s->cand[i].valid && s->cand[i].page == page && s->cand[i].tag == tag)
      return &s->cand[i];
  return NULL;
}

static void tc_drop_key(tc_state *s, uint64_t page, uint32_t tag) {
  tc_cand *c = tc_find(s, page, tag);
  if (c)
    c->valid = 0;
}

static void tc_compact(tc_state *s) {
  unsigned k = 0;
  for (unsigned i = 0; i < s->ncand; i++)
    if (s->cand[i].valid)
      s->cand[k++] = s->cand[i];
  s->ncand = k;
}

enum { TC_ALL, TC_NONGLOBAL, TC_PCID_NONGLOBAL, TC_PCID_AND_GLOBAL };

/* Drop whole classes of entries (SPEC 3.2). */
static void tc_drop(tc_state *s, int what, uint32_t pcid) {
  for (unsigned i = 0; i < s->ncand; i++) {
    tc_cand *c = &s->cand[i];
    int g = c->tag == TC_GLOBAL;
    switch (what) {
    case TC_ALL:
      c->valid = 0;
      break;
    case TC_NONGLOBAL:
      if (!g)
        c->valid = 0;
      break;
    case TC_PCID_NONGLOBAL:
      if (!g && c->tag == pcid)
        c->valid = 0;
      break;
    default:
      if (g || c->tag == pcid)
        c->valid = 0;
      break;
    }
  }
  tc_compact(s);
}

/* INVLPG / INVPCID 0: entries for the page containing va, each at its own
 * page size; of one PCID, and with globals_too the global ones. */
static void tc_drop_page(tc_state *s, uint64_t va, uint32_t pcid,
                         int globals_too) {
  for (unsigned i = 0; i < s->ncand; i++) {
    tc_cand *c = &s->cand[i];
    int g = c->tag == TC_GLOBAL;
    if (((c->page ^ va) >> c->shift) != 0)
      continue;
    if (g ? globals_too : c->tag == pcid)
      c->valid = 0;
  }
  tc_compact(s);
}

static void tc_install(tc_state *s, const tc_cand *c) {
  tc_cand *old = tc_find(s, c->page, c->tag);
  if (!old) {
    if (s->ncand == TC_MAX_KEYS)
      tc_compact(s);
    FZ_CHECK(s->ncand < TC_MAX_KEYS, "model full");
    old = &s->cand[s->ncand++];
  }
  *old = *c;
  old->valid = 1;
}

/* SPEC 4.5 / 4.6 on cached rights, with the current registers: does a hit
 * on this entry serve the access (including the dirty rule of 4.8)? */
static int tc_allows(const mmu_regs *r, const tc_cand *c, unsigned access) {
  int fetch = (access & MMU_FETCH) != 0;
  int write = (access & MMU_WRITE) && !fetch;
  int implicit = (access & MMU_IMPLICIT) != 0;
  int user = r->cpl == 3 && !implicit;
  int wp = (r->cr0 & MMU_CR0_WP) != 0;
  int smep = (r->cr4 & MMU_CR4_SMEP) != 0;
  int smap = (r->cr4 & MMU_CR4_SMAP) != 0;
  int denied;
  if (fetch)
    denied = !c->x || (user && !c->u) || (!user && c->u && smep);
  else if (user)
    denied = !c->u || (write && !c->w);
  else
    denied = (c->u && smap && (implicit || !r->ac)) || (write && !c->w && wp);
  int pk = 0; /* keys exist in IA-32e mode only (SDM 4.6.2) */
  if ((r->cr4 & MMU_CR4_PKE) && (r->efer & MMU_EFER_LMA) && c->u && !fetch) {
    int ad = (r->pkru >> (2 * c->pkey)) & 1;
    int wd = (r->pkru >> (2 * c->pkey + 1)) & 1;
    pk = ad || (write && wd && (user || wp));
  }
  return !denied && !pk && (!write || c->dirty);
}

/* The context of a failure, formatted only when one is reported. */
static const char *tc_ctx(tc_state *s) {
  static char buf[256];
  tc_context(s, buf, sizeof buf);
  return buf;
}

/* ---- one access ---------------------------------------------------------- */

static void tc_same_result(tc_state *s, uint64_t va, unsigned access, int sa,
                           const mmu_result *ra, int sb, const mmu_result *rb,
                           const char *why) {
#define TC_CTX "%s: %s 0x%llx (%s): "
#define TC_ARGS tc_ctx(s), fz_access_name(access), (unsigned long long)va, why
  FZ_CHECK(sa == sb, TC_CTX "status %d (%s), reference %d (%s); ec 0x%x / 0x%x",
           TC_ARGS, sa, mmu_status_name(sa), sb, mmu_status_name(sb),
           sa == MMU_PAGE_FAULT ? ra->error_code : 0,
           sb == MMU_PAGE_FAULT ? rb->error_code : 0);
  if (sa == MMU_OK) {
    FZ_CHECK(ra->paddr == rb->paddr && ra->page_size == rb->page_size,
             TC_CTX "pa 0x%llx size 0x%llx, reference pa 0x%llx size 0x%llx",
             TC_ARGS, (unsigned long long)ra->paddr,
             (unsigned long long)ra->page_size, (unsigned long long)rb->paddr,
             (unsigned long long)rb->page_size);
    FZ_CHECK(ra->host == fz_expected_host(&s->a, ra->paddr),
             TC_CTX "host pointer wrong for pa 0x%llx", TC_ARGS,
             (unsigned long long)ra->paddr);
  } else if (sa == MMU_PAGE_FAULT) {
    FZ_CHECK(ra->error_code == rb->error_code && ra->cr2 == va && rb->cr2 == va,
             TC_CTX "#PF ec 0x%x cr2 0x%llx, reference ec 0x%x cr2 0x%llx",
             TC_ARGS, ra->error_code, (unsigned long long)ra->cr2,
             rb->error_code, (unsigned long long)rb->cr2);
  } else if (sa == MMU_ERR_PT_BUS) {
    FZ_CHECK(ra->paddr == rb->paddr, TC_CTX "bus error at 0x%llx vs 0x%llx",
             TC_ARGS, (unsigned long long)ra->paddr,
             (unsigned long long)rb->paddr);
  }
#undef TC_CTX
#undef TC_ARGS
}

static int tc_matches(const tc_cand *c, uint64_t va, const mmu_result *r) {
  return c && r->paddr == (c->piece | (va & 0xFFF)) &&
         r->page_size == (1ull << c->shift);
}

static void tc_access(tc_state *s, uint64_t va, unsigned access) {
  mmu_cpu *A = &s->a.cpu;
  const mmu_regs *regs = &A->regs;
  if (!(regs->efer & MMU_EFER_LMA))
    va = (uint32_t)va; /* the linear address outside IA-32e mode */
  mmu_result ra, rb;
  mmu_trace t;
  memset(&ra, 0xA5, sizeof ra);
  memset(&rb, 0x5A, sizeof rb);
  memset(&t, 0, sizeof t);
  uint64_t walks = A->stats.walks;
  int sa = mmu_translate(A, va, access, &ra);
  int walked = A->stats.walks != walks;
  int sb = mmu_reference_translate(&s->b.cpu, va, access, &rb, &t);
  uint32_t pcid = tc_pcid(regs);
  uint64_t page = va & ~0xFFFull;
  s->last_va = va;
  fz_trace("op %u: %s 0x%llx pcid %u -> %d%s pa 0x%llx ec 0x%x; reference "
           "%d pa 0x%llx\n",
           s->op, fz_access_name(access), (unsigned long long)va, pcid, sa,
           walked ? " (walked)" : "", (unsigned long long)ra.paddr,
           sa == MMU_PAGE_FAULT ? ra.error_code : 0, sb,
           (unsigned long long)rb.paddr);

  if (!(regs->cr0 & MMU_CR0_PG) || sa != MMU_OK || walked) {
    /* paging off, any fault or error, any walk: exactly the reference */
    tc_same_result(s, va, access, sa, &ra, sb, &rb,
                   walked ? "walked" : sa == MMU_OK ? "paging off" : "fault");
    if (sa == MMU_PAGE_FAULT) {
      FZ_CHECK(walked, "op %u: #PF at 0x%llx without a walk", s->op,
               (unsigned long long)va);
      s->faults++;
    }
    if (walked && sa != MMU_OK) {
      /* a fault drops what a lookup under this PCID could use: (page,
       * PCID) and the page's global entry (SPEC 3.2) */
      tc_drop_key(s, page, pcid);
      tc_drop_key(s, page, TC_GLOBAL);
      tc_compact(s);
    }
    if (walked && sa == MMU_OK && t.count > 0) {
      s->walks++;
      /* the fill: rights over the levels, the leaf's D after the access */
      tc_cand c;
      memset(&c, 0, sizeof c);
      uint64_t leaf = t.step[t.count - 1].entry;
      c.page = page;
      c.piece = rb.paddr & ~0xFFFull;
      c.shift = (unsigned)__builtin_ctzll(rb.page_size);
      c.w = c.u = c.x = 1;
      /* PAE paging's first step is a PDPTE register: no rights in it */
      int pae = !(regs->efer & MMU_EFER_LMA) && (regs->cr4 & MMU_CR4_PAE);
      for (uint32_t i = 0; i < t.count; i++) {
        if (pae && t.step[i].level == 3)
          continue;
        c.w &= (t.step[i].entry & MMU_PTE_W) != 0;
        c.u &= (t.step[i].entry & MMU_PTE_U) != 0;
        if ((regs->efer & MMU_EFER_NXE) && (t.step[i].entry & MMU_PTE_XD))
          c.x = 0;
      }
      /* the leaf as it is now (32-bit paging: a 4-byte entry) */
      uint64_t leaf_gpa = t.step[t.count - 1].entry_gpa;
      uint64_t now = fz_rd(&s->a, leaf_gpa & ~7ull) >> ((leaf_gpa & 4) * 8);
      c.dirty = (now & MMU_PTE_D) != 0;
      c.pkey = c.u ? (unsigned)(leaf >> MMU_PTE_PKEY_SHIFT) & 15 : 16;
      int global = (leaf & MMU_PTE_G) && (regs->cr4 & MMU_CR4_PGE);
      c.tag = global ? TC_GLOBAL : pcid;
      c.born = s->op;
      /* one entry per tag: a global fill replaces PCID 0's entry of the
       * page (same tag), a PCID 0 fill the global one; the miss that led
       * here dropped (page, current PCID) */
      if (global) {
        tc_drop_key(s, page, 0);
        tc_drop_key(s, page, pcid);
      } else if (pcid == 0) {
        tc_drop_key(s, page, TC_GLOBAL);
      }
      tc_compact(s);
      tc_install(s, &c);
    }
    return;
  }

  /* A hit: a translation the model holds, allowed as cached. */
  s->hits++;
  tc_cand *mine = tc_find(s, page, pcid), *glob = tc_find(s, page, TC_GLOBAL);
  int ok_mine = tc_matches(mine, va, &ra) && tc_allows(regs, mine, access);
  int ok_glob = tc_matches(glob, va, &ra) && tc_allows(regs, glob, access);
  if (!ok_mine && !ok_glob) {
    char ctx[256];
    tc_context(s, ctx, sizeof ctx);
    fz_fail("%s: %s 0x%llx hit the TLB: pa 0x%llx size 0x%llx; reference "
            "%d pa 0x%llx; cached for (page, PCID %u): %s pa 0x%llx size "
            "0x%llx w%d u%d x%d d%d key %u (op %u), allows %d; global: %s "
            "pa 0x%llx w%d u%d x%d d%d, allows %d. A translation the TLB must "
            "no longer hold (SPEC 3.2), or one that does not allow the "
            "access (SPEC 5.4)",
            ctx, fz_access_name(access), (unsigned long long)va,
            (unsigned long long)ra.paddr, (unsigned long long)ra.page_size, sb,
            (unsigned long long)rb.paddr, pcid, mine ? "yes" : "none",
            mine ? (unsigned long long)mine->piece : 0ull,
            mine ? 1ull << mine->shift : 0ull, mine ? mine->w : 0,
            mine ? mine->u : 0, mine ? mine->x : 0, mine ? mine->dirty : 0,
            mine ? mine->pkey : 0, mine ? mine->born : 0,
            mine ? tc_allows(regs, mine, access) : 0, glob ? "yes" : "none",
            glob ? (unsigned long long)glob->piece : 0ull, glob ? glob->w : 0,
            glob ? glob->u : 0, glob ? glob->x : 0, glob ? glob->dirty : 0,
            glob ? tc_allows(regs, glob, access) : 0);
  }
  FZ_CHECK(ra.host == fz_expected_host(&s->a, ra.paddr),
           "op %u: hit at 0x%llx: host pointer wrong for pa 0x%llx", s->op,
           (unsigned long long)va, (unsigned long long)ra.paddr);
  if (sb != MMU_OK || rb.paddr != ra.paddr || rb.page_size != ra.page_size)
    s->stale_hits++;
}

/* ---- operations ------------------------------------------------------------ */

static void tc_regs_agree(tc_state *s, const char *what, int ra, int rb) {
  const mmu_regs *x = &s->a.cpu.regs, *y = &s->b.cpu.regs;
  FZ_CHECK(ra == rb && x->cr0 == y->cr0 && x->cr3 == y->cr3 &&
               x->cr4 == y->cr4 && x->efer == y->efer,
           "op %u: %s: status %d / %d or registers differ", s->op, what, ra, rb);
}

static void tc_set_entry(tc_state *s, uint64_t gpa, uint64_t v) {
  if (!fz_slot(&s->a, gpa))
    return;
  fz_trace("op %u: set entry 0x%llx: 0x%llx -> 0x%llx\n", s->op,
           (unsigned long long)gpa, (unsigned long long)fz_rd(&s->b, gpa),
           (unsigned long long)v);
  fz_wr(&s->a, gpa, v);
  fz_wr(&s->b, gpa, v);
}

/* Rewrite one paging entry in both RAMs (no invalidation). */
static void tc_rewrite(tc_state *s, fuzz_input *in) {
  uint8_t k = fi_u8(in);
  uint64_t gpa = 0;
  if (k < 0xC0 && s->w.nmaps) {
    unsigned i = fi_u8(in) % s->w.nmaps;
    int leaf_level = s->w.map_size[i] == FZ_GiB      ? 3
                     : s->w.map_size[i] == 2 * FZ_MiB ? 2
                                                      : 1;
    /* mostly the leaf, sometimes an entry above it */
    int level = leaf_level;
    if ((k & 3) == 3)
      level += 1 + (int)(fi_u8(in) % (unsigned)(s->w.levels - leaf_level));
    if (level > s->w.levels)
      level = s->w.levels;
    uint64_t root = s->roots[(k >> 2) & 1];
    gpa = fz_entry_gpa(&s->a, root, s->w.levels, s->w.map_va[i], level);
  }
  if (!gpa && s->w.nframes)
    gpa = s->w.frames[fi_u8(in) % s->w.nframes] + 8ull * fz_index(in);
  if (!gpa || !fz_slot(&s->a, gpa))
    return;
  uint64_t old = fz_rd(&s->b, gpa), v;
  uint8_t how = fi_u8(in);
  switch (how & 7) {
  case 0: /* another page, same flags */
  case 1:
    v = (old & ~FZ_ADDR) | (fz_leaf_paddr(&s->w, in, 4096) &
                            ~((old & MMU_PTE_PS) ? 2 * FZ_MiB - 1 : 0));
    break;
  case 2: /* not present */
    v = old & ~MMU_PTE_P;
    break;
  case 3: { /* toggle rights or G */
    static const uint64_t bits[6] = {MMU_PTE_W, MMU_PTE_U, MMU_PTE_XD,
                                     MMU_PTE_G, MMU_PTE_P, MMU_PTE_D};
    v = old ^ bits[(how >> 3) % 6];
    break;
  }
  case 4: /* another protection key */
    v = (old & ~(15ull << MMU_PTE_PKEY_SHIFT)) |
        ((uint64_t)((how >> 3) & 15) << MMU_PTE_PKEY_SHIFT);
    break;
  default:
    v = fz_entry_value(&s->w, in, old);
    break;
  }
  tc_set_entry(s, gpa, v);
}

/* The two RAMs differ in A and D where side b walked and side a hit its
 * TLB, as they may. A MOV to CR0/CR3/CR4 that loads PAE's PDPTEs reads
 * them as data, where A and D (bits 5, 6) are reserved: where a PDPT slot
 * is also an entry a walk set A or D in, the two sides would load different
 * values. Both sides get the union of the bits first; any other difference
 * stays, to be reported. */
FZ_NO_COVERAGE static void tc_sync_pdpt(tc_state *s, uint64_t cr3) {
  for (uint64_t i = 0; i < 4; i++) {
    uint64_t at = (cr3 & 0xFFFFFFE0ull) + 8 * i;
    uint64_t x = fz_rd(&s->a, at), y = fz_rd(&s->b, at);
    if (x != y && ((x ^ y) & ~(uint64_t)(MMU_PTE_A | MMU_PTE_D)) == 0) {
      fz_wr(&s->a, at, x | y);
      fz_wr(&s->b, at, x | y);
    }
  }
}

/* Register writes on both cpus, and what SPEC 3.2 says they drop. */
static int tc_write_cr3(tc_state *s, uint64_t v) {
  mmu_regs old = s->a.cpu.regs;
  tc_sync_pdpt(s, v);
  int ra = mmu_write_cr3(&s->a.cpu, v), rb = mmu_write_cr3(&s->b.cpu, v);
  tc_regs_agree(s, "mov cr3", ra, rb);
  fz_trace("op %u: mov cr3 0x%llx -> %d\n", s->op, (unsigned long long)v, ra);
  if (ra == MMU_OK) {
    if (!(old.cr4 & MMU_CR4_PCIDE))
      tc_drop(s, TC_NONGLOBAL, 0);
    else if (!(v & MMU_CR3_NOFLUSH))
      tc_drop(s, TC_PCID_NONGLOBAL, tc_pcid(&s->a.cpu.regs));
  }
  return ra;
}

static int tc_write_cr4(tc_state *s, uint64_t v) {
  mmu_regs old = s->a.cpu.regs;
  tc_sync_pdpt(s, s->a.cpu.regs.cr3);
  int ra = mmu_write_cr4(&s->a.cpu, v), rb = mmu_write_cr4(&s->b.cpu, v);
  tc_regs_agree(s, "mov cr4", ra, rb);
  fz_trace("op %u: mov cr4 0x%llx -> %d\n", s->op, (unsigned long long)v, ra);
  if (ra == MMU_OK) {
    uint64_t changed = old.cr4 ^ v;
    if ((changed & (MMU_CR4_PGE | MMU_CR4_LA57)) ||
        ((changed & MMU_CR4_PCIDE) && !(v & MMU_CR4_PCIDE)))
      tc_drop(s, TC_ALL, 0);
    else if ((changed & MMU_CR4_PAE) ||
             ((changed & MMU_CR4_SMEP) && (v & MMU_CR4_SMEP)))
      tc_drop(s, TC_PCID_AND_GLOBAL, tc_pcid(&old));
  }
  return ra;
}

static int tc_write_cr0(tc_state *s, uint64_t v) {
  mmu_regs old = s->a.cpu.regs;
  tc_sync_pdpt(s, s->a.cpu.regs.cr3);
  int ra = mmu_write_cr0(&s->a.cpu, v), rb = mmu_write_cr0(&s->b.cpu, v);
  tc_regs_agree(s, "mov cr0", ra, rb);
  fz_trace("op %u: mov cr0 0x%llx -> %d\n", s->op, (unsigned long long)v, ra);
  if (ra == MMU_OK && ((old.cr0 ^ v) & MMU_CR0_PG)) /* either way (SPEC 3.2) */
    tc_drop(s, TC_ALL, 0);
  return ra;
}

static int tc_write_efer(tc_state *s, uint64_t v) {
  mmu_regs old = s->a.cpu.regs;
  int ra = mmu_write_efer(&s->a.cpu, v), rb = mmu_write_efer(&s->b.cpu, v);
  tc_regs_agree(s, "wrmsr efer", ra, rb);
  fz_trace("op %u: wrmsr efer 0x%llx -> %d\n", s->op, (unsigned long long)v,
           ra);
  if (ra == MMU_OK && ((old.efer ^ s->a.cpu.regs.efer) & MMU_EFER_NXE))
    tc_drop(s, TC_ALL, 0);
  return ra;
}

/* CPL, AC, PKRU: no flush (SPEC 3.2) */
static void tc_write_other(tc_state *s, unsigned which, uint64_t v) {
  mmu_cpu *A = &s->a.cpu, *B = &s->b.cpu;
  if (which == 0) {
    mmu_set_cpl(A, (unsigned)v & 3);
    mmu_set_cpl(B, (unsigned)v & 3);
  } else if (which == 1) {
    mmu_set_ac(A, (int)(v & 1));
    mmu_set_ac(B, (int)(v & 1));
  } else {
    mmu_write_pkru(A, (uint32_t)v);
    mmu_write_pkru(B, (uint32_t)v);
  }
}

static void tc_invlpg(tc_state *s, uint64_t va) {
  mmu_regs old = s->a.cpu.regs;
  fz_trace("op %u: invlpg 0x%llx\n", s->op, (unsigned long long)va);
  mmu_invlpg(&s->a.cpu, va);
  mmu_invlpg(&s->b.cpu, va);
  uint64_t lin = (old.efer & MMU_EFER_LMA) ? va : (uint32_t)va;
  if (fz_canon(lin, (old.cr4 & MMU_CR4_LA57) ? 5 : 4) == lin)
    tc_drop_page(s, lin, tc_pcid(&old), 1);
}

static void tc_invpcid(tc_state *s, unsigned type, uint64_t pcid,
                       uint64_t va) {
  int ra = mmu_invpcid(&s->a.cpu, type, pcid, va);
  int rb = mmu_invpcid(&s->b.cpu, type, pcid, va);
  tc_regs_agree(s, "invpcid", ra, rb);
  fz_trace("op %u: invpcid %u pcid 0x%llx va 0x%llx -> %d\n", s->op, type,
           (unsigned long long)pcid, (unsigned long long)va, ra);
  if (ra != MMU_OK)
    return;
  if (type == 0)
    tc_drop_page(s, (s->a.cpu.regs.efer & MMU_EFER_LMA) ? va : (uint32_t)va,
                 (uint32_t)pcid, 0);
  else if (type == 1)
    tc_drop(s, TC_PCID_NONGLOBAL, (uint32_t)pcid);
  else if (type == 2)
    tc_drop(s, TC_ALL, 0);
  else
    tc_drop(s, TC_NONGLOBAL, 0);
}

static void tc_op(tc_state *s, fuzz_input *in) {
  mmu_regs old = s->a.cpu.regs;
  uint8_t op = fi_u8(in) % 20;
  switch (op) {
  default: { /* 0..5: va, then the access kind */
    uint64_t va = fz_access_va(&s->w, in);
    tc_access(s, va, fz_access_kind(fi_u8(in)));
    break;
  }
  case 6: /* the same page again, another kind: hits */
  case 7: {
    uint64_t va = (s->last_va & ~0xFFFull) | ((uint64_t)fi_u8(in) << 4);
    tc_access(s, va, fz_access_kind(fi_u8(in)));
    break;
  }
  case 8:
  case 9:
    tc_rewrite(s, in);
    break;
  case 10: { /* INVLPG */
    uint64_t va = fz_access_va(&s->w, in);
    tc_invlpg(s, fi_u8(in) < 0x80 ? s->last_va : va);
    break;
  }
  case 11: { /* INVPCID */
    uint8_t k = fi_u8(in);
    static const uint64_t pcids[8] = {0, 1, 2, 0xFFF, 0, 1, 0x1000, 3};
    uint64_t va = (k & 0x80) ? s->last_va : fz_access_va(&s->w, in);
    tc_invpcid(s, k % 5, pcids[(k >> 3) & 7], va);
    break;
  }
  case 12:
  case 13: { /* MOV to CR3: either tables, a PCID, the no-flush bit */
    uint8_t k = fi_u8(in);
    uint64_t v = s->roots[k & 1];
    if (old.cr4 & MMU_CR4_PCIDE) {
      static const uint64_t pcids[4] = {0, 1, 2, 0xFFF};
      v |= pcids[(k >> 1) & 3];
    }
    if (k & 0x08)
      v |= MMU_CR3_NOFLUSH; /* without PCIDE: reserved, #GP */
    tc_write_cr3(s, v);
    break;
  }
  case 14: { /* MOV to CR4 */
    static const uint64_t bits[8] = {MMU_CR4_PGE,  MMU_CR4_PCIDE, MMU_CR4_SMEP,
                                     MMU_CR4_SMAP, MMU_CR4_PKE,   MMU_CR4_PGE,
                                     MMU_CR4_PCIDE, MMU_CR4_SMEP};
    tc_write_cr4(s, old.cr4 ^ bits[fi_u8(in) & 7]);
    break;
  }
  case 15: { /* CR0.WP, CR0.PG, EFER.NXE */
    uint8_t k = fi_u8(in) % 4;
    if (k < 2)
      tc_write_cr0(s, old.cr0 ^ MMU_CR0_WP);
    else if (k == 2)
      tc_write_cr0(s, old.cr0 ^ MMU_CR0_PG);
    else
      tc_write_efer(s, old.efer ^ MMU_EFER_NXE);
    break;
  }
  case 16: { /* CPL, AC, PKRU */
    uint8_t k = fi_u8(in);
    static const uint32_t pkrus[4] = {0, 0x55555554u, 0xAAAAAAA8u, 0x0000000Cu};
    uint64_t v = (k & 3) == 3 ? fi_u32(in) : (k & 3) == 2 ? pkrus[(k >> 2) & 3] : k >> 2;
    tc_write_other(s, (k & 3) == 3 ? 2 : k & 3, v);
    break;
  }
  case 17:
    if (fi_u8(in) & 1) {
      mmu_flush_tlb(&s->a.cpu);
    } else {
      mmu_regs r = old;
      r.cr3 &= ~0xFFFull;
      r.cr4 &= ~(uint64_t)MMU_CR4_PCIDE;
      tc_sync_pdpt(s, r.cr3);
      int ra = mmu_load_regs(&s->a.cpu, &r), rb = mmu_load_regs(&s->b.cpu, &r);
      tc_regs_agree(s, "load regs", ra, rb);
      if (ra != MMU_OK)
        break;
    }
    tc_drop(s, TC_ALL, 0);
    break;
  case 18: { /* a register write with any value (vector steps) */
    uint8_t k = fi_u8(in) % 7;
    uint64_t v = fi_u64(in);
    if (k == 0)
      tc_write_cr0(s, v);
    else if (k == 1)
      tc_write_cr3(s, v);
    else if (k == 2)
      tc_write_cr4(s, v);
    else if (k == 3)
      tc_write_efer(s, v);
    else
      tc_write_other(s, k == 4 ? 2 : k == 5 ? 0 : 1, v);
    break;
  }
  case 19: { /* set an entry anywhere in region 0 (vector set-pte steps) */
    uint64_t gpa = s->w.gpa[0] + ((uint64_t)fi_u16(in) * 8) % s->w.size[0];
    tc_set_entry(s, gpa, fi_u64(in));
    break;
  }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static tc_state s;
  fuzz_input in;
  fi_init(&in, data, size);
  memset(&s, 0, offsetof(tc_state, cand)); /* cand[] past ncand is unread */

  /* configuration: c0 = LA57 | raw << 1 | maxphy; c1 = flags, TLB shape */
  uint8_t c0 = fi_u8(&in), c1 = fi_u8(&in);
  int raw = (c0 >> 1) & 1;
  int levels = (c0 & 1) ? 5 : 4;
  uint32_t maxphy = 52 - (uint32_t)((c0 >> 2) % 17);
  uint32_t flags = c1 & 7;
  uint32_t sets = 64u >> ((c1 >> 3) % 7);
  uint32_t ways = 4u >> ((c1 >> 6) % 3);
  uint64_t base0 = raw ? (uint64_t)(fi_u16(&in) & 0xFFF) * FZ_MiB : 0;
  fz_world_layout(&s.w, &in, 0, base0);
  if (fz_side_init(&s.a, 0, &s.w, maxphy, flags, sets, ways, 0) != 0 ||
      fz_side_init(&s.b, 1, &s.w, maxphy, flags, sets, ways, 0) != 0)
    fz_fail("init failed");

  mmu_regs r;
  memset(&r, 0, sizeof r);
  if (raw) { /* registers and entries as given (conformance vectors) */
    fz_raw_regs rr;
    fz_raw_regs_read(&in, &rr);
    s.w.levels = (rr.cr4 & MMU_CR4_LA57) ? 5 : 4;
    fz_raw_entries(&s.w, &s.a, &in);
    s.roots[0] = s.roots[1] = rr.cr3 & FZ_ADDR;
    fz_raw_to_regs(&rr, &s.a, &r);
  } else {
    /* two sets of tables: the second root starts as a copy of the first
     * (sharing every lower table) plus mappings of its own */
    s.w.levels = levels;
    fz_build_tables(&s.w, &s.a, &in);
    s.roots[0] = s.w.root;
    s.roots[1] = fz_alloc_frame(&s.w);
    if (!s.roots[1]) {
      s.roots[1] = s.roots[0];
    } else {
      for (unsigned i = 0; i < 512; i++)
        fz_wr(&s.a, s.roots[1] + 8ull * i, fz_rd(&s.a, s.roots[0] + 8ull * i));
      unsigned extra = fi_u8(&in) % 4;
      for (unsigned i = 0; i < extra && s.w.nmaps < FZ_MAX_MAPS; i++) {
        uint64_t sz = fz_map_size(&in);
        uint64_t va = fz_build_va(&in, levels, sz);
        if (!fz_map(&s.w, &s.a, &in, s.roots[1], va, sz))
          break;
        s.w.map_va[s.w.nmaps] = va;
        s.w.map_size[s.w.nmaps++] = sz;
      }
    }
    uint8_t b = fi_u8(&in);
    r.cr0 = MMU_CR0_PE | MMU_CR0_PG | ((b & 1) ? 0 : MMU_CR0_WP);
    r.cr4 = MMU_CR4_PAE | (levels == 5 ? MMU_CR4_LA57 : 0) |
            ((b & 2) ? 0 : MMU_CR4_PGE) | ((b & 4) ? MMU_CR4_PCIDE : 0) |
            ((b & 8) ? MMU_CR4_SMEP : 0) | ((b & 16) ? MMU_CR4_SMAP : 0) |
            ((b & 32) ? MMU_CR4_PKE : 0);
    r.efer = MMU_EFER_LME | MMU_EFER_LMA | ((b & 64) ? 0 : MMU_EFER_NXE);
    r.cr3 = s.roots[0] | ((r.cr4 & MMU_CR4_PCIDE) && (b & 128) ? 1 : 0);
    r.cpl = (uint8_t)(fi_u8(&in) & 3);
  }
  fz_side_copy_memory(&s.b, &s.a);
  int la = mmu_load_regs(&s.a.cpu, &r), lb = mmu_load_regs(&s.b.cpu, &r);
  FZ_CHECK(la == lb, "mmu_load_regs: %d vs %d", la, lb);
  if (la != MMU_OK) { /* an impossible state: start from a plain one */
    memset(&r, 0, sizeof r);
    r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
    r.cr4 = MMU_CR4_PAE | (s.w.levels == 5 ? MMU_CR4_LA57 : 0);
    r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
    r.cr3 = s.roots[0] = s.roots[1] = s.w.gpa[0];
    FZ_CHECK(mmu_load_regs(&s.a.cpu, &r) == MMU_OK &&
                 mmu_load_regs(&s.b.cpu, &r) == MMU_OK,
             "mmu_load_regs rejected a valid state");
  }

  for (s.op = 0; s.op < TC_MAX_OPS && !fi_empty(&in); s.op++)
    tc_op(&s, &in);
  for (unsigned k = 0; k < 4 && s.op < 4; k++, s.op++)
    tc_op(&s, &in);
  fz_trace("tlb-coherence: %u ops: walks %u hits %u (stale %u) faults %u\n",
           s.op, s.walks, s.hits, s.stale_hits, s.faults);

  int full = fz_full_check_of(data, size);
  fz_side_fini_in(&s.a, full);
  fz_side_fini_in(&s.b, full);
  return 0;
}
