/* SPDX-License-Identifier: MIT */
/* space.c - address spaces: page tables in pool frames, the mmap family of
 * calls, fork and exit. Page tables are built lazily by faults (fault.c);
 * here they are walked, copied and torn down. */
#include "internal.h"

/* ---- page-table plumbing ------------------------------------------------ */

static inline uint64_t *mmu__table(const mmu_system *sys, uint32_t f) {
  return (uint64_t *)(void *)mmu__frame_host(sys, f);
}

/* Entries change through here: a PT frame's refs count its non-zero
 * entries, so empty tables can be freed. Atomic: a vCPU may be setting A/D
 * in the same entry. */
static void mmu__entry_set(mmu_system *sys, uint32_t table_frame,
                           uint64_t *slot, uint64_t value) {
  uint64_t old = __atomic_exchange_n(slot, value, __ATOMIC_ACQ_REL);
  if (!old && value)
    sys->frame[table_frame].refs++;
  else if (old && !value && sys->frame[table_frame].refs)
    sys->frame[table_frame].refs--;
}

/* An entry as a concurrent walker may be setting its A and D: every read
 * of a live table is atomic. */
static inline uint64_t mmu__pte(const uint64_t *slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/* Replace an entry only if it still holds `old` (no walker set A or D
 * meanwhile). */
static int mmu__entry_cas(mmu_system *sys, uint32_t table_frame,
                          uint64_t *slot, uint64_t old, uint64_t value) {
  if (!__atomic_compare_exchange_n(slot, &old, value, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return 0;
  if (!old && value)
    sys->frame[table_frame].refs++;
  else if (old && !value && sys->frame[table_frame].refs)
    sys->frame[table_frame].refs--;
  return 1;
}

/* A table is freed only when all 512 entries are zero, whatever its count
 * says: an entry written behind the library's back must not leave a live
 * entry in a freed table. */
static int mmu__table_empty(const mmu_system *sys, uint32_t table) {
  const uint64_t *t = mmu__table(sys, table);
  for (unsigned i = 0; i < 512; i++)
    if (mmu__pte(&t[i]))
      return 0;
  return 1;
}

/* The table an intermediate entry points at, if it is one of ours. */
static uint32_t mmu__child_table(const mmu_system *sys, uint64_t e) {
  if ((e & (MMU_PTE_P | MMU_PTE_PS)) != MMU_PTE_P)
    return MMU__NO_FRAME;
  uint32_t f = mmu__entry_frame(sys, e);
  return f != MMU__NO_FRAME && sys->frame[f].kind == MMU__FR_PT ? f
                                                                : MMU__NO_FRAME;
}

static inline unsigned mmu__index(uint64_t va, int level) {
  return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

/* Find the entry of `level` (1 = PTE, 2 = PDE) mapping va, creating the
 * tables above it when alloc is set (frames must have been reserved).
 * *slot is NULL when a table is missing and alloc is clear.
 * MMU_ERR_PT_BUS when an entry above is not a table of this system. */
static int mmu__walk_to(mmu_space *s, uint64_t va, int level, int alloc,
                        uint64_t **slot, uint32_t *table_frame) {
  mmu_system *sys = s->sys;
  uint32_t table = s->root_frame;
  *slot = NULL;
  for (int l = s->levels; l > level; l--) {
    uint64_t *e = &mmu__table(sys, table)[mmu__index(va, l)];
    uint64_t v = __atomic_load_n(e, __ATOMIC_ACQUIRE);
    if (!v) {
      if (!alloc)
        return MMU_OK;
      uint32_t f;
      int rc = mmu__frame_alloc(sys, &f);
      if (rc != MMU_OK)
        return rc;
      mmu__frame_set_kind(sys, f, MMU__FR_PT);
      s->pt_frames++;
      mmu__entry_set(sys, table, e, mmu__frame_gpa(sys, f) | MMU__TABLE_FLAGS);
      table = f;
      continue;
    }
    table = mmu__child_table(sys, v);
    if (table == MMU__NO_FRAME)
      return MMU_ERR_PT_BUS;
  }
  *slot = &mmu__table(sys, table)[mmu__index(va, level)];
  if (table_frame)
    *table_frame = table;
  return MMU_OK;
}

/* Leaf flags for a region's page (SDM 4.5 Table 4-20; U/S set: user). */
static uint64_t mmu__leaf_flags(const mmu_system *sys, const mmu_region *r,
                                int writable) {
  uint64_t e = MMU_PTE_P | MMU_PTE_U;
  if (writable)
    e |= MMU_PTE_W;
  if (r->flags & MMU_MAP_HUGETLB)
    e |= MMU_PTE_PS;
  if (!(r->prot & MMU_PROT_EXEC) && !(sys->flags & MMU_SYS_NO_NX))
    e |= MMU_PTE_XD;
  return e;
}

/* Frame f becomes region r's page at va (the reverse map finds it by its
 * index in r's offsets, 9.7). */
static void mmu__page_new(mmu_system *sys, uint32_t f, const mmu_region *r,
                          uint64_t va, uint8_t flags) {
  struct mmu__frame *fr = &sys->frame[f];
  if (fr->kind != MMU__FR_HUGE)
    mmu__frame_set_kind(sys, f, MMU__FR_PAGE);
  fr->refs = 1;
  fr->index = r->offset + (va - r->start);
  fr->flags = (uint8_t)(flags | (r->kind == MMU_REGION_FILE ? MMU__FRF_FILE : 0));
  if (fr->kind == MMU__FR_PAGE)
    mmu_policy_insert(&sys->policy, f);
}

static void mmu__rss_add(mmu_space *s, int64_t pages) {
  s->ru.rss_pages += (uint64_t)pages;
  if (s->ru.rss_pages > s->ru.maxrss_pages)
    s->ru.maxrss_pages = s->ru.rss_pages;
}

/* Drop one leaf entry's hold on its frame or swap slot. */
static void mmu__leaf_put(mmu_space *s, uint64_t e, int huge) {
  mmu_system *sys = s->sys;
  if (e & (MMU_PTE_P | MMU__PROTNONE_MARK)) {
    uint32_t f = mmu__leaf_frame(sys, e, huge);
    if (f == MMU__NO_FRAME || f == sys->zero_frame)
      return;
    if ((e & MMU_PTE_D) && (sys->frame[f].flags & MMU__FRF_SHARED))
      sys->frame[f].flags |= MMU__FRF_DIRTY; /* zap_pte_range's dirtying */
    mmu__rss_add(s, huge ? -512 : -1);
    if (--sys->frame[f].refs == 0)
      mmu__frame_free(sys, f);
  } else if (e & MMU__SWP_MARK) {
    uint64_t slot = (e >> 12) & ((1ull << 40) - 1);
    if (slot < sys->slots && sys->slot[slot].refs) {
      s->ru.swap_pages--;
      mmu__slot_put(sys, slot);
    }
  }
}

/* Visit the leaves in [start, end) below `table`, which covers [base, base
 * + 512 spans) at `level`; with prune, tables left empty are freed. */
typedef void (*mmu__leaf_fn)(mmu_space *s, uint32_t table, uint64_t *entry,
                             uint64_t va, int level, const void *ctx);

static void mmu__for_leaves(mmu_space *s, uint32_t table, int level,
                            uint64_t base, uint64_t start, uint64_t end,
                            mmu__leaf_fn leaf, const void *ctx, int prune) {
  mmu_system *sys = s->sys;
  uint64_t span = 1ull << (12 + 9 * (level - 1));
  uint64_t *t = mmu__table(sys, table);
  for (unsigned i = mmu__index(start, level); i < 512; i++) {
    uint64_t va = base + i * span;
    if (va >= end)
      break;
    uint64_t e = mmu__pte(&t[i]);
    if (!e)
      continue;
    if (level == 1 || (e & MMU_PTE_PS)) {
      /* a 2 MiB leaf is whole inside the range (hugetlb edges are checked)
       * unless someone else wrote it: then it is dropped whole */
      leaf(s, table, &t[i], va, level, ctx);
      continue;
    }
    uint32_t child = mmu__child_table(sys, e);
    if (child == MMU__NO_FRAME) { /* not ours: never followed */
      if (prune)
        mmu__entry_set(sys, table, &t[i], 0);
      continue;
    }
    uint64_t lo = va > start ? va : start, hi = va + span < end ? va + span : end;
    mmu__for_leaves(s, child, level - 1, va, lo, hi, leaf, ctx, prune);
    if (prune && !sys->frame[child].refs && mmu__table_empty(sys, child)) {
      mmu__entry_set(sys, table, &t[i], 0);
      mmu__frame_free(sys, child);
      s->pt_frames--;
    }
  }
}

static void mmu__zap_leaf(mmu_space *s, uint32_t table, uint64_t *entry,
                          uint64_t va, int level, const void *ctx) {
  (void)va;
  (void)ctx;
  uint64_t old = mmu__pte(entry);
  while (!mmu__entry_cas(s->sys, table, entry, old, 0))
    old = mmu__pte(entry);
  mmu__leaf_put(s, old, level == 2);
}

static void mmu__zap_range(mmu_space *s, uint64_t start, uint64_t end) {
  if (start < end)
    mmu__for_leaves(s, s->root_frame, s->levels, 0, start, end, mmu__zap_leaf, NULL,
                    1);
}

/* ---- lifetime ------------------------------------------------------------ */

MMU_API size_t mmu_space_storage_size(const mmu_space_config *cfg) {
  uint32_t n = cfg && cfg->max_regions ? cfg->max_regions : 64;
  return n > (1u << 20) ? 0 : (size_t)n * sizeof(mmu_region);
}

static int mmu__space_setup(mmu_space *s, mmu_system *sys, uint32_t max_regions,
                            uint32_t levels, void *storage, size_t bytes) {
  if (!storage || ((uintptr_t)storage & 7) ||
      bytes < (size_t)max_regions * sizeof(mmu_region))
    return MMU_ERR_STORAGE;
  int rc = mmu__ensure_free(sys, 1);
  if (rc != MMU_OK)
    return rc;
  uint32_t root;
  rc = mmu__frame_alloc(sys, &root);
  MMU_ASSERT(rc == MMU_OK);
  mmu__frame_set_kind(sys, root, MMU__FR_PT);
  memset(s, 0, sizeof *s);
  s->magic = MMU__SPACE_MAGIC;
  s->version = MMU_VERSION;
  s->sys = sys;
  s->root_frame = root;
  s->root = mmu__frame_gpa(sys, root);
  s->pt_frames = 1;
  s->levels = levels;
  s->user_top = levels == 5 ? MMU__USER_TOP_LA57 : MMU__USER_TOP;
  s->regions = (mmu_region *)storage;
  s->max_regions = max_regions;
  s->next_space = sys->spaces;
  sys->spaces = s;
  return MMU_OK;
}

MMU_API int mmu_space_init_versioned(mmu_space *space, size_t sizeof_space,
                                     uint32_t version, mmu_system *sys,
                                     const mmu_space_config *cfg,
                                     void *storage, size_t bytes) {
  if (!space)
    return MMU_ERR_ARG;
  MMU__TRY(MMU__CHECK_SYS(sys));
  if (sizeof_space != sizeof(mmu_space) ||
      (version >> 8) != (MMU_VERSION >> 8))
    return MMU_ERR_VERSION;
  size_t need = mmu_space_storage_size(cfg);
  uint64_t base = cfg && cfg->mmap_base ? cfg->mmap_base : 0x7f0000000000ull;
  if (!need || (base & 0xFFF) || base > MMU__USER_TOP ||
      base < MMU__MMAP_MIN_ADDR)
    return MMU_ERR_CONFIG;
  if (cfg && (cfg->flags & ~(uint32_t)MMU_SPACE_LA57))
    return MMU_ERR_CONFIG;
  uint32_t levels = cfg && (cfg->flags & MMU_SPACE_LA57) ? 5 : 4;
  int rc = mmu__space_setup(space, sys, (uint32_t)(need / sizeof(mmu_region)),
                            levels, storage, bytes);
  if (rc != MMU_OK)
    return rc;
  space->mmap_base = base;
  space->stack_limit = cfg && cfg->stack_limit ? cfg->stack_limit : 8ull << 20;
  space->stack_guard_gap =
      cfg && cfg->stack_guard_gap ? cfg->stack_guard_gap : 256 * MMU__PAGE;
  space->pid = cfg ? cfg->pid : 0;
  return MMU_OK;
}

static int mmu__space_exec(mmu_space *s) {
  mmu__zap_range(s, 0, s->user_top); /* frees the emptied tables too */
  mmu__shootdown(s, 0, ~0ull);
  mmu__regions_drop(s);
  s->start_brk = s->brk = 0;
  s->start_stack = 0;
  MMU_ASSERT(s->ru.rss_pages == 0 && s->ru.swap_pages == 0);
  return MMU_OK;
}

MMU_API int mmu_space_exec(mmu_space *s) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_exec(s));
}

MMU_API int mmu_space_destroy(mmu_space *s) {
  MMU__TRY(mmu__check_space(s));
  mmu_system *sys = s->sys;
  mmu__zap_range(s, 0, s->user_top);
  mmu__shootdown(s, 0, ~0ull);
  mmu__regions_drop(s);
  mmu__frame_free(sys, s->root_frame);
  for (mmu_space **p = &sys->spaces; *p; p = &(*p)->next_space)
    if (*p == s) {
      *p = s->next_space;
      break;
    }
  s->magic = 0;
  mmu__tlb_finish(sys);
  return MMU_OK;
}

MMU_API int mmu_space_activate(mmu_space *s, mmu_cpu *cpu) {
  MMU__TRY(mmu__check_space(s));
  MMU__TRY(MMU__CHECK_CPU(cpu));
  mmu_system *sys = s->sys;
  if (mmu__paging_mode(&cpu->regs) != (int)s->levels)
    return MMU_ERR_STATE; /* long mode off, or LA57 not as the space's */
  if (!mmu__ram_find(cpu, sys->pool_gpa, (uint64_t)sys->nframes * MMU__PAGE))
    return MMU_ERR_RAM;
  uint32_t i = 0;
  while (i < 8 && sys->cpus[i] && sys->cpus[i] != cpu)
    i++;
  if (i == 8)
    return MMU_ERR_NOSPACE;
  sys->cpus[i] = cpu;
  for (mmu_space *o = sys->spaces; o; o = o->next_space)
    o->cpu_mask &= ~(1u << i);
  s->cpu_mask |= 1u << i;
  mmu_cpu_sync(cpu); /* the caller is cpu's thread */
  return mmu_write_cr3(cpu, s->root);
}

/* ---- fork ---------------------------------------------------------------- */

/* Share one leaf with the child copy-on-write: both sides lose W, the
 * child's copy is old (A clear), as copy_present_pte does. */
static uint64_t mmu__leaf_share(mmu_space *parent, mmu_space *child,
                                uint64_t *pe, uint32_t ptable, int huge) {
  mmu_system *sys = parent->sys;
  uint64_t e = mmu__pte(pe);
  (void)ptable;
  if (e & (MMU_PTE_P | MMU__PROTNONE_MARK)) {
    uint32_t f = mmu__leaf_frame(sys, e, huge);
    if (f == MMU__NO_FRAME)
      return 0;
    if (f != sys->zero_frame) {
      sys->frame[f].refs++;
      sys->frame[f].flags &= (uint8_t)~MMU__FRF_EXCLUSIVE;
      mmu__rss_add(child, huge ? 512 : 1);
      if (e & MMU_PTE_W) /* ptep_set_wrprotect: a D set meanwhile stays */
        e = __atomic_fetch_and(pe, ~MMU_PTE_W, __ATOMIC_ACQ_REL) & ~MMU_PTE_W;
    }
    return e & ~MMU_PTE_A;
  }
  if (e & MMU__SWP_MARK) {
    uint64_t slot = e >> 12;
    if (slot >= sys->slots || !sys->slot[slot].refs)
      return 0;
    sys->slot[slot].refs++;
    child->ru.swap_pages++;
    return e;
  }
  return 0;
}

static void mmu__copy_table(mmu_space *parent, mmu_space *child,
                            uint32_t ptable, uint32_t ctable, int level,
                            uint64_t base, uint64_t start, uint64_t end) {
  mmu_system *sys = parent->sys;
  uint64_t span = 1ull << (12 + 9 * (level - 1));
  uint64_t *pt = mmu__table(sys, ptable), *ct = mmu__table(sys, ctable);
  for (unsigned i = mmu__index(start, level); i < 512; i++) {
    uint64_t va = base + i * span;
    if (va >= end)
      break;
    uint64_t pe = mmu__pte(&pt[i]);
    if (!pe)
      continue;
    if (level == 1 || (pe & MMU_PTE_PS)) {
      uint64_t e = mmu__leaf_share(parent, child, &pt[i], ptable, level == 2);
      if (e) { /* no cpu runs the child yet: a plain store will do */
        ct[i] = e;
        sys->frame[ctable].refs++;
      }
      continue;
    }
    uint32_t pchild = mmu__child_table(sys, pe);
    if (pchild == MMU__NO_FRAME)
      continue;
    uint32_t cchild = mmu__child_table(sys, ct[i]);
    if (cchild == MMU__NO_FRAME) {
      int rc = mmu__frame_alloc(sys, &cchild);
      MMU_ASSERT(rc == MMU_OK); /* reserved by mmu_space_fork */
      (void)rc;
      mmu__frame_set_kind(sys, cchild, MMU__FR_PT);
      child->pt_frames++;
      mmu__entry_set(sys, ctable, &ct[i],
                     mmu__frame_gpa(sys, cchild) | MMU__TABLE_FLAGS);
    }
    uint64_t lo = va > start ? va : start, hi = va + span < end ? va + span : end;
    mmu__copy_table(parent, child, pchild, cchild, level - 1, va, lo, hi);
  }
}

static int mmu__space_fork(mmu_space *parent, mmu_space *child, void *storage,
                           size_t bytes) {
  if (!child || child == parent)
    return MMU_ERR_ARG;
  mmu_system *sys = parent->sys;
  /* the child's tables are at most the parent's, root included */
  int rc = mmu__ensure_free(sys, parent->pt_frames);
  if (rc != MMU_OK)
    return rc;
  rc = mmu__space_setup(child, sys, parent->max_regions, parent->levels,
                        storage, bytes);
  if (rc != MMU_OK)
    return rc;
  child->mmap_base = parent->mmap_base;
  child->stack_limit = parent->stack_limit;
  child->stack_guard_gap = parent->stack_guard_gap;
  child->start_brk = parent->start_brk;
  child->brk = parent->brk;
  child->start_stack = parent->start_stack;
  child->remapped = parent->remapped;
  child->pid = parent->pid;
  child->nregions = parent->nregions;
  memcpy(child->regions, parent->regions,
         parent->nregions * sizeof(mmu_region));
  for (uint32_t i = 0; i < child->nregions; i++)
    if (child->regions[i].object)
      mmu__object_mapped(child->regions[i].object, 1);
  /* anon_vma_fork: each child region with an anon_vma gets one of its
   * own, also where the parent's regions share one, so the child's do not
   * merge where the parent's would; its chain holds the parent's too. */
  for (uint32_t i = 0; i < child->nregions; i++) {
    mmu_region *r = &child->regions[i];
    if (!r->anon_id)
      continue;
    r->anon_id = ++sys->next_anon_id;
    r->vm |= MMU_VM_FORKED_ANON;
  }
  /* Linux copies the page tables of regions with an anon_vma only; the
   * others refill by faults (vma_needs_copy). */
  for (uint32_t i = 0; i < parent->nregions; i++) {
    const mmu_region *r = &parent->regions[i];
    if (r->anon_id)
      mmu__copy_table(parent, child, parent->root_frame, child->root_frame,
                      parent->levels,
                      0, r->start, r->end);
  }
  mmu__shootdown(parent, 0, ~0ull); /* the parent's pages lost W */
  return MMU_OK;
}

MMU_API int mmu_space_fork(mmu_space *parent, mmu_space *child, void *storage,
                           size_t bytes) {
  MMU__TRY(mmu__check_space(parent));
  return mmu__space_done(parent,
                         mmu__space_fork(parent, child, storage, bytes));
}

/* ---- mmap, munmap, mprotect, brk ----------------------------------------- */

static int mmu__range_free(const mmu_space *s, uint64_t start, uint64_t end) {
  uint32_t i = mmu__region_next(s, start);
  return i == s->nregions || mmu__region_gap_below(s, i) >= end;
}

/* Highest free, aligned range of len bytes below mmap_base (top-down, as
 * x86-64 Linux places mappings). */
static uint64_t mmu__find_gap(const mmu_space *s, uint64_t len, uint64_t align) {
  for (uint32_t i = s->nregions + 1; i-- > 0;) {
    uint64_t top = s->mmap_base;
    if (i < s->nregions) {
      uint64_t g = mmu__region_gap_below(s, i);
      top = g < top ? g : top;
    }
    uint64_t lo = i ? s->regions[i - 1].end : MMU__MMAP_MIN_ADDR;
    if (lo < MMU__MMAP_MIN_ADDR)
      lo = MMU__MMAP_MIN_ADDR;
    if (top > lo && top - lo >= len) {
      uint64_t cand = (top - len) & ~(align - 1);
      if (cand >= lo)
        return cand;
    }
  }
  return 0;
}

/* An end of [start, end) inside a hugetlb region must be 2 MiB aligned. */
static int mmu__huge_edges_ok(const mmu_space *s, uint64_t start,
                              uint64_t end) {
  int32_t a = mmu__region_find(s, start), b = mmu__region_find(s, end - 1);
  if (a >= 0 && (s->regions[a].flags & MMU_MAP_HUGETLB) &&
      (start & (MMU__HUGE - 1)))
    return 0;
  if (b >= 0 && (s->regions[b].flags & MMU_MAP_HUGETLB) &&
      (end & (MMU__HUGE - 1)))
    return 0;
  return 1;
}

/* Remove [start, end) from the region table and the page tables. Needs one
 * free region slot when the range is strictly inside one region. */
static int mmu__unmap(mmu_space *s, uint64_t start, uint64_t end) {
  int32_t inner = mmu__region_find(s, start);
  if (inner >= 0 && s->regions[inner].start < start &&
      s->regions[inner].end > end) {
    int rc = mmu__region_split(s, (uint32_t)inner, end);
    if (rc != MMU_OK)
      return rc;
  }
  mmu__zap_range(s, start, end);
  uint32_t i = mmu__region_next(s, start);
  while (i < s->nregions && s->regions[i].start < end) {
    mmu_region *r = &s->regions[i];
    if (r->start < start) {
      r->end = start; /* keeps its lower part */
      i++;
    } else if (r->end > end) {
      r->offset += end - r->start;
      r->start = end; /* keeps its upper part */
      i++;
    } else {
      mmu__region_remove(s, i);
    }
  }
  mmu__shootdown(s, start, (end - start) >> 12);
  return MMU_OK;
}

/* MAP_POPULATE (mm_populate, populate_vma_page_range): get_user_pages
 * faults each page in, for writing where a private mapping is writable (so
 * its page is copied now), for reading otherwise: a shared mapping is not
 * written, so its pages are not dirtied for nothing (and its read faults
 * fault around); not at all under PROT_NONE. Each is a fault of the
 * task's (min_flt). Errors end it quietly: mmap has already succeeded. */
static void mmu__populate(mmu_space *s, uint64_t start, uint64_t end,
                          unsigned prot, int huge, int shared) {
  if (!(prot & (MMU_PROT_READ | MMU_PROT_WRITE | MMU_PROT_EXEC)))
    return;
  uint32_t ec = MMU_PFEC_U |
                ((prot & MMU_PROT_WRITE) && !shared ? MMU_PFEC_W : 0);
  for (uint64_t va = start; va < end; va += huge ? MMU__HUGE : MMU__PAGE)
    if (mmu__space_fault(s, va, ec, NULL) != MMU_OK)
      return;
}

/* mmap of anonymous memory or a private file mapping, or (obj) a shared
 * mapping of an object. */
static int mmu__space_mmap(mmu_space *s, uint64_t addr, uint64_t len,
                           unsigned prot, unsigned flags, const mmu_file *file,
                           mmu_object *obj, uint64_t offset,
                           uint64_t *mapped) {
  if (!len || (prot & ~7u) ||
      (flags & ~(MMU_MAP_FIXED | MMU_MAP_GROWSDOWN | MMU_MAP_HUGETLB |
                 MMU_MAP_POPULATE)) ||
      (offset & 0xFFF) || (file && !file->read_page))
    return MMU_ERR_ARG;
  int huge = (flags & MMU_MAP_HUGETLB) != 0;
  if ((huge || file || obj) && (flags & MMU_MAP_GROWSDOWN))
    return MMU_ERR_ARG;
  if (huge && (file || obj))
    return MMU_ERR_ARG;
  if (obj && obj->sys != s->sys)
    return MMU_ERR_ARG;
  uint64_t align = huge ? MMU__HUGE : MMU__PAGE;
  if (len > s->user_top)
    return MMU_ERR_NOSPACE;
  len = (len + align - 1) & ~(align - 1);
  uint64_t start;
  if (flags & MMU_MAP_FIXED) {
    if ((addr & (align - 1)) || addr < MMU__MMAP_MIN_ADDR ||
        addr > s->user_top - len)
      return MMU_ERR_ARG;
    if (!mmu__huge_edges_ok(s, addr, addr + len))
      return MMU_ERR_ARG;
    /* worst case: one split to unmap, one new region */
    if (s->nregions + 2 > s->max_regions)
      return MMU_ERR_NOSPACE;
    start = addr;
    int rc = mmu__unmap(s, start, start + len);
    if (rc != MMU_OK)
      return rc;
  } else {
    if (s->nregions >= s->max_regions)
      return MMU_ERR_NOSPACE;
    addr &= ~(align - 1);
    if (addr >= MMU__MMAP_MIN_ADDR && addr <= s->user_top - len &&
        mmu__range_free(s, addr, addr + len))
      start = addr;
    else if (!(start = mmu__find_gap(s, len, align)))
      return MMU_ERR_NOSPACE;
  }
  mmu_region r;
  memset(&r, 0, sizeof r);
  r.start = start;
  r.end = start + len;
  /* anonymous: vm_pgoff = addr >> 12 */
  r.offset = file || obj ? offset : start;
  r.file = obj ? obj->file : file;
  r.object = obj;
  r.prot = (uint8_t)prot;
  r.flags = (uint8_t)((flags & (MMU_MAP_GROWSDOWN | MMU_MAP_HUGETLB)) |
                      (obj ? MMU_MAP_SHARED : 0));
  /* accountable_mapping: private and writable, hugetlb excepted */
  r.vm = (prot & MMU_PROT_WRITE) && !huge && !obj ? MMU_VM_ACCOUNT : 0;
  r.kind = obj                          ? MMU_REGION_SHARED
           : file                       ? MMU_REGION_FILE
           : flags & MMU_MAP_GROWSDOWN ? MMU_REGION_STACK
                                        : MMU_REGION_ANON;
  uint32_t at;
  int rc = mmu__region_insert(s, &r, &at);
  MMU_ASSERT(rc == MMU_OK);
  mmu__region_merge_around(s, at, at);
  if (flags & MMU_MAP_POPULATE)
    mmu__populate(s, start, start + len, prot, huge, obj != NULL);
  if (mapped)
    *mapped = start;
  return rc;
}

MMU_API int mmu_space_mmap(mmu_space *s, uint64_t addr, uint64_t len,
                           unsigned prot, unsigned flags, const mmu_file *file,
                           uint64_t offset, uint64_t *mapped) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_mmap(s, addr, len, prot, flags, file,
                                            NULL, offset, mapped));
}

MMU_API int mmu_space_mmap_object(mmu_space *s, uint64_t addr, uint64_t len,
                                  unsigned prot, unsigned flags,
                                  mmu_object *obj, uint64_t offset,
                                  uint64_t *mapped) {
  MMU__TRY(mmu__check_space(s));
  MMU__TRY(MMU__CHECK_OBJ(obj, MMU__OBJ_MAGIC));
  return mmu__space_done(s, mmu__space_mmap(s, addr, len, prot, flags, NULL,
                                            obj, offset, mapped));
}

static int mmu__space_munmap(mmu_space *s, uint64_t addr, uint64_t len) {
  if ((addr & 0xFFF) || !len || addr >= s->user_top ||
      len > s->user_top - addr)
    return MMU_ERR_ARG;
  uint64_t end = (addr + len + 0xFFF) & ~0xFFFull;
  if (!mmu__huge_edges_ok(s, addr, end))
    return MMU_ERR_ARG;
  return mmu__unmap(s, addr, end);
}

MMU_API int mmu_space_munmap(mmu_space *s, uint64_t addr, uint64_t len) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_munmap(s, addr, len));
}

/* The entry a present or PROT_NONE leaf becomes under a region's new
 * protection. W comes back without a fault only for an exclusive page, as
 * Linux's can_change_pte_writable allows, and never for a clean file page:
 * reclaim drops those unwritten, so the first write must fault
 * (mmu__fault_wp clears FILE_CLEAN) or it is lost. */
static uint64_t mmu__leaf_reprotect(const mmu_system *sys, const mmu_region *r,
                                    uint64_t e, int huge) {
  uint32_t f = mmu__leaf_frame(sys, e, huge);
  if (f == MMU__NO_FRAME)
    return 0; /* not a page of ours: never make it reachable */
  uint64_t keep = e & (MMU__PTE_ADDR | MMU_PTE_A | MMU_PTE_D);
  if (!(r->prot & (MMU_PROT_READ | MMU_PROT_WRITE | MMU_PROT_EXEC)))
    return keep | (e & MMU_PTE_PS) | MMU__PROTNONE_MARK;
  int writable = (r->prot & MMU_PROT_WRITE) && f != sys->zero_frame &&
                 ((e & MMU_PTE_W) || r->kind == MMU_REGION_SHARED ||
                  (sys->frame[f].flags &
                   (MMU__FRF_EXCLUSIVE | MMU__FRF_FILE_CLEAN)) ==
                      MMU__FRF_EXCLUSIVE);
  return keep | mmu__leaf_flags(sys, r, writable);
}

static void mmu__reprotect_leaf(mmu_space *s, uint32_t table, uint64_t *entry,
                                uint64_t va, int level, const void *ctx) {
  (void)va;
  uint64_t e;
  do
    e = mmu__pte(entry);
  while ((e & (MMU_PTE_P | MMU__PROTNONE_MARK)) &&
         !mmu__entry_cas(s->sys, table, entry, e,
                         mmu__leaf_reprotect(s->sys, (const mmu_region *)ctx,
                                             e, level == 2)));
}

/* ---- mremap ------------------------------------------------------------- */

/* Tables a move of len bytes may need at its destination: two per source
 * table at most, and never more than the range can hold. */
static uint32_t mmu__move_tables(const mmu_space *s, uint64_t len) {
  uint64_t span = (len >> 21) + (len >> 30) + (len >> 39) + 8;
  uint64_t have = 2ull * s->pt_frames + 8;
  return (uint32_t)(span < have ? span : have);
}

typedef struct mmu__move_ctx {
  uint64_t delta; /* destination - source */
} mmu__move_ctx;

/* move_ptes: the entry goes to its new address as it is (frame or swap
 * slot, A and D), so nothing faults and no count changes. */
static void mmu__move_leaf(mmu_space *s, uint32_t table, uint64_t *entry,
                           uint64_t va, int level, const void *ctx) {
  uint64_t old = mmu__pte(entry);
  while (!mmu__entry_cas(s->sys, table, entry, old, 0))
    old = mmu__pte(entry);
  uint64_t *to;
  uint32_t to_table;
  if (level != 1 || mmu__walk_to(s, va + ((const mmu__move_ctx *)ctx)->delta,
                                 1, 1, &to, &to_table) != MMU_OK) {
    mmu__leaf_put(s, old, level == 2); /* not ours to move: dropped */
    return;
  }
  mmu__entry_set(s->sys, to_table, to, old);
}

/* move_vma for [start, end) inside one region: the pages move to dest,
 * the region follows (copy_vma: an anonymous region never faulted takes
 * its new address as offset, so it may merge there) and grows to len. */
static void mmu__move_piece(mmu_space *s, uint64_t start, uint64_t end,
                            uint64_t dest, uint64_t len) {
  uint32_t i = (uint32_t)mmu__region_find(s, start);
  if (s->regions[i].start < start)
    mmu__region_split(s, i++, start);
  if (s->regions[i].end > end)
    mmu__region_split(s, i, end);
  mmu_region moved = s->regions[i];
  int anon = moved.kind != MMU_REGION_FILE && moved.kind != MMU_REGION_SHARED;
  moved.offset = anon && !moved.anon_id ? dest : moved.offset;
  moved.start = dest;
  moved.end = dest + len;
  mmu__move_ctx ctx = {dest - start};
  mmu__for_leaves(s, s->root_frame, s->levels, 0, start, end, mmu__move_leaf,
                  &ctx, 1);
  if (moved.object) /* the object lives on through the move */
    mmu__object_mapped(moved.object, 1);
  mmu__region_remove(s, i);
  mmu__shootdown(s, start, (end - start) >> 12);
  uint32_t at;
  if (mmu__region_insert(s, &moved, &at) == MMU_OK)
    mmu__region_merge_around(s, at, at);
  if (moved.object)
    mmu__object_mapped(moved.object, -1);
  s->remapped = 1;
}

/* mremap of a zero old length, shared regions only (check_prep_vma's
 * "duplicate shm area"): a new region of the same object at dest, len
 * bytes of it from addr's offset on (copy_vma, which may merge); nothing
 * moves, the source stays. EFAULT if the target's unmap took addr. */
static int mmu__dup_piece(mmu_space *s, uint64_t addr, uint64_t dest,
                          uint64_t len) {
  int32_t i = mmu__region_find(s, addr);
  if (i < 0)
    return MMU_ERR_BADADDR;
  mmu_region dup = s->regions[i];
  dup.offset += addr - dup.start;
  dup.start = dest;
  dup.end = dest + len;
  uint32_t at;
  int rc = mmu__region_insert(s, &dup, &at);
  if (rc == MMU_OK)
    mmu__region_merge_around(s, at, at);
  return rc;
}

/* do_munmap as mremap calls it: an edge inside a 2 MiB page is EINVAL
 * (hugetlb_vm_op_split), with nothing unmapped. */
static int mmu__unmap_split_ok(mmu_space *s, uint64_t start, uint64_t end) {
  return mmu__huge_edges_ok(s, start, end) ? mmu__unmap(s, start, end)
                                           : MMU_ERR_ARG;
}

/* mremap (mm/mremap.c, as Linux 6.18 behaves; SPEC 9.2). */
static int mmu__space_mremap(mmu_space *s, uint64_t addr, uint64_t old_len,
                             uint64_t new_len, unsigned flags,
                             uint64_t new_addr, uint64_t *result) {
  if ((addr & 0xFFF) ||
      (flags & ~(unsigned)(MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED)) ||
      ((flags & MMU_MREMAP_FIXED) && !(flags & MMU_MREMAP_MAYMOVE)) ||
      !new_len)
    return MMU_ERR_ARG;
  if (old_len > s->user_top || new_len > s->user_top)
    return MMU_ERR_NOSPACE;
  old_len = (old_len + 0xFFF) & ~0xFFFull;
  new_len = (new_len + 0xFFF) & ~0xFFFull;
  int fixed = (flags & MMU_MREMAP_FIXED) != 0;
  int move_only = fixed && old_len == new_len; /* remap_move */
  if (fixed && ((new_addr & 0xFFF) || new_addr > s->user_top - new_len ||
                new_addr < MMU__MMAP_MIN_ADDR ||
                (addr < new_addr + new_len && new_addr < addr + old_len)))
    return MMU_ERR_ARG;
  int32_t i = addr < s->user_top ? mmu__region_find(s, addr) : -1;
  if (i < 0)
    return MMU_ERR_BADADDR;
  const mmu_region *r = &s->regions[i];
  if (!old_len && r->kind != MMU_REGION_SHARED)
    return MMU_ERR_ARG; /* duplicates shared mappings only (check_prep_vma) */
  if (r->flags & MMU_MAP_HUGETLB)
    return MMU_ERR_ARG; /* not modelled (9.10) */
  uint64_t keep = new_len < old_len ? new_len : old_len;
  if ((new_len > old_len || (fixed && !move_only)) && keep > r->end - addr)
    return MMU_ERR_BADADDR; /* a resize or a move of what is kept stays */
                            /* inside one region (check_prep_vma) */
  if (!fixed && old_len >= new_len) { /* shrink: the tail goes */
    int rc = old_len > new_len
                 ? mmu__unmap_split_ok(s, addr + new_len, addr + old_len)
                 : MMU_OK;
    if (rc == MMU_OK)
      *result = addr;
    return rc;
  }
  if (!fixed) {
    uint64_t end = addr + old_len, grow = new_len - old_len;
    uint32_t next = mmu__region_next(s, end);
    if (end == r->end && grow <= s->user_top - end &&
        (next == s->nregions || s->regions[next].start >= end + grow)) {
      s->regions[i].end = end + grow; /* vma_expandable: in place; */
      mmu__region_merge_grown(s, (uint32_t)i); /* vma_merge_extend */
      *result = addr;
      return MMU_OK;
    }
    if (!(flags & MMU_MREMAP_MAYMOVE) ||
        !(new_addr = mmu__find_gap(s, new_len, MMU__PAGE)))
      return MMU_ERR_NOSPACE;
  }
  /* splits at both ends of the source and one at the destination */
  if (s->nregions + 3 > s->max_regions)
    return MMU_ERR_NOSPACE;
  /* frames for the page tables the entries move into; a duplicate (old_len
   * 0) moves none, and Linux's never fails for memory */
  int rc = old_len ? mmu__ensure_free(s->sys, mmu__move_tables(s, new_len))
                   : MMU_OK;
  if (rc != MMU_OK)
    return rc;
  if (fixed && !move_only) {
    if ((rc = mmu__unmap_split_ok(s, new_addr, new_addr + new_len)) !=
        MMU_OK)
      return rc;
    if (old_len > new_len &&
        (rc = mmu__unmap_split_ok(s, addr + new_len, addr + old_len)) !=
            MMU_OK)
      return rc;
    if (old_len > new_len)
      old_len = new_len;
  }
  if (!old_len) {
    if ((rc = mmu__dup_piece(s, addr, new_addr, new_len)) != MMU_OK)
      return rc;
  } else if (new_len > old_len) {
    mmu__move_piece(s, addr, addr + old_len, new_addr, new_len);
  } else { /* the regions of the range, each to its place, holes kept: */
    uint64_t at = addr; /* a same-size move replaces only what lies at */
    for (;;) {          /* each region's target (remap_move) */
      uint32_t k = mmu__region_next(s, at);
      if (k == s->nregions || s->regions[k].start >= addr + old_len)
        break;
      uint64_t lo = s->regions[k].start > at ? s->regions[k].start : at;
      uint64_t hi = s->regions[k].end < addr + old_len ? s->regions[k].end
                                                       : addr + old_len;
      uint64_t to = new_addr + (lo - addr);
      if (move_only && s->nregions + 3 > s->max_regions)
        return MMU_ERR_NOSPACE; /* each region checks for room (move_vma) */
      if (s->regions[k].flags & MMU_MAP_HUGETLB)
        return MMU_ERR_ARG; /* as for the first region (9.10) */
      if (move_only &&
          (rc = mmu__unmap_split_ok(s, to, to + (hi - lo))) != MMU_OK)
        return rc;
      mmu__move_piece(s, lo, hi, to, hi - lo);
      at = hi;
    }
  }
  *result = new_addr;
  return MMU_OK;
}

MMU_API int mmu_space_mremap(mmu_space *s, uint64_t addr, uint64_t old_len,
                             uint64_t new_len, unsigned flags,
                             uint64_t new_addr, uint64_t *result) {
  uint64_t scratch;
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_mremap(s, addr, old_len, new_len, flags,
                                              new_addr,
                                              result ? result : &scratch));
}

/* do_mprotect_pkey: the range is changed region by region from addr; a
 * hole ends it with ENOMEM after the regions before it changed, and a
 * region already at prot is left as it is (mprotect_fixup), merging with
 * nothing. A changed region merges with its neighbours (vma_merge). */
static int mmu__space_mprotect(mmu_space *s, uint64_t addr, uint64_t len,
                               unsigned prot) {
  if ((addr & 0xFFF) || (prot & ~7u) ||
      addr >= s->user_top || len > s->user_top - addr)
    return MMU_ERR_ARG;
  if (!len)
    return MMU_OK;
  uint64_t end = (addr + len + 0xFFF) & ~0xFFFull;
  uint32_t first = mmu__region_next(s, addr), last = first;
  if (first >= s->nregions || s->regions[first].start > addr)
    return MMU_ERR_NOSPACE; /* nothing mapped at addr: nothing changes */
  uint64_t stop = addr; /* end of the mapped run from addr */
  for (uint32_t i = first; i < s->nregions && stop < end; i++) {
    if (s->regions[i].start > stop)
      break;
    stop = s->regions[i].end;
    last = i;
  }
  int rc = stop < end ? MMU_ERR_NOSPACE : MMU_OK;
  if (stop > end)
    stop = end;
  if (!mmu__huge_edges_ok(s, addr, stop))
    return MMU_ERR_ARG;
  uint32_t splits =
      (s->regions[first].prot != prot && s->regions[first].start < addr) +
      (s->regions[last].prot != prot && s->regions[last].end > stop);
  if (s->nregions + splits > s->max_regions)
    return MMU_ERR_NOSPACE;
  int changed = 0;
  for (uint32_t i = first; i < s->nregions && s->regions[i].start < stop;
       i++) {
    if (s->regions[i].prot == prot)
      continue;
    if (s->regions[i].start < addr)
      mmu__region_split(s, i++, addr);
    if (s->regions[i].end > stop)
      mmu__region_split(s, i, stop);
    mmu_region *r = &s->regions[i];
    /* mprotect_fixup: made writable, a private region is charged; made
     * unwritable, only an anonymous one with no anon_vma yet gives the
     * charge back */
    if ((prot & MMU_PROT_WRITE) &&
        !(r->flags & (MMU_MAP_HUGETLB | MMU_MAP_SHARED)))
      r->vm |= MMU_VM_ACCOUNT;
    else if (!(prot & MMU_PROT_WRITE) && r->kind != MMU_REGION_FILE &&
             !r->anon_id)
      r->vm &= (uint8_t)~MMU_VM_ACCOUNT;
    r->prot = (uint8_t)prot;
    mmu__for_leaves(s, s->root_frame, s->levels, 0, r->start, r->end,
                    mmu__reprotect_leaf, r, 0);
    changed = 1;
    /* vma_merge: with the previous region first, then the next */
    if (i > 0 && mmu__region_merge_next(s, i - 1))
      i--;
    mmu__region_merge_next(s, i);
  }
  if (changed)
    mmu__shootdown(s, addr, (stop - addr) >> 12);
  return rc;
}

MMU_API int mmu_space_mprotect(mmu_space *s, uint64_t addr, uint64_t len,
                               unsigned prot) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_mprotect(s, addr, len, prot));
}

/* MADV_FREE on one leaf (madvise_free_pte_range): a swapped-out page is
 * dropped now; a page only this process maps is made clean and old, and
 * reclaim drops it instead of swapping it unless a write dirties it
 * again; shared and zero pages are left alone. */
static void mmu__lazyfree_leaf(mmu_space *s, uint32_t table, uint64_t *entry,
                               uint64_t va, int level, const void *ctx) {
  (void)va;
  (void)ctx;
  mmu_system *sys = s->sys;
  uint64_t e = mmu__pte(entry);
  if (!(e & MMU_PTE_P)) {
    if (e & MMU__SWP_MARK) {
      mmu__leaf_put(s, e, 0);
      mmu__entry_set(sys, table, entry, 0);
    }
    return;
  }
  uint32_t f = mmu__leaf_frame(sys, e, level == 2);
  if (f == MMU__NO_FRAME || f == sys->zero_frame || sys->frame[f].refs != 1)
    return;
  __atomic_fetch_and(entry, ~(MMU_PTE_D | MMU_PTE_A), __ATOMIC_ACQ_REL);
  if (!(sys->frame[f].flags & MMU__FRF_LAZYFREE))
    sys->vm.pglazyfree++;
  sys->frame[f].flags |= MMU__FRF_LAZYFREE;
}

/* madvise (mm/madvise.c), region by region from addr (madvise_walk_vmas):
 * MADV_DONTNEED zaps the pages (zap_page_range_single): frames and swap
 * slots go, the region stays, and the next access faults a fresh page in;
 * a hugetlb region needs 2 MiB aligned edges. MADV_FREE marks anonymous
 * pages lazily free (madvise_free_single_vma); a file or hugetlb region
 * stops it with EINVAL. Holes: the rest is done, then ENOMEM. */
static int mmu__space_madvise(mmu_space *s, uint64_t addr, uint64_t len,
                              int advice) {
  if ((addr & 0xFFF) || addr >= s->user_top ||
      len > s->user_top - addr ||
      (advice != MMU_MADV_DONTNEED && advice != MMU_MADV_FREE))
    return MMU_ERR_ARG;
  if (!len)
    return MMU_OK;
  uint64_t end = (addr + len + 0xFFF) & ~0xFFFull;
  if (advice == MMU_MADV_DONTNEED && !mmu__huge_edges_ok(s, addr, end))
    return MMU_ERR_ARG;
  uint64_t done = addr;
  int hole = 0, rc = MMU_OK;
  for (uint32_t i = mmu__region_next(s, addr);
       i < s->nregions && s->regions[i].start < end; i++) {
    const mmu_region *r = &s->regions[i];
    hole |= r->start > done;
    uint64_t a = r->start > addr ? r->start : addr;
    done = r->end < end ? r->end : end;
    if (advice == MMU_MADV_DONTNEED) {
      mmu__zap_range(s, a, done);
    } else if (r->kind == MMU_REGION_FILE || r->kind == MMU_REGION_SHARED ||
               (r->flags & MMU_MAP_HUGETLB)) {
      rc = MMU_ERR_ARG;
      break;
    } else {
      mmu__for_leaves(s, s->root_frame, s->levels, 0, a, done,
                      mmu__lazyfree_leaf, NULL, 0);
    }
  }
  hole |= done < end;
  mmu__shootdown(s, addr, (end - addr) >> 12);
  return rc != MMU_OK ? rc : hole ? MMU_ERR_NOSPACE : MMU_OK;
}

MMU_API int mmu_space_madvise(mmu_space *s, uint64_t addr, uint64_t len,
                              int advice) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_madvise(s, addr, len, advice));
}

MMU_API int mmu_space_set_brk_base(mmu_space *s, uint64_t start_brk) {
  MMU__TRY(mmu__check_space(s));
  if ((start_brk & 0xFFF) || s->start_brk ||
      start_brk < MMU__MMAP_MIN_ADDR || start_brk >= s->user_top)
    return MMU_ERR_ARG;
  s->start_brk = s->brk = start_brk;
  return MMU_OK;
}

MMU_API int mmu_space_set_start_stack(mmu_space *s, uint64_t sp) {
  MMU__TRY(mmu__check_space(s));
  if (sp >= s->user_top)
    return MMU_ERR_ARG;
  s->start_stack = sp;
  return MMU_OK;
}

/* brk() as mm/mmap.c does it: below start_brk or on failure the break
 * stays; the heap keeps one page clear of the next mapping's gap. */
static int mmu__space_brk(mmu_space *s, uint64_t new_brk, uint64_t *result) {
  if (!s->start_brk)
    return MMU_ERR_ARG;
  int rc = MMU_OK;
  uint64_t old_top = (s->brk + 0xFFF) & ~0xFFFull;
  uint64_t new_top = (new_brk + 0xFFF) & ~0xFFFull;
  if (new_brk < s->start_brk || new_brk >= s->user_top - MMU__PAGE) {
    /* a query, or out of range: the break stays */
  } else if (new_top < old_top) {
    /* Linux 6.1+: no VMA left in [new_top, old_top) is "mapping not
     * found", and the break stays. As munmap, a hugetlb page is never
     * cut (mmu__unmap would free a whole 2 MiB page whose lower part
     * stays mapped). */
    uint32_t i = mmu__region_next(s, new_top);
    if (i >= s->nregions || s->regions[i].start >= old_top)
      rc = MMU_ERR_NOSPACE;
    else
      rc = mmu__huge_edges_ok(s, new_top, old_top)
               ? mmu__unmap(s, new_top, old_top)
               : MMU_ERR_ARG;
    if (rc == MMU_OK)
      s->brk = new_brk;
  } else if (new_top > old_top) {
    if (!mmu__range_free(s, old_top, new_top + MMU__PAGE)) {
      rc = MMU_ERR_NOSPACE;
    } else {
      /* do_brk_flags: extend the VMA ending at old_top if a fresh heap
       * VMA (read-write, VM_ACCOUNT, no anon_vma) would merge with it */
      mmu_region r;
      memset(&r, 0, sizeof r);
      r.start = r.offset = old_top;
      r.end = new_top;
      r.prot = MMU_PROT_READ | MMU_PROT_WRITE;
      r.kind = MMU_REGION_HEAP;
      r.vm = MMU_VM_ACCOUNT;
      int32_t h = mmu__region_find(s, old_top - 1);
      if (h >= 0 && mmu__region_mergeable(&s->regions[h], &r)) {
        s->regions[h].end = new_top;
        s->brk = new_brk;
      } else {
        rc = mmu__region_insert(s, &r, NULL);
        if (rc == MMU_OK)
          s->brk = new_brk;
      }
    }
  } else {
    s->brk = new_brk;
  }
  if (result)
    *result = s->brk;
  return rc;
}

MMU_API int mmu_space_brk(mmu_space *s, uint64_t new_brk, uint64_t *result) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_brk(s, new_brk, result));
}
