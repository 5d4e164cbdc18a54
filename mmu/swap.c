/* SPDX-License-Identifier: MIT */
/* swap.c - reclaim and swap: the policy picks a frame, reverse mapping
 * finds every entry that maps it, the page goes to a swap slot with its
 * XXH64, and a later fault reads it back and checks it. */
#include "internal.h"

#define MMU__SLOT_MASK ((1ull << 40) - 1)

/* The swap cache links a slot and a frame holding the same bytes, so that
 * the spaces still pointing at the slot after one of them paged it in map
 * that frame (a minor fault) instead of reading the device again, and so
 * that evicting it again needs no write. A link lasts while both sides do
 * and the frame is unwritten. */
static void mmu__uncache(mmu_system *sys, uint32_t f) {
  uint64_t c = sys->frame[f].cached;
  if (!c || (sys->frame[f].flags & MMU__FRF_SHARED)) /* an object, no slot */
    return;
  MMU_ASSERT(sys->slot[c - 1].cache == f + 1);
  sys->slot[c - 1].cache = 0;
  sys->frame[f].cached = 0;
}

static void mmu__slot_put(mmu_system *sys, uint64_t slot) {
  slot &= MMU__SLOT_MASK;
  if (slot >= sys->slots || !sys->slot[slot].refs)
    return;
  if (--sys->slot[slot].refs == 0) {
    if (sys->slot[slot].cache)
      mmu__uncache(sys, sys->slot[slot].cache - 1);
    sys->slots_used--;
  }
}

/* The entries mapping user page f. A page sits where each sharing
 * space's region puts its index (9.7): at the address equal to it in a
 * region whose offsets agree (an anonymous page of a space mremap never
 * moved), else in whichever region's offsets hold it (moved regions, file
 * pages). `marked` looks for the entries reclaim took P from instead.
 * visit gets each entry and its address; nonzero stops the walk. */
typedef int (*mmu__rmap_fn)(mmu_space *s, uint64_t va, uint64_t *entry,
                            uint32_t table, void *ctx);

/* The next entry of s mapping f from region *pos on (-1: the hint first),
 * *pos moved past it. An object's page may be mapped by several regions
 * of one space (the file's i_mmap holds every VMA); a private page by one
 * at most. */
static uint64_t *mmu__rmap_find(mmu_space *s, uint32_t f, uint64_t want,
                                uint64_t *va_out, uint32_t *table,
                                int32_t *pos) {
  mmu_system *sys = s->sys;
  uint64_t index = sys->frame[f].index;
  /* which regions may hold it: its object's, private file ones, or
   * anonymous ones */
  const mmu_object *obj = mmu__frame_object(sys, f);
  int file = (sys->frame[f].flags & MMU__FRF_FILE) != 0;
  int kind = obj ? MMU_REGION_SHARED : file ? MMU_REGION_FILE : -1;
  int32_t hint = kind >= 0 || index >= s->user_top ? -1
                                                   : mmu__region_find(s, index);
  int scan = kind >= 0 || s->remapped;
  for (int32_t k = *pos; k < (int32_t)s->nregions; k++) {
    int32_t i = k < 0 ? hint : k;
    if (i < 0 || (k >= 0 && (!scan || k == hint)))
      continue;
    const mmu_region *r = &s->regions[i];
    int rkind = r->kind == MMU_REGION_FILE || r->kind == MMU_REGION_SHARED
                    ? r->kind
                    : -1;
    if (index < r->offset || index - r->offset >= r->end - r->start ||
        rkind != kind || r->object != obj)
      continue;
    uint64_t va = r->start + (index - r->offset), *e;
    if (mmu__walk_to(s, va, 1, 0, &e, table) != MMU_OK || !e)
      continue;
    uint64_t v = mmu__pte(e);
    if ((v & want) && mmu__entry_frame(sys, v) == f) {
      *va_out = va;
      *pos = obj ? k + 1 : (int32_t)s->nregions;
      return e;
    }
  }
  *pos = (int32_t)s->nregions;
  return NULL;
}

static uint32_t mmu__rmap_walk(mmu_system *sys, uint32_t f, int marked,
                               mmu__rmap_fn visit, void *ctx) {
  /* swap entries have neither bit; marked ones exist only inside
   * mmu__reclaim_one */
  uint64_t want = marked ? MMU__RECLAIM_MARK : MMU_PTE_P | MMU__PROTNONE_MARK;
  uint32_t n = 0;
  for (mmu_space *s = sys->spaces; s; s = s->next_space) {
    uint64_t va, *e;
    uint32_t table;
    int32_t pos = -1;
    while ((e = mmu__rmap_find(s, f, want, &va, &table, &pos))) {
      n++;
      if (visit && visit(s, va, e, table, ctx))
        return n;
    }
  }
  return n;
}

/* Test and clear Accessed in every entry mapping the frame; the TLB entry
 * goes too, or the next access would not set A again. */
static int mmu__clear_young(mmu_space *s, uint64_t va, uint64_t *e,
                            uint32_t table, void *ctx) {
  (void)table;
  if (__atomic_fetch_and(e, ~MMU_PTE_A, __ATOMIC_ACQ_REL) & MMU_PTE_A) {
    *(int *)ctx = 1;
    mmu__shootdown(s, va, 1);
  }
  return 0;
}

static int mmu__frame_referenced(void *user, uint32_t f) {
  mmu_system *sys = (mmu_system *)user;
  int young = 0;
  if (sys->frame[f].kind == MMU__FR_PAGE)
    mmu__rmap_walk(sys, f, 0, mmu__clear_young, &young);
  return young;
}

/* try_to_unmap, first half: the entry loses P but keeps its frame and
 * bits, and the cpus are told; ctx collects D. */
static int mmu__unmap_begin(mmu_space *s, uint64_t va, uint64_t *e,
                            uint32_t table, void *ctx) {
  uint64_t v;
  do
    v = mmu__pte(e);
  while (!mmu__entry_cas(s->sys, table, e, v,
                         (v & ~MMU_PTE_P) | MMU__RECLAIM_MARK |
                             (v & MMU_PTE_P ? MMU__RECLAIM_PRESENT : 0)));
  *(int *)ctx |= (v & MMU_PTE_D) != 0;
  mmu__shootdown(s, va, 1);
  return 0;
}

/* Second half, once no cpu holds the entry: what it becomes (a swap entry
 * or nothing), or, with ctx NULL, the mapping it was. */
static int mmu__unmap_end(mmu_space *s, uint64_t va, uint64_t *e,
                          uint32_t table, void *ctx) {
  (void)va;
  uint64_t v = mmu__pte(e);
  if (!ctx) {
    uint64_t back = v & ~(MMU__RECLAIM_MARK | MMU__RECLAIM_PRESENT);
    mmu__entry_set(s->sys, table, e,
                   v & MMU__RECLAIM_PRESENT ? back | MMU_PTE_P : back);
    return 0;
  }
  uint64_t to = *(const uint64_t *)ctx;
  mmu__entry_set(s->sys, table, e, to);
  mmu__rss_add(s, -1);
  if (to)
    s->ru.swap_pages++;
  return 0;
}

static int mmu__slot_alloc(mmu_system *sys, uint64_t *slot) {
  if (sys->slots_used >= sys->slots)
    return MMU_ERR_NOSWAP;
  for (uint64_t i = 0; i < sys->slots; i++) {
    uint64_t n = (sys->slot_cursor + i) % sys->slots;
    if (!sys->slot[n].refs) {
      sys->slot_cursor = n + 1;
      *slot = n;
      return MMU_OK;
    }
  }
  return MMU_ERR_NOSWAP;
}

/* Write frame f's bytes to a new slot that `refs` entries will point at. */
static int mmu__slot_store(mmu_system *sys, uint32_t f, uint32_t refs,
                           uint64_t *slot) {
  int rc = mmu__slot_alloc(sys, slot);
  if (rc != MMU_OK)
    return rc;
  const uint8_t *page = mmu__frame_host(sys, f);
  if (sys->swap.write(sys->swap.user, *slot, page) != 0)
    return MMU_ERR_SWAP_IO;
  sys->slot[*slot].checksum = mmu_xxh64(page, 4096, 0);
  sys->slot[*slot].refs = refs;
  sys->slots_used++;
  sys->vm.pswpout++;
  return MMU_OK;
}

/* Read a slot into frame f and check it against the checksum taken when it
 * was written: never wrong bytes, an error instead. */
static int mmu__slot_read(mmu_system *sys, uint64_t slot, uint32_t f) {
  uint8_t *page = mmu__frame_host(sys, f);
  if (sys->swap.read(sys->swap.user, slot, page) != 4096)
    return MMU_ERR_SWAP_IO;
  return mmu_xxh64(page, 4096, 0) == sys->slot[slot].checksum
             ? MMU_OK
             : MMU_ERR_SWAP_CORRUPT;
}

/* LRU and LFU learn of references from Accessed bits harvested here:
 * frames [first, first + count) in frame order, wrapping. Clock and the two
 * lists test the bits as they scan, so harvesting would only erase what
 * they look for. */
#define MMU__HARVEST_PER_EVICTION 64

static uint32_t mmu__harvest(mmu_system *sys, uint32_t first, uint32_t count) {
  uint32_t young = 0;
  if (sys->policy.kind != MMU_POLICY_LRU && sys->policy.kind != MMU_POLICY_LFU)
    return 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t f = (uint32_t)(((uint64_t)first + i) % sys->nframes);
    if (sys->frame[f].kind == MMU__FR_PAGE && mmu__frame_referenced(sys, f)) {
      mmu_policy_access(&sys->policy, f);
      young++;
    }
  }
  return young;
}

MMU_API uint32_t mmu_system_age(mmu_system *sys) {
  if (MMU__CHECK_SYS(sys) != MMU_OK)
    return 0;
  uint32_t young = mmu__harvest(sys, 0, sys->nframes);
  mmu__tlb_finish(sys);
  return young;
}

/* Evict one page. A whole harvest per eviction would cost O(frames) each
 * (250 us at 16,384 frames); a hand over the next frames keeps it O(1) and
 * still reads every bit once per nframes / 64 evictions. */
static int mmu__reclaim_one(mmu_system *sys) {
  uint32_t n = sys->nframes < MMU__HARVEST_PER_EVICTION
                   ? sys->nframes
                   : MMU__HARVEST_PER_EVICTION;
  mmu__harvest(sys, sys->harvest_hand, n);
  sys->harvest_hand = (uint32_t)(((uint64_t)sys->harvest_hand + n) %
                                 sys->nframes);
  uint32_t f;
  int rc = mmu_policy_victim(&sys->policy, mmu__frame_referenced, sys, &f);
  if (rc == MMU_OK && f == sys->pinned) { /* the next one, and the page */
    rc = mmu_policy_victim(&sys->policy, mmu__frame_referenced, sys, &f);
    mmu_policy_insert(&sys->policy, sys->pinned); /* back, as referenced */
  }
  if (rc != MMU_OK)
    return MMU_ERR_NOMEM;
  sys->vm.pgscan++;
  struct mmu__frame *fr = &sys->frame[f];
  MMU_ASSERT(fr->kind == MMU__FR_PAGE);
  if (fr->flags & MMU__FRF_SHARED)
    return mmu__reclaim_shared(sys, f);
  /* equal to fr->refs unless an entry was overwritten behind our back */
  uint32_t mappers = mmu__rmap_walk(sys, f, 0, NULL, NULL);
  if (!mappers) { /* nothing maps it any more: nothing to keep */
    fr->refs = 0;
    mmu__frame_free(sys, f);
    sys->vm.pgsteal++;
    return MMU_OK;
  }
  /* Unmap before the bytes are read (try_to_unmap before pageout): once
   * every cpu has let go, no write can land after the copy. */
  int dirty = 0;
  mmu__rmap_walk(sys, f, 0, mmu__unmap_begin, &dirty);
  mmu__tlb_finish(sys);
  uint64_t to = 0;
  if ((fr->flags & MMU__FRF_LAZYFREE) && !dirty && mappers == 1) {
    sys->vm.pglazyfreed++; /* MADV_FREE'd and still clean: dropped */
  } else if (fr->cached) { /* the slot still holds these bytes: no write */
    uint64_t slot = fr->cached - 1;
    mmu__uncache(sys, f);
    sys->slot[slot].refs += mappers;
    to = slot << 12 | MMU__SWP_MARK;
  } else if (!(fr->flags & MMU__FRF_FILE_CLEAN)) {
    uint64_t slot;
    if ((rc = mmu__slot_store(sys, f, mappers, &slot)) != MMU_OK) {
      mmu__rmap_walk(sys, f, 1, mmu__unmap_end, NULL); /* mapped again */
      fr->flags &= (uint8_t)~MMU__FRF_LAZYFREE;
      mmu_policy_insert(&sys->policy, f);
      return rc;
    }
    to = slot << 12 | MMU__SWP_MARK;
  }
  /* a clean file page is dropped: the next fault reads the file again */
  mmu__rmap_walk(sys, f, 1, mmu__unmap_end, &to);
  fr->refs = 0;
  mmu__frame_free(sys, f);
  sys->vm.pgsteal++;
  return MMU_OK;
}

/* do_swap_page: map the swap cache's frame if the slot has one (minor),
 * else read the slot and check it (major). The frame is this space's alone
 * (writable on a write) when no other entry points at the slot; otherwise
 * it stays in the swap cache, shared and read-only, and a write goes on to
 * copy it (mmu_space_fault). */
static int mmu__swap_in(mmu_space *s, uint64_t va, uint64_t *entry,
                        uint32_t table, const mmu_region *r, int write,
                        mmu_fault_info *info) {
  mmu_system *sys = s->sys;
  uint64_t slot = (mmu__pte(entry) >> 12) & MMU__SLOT_MASK;
  if (slot >= sys->slots || !sys->slot[slot].refs)
    return MMU_ERR_PT_BUS;
  uint32_t f;
  int last = sys->slot[slot].refs == 1;
  if (sys->slot[slot].cache) {
    f = sys->slot[slot].cache - 1;
    sys->frame[f].refs++;
    info->fault_class = MMU_FAULT_MINOR;
  } else {
    int rc = mmu__frame_alloc_any(sys, &f, 0); /* the read fills it or fails */
    if (rc != MMU_OK)
      return rc;
    if ((rc = mmu__slot_read(sys, slot, f)) != MMU_OK) {
      mmu__frame_free(sys, f);
      return rc;
    }
    mmu__page_new(sys, f, r, va, last ? MMU__FRF_EXCLUSIVE : 0);
    if (!last) {
      sys->slot[slot].cache = f + 1;
      sys->frame[f].cached = slot + 1;
    }
    sys->vm.pswpin++;
    sys->vm.pgmajfault++;
    info->fault_class = MMU_FAULT_MAJOR;
  }
  int own = last && (sys->frame[f].flags & MMU__FRF_EXCLUSIVE);
  mmu__entry_set(sys, table, entry,
                 mmu__frame_gpa(sys, f) | mmu__leaf_flags(sys, r, write && own));
  mmu__slot_put(sys, slot);
  s->ru.swap_pages--;
  mmu__rss_add(s, 1);
  return MMU_OK;
}
