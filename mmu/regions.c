/* SPDX-License-Identifier: MIT */
/* regions.c - a space's regions (Linux's VMAs): a sorted array in the
 * space's storage, split and merged as mm/mmap.c does, and the
 * /proc/PID/maps text. */
#include "internal.h"

/* Index of the region holding addr, or -1. */
static int32_t mmu__region_find(const mmu_space *s, uint64_t addr) {
  uint32_t i = mmu__region_next(s, addr);
  return i < s->nregions && s->regions[i].start <= addr ? (int32_t)i : -1;
}

/* Index of the first region ending above addr (nregions if none). */
static uint32_t mmu__region_next(const mmu_space *s, uint64_t addr) {
  uint32_t lo = 0, hi = s->nregions;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->regions[mid].end <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int mmu__region_insert(mmu_space *s, const mmu_region *r,
                              uint32_t *index) {
  if (s->nregions >= s->max_regions)
    return MMU_ERR_NOSPACE;
  uint32_t i = mmu__region_next(s, r->start);
  MMU_ASSERT(i == s->nregions || s->regions[i].start >= r->end);
  memmove(&s->regions[i + 1], &s->regions[i],
          (s->nregions - i) * sizeof(mmu_region));
  s->regions[i] = *r;
  s->nregions++;
  if (r->object)
    mmu__object_mapped(r->object, 1);
  if (index)
    *index = i;
  return MMU_OK;
}

/* An object's count of regions goes with every region that maps it; the
 * last one gone frees an anonymous object's pages (object.c). */
static void mmu__region_remove(mmu_space *s, uint32_t i) {
  mmu_object *o = s->regions[i].object;
  memmove(&s->regions[i], &s->regions[i + 1],
          (s->nregions - i - 1) * sizeof(mmu_region));
  s->nregions--;
  if (o)
    mmu__object_mapped(o, -1);
}

/* Every region goes (exec, exit): the page tables are torn down already. */
static void mmu__regions_drop(mmu_space *s) {
  while (s->nregions)
    mmu__region_remove(s, s->nregions - 1);
}

/* Region i becomes [start, addr) and [addr, end). */
static int mmu__region_split(mmu_space *s, uint32_t i, uint64_t addr) {
  mmu_region *r = &s->regions[i];
  MMU_ASSERT(addr > r->start && addr < r->end && !(addr & 0xFFF));
  if (s->nregions >= s->max_regions)
    return MMU_ERR_NOSPACE;
  mmu_region upper = *r;
  upper.start = addr;
  upper.offset = r->offset + (addr - r->start);
  r->end = addr;
  memmove(&s->regions[i + 2], &s->regions[i + 1],
          (s->nregions - i - 1) * sizeof(mmu_region));
  s->regions[i + 1] = upper;
  s->nregions++;
  if (upper.object)
    mmu__object_mapped(upper.object, 1);
  return MMU_OK;
}

/* An anon_vma may be shared with a region that has none yet only while
 * its chain is singular (is_mergeable_anon_vma, reusable_anon_vma). */
static int mmu__anon_compatible(const mmu_region *a, const mmu_region *b) {
  if (a->anon_id && b->anon_id)
    return a->anon_id == b->anon_id;
  const mmu_region *has = a->anon_id ? a : b;
  return !has->anon_id || !(has->vm & MMU_VM_FORKED_ANON);
}

/* Anonymous kinds (heap, stack, plain) are all plain anonymous VMAs to
 * Linux: [heap] and [stack] are names by address, not VMA types. Offsets
 * (vm_pgoff) must run on for any kind: an anonymous region's is where its
 * pages were first mapped, which mremap keeps. */
static int mmu__region_same_class(const mmu_region *a, const mmu_region *b) {
  return (a->kind == MMU_REGION_FILE) == (b->kind == MMU_REGION_FILE) &&
         a->file == b->file && a->object == b->object &&
         a->offset + (a->end - a->start) == b->offset;
}

/* a right below b, alike but for access rights and anon_vma: equal flags
 * (VM_ACCOUNT included), file and contiguous offsets (anon_vma_compatible
 * and the first half of is_mergeable_vma). */
static int mmu__region_alike(const mmu_region *a, const mmu_region *b) {
  return a->end == b->start && a->flags == b->flags &&
         ((a->vm ^ b->vm) & MMU_VM_ACCOUNT) == 0 &&
         mmu__region_same_class(a, b);
}

/* Linux merges neighbours alike, with equal rights and compatible
 * anon_vmas (is_mergeable_vma, is_mergeable_anon_vma). */
static int mmu__region_mergeable(const mmu_region *a, const mmu_region *b) {
  return mmu__region_alike(a, b) && a->prot == b->prot &&
         mmu__anon_compatible(a, b);
}

/* Region i takes in region i + 1. */
static int mmu__region_join(mmu_space *s, uint32_t i) {
  mmu_region *a = &s->regions[i];
  const mmu_region *b = &s->regions[i + 1];
  a->end = b->end;
  if (!a->anon_id) {
    a->anon_id = b->anon_id;
    a->vm |= b->vm;
  }
  mmu__region_remove(s, i + 1);
  return 1;
}

/* Regions i and i + 1 become one if Linux would merge them. */
static int mmu__region_merge_next(mmu_space *s, uint32_t i) {
  return i + 1 < s->nregions &&
         mmu__region_mergeable(&s->regions[i], &s->regions[i + 1]) &&
         mmu__region_join(s, i);
}

/* Region i, just grown in place (mremap: vma_merge_extend), and region
 * i + 1: the grown range is a new range with no VMA of its own, so region
 * i's anon_vma goes to a next region that has none whatever region i's
 * chain holds (is_mergeable_anon_vma, case 1 without a middle VMA). */
static int mmu__region_merge_grown(mmu_space *s, uint32_t i) {
  if (i + 1 >= s->nregions)
    return 0;
  const mmu_region *a = &s->regions[i], *b = &s->regions[i + 1];
  return mmu__region_alike(a, b) && a->prot == b->prot &&
         ((a->anon_id && !b->anon_id) || mmu__anon_compatible(a, b)) &&
         mmu__region_join(s, i);
}

/* Merge every mergeable pair among regions first-1 .. last+1. */
static void mmu__region_merge_around(mmu_space *s, uint32_t first,
                                     uint32_t last) {
  uint32_t i = first ? first - 1 : 0;
  uint32_t stop = last + 1;
  while (i + 1 < s->nregions && i < stop) {
    if (mmu__region_merge_next(s, i))
      stop--;
    else
      i++;
  }
}

/* Lowest address a mapping may reach below region i: a stack keeps its
 * guard gap free (Linux's vm_start_gap). */
static uint64_t mmu__region_gap_below(const mmu_space *s, uint32_t i) {
  const mmu_region *r = &s->regions[i];
  if (!(r->flags & MMU_MAP_GROWSDOWN))
    return r->start;
  return r->start > s->stack_guard_gap ? r->start - s->stack_guard_gap : 0;
}

MMU_API const mmu_rusage *mmu_space_rusage(const mmu_space *space) {
  return mmu__check_space(space) == MMU_OK ? &space->ru : NULL;
}

MMU_API const mmu_region *mmu_space_regions(const mmu_space *space,
                                            uint32_t *count) {
  int ok = mmu__check_space(space) == MMU_OK;
  if (count)
    *count = ok ? space->nregions : 0;
  return ok ? space->regions : NULL;
}

/* ---- /proc/PID/maps --------------------------------------------------- */

/* printf's %0*lx (min_digits wide) and %lu, into report.c's sink. */
static void mmu__put_num(mmu__sink *t, uint64_t v, unsigned base,
                         unsigned min_digits) {
  char d[24], *end = d + sizeof d, *p = end;
  do {
    *--p = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while ((unsigned)(end - p) < min_digits)
    *--p = '0';
  mmu__put(t, p, (size_t)(end - p));
}

/* Linux prints "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " and, for a
 * named region, pads with spaces to column 72 then one more before the
 * name (fs/proc/task_mmu.c: seq_setwidth(25 + 6 * sizeof(void *) - 1) and
 * seq_pad). Anonymous regions keep the trailing space. */
MMU_API size_t mmu_space_maps(const mmu_space *space, char *buf, size_t cap) {
  mmu__sink t = mmu__sink_at(buf, cap);
  if (mmu__check_space(space) != MMU_OK)
    space = NULL; /* the empty text */
  for (uint32_t i = 0; space && i < space->nregions; i++) {
    const mmu_region *r = &space->regions[i];
    const mmu_file *f = r->kind == MMU_REGION_FILE ? r->file : NULL;
    const mmu_object *o = r->kind == MMU_REGION_SHARED ? r->object : NULL;
    if (o)
      f = o->file;
    /* MAP_SHARED | MAP_ANONYMOUS is a shmem file (shmem_zero_setup) */
    int shm = o && !f;
    size_t line = t.len;
    mmu__put_num(&t, r->start, 16, 8);
    mmu__puts(&t, "-");
    mmu__put_num(&t, r->end, 16, 8);
    mmu__puts(&t, " ");
    mmu__puts(&t, r->prot & MMU_PROT_READ ? "r" : "-");
    mmu__puts(&t, r->prot & MMU_PROT_WRITE ? "w" : "-");
    mmu__puts(&t, r->prot & MMU_PROT_EXEC ? "x" : "-");
    mmu__puts(&t, o ? "s" : "p");
    mmu__puts(&t, " ");
    mmu__put_num(&t, f || o ? r->offset : 0, 16, 8);
    mmu__puts(&t, " ");
    mmu__put_num(&t, f ? f->dev_major : 0, 16, 2);
    mmu__puts(&t, ":");
    mmu__put_num(&t, f ? f->dev_minor : (uint32_t)shm, 16, 2);
    mmu__puts(&t, " ");
    mmu__put_num(&t, f ? f->inode : o ? o->inode : 0, 10, 1);
    mmu__puts(&t, " ");
    /* [stack] is the region holding the initial stack pointer only, not
     * every MAP_GROWSDOWN one (vma_is_initial_stack) */
    int stack = space->start_stack && r->start <= space->start_stack &&
                r->end >= space->start_stack;
    /* [heap] is any VMA overlapping [start_brk, brk) (vma_is_initial_heap,
     * Linux 6.7+; older kernels also named ones touching it) */
    int heap = space->start_brk && r->start < space->brk &&
               r->end > space->start_brk;
    const char *name = f       ? f->path
                       : shm   ? "/dev/zero (deleted)"
                       : heap  ? "[heap]"
                       : stack ? "[stack]"
                               : NULL;
    if (name) {
      if (t.len - line < 72)
        mmu__blanks(&t, 72 - (t.len - line));
      mmu__puts(&t, " ");
      mmu__puts(&t, name);
    }
    mmu__puts(&t, "\n");
  }
  return mmu__sink_end(&t);
}
