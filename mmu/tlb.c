/* SPDX-License-Identifier: MIT */
/* tlb.c - the two-level TLB (SPEC.md 5.8): fill, lookup, invalidation.
 *
 * The backing TLB is hashed set-associative with PCID tags and true LRU in
 * each set. A non-global entry lives in set(page, PCID); a global entry in
 * set(page, 0) with PCID field 0, so one probe finds it when PCIDs are off,
 * and a miss probes set(page, 0) as a second chance when they are on. Large
 * pages are cached as 4 KiB pieces; tlb_large counts them so INVLPG only
 * scans the whole TLB when one exists.
 *
 * The front TLB is a direct-mapped table per privilege view holding
 * decisions for the current PCID and registers: what the inline hit reads.
 * It is filled from the backing TLB and the walk, and is not inclusive: a
 * page evicted from the backing TLB may stay in the front, and a page the
 * front evicts goes back to the backing TLB (its victim store, as QEMU's
 * victim TLB is, only far larger), so the two add up. A page keeps one
 * translation: a walk clears the page from every view that may hold an
 * older one. Invalidation clears the front itself: the slot of the page,
 * or the whole front when it may hold a piece of a large page. A whole
 * clear touches only the slots filled since the last one, from a log,
 * unless the log overflowed. */
#include "internal.h"

/* ---- front --------------------------------------------------------------- */

static void mmu__front_clear_entry(mmu_front_entry *f) {
  f->cmp[0] = f->cmp[1] = f->cmp[2] = f->cmp[3] = MMU_FRONT_NONE;
  f->page = MMU_FRONT_NONE;
}

static void mmu__front_clear_all(mmu_cpu *cpu) {
  if (cpu->front_log_n > cpu->front_log_cap) {
    /* all ones: every comparator and page MMU_FRONT_NONE, as a clear of
     * each entry makes them (views are adjacent) */
    memset(cpu->front_view[0], 0xFF,
           3 * (size_t)cpu->front_entries * sizeof(mmu_front_entry));
  } else {
    for (uint32_t i = 0; i < cpu->front_log_n; i++)
      mmu__front_clear_entry(&cpu->front_view[0][cpu->front_log[i]]);
  }
  cpu->front_log_n = 0;
  cpu->front_large = 0;
  cpu->front_used = 0;
}

/* The 4 KiB page at vaddr (low bits ignored) in every view. */
static void mmu__front_clear_page(mmu_cpu *cpu, uint64_t vaddr) {
  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  uint32_t slot = (uint32_t)(vaddr >> 12) & (cpu->front_entries - 1);
  for (unsigned v = 0; v < 3; v++)
    if ((cpu->front_view[v][slot].page & ~MMU__PAGE_MASK) == page)
      mmu__front_clear_entry(&cpu->front_view[v][slot]);
}

/* The view an access reads: implicit accesses are supervisor ones with
 * EFLAGS.AC ignored (SDM 4.6), which is the supervisor view. */
static inline unsigned mmu__view_of(const mmu_cpu *cpu, unsigned access) {
  return (access & MMU_IMPLICIT) ? 0 : cpu->view;
}

/* Access kinds (bit access & 3) view v may make through e with no walk. */
static inline unsigned mmu__kinds(const mmu_cpu *cpu, unsigned v,
                                  const mmu_tlb_entry *e) {
  return (unsigned)cpu->view_allow[v][e->rights] &
         ~(unsigned)cpu->view_pk_deny[v][e->pkey];
}

/* Comparator bits by kinds: 0 where the kind may go ahead, all ones where
 * not, so a comparator is page | mmu__cmp_none[kinds][k]. */
#define MMU__N(kinds, k) (((kinds) >> (k)) & 1 ? 0 : MMU_FRONT_NONE)
#define MMU__ROW(x) {MMU__N(x, 0), MMU__N(x, 1), MMU__N(x, 2), MMU__N(x, 3)}
static const uint64_t mmu__cmp_none[16][4] = {
    MMU__ROW(0),  MMU__ROW(1),  MMU__ROW(2),  MMU__ROW(3),
    MMU__ROW(4),  MMU__ROW(5),  MMU__ROW(6),  MMU__ROW(7),
    MMU__ROW(8),  MMU__ROW(9),  MMU__ROW(10), MMU__ROW(11),
    MMU__ROW(12), MMU__ROW(13), MMU__ROW(14), MMU__ROW(15)};
#undef MMU__ROW
#undef MMU__N

/* ---- backing: LRU order ------------------------------------------------- */
/* Each set's ways in recency order, one nibble each, most recent in the
 * lowest nibble; empty ways are kept at the old end, so the oldest way is
 * always the one to fill. */

/* Position of way in order (SWAR: the lowest nibble equal to way). */
static inline unsigned mmu__lru_pos(uint64_t order, unsigned way) {
  uint64_t x = order ^ (way * 0x1111111111111111ull);
  uint64_t zero = (x - 0x1111111111111111ull) & ~x & 0x8888888888888888ull;
  return (unsigned)__builtin_ctzll(zero) >> 2;
}

static inline uint64_t mmu__nibbles_below(unsigned p) {
  return p ? (~0ull >> (64 - 4 * p)) : 0;
}

/* way moves to the recent end */
static inline void mmu__lru_touch(mmu_cpu *cpu, uint32_t set, unsigned way) {
  uint64_t order = cpu->tlb_lru[set];
  if ((order & 15) == way)
    return;
  unsigned p = mmu__lru_pos(order, way);
  uint64_t below = order & mmu__nibbles_below(p);
  uint64_t above = p < 15 ? order & ~mmu__nibbles_below(p + 1) : 0;
  cpu->tlb_lru[set] = above | (below << 4) | way;
}

/* way moves to the old end (it was emptied) */
static void mmu__lru_demote(mmu_cpu *cpu, uint32_t set, unsigned way) {
  unsigned ways = cpu->tlb_ways;
  uint64_t order = cpu->tlb_lru[set];
  unsigned p = mmu__lru_pos(order, way);
  uint64_t below = order & mmu__nibbles_below(p);
  uint64_t above = p < 15 ? (order >> 4) & ~mmu__nibbles_below(p) : 0;
  above &= mmu__nibbles_below(ways - 1);
  cpu->tlb_lru[set] = below | above | (uint64_t)way << (4 * (ways - 1));
}

static inline unsigned mmu__lru_oldest(const mmu_cpu *cpu, uint32_t set) {
  return (unsigned)(cpu->tlb_lru[set] >> (4 * (cpu->tlb_ways - 1))) & 15;
}

/* The oldest way was filled: it becomes the most recent. */
static inline void mmu__lru_rotate(mmu_cpu *cpu, uint32_t set, unsigned way) {
  cpu->tlb_lru[set] = ((cpu->tlb_lru[set] << 4) | way) & cpu->tlb_lru_mask;
}

static void mmu__lru_reset(mmu_cpu *cpu) {
  uint64_t order = 0;
  for (unsigned w = 0; w < cpu->tlb_ways; w++)
    order |= (uint64_t)w << (4 * w);
  for (uint32_t s = 0; s <= cpu->tlb_set_mask; s++)
    cpu->tlb_lru[s] = order;
}

/* ---- backing: entries ---------------------------------------------------- */

static inline uint32_t mmu__tlb_set(const mmu_cpu *cpu, uint64_t vaddr,
                                    uint32_t pcid) {
  return mmu_tlb_set_index(cpu, vaddr >> 12, MMU_PCID_SALT(pcid));
}

static inline uint16_t mmu__entry_pcid(const mmu_tlb_entry *e) {
  return (uint16_t)(e->tag & MMU__PAGE_MASK);
}

static void mmu__tlb_drop(mmu_cpu *cpu, mmu_tlb_entry *e) {
  if (e->tag == MMU_TLB_EMPTY)
    return;
  if (e->page_shift > 12) {
    MMU_ASSERT(cpu->tlb_large > 0);
    cpu->tlb_large--;
  }
  e->tag = MMU_TLB_EMPTY;
  size_t i = (size_t)(e - cpu->tlb);
  mmu__lru_demote(cpu, (uint32_t)(i >> cpu->tlb_ways_log2),
                  (unsigned)i & (cpu->tlb_ways - 1));
}

/* e was used: it moves to the recent end of its set */
static inline void mmu__tlb_touch(mmu_cpu *cpu, const mmu_tlb_entry *e) {
  size_t i = (size_t)(e - cpu->tlb);
  mmu__lru_touch(cpu, (uint32_t)(i >> cpu->tlb_ways_log2),
                 (unsigned)i & (cpu->tlb_ways - 1));
}

static void mmu__tlb_flush_all(mmu_cpu *cpu) {
  size_t n = (size_t)(cpu->tlb_set_mask + 1) * cpu->tlb_ways;
  for (size_t i = 0; i < n; i++)
    cpu->tlb[i].tag = MMU_TLB_EMPTY;
  cpu->tlb_large = 0;
  mmu__lru_reset(cpu);
  mmu__front_clear_all(cpu);
  cpu->stats.flushes_full++;
}

/* Drop entries whose predicate holds, scanning every entry; the front is
 * cleared as a whole. A backing entry dropped leaves the front alone:
 * callers clear it. */
#define MMU__TLB_SCAN(cpu, e, pred)                                          \
  do {                                                                       \
    size_t n_ = (size_t)((cpu)->tlb_set_mask + 1) * (cpu)->tlb_ways;         \
    for (size_t i_ = 0; i_ < n_; i_++) {                                     \
      mmu_tlb_entry *e = &(cpu)->tlb[i_];                                    \
      if (e->tag != MMU_TLB_EMPTY && (pred))                                 \
        mmu__tlb_drop((cpu), e);                                             \
    }                                                                        \
    mmu__front_clear_all(cpu);                                               \
  } while (0)

/* Non-global entries of one PCID; with globals_too, global entries too. */
static void mmu__tlb_flush_pcid(mmu_cpu *cpu, uint16_t pcid, int globals_too) {
  MMU__TLB_SCAN(cpu, e,
                e->global ? globals_too : mmu__entry_pcid(e) == pcid);
  cpu->stats.flushes_pcid++;
}

static void mmu__tlb_flush_nonglobal(mmu_cpu *cpu) {
  MMU__TLB_SCAN(cpu, e, !e->global);
  cpu->stats.flushes_pcid++;
}

/* Entries for the page containing vaddr: non-global ones of pcid, and
 * global ones when globals_too. A large page matches by its own size. */
static void mmu__tlb_flush_page(mmu_cpu *cpu, uint64_t vaddr, uint16_t pcid,
                                int globals_too) {
#define MMU__PAGE_HIT(e)                                                     \
  ((((e)->tag ^ vaddr) >> (e)->page_shift) == 0 &&                           \
   ((e)->global ? globals_too : mmu__entry_pcid(e) == pcid))
  if (cpu->tlb_large || cpu->front_large) {
    MMU__TLB_SCAN(cpu, e, MMU__PAGE_HIT(e));
    return;
  }
  if (pcid == cpu->pcid) /* the front holds only the current PCID's */
    mmu__front_clear_page(cpu, vaddr);
  uint32_t sets[2] = {mmu__tlb_set(cpu, vaddr, pcid),
                      mmu__tlb_set(cpu, vaddr, 0)};
  for (int s = 0; s < (sets[0] == sets[1] ? 1 : 2); s++)
    for (uint32_t w = 0; w < cpu->tlb_ways; w++) {
      mmu_tlb_entry *e = &cpu->tlb[(size_t)sets[s] * cpu->tlb_ways + w];
      if (e->tag != MMU_TLB_EMPTY && MMU__PAGE_HIT(e))
        mmu__tlb_drop(cpu, e);
    }
#undef MMU__PAGE_HIT
}

/* With PCIDs on, a global entry for vaddr in set(page, 0), or NULL. */
static mmu_tlb_entry *mmu__tlb_find_global(mmu_cpu *cpu, uint64_t vaddr) {
  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  mmu_tlb_entry *e =
      cpu->tlb + ((size_t)mmu__tlb_set(cpu, vaddr, 0) << cpu->tlb_ways_log2);
  for (unsigned w = 0; w < cpu->tlb_ways; w++)
    if (e[w].tag == page && e[w].global)
      return &e[w];
  return NULL;
}

/* After a fault at vaddr: the page's entries a lookup under the current
 * PCID could use, its own and the global one (SPEC 3.2), and the front's
 * copies. Tags are 4 KiB pieces, so the sets of (page, PCID) and (page, 0)
 * hold all of them. */
static MMU_NOINLINE void mmu__tlb_drop_faulting(mmu_cpu *cpu, uint64_t vaddr) {
  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  mmu_tlb_entry *e = cpu->tlb + ((size_t)mmu__tlb_set(cpu, vaddr, cpu->pcid)
                                 << cpu->tlb_ways_log2);
  for (unsigned w = 0; w < cpu->tlb_ways; w++)
    if (e[w].tag == (page | cpu->pcid))
      mmu__tlb_drop(cpu, &e[w]);
  if (cpu->pcid) {
    mmu_tlb_entry *g;
    while ((g = mmu__tlb_find_global(cpu, vaddr)) != NULL)
      mmu__tlb_drop(cpu, g);
  }
  mmu__front_clear_page(cpu, vaddr);
}

/* The way of set holding tag, else the oldest. */
static MMU_NOINLINE unsigned mmu__tlb_way_of(const mmu_cpu *cpu, uint32_t set,
                                             uint64_t tag) {
  const mmu_tlb_entry *e = cpu->tlb + ((size_t)set << cpu->tlb_ways_log2);
  for (unsigned w = 0; w < cpu->tlb_ways; w++)
    if (e[w].tag == tag)
      return w;
  return mmu__lru_oldest(cpu, set);
}

/* Fill the oldest way of set from a walk (the set of a global entry when
 * PCIDs are on is set(page, 0), not the probed one, and may hold the page's
 * PCID 0 entry under the same tag: that way is replaced, as one tag has one
 * entry). */
static mmu_tlb_entry *mmu__tlb_fill(mmu_cpu *cpu, uint64_t vaddr, uint32_t set,
                                    const mmu__walk_state *w, int global) {
  uint16_t pcid = global ? 0 : cpu->pcid;
  unsigned way, oldest = 1;
  if (MMU_UNLIKELY(global && pcid != cpu->pcid)) {
    set = mmu__tlb_set(cpu, vaddr, 0);
    way = mmu__tlb_way_of(cpu, set, vaddr & ~MMU__PAGE_MASK);
    oldest = way == mmu__lru_oldest(cpu, set);
  } else {
    way = mmu__lru_oldest(cpu, set);
  }
  mmu_tlb_entry *e = &cpu->tlb[((size_t)set << cpu->tlb_ways_log2) + way];
  if (e->tag != MMU_TLB_EMPTY)
    cpu->tlb_large -= e->page_shift > 12;
  MMU_ASSERT(w->page_shift == 12 || w->page_shift == 21 ||
             w->page_shift == 22 || w->page_shift == 30);
  e->tag = (vaddr & ~MMU__PAGE_MASK) | pcid;
  e->paddr = (w->paddr & ~MMU__PAGE_MASK);
  e->host = mmu__host_page(cpu, e->paddr);
  e->rights = w->rights;
  e->pkey = (w->rights & MMU_RIGHT_U)
                ? (uint8_t)((w->entry[w->leaf_level - 1] >> MMU_PTE_PKEY_SHIFT) & 15)
                : (uint8_t)MMU_PKEY_NONE;
  e->page_shift = (uint8_t)w->page_shift;
  e->global = (uint8_t)(global != 0);
  cpu->tlb_large += e->page_shift > 12;
  if (MMU_LIKELY(oldest))
    mmu__lru_rotate(cpu, set, way);
  else /* the way that held the tag: moved, not rotated in */
    mmu__lru_touch(cpu, set, way);
  return e;
}

/* What a front entry keeps below its page address, to be written back
 * to the backing TLB when it is evicted: rights, key and global (the size
 * is page_size). */
#define MMU__META_PKEY_SHIFT 5
#define MMU__META_GLOBAL (1u << 10)

static inline uint64_t mmu__front_meta(const mmu_tlb_entry *e) {
  return (uint64_t)e->rights | (uint64_t)e->pkey << MMU__META_PKEY_SHIFT |
         (uint64_t)e->global << 10;
}

/* cmp[3] serves no access kind (access & 3 is 0, 1 or 2): it keeps where
 * the backing TLB held the page when the slot was filled, as index << 1 | 1,
 * which no page address equals (bit 0 set). */
static inline uint64_t mmu__front_backing_hint(const mmu_cpu *cpu,
                                               const mmu_tlb_entry *e) {
  return (uint64_t)(e - cpu->tlb) << 1 | 1;
}

/* A page leaving the front goes back to the backing TLB unless it is still
 * where the slot's hint says: the backing TLB is the front's victim store
 * (as QEMU's victim TLB is), so the two hold up to front + sets x ways
 * pages. (A page the backing TLB moved to another way gets a second entry
 * there, which costs room, never a wrong translation.) */
static inline void mmu__front_write_back(mmu_cpu *cpu,
                                         const mmu_front_entry *f) {
  uint64_t page = f->page & ~MMU__PAGE_MASK;
  unsigned meta = (unsigned)f->page & MMU__PAGE_MASK;
  uint16_t pcid = (meta & MMU__META_GLOBAL) ? 0 : cpu->pcid;
  uint64_t at = f->cmp[3] >> 1;
  if (at <= ((uint64_t)cpu->tlb_set_mask << cpu->tlb_ways_log2 |
             (cpu->tlb_ways - 1)) &&
      cpu->tlb[at].tag == (page | pcid))
    return;
  uint32_t set = mmu__tlb_set(cpu, page, pcid);
  mmu_tlb_entry *e = cpu->tlb + ((size_t)set << cpu->tlb_ways_log2);
  unsigned way = mmu__lru_oldest(cpu, set);
  e += way;
  if (e->tag != MMU_TLB_EMPTY)
    cpu->tlb_large -= e->page_shift > 12;
  e->tag = page | pcid;
  e->paddr = page + f->phys_add;
  e->host = (uint8_t *)(uintptr_t)(page + f->host_add);
  e->rights = (uint8_t)(meta & 31);
  e->pkey = (uint8_t)((meta >> MMU__META_PKEY_SHIFT) & 31);
  e->page_shift = (uint8_t)__builtin_ctzll(f->page_size);
  e->global = (meta & MMU__META_GLOBAL) != 0;
  cpu->tlb_large += e->page_shift > 12;
  mmu__lru_rotate(cpu, set, way);
}

/* Decode e into view v's slot for vaddr. Pages outside RAM stay out: the
 * inline hit returns a host address. The page the slot held goes back to
 * the backing TLB, which may overwrite e: callers read e before. */
static MMU_ALWAYS_INLINE void mmu__front_fill(mmu_cpu *cpu, uint64_t vaddr,
                                              unsigned v, unsigned kinds,
                                              const mmu_tlb_entry *e) {
  uint32_t slot = (uint32_t)(vaddr >> 12) & (cpu->front_entries - 1);
  mmu_front_entry *f = &cpu->front_view[v][slot];
  uint64_t page = vaddr & ~MMU__PAGE_MASK;
  if (MMU_UNLIKELY(!e->host)) {
    /* not RAM: no front entry, and none of an older translation either */
    if ((f->page & ~MMU__PAGE_MASK) == page)
      mmu__front_clear_entry(f);
    return;
  }
  uint64_t host_add = (uint64_t)(uintptr_t)e->host - page;
  uint64_t phys_add = e->paddr - page;
  unsigned shift = e->page_shift;
  uint64_t meta = mmu__front_meta(e), tag = e->tag;
  if (f->page != MMU_FRONT_NONE && (f->page & ~MMU__PAGE_MASK) != page)
    mmu__front_write_back(cpu, f); /* may take e's way */
  const uint64_t *none = mmu__cmp_none[kinds];
  f->cmp[0] = page | none[0];
  f->cmp[1] = page | none[1];
  f->cmp[2] = page | none[2];
  f->cmp[3] = e->tag == tag ? mmu__front_backing_hint(cpu, e) : MMU_FRONT_NONE;
  f->host_add = host_add;
  f->phys_add = phys_add;
  f->page_size = 1ull << shift;
  f->page = page | meta;
  cpu->front_large |= shift > 12;
  cpu->front_used |= (uint8_t)(1u << v);
  uint32_t n = cpu->front_log_n++;
  if (n < cpu->front_log_cap)
    cpu->front_log[n] = v * cpu->front_entries + slot;
}

/* ---- public ------------------------------------------------------------ */

MMU_API int mmu_flush_tlb(mmu_cpu *cpu) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu__tlb_flush_all(cpu);
  return MMU_OK;
}

/* SDM 4.10.4.1: INVLPG drops the page's entries for the current PCID and its
 * global entries. A non-canonical operand is a no-op. */
MMU_API int mmu_invlpg(mmu_cpu *cpu, uint64_t vaddr) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  cpu->stats.invlpg++;
  vaddr = mmu__linear(cpu, vaddr);
  if (MMU_UNLIKELY(cpu->nested.kind != MMU_NESTED_OFF))
    /* a combined entry may be a piece smaller than the guest's page: drop
     * them all rather than miss one (always allowed, SDM 4.10.4.1) */
    mmu__tlb_flush_all(cpu);
  else if (mmu__is_canonical(cpu, vaddr))
    mmu__tlb_flush_page(cpu, vaddr, cpu->pcid, 1);
  return MMU_OK;
}

/* SDM 4.10.4.1 and the INVPCID instruction page. */
MMU_API int mmu_invpcid(mmu_cpu *cpu, unsigned type, uint64_t pcid,
                        uint64_t vaddr) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (type > 3 || pcid > 0xFFF)
    return MMU_GP_FAULT;
  vaddr = mmu__linear(cpu, vaddr);
  if (type <= 1 && !(cpu->regs.cr4 & MMU_CR4_PCIDE) && pcid != 0)
    return MMU_GP_FAULT;
  if (type == 0 && !mmu__is_canonical(cpu, vaddr))
    return MMU_GP_FAULT;
  cpu->stats.invpcid++;
  switch (type) {
  case 0:
    if (MMU_UNLIKELY(cpu->nested.kind != MMU_NESTED_OFF))
      mmu__tlb_flush_pcid(cpu, (uint16_t)pcid, 0); /* as INVLPG, above */
    else
      mmu__tlb_flush_page(cpu, vaddr, (uint16_t)pcid, 0);
    break;
  case 1:
    mmu__tlb_flush_pcid(cpu, (uint16_t)pcid, 0);
    break;
  case 2:
    mmu__tlb_flush_all(cpu);
    break;
  default:
    mmu__tlb_flush_nonglobal(cpu);
    break;
  }
  return MMU_OK;
}

MMU_API uint32_t mmu_tlb_count(const mmu_cpu *cpu) {
  uint32_t count = 0;
  if (MMU__CHECK_CPU(cpu) != MMU_OK)
    return 0;
  size_t n = (size_t)(cpu->tlb_set_mask + 1) * cpu->tlb_ways;
  for (size_t i = 0; i < n; i++)
    count += cpu->tlb[i].tag != MMU_TLB_EMPTY;
  return count;
}
