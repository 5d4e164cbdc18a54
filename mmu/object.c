/* SPDX-License-Identifier: MIT */
/* object.c - shared memory objects (MAP_SHARED): anonymous shared memory,
 * as Linux's shmem, and the page cache of a file, as filemap. An object
 * holds its pages by offset; every region mapping it maps those same
 * frames, in any space, and nothing is copied on write. A page leaves
 * memory as shmem's do (to a swap slot the object keeps) or as a file's
 * (written back when dirty, then dropped), unmapped from every mapper
 * first (9.7). */
#include "internal.h"

/* object->page[i]: 0 (never touched, or dropped), a resident frame, or the
 * swap slot holding it */
#define MMU__OBJ_FRAME 1ull
#define MMU__OBJ_SWAP 2ull
#define MMU__OBJ_TAGS 3ull

/* Linux's fault_around_bytes: a read fault maps up to 16 pages around it
 * that the object holds already (do_fault_around, filemap_map_pages). */
#define MMU__FAULT_AROUND_PAGES 16u

static mmu_object *mmu__frame_object(const mmu_system *sys, uint32_t f) {
  return sys->frame[f].flags & MMU__FRF_SHARED
             ? (mmu_object *)(uintptr_t)sys->frame[f].cached
             : NULL;
}

MMU_API size_t mmu_object_storage_size(uint64_t pages) {
  return pages && pages <= (1ull << 40) ? (size_t)pages * 8 : 0;
}

MMU_API int mmu_object_init_versioned(mmu_object *o, size_t sizeof_obj,
                                      uint32_t version, mmu_system *sys,
                                      uint64_t pages, const mmu_file *file,
                                      void *storage, size_t bytes) {
  if (!o || (file && !file->read_page))
    return MMU_ERR_ARG;
  MMU__TRY(MMU__CHECK_SYS(sys));
  if (sizeof_obj != sizeof(mmu_object) || (version >> 8) != (MMU_VERSION >> 8))
    return MMU_ERR_VERSION;
  size_t need = mmu_object_storage_size(pages);
  if (!need)
    return MMU_ERR_CONFIG;
  if (!storage || ((uintptr_t)storage & 7) || bytes < need)
    return MMU_ERR_STORAGE;
  memset(o, 0, sizeof *o);
  memset(storage, 0, need);
  o->magic = MMU__OBJ_MAGIC;
  o->version = MMU_VERSION;
  o->sys = sys;
  o->file = file;
  o->pages = pages;
  o->page = (uint64_t *)storage;
  o->inode = file ? file->inode : ++sys->next_inode;
  return MMU_OK;
}

MMU_API uint32_t mmu_object_mappings(const mmu_object *o) {
  return MMU__CHECK_OBJ(o, MMU__OBJ_MAGIC) == MMU_OK ? o->mappings : 0;
}

/* A frame the object holds (its hold counts in refs). */
static void mmu__object_frame_new(mmu_object *o, uint64_t i, uint32_t f) {
  struct mmu__frame *fr = &o->sys->frame[f];
  mmu__frame_set_kind(o->sys, f, MMU__FR_PAGE);
  fr->refs = 1;
  fr->index = i << 12;
  fr->cached = (uint64_t)(uintptr_t)o;
  fr->flags = MMU__FRF_SHARED;
  o->page[i] = (uint64_t)(f + 1) << 2 | MMU__OBJ_FRAME;
  mmu_policy_insert(&o->sys->policy, f);
}

static uint32_t mmu__object_resident(const mmu_object *o, uint64_t i) {
  uint64_t v = o->page[i];
  return (v & MMU__OBJ_TAGS) == MMU__OBJ_FRAME ? (uint32_t)(v >> 2) - 1
                                                : MMU__NO_FRAME;
}

/* Page i in memory (shmem_get_folio, filemap_fault): resident (minor),
 * read from its swap slot or from the file (major when the file did I/O),
 * or new and zero. Frames were reserved by the fault. */
static int mmu__object_page(mmu_object *o, uint64_t i, uint32_t *frame,
                            mmu_fault_info *info) {
  mmu_system *sys = o->sys;
  uint32_t f = mmu__object_resident(o, i);
  if (f != MMU__NO_FRAME) {
    *frame = f;
    return MMU_OK;
  }
  uint64_t v = o->page[i];
  int rc = mmu__frame_alloc_any(sys, &f, !(v & MMU__OBJ_SWAP) && !o->file);
  if (rc != MMU_OK)
    return rc;
  uint8_t *page = mmu__frame_host(sys, f);
  if (v & MMU__OBJ_SWAP) {
    uint64_t slot = v >> 2;
    if ((rc = mmu__slot_read(sys, slot, f)) != MMU_OK) {
      mmu__frame_free(sys, f);
      return rc;
    }
    mmu__slot_put(sys, slot);
    sys->vm.pswpin++;
    sys->vm.pgmajfault++;
    info->fault_class = MMU_FAULT_MAJOR;
  } else if (o->file) {
    int did_io = 0;
    if (o->file->read_page(o->file->user, i << 12, page, &did_io) != 0) {
      mmu__frame_free(sys, f);
      return MMU_ERR_FILE;
    }
    if (did_io) {
      sys->vm.pgmajfault++;
      info->fault_class = MMU_FAULT_MAJOR;
    }
  }
  mmu__object_frame_new(o, i, f);
  *frame = f;
  return MMU_OK;
}

static void mmu__map_shared(mmu_space *s, const mmu_region *r, uint32_t table,
                            uint64_t *slot, uint32_t f) {
  s->sys->frame[f].refs++;
  mmu__rss_add(s, 1);
  /* VM_SHARED | VM_WRITE: writable at once, D left to the first write */
  mmu__entry_set(s->sys, table, slot,
                 mmu__frame_gpa(s->sys, f) |
                     mmu__leaf_flags(s->sys, r, (r->prot & MMU_PROT_WRITE) != 0));
}

/* do_fault_around: the pages of a 16-page window that the object holds
 * and no entry maps yet are mapped by the same fault. The window starts
 * at the 16-page aligned address below va, or at the region's or the page
 * table's start if later, and runs 16 pages from there (so past the
 * aligned window when it was clipped), ending at the region's or the page
 * table's end. */
static void mmu__fault_around(mmu_space *s, const mmu_region *r, uint64_t va,
                              uint32_t table) {
  uint64_t span = MMU__FAULT_AROUND_PAGES * MMU__PAGE;
  uint64_t lo = va & ~(span - 1);
  uint64_t table_lo = va & ~(MMU__HUGE - 1), table_hi = table_lo + MMU__HUGE;
  lo = lo > r->start ? lo : r->start;
  lo = lo > table_lo ? lo : table_lo;
  uint64_t hi = lo + span;
  hi = hi < r->end ? hi : r->end;
  hi = hi < table_hi ? hi : table_hi;
  uint64_t *t = mmu__table(s->sys, table); /* va's PTE table */
  for (uint64_t a = lo; a < hi; a += MMU__PAGE) {
    uint64_t i = (r->offset + (a - r->start)) >> 12;
    uint64_t *e = &t[(a >> 12) & 511];
    uint32_t f;
    if (i < r->object->pages && !mmu__pte(e) &&
        (f = mmu__object_resident(r->object, i)) != MMU__NO_FRAME)
      mmu__map_shared(s, r, table, e, f);
  }
}

static int mmu__fault_shared(mmu_space *s, mmu_region *r, uint64_t va,
                             uint64_t *slot, uint32_t table, int write,
                             mmu_fault_info *info) {
  mmu_object *o = r->object;
  uint64_t i = (r->offset + (va - r->start)) >> 12;
  if (!write) /* do_read_fault: ->map_pages first, past i_size too */
    mmu__fault_around(s, r, va, table);
  if (i >= o->pages) { /* past i_size: shmem_fault / filemap_fault */
    info->fault_class = MMU_FAULT_SIGBUS;
    info->si_code = MMU_BUS_ADRERR;
    return MMU_OK;
  }
  info->fault_class = MMU_FAULT_MINOR;
  if (!write && mmu__pte(slot))
    return MMU_OK;
  uint32_t f;
  int rc = mmu__object_page(o, i, &f, info);
  if (rc == MMU_OK)
    mmu__map_shared(s, r, table, slot, f);
  return rc;
}

/* Set D in every entry that maps f and clear it, so the next write marks
 * the page again (page_mkclean); the cpus drop what they cached. */
static int mmu__take_dirty(mmu_space *s, uint64_t va, uint64_t *e,
                           uint32_t table, void *ctx) {
  (void)table;
  if (__atomic_fetch_and(e, ~MMU_PTE_D, __ATOMIC_ACQ_REL) & MMU_PTE_D) {
    *(int *)ctx = 1;
    mmu__shootdown(s, va, 1);
  }
  return 0;
}

/* Write page i back if it is dirty; it stays dirty if the file refuses. */
static int mmu__object_writeback(mmu_object *o, uint64_t i) {
  mmu_system *sys = o->sys;
  uint32_t f = mmu__object_resident(o, i);
  if (f == MMU__NO_FRAME || !o->file)
    return MMU_OK;
  int dirty = 0;
  mmu__rmap_walk(sys, f, 0, mmu__take_dirty, &dirty);
  mmu__tlb_finish(sys); /* no write in flight through a cached D */
  if (dirty)
    sys->frame[f].flags |= MMU__FRF_DIRTY;
  if (!(sys->frame[f].flags & MMU__FRF_DIRTY))
    return MMU_OK;
  if (!o->file->write_page ||
      o->file->write_page(o->file->user, i << 12, mmu__frame_host(sys, f)) != 0)
    return MMU_ERR_FILE;
  sys->frame[f].flags &= (uint8_t)~MMU__FRF_DIRTY;
  return MMU_OK;
}

/* Reclaim of an object's page (shmem_writeout, pageout): unmapped from
 * every mapper and waited for, then written to a swap slot (anonymous) or
 * back to the file if dirty, and the frame goes. On an error the page
 * stays, mapped as it was. */
static int mmu__reclaim_shared(mmu_system *sys, uint32_t f) {
  struct mmu__frame *fr = &sys->frame[f];
  mmu_object *o = mmu__frame_object(sys, f);
  uint64_t i = fr->index >> 12;
  int dirty = 0, rc = MMU_OK;
  mmu__rmap_walk(sys, f, 0, mmu__unmap_begin, &dirty);
  mmu__tlb_finish(sys);
  if (dirty)
    fr->flags |= MMU__FRF_DIRTY;
  uint64_t next = 0;
  if (!o->file) {
    uint64_t slot;
    if ((rc = mmu__slot_store(sys, f, 1, &slot)) == MMU_OK)
      next = slot << 2 | MMU__OBJ_SWAP;
  } else if (fr->flags & MMU__FRF_DIRTY) {
    if (!o->file->write_page ||
        o->file->write_page(o->file->user, i << 12, mmu__frame_host(sys, f)))
      rc = MMU_ERR_FILE;
  }
  if (rc != MMU_OK) {
    mmu__rmap_walk(sys, f, 1, mmu__unmap_end, NULL); /* mapped again */
    mmu_policy_insert(&sys->policy, f);
    return rc;
  }
  uint64_t none = 0;
  mmu__rmap_walk(sys, f, 1, mmu__unmap_end, &none);
  o->page[i] = next;
  fr->refs = 0;
  mmu__frame_free(sys, f);
  sys->vm.pgsteal++;
  return MMU_OK;
}

/* Every page goes (no region maps the object): frames and swap slots. */
static void mmu__object_free_pages(mmu_object *o) {
  for (uint64_t i = 0; i < o->pages; i++) {
    uint64_t v = o->page[i];
    uint32_t f = mmu__object_resident(o, i);
    if (f != MMU__NO_FRAME && --o->sys->frame[f].refs == 0)
      mmu__frame_free(o->sys, f);
    else if (v & MMU__OBJ_SWAP)
      mmu__slot_put(o->sys, v >> 2);
    o->page[i] = 0;
  }
}

static void mmu__object_mapped(mmu_object *o, int32_t regions) {
  o->mappings += (uint32_t)regions;
  if (!o->mappings && !o->file) /* shmem's last mapping of MAP_SHARED anon */
    mmu__object_free_pages(o);
}

MMU_API int mmu_object_sync(mmu_object *o) {
  MMU__TRY(MMU__CHECK_OBJ(o, MMU__OBJ_MAGIC));
  int rc = MMU_OK;
  for (uint64_t i = 0; i < o->pages; i++)
    if (mmu__object_writeback(o, i) != MMU_OK)
      rc = MMU_ERR_FILE;
  mmu__tlb_finish(o->sys);
  return rc;
}

MMU_API int mmu_object_destroy(mmu_object *o) {
  MMU__TRY(MMU__CHECK_OBJ(o, MMU__OBJ_MAGIC));
  if (o->mappings)
    return MMU_ERR_BUSY;
  int rc = mmu_object_sync(o);
  if (rc != MMU_OK)
    return rc;
  mmu__object_free_pages(o);
  mmu__tlb_finish(o->sys);
  o->magic = 0;
  return MMU_OK;
}

/* msync(MS_SYNC) (mm/msync.c): region by region, shared file mappings
 * written back; a hole is ENOMEM once the rest is done. */
static int mmu__space_msync(mmu_space *s, uint64_t addr, uint64_t len) {
  if ((addr & 0xFFF) || addr >= s->user_top ||
      len > s->user_top - addr)
    return MMU_ERR_ARG;
  uint64_t end = (addr + len + 0xFFF) & ~0xFFFull, done = addr;
  int rc = MMU_OK, hole = 0;
  for (uint32_t k = mmu__region_next(s, addr);
       k < s->nregions && s->regions[k].start < end; k++) {
    const mmu_region *r = &s->regions[k];
    hole |= r->start > done;
    uint64_t a = r->start > addr ? r->start : addr;
    done = r->end < end ? r->end : end;
    if (r->kind != MMU_REGION_SHARED || !r->object->file)
      continue;
    for (; a < done; a += MMU__PAGE) {
      uint64_t i = (r->offset + (a - r->start)) >> 12;
      if (i < r->object->pages && mmu__object_writeback(r->object, i))
        rc = MMU_ERR_FILE;
    }
  }
  hole |= done < end;
  return rc != MMU_OK ? rc : hole ? MMU_ERR_NOSPACE : MMU_OK;
}

MMU_API int mmu_space_msync(mmu_space *s, uint64_t addr, uint64_t len) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_msync(s, addr, len));
}
