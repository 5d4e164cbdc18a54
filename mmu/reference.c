/* SPDX-License-Identifier: MIT */
/* reference.c - the reference walker: SDM 4.3 to 4.8 written out rule by
 * rule, every paging mode, and nested paging's second dimension (SDM 3C,
 * APM 2 15.25), for clarity and not speed. It shares nothing with the fast
 * path but guest-memory access: no TLB, no precomputed tables, no cached
 * masks. Tests and fuzzers hold mmu_translate() against it. */
#include "internal.h"

static int mmu__ref_fault(uint64_t vaddr, uint32_t error_code,
                          mmu_result *out) {
  out->error_code = error_code;
  out->cr2 = vaddr;
  return MMU_PAGE_FAULT;
}

/* An entry of the walk: its level, where it is, its value. */
typedef struct mmu__ref_entry {
  int level;
  uint64_t gpa;
  uint64_t at; /* where it is read: gpa, or with nested paging its hpa */
  uint64_t value;
  int in_memory; /* 0: the PAE PDPTE register (SDM 4.4.1) */
  int has_a;     /* 0: a PAE PDPTE, in memory or not (no A flag) */
  int narrow;    /* a 4-byte entry of 32-bit paging */
} mmu__ref_entry;

static int mmu__ref_read(mmu_cpu *cpu, mmu__ref_entry *e) {
  return e->narrow ? mmu__pt_read32(cpu, e->at, &e->value)
                   : mmu__pt_read(cpu, e->at, &e->value);
}

static int mmu__ref_cmpxchg(mmu_cpu *cpu, const mmu__ref_entry *e,
                            uint64_t want) {
  return e->narrow ? mmu__pt_cmpxchg32(cpu, e->at, (uint32_t)e->value,
                                      (uint32_t)want)
                   : mmu__pt_cmpxchg(cpu, e->at, e->value, want);
}

/* A walk that faults below the first n entries: with
 * MMU_CFG_AD_ON_FAULT_UPPER, A in those (SPEC 4.8). */
static void mmu__ref_fault_upper(mmu_cpu *cpu, const mmu__ref_entry *used,
                                 int n) {
  if (!(cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER))
    return;
  for (int i = 0; i < n; i++)
    if (used[i].has_a && !(used[i].value & MMU_PTE_A))
      (void)mmu__ref_cmpxchg(cpu, &used[i], used[i].value | MMU_PTE_A);
}

/* A VM exit of the second dimension, for a guest walk: EPT's
 * qualification says the guest linear address is valid (bit 7) and, for
 * the final address, bit 8; NPT's EXITINFO1 bit 33 or 32. */
static int mmu__ref_exit(int status, uint64_t gpa, uint64_t qual, int table,
                         mmu_result *out) {
  if (status == MMU_EPT_VIOLATION)
    qual |= (1ull << 7) | (table ? 0 : 1ull << 8);
  else if (status == MMU_NPF)
    qual |= table ? 1ull << 33 : 1ull << 32;
  out->gpa = gpa;
  out->exit_qual = qual;
  return status;
}

/* The second dimension, written out (SDM 3C "EPT Translation Mechanism",
 * "EPT-Induced VM Exits"; APM 2 15.25.5-6): gpa to hpa for a read, write
 * or fetch (kind), of a guest table (table) or the final address. */
/* MMU_CFG_AD_ON_FAULT_UPPER in the second dimension: a walk that exits
 * below its first n entries sets A in them (QEMU's nested walk is its
 * walker; EPT only with its A/D on). */
static void mmu__ref_nested_upper(mmu_cpu *cpu, const uint64_t *at,
                                  const uint64_t *val, int n, int ad,
                                  uint64_t a_bit) {
  if (!ad || !(cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER))
    return;
  for (int i = 0; i < n; i++)
    if (!(val[i] & a_bit))
      (void)mmu__pt_cmpxchg(cpu, at[i], val[i], val[i] | a_bit);
}

/* What one walk of the second dimension read, for the trace. */
typedef struct mmu__ref_nwalk {
  uint64_t at[5], val[5];
  int used, levels;
} mmu__ref_nwalk;

static int mmu__ref_nested_walk(mmu_cpu *cpu, uint64_t gpa, unsigned kind,
                                int table, int user_addr, uint64_t *hpa,
                                uint64_t *size, mmu_result *out,
                                mmu__ref_nwalk *nw) {
  const mmu_nested *n = &cpu->nested;
  const int ept = n->kind == MMU_NESTED_EPT;
  const unsigned m = cpu->maxphyaddr;
  const uint64_t below = m < 52 ? (1ull << m) - 1 : (1ull << 52) - 1;
  const uint64_t addr = below & ~0xFFFull;
  const uint64_t above = ((1ull << 52) - 1) & ~below;
  const int levels = ept ? (int)((n->root >> 3) & 7) + 1
                         : (n->flags & MMU_NESTED_LA57) ? 5 : 4;
  /* A/D: NPT always (host paging's rules); EPT when EPTP bit 6 is set */
  const int ad = !ept || (n->root & MMU_EPTP_AD);
  const uint64_t a_bit = ept ? 1ull << 8 : 1ull << 5;
  const uint64_t d_bit = ept ? 1ull << 9 : 1ull << 6;
  /* NPT: the #PF error code of a user access */
  const uint64_t npf = MMU_PFEC_U | (kind == MMU_WRITE ? MMU_PFEC_W : 0) |
                       (kind == MMU_FETCH && (n->flags & MMU_NESTED_NXE)
                            ? MMU_PFEC_ID
                            : 0);
  const uint64_t access_bit = kind == MMU_READ ? 1 : kind == MMU_WRITE ? 2 : 4;
  /* mode-based execute control: bit 2 executes for supervisor-mode linear
   * addresses, bit 10 for user-mode ones (SDM 3C 29.3.3.1) */
  const int mbec = ept && (n->flags & MMU_NESTED_MBEC);
  nw->levels = levels;
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    uint64_t base = n->root & addr, *at = nw->at, *val = nw->val, leaf_size = 0;
    int used = 0, r = 1, w = 1, x = 1, u = 1, xu = 1;
    nw->used = 0;
    for (int level = levels; level >= 1; level--) {
      at[used] = base + ((gpa >> (12 + 9 * (level - 1))) & 0x1FF) * 8;
      if (mmu__pt_read(cpu, at[used], &val[used]) != 0) {
        out->paddr = at[used];
        return MMU_ERR_PT_BUS;
      }
      uint64_t e = val[used++];
      nw->used = used;
      int ps = (e >> 7) & 1;
      int leaf = level == 1 || ((level == 2 || level == 3) && ps);
      if (ept) {
        /* present: any of R, W, X (and XU with MBEC) */
        int xu_bit = mbec && ((e >> 10) & 1);
        if ((e & 7) == 0 && !xu_bit) {
          mmu__ref_nested_upper(cpu, at, val, used - 1, ad, a_bit);
          return mmu__ref_exit(MMU_EPT_VIOLATION, gpa, access_bit, table, out);
        }
        int mis = (e & 3) == 2; /* W without R */
        mis |= (e & 3) == 0 && !(n->flags & MMU_NESTED_EXEC_ONLY); /* X only */
        mis |= (e & above) != 0;
        if (level >= 4)
          mis |= (e & 0xF8) != 0; /* bits 7:3 of a PML5E or PML4E */
        else if (!leaf)
          mis |= (e & 0x78) != 0; /* bits 6:3 of a table's entry */
        if (leaf && level == 3)
          mis |= (n->flags & MMU_NESTED_NO_1G) || (e & 0x3FFFF000ull);
        if (leaf && level == 2)
          mis |= (e & 0x1FF000ull) != 0;
        unsigned mt = (unsigned)(e >> 3) & 7;
        if (leaf)
          mis |= mt == 2 || mt == 3 || mt == 7;
        if (mis) {
          mmu__ref_nested_upper(cpu, at, val, used - 1, ad, a_bit);
          return mmu__ref_exit(MMU_EPT_MISCONFIG, gpa, 0, table, out);
        }
        r &= (int)(e & 1);
        w &= (int)(e >> 1) & 1;
        x &= (int)(e >> 2) & 1;
        xu &= xu_bit;
      } else {
        if (!(e & MMU_PTE_P)) {
          mmu__ref_nested_upper(cpu, at, val, used - 1, ad, a_bit);
          return mmu__ref_exit(MMU_NPF, gpa, npf, table, out);
        }
        int rsv = (e & above) != 0;
        rsv |= !(n->flags & MMU_NESTED_NXE) && (e >> 63);
        if (level >= 4)
          rsv |= ps || ((e >> 8) & 1); /* AMD: PS and bit 8 */
        if (leaf && level == 3)
          rsv |= (n->flags & MMU_NESTED_NO_1G) || (e & 0x3FFFE000ull);
        if (leaf && level == 2)
          rsv |= (e & 0x1FE000ull) != 0;
        if (rsv) {
          mmu__ref_nested_upper(cpu, at, val, used - 1, ad, a_bit);
          return mmu__ref_exit(MMU_NPF, gpa, npf | MMU_PFEC_P | MMU_PFEC_RSVD,
                               table, out);
        }
        u &= (int)(e >> 2) & 1;
        w &= (int)(e >> 1) & 1;
        x &= !(int)(e >> 63);
      }
      if (leaf) {
        leaf_size = 1ull << (12 + 9 * (level - 1));
        break;
      }
      base = e & addr;
    }
    /* a fetch from a user-mode address needs XU under MBEC */
    int allowed = kind == MMU_READ    ? r
                  : kind == MMU_WRITE ? w
                  : mbec && user_addr ? xu
                                      : x;
    if (!ept)
      allowed = u && (kind == MMU_READ || allowed);
    if (!allowed)
      mmu__ref_nested_upper(cpu, at, val, used - 1, ad, a_bit);
    if (!allowed)
      return ept ? mmu__ref_exit(MMU_EPT_VIOLATION, gpa,
                                 access_bit | (uint64_t)r << 3 |
                                     (uint64_t)w << 4 | (uint64_t)x << 5 |
                                     (uint64_t)(mbec && xu) << 6,
                                 table, out)
                 : mmu__ref_exit(MMU_NPF, gpa, npf | MMU_PFEC_P, table, out);
    int lost = 0;
    for (int i = 0; ad && i < used && !lost; i++) {
      uint64_t want = val[i] | a_bit | (i == used - 1 && kind == MMU_WRITE ? d_bit : 0);
      if (want == val[i])
        continue;
      int rc = mmu__pt_cmpxchg(cpu, at[i], val[i], want);
      if (rc < 0) {
        out->paddr = at[i];
        return MMU_ERR_PT_BUS;
      }
      lost = rc != 0;
    }
    if (lost)
      continue;
    *hpa = (val[used - 1] & addr & ~(leaf_size - 1)) | (gpa & (leaf_size - 1));
    *size = leaf_size;
    return MMU_OK;
  }
  return MMU_ERR_CONTENDED;
}

/* One gpa through the second dimension; the entries it read go to the
 * trace, marked as translating guest level for_level (0: final). */
static int mmu__ref_nested(mmu_cpu *cpu, uint64_t gpa, unsigned kind,
                           int table, int user_addr, uint64_t *hpa,
                           uint64_t *size, mmu_result *out, mmu_trace *trace,
                           int for_level) {
  mmu__ref_nwalk nw;
  memset(&nw, 0, sizeof nw);
  int rc = mmu__ref_nested_walk(cpu, gpa, kind, table, user_addr, hpa, size,
                                out, &nw);
  for (int i = 0; trace && i < nw.used &&
                  trace->nested_count < MMU_TRACE_NESTED_MAX; i++) {
    mmu_nested_step *s = &trace->nested[trace->nested_count++];
    memset(s, 0, sizeof *s);
    s->gpa = gpa;
    s->entry_hpa = nw.at[i];
    s->entry = nw.val[i];
    s->level = (uint8_t)(nw.levels - i);
    s->for_level = (uint8_t)for_level;
  }
  return rc;
}

MMU_API int mmu_reference_translate(mmu_cpu *cpu, uint64_t vaddr,
                                    unsigned access, mmu_result *out,
                                    mmu_trace *trace) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!out || !MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  const mmu_regs *r = &cpu->regs;
  /* SPEC 10: nested paging's second dimension under the guest's walk */
  const int nested = cpu->nested.kind != MMU_NESTED_OFF;
  const int npt = cpu->nested.kind == MMU_NESTED_NPT;
  /* guest table accesses are writes to the second dimension with EPT A/D
   * and under NPT (SPEC 10.4) */
  const unsigned table_kind =
      nested && (cpu->nested.kind == MMU_NESTED_NPT ||
                 (cpu->nested.root & MMU_EPTP_AD))
          ? MMU_WRITE
          : MMU_READ;
  if (trace)
    trace->count = trace->nested_count = 0;

  /* SDM 3.3.6: outside IA-32e mode a linear address is 32 bits wide */
  int ia32e = (r->efer & MMU_EFER_LMA) != 0;
  if (!ia32e)
    vaddr = (uint32_t)vaddr;

  /* SDM 4.1.1: CR0.PG = 0, paging off: the linear address is physical */
  if (!(r->cr0 & MMU_CR0_PG)) {
    out->paddr = vaddr;
    out->page_size = 4096;
    if (nested) { /* the linear address is a gpa */
      uint64_t size;
      int rc = mmu__ref_nested(cpu, vaddr, access & 3u, 0, 0, &out->paddr,
                               &size, out, trace, 0);
      if (rc != MMU_OK)
        return rc;
    }
    out->host = NULL;
    const mmu_ram_region *region = mmu__ram_find(cpu, out->paddr, 1);
    if (region)
      out->host = (uint8_t *)region->host + (out->paddr - region->gpa);
    return MMU_OK;
  }
  /* SDM 4.1.1, Table 4-1: the paging mode */
  enum { BITS32, PAE, LEVEL4, LEVEL5 } mode;
  if (ia32e)
    mode = (r->cr4 & MMU_CR4_LA57) ? LEVEL5 : LEVEL4;
  else
    mode = (r->cr4 & MMU_CR4_PAE) ? PAE : BITS32;
  int levels = mode == LEVEL5 ? 5 : mode == LEVEL4 ? 4 : mode == PAE ? 3 : 2;

  /* SDM 4.5.1: in IA-32e mode linear addresses must be canonical: bits
   * 63:48 (63:57) equal to bit 47 (56). Otherwise #GP (#SS for stack
   * references). */
  if (ia32e) {
    int width = mode == LEVEL5 ? 57 : 48;
    uint64_t upper = vaddr >> (width - 1);
    if (upper != 0 && upper != (~0ull >> (width - 1))) {
      out->error_code = 0;
      return MMU_GP_FAULT;
    }
  }

  int fetch = (access & MMU_FETCH) != 0;
  int write = (access & MMU_WRITE) && !fetch;
  int implicit = (access & MMU_IMPLICIT) != 0;
  int user_access = r->cpl == 3 && !implicit; /* SDM 4.6 */
  int nxe = (r->efer & MMU_EFER_NXE) != 0;
  int wp = (r->cr0 & MMU_CR0_WP) != 0;
  int smep = (r->cr4 & MMU_CR4_SMEP) != 0;
  int smap = (r->cr4 & MMU_CR4_SMAP) != 0;
  int pke = (r->cr4 & MMU_CR4_PKE) != 0 && ia32e; /* SDM 4.6.2 */
  int pse = (r->cr4 & MMU_CR4_PSE) != 0;
  /* entries have an XD bit in PAE and IA-32e paging, used with NXE */
  int has_xd = mode != BITS32 && nxe;

  /* SDM 4.7: error-code bits that describe the access */
  uint32_t ec = 0;
  if (write)
    ec |= MMU_PFEC_W;
  if (user_access)
    ec |= MMU_PFEC_U;
  if (fetch && (smep || has_xd))
    ec |= MMU_PFEC_ID;

  unsigned m = cpu->maxphyaddr;
  uint64_t frame_mask = ((m >= 64 ? ~0ull : (1ull << m) - 1)) & ~0xFFFull;
  uint64_t above_maxphy = m < 52 ? (((1ull << 52) - 1) & ~((1ull << m) - 1)) : 0;
  if (mode == PAE) /* SDM 4.4.2: bits 62:MAXPHYADDR are reserved */
    above_maxphy = ((1ull << 63) - 1) & ~((1ull << m) - 1);

  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    mmu__ref_entry used[5];
    int rw = 1, us = 1, xd = 0;
    int n = 0, fault = 0;
    uint32_t fault_ec = 0;
    uint64_t page_size = 0, frame = 0;
    uint64_t table = mode == BITS32 ? r->cr3 & 0xFFFFF000ull
                                    : r->cr3 & frame_mask;
    if (trace)
      trace->count = trace->nested_count = 0;

    for (int level = levels; level >= 1; level--) {
      mmu__ref_entry *e = &used[n++];
      e->level = level;
      e->in_memory = 1;
      e->has_a = !(mode == PAE && level == 3);
      e->narrow = mode == BITS32;
      if (mode == BITS32) {
        /* SDM 4.3: 1024 4-byte entries per table, 10 bits of the address */
        e->gpa = table + ((vaddr >> (12 + 10 * (level - 1))) & 0x3FF) * 4;
      } else if (mode == PAE && level == 3) {
        /* SDM 4.4.1: bits 31:30 pick one of the four PDPTE registers,
         * loaded from CR3 bits 31:5 when CR3 was written; under NPT none
         * is loaded: the walk reads the PDPTE (APM 2 15.25, SPEC 10.4) */
        e->in_memory = npt;
        e->gpa = (r->cr3 & 0xFFFFFFE0ull) + ((vaddr >> 30) & 3) * 8;
        e->value = r->pdpte[(vaddr >> 30) & 3];
      } else {
        e->gpa = table + ((vaddr >> (12 + 9 * (level - 1))) & 0x1FF) * 8;
      }
      e->at = e->gpa;
      if (e->in_memory && nested) {
        uint64_t size;
        int rc = mmu__ref_nested(cpu, e->gpa, table_kind, 1, 0, &e->at, &size,
                                 out, trace, level);
        if (rc != MMU_OK) {
          /* an exit ends the walk at this level (SPEC 10.4) */
          if (rc == MMU_EPT_VIOLATION || rc == MMU_EPT_MISCONFIG ||
              rc == MMU_NPF)
            mmu__ref_fault_upper(cpu, used, n - 1);
          return rc;
        }
      }
      if (e->in_memory && mmu__ref_read(cpu, e) != 0) {
        out->paddr = e->at;
        return MMU_ERR_PT_BUS;
      }
      uint64_t pte = e->value;
      if (trace) {
        trace->step[trace->count].entry_gpa = e->gpa;
        trace->step[trace->count].entry = pte;
        trace->step[trace->count].level = (uint8_t)level;
        trace->count++;
      }
      /* SDM 4.3-4.5: P = 0 ends the walk; no other bit matters */
      if (!(pte & MMU_PTE_P)) {
        fault_ec = ec;
        fault = 1;
        break;
      }
      if (mode == PAE && level == 3) {
        /* a PDPTE: its reserved bits #GP'd at load, or under NPT are the
         * walk's #PF (SDM 4.4.1, Table 4-8) */
        if (npt && (pte & (0x1E6ull | (~0ull << m)))) {
          fault_ec = ec | MMU_PFEC_P | MMU_PFEC_RSVD;
          fault = 1;
          break;
        }
        table = pte & frame_mask;
        continue;
      }
      int ps = (pte & MMU_PTE_PS) != 0;
      int reserved = 0;
      if (mode == BITS32) {
        /* SDM 4.3, Table 4-4: a 4 MiB page (CR4.PSE) reserves bits
         * 21:(M-19), M = min(MAXPHYADDR, 40); bit 7 is ignored without
         * PSE; nothing else is reserved */
        unsigned pm = m < 40 ? m : 40;
        if (level == 2 && ps && pse &&
            (pte & (((1ull << 22) - 1) & ~((1ull << (pm - 19)) - 1))))
          reserved = 1;
      } else {
        /* SDM 4.4.2 and 4.5.4, Tables 4-9 to 4-11 and 4-15 to 4-20 */
        reserved = (pte & above_maxphy) != 0;
        if (!nxe && (pte & MMU_PTE_XD))
          reserved = 1;
        if (level >= 4 && ps) /* PML5E, PML4E: bit 7 reserved */
          reserved = 1;
        if (level == 3 && ps) {
          if (cpu->flags & MMU_CFG_NO_1G_PAGES)
            reserved = 1;
          else if (pte & (((1ull << 30) - 1) & ~((1ull << 13) - 1)))
            reserved = 1; /* 1 GiB page: bits 29:13 */
        }
        /* AMD: bit 8 of a PML5E or PML4E is reserved */
        if ((cpu->flags & MMU_CFG_AMD) && level >= 4 && (pte & MMU_PTE_G))
          reserved = 1;
        if (level == 2 && ps &&
            (pte & (((1ull << 21) - 1) & ~((1ull << 13) - 1))))
          reserved = 1; /* 2 MiB page: bits 20:13 */
      }
      if (reserved) {
        fault_ec = ec | MMU_PFEC_P | MMU_PFEC_RSVD;
        fault = 1;
        break;
      }
      /* SDM 4.6: rights combine over every level */
      rw &= (pte & MMU_PTE_W) != 0;
      us &= (pte & MMU_PTE_U) != 0;
      xd |= has_xd && (pte & MMU_PTE_XD);
      if (level == 1) {
        page_size = 4096;
        frame = mode == BITS32 ? pte & 0xFFFFF000ull : pte & frame_mask;
        break;
      }
      if (mode == BITS32 && level == 2 && ps && pse) {
        /* SDM 4.3: a 4 MiB page; PSE-36 puts address bits 39:32 in PDE
         * bits 20:13 */
        page_size = 4ull << 20;
        frame = (pte & 0xFFC00000ull) | ((pte >> 13) & 0xFF) << 32;
        break;
      }
      if (mode != BITS32 && (level == 2 || level == 3) && ps) {
        page_size = 1ull << (12 + 9 * (level - 1)); /* 2 MiB, 1 GiB */
        frame = pte & frame_mask & ~(page_size - 1);
        break;
      }
      table = mode == BITS32 ? pte & 0xFFFFF000ull : pte & frame_mask;
    }
    mmu__ref_entry *leaf = &used[n - 1];

    if (!fault) {
      int user_page = us;
      int denied;
      /* SDM 4.6.1 */
      if (fetch) {
        if (xd)
          denied = 1;
        else if (user_access)
          denied = !user_page;
        else
          denied = user_page && smep;
      } else if (user_access) {
        denied = !user_page || (write && !rw);
      } else if (user_page && smap && (implicit || !r->ac)) {
        denied = 1;
      } else {
        denied = write && !rw && wp;
      }
      /* SDM 4.6.2: protection keys, user pages, data accesses */
      int pk = 0;
      if (pke && user_page && !fetch) {
        unsigned key = (unsigned)(leaf->value >> 59) & 15;
        int ad = (r->pkru >> (2 * key)) & 1;
        int wd = (r->pkru >> (2 * key + 1)) & 1;
        pk = ad || (write && wd && (user_access || wp));
      }
      if (denied || pk) {
        fault_ec = ec | MMU_PFEC_P | (pk ? (uint32_t)MMU_PFEC_PK : 0);
        fault = 1;
      }
    }

    if (fault) {
      mmu__ref_fault_upper(cpu, used, n - 1);
      return mmu__ref_fault(vaddr, fault_ec, out);
    }

    /* SDM 4.8: set A in each entry used (not the PDPTE registers), D in
     * the leaf on a write */
    int lost = 0;
    for (int i = 0; i < n && !lost; i++) {
      if (!used[i].has_a)
        continue;
      uint64_t want = used[i].value | MMU_PTE_A;
      if (i == n - 1 && write)
        want |= MMU_PTE_D;
      if (want == used[i].value)
        continue;
      int rc = mmu__ref_cmpxchg(cpu, &used[i], want);
      if (rc < 0) {
        out->paddr = used[i].at;
        return MMU_ERR_PT_BUS;
      }
      lost = rc != 0;
    }
    if (lost)
      continue; /* another agent changed an entry: walk again */

    out->paddr = frame | (vaddr & (page_size - 1));
    out->page_size = page_size;
    if (nested) { /* the final address, with the access's kind */
      uint64_t size;
      /* us: a user-mode address (U/S = 1 in every entry), for MBEC */
      int rc = mmu__ref_nested(cpu, out->paddr, write ? MMU_WRITE : fetch ? MMU_FETCH : MMU_READ,
                               0, us, &out->paddr, &size, out, trace, 0);
      if (rc != MMU_OK)
        return rc;
      if (size < page_size)
        out->page_size = size;
    }
    const mmu_ram_region *region = mmu__ram_find(cpu, out->paddr, 1);
    out->host = region ? (uint8_t *)region->host + (out->paddr - region->gpa)
                       : NULL;
    return MMU_OK;
  }
  return MMU_ERR_CONTENDED;
}
