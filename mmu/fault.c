/* SPDX-License-Identifier: MIT */
/* fault.c - the page-fault handler: find the region, decide SIGSEGV as x86
 * Linux's do_user_addr_fault / access_error do, else fill the entry as
 * handle_mm_fault would, and count the fault as the kernel counts it. */
#include "internal.h"

/* Linux's access_error(): a fetch is a read; a read that faulted on a
 * present page is a protection violation. */
static int mmu__access_error(uint32_t ec, const mmu_region *r) {
  if (ec & MMU_PFEC_W)
    return !(r->prot & MMU_PROT_WRITE);
  if (ec & MMU_PFEC_P)
    return 1;
  return !(r->prot & (MMU_PROT_READ | MMU_PROT_WRITE | MMU_PROT_EXEC));
}

static int mmu__segv(mmu_fault_info *info, int32_t code) {
  info->fault_class = MMU_FAULT_SEGV;
  info->si_code = code;
  return MMU_OK;
}

/* anon_vma_prepare: a region's first anon_vma is a neighbour's when that
 * one is adjacent, alike but for access rights, and its chain singular
 * (find_mergeable_anon_vma tries the next region, then the previous), so
 * that the two can merge once their rights agree. Else a new one. */
static int mmu__anon_reusable(const mmu_region *r, const mmu_region *near) {
  const mmu_region *lo = near->start < r->start ? near : r;
  const mmu_region *hi = lo == r ? near : r;
  return near->anon_id && !(near->vm & MMU_VM_FORKED_ANON) &&
         mmu__region_alike(lo, hi);
}

static void mmu__anon_vma(mmu_space *s, mmu_region *r) {
  if (r->anon_id)
    return;
  uint32_t i = (uint32_t)(r - s->regions);
  if (i + 1 < s->nregions && mmu__anon_reusable(r, &s->regions[i + 1]))
    r->anon_id = s->regions[i + 1].anon_id;
  else if (i > 0 && mmu__anon_reusable(r, &s->regions[i - 1]))
    r->anon_id = s->regions[i - 1].anon_id;
  else
    r->anon_id = ++s->sys->next_anon_id;
}

/* Grow a stack region down to cover addr (expand_downwards and
 * acct_stack_growth): not into another mapping's guard gap, not past
 * RLIMIT_STACK. Past the gap check the region gets its anon_vma
 * (anon_vma_prepare), whether or not the limit then lets it grow, so that
 * fork copies its entries and mprotect keeps its VM_ACCOUNT. Index of the
 * region, or -1. */
static int32_t mmu__stack_grow(mmu_space *s, uint64_t addr) {
  uint32_t i = mmu__region_next(s, addr);
  if (i >= s->nregions || !(s->regions[i].flags & MMU_MAP_GROWSDOWN) ||
      addr < MMU__MMAP_MIN_ADDR)
    return -1;
  mmu_region *r = &s->regions[i];
  uint64_t start = addr & ~0xFFFull;
  if (i > 0) {
    const mmu_region *prev = &s->regions[i - 1];
    if (!(prev->flags & MMU_MAP_GROWSDOWN) && prev->prot &&
        start - prev->end < s->stack_guard_gap)
      return -1;
  }
  mmu__anon_vma(s, r);
  if (r->end - start > s->stack_limit)
    return -1;
  r->offset -= r->start - start; /* vm_pgoff moves with vm_start */
  r->start = start;
  return (int32_t)i;
}

/* A 2 MiB page of a hugetlb region (hugetlb_no_page / hugetlb_wp). */
static int mmu__fault_huge(mmu_space *s, mmu_region *r, uint64_t va, int write,
                           mmu_fault_info *info) {
  mmu_system *sys = s->sys;
  uint64_t base = va & ~(MMU__HUGE - 1), *slot;
  uint32_t table;
  int rc = mmu__walk_to(s, base, 2, 1, &slot, &table);
  if (rc != MMU_OK)
    return rc;
  uint64_t e = mmu__pte(slot);
  info->flags |= MMU_FAULTF_HUGE;
  info->fault_class = MMU_FAULT_MINOR;
  if (e & MMU_PTE_P) {
    if (!write || (e & MMU_PTE_W)) {
      info->fault_class = MMU_FAULT_SPURIOUS;
      return MMU_OK;
    }
    uint32_t f = mmu__leaf_frame(sys, e, 1);
    if (f == MMU__NO_FRAME)
      return MMU_ERR_PT_BUS;
    if (sys->frame[f].refs == 1) {
      sys->frame[f].flags |= MMU__FRF_EXCLUSIVE;
      sys->vm.cow_reuses++;
    } else {
      uint32_t copy;
      if ((rc = mmu__frame_alloc_huge(sys, &copy)) != MMU_OK)
        return rc;
      memcpy(mmu__frame_host(sys, copy), mmu__frame_host(sys, f), MMU__HUGE);
      mmu__page_new(sys, copy, r, base, MMU__FRF_EXCLUSIVE);
      sys->frame[f].refs--;
      f = copy;
      sys->vm.cow_copies++;
      info->fault_class = MMU_FAULT_COW;
    }
    mmu__entry_set(sys, table, slot,
                   mmu__frame_gpa(sys, f) | mmu__leaf_flags(sys, r, 1));
    mmu__shootdown(s, base, 512);
    return MMU_OK;
  }
  if (e)
    return MMU_ERR_PT_BUS;
  uint32_t f;
  if ((rc = mmu__frame_alloc_huge(sys, &f)) != MMU_OK)
    return rc;
  mmu__page_new(sys, f, r, base, MMU__FRF_EXCLUSIVE);
  mmu__anon_vma(s, r);
  mmu__rss_add(s, 512);
  mmu__entry_set(sys, table, slot,
                 mmu__frame_gpa(sys, f) | mmu__leaf_flags(sys, r, write));
  return MMU_OK;
}

/* A write to a present, write-protected page the region may write
 * (do_wp_page): the zero page is replaced by a new page, a page nobody else
 * holds is taken over, a shared one is copied. */
static int mmu__fault_wp(mmu_space *s, mmu_region *r, uint64_t va,
                         uint64_t *slot, uint32_t table, mmu_fault_info *info) {
  mmu_system *sys = s->sys;
  uint64_t e = mmu__pte(slot);
  uint32_t f = mmu__leaf_frame(sys, e, 0), copy;
  if (f == MMU__NO_FRAME)
    return MMU_ERR_PT_BUS;
  info->fault_class = MMU_FAULT_MINOR;
  if (f != sys->zero_frame && sys->frame[f].refs == 1) {
    sys->frame[f].flags =
        (uint8_t)((sys->frame[f].flags | MMU__FRF_EXCLUSIVE) &
                  ~MMU__FRF_FILE_CLEAN);
    mmu__uncache(sys, f); /* its bytes stop being the slot's */
    sys->vm.cow_reuses++;
    mmu__anon_vma(s, r);
    __atomic_fetch_or(slot, MMU_PTE_W, __ATOMIC_ACQ_REL); /* keeps A */
  } else {
    int rc = mmu__frame_alloc_any(sys, &copy, f == sys->zero_frame);
    if (rc != MMU_OK)
      return rc;
    if (f == sys->zero_frame) {
      mmu__rss_add(s, 1);
    } else {
      memcpy(mmu__frame_host(sys, copy), mmu__frame_host(sys, f), MMU__PAGE);
      sys->frame[f].refs--;
      sys->vm.cow_copies++;
      info->fault_class = MMU_FAULT_COW;
    }
    mmu__page_new(sys, copy, r, va, MMU__FRF_EXCLUSIVE);
    mmu__anon_vma(s, r);
    mmu__entry_set(sys, table, slot,
                   mmu__frame_gpa(sys, copy) | mmu__leaf_flags(sys, r, 1));
  }
  mmu__shootdown(s, va, 1);
  return MMU_OK;
}

/* A page never touched (do_anonymous_page, do_read_fault, do_cow_fault).
 * An anonymous read maps the zero page, or, on a kernel without one, gets
 * a page of its own, mapped writable if the region is (so the write that
 * follows takes no fault) and giving the region its anon_vma. */
static int mmu__fault_new(mmu_space *s, mmu_region *r, uint64_t va,
                          uint64_t *slot, uint32_t table, int write,
                          mmu_fault_info *info) {
  mmu_system *sys = s->sys;
  uint32_t f;
  int anon = r->kind != MMU_REGION_FILE;
  info->fault_class = MMU_FAULT_MINOR;
  if (anon && !write && !(sys->flags & MMU_SYS_NO_ZERO_PAGE)) {
    sys->vm.zero_maps++;
    info->flags |= MMU_FAULTF_ZERO_PAGE;
    mmu__entry_set(sys, table, slot,
                   mmu__frame_gpa(sys, sys->zero_frame) |
                       mmu__leaf_flags(sys, r, 0));
    return MMU_OK;
  }
  int rc = mmu__frame_alloc(sys, &f);
  if (rc != MMU_OK)
    return rc;
  uint8_t flags = MMU__FRF_EXCLUSIVE;
  if (r->kind == MMU_REGION_FILE) {
    int did_io = 0;
    if (r->file->read_page(r->file->user, r->offset + (va - r->start),
                           mmu__frame_host(sys, f), &did_io) != 0) {
      mmu__frame_free(sys, f);
      return MMU_ERR_FILE;
    }
    if (did_io) {
      info->fault_class = MMU_FAULT_MAJOR;
      sys->vm.pgmajfault++;
    }
    if (!write)
      flags |= MMU__FRF_FILE_CLEAN;
  }
  if (anon || write)
    mmu__anon_vma(s, r);
  mmu__page_new(sys, f, r, va, flags);
  mmu__rss_add(s, 1);
  int writable = anon ? (r->prot & MMU_PROT_WRITE) != 0 : write;
  mmu__entry_set(sys, table, slot,
                 mmu__frame_gpa(sys, f) | mmu__leaf_flags(sys, r, writable));
  return MMU_OK;
}

static int mmu__space_fault(mmu_space *s, uint64_t cr2, uint32_t ec,
                            mmu_fault_info *info) {
  mmu_fault_info scratch;
  if (!info)
    info = &scratch;
  memset(info, 0, sizeof *info);
  info->addr = cr2;
  mmu_system *sys = s->sys;
  if (ec & MMU_PFEC_RSVD)
    return MMU_ERR_PT_BUS; /* our tables never set reserved bits */
  if (ec & MMU_PFEC_PK)
    return mmu__segv(info, MMU_SEGV_PKUERR);
  if (cr2 >= s->user_top)
    return mmu__segv(info, MMU_SEGV_MAPERR);
  int32_t i = mmu__region_find(s, cr2);
  if (i < 0) {
    if ((i = mmu__stack_grow(s, cr2)) < 0)
      return mmu__segv(info, MMU_SEGV_MAPERR);
    info->flags |= MMU_FAULTF_STACK_GROWN;
  }
  if (mmu__access_error(ec, &s->regions[i]))
    return mmu__segv(info, MMU_SEGV_ACCERR);
  mmu_region *r = &s->regions[i];
  int write = (ec & MMU_PFEC_W) != 0;
  uint64_t va = cr2 & ~0xFFFull;
  /* Reserve before touching any table: reclaim may rewrite entries of any
   * space, this one included. Three tables and a page at most; a present
   * entry needs a frame only to copy its page, and that page must stay
   * (Linux holds a reference on it): a write that takes it over is minor. */
  uint32_t need = 4;
  uint64_t *peek = NULL;
  if (!(r->flags & MMU_MAP_HUGETLB) &&
      mmu__walk_to(s, va, 1, 0, &peek, NULL) == MMU_OK && peek &&
      (mmu__pte(peek) & MMU_PTE_P)) {
    need = 1;
    sys->pinned = mmu__entry_frame(sys, mmu__pte(peek));
  }
  int rc = mmu__ensure_free(sys, need);
  sys->pinned = MMU__NO_FRAME;
  if (rc != MMU_OK)
    return rc;
  if (r->flags & MMU_MAP_HUGETLB) {
    rc = mmu__fault_huge(s, r, cr2, write, info);
  } else {
    uint64_t *slot;
    uint32_t table;
    rc = mmu__walk_to(s, va, 1, 1, &slot, &table);
    if (rc != MMU_OK)
      return rc;
    uint64_t e = mmu__pte(slot);
    if ((e & MMU_PTE_P) && r->kind == MMU_REGION_SHARED) {
      info->fault_class = MMU_FAULT_SPURIOUS;
      if (write && !(e & MMU_PTE_W)) { /* wp_page_shared: no copy */
        __atomic_fetch_or(slot, MMU_PTE_W, __ATOMIC_ACQ_REL);
        mmu__shootdown(s, va, 1);
        info->fault_class = MMU_FAULT_MINOR;
      }
    } else if (e & MMU_PTE_P) {
      rc = write && !(e & MMU_PTE_W)
               ? mmu__fault_wp(s, r, va, slot, table, info)
               : (info->fault_class = MMU_FAULT_SPURIOUS, MMU_OK);
    } else if (e & MMU__SWP_MARK) {
      rc = mmu__swap_in(s, va, slot, table, r, write, info);
      /* a write to a page others still share goes on to copy it */
      if (rc == MMU_OK && write && !(mmu__pte(slot) & MMU_PTE_W)) {
        uint32_t cls = info->fault_class;
        rc = mmu__fault_wp(s, r, va, slot, table, info);
        if (cls == MMU_FAULT_MAJOR)
          info->fault_class = cls;
      }
    } else if (e) {
      rc = MMU_ERR_PT_BUS; /* PROT_NONE entry in an accessible region */
    } else if (r->kind == MMU_REGION_SHARED) {
      rc = mmu__fault_shared(s, r, va, slot, table, write, info);
    } else {
      rc = mmu__fault_new(s, r, va, slot, table, write, info);
    }
  }
  if (rc != MMU_OK) {
    info->fault_class = MMU_FAULT_NONE;
    info->flags = 0;
    return rc;
  }
  sys->vm.pgfault++; /* failed faults too; the task's counts only not */
  if (info->fault_class == MMU_FAULT_SIGBUS)
    return MMU_OK;
  if (info->fault_class == MMU_FAULT_MAJOR)
    s->ru.majflt++;
  else
    s->ru.minflt++;
  return MMU_OK;
}

MMU_API int mmu_space_fault(mmu_space *s, uint64_t cr2, uint32_t ec,
                            mmu_fault_info *info) {
  MMU__TRY(mmu__check_space(s));
  return mmu__space_done(s, mmu__space_fault(s, cr2, ec, info));
}

MMU_API int mmu_space_access(mmu_space *s, mmu_cpu *cpu, uint64_t vaddr,
                             unsigned access, mmu_result *out,
                             mmu_fault_info *info) {
  mmu_fault_info scratch;
  mmu_result res;
  if (!info)
    info = &scratch;
  if (!out)
    out = &res;
  memset(info, 0, sizeof *info);
  MMU__TRY(mmu__check_space(s));
  MMU__TRY(MMU__CHECK_CPU(cpu));
  if (!MMU__ACCESS_OK(access))
    return MMU_ERR_ARG;
  /* One fault settles any access; a second covers a write that first
   * found its page swapped out read-only. More means the cpu is not
   * running this space. */
  for (int round = 0; round < 3; round++) {
    mmu_cpu_sync(cpu); /* what this cpu's own faults posted to it */
    int rc = mmu_translate(cpu, vaddr, access, out);
    if (rc != MMU_PAGE_FAULT)
      return rc;
    /* the caller is cpu's thread: out of guest code while the OS side
     * works, or it would wait for itself */
    int running = __atomic_load_n(&cpu->shoot_state, __ATOMIC_RELAXED) ==
                  MMU__CPU_RUNNING;
    if (running)
      mmu_cpu_leave(cpu);
    rc = mmu_space_fault(s, out->cr2, out->error_code, info);
    if (running)
      mmu_cpu_enter(cpu);
    if (rc != MMU_OK)
      return rc;
    if (info->fault_class == MMU_FAULT_SEGV ||
        info->fault_class == MMU_FAULT_SIGBUS)
      return MMU_PAGE_FAULT;
  }
  return MMU_ERR_STATE; /* faults that never settle: cpu not on this space */
}

static int mmu__space_copy(mmu_space *s, mmu_cpu *cpu, uint64_t vaddr,
                           uint8_t *buf, size_t len, unsigned access,
                           mmu_fault_info *info) {
  while (len) {
    mmu_result res;
    size_t chunk = MMU__PAGE - (vaddr & 0xFFF);
    if (chunk > len)
      chunk = len;
    int rc = mmu_space_access(s, cpu, vaddr, access, &res, info);
    if (rc != MMU_OK)
      return rc;
    if (!res.host)
      return MMU_ERR_RAM;
    if (access == MMU_WRITE)
      memcpy(res.host, buf, chunk);
    else
      memcpy(buf, res.host, chunk);
    buf += chunk;
    vaddr += chunk;
    len -= chunk;
  }
  return MMU_OK;
}

MMU_API int mmu_space_write(mmu_space *s, mmu_cpu *cpu, uint64_t vaddr,
                            const void *src, size_t len, mmu_fault_info *info) {
  if (!src && len)
    return MMU_ERR_ARG;
  return mmu__space_copy(s, cpu, vaddr, (uint8_t *)(uintptr_t)src, len,
                         MMU_WRITE, info);
}

MMU_API int mmu_space_read(mmu_space *s, mmu_cpu *cpu, uint64_t vaddr,
                           void *dst, size_t len, mmu_fault_info *info) {
  if (!dst && len)
    return MMU_ERR_ARG;
  return mmu__space_copy(s, cpu, vaddr, (uint8_t *)dst, len, MMU_READ, info);
}
