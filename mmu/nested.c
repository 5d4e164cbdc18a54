/* SPDX-License-Identifier: MIT */
/* nested.c - nested paging (SPEC.md 10): a guest-physical address
 * translated by the host's EPT (Intel VMX) or nested page tables (AMD
 * SVM), with the VM exit each raises. One walker for both formats,
 * compiled once for each, so the entries' meaning is settled outside the
 * loop over levels. */
#include "internal.h"

/* The mask each entry is tested with, [level][leaf]: its reserved bits,
 * bit 0 (EPT R, NPT P) and for an EPT leaf its memory type, so that one
 * AND giving MMU__NESTED_PASS passes the usual entry (readable, present;
 * an EPT leaf of type WB); anything else is decoded in full
 * (mmu__nested_odd). */
#define MMU__EPT_MT MMU__BITS(5, 3)
#define MMU__NESTED_PASS(ept, leaf) ((ept) && (leaf) ? 1u | 6u << 3 : 1u)

/* EPT reserved bits (SDM 3C, "EPT Translation Mechanism", Tables 28-1 to
 * 28-6): bits 51:M everywhere; bits 7:3 of a PML5E/PML4E; bits 6:3 of an
 * entry that references a table; bits 29:12 of a 1 GiB leaf and 20:12 of
 * a 2 MiB leaf; and PS of a PDPTE without 1 GiB pages. (Bits 2:0 and the
 * memory type are misconfigurations of their own.) */
static void mmu__ept_masks(mmu_cpu *cpu) {
  uint64_t high = cpu->maxphyaddr < 52 ? MMU__BITS(51, cpu->maxphyaddr) : 0;
  for (int level = 0; level < 6; level++) {
    cpu->nested_mask[level][0] = high | MMU__BITS(6, 3);
    cpu->nested_mask[level][1] = high;
  }
  for (int leaf = 0; leaf < 2; leaf++) {
    cpu->nested_mask[5][leaf] = high | MMU__BITS(7, 3);
    cpu->nested_mask[4][leaf] = high | MMU__BITS(7, 3);
  }
  cpu->nested_mask[3][1] |= (cpu->nested.flags & MMU_NESTED_NO_1G)
                                ? MMU_EPT_PS
                                : MMU__BITS(29, 12);
  cpu->nested_mask[2][1] |= MMU__BITS(20, 12);
}

/* Nested page tables have the host's long-mode format (APM 2 15.25.5). */
static void mmu__npt_masks(mmu_cpu *cpu) {
  uint64_t high = cpu->maxphyaddr < 52 ? MMU__BITS(51, cpu->maxphyaddr) : 0;
  if (!(cpu->nested.flags & MMU_NESTED_NXE))
    high |= MMU_PTE_XD;
  for (int level = 0; level < 6; level++)
    cpu->nested_mask[level][0] = cpu->nested_mask[level][1] = high;
  for (int ps = 0; ps < 2; ps++) {
    cpu->nested_mask[5][ps] |= MMU_PTE_PS | MMU_PTE_G; /* AMD: bit 8 too */
    cpu->nested_mask[4][ps] |= MMU_PTE_PS | MMU_PTE_G;
  }
  cpu->nested_mask[3][1] |= (cpu->nested.flags & MMU_NESTED_NO_1G)
                                ? MMU_PTE_PS
                                : MMU__BITS(29, 13);
  cpu->nested_mask[2][1] |= MMU__BITS(20, 13);
}

static void mmu__nested_masks(mmu_cpu *cpu) {
  if (cpu->nested.kind == MMU_NESTED_EPT) {
    mmu__ept_masks(cpu);
    for (int level = 1; level <= 3; level++)
      cpu->nested_mask[level][1] |= MMU__EPT_MT;
  } else {
    mmu__npt_masks(cpu);
  }
  for (int level = 0; level < 6; level++)
    for (int leaf = 0; leaf < 2; leaf++)
      cpu->nested_mask[level][leaf] |= 1; /* EPT R, NPT P */
}

/* VM entry's EPTP checks (SDM 3C 26.2.1.1), INVEPT's too: memory type
 * UC or WB, walk length 4 or 5, A/D only where offered, bits 11:7 and
 * 63:M 0. */
static int mmu__eptp_ok(const mmu_cpu *cpu, uint64_t eptp, uint32_t flags) {
  uint64_t mt = eptp & 7, walk = (eptp >> 3) & 7;
  return (mt == MMU_EPTP_UC || mt == MMU_EPTP_WB) && (walk == 3 || walk == 4) &&
         !((eptp & MMU_EPTP_AD) && (flags & MMU_NESTED_NO_AD)) &&
         !(eptp & ~(cpu->addr_mask | MMU__BITS(6, 0)));
}

MMU_API int mmu_set_nested(mmu_cpu *cpu, const mmu_nested *n) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  const uint32_t known = MMU_NESTED_EXEC_ONLY | MMU_NESTED_NO_1G |
                         MMU_NESTED_NO_AD | MMU_NESTED_NXE | MMU_NESTED_LA57 |
                         MMU_NESTED_MBEC;
  if (!n || (n->flags & ~known) ||
      ((n->flags & MMU_NESTED_MBEC) && n->kind != MMU_NESTED_EPT))
    return MMU_ERR_ARG;
  uint64_t addr = cpu->addr_mask;
  switch (n->kind) {
  case MMU_NESTED_OFF:
    break;
  case MMU_NESTED_EPT:
    if (!mmu__eptp_ok(cpu, n->root, n->flags))
      return MMU_ERR_ARG;
    break;
  case MMU_NESTED_NPT:
    /* nCR3 holds a table address and PWT/PCD; bits 63:M are reserved */
    if (n->root & ~(addr | MMU_PTE_PWT | MMU_PTE_PCD))
      return MMU_ERR_ARG;
    break;
  default:
    return MMU_ERR_ARG;
  }
  cpu->nested = *n;
  cpu->nested_table = n->root & addr;
  if (n->kind == MMU_NESTED_EPT)
    cpu->nested_levels = (int)((n->root >> 3) & 7) + 1;
  else if (n->kind == MMU_NESTED_NPT)
    cpu->nested_levels = (n->flags & MMU_NESTED_LA57) ? 5 : 4;
  else
    cpu->nested_levels = 0;
  if (n->kind != MMU_NESTED_OFF)
    mmu__nested_masks(cpu);
  /* which walk (EPT's or NPT's copy); 2: EPT's, with MBEC's checks */
  cpu->nested_format = (int16_t)(n->kind != MMU_NESTED_EPT ? 0
                                 : (n->flags & MMU_NESTED_MBEC) ? 2
                                                               : 1);
  /* what the TLB holds was translated through the old tables */
  mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

/* The exit a failed nested translation raises. EPT: a violation's
 * qualification has the access in bits 2:0 and the R/W/X of the entries
 * walked (ANDed; 0 past a not-present one) in bits 5:3; a misconfiguration
 * has none. NPT: EXITINFO1 is the #PF error code of a user access, with
 * bit 32 (the final address) or 33 (a guest table's). */
enum { MMU__NX_PRESENT = 1, MMU__NX_RSVD = 2, MMU__NX_TABLE = 4 };
/* with the access kind, under MBEC only: the final address is a user-mode
 * linear address (U/S = 1 in every guest entry): fetches need XU */
#define MMU__NESTED_USER_ADDR (1u << 16)

static int mmu__nested_exit(mmu_cpu *cpu, int status, uint64_t gpa,
                            unsigned access, uint64_t rwx, unsigned how,
                            mmu_result *out) {
  unsigned kind = access & 3u;
  uint64_t q = 0;
  if (status == MMU_EPT_VIOLATION)
    q = (kind == MMU_READ    ? MMU_EPTQ_READ
         : kind == MMU_WRITE ? MMU_EPTQ_WRITE
                             : MMU_EPTQ_FETCH) |
        (rwx & 15) << 3; /* R, W, X(S), and XU as bit 6 with MBEC */
  else if (status == MMU_NPF)
    q = ((how & MMU__NX_PRESENT) ? MMU_PFEC_P : 0) | MMU_PFEC_U |
        (kind == MMU_WRITE ? MMU_PFEC_W : 0) |
        ((how & MMU__NX_RSVD) ? MMU_PFEC_RSVD : 0) |
        (kind == MMU_FETCH && (cpu->nested.flags & MMU_NESTED_NXE)
             ? MMU_PFEC_ID
             : 0) |
        ((how & MMU__NX_TABLE) ? MMU_NPF_TABLE : MMU_NPF_FINAL);
  out->gpa = gpa;
  out->exit_qual = q;
  return status;
}

/* An entry that failed the one-AND test, decoded in full: 0 when the walk
 * goes on (an EPT execute-only entry where offered), else its exit: not
 * present (EPT violation; NPF with *how 0) or misconfigured / reserved
 * (EPT misconfiguration; NPF with P and RSVD in *how). */
static MMU_NOINLINE int mmu__nested_odd(const mmu_cpu *cpu, int ept,
                                        int leaf, uint64_t e, uint64_t mask,
                                        unsigned *how) {
  uint64_t rsvd = mask & ~(1ull | (ept && leaf ? MMU__EPT_MT : 0));
  if (!ept) {
    if (!(e & MMU_PTE_P))
      return MMU_NPF;
    *how = MMU__NX_PRESENT | MMU__NX_RSVD;
    return MMU_NPF;
  }
  unsigned rwx = (unsigned)(e & 7);
  /* with MBEC an entry with only XU is present too (execute-only) */
  int xu = (cpu->nested.flags & MMU_NESTED_MBEC) && (e & MMU_EPT_XU);
  if (rwx == 0 && !xu)
    return MMU_EPT_VIOLATION;
  /* write without read; execute-only where not offered */
  if ((rwx & 3) == 2 ||
      ((rwx & 3) == 0 && !(cpu->nested.flags & MMU_NESTED_EXEC_ONLY)) ||
      (e & rsvd))
    return MMU_EPT_MISCONFIG;
  /* leaf memory types 2, 3 and 7 */
  if (leaf && ((0x8Cu >> ((e >> 3) & 7)) & 1))
    return MMU_EPT_MISCONFIG;
  return 0;
}

/* A in the nested entries from the top down to level `last`, and D in
 * that one on a write: the A/D updates of a walk that found one missing
 * (0, 1 when a compare-exchange lost: walk again, or MMU_ERR_PT_BUS with
 * out->paddr), or with out NULL a best-effort pass that ignores both. */
static MMU_NOINLINE int mmu__nested_mark(mmu_cpu *cpu, int ept, uint64_t gpa,
                                         int last, const uint64_t *entry,
                                         int write, mmu_result *out) {
  uint64_t a = ept ? MMU_EPT_A : MMU_PTE_A, d = ept ? MMU_EPT_D : MMU_PTE_D;
  uint64_t table = cpu->nested_table;
  for (int l = cpu->nested_levels; l >= last; l--) {
    uint64_t at = table + ((gpa >> (12 + 9 * (l - 1))) & 511) * 8;
    uint64_t old = entry[l - 1];
    uint64_t want = old | a | (l == last && write ? d : 0);
    table = old & cpu->addr_mask;
    if (want == old)
      continue;
    int rc = mmu__pt_cmpxchg(cpu, at, old, want);
    if (!out)
      continue;
    if (rc < 0) {
      cpu->stats.bus_errors++;
      out->paddr = at;
      return MMU_ERR_PT_BUS;
    }
    if (rc > 0)
      return 1;
  }
  return 0;
}

/* MMU_CFG_AD_ON_FAULT_UPPER in this dimension too: a walk that exits at
 * `level` sets A in the entries above it (QEMU's nested walk is its
 * walker). EPT only with its A/D on. */
static MMU_NOINLINE void mmu__nested_fault_upper(mmu_cpu *cpu, int ept,
                                                 uint64_t gpa, int level,
                                                 const uint64_t *entry) {
  if (!ept || (cpu->nested.root & MMU_EPTP_AD))
    (void)mmu__nested_mark(cpu, ept, gpa, level + 1, entry, 0, NULL);
}

/* One level of the nested walk, unrolled (L is a constant) as the guest's
 * in walk.c: read from the hot RAM region, then one AND against the
 * level's mask (mmu__nested_masks) passes the usual entry; the rest are
 * decoded apart. The bits are ANDed and ORed over the levels for the
 * rights and the A/D test. */
#define MMU__NESTED_LEVEL(L)                                                 \
  level = (L);                                                               \
  at = base + ((gpa >> (12 + 9 * ((L)-1))) & 511) * 8;                       \
  if (MMU_LIKELY(at - hot_gpa <= hot_limit)) {                               \
    e = __atomic_load_n((uint64_t *)(void *)(hot + (at - hot_gpa)),          \
                        __ATOMIC_ACQUIRE);                                   \
  } else {                                                                   \
    uint64_t cold;                                                           \
    if (mmu__pt_read_cold(cpu, at, &cold) != 0)                              \
      goto bus_error;                                                        \
    e = cold;                                                                \
    hot_gpa = cpu->ram_hot_gpa;                                              \
    hot_limit = cpu->ram_hot_limit;                                          \
    hot = cpu->ram_hot_host;                                                 \
  }                                                                          \
  entry[(L)-1] = e;                                                          \
  if ((L) == 1 || (((L) == 2 || (L) == 3) && (e & MMU_PTE_PS))) {            \
    MMU__NESTED_TEST(L, 1)                                                   \
    shift = 12 + 9 * ((L)-1);                                                \
    size_mask = (1ull << shift) - 1;                                         \
    goto leaf;                                                               \
  }                                                                          \
  MMU__NESTED_TEST(L, 0)                                                     \
  base = e & amask;

#define MMU__NESTED_TEST(L, LEAF)                                            \
  if (MMU_UNLIKELY((e & cpu->nested_mask[L][LEAF]) !=                       \
                   MMU__NESTED_PASS(ept, LEAF))) {                           \
    status = mmu__nested_odd(cpu, ept, LEAF, e, cpu->nested_mask[L][LEAF],   \
                             &how);                                          \
    if (status != 0)                                                         \
      goto stop;                                                             \
  }                                                                          \
  all_and &= e;                                                              \
  all_or |= e;

/* A nested translation: the host-physical address, the page size, and
 * R/W/X over the levels with bit 3 set when a write needs no D update. */
typedef struct mmu__nested_res {
  uint64_t hpa;
  unsigned shift, rwxd;
} mmu__nested_res;

static int mmu__nested_walk_try(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                                int table, mmu__nested_res *res,
                                mmu_result *out, int attempt);

/* Translate gpa through the nested tables for an access of `access & 3`
 * (a guest table's read or A/D write when `table`), EPT or NPT as `ept`
 * says (a constant: each format gets its own copy). MMU_OK with *res, a
 * VM exit with out->gpa/exit_qual, or MMU_ERR_PT_BUS with out->paddr the
 * entry outside RAM. A lost A/D race walks again by a tail call, not a
 * loop, so nothing is hoisted out of the walk to wait in the stack. */
static MMU_ALWAYS_INLINE int
mmu__nested_walk_as(mmu_cpu *cpu, const int ept, uint64_t gpa,
                    unsigned access, int table, mmu__nested_res *res,
                    mmu_result *out, int attempt) {
  const unsigned kind = access & 3u, tbl = table ? MMU__NX_TABLE : 0;
  const uint64_t amask = cpu->addr_mask;
  /* A in every entry used, D in the leaf on a write: NPT always, EPT when
   * the EPTP enables it (SDM 3C 28.2.5) */
  const uint64_t a = ept ? MMU_EPT_A : MMU_PTE_A;
  const uint64_t d = ept ? MMU_EPT_D : MMU_PTE_D;
  const int set_ad = !ept || (cpu->nested.root & MMU_EPTP_AD);
  uint64_t hot_gpa = cpu->ram_hot_gpa, hot_limit = cpu->ram_hot_limit;
  uint8_t *hot = cpu->ram_hot_host;
  uint64_t entry[5], base, at, e, all_and, all_or, rights, may, size_mask;
  unsigned how = 0, shift;
  int level, status;
  base = cpu->nested_table;
  all_and = ~0ull;
  all_or = 0;
  if (cpu->nested_levels == 5) {
    MMU__NESTED_LEVEL(5)
  }
  MMU__NESTED_LEVEL(4)
  MMU__NESTED_LEVEL(3)
  MMU__NESTED_LEVEL(2)
  MMU__NESTED_LEVEL(1)
leaf:
  /* the access against the rights of every level; NPT as EPT's R/W/X:
   * a user access (APM 2 15.25.5: nested walks and accesses are
   * user-mode) needs U at every level to do anything */
  if (ept)
    rights = all_and & 7;
  else
    rights = (all_and & MMU_PTE_U) ? MMU_EPT_R |
                                         ((all_and & MMU_PTE_W) ? MMU_EPT_W : 0) |
                                         ((all_or & MMU_PTE_XD) ? 0 : MMU_EPT_X)
                                   : 0;
  /* what the access may do: the same, but under MBEC a fetch from a
   * user-mode address (the flag comes only with MBEC) needs XU */
  may = rights;
  if (ept && MMU_UNLIKELY(access & MMU__NESTED_USER_ADDR))
    may = (rights & 3) | ((all_and >> 8) & 4);
  /* R, W, X are bits 0-2 as reads, writes, fetches are kinds 0-2 */
  if (MMU_UNLIKELY(!((may >> kind) & 1))) {
    if (ept && cpu->nested_format == 2) /* XU as the qualification's bit 6 */
      rights |= ((all_and >> 10) & 1) << 3;
    if (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER)
      mmu__nested_fault_upper(cpu, ept, gpa, level, entry);
    return mmu__nested_exit(cpu, ept ? MMU_EPT_VIOLATION : MMU_NPF, gpa,
                            access, rights, MMU__NX_PRESENT | tbl, out);
  }
  /* no compare-exchange when A (and D for a write) are already set */
  if (set_ad && MMU_UNLIKELY(!(all_and & a) ||
                             (kind == MMU_WRITE && !(e & d)))) {
    int rc = mmu__nested_mark(cpu, ept, gpa, level, entry,
                              kind == MMU_WRITE, out);
    if (rc < 0)
      return rc;
    if (rc > 0) {
      cpu->stats.walk_retries++;
      if (attempt + 1 == MMU__MAX_WALK_RETRIES)
        return MMU_ERR_CONTENDED;
      return mmu__nested_walk_try(cpu, gpa, access, table, res, out,
                                  attempt + 1);
    }
  }
  res->shift = shift;
  res->rwxd = (unsigned)(may & 7) |
              ((!set_ad || kind == MMU_WRITE || (e & d)) ? 8u : 0u);
  res->hpa = (e & amask & ~size_mask) | (gpa & size_mask);
  return MMU_OK;

stop:
  if (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER)
    mmu__nested_fault_upper(cpu, ept, gpa, level, entry);
  return mmu__nested_exit(cpu, status, gpa, access, 0, how | tbl, out);
bus_error:
  cpu->stats.bus_errors++;
  out->paddr = at;
  return MMU_ERR_PT_BUS;
}
#undef MMU__NESTED_LEVEL
#undef MMU__NESTED_TEST

static int mmu__nested_walk_try(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                                int table, mmu__nested_res *res,
                                mmu_result *out, int attempt) {
  /* one copy per format: `ept` is a constant in each */
  if (cpu->nested_format)
    return mmu__nested_walk_as(cpu, 1, gpa, access, table, res, out, attempt);
  return mmu__nested_walk_as(cpu, 0, gpa, access, table, res, out, attempt);
}

static inline int mmu__nested_walk(mmu_cpu *cpu, uint64_t gpa,
                                   unsigned access, int table,
                                   mmu__nested_res *res, mmu_result *out) {
  return mmu__nested_walk_try(cpu, gpa, access, table, res, out, 0);
}

MMU_API int mmu_nested_translate(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                                 mmu_result *out) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!out || !MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  mmu__nested_res n = {gpa, 12, 0};
  if (cpu->nested.kind != MMU_NESTED_OFF) {
    if (gpa & ~cpu->addr_mask & ~MMU__PAGE_MASK) /* beyond MAXPHYADDR */
      return MMU_ERR_ARG;
    int rc = mmu__nested_walk(cpu, gpa, access, 0, &n, out);
    if (rc != MMU_OK)
      return rc;
  }
  uint64_t hpa = n.hpa;
  unsigned shift = n.shift;
  out->paddr = hpa;
  out->page_size = 1ull << shift;
  uint8_t *page = mmu__host_page(cpu, hpa & ~MMU__PAGE_MASK);
  out->host = page ? page + (hpa & MMU__PAGE_MASK) : NULL;
  return MMU_OK;
}

/* The gpa of PAE's PDPT through EPT, for the MOV to CR that loads the
 * PDPTE registers: a read even with EPT A/D on, and an exit without a
 * linear address (qualification bits 7, 8 clear; SDM 3C 28.2.3.2). One
 * walk serves the four: 32 aligned bytes lie in one page. MMU_OK with
 * *hpa, MMU_ERR_PT_BUS, or the exit, kept for mmu_cr_exit. */
static int mmu__nested_pdptes_at(mmu_cpu *cpu, uint64_t gpa, uint64_t *hpa) {
  mmu__nested_res n;
  mmu_result out;
  int rc = mmu__nested_walk(cpu, gpa, MMU_READ, 0, &n, &out);
  if (rc == MMU_OK)
    *hpa = n.hpa;
  else if (rc == MMU_EPT_VIOLATION || rc == MMU_EPT_MISCONFIG) {
    cpu->cr_exit_status = rc;
    cpu->cr_exit_gpa = out.gpa;
    cpu->cr_exit_qual = out.exit_qual;
  }
  return rc;
}

/* ---- the two-dimensional guest walk (SPEC 10.4) -------------------------- */

/* One guest-physical address of a guest walk through the second
 * dimension: a guest table entry's (`table`) or the final address. A VM
 * exit says the guest linear address was valid (EPT qualification bit 7,
 * bit 8 for the final address; NPT: EXITINFO1 bit 33 or 32). */
static int mmu__nested_step(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                            int table, mmu__nested_res *res, mmu_result *out) {
  int rc = mmu__nested_walk(cpu, gpa, access, table, res, out);
  if (rc == MMU_EPT_VIOLATION)
    out->exit_qual |= MMU_EPTQ_LINEAR_VALID | (table ? 0 : MMU_EPTQ_FINAL);
  return rc;
}

/* A guest walk that ends in a nested exit at a guest table's gpa: with
 * MMU_CFG_AD_ON_FAULT_UPPER the guest entries above get A, as a guest
 * fault at this level would give them (QEMU). */
static MMU_NOINLINE int mmu__walk_2d_exit(mmu_cpu *cpu,
                                          const mmu__walk_state *w, int level,
                                          int rc) {
  if (rc >= MMU_EPT_VIOLATION && rc <= MMU_NPF &&
      (cpu->flags & MMU_CFG_AD_ON_FAULT_UPPER))
    mmu__accessed_above(cpu, w, level);
  return rc;
}

/* One level of a long-mode guest's walk, unrolled (L is a constant) as
 * walk.c's: the entry's gpa through the second dimension, then the entry
 * read at the host-physical address that gives. */
#define MMU__WALK_2D_LEVEL(L)                                                \
  level = (L);                                                               \
  gpa = table + ((vaddr >> (12 + 9 * ((L)-1))) & 511) * 8;                   \
  rc = mmu__nested_step(cpu, gpa, tkind, 1, &n, out);                        \
  if (MMU_UNLIKELY(rc != MMU_OK))                                            \
    return mmu__walk_2d_exit(cpu, w, (L), rc);                               \
  if (mmu__pt_read(cpu, n.hpa, &pte) != 0)                                   \
    goto bus_error;                                                          \
  w->entry_at[(L)-1] = n.hpa;                                                \
  w->entry[(L)-1] = pte;                                                     \
  if (MMU_UNLIKELY(!(pte & MMU_PTE_P)))                                      \
    goto not_present;                                                        \
  if (MMU_UNLIKELY(pte & cpu->rsvd[L][0]))                                   \
    goto reserved;                                                           \
  all_and &= pte;                                                            \
  all_or |= pte;                                                             \
  if (((L) == 2 || (L) == 3) && (pte & MMU_PTE_PS)) {                        \
    if (MMU_UNLIKELY(pte & cpu->rsvd[L][1]))                                 \
      goto reserved;                                                         \
    goto leaf;                                                               \
  }                                                                          \
  table = pte & cpu->addr_mask;

/* A 4- or 5-level guest's walk through the second dimension, to the
 * guest's decision and A/D (mmu__walk_leaf): MMU_OK with w filled, or the
 * exit, fault or error. `tkind`: the access a table read is to the host. */
static int mmu__walk_2d_long(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                             unsigned tkind, mmu__walk_state *w,
                             mmu_result *out) {
  mmu__nested_res n;
  uint64_t table, gpa, pte, all_and, all_or;
  int level, rc;
  w->top = cpu->paging;
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    table = w->root = cpu->regs.cr3 & cpu->addr_mask;
    all_and = ~0ull;
    all_or = 0;
    if (w->top == 5) {
      MMU__WALK_2D_LEVEL(5)
    }
    MMU__WALK_2D_LEVEL(4)
    MMU__WALK_2D_LEVEL(3)
    MMU__WALK_2D_LEVEL(2)
    MMU__WALK_2D_LEVEL(1)
  leaf:
    rc = mmu__walk_leaf(cpu, w, access, level, pte, all_and, all_or, out);
    if (rc != MMU__WALK_RETRY)
      return rc;
  }
  return MMU_ERR_CONTENDED;

bus_error:
  return mmu__walk_stop(cpu, w, access, level, MMU_ERR_PT_BUS, n.hpa, out);
not_present:
  return mmu__walk_stop(cpu, w, access, level, 0, gpa, out);
reserved:
  return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
}
#undef MMU__WALK_2D_LEVEL

/* The PDPTE that translates vaddr in a PAE guest: under EPT its register
 * (loaded at VM entry or by MOV to CR through EPT: mmu__nested_pdptes);
 * under NPT read at each walk from the PDPT through the nested tables as
 * a guest table entry, with its reserved bits a #PF there (APM 2 15.25;
 * Bochs reads it so too). 0 with *pdpte, else the walk's outcome. */
static MMU_NOINLINE int mmu__walk_2d_pdpte(mmu_cpu *cpu, uint64_t vaddr,
                                           unsigned access, unsigned tkind,
                                           mmu__walk_state *w, uint64_t *pdpte,
                                           mmu_result *out) {
  uint64_t gpa = (cpu->regs.cr3 & MMU__BITS(31, 5)) + ((vaddr >> 30) & 3) * 8;
  mmu__nested_res n;
  if (cpu->nested.kind == MMU_NESTED_EPT) {
    *pdpte = cpu->regs.pdpte[(vaddr >> 30) & 3];
    return 0;
  }
  int rc = mmu__nested_step(cpu, gpa, tkind, 1, &n, out);
  if (rc != MMU_OK)
    return rc; /* nothing above it to set A in */
  if (mmu__pt_read(cpu, n.hpa, pdpte) != 0)
    return mmu__walk_stop(cpu, w, access, 3, MMU_ERR_PT_BUS, n.hpa, out);
  if ((*pdpte & MMU_PTE_P) && (*pdpte & mmu__pdpte_reserved(cpu)))
    return mmu__walk_stop(cpu, w, access, 3, MMU_PFEC_RSVD, gpa, out);
  return 0;
}

/* A 32-bit or PAE guest's walk through the second dimension: PAE's PDPTE
 * (mmu__walk_2d_pdpte), then a PDE and a PTE or a large page, 4-byte
 * entries for 32-bit paging (as mmu__walk_2d_long otherwise). */
static int mmu__walk_2d_legacy(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                               unsigned tkind, mmu__walk_state *w,
                               mmu_result *out) {
  mmu__nested_res n;
  uint64_t pte = 0;
  int level, rc;
  w->top = 2;
  for (int attempt = 0; attempt < MMU__MAX_WALK_RETRIES; attempt++) {
    uint64_t all_and = ~0ull, all_or = 0, gpa = 0, table;
    if (w->narrow) {
      table = w->root = cpu->regs.cr3 & MMU__BITS(31, 12);
    } else {
      rc = mmu__walk_2d_pdpte(cpu, vaddr, access, tkind, w, &pte, out);
      if (rc != 0)
        return rc;
      w->entry[2] = pte;
      if (!(pte & MMU_PTE_P))
        return mmu__walk_stop(cpu, w, access, 3, 0, 0, out);
      table = w->root = pte & cpu->addr_mask;
    }
    for (level = 2;; level = 1) {
      gpa = w->narrow
                ? table + ((vaddr >> (12 + 10 * (level - 1))) & 1023) * 4
                : table + ((vaddr >> (12 + 9 * (level - 1))) & 511) * 8;
      rc = mmu__nested_step(cpu, gpa, tkind, 1, &n, out);
      if (rc != MMU_OK)
        return mmu__walk_2d_exit(cpu, w, level, rc);
      if ((w->narrow ? mmu__pt_read32(cpu, n.hpa, &pte)
                     : mmu__pt_read(cpu, n.hpa, &pte)) != 0)
        return mmu__walk_stop(cpu, w, access, level, MMU_ERR_PT_BUS, n.hpa,
                              out);
      w->entry_at[level - 1] = n.hpa;
      w->entry[level - 1] = pte;
      if (!(pte & MMU_PTE_P))
        return mmu__walk_stop(cpu, w, access, level, 0, gpa, out);
      if (!w->narrow && (pte & cpu->rsvd[level][0]))
        return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa, out);
      all_and &= pte;
      all_or |= pte;
      if (level == 1)
        break;
      if ((pte & MMU_PTE_PS) &&
          (!w->narrow || (cpu->regs.cr4 & MMU_CR4_PSE))) {
        if (pte & cpu->rsvd[2][1])
          return mmu__walk_stop(cpu, w, access, level, MMU_PFEC_RSVD, gpa,
                                out);
        break;
      }
      table = pte & (w->narrow ? MMU__BITS(31, 12) : cpu->addr_mask);
    }
    rc = mmu__walk_leaf(cpu, w, access, level, pte, all_and, all_or, out);
    if (rc != MMU__WALK_RETRY)
      return rc;
  }
  return MMU_ERR_CONTENDED;
}

/* The guest's walk with every table access and the final address taken
 * through the second dimension. Guest table accesses are writes to it when
 * EPT A/D is on (SDM 3C: "treated as writes"; Bochs agrees) and always for
 * NPT (as KVM's nested MMU has it); reads otherwise. The guest's decision
 * and its A/D updates are the one-dimensional walker's (entries at their
 * host-physical addresses); then the final address is translated, and the
 * TLB keeps the combination: the smaller page, W and X only where both
 * dimensions allow them, nothing where the host allows no read. */
static MMU_NOINLINE int mmu__walk_2d(mmu_cpu *cpu, uint64_t vaddr,
                                     unsigned access, mmu__walk_state *w,
                                     mmu_result *out) {
  const unsigned tkind =
      (cpu->nested.kind == MMU_NESTED_NPT || (cpu->nested.root & MMU_EPTP_AD))
          ? MMU_WRITE
          : MMU_READ;
  mmu__nested_res n;
  int rc;
  w->vaddr = vaddr;
  w->narrow = cpu->paging == MMU__PAGING_32;
  if (cpu->paging == MMU__PAGING_OFF) {
    mmu__walk_paging_off(w, vaddr);
  } else {
    cpu->stats.walks++;
    rc = cpu->paging >= MMU__PAGING_4
             ? mmu__walk_2d_long(cpu, vaddr, access, tkind, w, out)
             : mmu__walk_2d_legacy(cpu, vaddr, access, tkind, w, out);
    if (rc != MMU_OK)
      return rc;
  }
  /* the final address: the access's own kind, and its mode for MBEC */
  if (MMU_UNLIKELY(cpu->nested_format == 2) &&
      cpu->paging != MMU__PAGING_OFF && (w->rights & MMU_RIGHT_U))
    access |= MMU__NESTED_USER_ADDR;
  rc = mmu__nested_step(cpu, w->paddr, access, 0, &n, out);
  if (rc != MMU_OK)
    return rc;
  if (n.shift < w->page_shift)
    w->page_shift = n.shift;
  w->paddr = n.hpa;
  if (!(n.rwxd & MMU_EPT_R)) { /* not kept: the host allows no read */
    out->paddr = n.hpa;
    out->page_size = 1ull << w->page_shift;
    uint8_t *page = mmu__host_page(cpu, n.hpa & ~MMU__PAGE_MASK);
    out->host = page ? page + (n.hpa & MMU__PAGE_MASK) : NULL;
    return MMU__WALK_UNCACHED;
  }
  /* what the host forbids must never hit, whatever the guest's CR0.WP,
   * EFER.NXE or paging allow: then the walk gives the exit */
  if (!(n.rwxd & MMU_EPT_W) || !(n.rwxd & 8))
    w->rights &= (uint8_t)~MMU_RIGHT_D;
  if (!(n.rwxd & MMU_EPT_X))
    w->rights |= MMU_RIGHT_HOST_NOX;
  return MMU_OK;
}

/* ---- VMX's and SVM's invalidations (SPEC 10.5) --------------------------- */

/* The TLB holds the translations of the current context only (one EPTP
 * and VPID, or one ASID: mmu_set_nested flushes on every change), so an
 * invalidation of another context has nothing to drop, and one of this
 * context drops what the SDM or APM names, or more (always allowed). */

MMU_API int mmu_invept(mmu_cpu *cpu, unsigned type, uint64_t eptp) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* SDM 3C 30.3 INVEPT: types 1 (single-context) and 2 (all-context); a
   * single context's EPTP must pass VM entry's checks, else VMfail */
  if (type != 1 && type != 2)
    return MMU_ERR_ARG;
  const int ept = cpu->nested.kind == MMU_NESTED_EPT;
  if (type == 1 && !mmu__eptp_ok(cpu, eptp, ept ? cpu->nested.flags : 0))
    return MMU_ERR_ARG;
  if (ept && (type == 2 || ((eptp ^ cpu->nested.root) & cpu->addr_mask) == 0))
    mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

MMU_API int mmu_invvpid(mmu_cpu *cpu, unsigned type, uint16_t vpid,
                        uint64_t vaddr) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* SDM 3C 30.3 INVVPID: 0 individual address, 1 single context, 2 all
   * contexts, 3 single context but global translations; VPID 0 (the
   * host's) and a non-canonical address are VMfail */
  if (type > 3 || (type != 2 && vpid == 0) ||
      (type == 0 && !mmu__is_canonical(cpu, vaddr)))
    return MMU_ERR_ARG;
  if (cpu->nested.kind != MMU_NESTED_EPT || (type != 2 && vpid != cpu->nested.tag))
    return MMU_OK;
  if (type == 3)
    mmu__tlb_flush_nonglobal(cpu);
  else /* an address: its combined pieces may be anywhere (SPEC 10.4) */
    mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

MMU_API int mmu_invlpga(mmu_cpu *cpu, uint64_t vaddr, uint32_t asid) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* APM 3 INVLPGA: the translation of vaddr in ASID asid (0: the host's,
   * which is this cpu with nested paging off) */
  uint32_t current = cpu->nested.kind == MMU_NESTED_NPT ? cpu->nested.tag
                     : cpu->nested.kind == MMU_NESTED_OFF ? 0u
                                                          : ~0u;
  if (asid == current)
    return mmu_invlpg(cpu, vaddr);
  return MMU_OK;
}
