/* SPDX-License-Identifier: MIT */
/* space_model.h - the OS side (mmu_system, mmu_space) against a shadow
 * model, driven by a byte string. Shared by fuzz/fuzz_space_sequence.c (any
 * engine) and tests/test_space_property.c (fixed-seed PRNG inputs).
 *
 * One system (pool 64..256 frames, or 1600 for 2 MiB pages; in-memory swap
 * of 0..64 slots; LRU, Clock, LFU or the two lists; NX or not; 4- or
 * 5-level paging) and up to
 * four spaces run a sequence of: mmap (anonymous, private file, stack,
 * hugetlb; fixed or placed; any prot), munmap, mprotect,
 * madvise(DONTNEED), brk, mremap, fork, exit, a new process, reads
 * (which may cross a page), writes, fetches, mmu_system_reclaim,
 * mmu_system_age, swap faults injected (failing writes, short reads, a
 * swap slot's bytes flipped), failing file reads, maps dumps, and
 * MAP_SHARED: two object slots (anonymous, or a file's with a write_page
 * that checks and keeps what it is given), created, mapped with
 * mmu_space_mmap_object (fixed or placed, offsets and lengths running past
 * the object's end, populated or not, odd flags), touched through any
 * space (forked children share the pages), msync, mmu_object_sync,
 * mmu_object_destroy and MADV_FREE (EINVAL) on them. Every
 * mapping lies in one window of SM_NPAGES pages (mmap_base is its top, so
 * placed mappings land there too); the model keeps, per space and page:
 * mapped or not, prot, kind, flags, file and file offset, and the bytes of
 * eight 8-byte slots ever written (other bytes: zero, or the file's).
 *
 * Checked after every operation:
 *  - a read returns exactly the model's bytes; a write in one space never
 *    shows in another (each forked child is a copy of the model) unless
 *    the page is an object's, whose bytes the model keeps once for all;
 *  - a shared page past its object's end is SIGBUS (vm.pgfault +1, the
 *    task's minflt +0); an access of one shared page takes the fault
 *    class the model says (none when its entry is there, else minor, or
 *    major for a file page read_page reads with I/O), with the counts to
 *    match, fault-around mapping the resident pages of the 16-page window
 *    in the region; no class is checked on what a reclaim may have moved
 *    (vm.pgsteal moved: the model forgets which pages and entries are
 *    there until a fault settles them);
 *  - write_page gets only pages the model has dirty, each with the model's
 *    bytes; msync, mmu_object_sync and mmu_object_destroy write back
 *    exactly the dirty pages they cover; destroy is BUSY while the model
 *    counts a region; mmu_object_mappings is the model's count of regions
 *    (maximal runs of an object's pages) in every space, and an anonymous
 *    object with none has no page (frames and slots, in the usage check);
 *  - an access the region allows never SIGSEGVs; one it does not is
 *    SIGSEGV with MAPERR (no region) or ACCERR (region without the right),
 *    at the faulting address; stacks grow as the fault handler's rules say
 *    (RLIMIT_STACK, guard gap), modelled page by page;
 *  - errors are the documented clean ones and only when their cause holds:
 *    NOMEM with fewer frames free than the call reserves (or a 2 MiB page),
 *    NOSWAP with every slot used, SWAP_IO while a swap fault is injected,
 *    SWAP_CORRUPT once a slot was flipped, FILE while file reads fail;
 *    mmap/munmap/mprotect/brk/mremap errors (ARG, NOSPACE, BADADDR)
 *    exactly when Linux's rules (and a full region table) say. After SWAP_IO the fault is
 *    cleared and the call retried: it must then succeed or fail cleanly,
 *    with the model's bytes. A page that reported SWAP_CORRUPT reports it
 *    on every later access: never wrong bytes;
 *  - mmu_space_regions(): sorted, disjoint, page aligned; page for page the
 *    model's coverage, prot, kind, flags, file and offset; no two
 *    neighbours the library's own merge rule would have merged, stacks
 *    grown onto stacks aside (region boundaries inside equal runs depend
 *    on anon_vma identity, which the model does not track);
 *  - mmu_system_usage(): free + page tables + user pages + the zero page =
 *    total; page-table frames = the spaces' own counts; user frames <= the
 *    sum of RSS and the object pages that may be resident; per space RSS +
 *    swap entries <= pages mapped; slots used <= swap entries and the
 *    anonymous objects' pages that may be in swap, some used if a swap
 *    entry is, none unless one of those; pswpout = writes the device took;
 *    maps text has one line per region.
 * At the end (faults cleared) every page with written bytes, and a sample
 * of the rest, is read back in every space, then every space is destroyed
 * and every object (file ones write their dirty pages back): no page-table
 * frame, no user frame, no slot left; free = total - 1.
 *
 * Decoding: one fi_* call per statement; zero bytes decode to a fixed,
 * anonymous, read-write mapping and writes to it. */
#ifndef MMU_FUZZ_SPACE_MODEL_H_INCLUDED
#define MMU_FUZZ_SPACE_MODEL_H_INCLUDED

#include <stddef.h>

#include "fuzz_common.h"
#include "../tests/os_world.h"

/* The property test routes failures through its own reporter. */
#ifndef SM_FAIL
#define SM_FAIL fz_fail
#endif
#define SM_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond))                                                             \
      SM_FAIL(__VA_ARGS__);                                                  \
  } while (0)

/* The model's own loops are not what the fuzzer should steer by: no
 * coverage hooks in them (they cost more than the library's otherwise). */
#if defined(__clang__) && __clang_major__ >= 13
#define SM_NOCOV __attribute__((no_sanitize("coverage"), noinline))
#else
#define SM_NOCOV
#endif
/* The model's whole-state scans read only the model and the library's
 * region table: no shadow checks on their thousands of loads (the
 * library's own accesses stay checked). */
#if defined(__clang__) || defined(__GNUC__)
#define SM_NOASAN __attribute__((no_sanitize("address")))
#else
#define SM_NOASAN
#endif

/* Operations between the whole-state checks (regions against the model's
 * pages, frame usage): 1 for the unit tests; the fuzz target reads
 * SM_CHECK_EVERY (default 8), as each check costs more than an op. */
static unsigned sm_check_interval = 1;

#define SM_PAGE 4096ull
#define SM_NPAGES 1024u                 /* 4 MiB: two 2 MiB pages */
#define SM_WBASE 0x10000000ull          /* 2 MiB aligned */
#define SM_WEND (SM_WBASE + SM_NPAGES * SM_PAGE)
#define SM_HEAP_PAGE 512u               /* start_brk */
#define SM_MAX_SPACES 4
#define SM_MAX_OPS 300
static unsigned sm_max_ops = SM_MAX_OPS; /* operations read per input */
#define SM_NSLOT 8
#define SM_MIN_ADDR 0x1000ull           /* vm.mmap_min_addr */
#define SM_USER_TOP (0x800000000000ull - 4096)

static const uint16_t sm_slot_off[SM_NSLOT] = {0,    8,    512,  2040,
                                               2048, 3072, 4080, 4088};

typedef struct sm_page {
  uint8_t mapped, prot, kind, flags; /* MMU_PROT_*, MMU_REGION_*, MMU_MAP_* */
  uint8_t file;                      /* 0, or 1 + index into sm_state.file */
  uint8_t poisoned;                  /* reported SWAP_CORRUPT */
  uint8_t obj;                       /* shared: 1 + index into sm_state.obj */
  uint8_t ent;                       /* shared: SM_ENT_* (its own entry) */
  uint32_t foff;                     /* file offset, pages */
  uint64_t mask;                     /* bit 8 * slot + byte: written */
  uint8_t val[SM_NSLOT][8];
} sm_page;

typedef struct sm_space {
  int live;
  unsigned pid;
  mmu_space sp;
  uint64_t brk;
  /* pages [obj_lo, obj_hi) hold every page of a shared object (empty
   * while obj_hi is 0): what the object checks scan */
  unsigned obj_lo, obj_hi;
  sm_page page[SM_NPAGES];
} sm_space;

static void sm_note_obj(sm_space *m, unsigned p0, unsigned n) {
  if (!n)
    return;
  if (!m->obj_hi || p0 < m->obj_lo)
    m->obj_lo = p0;
  if (p0 + n > m->obj_hi)
    m->obj_hi = p0 + n;
}

typedef struct sm_file {
  mmu_file f;
  unsigned id;
  uint64_t size; /* bytes; zeros past it */
  int *fail;
  struct sm_state *st; /* file objects' files: the model, for writeback */
  int obj;             /* -1, or the object whose file this is */
} sm_file;

/* MAP_SHARED objects (SPEC 9.2.1): the model keeps, per object page, the
 * bytes written (as sm_page does), whether it is dirty (file objects: a
 * write since its last writeback), where it is, and the bytes its file
 * got back (file objects: read again after the page was dropped). Where a
 * page is, and whether a space's entry maps it, the model knows until the
 * library reclaims (vm.pgsteal moves: the model cannot tell which pages
 * went); then "unknown" until the next fault settles it, and no fault
 * class is checked on what is unknown. */
#define SM_MAX_OBJ 2
#define SM_OBJ_PAGES 32
enum { SM_RES_NONE, SM_RES_MEM, SM_RES_SWAP, SM_RES_UNKNOWN };
enum { SM_ENT_NONE, SM_ENT_PRESENT, SM_ENT_UNKNOWN };

typedef struct sm_opage {
  uint8_t res, dirty, poisoned;
  uint64_t mask, dmask; /* written; and as the file has it */
  uint8_t val[SM_NSLOT][8], dval[SM_NSLOT][8];
} sm_opage;

typedef struct sm_obj {
  int live;
  unsigned file; /* 0 anonymous, or 1 + index into sm_state.file */
  uint32_t pages, mappings;
  uint64_t wb; /* pages written back during this operation */
  mmu_object o;
  uint64_t storage[SM_OBJ_PAGES];
  sm_opage pg[SM_OBJ_PAGES];
} sm_obj;

typedef struct sm_state {
  osw w;
  unsigned frames, policy;
  uint32_t sysflags;
  mmu_space_config cfg;
  sm_space s[SM_MAX_SPACES];
  sm_file file[2 + SM_MAX_OBJ]; /* private mappings' two, objects' own */
  sm_obj obj[SM_MAX_OBJ];
  int file_fail, corrupted_ever, huge_ever;
  uint64_t corrupted_slots; /* bit per swap slot (at most 64) */
  int active; /* space loaded in the cpu's CR3, -1 none */
  /* A second vCPU, managed (SPEC 2.3): it enters around its own accesses
   * and is idle otherwise, so the OS side posts it shootdowns that it
   * applies when it enters again. The first cpu stays unmanaged (its TLB
   * invalidated directly). Accesses run on the cpu sm_pick_space chose. */
  mmu_cpu cpu1;
  int active1;
  unsigned vcpu;
  unsigned op, pids;
  uint8_t seq;
  /* what happened, for the trace and the property test's coverage */
  unsigned n_ok, n_segv, n_err, n_cow_checks, n_retry;
  unsigned n_shared_classes, n_sigbus, n_writebacks;
} sm_state;

static inline uint64_t sm_va(unsigned p) { return SM_WBASE + p * SM_PAGE; }

static inline uint8_t sm_file_byte(unsigned id, uint64_t size, uint64_t pos) {
  if (pos >= size)
    return 0;
  return (uint8_t)(((uint32_t)pos * 0x9E3779B1u) >> 24) ^ (uint8_t)(id * 0x3D);
}

/* The byte at offset o of a page: written slot bytes over the file's
 * (file 1 + index into sm_state.file, at page foff) or zeros. */
SM_NOCOV static uint8_t sm_byte(const sm_state *st, uint64_t mask,
                                const uint8_t val[SM_NSLOT][8], unsigned file,
                                uint32_t foff, unsigned o) {
  for (unsigned k = 0; k < SM_NSLOT; k++)
    if (o >= sm_slot_off[k] && o < sm_slot_off[k] + 8u) {
      unsigned b = o - sm_slot_off[k];
      if ((mask >> (8 * k + b)) & 1)
        return val[k][b];
      break;
    }
  if (file) {
    const sm_file *f = &st->file[file - 1];
    return sm_file_byte(f->id, f->size, (uint64_t)foff * SM_PAGE + o);
  }
  return 0;
}

/* Each file id's bytes as if its file were SM_FILE_MAX long (sm_file_byte),
 * built once for the process: a page of a file is then one copy up to the
 * file's size (which an object's file changes) and zeros past it. */
#define SM_FILE_MAX (40 * SM_PAGE)
SM_NOCOV static const uint8_t *sm_file_image(unsigned id) {
  static uint8_t image[2 + SM_MAX_OBJ][SM_FILE_MAX];
  static uint8_t built[2 + SM_MAX_OBJ];
  if (id < 1 || id > 2 + SM_MAX_OBJ)
    return NULL;
  uint8_t *img = image[id - 1];
  if (!built[id - 1]) {
    for (uint64_t pos = 0; pos < SM_FILE_MAX; pos++)
      img[pos] = sm_file_byte(id, SM_FILE_MAX, pos);
    built[id - 1] = 1;
  }
  return img;
}

/* A page of file bytes from pos, then the written slot bytes of mask/val
 * over it: what sm_byte gives for each offset, a page at a time. */
SM_NOCOV static void sm_fill_page(uint8_t *b, const sm_file *f, uint64_t pos,
                                  uint64_t mask, const uint8_t val[SM_NSLOT][8]) {
  const uint8_t *img = f->size <= SM_FILE_MAX ? sm_file_image(f->id) : NULL;
  if (img || !f->size) {
    uint64_t n = pos < f->size ? f->size - pos : 0;
    if (n > SM_PAGE)
      n = SM_PAGE;
    if (n)
      memcpy(b, img + pos, n);
    memset(b + n, 0, SM_PAGE - n);
  } else {
    for (unsigned i = 0; i < 4096; i++)
      b[i] = sm_file_byte(f->id, f->size, pos + i);
  }
  for (unsigned k = 0; mask && k < SM_NSLOT; k++)
    for (unsigned j = 0; j < 8; j++)
      if ((mask >> (8 * k + j)) & 1)
        b[sm_slot_off[k] + j] = val[k][j];
}

static int sm_read_page(void *user, uint64_t off, void *page, int *did_io) {
  const sm_file *f = (const sm_file *)user;
  if (*f->fail)
    return -1;
  if (f->obj >= 0 && (off >> 12) < f->st->obj[f->obj].pages) {
    /* an object's file: what was written back over the file it maps */
    const sm_obj *o = &f->st->obj[f->obj];
    const sm_opage *d = &o->pg[off >> 12];
    static const sm_file none; /* size 0: all zero bytes */
    const sm_file *base = o->file ? &f->st->file[o->file - 1] : &none;
    sm_fill_page((uint8_t *)page, base, (off >> 12) * SM_PAGE, d->dmask,
                 d->dval);
  } else {
    sm_fill_page((uint8_t *)page, f, off, 0, NULL);
  }
  *did_io = (off >> 12) & 1; /* every other page "from the medium" */
  return 0;
}

static sm_opage *sm_opage_of(sm_state *st, const sm_page *pg) {
  sm_obj *o = &st->obj[pg->obj - 1];
  return pg->foff < o->pages ? &o->pg[pg->foff] : NULL;
}

/* The byte at offset o of page p, as the model has it. */
SM_NOCOV static uint8_t sm_expect(const sm_state *st, const sm_page *pg, unsigned o) {
  if (pg->obj) { /* past the object's end: SIGBUS, never read */
    const sm_obj *ob = &st->obj[pg->obj - 1];
    if (pg->foff >= ob->pages)
      return 0;
    const sm_opage *op = &ob->pg[pg->foff];
    return sm_byte(st, op->mask, op->val, pg->file, pg->foff, o);
  }
  return sm_byte(st, pg->mask, pg->val, pg->file, pg->foff, o);
}

/* A file object's writeback: only a page the model has dirty, with the
 * model's bytes; the file keeps them. */
SM_NOCOV static int sm_write_page(void *user, uint64_t off, const void *page) {
  const sm_file *f = (const sm_file *)user;
  sm_state *st = f->st;
  sm_obj *ob = &st->obj[f->obj];
  uint64_t i = off >> 12;
  SM_CHECK(f->obj >= 0 && !(off & 0xFFF) && i < ob->pages && ob->live,
           "op %u: write_page at 0x%llx of object %d", st->op,
           (unsigned long long)off, f->obj);
  sm_opage *op = &ob->pg[i];
  SM_CHECK(op->dirty && !((ob->wb >> i) & 1),
           "op %u: object %d: page %llu written back clean (dirty %u, "
           "already written back in this operation %u)",
           st->op, f->obj, (unsigned long long)i, op->dirty,
           (unsigned)((ob->wb >> i) & 1));
  const uint8_t *b = (const uint8_t *)page;
  static uint8_t want[SM_PAGE];
  static const sm_file none; /* size 0: all zero bytes */
  sm_fill_page(want, ob->file ? &st->file[ob->file - 1] : &none, i * SM_PAGE,
               op->mask, op->val);
  for (unsigned o = 0; o < 4096 && memcmp(b, want, SM_PAGE); o++)
    SM_CHECK(b[o] == want[o],
             "op %u: object %d: page %llu written back with byte 0x%02x at "
             "%u, the model has 0x%02x",
             st->op, f->obj, (unsigned long long)i, b[o], o, want[o]);
  fz_trace("op %u: object %d: page %llu written back\n", st->op, f->obj,
           (unsigned long long)i);
  st->n_writebacks++;
  op->dirty = 0;
  op->dmask = op->mask;
  memcpy(op->dval, op->val, sizeof op->dval);
  ob->wb |= 1ull << i;
  return 0;
}

static void sm_page_map(sm_page *pg, unsigned prot, unsigned kind,
                        unsigned flags, unsigned file, uint32_t foff) {
  memset(pg, 0, sizeof *pg);
  pg->mapped = 1;
  pg->prot = (uint8_t)prot;
  pg->kind = (uint8_t)kind;
  pg->flags = (uint8_t)flags;
  pg->file = (uint8_t)file;
  pg->foff = foff;
}

/* ---- the library's region table, for counts and boundaries ------------- */

SM_NOCOV static const mmu_region *sm_region_at(const mmu_space *sp, uint64_t va) {
  uint32_t n;
  const mmu_region *r = mmu_space_regions(sp, &n);
  for (uint32_t i = 0; i < n; i++)
    if (r[i].start <= va && va < r[i].end)
      return &r[i];
  return NULL;
}

static uint32_t sm_nregions(const mmu_space *sp) {
  uint32_t n;
  mmu_space_regions(sp, &n);
  return n;
}

/* ---- consistency checks ------------------------------------------------ */

SM_NOCOV SM_NOASAN static void sm_check_regions(sm_state *st, unsigned si, const char *what) {
  sm_space *m = &st->s[si];
  uint32_t n;
  const mmu_region *r = mmu_space_regions(&m->sp, &n);
  unsigned covered = 0, mapped = 0;
  SM_CHECK(n <= m->sp.max_regions, "op %u (%s): space %u: %u regions", st->op,
           what, si, n);
  for (uint32_t i = 0; i < n; i++) {
    const mmu_region *a = &r[i];
    SM_CHECK(a->start < a->end && !(a->start & 0xFFF) && !(a->end & 0xFFF) &&
                 a->start >= SM_WBASE && a->end <= SM_WEND &&
                 (i == 0 || r[i - 1].end <= a->start),
             "op %u (%s): space %u: region %u [0x%llx, 0x%llx) malformed, "
             "outside the window or out of order",
             st->op, what, si, i, (unsigned long long)a->start,
             (unsigned long long)a->end);
    if (i > 0) {
      const mmu_region *b = &r[i - 1];
      /* Linux's vma_merge rules (SPEC.md 9.2): anonymous kinds are one,
       * VM_ACCOUNT must agree, and an anon_vma whose chain holds a
       * parent's (after fork) is shared with no region lacking one */
      const mmu_region *has = b->anon_id ? b : a;
      int mergeable =
          b->end == a->start && b->prot == a->prot &&
          (b->kind == MMU_REGION_FILE) == (a->kind == MMU_REGION_FILE) &&
          b->flags == a->flags && b->file == a->file &&
          b->object == a->object &&
          ((a->vm ^ b->vm) & MMU_VM_ACCOUNT) == 0 &&
          b->offset + (b->end - b->start) == a->offset && /* any kind */
          (b->anon_id && a->anon_id
               ? b->anon_id == a->anon_id
               : !has->anon_id || !(has->vm & MMU_VM_FORKED_ANON));
      /* a stack grown down onto another one is not merged with it
       * (Linux's expand_downwards neither) */
      if (a->flags & b->flags & MMU_MAP_GROWSDOWN)
        mergeable = 0;
      SM_CHECK(!mergeable,
               "op %u (%s): space %u: regions %u and %u at 0x%llx should "
               "have been merged",
               st->op, what, si, i - 1, i, (unsigned long long)a->start);
    }
    for (uint64_t va = a->start; va < a->end; va += SM_PAGE) {
      unsigned p = (unsigned)((va - SM_WBASE) / SM_PAGE);
      const sm_page *pg = &m->page[p];
      const mmu_file *f = pg->file ? &st->file[pg->file - 1].f : NULL;
      int shared = a->kind == MMU_REGION_SHARED;
      SM_CHECK(pg->mapped && pg->prot == a->prot &&
                   (pg->kind == MMU_REGION_FILE) ==
                       (a->kind == MMU_REGION_FILE) &&
                   pg->flags == a->flags &&
                   (a->kind == MMU_REGION_FILE || shared ? a->file == f
                                                         : !pg->file) &&
                   shared == (pg->obj != 0) &&
                   (!shared || a->object == &st->obj[pg->obj - 1].o) &&
                   (!shared || a->offset + (va - a->start) ==
                                   (uint64_t)pg->foff * SM_PAGE) &&
                   (!f || a->offset + (va - a->start) ==
                              (uint64_t)pg->foff * SM_PAGE),
               "op %u (%s): space %u: page 0x%llx: region prot %u kind %u "
               "flags %u file %p offset 0x%llx; model mapped %u prot %u kind "
               "%u flags %u file %u offset page %u",
               st->op, what, si, (unsigned long long)va, a->prot, a->kind,
               a->flags, (const void *)a->file,
               (unsigned long long)(a->offset + (va - a->start)), pg->mapped,
               pg->prot, pg->kind, pg->flags, pg->file, pg->foff);
      covered++;
    }
  }
  for (unsigned p = 0; p < SM_NPAGES; p++)
    mapped += m->page[p].mapped;
  SM_CHECK(covered == mapped,
           "op %u (%s): space %u: regions cover %u pages, the model maps %u",
           st->op, what, si, covered, mapped);
}

SM_NOCOV SM_NOASAN static void sm_check_usage(sm_state *st, const char *what) {
  mmu_usage u;
  mmu_system_usage(&st->w.sys, &u);
  uint64_t pt = 0, rss = 0, swp = 0;
  /* objects' pages: frames nobody may map, slots no entry names */
  uint64_t ores = 0, oswap = 0;
  for (unsigned k = 0; k < SM_MAX_OBJ; k++)
    for (unsigned i = 0; st->obj[k].live && i < st->obj[k].pages; i++) {
      unsigned r = st->obj[k].pg[i].res;
      ores += r == SM_RES_MEM || r == SM_RES_UNKNOWN;
      oswap += !st->obj[k].file && (r == SM_RES_SWAP || r == SM_RES_UNKNOWN);
    }
  for (unsigned i = 0; i < SM_MAX_SPACES; i++) {
    sm_space *m = &st->s[i];
    if (!m->live)
      continue;
    unsigned mapped = 0;
    for (unsigned p = 0; p < SM_NPAGES; p++)
      mapped += m->page[p].mapped;
    SM_CHECK(m->sp.ru.rss_pages + m->sp.ru.swap_pages <= mapped,
             "op %u (%s): space %u: rss %llu + swap entries %llu > %u pages "
             "mapped",
             st->op, what, i, (unsigned long long)m->sp.ru.rss_pages,
             (unsigned long long)m->sp.ru.swap_pages, mapped);
    pt += m->sp.pt_frames;
    rss += m->sp.ru.rss_pages;
    swp += m->sp.ru.swap_pages;
  }
  SM_CHECK(u.frames_total == st->frames &&
               u.frames_free + u.frames_pt + u.frames_anon + 1 ==
                   u.frames_total &&
               u.frames_pt == pt && u.frames_anon <= rss + ores,
           "op %u (%s): usage: total %llu free %llu pt %llu (spaces %llu) "
           "anon %llu (rss %llu, objects' pages %llu)",
           st->op, what, (unsigned long long)u.frames_total,
           (unsigned long long)u.frames_free, (unsigned long long)u.frames_pt,
           (unsigned long long)pt, (unsigned long long)u.frames_anon,
           (unsigned long long)rss, (unsigned long long)ores);
  SM_CHECK(u.swap_total == st->w.swap.slots && u.swap_used <= u.swap_total &&
               u.swap_used <= swp + oswap && (swp == 0 || u.swap_used) &&
               (u.swap_used == 0 || swp || oswap),
           "op %u (%s): swap: %llu of %llu slots used, %llu swap entries, "
           "%llu object pages maybe in swap",
           st->op, what, (unsigned long long)u.swap_used,
           (unsigned long long)u.swap_total, (unsigned long long)swp,
           (unsigned long long)oswap);
  SM_CHECK(st->w.sys.vm.pswpout == st->w.swap.writes,
           "op %u (%s): pswpout %llu, the device took %llu writes", st->op,
           what, (unsigned long long)st->w.sys.vm.pswpout,
           (unsigned long long)st->w.swap.writes);
}

/* ---- accesses ------------------------------------------------------------ */

enum { SM_ALLOWED, SM_MAPERR, SM_ACCERR, SM_SIGBUS };

/* Grow a stack down to page p as mmu__stack_grow does (the fault handler
 * grows before it checks the access). 1 if it grew. */
static int sm_stack_grow(sm_state *st, sm_space *m, unsigned p) {
  unsigned q = p + 1;
  while (q < SM_NPAGES && !m->page[q].mapped)
    q++;
  if (q == SM_NPAGES || !(m->page[q].flags & MMU_MAP_GROWSDOWN))
    return 0;
  /* RLIMIT_STACK counts from the end of the library's region (its
   * boundaries inside an equal run are its own business; the library has
   * already moved its start when this runs) */
  const mmu_region *r = sm_region_at(&m->sp, sm_va(q));
  SM_CHECK(r != NULL, "op %u: no region at 0x%llx", st->op,
           (unsigned long long)sm_va(q));
  if (r->end - sm_va(p) > st->cfg.stack_limit)
    return 0;
  int b = (int)p - 1;
  while (b >= 0 && !m->page[b].mapped)
    b--;
  if (b >= 0 && !(m->page[b].flags & MMU_MAP_GROWSDOWN) && m->page[b].prot &&
      sm_va(p) - sm_va((unsigned)b + 1) < st->cfg.stack_guard_gap)
    return 0;
  for (unsigned k = p; k < q; k++)
    sm_page_map(&m->page[k], m->page[q].prot, m->page[q].kind,
                m->page[q].flags, 0, 0);
  fz_trace("op %u: stack grows to 0x%llx\n", st->op,
           (unsigned long long)sm_va(p));
  return 1;
}

/* What touching page p with `access` must give; grows stacks. */
static int sm_classify(sm_state *st, sm_space *m, unsigned p,
                       unsigned access) {
  const sm_page *pg = &m->page[p];
  if (!pg->mapped && !sm_stack_grow(st, m, p))
    return SM_MAPERR;
  int ok;
  if (access == MMU_WRITE)
    ok = (pg->prot & MMU_PROT_WRITE) != 0;
  else if (access == MMU_FETCH)
    ok = (st->sysflags & MMU_SYS_NO_NX) ? pg->prot != 0
                                         : (pg->prot & MMU_PROT_EXEC) != 0;
  else
    ok = pg->prot != 0;
  /* past the object's end (i_size); access_error lets a fetch from any
   * accessible region through to the fault (a read), the NX bit stops it
   * only once the page is mapped */
  if ((ok || (access == MMU_FETCH && pg->prot)) && pg->obj &&
      pg->foff >= st->obj[pg->obj - 1].pages)
    return SM_SIGBUS;
  return ok ? SM_ALLOWED : SM_ACCERR;
}

/* ---- shared pages: where they are, which entries map them ------------------ */

static int sm_same_region(const sm_page *a, const sm_page *b) {
  return a->mapped && b->mapped && a->obj && a->obj == b->obj &&
         b->foff == a->foff + 1 && a->prot == b->prot && a->flags == b->flags;
}

/* Reclaim ran: any resident object page may have gone, with its entries. */
SM_NOCOV static void sm_forget(sm_state *st) {
  for (unsigned k = 0; k < SM_MAX_OBJ; k++)
    for (unsigned i = 0; i < st->obj[k].pages; i++)
      if (st->obj[k].pg[i].res == SM_RES_MEM)
        st->obj[k].pg[i].res = SM_RES_UNKNOWN;
  for (unsigned i = 0; i < SM_MAX_SPACES; i++)
    for (unsigned p = 0; st->s[i].live && p < SM_NPAGES; p++)
      if (st->s[i].page[p].ent == SM_ENT_PRESENT)
        st->s[i].page[p].ent = SM_ENT_UNKNOWN;
}

/* do_fault_around for a read fault at page p (sure: it did fault): the
 * resident pages of 16 pages from the aligned start, or from the region's
 * or page table's start when later, inside the region (a maximal run, the
 * region check holds that) and the table, get entries. The window is 2 MiB
 * aligned, so page p's table starts at p & ~511. */
SM_NOCOV static void sm_fault_around(sm_state *st, sm_space *m, unsigned p,
                                     int sure) {
  unsigned a = p, b = p + 1;
  while (a > (p & ~511u) && sm_same_region(&m->page[a - 1], &m->page[a]))
    a--;
  if (a < (p & ~15u))
    a = p & ~15u;
  while (b < a + 16 && b < SM_NPAGES && (b & 511u) &&
         sm_same_region(&m->page[b - 1], &m->page[b]))
    b++;
  const sm_obj *ob = &st->obj[m->page[p].obj - 1];
  for (unsigned q = a; q < b; q++) {
    sm_page *pg = &m->page[q];
    if (pg->foff >= ob->pages || pg->ent == SM_ENT_PRESENT)
      continue;
    unsigned r = ob->pg[pg->foff].res;
    if (r == SM_RES_MEM && sure)
      pg->ent = SM_ENT_PRESENT;
    else if (r == SM_RES_MEM || r == SM_RES_UNKNOWN)
      pg->ent = SM_ENT_UNKNOWN;
  }
}

/* The fault an access of shared page pg (allowed, inside the object)
 * takes, or -1 when the model cannot know. */
static int sm_shared_class(const sm_state *st, const sm_page *pg) {
  if (pg->ent == SM_ENT_PRESENT)
    return MMU_FAULT_NONE;
  const sm_obj *ob = &st->obj[pg->obj - 1];
  unsigned r = ob->pg[pg->foff].res;
  if (pg->ent != SM_ENT_NONE || r == SM_RES_UNKNOWN || r == SM_RES_SWAP)
    return -1;
  if (r == SM_RES_NONE && ob->file && (pg->foff & 1)) /* read_page's I/O */
    return MMU_FAULT_MAJOR;
  return MMU_FAULT_MINOR;
}

static void sm_shared_touched(sm_state *st, sm_space *m, unsigned p,
                              unsigned access) {
  sm_page *pg = &m->page[p];
  if (access != MMU_WRITE && pg->ent != SM_ENT_PRESENT)
    sm_fault_around(st, m, p, pg->ent == SM_ENT_NONE);
  pg->ent = SM_ENT_PRESENT;
  st->obj[pg->obj - 1].pg[pg->foff].res = SM_RES_MEM;
}

typedef struct sm_counts {
  uint64_t steal, pgfault, major, minflt, majflt;
} sm_counts;

static sm_counts sm_counts_of(const sm_state *st, const sm_space *m) {
  sm_counts c = {st->w.sys.vm.pgsteal, st->w.sys.vm.pgfault,
                 st->w.sys.vm.pgmajfault, m->sp.ru.minflt, m->sp.ru.majflt};
  return c;
}

static int sm_injected_io(const sm_state *st) {
  return st->w.swap.fail_writes || st->w.swap.short_read >= 0;
}

/* Is rc a clean failure a call that reserves `reserve` frames may give?
 * page: the model page involved, or NULL. */
static int sm_clean_error(sm_state *st, int rc, uint32_t reserve,
                          const sm_page *pg) {
  mmu_usage u;
  mmu_system_usage(&st->w.sys, &u);
  switch (rc) {
  case MMU_ERR_NOMEM:
    return u.frames_free < reserve ||
           (pg && (pg->flags & MMU_MAP_HUGETLB)); /* no free 2 MiB run */
  case MMU_ERR_NOSWAP:
    return u.swap_used == u.swap_total;
  case MMU_ERR_SWAP_IO:
    return sm_injected_io(st);
  case MMU_ERR_SWAP_CORRUPT:
    return st->corrupted_ever && pg;
  case MMU_ERR_FILE:
    return st->file_fail && pg && pg->file;
  default:
    return 0;
  }
}

static mmu_cpu *sm_cpu(sm_state *st) {
  return st->vcpu ? &st->cpu1 : &st->w.cpu;
}

/* Load space si in the chosen cpu (an OS-side call: the cpu is idle). */
static void sm_activate(sm_state *st, unsigned si) {
  int *active = st->vcpu ? &st->active1 : &st->active;
  if (*active == (int)si)
    return;
  int rc = mmu_space_activate(&st->s[si].sp, sm_cpu(st));
  SM_CHECK(rc == MMU_OK, "op %u: activate space %u on cpu %u: %d", st->op, si,
           st->vcpu, rc);
  *active = (int)si;
}

/* The second vCPU: a small TLB (evictions), storage kept for the process,
 * the first cpu's registers, then left: managed and idle. */
static void sm_cpu1_init(sm_state *st) {
  static _Alignas(64) uint8_t storage[16384];
  mmu_config cfg = st->w.cpu_cfg;
  cfg.tlb_sets = 4;
  cfg.tlb_ways = 2;
  cfg.front_entries = 16;
  size_t bytes = mmu_tlb_storage_size(&cfg);
  SM_CHECK(bytes && bytes <= sizeof storage, "cpu 1: %zu bytes of TLB", bytes);
  SM_CHECK(mmu_init(&st->cpu1, &cfg, storage, bytes) == MMU_OK &&
               mmu_load_regs(&st->cpu1, &st->w.cpu.regs) == MMU_OK &&
               mmu_cpu_leave(&st->cpu1) == MMU_OK,
           "cpu 1: init");
  st->active1 = -1;
}

static void sm_clear_faults(sm_state *st) {
  st->w.swap.fail_writes = 0;
  st->w.swap.short_read = -1;
  st->file_fail = 0;
}

/* One access of len bytes at va (a read may cross into the next page; a
 * write or fetch stays in one). Returns the library's status. */
static int sm_access_on(sm_state *st, mmu_cpu *cpu, unsigned si, uint64_t va,
                        unsigned len, unsigned access, uint8_t *data) {
  sm_space *m = &st->s[si];
  for (int attempt = 0;; attempt++) {
    mmu_fault_info info;
    uint8_t got[16];
    int rc;
    memset(&info, 0, sizeof info);
    memset(got, 0xEE, sizeof got);
    sm_counts c0 = sm_counts_of(st, m);
    if (access == MMU_WRITE) {
      rc = mmu_space_write(&m->sp, cpu, va, data, len, &info);
    } else if (access == MMU_FETCH) {
      mmu_result res;
      rc = mmu_space_access(&m->sp, cpu, va, MMU_FETCH, &res, &info);
    } else {
      rc = mmu_space_read(&m->sp, cpu, va, got, len, &info);
    }
    fz_trace("op %u: space %u cpu %u %s 0x%llx len %u -> %d (class %u "
             "si_code %d addr 0x%llx)\n",
             st->op, si, cpu == &st->cpu1, fz_access_name(access),
             (unsigned long long)va, len, rc, info.fault_class, info.si_code,
             (unsigned long long)info.addr);
    /* the pages in order, as the copy loop visits them */
    uint64_t end = va + len;
    uint64_t at = va;
    int reached_fail = 0;
    sm_counts c1 = sm_counts_of(st, m);
    int stolen = c1.steal != c0.steal;
    if (stolen)
      sm_forget(st);
    /* one page, no reclaim, first try: the fault counts are the model's */
    int exact = !stolen && attempt == 0 &&
                (va & ~(SM_PAGE - 1)) == ((end - 1) & ~(SM_PAGE - 1));
    while (at < end) {
      unsigned p = (unsigned)((at - SM_WBASE) / SM_PAGE);
      uint64_t page_end = sm_va(p) + SM_PAGE;
      /* a failure reported for an address of an earlier page never gets
       * here; one for this page stops the walk */
      int failed_here = rc != MMU_OK && info.addr >= sm_va(p) &&
                        info.addr < page_end;
      int c = sm_classify(st, m, p, access);
      sm_page *pg = &m->page[p];
      /* a fetch from a readable page that is not executable maps the
       * page first (the read rules), which may fail cleanly */
      if (c == SM_ACCERR && access == MMU_FETCH && pg->prot &&
          rc != MMU_PAGE_FAULT && failed_here) {
        SM_CHECK(sm_clean_error(st, rc, 4, pg),
                 "op %u: space %u: fetch 0x%llx: error %d (%s) without its "
                 "cause", st->op, si, (unsigned long long)va, rc,
                 mmu_status_name(rc));
        if (pg->obj && rc == MMU_ERR_SWAP_CORRUPT)
          sm_opage_of(st, pg)->poisoned = 1;
        if (pg->obj && pg->ent != SM_ENT_PRESENT)
          sm_fault_around(st, m, p, 0);
        st->n_err++;
        return rc;
      }
      /* it was mapped by a read fault before NX refused it */
      if (c == SM_ACCERR && access == MMU_FETCH && pg->prot && pg->obj &&
          rc == MMU_PAGE_FAULT)
        sm_shared_touched(st, m, p, MMU_READ);
      if (c == SM_SIGBUS && rc != MMU_PAGE_FAULT && failed_here) {
        SM_CHECK(sm_clean_error(st, rc, 4, NULL), /* the reserve first */
                 "op %u: space %u: %s 0x%llx past the object's end: error "
                 "%d (%s) without its cause", st->op, si,
                 fz_access_name(access), (unsigned long long)va, rc,
                 mmu_status_name(rc));
        st->n_err++;
        return rc;
      }
      if (c == SM_SIGBUS) {
        SM_CHECK(rc == MMU_PAGE_FAULT &&
                     info.fault_class == MMU_FAULT_SIGBUS &&
                     info.si_code == MMU_BUS_ADRERR && info.addr == at &&
                     (!exact || (c1.pgfault - c0.pgfault == 1 &&
                                 c1.minflt == c0.minflt &&
                                 c1.majflt == c0.majflt)),
                 "op %u: space %u: %s 0x%llx (object page %u of %u): want "
                 "SIGBUS at 0x%llx (pgfault +1, minflt +0), got %d class %u "
                 "si_code %d addr 0x%llx (pgfault +%llu, minflt +%llu)",
                 st->op, si, fz_access_name(access), (unsigned long long)va,
                 pg->foff, st->obj[pg->obj - 1].pages, (unsigned long long)at,
                 rc, info.fault_class, info.si_code,
                 (unsigned long long)info.addr,
                 (unsigned long long)(c1.pgfault - c0.pgfault),
                 (unsigned long long)(c1.minflt - c0.minflt));
        if (access != MMU_WRITE) /* map_pages ran first, past i_size too */
          sm_fault_around(st, m, p, 1);
        st->n_sigbus++;
        return rc;
      }
      if (c != SM_ALLOWED) {
        SM_CHECK(rc == MMU_PAGE_FAULT && info.fault_class == MMU_FAULT_SEGV &&
                     info.si_code ==
                         (c == SM_MAPERR ? MMU_SEGV_MAPERR : MMU_SEGV_ACCERR) &&
                     info.addr == at,
                 "op %u: space %u: %s 0x%llx (page prot %u mapped %u): want "
                 "SIGSEGV %s at 0x%llx, got %d class %u si_code %d addr "
                 "0x%llx",
                 st->op, si, fz_access_name(access), (unsigned long long)va,
                 pg->prot, pg->mapped, c == SM_MAPERR ? "MAPERR" : "ACCERR",
                 (unsigned long long)at, rc, info.fault_class, info.si_code,
                 (unsigned long long)info.addr);
        st->n_segv++;
        return rc;
      }
      SM_CHECK(!(rc == MMU_PAGE_FAULT && failed_here),
               "op %u: space %u: %s 0x%llx: SIGSEGV (si_code %d) on page "
               "0x%llx the region allows (prot %u)",
               st->op, si, fz_access_name(access), (unsigned long long)va,
               info.si_code, (unsigned long long)sm_va(p), pg->prot);
      uint8_t *poisoned =
          pg->obj ? &sm_opage_of(st, pg)->poisoned : &pg->poisoned;
      if (*poisoned)
        SM_CHECK(failed_here && rc != MMU_OK,
                 "op %u: space %u: page 0x%llx reported SWAP_CORRUPT before, "
                 "now %d", st->op, si, (unsigned long long)sm_va(p), rc);
      if (failed_here) {
        SM_CHECK(sm_clean_error(st, rc, 4, pg),
                 "op %u: space %u: %s 0x%llx: error %d (%s) without its cause "
                 "(swap io fault %d, corrupted %d, file fault %d)",
                 st->op, si, fz_access_name(access), (unsigned long long)va,
                 rc, mmu_status_name(rc), sm_injected_io(st),
                 st->corrupted_ever, st->file_fail);
        if (rc == MMU_ERR_SWAP_CORRUPT)
          *poisoned = 1;
        if (pg->obj && access != MMU_WRITE && pg->ent != SM_ENT_PRESENT)
          sm_fault_around(st, m, p, 0); /* it may have run first */
        reached_fail = 1;
        break;
      }
      if (pg->obj) {
        int want = sm_shared_class(st, pg);
        if (exact && want >= 0) {
          SM_CHECK(info.fault_class == (unsigned)want &&
                       c1.pgfault - c0.pgfault == (want != MMU_FAULT_NONE) &&
                       c1.major - c0.major == (want == MMU_FAULT_MAJOR) &&
                       c1.majflt - c0.majflt == (want == MMU_FAULT_MAJOR) &&
                       c1.minflt - c0.minflt == (want == MMU_FAULT_MINOR),
                   "op %u: space %u: %s 0x%llx (object %u page %u): fault "
                   "class %u (pgfault +%llu, major +%llu, minflt +%llu), the "
                   "model says %d",
                   st->op, si, fz_access_name(access), (unsigned long long)va,
                   pg->obj - 1, pg->foff, info.fault_class,
                   (unsigned long long)(c1.pgfault - c0.pgfault),
                   (unsigned long long)(c1.major - c0.major),
                   (unsigned long long)(c1.minflt - c0.minflt), want);
          st->n_shared_classes++;
        }
        sm_shared_touched(st, m, p, access);
      }
      if (access == MMU_READ) {
        for (uint64_t a = at; a < (end < page_end ? end : page_end); a++) {
          uint8_t want = sm_expect(st, pg, (unsigned)(a - sm_va(p)));
          SM_CHECK(got[a - va] == want,
                   "op %u: space %u: read 0x%llx: byte 0x%02x, the model has "
                   "0x%02x (page: file %u offset page %u, written mask "
                   "0x%016llx)",
                   st->op, si, (unsigned long long)a, got[a - va], want,
                   pg->file, pg->foff, (unsigned long long)pg->mask);
        }
      } else if (access == MMU_WRITE && rc == MMU_OK) {
        uint64_t *mask = &pg->mask; /* a shared page's bytes: the object's */
        uint8_t(*val)[8] = pg->val;
        if (pg->obj) {
          sm_opage *op = sm_opage_of(st, pg);
          op->dirty = 1;
          mask = &op->mask;
          val = op->val;
        }
        for (uint64_t a = at; a < end; a++) {
          unsigned o = (unsigned)(a - sm_va(p));
          for (unsigned k = 0; k < SM_NSLOT; k++)
            if (o >= sm_slot_off[k] && o < sm_slot_off[k] + 8u) {
              val[k][o - sm_slot_off[k]] = data[a - va];
              *mask |= 1ull << (8 * k + (o - sm_slot_off[k]));
            }
        }
      }
      at = page_end;
    }
    if (stolen)
      sm_forget(st);
    if (!reached_fail) {
      SM_CHECK(rc == MMU_OK,
               "op %u: space %u: %s 0x%llx: %d (addr 0x%llx) where the model "
               "allows every page",
               st->op, si, fz_access_name(access), (unsigned long long)va, rc,
               (unsigned long long)info.addr);
      st->n_ok++;
      return rc;
    }
    st->n_err++;
    if (rc != MMU_ERR_SWAP_IO || attempt > 0)
      return rc;
    /* nothing may be lost: without the fault, the same call again */
    sm_clear_faults(st);
    st->n_retry++;
  }
}

/* One access on the cpu sm_pick_space chose; the second one enters around
 * it, applying the shootdowns posted while it was idle. */
static int sm_access(sm_state *st, unsigned si, uint64_t va, unsigned len,
                     unsigned access, uint8_t *data) {
  sm_activate(st, si);
  if (!st->vcpu)
    return sm_access_on(st, &st->w.cpu, si, va, len, access, data);
  SM_CHECK(mmu_cpu_enter(&st->cpu1) == MMU_OK, "op %u: cpu 1 enter", st->op);
  int rc = sm_access_on(st, &st->cpu1, si, va, len, access, data);
  SM_CHECK(mmu_cpu_leave(&st->cpu1) == MMU_OK, "op %u: cpu 1 leave", st->op);
  return rc;
}

/* ---- decoding helpers ------------------------------------------------------ */

/* Mostly two hot areas (the bottom and the heap's), so that mappings and
 * accesses meet. */
static unsigned sm_pick_page(fuzz_input *in) {
  uint8_t b = fi_u8(in);
  if (b < 0x40)
    return b;
  if (b < 0x80)
    return SM_HEAP_PAGE + (b & 0x3Fu);
  if (b < 0xA0)
    return SM_HEAP_PAGE - 32u + (b & 0x1Fu); /* just below the heap */
  return fi_u16(in) % SM_NPAGES;
}

/* A live space, and the cpu its accesses run on (byte / n, the bits the
 * space choice leaves). */
static int sm_pick_space(sm_state *st, fuzz_input *in) {
  unsigned live[SM_MAX_SPACES], n = 0;
  for (unsigned i = 0; i < SM_MAX_SPACES; i++)
    if (st->s[i].live)
      live[n++] = i;
  if (!n)
    return -1;
  uint8_t b = fi_u8(in);
  st->vcpu = (b / n) & 1u;
  return (int)live[b % n];
}

/* ---- system calls ------------------------------------------------------------ */

/* Does unmapping [a, e) need a split of one region strictly containing it
 * (mmu__unmap), in a full table? */
static int sm_unmap_nospace(const sm_space *m, uint64_t a, uint64_t e) {
  const mmu_region *r = sm_region_at(&m->sp, a);
  return r && r->start < a && r->end > e &&
         sm_nregions(&m->sp) >= m->sp.max_regions;
}

/* An end of [a, e) inside a hugetlb page must be 2 MiB aligned. */
SM_NOCOV static int sm_huge_edges_ok(const sm_space *m, uint64_t a, uint64_t e) {
  if (a >= SM_WBASE && a < SM_WEND) {
    const sm_page *pg = &m->page[(a - SM_WBASE) / SM_PAGE];
    if (pg->mapped && (pg->flags & MMU_MAP_HUGETLB) && (a & 0x1FFFFF))
      return 0;
  }
  if (e - 1 >= SM_WBASE && e - 1 < SM_WEND) {
    const sm_page *pg = &m->page[(e - 1 - SM_WBASE) / SM_PAGE];
    if (pg->mapped && (pg->flags & MMU_MAP_HUGETLB) && (e & 0x1FFFFF))
      return 0;
  }
  return 1;
}

SM_NOCOV static void sm_unmap_model(sm_space *m, uint64_t a, uint64_t e) {
  for (uint64_t va = a; va < e; va += SM_PAGE)
    if (va >= SM_WBASE && va < SM_WEND)
      memset(&m->page[(va - SM_WBASE) / SM_PAGE], 0, sizeof(sm_page));
}

static uint64_t sm_gap_below(const sm_state *st, const sm_page *pg,
                             uint64_t start) {
  if (!(pg->flags & MMU_MAP_GROWSDOWN))
    return start;
  return start > st->cfg.stack_guard_gap ? start - st->cfg.stack_guard_gap
                                          : 0;
}

/* mmu__range_free: [a, e) unmapped, and clear of the guard gap of a stack
 * right above it. */
SM_NOCOV static int sm_range_free(const sm_state *st, const sm_space *m, uint64_t a,
                         uint64_t e) {
  for (uint64_t va = a; va < e; va += SM_PAGE)
    if (va >= SM_WBASE && va < SM_WEND &&
        m->page[(va - SM_WBASE) / SM_PAGE].mapped)
      return 0;
  uint64_t va = e < SM_WBASE ? SM_WBASE : e;
  for (; va < SM_WEND; va += SM_PAGE) {
    const sm_page *pg = &m->page[(va - SM_WBASE) / SM_PAGE];
    if (pg->mapped)
      return sm_gap_below(st, pg, va) >= e;
  }
  return 1;
}

/* mmu__find_gap: the highest aligned free range below mmap_base (the
 * window's top), top-down through the gaps. */
SM_NOCOV static uint64_t sm_find_gap(const sm_state *st, const sm_space *m,
                            uint64_t len, uint64_t align) {
  uint64_t top = SM_WEND;
  int p = (int)SM_NPAGES - 1;
  for (;;) {
    int q = p;
    while (q >= 0 && !m->page[q].mapped)
      q--;
    uint64_t lo = q >= 0 ? sm_va((unsigned)q + 1) : SM_MIN_ADDR;
    if (top > lo && top - lo >= len) {
      uint64_t c = (top - len) & ~(align - 1);
      if (c >= lo)
        return c;
    }
    if (q < 0)
      return 0;
    while (q >= 0 && m->page[q].mapped)
      q--;
    top = sm_gap_below(st, &m->page[q + 1], sm_va((unsigned)q + 1));
    p = q;
  }
}

static void sm_mmap_call(sm_state *st, unsigned si, uint64_t addr,
                         uint64_t len, unsigned prot, unsigned flags,
                         int fidx, int obj, uint64_t off);
static uint32_t sm_obj_regions(const sm_state *st, unsigned k);

static void sm_mmap(sm_state *st, unsigned si, fuzz_input *in) {
  uint8_t k = fi_u8(in);
  uint8_t pb = fi_u8(in);
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  unsigned prot = (pb & 7u) ^ (MMU_PROT_READ | MMU_PROT_WRITE);
  int fixed = !(k & 0x04);
  unsigned kind = k & 3u; /* 0, 1 anon; 2 file; 3 stack */
  int huge = (k & 0x38) == 0x38;
  int odd = (k & 0xC0) == 0xC0; /* a combination mmap refuses */
  unsigned flags = fixed ? MMU_MAP_FIXED : 0;
  if ((pb & 0x30) == 0x30)
    flags |= MMU_MAP_POPULATE; /* faults it all in now: contents unchanged */
  const mmu_file *file = NULL;
  unsigned fidx = 0;
  uint64_t off = 0;
  if (huge) {
    flags |= MMU_MAP_HUGETLB;
    kind = 0;
  } else if (kind == 3) {
    flags |= MMU_MAP_GROWSDOWN;
  } else if (kind == 2) {
    uint8_t fb = fi_u8(in);
    fidx = fb & 1u;
    file = &st->file[fidx].f;
    off = (uint64_t)((fb >> 1) % ((st->file[fidx].size >> 12) + 4)) * SM_PAGE;
  }
  if (odd) { /* combinations mmap refuses with MMU_ERR_ARG */
    if (huge) {
      flags |= MMU_MAP_GROWSDOWN;
    } else if (file) {
      flags |= MMU_MAP_HUGETLB;
    } else {
      fidx = 0;
      file = &st->file[0].f;
      flags |= MMU_MAP_GROWSDOWN;
    }
  }
  uint64_t len = (uint64_t)((lb & 0x80) ? (lb & 0x3F) + 1 : (lb & 0x0F) + 1) *
                 SM_PAGE;
  uint64_t addr;
  if (flags & MMU_MAP_HUGETLB) {
    page = (pb & 0x80) ? SM_HEAP_PAGE : 0;
    len = (page == 0 && (lb & 1)) ? SM_NPAGES * SM_PAGE
          : (lb & 2)              ? 512 * SM_PAGE
                                  : 5 * SM_PAGE; /* rounds up to 2 MiB */
    if ((lb & 0x0C) == 0x0C)
      page += 1; /* misaligned: MMU_ERR_ARG when fixed */
  }
  addr = sm_va(page);
  if (addr + len > SM_WEND)
    len = SM_WEND - addr;
  if (!fixed && (pb & 0x40))
    addr = 0; /* no hint */
  if (!fixed && addr && addr + len > SM_WEND)
    addr = 0;
  sm_mmap_call(st, si, addr, len, prot, flags, file ? (int)fidx : -1, -1,
               off);
}

/* mmap or (obj >= 0) mmap_object, as the model places it and what it
 * maps; fidx: the private file, or -1. */
static void sm_mmap_call(sm_state *st, unsigned si, uint64_t addr,
                         uint64_t len, unsigned prot, unsigned flags,
                         int fidx, int obj, uint64_t off) {
  sm_space *m = &st->s[si];
  int fixed = (flags & MMU_MAP_FIXED) != 0;
  const mmu_file *file = fidx >= 0 ? &st->file[fidx].f : NULL;
  sm_obj *ob = obj >= 0 ? &st->obj[obj] : NULL;
  int huge_flag = (flags & MMU_MAP_HUGETLB) != 0;
  int expect_arg = (huge_flag || file || ob) && (flags & MMU_MAP_GROWSDOWN);
  expect_arg |= huge_flag && (file || ob);
  uint64_t align = huge_flag ? 2 * FZ_MiB : SM_PAGE;
  uint64_t rlen = (len + align - 1) & ~(align - 1);
  int expect = MMU_OK;
  uint64_t where = 0;
  uint32_t nreg = sm_nregions(&m->sp);
  if (expect_arg) {
    expect = MMU_ERR_ARG;
  } else if (fixed) {
    if ((addr & (align - 1)) || !sm_huge_edges_ok(m, addr, addr + rlen))
      expect = MMU_ERR_ARG;
    else if (nreg + 2 > m->sp.max_regions)
      expect = MMU_ERR_NOSPACE;
    where = addr;
  } else {
    uint64_t hint = addr & ~(align - 1);
    if (nreg >= m->sp.max_regions)
      expect = MMU_ERR_NOSPACE;
    else if (hint >= SM_MIN_ADDR && hint + rlen <= SM_WEND &&
             sm_range_free(st, m, hint, hint + rlen))
      where = hint;
    else if (!(where = sm_find_gap(st, m, rlen, align)))
      expect = MMU_ERR_NOSPACE;
  }
  uint64_t got = 0;
  int rc = ob ? mmu_space_mmap_object(&m->sp, addr, len, prot, flags, &ob->o,
                                      off, &got)
              : mmu_space_mmap(&m->sp, addr, len, prot, flags, file, off,
                               &got);
  fz_trace("op %u: space %u mmap 0x%llx len 0x%llx prot %u flags %u file %d "
           "object %d off 0x%llx -> %d at 0x%llx (model: %d at 0x%llx)\n",
           st->op, si, (unsigned long long)addr, (unsigned long long)len, prot,
           flags, fidx, obj, (unsigned long long)off, rc,
           (unsigned long long)got, expect, (unsigned long long)where);
  SM_CHECK(rc == expect && (rc != MMU_OK || got == where),
           "op %u: space %u: mmap 0x%llx len 0x%llx prot %u flags %u: %d at "
           "0x%llx, the model says %d at 0x%llx",
           st->op, si, (unsigned long long)addr, (unsigned long long)len, prot,
           flags, rc, (unsigned long long)got, expect,
           (unsigned long long)where);
  if (rc != MMU_OK)
    return;
  /* a FIXED mapping unmaps what was there first: if that was the last
   * region of this anonymous object, its pages went before it is mapped
   * again */
  sm_unmap_model(m, where, where + rlen);
  if (ob && !ob->file && !sm_obj_regions(st, (unsigned)obj))
    memset(ob->pg, 0, sizeof ob->pg);
  /* populated: each of the object's pages faulted in, unless it could not
   * be (wherever the mapping went) */
  for (uint64_t i = off / SM_PAGE;
       ob && (flags & MMU_MAP_POPULATE) && i < ob->pages &&
       i < (off + rlen) / SM_PAGE;
       i++)
    if (ob->pg[i].res == SM_RES_NONE)
      ob->pg[i].res = SM_RES_UNKNOWN;
  if (where < SM_WBASE) { /* below the window: the model does not hold it */
    SM_CHECK(mmu_space_munmap(&m->sp, where, rlen) == MMU_OK,
             "op %u: munmap below the window failed", st->op);
    return;
  }
  if (huge_flag)
    st->huge_ever = 1;
  unsigned rkind = ob                          ? MMU_REGION_SHARED
                   : file                       ? MMU_REGION_FILE
                   : flags & MMU_MAP_GROWSDOWN ? MMU_REGION_STACK
                                                : MMU_REGION_ANON;
  unsigned p0 = (unsigned)((where - SM_WBASE) / SM_PAGE);
  for (unsigned i = 0; i < rlen / SM_PAGE; i++) {
    sm_page *pg = &m->page[p0 + i];
    sm_page_map(pg, prot, rkind,
                (flags & (MMU_MAP_GROWSDOWN | MMU_MAP_HUGETLB)) |
                    (ob ? MMU_MAP_SHARED : 0),
                file ? (unsigned)fidx + 1 : ob ? ob->file : 0,
                (uint32_t)(off / SM_PAGE) + i);
    pg->obj = ob ? (uint8_t)(obj + 1) : 0;
    if (ob && (flags & MMU_MAP_POPULATE)) /* unless it could not be */
      pg->ent = SM_ENT_UNKNOWN;
  }
  /* populated (a shared mapping for reading, writable or not): each
   * page's fault is a read fault, whose fault-around maps the resident
   * pages near it in its region, and that region may be a neighbour the
   * new one merged with */
  if (ob && (flags & MMU_MAP_POPULATE) && prot)
    for (unsigned i = 0; i < rlen / SM_PAGE; i++)
      sm_fault_around(st, m, p0 + i, 0);
  if (ob)
    sm_note_obj(m, p0, (unsigned)(rlen / SM_PAGE));
}

static void sm_munmap(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  uint64_t a = sm_va(page);
  uint64_t len = lb == 0xFF ? SM_NPAGES * SM_PAGE
                            : (uint64_t)((lb & 0x80) ? lb - 0x7F : (lb & 7) + 1) *
                                  SM_PAGE;
  if (lb == 0xFF)
    a = SM_WBASE;
  if (a + len > SM_WEND)
    len = SM_WEND - a;
  int expect = !sm_huge_edges_ok(m, a, a + len) ? MMU_ERR_ARG
               : sm_unmap_nospace(m, a, a + len) ? MMU_ERR_NOSPACE
                                                 : MMU_OK;
  int rc = mmu_space_munmap(&m->sp, a, len);
  fz_trace("op %u: space %u munmap 0x%llx len 0x%llx -> %d\n", st->op, si,
           (unsigned long long)a, (unsigned long long)len, rc);
  SM_CHECK(rc == expect, "op %u: space %u: munmap 0x%llx len 0x%llx: %d, "
           "the model says %d", st->op, si, (unsigned long long)a,
           (unsigned long long)len, rc, expect);
  if (rc == MMU_OK)
    sm_unmap_model(m, a, a + len);
}

static void sm_mprotect(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  uint8_t pb = fi_u8(in);
  unsigned prot = (pb & 7u) ^ MMU_PROT_READ;
  uint64_t a = sm_va(page);
  uint64_t len = (uint64_t)((lb & 0x80) ? (lb & 0x7F) + 1 : (lb & 7) + 1) *
                 SM_PAGE;
  if (a + len > SM_WEND)
    len = SM_WEND - a;
  /* Linux changes the mapped run from a and fails ENOMEM at a hole
   * (do_mprotect_pkey); a region already at prot is not split */
  uint64_t stop = a;
  while (stop < a + len && m->page[(stop - SM_WBASE) / SM_PAGE].mapped)
    stop += SM_PAGE;
  int expect = MMU_OK;
  if (stop == a) {
    expect = MMU_ERR_NOSPACE;
  } else if (!sm_huge_edges_ok(m, a, stop)) {
    expect = MMU_ERR_ARG;
  } else {
    const mmu_region *f = sm_region_at(&m->sp, a),
                     *l = sm_region_at(&m->sp, stop - 1);
    uint32_t splits = (f->prot != prot && f->start < a) +
                      (l->prot != prot && l->end > stop);
    if (sm_nregions(&m->sp) + splits > m->sp.max_regions)
      expect = MMU_ERR_NOSPACE, stop = a;
    else if (stop < a + len)
      expect = MMU_ERR_NOSPACE;
  }
  int rc = mmu_space_mprotect(&m->sp, a, len, prot);
  fz_trace("op %u: space %u mprotect 0x%llx len 0x%llx prot %u -> %d\n",
           st->op, si, (unsigned long long)a, (unsigned long long)len, prot,
           rc);
  SM_CHECK(rc == expect, "op %u: space %u: mprotect 0x%llx len 0x%llx prot "
           "%u: %d, the model says %d", st->op, si, (unsigned long long)a,
           (unsigned long long)len, prot, rc, expect);
  if (rc == MMU_OK || rc == MMU_ERR_NOSPACE)
    for (uint64_t va = a; va < stop; va += SM_PAGE)
      m->page[(va - SM_WBASE) / SM_PAGE].prot = (uint8_t)prot;
}

/* madvise(MADV_DONTNEED): the mapped pages of the range lose what was
 * written (anonymous ones read zero, file ones the file again); a hole is
 * ENOMEM after the rest. */
static void sm_madvise(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  uint64_t a = sm_va(page);
  uint64_t len = (uint64_t)((lb & 0x80) ? (lb & 0x7F) + 1 : (lb & 7) + 1) *
                 SM_PAGE;
  if (a + len > SM_WEND)
    len = SM_WEND - a;
  int hole = 0;
  for (uint64_t va = a; va < a + len; va += SM_PAGE)
    hole |= !m->page[(va - SM_WBASE) / SM_PAGE].mapped;
  int expect = !sm_huge_edges_ok(m, a, a + len) ? MMU_ERR_ARG
               : hole                           ? MMU_ERR_NOSPACE
                                                : MMU_OK;
  int rc = mmu_space_madvise(&m->sp, a, len, MMU_MADV_DONTNEED);
  fz_trace("op %u: space %u madvise 0x%llx len 0x%llx -> %d\n", st->op, si,
           (unsigned long long)a, (unsigned long long)len, rc);
  SM_CHECK(rc == expect, "op %u: space %u: madvise 0x%llx len 0x%llx: %d, "
           "the model says %d", st->op, si, (unsigned long long)a,
           (unsigned long long)len, rc, expect);
  if (rc != MMU_OK && rc != MMU_ERR_NOSPACE)
    return;
  for (uint64_t va = a; va < a + len; va += SM_PAGE) {
    sm_page *pg = &m->page[(va - SM_WBASE) / SM_PAGE];
    if (pg->obj) { /* the entry goes; the page stays the object's */
      pg->ent = SM_ENT_NONE;
    } else if (pg->mapped) {
      pg->mask = 0;
      pg->poisoned = 0;
    }
  }
}

static void sm_brk(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  uint16_t v = fi_u16(in);
  uint64_t start = sm_va(SM_HEAP_PAGE);
  /* mostly within the heap's half of the window, at any byte */
  uint64_t nb = (v & 0x8000) ? start - 8 * SM_PAGE + (v & 0x7FFF)
                             : start + (uint64_t)(v & 0x7FFF) * 64;
  if (v == 0)
    nb = 0; /* a query */
  if (nb > SM_WEND - 2 * SM_PAGE)
    nb = SM_WEND - 2 * SM_PAGE;
  uint64_t old_top = (m->brk + 0xFFF) & ~0xFFFull;
  uint64_t new_top = (nb + 0xFFF) & ~0xFFFull;
  int expect = MMU_OK;
  uint64_t want = m->brk;
  int grow = 0, extend = 0;
  if (nb < start) {
    /* a query or below start_brk: the break stays */
  } else if (new_top < old_top) {
    int any = 0; /* Linux 6.1+: no VMA in [new_top, old_top): it refuses */
    for (uint64_t va = new_top; va < old_top; va += SM_PAGE)
      any |= m->page[(va - SM_WBASE) / SM_PAGE].mapped;
    if (!any)
      expect = MMU_ERR_NOSPACE;
    else if (!sm_huge_edges_ok(m, new_top, old_top))
      expect = MMU_ERR_ARG;
    else if (sm_unmap_nospace(m, new_top, old_top))
      expect = MMU_ERR_NOSPACE;
    else
      want = nb;
  } else if (new_top > old_top) {
    if (!sm_range_free(st, m, old_top, new_top + SM_PAGE)) {
      expect = MMU_ERR_NOSPACE;
    } else {
      /* do_brk_flags extends the VMA ending at old_top only if a fresh
       * read-write VMA with VM_ACCOUNT and no anon_vma merges with it,
       * its page offset included: a heap mremap moved keeps its old
       * vm_pgoff, and brk then needs a new VMA */
      const mmu_region *h = old_top > SM_WBASE && m->page[(old_top - SM_PAGE -
                                                           SM_WBASE) /
                                                          SM_PAGE]
                                                      .mapped
                                ? sm_region_at(&m->sp, old_top - SM_PAGE)
                                : NULL;
      extend = h && h->end == old_top && h->kind != MMU_REGION_FILE &&
               h->prot == (MMU_PROT_READ | MMU_PROT_WRITE) && h->flags == 0 &&
               (h->vm & MMU_VM_ACCOUNT) &&
               h->offset + (h->end - h->start) == old_top &&
               (!h->anon_id || !(h->vm & MMU_VM_FORKED_ANON));
      if (!extend && sm_nregions(&m->sp) >= m->sp.max_regions)
        expect = MMU_ERR_NOSPACE;
      else
        want = nb, grow = 1;
    }
  } else {
    want = nb;
  }
  uint64_t got = 0;
  int rc = mmu_space_brk(&m->sp, nb, &got);
  fz_trace("op %u: space %u brk 0x%llx -> %d, 0x%llx (model %d, 0x%llx)\n",
           st->op, si, (unsigned long long)nb, rc, (unsigned long long)got,
           expect, (unsigned long long)want);
  SM_CHECK(rc == expect && got == want,
           "op %u: space %u: brk 0x%llx (break 0x%llx): %d, 0x%llx; the model "
           "says %d, 0x%llx",
           st->op, si, (unsigned long long)nb, (unsigned long long)m->brk, rc,
           (unsigned long long)got, expect, (unsigned long long)want);
  if (rc != MMU_OK)
    return;
  if (new_top < old_top && nb >= start)
    sm_unmap_model(m, new_top, old_top);
  if (grow)
    for (uint64_t va = old_top; va < new_top; va += SM_PAGE)
      sm_page_map(&m->page[(va - SM_WBASE) / SM_PAGE],
                  MMU_PROT_READ | MMU_PROT_WRITE, MMU_REGION_HEAP, 0, 0, 0);
  m->brk = want;
}

/* mremap (SPEC 9.2): the model moves its pages (bytes, swap state,
 * shared pages' entries and all: nothing faults, nothing is copied, an
 * object keeps its pages through the move) and maps a grown part fresh,
 * like the first page's region (a file's offsets running on). Which
 * region a page belongs to is the library's (anon_vma identity, as for
 * stacks): the first region's end decides in-place growth and EFAULT, and
 * a same-size FIXED move takes the library's regions of the range one by
 * one, each checking the table's room first. */
SM_NOCOV static int sm_nothing_mapped(const sm_space *m, uint64_t a,
                                      uint64_t e) {
  for (uint64_t va = a; va < e; va += SM_PAGE)
    if (m->page[(va - SM_WBASE) / SM_PAGE].mapped)
      return 0;
  return 1;
}

SM_NOCOV static void sm_move_pages(sm_space *m, uint64_t a, uint64_t e,
                                   uint64_t to) {
  for (uint64_t va = a; va < e; va += SM_PAGE) {
    sm_page *src = &m->page[(va - SM_WBASE) / SM_PAGE];
    unsigned dst = (unsigned)((to + (va - a) - SM_WBASE) / SM_PAGE);
    if (src->obj)
      sm_note_obj(m, dst, 1);
    m->page[dst] = *src; /* its entry too */
    memset(src, 0, sizeof *src);
  }
}

SM_NOCOV static void sm_grow_pages(sm_space *m, const sm_page *like,
                                   uint64_t a, uint64_t e, uint32_t foff) {
  for (uint64_t va = a; va < e; va += SM_PAGE) {
    sm_page *pg = &m->page[(va - SM_WBASE) / SM_PAGE];
    sm_page_map(pg, like->prot, like->kind, like->flags, like->file, foff++);
    pg->obj = like->obj; /* past the object's end: SIGBUS */
    if (pg->obj)
      sm_note_obj(m, (unsigned)((va - SM_WBASE) / SM_PAGE), 1);
  }
}

static void sm_mremap(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  uint8_t fb = fi_u8(in);
  unsigned to_page = sm_pick_page(in);
  for (unsigned k = 0; !(fb & 0x04) && k < SM_NPAGES; k++)
    if (m->page[(page + k) % SM_NPAGES].mapped) { /* mostly from a mapping */
      page = (page + k) % SM_NPAGES;
      break;
    }
  uint64_t a = sm_va(page);
  uint64_t old_len = (uint64_t)(lb & 0x0F) * SM_PAGE; /* 0: EINVAL or EFAULT */
  uint64_t new_len = (uint64_t)((lb >> 4) + (fb & 0x10 ? 16 : 0)) * SM_PAGE;
  unsigned flags = (fb & 2u) ? MMU_MREMAP_MAYMOVE | MMU_MREMAP_FIXED
                              : (fb & 1u) ^ MMU_MREMAP_MAYMOVE;
  if ((fb & 0xEC) == 0xE0)
    a += 8; /* unaligned */
  else if ((fb & 0xEC) == 0xE4)
    flags |= 8; /* no such flag */
  else if ((fb & 0xEC) == 0xE8)
    flags = MMU_MREMAP_FIXED; /* without MAYMOVE */
  uint64_t to = sm_va(to_page);
  if (a + old_len > SM_WEND)
    old_len = (SM_WEND - a) & ~0xFFFull;
  if (a + new_len > SM_WEND) /* grown in place: still in the window */
    new_len = (SM_WEND - a) & ~0xFFFull;
  if (to + new_len > SM_WEND)
    to = SM_WEND - new_len;
  int fixed = (flags & MMU_MREMAP_FIXED) != 0;
  int move_only = fixed && old_len == new_len;
  uint64_t keep = old_len < new_len ? old_len : new_len;
  const sm_page *pg = (a & 0xFFF) ? NULL : &m->page[(a - SM_WBASE) / SM_PAGE];
  const mmu_region *r = pg && pg->mapped ? sm_region_at(&m->sp, a) : NULL;
  /* the library's regions of the range, for a same-size FIXED move */
  static uint64_t lo[SM_NPAGES], hi[SM_NPAGES];
  static uint8_t huge[SM_NPAGES];
  uint32_t nreg = sm_nregions(&m->sp), pieces = 0;
  for (uint64_t va = a; r && va < a + old_len; va += SM_PAGE) {
    const mmu_region *q = sm_region_at(&m->sp, va);
    if (q && (va == a || q->start == va)) {
      lo[pieces] = va;
      hi[pieces] = q->end < a + old_len ? q->end : a + old_len;
      huge[pieces++] = (q->flags & MMU_MAP_HUGETLB) != 0;
    }
  }
  int expect = MMU_OK;
  uint64_t where = a;
  if ((a & 0xFFF) || (flags & ~3u) ||
      (fixed && !(flags & MMU_MREMAP_MAYMOVE)) || !new_len ||
      (fixed && a < to + new_len && to < a + old_len))
    expect = MMU_ERR_ARG;
  else if (!r)
    expect = MMU_ERR_BADADDR;
  else if ((!old_len && pg->kind != MMU_REGION_SHARED) ||
           (pg->flags & MMU_MAP_HUGETLB))
    expect = MMU_ERR_ARG; /* old_len 0 duplicates a shared mapping only */
  else if ((new_len > old_len || (fixed && !move_only)) &&
           keep > r->end - a)
    expect = MMU_ERR_BADADDR;
  else if (!fixed && old_len >= new_len)
    expect = old_len > new_len &&
                     !sm_huge_edges_ok(m, a + new_len, a + old_len)
                 ? MMU_ERR_ARG
             : old_len > new_len &&
                     sm_unmap_nospace(m, a + new_len, a + old_len)
                 ? MMU_ERR_NOSPACE
                                                              : MMU_OK;
  else if (!fixed && a + old_len == r->end &&
           sm_nothing_mapped(m, a + old_len, a + new_len))
    where = a; /* in place (vma_expandable: no guard gap asked for) */
  else if (!fixed && (!(flags & MMU_MREMAP_MAYMOVE) ||
                      !(where = sm_find_gap(st, m, new_len, SM_PAGE))))
    expect = MMU_ERR_NOSPACE;
  else if (nreg + 3 > m->sp.max_regions)
    expect = MMU_ERR_NOSPACE;
  else if (fixed)
    where = to;
  if (expect == MMU_OK && move_only && pieces > 1 &&
      nreg + 3 * pieces > m->sp.max_regions)
    return; /* may stop between regions for room: not modelled */
  uint64_t got = 0;
  int rc = mmu_space_mremap(&m->sp, a, old_len, new_len, flags, to, &got);
  fz_trace("op %u: space %u mremap 0x%llx 0x%llx -> 0x%llx flags %u to "
           "0x%llx -> %d at 0x%llx (model: %d at 0x%llx)\n",
           st->op, si, (unsigned long long)a, (unsigned long long)old_len,
           (unsigned long long)new_len, flags, (unsigned long long)to, rc,
           (unsigned long long)got, expect, (unsigned long long)where);
  if (expect == MMU_OK && rc != MMU_OK && a != where && old_len &&
      sm_clean_error(st, rc, 2 * m->sp.pt_frames + 8, NULL) &&
      rc != MMU_ERR_SWAP_CORRUPT)
    return; /* page tables for the target could not be had: nothing moved */
  int moved_part = 0; /* a same-size move stopped after some regions */
  if (expect == MMU_OK && move_only) { /* region by region, in order */
    for (uint32_t j = 0; j < pieces; j++) {
      uint64_t t = to + (lo[j] - a), te = t + (hi[j] - lo[j]);
      if (huge[j] || !sm_huge_edges_ok(m, t, te)) {
        expect = MMU_ERR_ARG;
        moved_part = j > 0;
        break;
      }
      sm_unmap_model(m, t, te);
      sm_move_pages(m, lo[j], hi[j], t);
    }
  } else if (expect == MMU_OK && fixed) {
    /* (after the frames for the move were reserved) the target's unmap,
     * then the tail's, may not cut a 2 MiB page */
    if (!sm_huge_edges_ok(m, to, to + new_len)) {
      expect = MMU_ERR_ARG;
    } else if (!old_len && a >= to && a < to + new_len) {
      expect = MMU_ERR_BADADDR; /* the target's unmap took the source */
      moved_part = 1;
      sm_unmap_model(m, to, to + new_len);
    } else if (keep < old_len &&
               !sm_huge_edges_ok(m, a + keep, a + old_len)) {
      expect = MMU_ERR_ARG;
      moved_part = 1;
      sm_unmap_model(m, to, to + new_len);
    }
  }
  SM_CHECK(!moved_part || rc == expect,
           "op %u: space %u: mremap 0x%llx 0x%llx -> 0x%llx flags %u to "
           "0x%llx: %d, the model says %d after a part was done",
           st->op, si, (unsigned long long)a, (unsigned long long)old_len,
           (unsigned long long)new_len, flags, (unsigned long long)to, rc,
           expect);
  SM_CHECK(rc == expect && (rc != MMU_OK || got == where),
           "op %u: space %u: mremap 0x%llx 0x%llx -> 0x%llx flags %u to "
           "0x%llx: %d at 0x%llx, the model says %d at 0x%llx",
           st->op, si, (unsigned long long)a, (unsigned long long)old_len,
           (unsigned long long)new_len, flags, (unsigned long long)to, rc,
           (unsigned long long)got, expect, (unsigned long long)where);
  if (rc != MMU_OK)
    return;
  if (where < SM_WBASE) { /* below the window: the model does not hold it */
    SM_CHECK(mmu_space_munmap(&m->sp, where, new_len) == MMU_OK,
             "op %u: munmap below the window failed", st->op);
    sm_unmap_model(m, a, a + old_len);
    return;
  }
  sm_page like = *pg;
  uint32_t foff = pg->foff + (uint32_t)(keep / SM_PAGE);
  if (!fixed && old_len >= new_len) {
    sm_unmap_model(m, a + new_len, a + old_len);
  } else if (move_only) {
    /* done above, region by region, holes kept */
  } else {
    if (fixed) {
      sm_unmap_model(m, to, to + new_len);
      sm_unmap_model(m, a + keep, a + old_len);
    }
    if (where != a)
      sm_move_pages(m, a, a + keep, where);
    if (new_len > keep)
      sm_grow_pages(m, &like, where + keep, where + new_len, foff);
  }
}

/* ---- processes --------------------------------------------------------------- */

static int sm_free_slot(const sm_state *st) {
  for (int i = 0; i < SM_MAX_SPACES; i++)
    if (!st->s[i].live)
      return i;
  return -1;
}

static void sm_new_space(sm_state *st) {
  int ci = sm_free_slot(st);
  if (ci < 0)
    return;
  sm_space *c = &st->s[ci];
  for (int attempt = 0;; attempt++) {
    int rc = osw_space(&st->w, &c->sp, &st->cfg);
    fz_trace("op %u: new space %d -> %d\n", st->op, ci, rc);
    if (rc == MMU_OK)
      break;
    SM_CHECK(sm_clean_error(st, rc, 1, NULL) && rc != MMU_ERR_SWAP_CORRUPT,
             "op %u: new space: %d (%s)", st->op, rc, mmu_status_name(rc));
    if (rc != MMU_ERR_SWAP_IO || attempt > 0)
      return;
    sm_clear_faults(st);
  }
  SM_CHECK(mmu_space_set_brk_base(&c->sp, sm_va(SM_HEAP_PAGE)) == MMU_OK,
           "op %u: set_brk_base", st->op);
  memset(c->page, 0, sizeof c->page);
  c->obj_lo = c->obj_hi = 0;
  c->live = 1;
  c->pid = ++st->pids;
  c->brk = sm_va(SM_HEAP_PAGE);
}

static void sm_fork(sm_state *st, unsigned pi) {
  int ci = sm_free_slot(st);
  if (ci < 0)
    return;
  sm_space *p = &st->s[pi], *c = &st->s[ci];
  for (int attempt = 0;; attempt++) {
    uint32_t need = p->sp.pt_frames;
    int rc = osw_fork(&p->sp, &c->sp);
    fz_trace("op %u: fork %u -> %d: %d\n", st->op, pi, ci, rc);
    if (rc == MMU_OK)
      break;
    SM_CHECK(sm_clean_error(st, rc, need, NULL) &&
                 rc != MMU_ERR_SWAP_CORRUPT,
             "op %u: fork of space %u: %d (%s)", st->op, pi, rc,
             mmu_status_name(rc));
    if (rc != MMU_ERR_SWAP_IO || attempt > 0)
      return;
    sm_clear_faults(st);
  }
  memcpy(c->page, p->page, sizeof c->page);
  c->obj_lo = p->obj_lo;
  c->obj_hi = p->obj_hi;
  for (unsigned k = 0; k < SM_NPAGES; k++) /* shared: no entry copied */
    c->page[k].ent = SM_ENT_NONE;
  c->brk = p->brk;
  c->live = 1;
  c->pid = ++st->pids;
  sm_check_regions(st, (unsigned)ci, "fork");
}

static void sm_exit(sm_state *st, unsigned si) {
  fz_trace("op %u: space %u exits\n", st->op, si);
  osw_space_free(&st->s[si].sp);
  st->s[si].live = 0;
  if (st->active == (int)si)
    st->active = -1;
  if (st->active1 == (int)si)
    st->active1 = -1;
}

/* ---- shared objects ------------------------------------------------------------- */

/* Regions mapping object k: the maximal runs of its pages, offsets running
 * on (the region check holds that the library merges them so). */
/* The regions mapping each object, n[k] for object k, in one pass. */
SM_NOCOV SM_NOASAN static void sm_objs_regions(const sm_state *st,
                                     uint32_t n[SM_MAX_OBJ]) {
  memset(n, 0, SM_MAX_OBJ * sizeof n[0]);
  if (sm_check_interval == 1) /* the unit test: the bounds hold them all */
    for (unsigned i = 0; i < SM_MAX_SPACES; i++)
      for (unsigned p = 0; st->s[i].live && p < SM_NPAGES; p++)
        SM_CHECK(!st->s[i].page[p].obj ||
                     (p >= st->s[i].obj_lo && p < st->s[i].obj_hi),
                 "op %u: space %u page %u of object %u outside [%u, %u)",
                 st->op, i, p, st->s[i].page[p].obj, st->s[i].obj_lo,
                 st->s[i].obj_hi);
  for (unsigned i = 0; i < SM_MAX_SPACES; i++)
    for (unsigned p = st->s[i].obj_lo; st->s[i].live && p < st->s[i].obj_hi;
         p++) {
      unsigned o = st->s[i].page[p].obj;
      if (o && !(p && sm_same_region(&st->s[i].page[p - 1],
                                     &st->s[i].page[p])))
        n[o - 1]++;
    }
}

/* The same count read off the library's region tables: a few dozen
 * regions instead of the model's pages. Between the whole-state checks
 * (which hold the tables to the model's pages and count both ways) the
 * object checks use it. */
SM_NOCOV static void sm_objs_regions_lib(const sm_state *st,
                                         uint32_t n[SM_MAX_OBJ]) {
  memset(n, 0, SM_MAX_OBJ * sizeof n[0]);
  for (unsigned i = 0; i < SM_MAX_SPACES; i++) {
    uint32_t nr = 0;
    const mmu_region *r =
        st->s[i].live ? mmu_space_regions(&st->s[i].sp, &nr) : NULL;
    for (uint32_t j = 0; j < nr; j++)
      for (unsigned k = 0; k < SM_MAX_OBJ; k++)
        n[k] += r[j].kind == MMU_REGION_SHARED && st->obj[k].live &&
                r[j].object == &st->obj[k].o;
  }
}

SM_NOCOV static uint32_t sm_obj_regions(const sm_state *st, unsigned k) {
  uint32_t n[SM_MAX_OBJ];
  sm_objs_regions(st, n);
  return n[k];
}

/* After every operation: mmu_object_mappings is the model's count; an
 * anonymous object whose last region went has no page left. */
SM_NOCOV static void sm_check_objects(sm_state *st, const char *what,
                                      int whole) {
  uint32_t count[SM_MAX_OBJ];
  int any = 0;
  for (unsigned k = 0; k < SM_MAX_OBJ; k++)
    any |= st->obj[k].live;
  if (!any)
    return;
  if (whole) {
    uint32_t lib[SM_MAX_OBJ];
    sm_objs_regions(st, count);
    sm_objs_regions_lib(st, lib);
    for (unsigned k = 0; k < SM_MAX_OBJ; k++)
      SM_CHECK(!st->obj[k].live || lib[k] == count[k],
               "op %u (%s): object %u: %u regions in the library's tables, "
               "the model counts %u", st->op, what, k, lib[k], count[k]);
  } else {
    sm_objs_regions_lib(st, count);
  }
  for (unsigned k = 0; k < SM_MAX_OBJ; k++) {
    sm_obj *ob = &st->obj[k];
    if (!ob->live)
      continue;
    uint32_t n = count[k];
    SM_CHECK(mmu_object_mappings(&ob->o) == n,
             "op %u (%s): object %u: %u mappings, the model counts %u "
             "regions", st->op, what, k, mmu_object_mappings(&ob->o), n);
    ob->mappings = n;
    if (!n && !ob->file)
      memset(ob->pg, 0, sizeof ob->pg);
  }
}

/* The pages of a file object written back (write_page) in this operation
 * are exactly the dirty ones the model expects: want, a page mask. */
static void sm_check_writeback(sm_state *st, unsigned k, uint64_t want,
                               const char *what) {
  SM_CHECK(st->obj[k].wb == want,
           "op %u (%s): object %u: pages written back 0x%llx, the model "
           "wants 0x%llx",
           st->op, what, k, (unsigned long long)st->obj[k].wb,
           (unsigned long long)want);
}

SM_NOCOV static uint64_t sm_dirty_pages(const sm_obj *ob) {
  uint64_t d = 0;
  for (unsigned i = 0; ob->file && i < ob->pages && i < SM_OBJ_PAGES; i++)
    d |= (uint64_t)ob->pg[i].dirty << i;
  return d;
}

static void sm_obj_create(sm_state *st, unsigned k, int file,
                          uint32_t pages) {
  sm_obj *ob = &st->obj[k];
  memset(ob, 0, sizeof *ob);
  ob->pages = pages;
  if (file) {
    ob->file = 3 + k;
    st->file[2 + k].size = (uint64_t)pages * SM_PAGE - 700; /* a short end */
  }
  int rc = mmu_object_init(&ob->o, &st->w.sys, pages,
                           file ? &st->file[2 + k].f : NULL, ob->storage,
                           sizeof ob->storage);
  fz_trace("op %u: object %u: %s, %u pages -> %d\n", st->op, k,
           file ? "file" : "anonymous", pages, rc);
  SM_CHECK(rc == MMU_OK, "op %u: object %u init: %d", st->op, k, rc);
  ob->live = 1;
}

static void sm_obj_destroy(sm_state *st, unsigned k) {
  sm_obj *ob = &st->obj[k];
  uint64_t dirty = sm_dirty_pages(ob);
  int rc = mmu_object_destroy(&ob->o);
  int expect = ob->mappings ? MMU_ERR_BUSY : MMU_OK;
  fz_trace("op %u: object %u destroy -> %d (model %d)\n", st->op, k, rc,
           expect);
  SM_CHECK(rc == expect, "op %u: object %u destroy: %d, the model says %d "
           "(%u mappings)", st->op, k, rc, expect, ob->mappings);
  sm_check_writeback(st, k, rc == MMU_OK ? dirty : 0, "destroy");
  if (rc == MMU_OK)
    ob->live = 0;
}

/* mmap_object: FIXED at a hot page or placed; length and offset may run
 * past the object's end (SIGBUS there); an odd flag makes it EINVAL. */
static void sm_map_object(sm_state *st, unsigned si, fuzz_input *in) {
  uint8_t b = fi_u8(in);
  uint8_t pb = fi_u8(in);
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  unsigned k = b & 1u;
  if (!st->obj[k].live)
    sm_obj_create(st, k, (b & 2) != 0, 1u + (lb >> 3) % SM_OBJ_PAGES);
  unsigned prot = (pb & 7u) ^ (MMU_PROT_READ | MMU_PROT_WRITE);
  unsigned flags = (b & 4) ? 0 : MMU_MAP_FIXED;
  if ((pb & 0x30) == 0x30)
    flags |= MMU_MAP_POPULATE;
  if ((b & 0xC0) == 0xC0)
    flags |= (b & 0x20) ? MMU_MAP_HUGETLB : MMU_MAP_GROWSDOWN;
  uint64_t len = (uint64_t)((lb & 7u) + 1u + ((b & 0x18) ? 0 : 8u)) * SM_PAGE;
  uint64_t off = (uint64_t)((b >> 3) % (st->obj[k].pages + 2u)) * SM_PAGE;
  uint64_t addr = sm_va(page);
  if (addr + len > SM_WEND)
    len = SM_WEND - addr;
  if (!(flags & MMU_MAP_FIXED) && (pb & 0x40))
    addr = 0;
  sm_mmap_call(st, si, addr, len, prot, flags, -1, (int)k, off);
}

/* msync of a range: the dirty pages of file objects it maps are written
 * back, once each; a hole is ENOMEM after the rest. */
static void sm_msync(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t lb = fi_u8(in);
  uint64_t a = sm_va(page);
  uint64_t len = (uint64_t)((lb & 0x3F) + 1) * SM_PAGE;
  if (a + len > SM_WEND)
    len = SM_WEND - a;
  uint64_t want[SM_MAX_OBJ] = {0};
  int hole = 0;
  for (uint64_t va = a; va < a + len; va += SM_PAGE) {
    const sm_page *pg = &m->page[(va - SM_WBASE) / SM_PAGE];
    hole |= !pg->mapped;
    if (pg->obj && st->obj[pg->obj - 1].file &&
        pg->foff < st->obj[pg->obj - 1].pages)
      want[pg->obj - 1] |= (uint64_t)st->obj[pg->obj - 1].pg[pg->foff].dirty
                           << pg->foff;
  }
  int rc = mmu_space_msync(&m->sp, a, len);
  fz_trace("op %u: space %u msync 0x%llx len 0x%llx -> %d\n", st->op, si,
           (unsigned long long)a, (unsigned long long)len, rc);
  SM_CHECK(rc == (hole ? MMU_ERR_NOSPACE : MMU_OK),
           "op %u: space %u: msync 0x%llx len 0x%llx: %d, the model says %d",
           st->op, si, (unsigned long long)a, (unsigned long long)len, rc,
           hole ? MMU_ERR_NOSPACE : MMU_OK);
  for (unsigned k = 0; k < SM_MAX_OBJ; k++)
    sm_check_writeback(st, k, want[k], "msync");
}

/* A shared page (the first from a picked one): read, written or fetched,
 * then maybe read in every space; or MADV_FREE on it (EINVAL). */
static void sm_shared_touch(sm_state *st, unsigned si, fuzz_input *in) {
  sm_space *m = &st->s[si];
  unsigned page = sm_pick_page(in);
  uint8_t b = fi_u8(in);
  for (unsigned k = 0; k < SM_NPAGES; k++)
    if (m->page[(page + k) % SM_NPAGES].obj) {
      page = (page + k) % SM_NPAGES;
      break;
    }
  uint64_t va = sm_va(page) + sm_slot_off[(b >> 5) & 7u];
  if ((b & 0x18) == 0x18) {
    if (!m->page[page].obj)
      return;
    int rc = mmu_space_madvise(&m->sp, sm_va(page), SM_PAGE, MMU_MADV_FREE);
    SM_CHECK(rc == MMU_ERR_ARG, "op %u: space %u: MADV_FREE of a shared "
             "page: %d", st->op, si, rc);
    return;
  }
  uint8_t data[8];
  for (unsigned i = 0; i < 8; i++)
    data[i] = (uint8_t)(++st->seq * 43u + i);
  unsigned access = (b & 3) == 1 ? MMU_WRITE : (b & 3) == 2 ? MMU_FETCH
                                                            : MMU_READ;
  sm_access(st, si, va, access == MMU_FETCH ? 1 : 8, access, data);
  if (b & 4)
    for (unsigned i = 0; i < SM_MAX_SPACES; i++)
      if (st->s[i].live)
        sm_access(st, i, va, 8, MMU_READ, NULL);
}

static void sm_obj_op(sm_state *st, fuzz_input *in) {
  uint8_t b = fi_u8(in);
  unsigned k = b & 1u;
  if (!st->obj[k].live) {
    sm_obj_create(st, k, (b & 2) != 0, 1u + (b >> 3) % SM_OBJ_PAGES);
    return;
  }
  if (b & 4) {
    sm_obj_destroy(st, k);
    return;
  }
  uint64_t dirty = sm_dirty_pages(&st->obj[k]);
  int rc = mmu_object_sync(&st->obj[k].o);
  fz_trace("op %u: object %u sync -> %d\n", st->op, k, rc);
  SM_CHECK(rc == MMU_OK, "op %u: object %u sync: %d", st->op, k, rc);
  sm_check_writeback(st, k, dirty, "sync");
}

/* ---- one operation ------------------------------------------------------------ */

static void sm_op(sm_state *st, fuzz_input *in) {
  uint8_t op = fi_u8(in) % 31;
  int si = sm_pick_space(st, in);
  if (si < 0) {
    sm_new_space(st);
    return;
  }
  sm_space *m = &st->s[si];
  uint64_t stolen = st->w.sys.vm.pgsteal;
  for (unsigned k = 0; k < SM_MAX_OBJ; k++)
    st->obj[k].wb = 0;
  switch (op) {
  default: { /* 0..4: write 1..8 bytes into a slot */
    unsigned page = sm_pick_page(in);
    uint8_t b = fi_u8(in);
    unsigned slot = b & 7u, at = (b >> 3) & 7u;
    unsigned len = 1u + ((b >> 6) ? (unsigned)(8 - at - 1) : 0u);
    uint8_t data[8];
    for (unsigned i = 0; i < len; i++)
      data[i] = (uint8_t)(++st->seq * 37u + i);
    sm_access(st, (unsigned)si, sm_va(page) + sm_slot_off[slot] + at, len,
              MMU_WRITE, data);
    break;
  }
  case 5:
  case 6:
  case 7: { /* read 1..16 bytes, slot-aligned or anywhere; may cross */
    unsigned page = sm_pick_page(in);
    uint8_t b = fi_u8(in);
    unsigned len = 1u + (b >> 4);
    uint64_t off = (b & 8) ? (unsigned)fi_u16(in) & 0xFFFu
                           : sm_slot_off[b & 7u];
    uint64_t va = sm_va(page) + off;
    if (va + len > SM_WEND)
      va = SM_WEND - len;
    sm_access(st, (unsigned)si, va, len, MMU_READ, NULL);
    break;
  }
  case 8: {
    unsigned page = sm_pick_page(in);
    sm_access(st, (unsigned)si, sm_va(page) + 0x10, 1, MMU_FETCH, NULL);
    break;
  }
  case 9:
  case 10:
    sm_mmap(st, (unsigned)si, in);
    break;
  case 11:
    sm_munmap(st, (unsigned)si, in);
    break;
  case 12:
    sm_mprotect(st, (unsigned)si, in);
    break;
  case 13:
    sm_brk(st, (unsigned)si, in);
    break;
  case 14:
    sm_fork(st, (unsigned)si);
    break;
  case 15:
    sm_exit(st, (unsigned)si);
    break;
  case 16:
    sm_new_space(st);
    break;
  case 17: { /* reclaim */
    uint32_t want = 1u + fi_u8(in) % 48u, done = 0;
    uint64_t steal = st->w.sys.vm.pgsteal;
    int rc = mmu_system_reclaim(&st->w.sys, want, &done);
    fz_trace("op %u: reclaim %u -> %d, %u\n", st->op, want, rc, done);
    mmu_usage u;
    mmu_system_usage(&st->w.sys, &u);
    SM_CHECK(done <= want && st->w.sys.vm.pgsteal - steal == done &&
                 (rc == MMU_OK ? done == want
                  : rc == MMU_ERR_NOSWAP ? u.swap_used == u.swap_total
                  : rc == MMU_ERR_SWAP_IO ? sm_injected_io(st)
                  : rc == MMU_ERR_NOMEM),
             "op %u: reclaim %u: %d (%s), %u reclaimed", st->op, want, rc,
             mmu_status_name(rc), done);
    break;
  }
  case 19:
    sm_madvise(st, (unsigned)si, in);
    break;
  case 18: { /* inject a fault */
    uint8_t b = fi_u8(in);
    uint8_t c = fi_u8(in);
    switch (b & 3) {
    case 0:
      st->w.swap.fail_writes = 1;
      break;
    case 1:
      st->w.swap.short_read = (long)c * 16;
      break;
    case 2:
      /* a slot is flipped once: a second flip of the same bit would
       * repair it */
      if (st->w.swap.slots &&
          !((st->corrupted_slots >> (c % st->w.swap.slots)) & 1)) {
        uint64_t slot = c % st->w.swap.slots;
        st->corrupted_slots |= 1ull << slot;
        st->w.swap.data[slot * 4096 + (b >> 2) * 64 + (c & 63)] ^=
            (uint8_t)(1u << (c & 7));
        st->corrupted_ever = 1;
      }
      break;
    default:
      st->file_fail = 1;
      break;
    }
    fz_trace("op %u: inject %u (0x%02x)\n", st->op, b & 3, c);
    break;
  }
  case 20:
    sm_clear_faults(st);
    break;
  case 24:
    sm_mremap(st, (unsigned)si, in);
    break;
  case 25:
    sm_obj_op(st, in);
    break;
  case 26:
  case 27:
    sm_map_object(st, (unsigned)si, in);
    break;
  case 28:
    sm_msync(st, (unsigned)si, in);
    break;
  case 29:
  case 30:
    sm_shared_touch(st, (unsigned)si, in);
    break;
  case 21: { /* maps text: a line per region */
    static char text[16384];
    size_t n = mmu_space_maps(&m->sp, text, sizeof text);
    unsigned lines = 0;
    for (size_t i = 0; i < n && i < sizeof text; i++)
      lines += text[i] == '\n';
    SM_CHECK(n < sizeof text && strlen(text) == n &&
                 lines == sm_nregions(&m->sp),
             "op %u: maps: %zu bytes, %u lines for %u regions", st->op, n,
             lines, sm_nregions(&m->sp));
    break;
  }
  case 23: { /* page aging: LRU and LFU harvest Accessed bits, others no-op */
    mmu_usage u;
    mmu_system_usage(&st->w.sys, &u);
    uint32_t young = mmu_system_age(&st->w.sys);
    unsigned kind = st->w.sys.policy.kind;
    SM_CHECK(young <= u.frames_anon &&
                 (kind == MMU_POLICY_LRU || kind == MMU_POLICY_LFU ||
                  young == 0) &&
                 mmu_system_age(&st->w.sys) == 0,
             "op %u: age found %u referenced of %llu pages", st->op, young,
             (unsigned long long)u.frames_anon);
    break;
  }
  case 22: { /* COW isolation: the same slot, written in one space, read in all */
    unsigned page = sm_pick_page(in);
    uint8_t b = fi_u8(in);
    uint8_t data[8];
    for (unsigned i = 0; i < 8; i++)
      data[i] = (uint8_t)(++st->seq * 41u + i);
    uint64_t va = sm_va(page) + sm_slot_off[b & 7u];
    sm_access(st, (unsigned)si, va, 8, MMU_WRITE, data);
    for (unsigned i = 0; i < SM_MAX_SPACES; i++)
      if (st->s[i].live)
        sm_access(st, i, va, 8, MMU_READ, NULL);
    st->n_cow_checks++;
    break;
  }
  }
  if (st->w.sys.vm.pgsteal != stolen)
    sm_forget(st);
  /* the operations that change regions, and with them the objects'
   * mapping counts (sm_check_objects also updates the model) */
  static const uint32_t regions_change =
      1u << 9 | 1u << 10 | 1u << 11 | 1u << 12 | 1u << 13 | 1u << 14 |
      1u << 15 | 1u << 16 | 1u << 19 | 1u << 24 | 1u << 25 | 1u << 26 |
      1u << 27;
  if (((regions_change >> op) & 1) || st->op % sm_check_interval == 0)
    sm_check_objects(st, "op", st->op % sm_check_interval == 0);
  /* the whole-state checks every sm_check_interval operations (and at the
   * end): a failure then names a later op; SM_CHECK_EVERY=1 pins it down */
  if (st->op % sm_check_interval == 0) {
    if (st->s[si].live)
      sm_check_regions(st, (unsigned)si, "op");
    sm_check_usage(st, "op");
  }
}

/* ---- the run -------------------------------------------------------------------- */

static int sm_run(sm_state *st, const uint8_t *data, size_t size) {
  fuzz_input in;
  fi_init(&in, data, size);
  /* all but the spaces' pages (a third of a megabyte): a space's are set
   * when it is created or forked, and only a live space's are read */
  memset(st, 0, offsetof(sm_state, s));
  for (unsigned i = 0; i < SM_MAX_SPACES; i++)
    memset(&st->s[i], 0, offsetof(sm_space, page));
  memset((uint8_t *)st + offsetof(sm_state, s) + sizeof st->s, 0,
         sizeof *st - offsetof(sm_state, s) - sizeof st->s);
  static const unsigned frames[8] = {64, 96, 128, 160, 192, 256, 128, 1600};
  static const unsigned policies[5] = {MMU_POLICY_TWO_LIST, MMU_POLICY_LRU,
                                       MMU_POLICY_CLOCK, MMU_POLICY_LFU,
                                       MMU_POLICY_DEFAULT};
  static const uint64_t gaps[4] = {16, 1, 4, 256};
  static const uint64_t limits[4] = {64, 16, 256, 1024};
  static const uint32_t max_regions[4] = {64, 64, 12, 6};
  uint8_t c0 = fi_u8(&in);
  uint8_t c1 = fi_u8(&in);
  uint8_t c2 = fi_u8(&in);
  st->frames = frames[c0 & 7];
  st->policy = policies[((c0 >> 3) & 7) % 5];
  st->sysflags = ((c0 & 0x40) ? MMU_SYS_NO_NX : 0) |
                 ((c0 & 0x80) ? MMU_SYS_NO_ZERO_PAGE : 0);
  uint64_t slots = (c1 & 0x80) ? 0 : (uint64_t)((c1 & 0x7F) % 65);
  if (c1 == 0)
    slots = 32;
  st->cfg.mmap_base = SM_WEND;
  st->cfg.stack_guard_gap = gaps[c2 & 3] * SM_PAGE;
  st->cfg.stack_limit = limits[(c2 >> 2) & 3] * SM_PAGE;
  st->cfg.max_regions = max_regions[(c2 >> 4) & 3];
  SM_CHECK(osw_init(&st->w, st->frames, slots, st->policy, st->sysflags) == 0,
           "osw_init failed");
  if (c2 & 0x40) { /* 5-level spaces on a LA57 cpu */
    mmu_regs r = st->w.cpu.regs;
    r.cr4 |= MMU_CR4_LA57;
    SM_CHECK(mmu_load_regs(&st->w.cpu, &r) == MMU_OK, "LA57 regs");
    st->cfg.flags = MMU_SPACE_LA57;
  }
  static const char *const paths[2 + SM_MAX_OBJ] = {
      "/usr/bin/prog", "/lib/data.bin", "/srv/shared0", "/srv/shared1"};
  for (unsigned i = 0; i < 2 + SM_MAX_OBJ; i++) {
    sm_file *f = &st->file[i];
    f->id = i + 1;
    f->size = i ? 10 * SM_PAGE + 1234 : 40 * SM_PAGE;
    f->fail = &st->file_fail;
    f->f.read_page = sm_read_page;
    f->f.user = f;
    f->f.path = paths[i];
    f->f.inode = 1000 + i;
    f->st = st;
    f->obj = (int)i - 2; /* the objects' files: written back */
    if (i >= 2)
      f->f.write_page = sm_write_page;
  }
  st->active = -1;
  sm_cpu1_init(st);
  fz_trace("space-sequence: %u frames, %llu slots, policy %u, flags %u, "
           "levels %u, gap %llu limit %llu regions %u\n",
           st->frames, (unsigned long long)slots, st->policy, st->sysflags,
           (c2 & 0x40) ? 5u : 4u,
           (unsigned long long)st->cfg.stack_guard_gap,
           (unsigned long long)st->cfg.stack_limit, st->cfg.max_regions);
  sm_new_space(st);
  for (st->op = 0; st->op < sm_max_ops && !fi_empty(&in); st->op++)
    sm_op(st, &in);

  /* read everything back without faults, then exit every process */
  sm_clear_faults(st);
  for (unsigned i = 0; i < SM_MAX_SPACES; i++) {
    sm_space *m = &st->s[i];
    if (!m->live)
      continue;
    for (unsigned p = 0; p < SM_NPAGES; p++) {
      const sm_page *pg = &m->page[p];
      uint64_t mask = pg->mask; /* a shared page's: the object's */
      if (pg->obj && pg->foff < st->obj[pg->obj - 1].pages)
        mask = st->obj[pg->obj - 1].pg[pg->foff].mask;
      if (!pg->mapped || !pg->prot || (!mask && p % 29))
        continue;
      for (unsigned k = 0; k < SM_NSLOT; k++)
        if (((mask >> (8 * k)) & 0xFF) || (!mask && k == 0))
          sm_access(st, i, sm_va(p) + sm_slot_off[k], 8, MMU_READ, NULL);
    }
    sm_check_regions(st, i, "final");
  }
  for (unsigned i = 0; i < SM_MAX_SPACES; i++)
    if (st->s[i].live)
      sm_exit(st, i);
  /* no mapping left: anonymous objects have freed their pages, file
   * objects write their dirty ones back as they go */
  sm_check_objects(st, "final", 1);
  for (unsigned k = 0; k < SM_MAX_OBJ; k++) {
    st->obj[k].wb = 0;
    if (st->obj[k].live)
      sm_obj_destroy(st, k);
  }
  mmu_usage u;
  mmu_system_usage(&st->w.sys, &u);
  SM_CHECK(u.frames_pt == 0 && u.frames_anon == 0 &&
               u.frames_free == u.frames_total - 1 && u.swap_used == 0,
           "after every exit: pt %llu anon %llu free %llu of %llu, %llu swap "
           "slots used",
           (unsigned long long)u.frames_pt, (unsigned long long)u.frames_anon,
           (unsigned long long)u.frames_free,
           (unsigned long long)u.frames_total,
           (unsigned long long)u.swap_used);
  fz_trace("space-sequence: %u ops: %u ok, %u segv, %u errors (%u retried), "
           "%u shared fault classes, pgfault %llu cow %llu swapout %llu "
           "swapin %llu\n",
           st->op, st->n_ok, st->n_segv, st->n_err, st->n_retry,
           st->n_shared_classes,
           (unsigned long long)st->w.sys.vm.pgfault,
           (unsigned long long)st->w.sys.vm.cow_copies,
           (unsigned long long)st->w.sys.vm.pswpout,
           (unsigned long long)st->w.sys.vm.pswpin);
  osw_free(&st->w);
  return 0;
}

#endif
