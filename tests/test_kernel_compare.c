/* SPDX-License-Identifier: MIT */
/* The library half of the kernel comparison: every script of
 * kernel_script.h replayed on mmu_space objects (one system, one user-mode
 * cpu switched between parent and child), each step's mmu_rusage delta of
 * the process that executes it compared with
 *   - the script's expect_minflt / expect_majflt, measured on Linux, for
 *     both kinds of kernel: with the zero page (suite library_vs_script)
 *     and without it, the library under MMU_SYS_NO_ZERO_PAGE (suite
 *     library_vs_script_no_zero_page), one test per script each;
 *   - what the kernel does here and now: kernel_replay --all run in real
 *     processes, which first probes what anonymous read faults map; the
 *     library is configured to match (suite library_vs_kernel). The same
 *     comparison runs on the replayer's expectations for a kernel of
 *     either kind (--expect --policy), as a kernel of the kind this
 *     machine is not would answer.
 * Contents are checked as the kernel half checks them: every byte read is
 * what that process or its ancestor last wrote there, zero before. */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>

#include "kernel_script.h"
#include "os_world.h"

/* The arena: 16 MiB at a fixed, page-aligned address nothing else uses. */
#define KC_BASE 0x100000000ull
#define KC_FRAMES 8192u /* 32 MiB: two processes' worth of every region */

enum { KC_ONE = 0, KC_KID = 1 }; /* the one process (later parent), child */

/* Per step, the fault counts of the process that executed it. */
typedef struct kc_counts {
  int64_t minflt[KS_MAX_STEPS], majflt[KS_MAX_STEPS];
  int64_t segv[KS_MAX_STEPS]; /* pages refused with SEGV_ACCERR */
} kc_counts;

/* The replay's state: per process its space, region placement and shadow. */
typedef struct kc_world {
  osw w;
  mmu_space space[2];
  int alive[2];
  uint32_t mapped[2][KS_MAX_REGIONS]; /* pages, 0 = not mapped */
  uint32_t at[2][KS_MAX_REGIONS];
  uint8_t shadow[2][KS_MAX_REGIONS][KS_MAX_PAGES];
  /* arena scripts: an object per MMAP_SHARED, its storage from obj_pool */
  mmu_object obj[KS_MAX_STEPS];
  uint32_t nobj;
  size_t obj_used; /* words of obj_pool */
  uint64_t obj_pool[KS_MAX_STEPS * KS_RANDOM_PAGES];
  /* arena scripts: a memfd per MEMFD step, a file object (storage from
   * obj_pool) whose mmu_file reads and writes `bytes`, the file as its
   * medium holds it; per process and name, its index + 1 (0: none), as
   * the process's fd table */
  struct kc_memfd {
    mmu_file file;
    mmu_object obj;
    uint32_t pages;
    char path[32];
    uint8_t bytes[KS_FILE_PAGES * KS_PAGE_SIZE];
  } memfd[KS_MAX_STEPS];
  uint32_t nmemfd;
  uint32_t fd[2][KS_MAX_FILES];
  /* arena scripts: the first process's second thread (KS_THREAD), a
   * managed cpu running its space, entered for each of its steps */
  mmu_cpu cpu2;
  void *tlb2;
} kc_world;

static uint64_t kc_page_va(const kc_world *k, int p, unsigned id,
                           uint32_t page) {
  return KC_BASE + ((uint64_t)k->at[p][id] + page) * KS_PAGE_SIZE;
}

/* A READ or WRITE the protection refuses: pages answered SIGSEGV with
 * SEGV_ACCERR, as mmu_space_access reports it. */
static int64_t kc_touch_refused(kc_world *k, const ks_step *st, int p) {
  int64_t refused = 0;
  cr_assert_eq(mmu_space_activate(&k->space[p], &k->w.cpu), MMU_OK);
  for (uint32_t pg = st->first; pg < st->first + st->count; pg++) {
    uint64_t va = kc_page_va(k, p, st->region, pg) + KS_TOUCH_OFFSET;
    mmu_fault_info info;
    uint8_t v = 0x5A;
    if (st->op == KS_OP_WRITE)
      (void)osw_write8(&k->w, &k->space[p], va, v, &info);
    else
      (void)osw_read8(&k->w, &k->space[p], va, &v, &info);
    refused += info.fault_class == MMU_FAULT_SEGV &&
               info.si_code == MMU_SEGV_ACCERR;
  }
  return refused;
}

/* READ and WRITE: one byte of each page, rc and contents checked. */
static void kc_touch(kc_world *k, const ks_script *s, uint32_t i, int p) {
  const ks_step *st = &s->steps[i];
  mmu_space *sp = &k->space[p];
  int bad = 0; /* report the first wrong page of a step only */
  for (uint32_t pg = st->first; pg < st->first + st->count; pg++) {
    uint64_t va = kc_page_va(k, p, st->region, pg) + KS_TOUCH_OFFSET;
    mmu_fault_info info;
    uint8_t v = 0;
    int rc;
    if (st->op == KS_OP_WRITE) {
      v = KS_BYTE(i, pg);
      rc = osw_write8(&k->w, sp, va, v, &info);
      k->shadow[p][st->region][pg] = v;
    } else {
      rc = osw_read8(&k->w, sp, va, &v, &info);
    }
    cr_assert_eq(rc, MMU_OK,
                 "%s step %u (%s): page %u: %s (fault class %u, si_code %d)",
                 s->name, i, st->name, pg, mmu_status_name(rc),
                 info.fault_class, info.si_code);
    if (st->op == KS_OP_READ && !bad &&
        v != k->shadow[p][st->region][pg]) {
      bad = 1;
      cr_expect_fail("%s step %u (%s): page %u holds %u, expected %u",
                     s->name, i, st->name, pg, v,
                     k->shadow[p][st->region][pg]);
    }
  }
}

/* After a WRITE, read back what the step wrote (outside the measurement,
 * as the kernel half does). */
static void kc_check_written(kc_world *k, const ks_script *s, uint32_t i,
                             int p) {
  const ks_step *st = &s->steps[i];
  for (uint32_t pg = st->first; pg < st->first + st->count; pg++) {
    uint8_t v = 0;
    uint64_t va = kc_page_va(k, p, st->region, pg) + KS_TOUCH_OFFSET;
    cr_assert_eq(osw_read8(&k->w, &k->space[p], va, &v, NULL), MMU_OK);
    if (v != k->shadow[p][st->region][pg]) {
      cr_expect_fail("%s step %u (%s): page %u holds %u after the write, "
                     "expected %u", s->name, i, st->name, pg, v,
                     k->shadow[p][st->region][pg]);
      break; /* the first wrong page only */
    }
  }
}

static void kc_step(kc_world *k, const ks_script *s, uint32_t i) {
  const ks_step *st = &s->steps[i];
  int p = st->who == KS_CHILD ? KC_KID : KC_ONE;
  unsigned id = st->region;
  cr_assert(k->alive[p], "%s step %u (%s): no such process", s->name, i,
            st->name);
  cr_assert_eq(mmu_space_activate(&k->space[p], &k->w.cpu), MMU_OK);
  switch (st->op) {
  case KS_OP_MMAP:
  case KS_OP_MMAP_POPULATE:
    cr_assert_eq(mmu_space_mmap(&k->space[p],
                                KC_BASE + (uint64_t)st->at * KS_PAGE_SIZE,
                                (uint64_t)st->count * KS_PAGE_SIZE, st->prot,
                                MMU_MAP_FIXED |
                                    (st->op == KS_OP_MMAP_POPULATE
                                         ? MMU_MAP_POPULATE
                                         : 0),
                                NULL, 0, NULL),
                 MMU_OK, "%s step %u (%s): mmap", s->name, i, st->name);
    k->mapped[p][id] = st->count;
    k->at[p][id] = st->at;
    memset(k->shadow[p][id], 0, sizeof k->shadow[p][id]);
    break;
  case KS_OP_MUNMAP:
    cr_assert_eq(mmu_space_munmap(&k->space[p], kc_page_va(k, p, id, 0),
                                  (uint64_t)k->mapped[p][id] * KS_PAGE_SIZE),
                 MMU_OK, "%s step %u (%s): munmap", s->name, i, st->name);
    k->mapped[p][id] = 0;
    break;
  case KS_OP_MPROTECT: {
    uint32_t count = st->count ? st->count : k->mapped[p][id] - st->first;
    cr_assert_eq(mmu_space_mprotect(&k->space[p],
                                    kc_page_va(k, p, id, st->first),
                                    (uint64_t)count * KS_PAGE_SIZE, st->prot),
                 MMU_OK, "%s step %u (%s): mprotect", s->name, i, st->name);
    break;
  }
  case KS_OP_MADV_DONTNEED:
    cr_assert_eq(mmu_space_madvise(&k->space[p],
                                   kc_page_va(k, p, id, st->first),
                                   (uint64_t)st->count * KS_PAGE_SIZE,
                                   MMU_MADV_DONTNEED),
                 MMU_OK, "%s step %u (%s): madvise", s->name, i, st->name);
    memset(&k->shadow[p][id][st->first], 0, st->count);
    break;
  case KS_OP_READ:
  case KS_OP_WRITE:
    kc_touch(k, s, i, p);
    break;
  case KS_OP_FORK:
    cr_assert(!k->alive[KC_KID], "%s step %u: a child is alive", s->name, i);
    cr_assert_eq(osw_fork(&k->space[KC_ONE], &k->space[KC_KID]), MMU_OK,
                 "%s step %u (%s): fork", s->name, i, st->name);
    k->alive[KC_KID] = 1;
    memcpy(k->mapped[KC_KID], k->mapped[KC_ONE], sizeof k->mapped[KC_ONE]);
    memcpy(k->at[KC_KID], k->at[KC_ONE], sizeof k->at[KC_ONE]);
    memcpy(k->shadow[KC_KID], k->shadow[KC_ONE], sizeof k->shadow[KC_ONE]);
    break;
  case KS_OP_CHILD_EXIT:
    cr_assert(k->alive[KC_KID], "%s step %u: no child", s->name, i);
    osw_space_free(&k->space[KC_KID]);
    k->alive[KC_KID] = 0;
    break;
  default:
    cr_assert_fail("%s step %u: bad op %u", s->name, i, st->op);
  }
}

/* The system flags of a kernel that follows `policy` (ks_zero_policy). */
static uint32_t kc_sys_flags(unsigned policy) {
  return policy == KS_NO_ZERO_PAGE ? MMU_SYS_NO_ZERO_PAGE : 0;
}

/* Replays script s on a system that follows `policy` (ks_zero_policy);
 * counts[i] receives step i's deltas. */
static void kc_replay(const ks_script *s, unsigned policy, kc_counts *counts) {
  static kc_world k; /* large: off the stack */
  memset(&k, 0, sizeof k);
  cr_assert_leq(s->nsteps, KS_MAX_STEPS);
  cr_assert_eq(osw_init(&k.w, KC_FRAMES, 0, 0, kc_sys_flags(policy)), 0);
  cr_assert_eq(osw_space(&k.w, &k.space[KC_ONE], NULL), MMU_OK);
  k.alive[KC_ONE] = 1;
  for (uint32_t i = 0; i < s->nsteps; i++) {
    const ks_step *st = &s->steps[i];
    /* FORK and CHILD_EXIT are measured in the parent, as getrusage does */
    int p = st->who == KS_CHILD ? KC_KID : KC_ONE;
    mmu_rusage before = k.space[p].ru;
    counts->segv[i] = 0;
    if ((st->op == KS_OP_READ || st->op == KS_OP_WRITE) && st->expect_segv)
      counts->segv[i] = kc_touch_refused(&k, st, p);
    else
      kc_step(&k, s, i);
    counts->minflt[i] = (int64_t)(k.space[p].ru.minflt - before.minflt);
    counts->majflt[i] = (int64_t)(k.space[p].ru.majflt - before.majflt);
    if (st->op == KS_OP_WRITE && !st->expect_segv)
      kc_check_written(&k, s, i, p);
  }
  if (k.alive[KC_KID])
    osw_space_free(&k.space[KC_KID]);
  osw_space_free(&k.space[KC_ONE]);
  osw_free(&k.w);
}

/* ------------------------------------------------------------------------ */
/* Arena scripts (the random ones): every call made as given and its        */
/* result reported in kernel_replay's format (ks_line), to be compared      */
/* with the kernel's line for line.                                         */

static const char *kc_errno_name(int rc) {
  switch (rc) {
  case MMU_OK: return "0";
  case MMU_ERR_NOSPACE: return "ENOMEM";
  case MMU_ERR_ARG: return "EINVAL";
  case MMU_ERR_BADADDR: return "EFAULT";
  default: return mmu_status_name(rc);
  }
}

/* A READ or WRITE of an arena script, of `count` pages from base (page
 * `first` of the arena, or where an mremap put them): two characters a
 * page. */
static void kc_arena_touch(kc_world *k, const ks_step *st, uint32_t i, int p,
                           uint64_t base, uint32_t first, uint32_t count,
                           char *out) {
  mmu_cpu *cpu = st->who == KS_THREAD ? &k->cpu2 : &k->w.cpu;
  if (st->who == KS_THREAD)
    mmu_cpu_enter(cpu); /* applies what the OS side posted meanwhile */
  for (uint32_t n = 0; n < count; n++) {
    uint32_t pg = first + n;
    uint64_t va = base + (uint64_t)n * KS_PAGE_SIZE + KS_TOUCH_OFFSET;
    mmu_fault_info info;
    uint8_t v = KS_BYTE(i, pg);
    memset(&info, 0, sizeof info);
    int rc = st->op == KS_OP_WRITE
                 ? mmu_space_write(&k->space[p], cpu, va, &v, 1, &info)
                 : mmu_space_read(&k->space[p], cpu, va, &v, 1, &info);
    if (rc == MMU_OK && st->op == KS_OP_WRITE)
      memcpy(out + 2 * n, "ww", 2);
    else if (rc == MMU_OK)
      snprintf(out + 2 * n, 3, "%02x", v);
    else if (info.fault_class == MMU_FAULT_SEGV)
      memcpy(out + 2 * n, ks_segv_token(info.si_code), 2);
    else if (info.fault_class == MMU_FAULT_SIGBUS)
      memcpy(out + 2 * n, ks_bus_token(info.si_code), 2);
    else
      memcpy(out + 2 * n, "E!", 2); /* the library failed: never Linux's */
  }
  out[2 * count] = 0;
  if (st->who == KS_THREAD)
    mmu_cpu_leave(cpu);
}

/* A memfd's mmu_file: tmpfs, so a page not in the page cache is a new
 * zero one (shmem_get_folio), never I/O: minor faults. */
static int kc_memfd_read(void *user, uint64_t offset, void *page,
                         int *did_io) {
  const struct kc_memfd *f = user;
  cr_assert_lt(offset, (uint64_t)f->pages * KS_PAGE_SIZE);
  memcpy(page, f->bytes + offset, KS_PAGE_SIZE);
  *did_io = 0;
  return 0;
}

static int kc_memfd_write(void *user, uint64_t offset, const void *page) {
  struct kc_memfd *f = user;
  cr_assert_lt(offset, (uint64_t)f->pages * KS_PAGE_SIZE);
  memcpy(f->bytes + offset, page, KS_PAGE_SIZE);
  return 0;
}

/* Storage for an object of `pages` pages, from obj_pool. */
static void *kc_obj_storage(kc_world *k, uint64_t pages, size_t *bytes) {
  *bytes = mmu_object_storage_size(pages);
  cr_assert_leq(k->obj_used + *bytes / 8, KS_MAX_STEPS * KS_RANDOM_PAGES);
  void *at = k->obj_pool + k->obj_used;
  k->obj_used += (*bytes + 7) / 8;
  return at;
}

/* MEMFD: a new file object of st->count pages under name st->region of
 * process p, shown as the kernel shows a memfd ("/memfd:NAME (deleted)",
 * device 00:01; its inode compared by identity only, as shmem's). */
#define KC_MEMFD_INODE (1ull << 40) /* far from the system's own */
static void kc_memfd_new(kc_world *k, const ks_step *st, int p) {
  struct kc_memfd *f = &k->memfd[k->nmemfd++];
  size_t bytes;
  void *storage = kc_obj_storage(k, st->count, &bytes);
  f->pages = st->count;
  snprintf(f->path, sizeof f->path, "/memfd:ks%u (deleted)",
           (unsigned)st->region);
  f->file.read_page = kc_memfd_read;
  f->file.write_page = kc_memfd_write;
  f->file.user = f;
  f->file.path = f->path;
  f->file.dev_minor = 1;
  f->file.inode = KC_MEMFD_INODE + k->nmemfd;
  cr_assert_eq(mmu_object_init(&f->obj, &k->w.sys, st->count, &f->file,
                               storage, bytes),
               MMU_OK);
  k->fd[p][st->region] = k->nmemfd;
}

/* After an MSYNC of [addr, addr + len) (status rc): process p's files as
 * read back (ks_file_digest), after an fsync of each (mmu_object_sync:
 * pread sees the page cache, the library's medium holds what was written
 * back). A page the msync covered through a mapping of the file, whose
 * bytes the fsync still changed, msync did not write back: "!!". */
static void kc_files(kc_world *k, int p, uint64_t addr, uint64_t len, int rc,
                     char *out, size_t cap) {
  static uint8_t before[KS_FILE_PAGES * KS_PAGE_SIZE];
  uint32_t nregions;
  const mmu_region *rg = mmu_space_regions(&k->space[p], &nregions);
  out[0] = 0;
  for (unsigned id = 0; id < KS_MAX_FILES; id++) {
    if (!k->fd[p][id])
      continue;
    struct kc_memfd *f = &k->memfd[k->fd[p][id] - 1];
    size_t size = (size_t)f->pages * KS_PAGE_SIZE;
    memcpy(before, f->bytes, size);
    cr_assert_eq(mmu_object_sync(&f->obj), MMU_OK);
    ks_file_digest(out, cap, id, f->bytes, f->pages);
    char *pg = out + strlen(out) - 2 * f->pages;
    for (uint32_t r = 0; r < nregions && rc != MMU_ERR_ARG; r++) {
      uint64_t a = rg[r].start > addr ? rg[r].start : addr;
      uint64_t e = rg[r].end < addr + len ? rg[r].end : addr + len;
      for (; rg[r].object == &f->obj && a < e; a += KS_PAGE_SIZE) {
        uint64_t i = (rg[r].offset + a - rg[r].start) / KS_PAGE_SIZE;
        if (i < f->pages && memcmp(before + i * KS_PAGE_SIZE,
                                   f->bytes + i * KS_PAGE_SIZE,
                                   KS_PAGE_SIZE) != 0)
          memcpy(pg + 2 * i, "!!", 2);
      }
    }
  }
  if (!out[0])
    snprintf(out, cap, "-");
}

/* Where arena scripts run: KC_BASE plus the kernel's arena start modulo
 * 2 MiB (kernel_replay prints it), so that the 64 KiB windows of
 * fault-around and the page tables it stays inside (SPEC 9.2.1) cut the
 * arena where the kernel's cut it. */
#define KC_ARENA_ALIGN 0x200000ull
static uint64_t kc_arena = KC_BASE;

/* One call of an arena script in process p; its report into l. */
static void kc_arena_step(kc_world *k, const ks_step *st, uint32_t i, int p,
                          ks_line *l) {
  mmu_space *sp = &k->space[p];
  uint64_t addr = kc_arena + (uint64_t)st->first * KS_PAGE_SIZE +
                  (uint64_t)(int64_t)st->off;
  uint64_t len = (uint64_t)st->count * KS_PAGE_SIZE;
  int rc = MMU_OK;
  switch (st->op) {
  case KS_OP_MMAP:
  case KS_OP_MMAP_POPULATE:
  case KS_OP_MMAP_GROWSDOWN:
    rc = mmu_space_mmap(sp, addr, len, st->prot,
                        MMU_MAP_FIXED |
                            (st->op == KS_OP_MMAP_POPULATE ? MMU_MAP_POPULATE
                                                           : 0) |
                            (st->op == KS_OP_MMAP_GROWSDOWN
                                 ? MMU_MAP_GROWSDOWN
                                 : 0),
                        NULL, 0, NULL);
    break;
  case KS_OP_MMAP_SHARED: {
    /* MAP_SHARED | MAP_ANONYMOUS: a shmem object of the mapping's size */
    uint64_t pages = st->count ? st->count : 1;
    size_t bytes;
    void *storage = kc_obj_storage(k, pages, &bytes);
    mmu_object *o = &k->obj[k->nobj++];
    cr_assert_eq(mmu_object_init(o, &k->w.sys, pages, NULL, storage, bytes),
                 MMU_OK);
    rc = mmu_space_mmap_object(sp, addr, len, st->prot, MMU_MAP_FIXED, o, 0,
                               NULL);
    break;
  }
  case KS_OP_MEMFD:
    kc_memfd_new(k, st, p);
    break;
  case KS_OP_MMAP_FILE:
    if (!k->fd[p][st->region]) { /* no such file: the fd table's answer */
      snprintf(l->rc, sizeof l->rc, "EBADF");
      return;
    }
    rc = mmu_space_mmap_object(sp, addr, len, st->prot, MMU_MAP_FIXED,
                               &k->memfd[k->fd[p][st->region] - 1].obj,
                               (uint64_t)st->at * KS_PAGE_SIZE, NULL);
    break;
  case KS_OP_MSYNC:
    rc = mmu_space_msync(sp, addr, len);
    kc_files(k, p, addr, len, rc, l->file, sizeof l->file);
    break;
  case KS_OP_MUNMAP:
    rc = mmu_space_munmap(sp, addr, len);
    break;
  case KS_OP_MPROTECT:
    rc = mmu_space_mprotect(sp, addr, len, st->prot);
    break;
  case KS_OP_MADV_DONTNEED:
  case KS_OP_MADV_FREE:
    rc = mmu_space_madvise(sp, addr, len,
                           st->op == KS_OP_MADV_FREE ? MMU_MADV_FREE
                                                     : MMU_MADV_DONTNEED);
    break;
  case KS_OP_BRK: {
    uint64_t now = 0;
    /* the syscall returns the break, moved or not: no error code */
    (void)mmu_space_brk(sp, kc_arena + len + (uint64_t)(int64_t)st->off,
                        &now);
    l->has_brk = 1;
    l->brk = (long long)(now - kc_arena);
    break;
  }
  case KS_OP_READ:
  case KS_OP_WRITE:
    kc_arena_touch(k, st, i, p, addr - (uint64_t)(int64_t)st->off,
                   st->first, st->count, l->touch);
    return;
  case KS_OP_MREMAP: {
    uint64_t to = 0, new_len = (uint64_t)st->new_count * KS_PAGE_SIZE;
    rc = mmu_space_mremap(sp, addr, len, new_len, st->flags,
                          kc_arena + (uint64_t)st->at * KS_PAGE_SIZE, &to);
    if (rc != MMU_OK)
      break;
    if (to >= kc_arena && to < kc_arena + KS_RANDOM_PAGES * KS_PAGE_SIZE) {
      snprintf(l->to, sizeof l->to, "%u",
               (unsigned)((to - kc_arena) / KS_PAGE_SIZE) & 0xFFFFu);
      break;
    }
    /* out of the arena, as the kernel's top-down allocator puts it: its
     * pages read back through the address, then unmapped */
    snprintf(l->to, sizeof l->to, "out");
    kc_arena_touch(k, st, i, p, to, 0, st->new_count, l->touch);
    cr_assert_eq(mmu_space_munmap(sp, to, new_len), MMU_OK);
    break;
  }
  default:
    cr_assert_fail("bad op %u", st->op);
  }
  snprintf(l->rc, sizeof l->rc, "%s", kc_errno_name(rc));
}

/* The arena at kc_arena in a new process image: the floor page below it,
 * the heap from it. */
static void kc_arena_image(mmu_space *sp) {
  cr_assert_eq(mmu_space_mmap(sp, kc_arena - KS_PAGE_SIZE, KS_PAGE_SIZE,
                              MMU_PROT_READ, MMU_MAP_FIXED, NULL, 0, NULL),
               MMU_OK);
  cr_assert_eq(mmu_space_set_brk_base(sp, kc_arena), MMU_OK);
}

/* Replays arena script s on a system that follows `policy`: lines[i]
 * receives step i's report. The arena is at kc_arena, the heap's start,
 * the floor page below it (kernel_script.h). An EXEC step's new arena lies where the
 * kernel's did in its 2 MiB (kline, seen: the kernel's lines; offset 0
 * without them). */
static void kc_replay_arena(const ks_script *s, unsigned policy,
                            ks_line *lines, const ks_line *kline,
                            const uint8_t *seen) {
  static kc_world k; /* large: off the stack */
  static char maps[1 << 14];
  const uint64_t first_arena = kc_arena;
  memset(&k, 0, sizeof k);
  cr_assert_leq(s->nsteps, KS_MAX_STEPS);
  cr_assert_eq(osw_init(&k.w, KC_FRAMES, 0, 0, kc_sys_flags(policy)), 0);
  cr_assert_eq(osw_space(&k.w, &k.space[KC_ONE], NULL), MMU_OK);
  k.alive[KC_ONE] = 1;
  kc_arena_image(&k.space[KC_ONE]);
  /* the second thread's cpu: managed (left) from the start, so the OS
   * side posts invalidations to it and it applies them when it enters */
  cr_assert_eq(osw_cpu(&k.w, &k.cpu2, &k.tlb2), 0);
  cr_assert_eq(mmu_space_activate(&k.space[KC_ONE], &k.cpu2), MMU_OK);
  mmu_cpu_leave(&k.cpu2);
  int running = -1; /* the space the first cpu runs: kept across steps, */
                    /* so its TLB too must see every invalidation */
  for (uint32_t i = 0; i < s->nsteps; i++) {
    const ks_step *st = &s->steps[i];
    int p = st->who == KS_CHILD ? KC_KID : KC_ONE;
    ks_line *l = &lines[i];
    ks_line_init(l, s->name, i, st);
    cr_assert(k.alive[p], "%s step %u: no such process", s->name, i);
    if (running != p)
      cr_assert_eq(mmu_space_activate(&k.space[p], &k.w.cpu), MMU_OK);
    running = p;
    mmu_rusage before = k.space[p].ru;
    if (st->op == KS_OP_FORK) {
      cr_assert(!k.alive[KC_KID], "%s step %u: a child is alive", s->name, i);
      cr_assert_eq(osw_fork(&k.space[KC_ONE], &k.space[KC_KID]), MMU_OK);
      k.alive[KC_KID] = 1;
      memcpy(k.fd[KC_KID], k.fd[KC_ONE], sizeof k.fd[KC_ONE]); /* inherited */
    } else if (st->op == KS_OP_CHILD_EXIT) {
      cr_assert(k.alive[KC_KID], "%s step %u: no child", s->name, i);
      osw_space_free(&k.space[KC_KID]);
      k.alive[KC_KID] = 0;
      running = -1; /* the cpu's CR3 may be the child's freed root */
    } else if (st->op == KS_OP_EXEC) {
      /* execve: a new mm in the same space, cpus kept (the kernel's
       * second thread is a new one: the library's cpu2 goes on) */
      cr_assert(!k.alive[KC_KID], "%s step %u: exec with a child", s->name,
                i);
      cr_assert_eq(mmu_space_exec(&k.space[KC_ONE]), MMU_OK);
      memset(k.fd[KC_ONE], 0, sizeof k.fd[KC_ONE]); /* MFD_CLOEXEC */
      uint64_t off = kline && seen[i] && kline[i].has_arena
                         ? (uint64_t)kline[i].arena % KC_ARENA_ALIGN
                         : 0;
      kc_arena = KC_BASE + (off & ~(uint64_t)(KS_PAGE_SIZE - 1));
      kc_arena_image(&k.space[KC_ONE]);
      snprintf(l->rc, sizeof l->rc, "0");
    } else {
      kc_arena_step(&k, st, i, p, l);
    }
    l->minflt = (int64_t)(k.space[p].ru.minflt - before.minflt);
    l->majflt = (int64_t)(k.space[p].ru.majflt - before.majflt);
    mmu_space_maps(&k.space[p], maps, sizeof maps);
    ks_maps_digest(maps, kc_arena, KS_RANDOM_PAGES, 1, l->maps,
                   sizeof l->maps);
  }
  if (k.alive[KC_KID])
    osw_space_free(&k.space[KC_KID]);
  osw_space_free(&k.space[KC_ONE]);
  for (uint32_t f = 0; f < k.nmemfd; f++) /* unmapped now: written back */
    cr_assert_eq(mmu_object_destroy(&k.memfd[f].obj), MMU_OK);
  free(k.tlb2);
  osw_free(&k.w);
  kc_arena = first_arena;
}

static const ks_script *kc_script(const char *name) {
  for (uint32_t i = 0; i < KS_NSCRIPTS; i++)
    if (strcmp(ks_scripts[i].name, name) == 0)
      return &ks_scripts[i];
  return NULL;
}

/* Step i of s: the library's counts (got) against want_* from `source`
 * (the script, or the kernel now). A count the script leaves KS_ANY is not
 * compared. Returns how many were. */
static unsigned kc_expect_step(const ks_script *s, uint32_t i, unsigned policy,
                               const char *source, int64_t want_minflt,
                               int64_t want_majflt, const kc_counts *got) {
  const ks_step *st = &s->steps[i];
  const struct {
    const char *name;
    int32_t expect;
    int64_t want, got;
  } c[2] = {{"minflt", st->expect_minflt[policy], want_minflt, got->minflt[i]},
            {"majflt", st->expect_majflt, want_majflt, got->majflt[i]}};
  unsigned compared = 0;
  for (int k = 0; k < 2; k++) {
    if (c[k].expect == KS_ANY)
      continue;
    compared++;
    cr_expect_eq(c[k].got, c[k].want,
                 "%s step %u (%s, %s, %s): %s %s %lld, library %lld", s->name,
                 i, st->name, ks_who_name(st->who), ks_policy_name(policy),
                 c[k].name, source, (long long)c[k].want,
                 (long long)c[k].got);
  }
  return compared;
}

/* ------------------------------------------------------------------------ */
/* Against the scripts' expectations (measured on Linux when written).      */

static void kc_check_script(const char *name, unsigned policy) {
  const ks_script *s = kc_script(name);
  cr_assert_not_null(s, "no script %s in kernel_script.h", name);
  static kc_counts got;
  kc_replay(s, policy, &got);
  for (uint32_t i = 0; i < s->nsteps; i++)
    kc_expect_step(s, i, policy, "expected", s->steps[i].expect_minflt[policy],
                   s->steps[i].expect_majflt, &got);
}

/* Every script of kernel_script.h, by the name of its test. */
#define KC_SCRIPTS(X)                                                        \
  X(read_then_write)                                                         \
  X(write_first)                                                             \
  X(fork_cow)                                                                \
  X(fork_after_reads)                                                        \
  X(fork_after_reads_anon)                                                   \
  X(remap)                                                                   \
  X(mprotect)                                                                \
  X(mprotect_forked)                                                         \
  X(fork_read_shared)                                                        \
  X(fork_twice)                                                              \
  X(adjacent_merge)                                                          \
  X(mprotect_split_fork)                                                     \
  X(populate)                                                                \
  X(dontneed)

#define KC_TEST(script)                                                      \
  Test(library_vs_script, script) { kc_check_script(#script, KS_ZERO_PAGE); } \
  Test(library_vs_script_no_zero_page, script) {                             \
    kc_check_script(#script, KS_NO_ZERO_PAGE);                               \
  }
KC_SCRIPTS(KC_TEST)

Test(library_vs_script, every_script_has_a_test) {
#define KC_NAME(script) #script,
  static const char *const tested[] = {KC_SCRIPTS(KC_NAME)};
  const uint32_t n = (uint32_t)(sizeof tested / sizeof tested[0]);
  cr_expect_eq(n, KS_NSCRIPTS, "%u tests for %u scripts", n, KS_NSCRIPTS);
  for (uint32_t i = 0; i < KS_NSCRIPTS; i++) {
    uint32_t j = 0;
    while (j < n && strcmp(tested[j], ks_scripts[i].name) != 0)
      j++;
    cr_expect_lt(j, n, "script %s has no test here", ks_scripts[i].name);
  }
}

/* Not modelled: a real fork() step costs the forking process a fault or
 * two on its own stack and libc data (written right after fork); those
 * pages are the replayer's, not the script's, so no script checks FORK
 * (KS_ANY, SPEC 9.10). The library's fork itself faults nothing. */
Test(library_vs_script, fork_step_replayer_faults_not_modelled) {
  unsigned forks = 0;
  for (unsigned p = 0; p < KS_NPOLICIES; p++) {
    for (uint32_t c = 0; c < KS_NSCRIPTS; c++) {
      const ks_script *s = &ks_scripts[c];
      static kc_counts got;
      kc_replay(s, p, &got);
      for (uint32_t i = 0; i < s->nsteps; i++) {
        if (s->steps[i].op != KS_OP_FORK)
          continue;
        forks++;
        cr_expect_eq(s->steps[i].expect_minflt[p], KS_ANY, "%s step %u",
                     s->name, i);
        cr_expect_eq(got.minflt[i], 0, "%s step %u: library fork faulted",
                     s->name, i);
        cr_expect_eq(got.majflt[i], 0, "%s step %u", s->name, i);
      }
    }
  }
  cr_expect_gt(forks, 0);
}

/* ------------------------------------------------------------------------ */
/* The probe that tells the kernels apart.                                  */

/* The probe classifies counts exactly: a kernel that does anything else
 * (a fault short, prefaulting, a huge zero page) is no policy at all. */
Test(probe, classifies_exact_counts_only) {
  enum { N = KS_PROBE_PAGES };
  static const struct {
    int64_t minflt[4];
    int policy;
  } cases[] = {
      {{0, N, N, 0}, KS_ZERO_PAGE},
      {{0, N, 0, 0}, KS_NO_ZERO_PAGE},
      {{0, N, N / 2, 0}, -1},
      {{0, N - 1, N, 0}, -1},
      {{0, 0, 0, 0}, -1},
      {{1, N, 0, 0}, -1},
      {{0, N, 0, 1}, -1},
  };
  cr_assert_eq(ks_probe.nsteps, 4u);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    cr_expect_eq(ks_probe_policy(cases[c].minflt), cases[c].policy,
                 "case %zu", c);
}

/* The library, under either policy, is what the probe says it is. */
Test(probe, library_meets_its_policy) {
  for (unsigned p = 0; p < KS_NPOLICIES; p++) {
    static kc_counts got;
    kc_replay(&ks_probe, p, &got);
    cr_expect_eq(ks_probe_policy(got.minflt), (int)p, "library under %s",
                 ks_policy_name(p));
  }
}

/* What each policy changes, beyond the counts: without the zero page a
 * read gives the region an anon_vma and a resident, writable page of its
 * own, and vmstat counts no zero-page map. */
Test(zero_page_policy, anonymous_reads_with_and_without) {
  for (unsigned p = 0; p < KS_NPOLICIES; p++) {
    static osw w;
    mmu_space sp;
    uint64_t va = KC_BASE;
    cr_assert_eq(osw_init(&w, 64, 0, 0, kc_sys_flags(p)), 0);
    cr_assert_eq(osw_space(&w, &sp, NULL), MMU_OK);
    cr_assert_eq(mmu_space_activate(&sp, &w.cpu), MMU_OK);
    cr_assert_eq(mmu_space_mmap(&sp, va, 2 * KS_PAGE_SIZE, KS_PROT_RW,
                                MMU_MAP_FIXED, NULL, 0, NULL),
                 MMU_OK);
    cr_assert_eq(mmu_space_mmap(&sp, va + 4 * KS_PAGE_SIZE, KS_PAGE_SIZE,
                                KS_PROT_READ, MMU_MAP_FIXED, NULL, 0, NULL),
                 MMU_OK);
    mmu_fault_info fi;
    uint8_t v = 1;
    cr_assert_eq(osw_read8(&w, &sp, va, &v, &fi), MMU_OK);
    cr_expect_eq(v, 0);
    cr_expect_eq(fi.fault_class, MMU_FAULT_MINOR);
    int zp = p == KS_ZERO_PAGE;
    cr_expect_eq((fi.flags & MMU_FAULTF_ZERO_PAGE) != 0, zp);
    cr_expect_eq(w.sys.vm.zero_maps, (uint64_t)zp);
    cr_expect_eq(sp.ru.rss_pages, (uint64_t)!zp);
    cr_expect_eq(sp.regions[0].anon_id != 0, !zp, "anon_vma after a read");
    /* the write that follows: a fault with the zero page, none without */
    mmu_result res;
    cr_assert_eq(mmu_space_activate(&sp, &w.cpu), MMU_OK);
    int rc = mmu_translate(&w.cpu, va, MMU_WRITE, &res);
    cr_expect_eq(rc, zp ? MMU_PAGE_FAULT : MMU_OK);
    cr_assert_eq(osw_write8(&w, &sp, va, 7, NULL), MMU_OK);
    cr_expect_eq(sp.ru.minflt, zp ? 2u : 1u);
    cr_expect_eq(sp.ru.rss_pages, 1u);
    /* a read-only region's page is read-only, but its own all the same */
    cr_assert_eq(osw_read8(&w, &sp, va + 4 * KS_PAGE_SIZE, &v, NULL), MMU_OK);
    rc = mmu_translate(&w.cpu, va + 4 * KS_PAGE_SIZE, MMU_WRITE, &res);
    cr_expect_eq(rc, MMU_PAGE_FAULT);
    cr_expect_eq(sp.regions[1].anon_id != 0, !zp);
    cr_expect_eq(sp.ru.rss_pages, zp ? 1u : 2u);
    cr_expect_eq(w.sys.vm.pgfault, zp ? 3u : 2u);
    osw_space_free(&sp);
    osw_free(&w);
  }
}

/* ------------------------------------------------------------------------ */
/* Against the kernel itself: kernel_replay --all, step by step.           */

#ifdef KERNEL_REPLAY_PATH
/* Runs kernel_replay with `args`; each line of its output goes to `line`
 * (the policy line sets *policy first). Fails the test if it does not
 * exit 0 or prints no policy. */
static void kc_run_replayer(const char *args, int *policy,
                            void (*line)(const char *text, void *ctx),
                            void *ctx) {
  char cmd[1024];
  static char text[4096];
  snprintf(cmd, sizeof cmd, "'%s' %s", KERNEL_REPLAY_PATH, args);
  fflush(NULL);
  FILE *f = popen(cmd, "r");
  cr_assert_not_null(f, "cannot run %s", cmd);
  *policy = -1;
  while (fgets(text, sizeof text, f)) {
    char name[32];
    unsigned long long arena;
    if (sscanf(text, "# arena start modulo 2 MiB: %llx", &arena) == 1) {
      cr_assert_eq(arena % KS_PAGE_SIZE, 0);
      kc_arena = KC_BASE + arena % KC_ARENA_ALIGN;
      continue;
    }
    if (sscanf(text, "# anonymous read faults: %31s", name) == 1) {
      *policy = ks_policy_of(name);
      cr_assert_geq(*policy, 0, "kernel_replay: unknown policy: %s", text);
      continue;
    }
    line(text, ctx);
  }
  int status = pclose(f);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
    cr_skip_test("%s cannot run here (exit 77: no room for its arena, "
                 "address space layout randomisation off?)", cmd);
  cr_assert_eq(status, 0, "%s exited with status %#x", cmd, status);
  cr_assert_geq(*policy, 0, "kernel_replay printed no policy line");
}

/* kc_compare_with_replayer's lines: the fixed scripts' counts. */
typedef struct kc_fixed_out {
  kc_counts kernel[KS_NSCRIPTS];
  uint8_t seen[KS_NSCRIPTS][KS_MAX_STEPS];
} kc_fixed_out;

static void kc_fixed_line(const char *text, void *ctx) {
  kc_fixed_out *o = ctx;
  static ks_line l;
  if (text[0] == '#')
    return;
  if (!ks_line_parse(text, &l)) {
    cr_expect_fail("kernel_replay: unexpected line: %s", text);
    return;
  }
  const ks_script *s = kc_script(l.script);
  if (!s || l.index >= s->nsteps || strcmp(s->steps[l.index].name, l.step) ||
      strcmp(ks_who_name(s->steps[l.index].who), l.who)) {
    cr_expect_fail("kernel_replay: unknown step: %s", text);
    return;
  }
  uint32_t c = (uint32_t)(s - ks_scripts);
  o->seen[c][l.index] = 1;
  o->kernel[c].minflt[l.index] = l.minflt;
  o->kernel[c].majflt[l.index] = l.majflt;
}

/* Runs kernel_replay with `args` and reads its output: the policy line
 * (the probe's answer, or --policy's), then a line per step. The library
 * is replayed under that policy and held to every step. Returns the
 * number of counts compared; *policy receives the policy. */
static unsigned kc_compare_with_replayer(const char *args, int *policy) {
  static kc_counts lib[KS_NSCRIPTS];
  static kc_fixed_out out;
  memset(&out, 0, sizeof out);
  kc_run_replayer(args, policy, kc_fixed_line, &out);
  kc_counts *kernel = out.kernel;
  uint8_t(*seen)[KS_MAX_STEPS] = out.seen;
  unsigned compared = 0;
  for (uint32_t c = 0; c < KS_NSCRIPTS; c++) {
    const ks_script *s = &ks_scripts[c];
    kc_replay(s, (unsigned)*policy, &lib[c]);
    for (uint32_t i = 0; i < s->nsteps; i++) {
      if (!seen[c][i]) {
        cr_expect_fail("kernel_replay printed no line for %s step %u",
                       s->name, i);
        continue;
      }
      compared += kc_expect_step(s, i, (unsigned)*policy, "kernel",
                                 kernel[c].minflt[i], kernel[c].majflt[i],
                                 &lib[c]);
    }
  }
  return compared;
}
#endif

/* The kernel this runs on: probed, then every step compared. */
Test(library_vs_kernel, every_step_of_every_script, .timeout = 120) {
#ifndef KERNEL_REPLAY_PATH
  cr_skip_test("kernel_replay is not built here (Linux only)");
#else
  int policy;
  cr_expect_gt(kc_compare_with_replayer("--all", &policy), 0u);
#endif
}

/* A kernel of either kind, as the replayer expects it to answer: the same
 * path from its output to the library's configuration and comparison, for
 * the kind of kernel this machine is not too. */
Test(library_vs_kernel, either_policy_as_the_replayer_expects) {
#ifndef KERNEL_REPLAY_PATH
  cr_skip_test("kernel_replay is not built here (Linux only)");
#else
  for (unsigned p = 0; p < KS_NPOLICIES; p++) {
    char args[64];
    int policy;
    snprintf(args, sizeof args, "--expect --all --policy %s",
             ks_policy_name(p));
    cr_expect_gt(kc_compare_with_replayer(args, &policy), 0u);
    cr_expect_eq(policy, (int)p);
  }
#endif
}

/* ------------------------------------------------------------------------ */
/* Random scripts against the kernel (kernel_script.h's ks_random_script):  */
/* kernel_replay --random runs them in real processes, the library replays */
/* the same seeds, and every step's report must be the kernel's: faults,   */
/* return values, the break, what each touched page gave (bytes read,      */
/* SIGSEGV and si_code), the arena's VMAs and their names. FORK's own      */
/* counts are not compared (SPEC 9.10); a step the kernel did not repeat   */
/* identically in two runs is left out as unstable.                        */

#ifdef KERNEL_REPLAY_PATH
#define KC_RANDOM_MAX 4096u

static unsigned long long kc_env(const char *name, unsigned long long dflt) {
  const char *v = getenv(name);
  unsigned long long x = v ? strtoull(v, NULL, 10) : 0;
  return x ? x : dflt;
}

/* The kernel's lines of scripts first .. first + count - 1. */
typedef struct kc_random_out {
  unsigned long long first, count;
  ks_line (*line)[KS_MAX_STEPS];
  uint8_t (*seen)[KS_MAX_STEPS];
  uint8_t (*unstable)[KS_MAX_STEPS];
  unsigned unstable_steps;
} kc_random_out;

static void kc_random_line(const char *text, void *ctx) {
  kc_random_out *o = ctx;
  static ks_line l;
  if (!strncmp(text, "UNSTABLE ", 9)) {
    /* the kernel's two runs disagreed: noise, that step is left out */
    unsigned long long k;
    if (ks_line_parse(text + 9, &l) &&
        (k = ks_random_seed_of(l.script) - o->first) < o->count &&
        l.index < KS_MAX_STEPS) {
      o->unstable[k][l.index] = 1;
      o->unstable_steps++;
    }
    return;
  }
  if (text[0] == '#')
    return;
  unsigned long long k;
  if (!ks_line_parse(text, &l)) {
    cr_expect_fail("kernel_replay: unexpected line: %s", text);
  } else if ((k = ks_random_seed_of(l.script) - o->first) >= o->count ||
             l.index >= KS_MAX_STEPS) {
    cr_expect_fail("kernel_replay: unknown step: %s", text);
  } else {
    o->seen[k][l.index] = 1;
    o->line[k][l.index] = l;
  }
}

/* What the comparison of one script counted. */
typedef struct kc_tally {
  unsigned steps, counts, touches, pages, maperr, accerr, buserr, calls, brks,
      maps, shared, threads, execs, memfds, file_maps, msyncs, written;
} kc_tally;

/* Whether an MSYNC's file text (ks_file_digest) holds a byte written. */
static int kc_file_written(const char *f) {
  for (const char *c = f; (c = strchr(c, ':')) != NULL;)
    for (c++; c[0] && c[1] && c[0] != ','; c += 2)
      if (c[0] != '0' || c[1] != '0')
        return 1;
  return 0;
}

/* A step's report as compared: FORK's counts (KS_ANY) left out, the maps
 * too when MMU_RANDOM_MAPS=0. */
static void kc_comparable(const ks_step *st, ks_line *l, int maps_on,
                          char *out, size_t cap) {
  if (st->expect_minflt[0] == KS_ANY)
    l->minflt = KS_ANY;
  if (st->expect_majflt == KS_ANY)
    l->majflt = KS_ANY;
  if (!maps_on)
    l->maps[0] = 0;
  l->has_arena = 0; /* the kernel's alone: the library's copies it */
  ks_line_format(l, out, cap);
}

/* The first step of arena script s whose report differs between the
 * kernel (kline, seen, unstable: its lines) and the library, or -1; its
 * lines into want and got (KC_LINE each). t, when set, counts. */
#define KC_LINE 4096
static int kc_first_difference(const ks_script *s, unsigned policy,
                               int maps_on, ks_line *kline,
                               const uint8_t *seen, const uint8_t *unstable,
                               char *want, char *got, kc_tally *t) {
  static ks_line lib[KS_MAX_STEPS];
  kc_replay_arena(s, policy, lib, kline, seen);
  for (uint32_t i = 0; i < s->nsteps; i++) {
    const ks_step *st = &s->steps[i];
    if (!seen[i]) {
      snprintf(want, KC_LINE, "(no line)");
      ks_line_format(&lib[i], got, KC_LINE);
      return (int)i;
    }
    if (unstable[i])
      continue;
    kc_comparable(st, &kline[i], maps_on, want, KC_LINE);
    kc_comparable(st, &lib[i], maps_on, got, KC_LINE);
    if (t) {
      t->steps++;
      t->counts += 2 * (st->expect_minflt[0] != KS_ANY);
      t->touches += lib[i].touch[0] != 0;
      for (const char *c = lib[i].touch; c[0] && c[1]; c += 2) {
        t->pages++;
        t->maperr += c[0] == 's' && c[1] == 'm';
        t->accerr += c[0] == 's' && c[1] == 'a';
        t->buserr += c[0] == 'b';
      }
      t->calls += lib[i].rc[0] != 0;
      t->shared += st->op == KS_OP_MMAP_SHARED;
      t->threads += st->who == KS_THREAD;
      t->execs += st->op == KS_OP_EXEC;
      t->memfds += st->op == KS_OP_MEMFD;
      t->file_maps += st->op == KS_OP_MMAP_FILE && !strcmp(lib[i].rc, "0");
      t->msyncs += st->op == KS_OP_MSYNC;
      t->written += kc_file_written(lib[i].file);
      t->brks += lib[i].has_brk;
      t->maps += maps_on;
    }
    if (strcmp(want, got) != 0)
      return (int)i;
  }
  return -1;
}

/* Runs steps[0..n) as arena script "random-SEED" in both halves (the
 * kernel's through kernel_replay --script); the first differing step as
 * kc_first_difference. */
static int kc_try(unsigned long long seed, const ks_step *steps, uint32_t n,
                  int policy, int maps_on, char *want, char *got) {
  static ks_line line[1][KS_MAX_STEPS];
  static uint8_t seen[1][KS_MAX_STEPS], unstable[1][KS_MAX_STEPS];
  static char path[] = "/tmp/kc_min_XXXXXX";
  char text[128], name[32], args[256];
  memcpy(path + sizeof path - 7, "XXXXXX", 6);
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  cr_assert_not_null(f);
  for (uint32_t i = 0; i < n; i++) {
    ks_step_format(&steps[i], text, sizeof text);
    fprintf(f, "%s\n", text);
  }
  fclose(f);
  snprintf(name, sizeof name, "random-%llu", seed);
  snprintf(args, sizeof args, "--runs 2 --policy %s --script %s %s",
           ks_policy_name((unsigned)policy), name, path);
  kc_random_out o = {seed, 1, line, seen, unstable, 0};
  memset(seen, 0, sizeof seen);
  memset(unstable, 0, sizeof unstable);
  int given;
  kc_run_replayer(args, &given, kc_random_line, &o);
  remove(path);
  ks_script s = {name, "minimised", steps, n, KS_SCRIPT_ARENA};
  return kc_first_difference(&s, (unsigned)policy, maps_on, line[0], seen[0],
                             unstable[0], want, got, NULL);
}

/* steps[0..n) without step i; a FORK goes with its child's steps and
 * exit. The new length. */
static uint32_t kc_drop(const ks_step *steps, uint32_t n, uint32_t i,
                        ks_step *out) {
  uint32_t m = 0;
  int in_child = 0;
  for (uint32_t j = 0; j < n; j++) {
    int fork = steps[i].op == KS_OP_FORK && j >= i;
    if (fork && j == i) {
      in_child = 1;
      continue;
    }
    if (in_child && fork && steps[j].who == KS_CHILD)
      continue;
    if (in_child && fork && steps[j].op == KS_OP_CHILD_EXIT) {
      in_child = 0;
      continue;
    }
    if (j != i)
      out[m++] = steps[j];
  }
  return m;
}

/* Shrinks a script that differs: drops steps, then narrows ranges, while
 * the result still differs (each candidate run again in a real process
 * and on the library), and says what is left, readably. */
static void kc_minimise(unsigned long long seed, const ks_script *s,
                        int policy, int maps_on) {
  static ks_step cur[KS_MAX_STEPS], cand[KS_MAX_STEPS];
  static char want[KC_LINE], got[KC_LINE];
  uint32_t n = s->nsteps, runs = 0;
  memcpy(cur, s->steps, n * sizeof *cur);
  for (int progress = 1; progress && runs < 400;) {
    progress = 0;
    for (uint32_t i = n; i-- > 0 && runs < 400;) {
      if (i >= n)
        continue;
      uint32_t m = kc_drop(cur, n, i, cand);
      if (!m || !ks_processes_ok(cand, m))
        continue;
      runs++;
      if (kc_try(seed, cand, m, policy, maps_on, want, got) >= 0) {
        memcpy(cur, cand, m * sizeof *cur);
        n = m;
        progress = 1;
      }
    }
    for (uint32_t i = 0; i < n && runs < 400; i++) {
      while (cur[i].count > 1 && runs < 400) {
        ks_step keep = cur[i];
        cur[i].count = keep.count / 2;
        runs++;
        if (kc_try(seed, cur, n, policy, maps_on, want, got) < 0) {
          cur[i] = keep;
          break;
        }
        progress = 1;
      }
    }
  }
  int at = kc_try(seed, cur, n, policy, maps_on, want, got);
  static char text[KS_MAX_STEPS * 64];
  size_t len = 0;
  for (uint32_t i = 0; i < n; i++) {
    char one[128];
    ks_step_format(&cur[i], one, sizeof one);
    len += (size_t)snprintf(text + len, sizeof text - len, "\n    %2u: %s", i,
                            one);
  }
  cr_expect_fail("random-%llu minimised (%u runs) to %u steps, step %d "
                 "differs:%s\n  kernel:  %s\n  library: %s\n  (write the "
                 "steps to FILE and run kernel_replay --script random-%llu "
                 "FILE)",
                 seed, runs, n, at, text, want, got, seed);
}
#endif

Test(library_vs_kernel, random_scripts, .timeout = 600) {
#ifndef KERNEL_REPLAY_PATH
  cr_skip_test("kernel_replay is not built here (Linux only)");
#else
  static ks_step steps[KS_MAX_STEPS];
  static char name[32];
  static char want[KC_LINE], got[KC_LINE];
  kc_random_out o;
  memset(&o, 0, sizeof o);
  o.first = kc_env("MMU_RANDOM_SEED", 1);
  o.count = kc_env("MMU_RANDOM_SCRIPTS", 300);
  cr_assert_leq(o.count, KC_RANDOM_MAX);
  o.line = calloc(o.count, sizeof *o.line);
  o.seen = calloc(o.count, sizeof *o.seen);
  o.unstable = calloc(o.count, sizeof *o.unstable);
  cr_assert(o.line && o.seen && o.unstable);
  char args[128];
  snprintf(args, sizeof args, "--runs 2 --random %llu %llu", o.first,
           o.count);
  int policy;
  kc_run_replayer(args, &policy, kc_random_line, &o);
  /* VMAs too (MMU_RANDOM_MAPS=0 leaves them out, to look at the rest) */
  const char *mv = getenv("MMU_RANDOM_MAPS");
  int maps_on = !mv || strcmp(mv, "0") != 0;
  kc_tally t;
  memset(&t, 0, sizeof t);
  unsigned scripts_differing = 0;
  for (unsigned long long k = 0; k < o.count; k++) {
    ks_script s = ks_random_script(o.first + k, steps, name);
    int at = kc_first_difference(&s, (unsigned)policy, maps_on, o.line[k],
                                 o.seen[k], o.unstable[k], want, got, &t);
    if (at < 0)
      continue;
    cr_expect_fail("%s step %d differs (kernel_replay --random %llu 1; "
                   "arena at %#llx in its 2 MiB):\n  kernel:  %s\n  "
                   "library: %s",
                   s.name, at, o.first + k,
                   (unsigned long long)(kc_arena % KC_ARENA_ALIGN), want,
                   got);
    if (scripts_differing++ < 3) /* the first few, minimised */
      kc_minimise(o.first + k, &s, policy, maps_on);
  }
  free(o.line);
  free(o.seen);
  free(o.unstable);
  cr_log_info("random scripts %llu..%llu: %u steps compared (%u counts, %u "
              "touches (%u by the second thread) of %u pages, %u "
              "SEGV_MAPERR, %u SEGV_ACCERR and %u SIGBUS, %u calls (%u "
              "shared mmaps, %u execs, %u memfds, %u memfd mappings made, "
              "%u msyncs with their files read back, %u of them holding "
              "written bytes), %u breaks, %u VMA "
              "lists), %u left out as unstable on the kernel, %u scripts "
              "differ",
              o.first, o.first + o.count - 1, t.steps, t.counts, t.touches,
              t.threads, t.pages, t.maperr, t.accerr, t.buserr, t.calls,
              t.shared, t.execs, t.memfds, t.file_maps, t.msyncs, t.written,
              t.brks, t.maps, o.unstable_steps, scripts_differing);
  cr_expect_gt(t.steps, 0u);
#endif
}
