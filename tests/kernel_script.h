/* SPDX-License-Identifier: MIT */
/* Fault-count scripts shared by the two halves of the kernel comparison.
 *
 * A script is a sequence of memory-management steps (mmap, munmap,
 * mprotect, page touches, fork, child exit) together with the number of
 * page faults its author expects each step to cost, as getrusage() counts
 * them (ru_minflt / ru_majflt of the process that executes the step).
 *
 *   - tests/kernel_replay.c runs every script in real Linux processes and
 *     checks the expectations against the kernel (ctest
 *     kernel_replay_selfcheck): the numbers below are what Linux 6.x does.
 *   - The library half replays the same scripts on mmu_space objects
 *     (mmu_space_mmap/munmap/mprotect/fork/destroy, touches through
 *     mmu_space_access) and compares mmu_rusage deltas with the same
 *     numbers.
 *
 * Plain data only: C11, <stdint.h>, no Linux header and no function that
 * needs one, so the header can be included by a Criterion test.
 *
 * Model
 * -----
 * Regions: a script names up to KS_MAX_REGIONS anonymous private regions
 * by id (0..KS_MAX_REGIONS-1). Each MMAP places its region at a fixed page
 * offset (`at`) inside the script's arena, a range of KS_ARENA_PAGES pages
 * whose base the replayer picks (the kernel half: an address the kernel
 * chose for a PROT_NONE reservation of the arena plus a guard page on
 * either side, mapped over with MAP_FIXED; the library half: any free,
 * page-aligned range, regions mapped with MMU_MAP_FIXED). Fixed offsets
 * make adjacency, and therefore VMA merging, part of the script (see
 * adjacent_merge: two adjacent regions with equal protections are one VMA
 * and share one anon_vma). The arena's unmapped pages are PROT_NONE
 * reservations in the kernel half (re-reserved after each munmap); they
 * never merge with a region, so the library half may leave them unmapped.
 * A region is never mapped twice at once and regions never overlap.
 *
 * Processes: a script starts with one process. Steps before the first
 * FORK carry who = KS_BOTH (the one process, which both later processes
 * descend from). FORK creates a child; while it lives every step says
 * KS_PARENT or KS_CHILD. CHILD_EXIT ends the child (the parent waits for
 * it); the steps after it are KS_PARENT (or KS_BOTH, meaning the same
 * thing: the one process). A script may FORK again after CHILD_EXIT; at
 * most one child is alive at a time. A script need not unmap its regions
 * before it ends.
 *
 * Touches: READ reads one byte of each page [first, first + count) of the
 * region, WRITE writes one byte of each (at offset KS_TOUCH_OFFSET within
 * the page, value KS_BYTE(step index, page)). Each process keeps a shadow
 * of what its pages must hold (zero until written, then the last value
 * it or its ancestor wrote) and checks every byte it reads.
 *
 * Expectations: expect_minflt / expect_majflt are the ru_minflt /
 * ru_majflt deltas of the process that executes the step, over exactly
 * that step (for CHILD_EXIT: the parent, over its wait). KS_ANY means
 * "not checked": FORK's own count in the parent measures the replayer's
 * (and libc's) memory written right after fork, not the script's regions.
 * All expectations assume transparent huge pages are off for the regions
 * (the kernel half turns them off for its processes, PR_SET_THP_DISABLE), no swap activity
 * during the script, and no NUMA balancing.
 *
 * Kernels differ in one thing the counts depend on: what an anonymous
 * read fault maps. Most map the shared zero page read-only (the write
 * that follows faults again, and the VMA gets no anon_vma); kernels
 * where mm_forbids_zeropage() holds (s390 KVM guests, a boot option of
 * some paravirtualised kernels) allocate a private zeroed page, writable
 * when the VMA is, and give the VMA its anon_vma. Each step's minor
 * count is given for both (expect_minflt[KS_ZERO_PAGE] and
 * [KS_NO_ZERO_PAGE]); the replayer probes which one the running kernel
 * follows, and the library half replays with MMU_SYS_NO_ZERO_PAGE to
 * match.
 */
#ifndef MMU_KERNEL_SCRIPT_H
#define MMU_KERNEL_SCRIPT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_PAGE_SIZE 4096u
#define KS_MAX_REGIONS 8u
#define KS_MAX_PAGES 512u     /* per region */
#define KS_ARENA_PAGES 4096u  /* every region lies in [0, KS_ARENA_PAGES) */
#define KS_MAX_STEPS 64u      /* per script */
#define KS_TOUCH_OFFSET 64u   /* byte of each page that READ/WRITE touch */

/* The byte WRITE step `step` (its index in the script) stores in page
 * `page` of its region: never zero, so a page that was written is told
 * apart from a zero page. */
#define KS_BYTE(step, page)                                                  \
  ((uint8_t)(((uint32_t)(step) * 37u + (uint32_t)(page) * 11u) % 255u + 1u))

/* Protections: the values of Linux's PROT_* and of MMU_PROT_*. */
enum {
  KS_PROT_NONE = 0,
  KS_PROT_READ = 1,
  KS_PROT_WRITE = 2,
  KS_PROT_RW = 3
};

typedef enum ks_op {
  KS_OP_MMAP = 1,    /* map region: `count` pages at arena page `at`, prot */
  KS_OP_MUNMAP,      /* unmap the whole region */
  KS_OP_MPROTECT,    /* set prot on pages [first, first + count); count 0: */
                     /* from first to the end of the region */
  KS_OP_READ,        /* read a byte of pages [first, first + count) */
  KS_OP_WRITE,       /* write a byte of pages [first, first + count) */
  KS_OP_FORK,        /* the process forks (measured in the parent) */
  KS_OP_CHILD_EXIT,  /* the child exits; the parent waits (measured there) */
  KS_OP_MMAP_POPULATE, /* as MMAP, with MAP_POPULATE */
  KS_OP_MADV_DONTNEED, /* madvise(MADV_DONTNEED) pages [first, first + count) */
  /* Arena scripts only (KS_SCRIPT_ARENA, below): */
  KS_OP_MMAP_GROWSDOWN, /* as MMAP, with MAP_GROWSDOWN: a stack */
  KS_OP_MADV_FREE,      /* madvise(MADV_FREE) */
  KS_OP_BRK,            /* brk(arena + count pages + off): the heap starts */
                        /* at the arena's page 0 */
  KS_OP_MREMAP,         /* mremap(first + off, count pages, new_count */
                        /* pages, flags, arena page `at`) */
  KS_OP_MMAP_SHARED,    /* as MMAP, MAP_SHARED | MAP_ANONYMOUS: a shmem */
                        /* object of the mapping's size (the library: an */
                        /* mmu_object) */
  KS_OP_EXEC,           /* the one process (no child alive) execs: a new */
                        /* mm, its arena at the new initial break */
  KS_OP_MEMFD,          /* file `region` (< KS_MAX_FILES) of the process */
                        /* becomes a new memfd of `count` pages (the one */
                        /* it named before closed); close-on-exec */
  KS_OP_MMAP_FILE,      /* as MMAP, MAP_SHARED of file `region` from its */
                        /* page `at` (the library: that file's */
                        /* mmu_object); no such file: EBADF */
  KS_OP_MSYNC           /* msync(MS_SYNC) of [first, first + count) + off, */
                        /* then the process's files read back (ks_line */
                        /* file) */
} ks_op;
#define KS_OP_LAST KS_OP_MSYNC

/* Memfds (KS_OP_MEMFD): per process KS_MAX_FILES names, each file at most
 * KS_FILE_PAGES pages. */
#define KS_MAX_FILES 4u
#define KS_FILE_PAGES 12u
/* Text of the files' contents after an MSYNC (ks_file_digest). */
#define KS_FILE_TEXT 128

/* ks_step.flags of MREMAP: Linux's MREMAP_* values, passed as they are
 * (other bits too: the kernel's EINVAL). */
enum { KS_MREMAP_MAYMOVE = 1, KS_MREMAP_FIXED = 2 };

typedef enum ks_who {
  KS_BOTH = 0,  /* the only process (no child alive) */
  KS_PARENT = 1,
  KS_CHILD = 2,
  KS_THREAD = 3 /* arena scripts, READ and WRITE only: a second thread of */
                /* the first process (the parent), sharing its mm; the */
                /* library: a second cpu running its space */
} ks_who;

/* Not checked (the measured count is still reported). */
#define KS_ANY (-1)

/* What an anonymous read fault maps (see the top of this file). */
typedef enum ks_zero_policy {
  KS_ZERO_PAGE = 0,    /* the shared zero page, read-only: Linux's usual */
  KS_NO_ZERO_PAGE = 1, /* a private zeroed page, writable if the VMA is */
  KS_NPOLICIES = 2
} ks_zero_policy;

typedef struct ks_step {
  const char *name;      /* short, no spaces (one token of the output) */
  uint8_t op;            /* ks_op */
  uint8_t who;           /* ks_who */
  uint8_t region;        /* region id, < KS_MAX_REGIONS (MMAP..WRITE) */
  uint8_t prot;          /* KS_PROT_* (MMAP, MPROTECT) */
  uint32_t at;           /* MMAP: arena page where the region starts */
  uint32_t first;        /* MPROTECT, READ, WRITE: first page of the region */
  uint32_t count;        /* MMAP: region pages; MPROTECT, READ, WRITE: pages */
  int32_t expect_minflt[KS_NPOLICIES]; /* ru_minflt delta, or KS_ANY, */
                                       /* per ks_zero_policy */
  int32_t expect_majflt; /* ru_majflt delta, or KS_ANY */
  uint8_t expect_segv;   /* READ, WRITE: every page's access is refused */
                         /* (SIGSEGV, SEGV_ACCERR) by its protection */
  int32_t off;           /* arena scripts: bytes added to the address */
  uint32_t new_count;    /* MREMAP: the new length, pages (`at`: where a */
                         /* FIXED move goes) */
  uint8_t flags;         /* MREMAP: KS_MREMAP_* */
} ks_step;

/* ks_script.flags */
enum {
  /* An arena script (the random ones): `first` and `count` are arena
   * pages, not a region's, every call's result is reported rather than
   * required to succeed, every touched page says what it gave (the byte
   * read, or SIGSEGV with its si_code), and the arena starts at the
   * process's initial break, so brk moves a heap at its page 0. Its holes
   * are real holes; the page below it is mapped read-only in both halves
   * (KS_FLOOR), so stack guard gaps see the same thing there. */
  KS_SCRIPT_ARENA = 1u
};

typedef struct ks_script {
  const char *name;    /* no spaces */
  const char *summary; /* one line */
  const ks_step *steps;
  uint32_t nsteps;
  uint32_t flags;      /* KS_SCRIPT_* */
} ks_script;

/* Step constructors (positional, so that C and C++ accept them). Majors
 * are 0 throughout: anonymous memory without swap-out never needs I/O.
 * The _ZP forms give the minor count with the zero page, then without. */
#define KS_STEP_(nm, op_, w, id, prot_, at_, first_, count_, zp, nzp, majflt) \
  { (nm), (uint8_t)(op_), (uint8_t)(w), (uint8_t)(id), (uint8_t)(prot_),    \
    (uint32_t)(at_), (uint32_t)(first_), (uint32_t)(count_),                \
    { (int32_t)(zp), (int32_t)(nzp) }, (int32_t)(majflt), 0, 0, 0, 0 }
#define KS_MMAP(nm, w, id, at_, pages, prot_)                                \
  KS_STEP_(nm, KS_OP_MMAP, w, id, prot_, at_, 0, pages, 0, 0, 0)
#define KS_MUNMAP(nm, w, id)                                                 \
  KS_STEP_(nm, KS_OP_MUNMAP, w, id, 0, 0, 0, 0, 0, 0, 0)
#define KS_MPROTECT(nm, w, id, prot_)                                        \
  KS_STEP_(nm, KS_OP_MPROTECT, w, id, prot_, 0, 0, 0, 0, 0, 0)
#define KS_MPROTECT_PAGES(nm, w, id, first_, count_, prot_)                  \
  KS_STEP_(nm, KS_OP_MPROTECT, w, id, prot_, 0, first_, count_, 0, 0, 0)
#define KS_READ_ZP(nm, w, id, first_, count_, zp, nzp)                       \
  KS_STEP_(nm, KS_OP_READ, w, id, 0, 0, first_, count_, zp, nzp, 0)
#define KS_WRITE_ZP(nm, w, id, first_, count_, zp, nzp)                      \
  KS_STEP_(nm, KS_OP_WRITE, w, id, 0, 0, first_, count_, zp, nzp, 0)
#define KS_READ(nm, w, id, first_, count_, minflt)                           \
  KS_READ_ZP(nm, w, id, first_, count_, minflt, minflt)
#define KS_WRITE(nm, w, id, first_, count_, minflt)                          \
  KS_WRITE_ZP(nm, w, id, first_, count_, minflt, minflt)
#define KS_MMAP_POPULATE_ZP(nm, w, id, at_, pages, prot_, zp, nzp)           \
  KS_STEP_(nm, KS_OP_MMAP_POPULATE, w, id, prot_, at_, 0, pages, zp, nzp, 0)
#define KS_MADV_DONTNEED(nm, w, id, first_, count_)                          \
  KS_STEP_(nm, KS_OP_MADV_DONTNEED, w, id, 0, 0, first_, count_, 0, 0, 0)
#define KS_FORK(nm)                                                          \
  KS_STEP_(nm, KS_OP_FORK, KS_BOTH, 0, 0, 0, 0, 0, KS_ANY, KS_ANY, KS_ANY)
#define KS_CHILD_EXIT(nm)                                                    \
  KS_STEP_(nm, KS_OP_CHILD_EXIT, KS_PARENT, 0, 0, 0, 0, 0, 0, 0, 0)

#define KS_NSTEPS(arr) ((uint32_t)(sizeof(arr) / sizeof((arr)[0])))
#define KS_SCRIPT(nm, summary_, arr)                                         \
  { (nm), (summary_), (arr), KS_NSTEPS(arr), 0 }

/* Names as the output prints them. */
static inline const char *ks_op_name(unsigned op) {
  switch (op) {
  case KS_OP_MMAP: return "mmap";
  case KS_OP_MUNMAP: return "munmap";
  case KS_OP_MPROTECT: return "mprotect";
  case KS_OP_READ: return "read";
  case KS_OP_WRITE: return "write";
  case KS_OP_FORK: return "fork";
  case KS_OP_CHILD_EXIT: return "child_exit";
  case KS_OP_MMAP_POPULATE: return "mmap_populate";
  case KS_OP_MADV_DONTNEED: return "madv_dontneed";
  case KS_OP_MMAP_GROWSDOWN: return "mmap_growsdown";
  case KS_OP_MADV_FREE: return "madv_free";
  case KS_OP_BRK: return "brk";
  case KS_OP_MREMAP: return "mremap";
  case KS_OP_MMAP_SHARED: return "mmap_shared";
  case KS_OP_EXEC: return "exec";
  case KS_OP_MEMFD: return "memfd";
  case KS_OP_MMAP_FILE: return "mmap_file";
  case KS_OP_MSYNC: return "msync";
  default: return "?";
  }
}
/* As the replayer prints it ("# anonymous read faults: NAME"). */
static inline const char *ks_policy_name(unsigned policy) {
  return policy == KS_NO_ZERO_PAGE ? "no-zero-page" : "zero-page";
}
/* The policy of that name, or -1. */
static inline int ks_policy_of(const char *name) {
  for (unsigned p = 0; p < KS_NPOLICIES; p++)
    if (strcmp(name, ks_policy_name(p)) == 0)
      return (int)p;
  return -1;
}
static inline const char *ks_who_name(unsigned who) {
  switch (who) {
  case KS_BOTH: return "both";
  case KS_PARENT: return "parent";
  case KS_CHILD: return "child";
  case KS_THREAD: return "thread";
  default: return "?";
  }
}

/* ------------------------------------------------------------------------ */
/* The scripts. Page counts: R = 256 unless a script says otherwise.        */
/* Comments starting "Linux:" explain counts that follow from a kernel      */
/* mechanism rather than from "one fault per first touch".                  */

/* (a) First touch by reading, then writing. */
static const ks_step ks_steps_read_then_write[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  /* Linux: do_anonymous_page maps the shared zero page read-only for a
   * read fault; no page is allocated and the VMA gets no anon_vma. */
  KS_READ("read_all", KS_BOTH, 0, 0, 256, 256),
  KS_READ("read_again", KS_BOTH, 0, 0, 256, 0),
  /* Linux: write to a zero-page PTE: do_wp_page -> wp_page_copy allocates
   * a zeroed page; one more fault per page. Without the zero page the read
   * fault already mapped a writable page of its own: no fault. */
  KS_WRITE_ZP("write_all", KS_BOTH, 0, 0, 256, 256, 0),
  KS_WRITE("write_again", KS_BOTH, 0, 0, 256, 0),
  KS_READ("read_written", KS_BOTH, 0, 0, 256, 0),
  KS_MUNMAP("unmap", KS_BOTH, 0),
};

/* (b) First touch by writing: one fault allocates a writable page. */
static const ks_step ks_steps_write_first[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 256, 256),
  KS_READ("read_all", KS_BOTH, 0, 0, 256, 0),
  KS_WRITE("write_again", KS_BOTH, 0, 0, 256, 0),
  KS_MUNMAP("unmap", KS_BOTH, 0),
};

/* (c) Copy-on-write after fork: the child writes the low half, the parent
 * the high half while the child lives, then the low half after it died. */
static const ks_step ks_steps_fork_cow[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 256, 256),
  KS_FORK("fork"),
  /* Linux: copy_present_pte write-protected the PTE in both processes;
   * the page is mapped twice, so the child's write copies it. */
  KS_WRITE("child_write_low", KS_CHILD, 0, 0, 128, 128),
  KS_WRITE("parent_write_high", KS_PARENT, 0, 128, 128, 128),
  /* Child's PTEs for the high half still map the originals (read-only),
   * which the parent has left for its copies: reading needs no fault. */
  KS_READ("child_read_high", KS_CHILD, 0, 128, 128, 0),
  KS_READ("parent_read_low", KS_PARENT, 0, 0, 128, 0),
  KS_WRITE("child_write_low_again", KS_CHILD, 0, 0, 128, 0),
  /* Linux: the high-half originals are now mapped by the child alone, but
   * their PTEs are still write-protected: wp_page_reuse, a fault each. */
  KS_WRITE("child_write_high", KS_CHILD, 0, 128, 128, 128),
  KS_CHILD_EXIT("child_exit"),
  /* Linux: the child's exit left the low-half originals to the parent
   * alone; still write-protected, so each write faults and reuses the
   * page without copying (wp_can_reuse_anon_folio). */
  KS_WRITE("parent_write_low", KS_PARENT, 0, 0, 128, 128),
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 256, 0),
  KS_READ("parent_read_all", KS_PARENT, 0, 0, 256, 0),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (d) Fork after reads only: zero-page PTEs, no anon_vma. (Without the
 * zero page the reads allocated: fork copies, and the same counts follow
 * from copy-on-write and reuse instead of refaults and zero-page copies.) */
static const ks_step ks_steps_fork_after_reads[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  KS_READ("read_all", KS_BOTH, 0, 0, 256, 256),
  KS_FORK("fork"),
  /* Linux: no anon_vma yet, so vma_needs_copy() is false and fork leaves
   * the child's page tables for this VMA empty: the reads fault again.
   * Without the zero page: anon_vma, entries copied, no fault. */
  KS_READ_ZP("child_read_all", KS_CHILD, 0, 0, 256, 256, 0),
  KS_READ("parent_read_all", KS_PARENT, 0, 0, 256, 0),
  KS_WRITE("child_write_low", KS_CHILD, 0, 0, 64, 64),
  KS_WRITE("parent_write_low", KS_PARENT, 0, 0, 64, 64),
  KS_READ("child_read_low", KS_CHILD, 0, 0, 64, 0),
  KS_CHILD_EXIT("child_exit"),
  KS_READ("parent_read_all2", KS_PARENT, 0, 0, 256, 0),
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 256, 192),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (d') Same, but one page written first: the VMA has an anon_vma, so fork
 * copies every PTE, zero-page ones included. */
static const ks_step ks_steps_fork_after_reads_anon[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  KS_WRITE("write_page0", KS_BOTH, 0, 0, 1, 1),
  KS_READ("read_rest", KS_BOTH, 0, 1, 255, 255),
  KS_FORK("fork"),
  /* Linux: anon_vma set by the page-0 write: copy_page_range copied all
   * PTEs, the zero-page ones too; no fault in the child. */
  KS_READ("child_read_all", KS_CHILD, 0, 0, 256, 0),
  KS_READ("parent_read_all", KS_PARENT, 0, 0, 256, 0),
  KS_WRITE("child_write_all", KS_CHILD, 0, 0, 256, 256),
  KS_CHILD_EXIT("child_exit"),
  /* Page 0: reuse after the child's copy went away (write-protected PTE);
   * the others: zero page copied. One fault each either way. */
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 256, 256),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (e) munmap, map again at the same place: pages start over. */
static const ks_step ks_steps_remap[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 128, 128),
  KS_MUNMAP("unmap", KS_BOTH, 0),
  KS_MMAP("map_again", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_READ("read_all", KS_BOTH, 0, 0, 128, 128),
  KS_WRITE_ZP("write_all2", KS_BOTH, 0, 0, 128, 128, 0),
  KS_MUNMAP("unmap_again", KS_BOTH, 0),
  KS_MMAP("map_third", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_all3", KS_BOTH, 0, 0, 128, 128),
  KS_MUNMAP("unmap_third", KS_BOTH, 0),
};

/* (f) mprotect read-only and back. */
static const ks_step ks_steps_mprotect[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_low", KS_BOTH, 0, 0, 64, 64),
  KS_READ("read_high", KS_BOTH, 0, 64, 64, 64),
  KS_MPROTECT("protect_ro", KS_BOTH, 0, KS_PROT_READ),
  KS_READ("read_all_ro", KS_BOTH, 0, 0, 128, 0),
  KS_MPROTECT("protect_rw", KS_BOTH, 0, KS_PROT_RW),
  /* Linux: mprotect back to RW made the exclusive anonymous pages
   * writable at once (change_pte_range, can_change_pte_writable): only
   * the zero-page half faults; without the zero page, none. */
  KS_WRITE_ZP("write_all", KS_BOTH, 0, 0, 128, 64, 0),
  KS_MPROTECT("protect_none", KS_BOTH, 0, KS_PROT_NONE),
  KS_MPROTECT("protect_rw2", KS_BOTH, 0, KS_PROT_RW),
  /* Linux: same from PROT_NONE: the new protection is computed from the
   * RW vm_page_prot, and the exclusive pages are made writable directly. */
  KS_WRITE("write_all2", KS_BOTH, 0, 0, 128, 0),
  KS_MPROTECT("protect_ro2", KS_BOTH, 0, KS_PROT_READ),
  KS_MPROTECT("protect_rw3", KS_BOTH, 0, KS_PROT_RW),
  KS_READ("read_all", KS_BOTH, 0, 0, 128, 0),
  KS_MUNMAP("unmap", KS_BOTH, 0),
};

/* (f') mprotect of a forked region: shared pages are not exclusive, so
 * making the VMA writable again leaves their PTEs read-only. */
static const ks_step ks_steps_mprotect_forked[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 128, 128),
  KS_FORK("fork"),
  KS_MPROTECT("child_protect_ro", KS_CHILD, 0, KS_PROT_READ),
  KS_MPROTECT("child_protect_rw", KS_CHILD, 0, KS_PROT_RW),
  /* Pages shared with the parent: not PageAnonExclusive, so mprotect
   * cannot make them writable; each write copies. */
  KS_WRITE("child_write_all", KS_CHILD, 0, 0, 128, 128),
  KS_MPROTECT("parent_protect_ro", KS_PARENT, 0, KS_PROT_READ),
  KS_MPROTECT("parent_protect_rw", KS_PARENT, 0, KS_PROT_RW),
  /* Linux: the child's copies left the originals to the parent alone, but
   * the parent's pages lost PageAnonExclusive at fork and only a write
   * fault (reuse) gives it back: mprotect leaves them read-only. */
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 128, 128),
  KS_CHILD_EXIT("child_exit"),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (g) Fork, then both read what the parent wrote: PTEs were copied. */
static const ks_step ks_steps_fork_read_shared[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 256, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 256, 256),
  KS_FORK("fork"),
  KS_READ("child_read_all", KS_CHILD, 0, 0, 256, 0),
  KS_READ("parent_read_all", KS_PARENT, 0, 0, 256, 0),
  KS_CHILD_EXIT("child_exit"),
  /* Linux: fork write-protected the parent's PTEs too; with the child gone
   * each write faults once and reuses its page. */
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 256, 256),
  KS_WRITE("parent_write_again", KS_PARENT, 0, 0, 256, 0),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (h) Two forks in a row; the second child sees the first child's absence. */
static const ks_step ks_steps_fork_twice[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 128, 128),
  KS_FORK("fork1"),
  KS_WRITE("child1_write_all", KS_CHILD, 0, 0, 128, 128),
  KS_CHILD_EXIT("child1_exit"),
  /* The parent never wrote since fork1: PTEs still read-only. */
  KS_FORK("fork2"),
  KS_READ("child2_read_all", KS_CHILD, 0, 0, 128, 0),
  KS_WRITE("parent_write_low", KS_PARENT, 0, 0, 64, 64),
  KS_WRITE("child2_write_all", KS_CHILD, 0, 0, 128, 128),
  KS_CHILD_EXIT("child2_exit"),
  KS_WRITE("parent_write_all", KS_PARENT, 0, 0, 128, 64),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (i) Adjacent regions and VMA merging: region 1 is mapped right after
 * region 0 with the same flags, so Linux merges the two into one VMA and
 * one anon_vma. Region 1 is only read, region 0 written. */
static const ks_step ks_steps_adjacent_merge[] = {
  KS_MMAP("map0", KS_BOTH, 0, 64, 64, KS_PROT_RW),
  KS_MMAP("map1", KS_BOTH, 1, 128, 64, KS_PROT_RW),
  KS_MMAP("map2_apart", KS_BOTH, 2, 256, 64, KS_PROT_RW),
  KS_WRITE("write0", KS_BOTH, 0, 0, 1, 1),
  KS_READ("read1", KS_BOTH, 1, 0, 64, 64),
  KS_READ("read2", KS_BOTH, 2, 0, 64, 64),
  KS_FORK("fork"),
  /* Linux: regions 0 and 1 merged at mmap: the write to region 0 gave the
   * merged VMA its anon_vma, so fork copied region 1's zero-page PTEs. */
  KS_READ("child_read1", KS_CHILD, 1, 0, 64, 0),
  /* Linux: region 2 is a VMA of its own without anon_vma: not copied.
   * Without the zero page its reads allocated and gave it one: copied. */
  KS_READ_ZP("child_read2", KS_CHILD, 2, 0, 64, 64, 0),
  KS_CHILD_EXIT("child_exit"),
  KS_MUNMAP("unmap0", KS_PARENT, 0),
  KS_MUNMAP("unmap1", KS_PARENT, 1),
  KS_MUNMAP("unmap2", KS_PARENT, 2),
};

/* (j) A partly written region whose read-only part is then split off by
 * mprotect: the split VMA keeps the anon_vma, so fork copies its PTEs. */
static const ks_step ks_steps_mprotect_split_fork[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 128, KS_PROT_RW),
  KS_WRITE("write_low", KS_BOTH, 0, 0, 32, 32),
  KS_READ("read_high", KS_BOTH, 0, 32, 96, 96),
  KS_MPROTECT_PAGES("protect_high_ro", KS_BOTH, 0, 64, 64, KS_PROT_READ),
  KS_FORK("fork"),
  /* Linux: the split-off VMA inherited the anon_vma: PTEs copied. */
  KS_READ("child_read_all", KS_CHILD, 0, 0, 128, 0),
  KS_WRITE("child_write_low", KS_CHILD, 0, 0, 64, 64),
  KS_CHILD_EXIT("child_exit"),
  KS_WRITE("parent_write_low", KS_PARENT, 0, 0, 64, 64),
  KS_MPROTECT_PAGES("protect_high_rw", KS_PARENT, 0, 64, 64, KS_PROT_RW),
  KS_WRITE("parent_write_high", KS_PARENT, 0, 64, 64, 64),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

/* (k) MAP_POPULATE: get_user_pages faults every page in at mmap, for
 * writing where the mapping is writable; each counts in ru_minflt. */
static const ks_step ks_steps_populate[] = {
  KS_MMAP_POPULATE_ZP("map_rw", KS_BOTH, 0, 0, 64, KS_PROT_RW, 64, 64),
  KS_WRITE("write_rw", KS_BOTH, 0, 0, 64, 0),
  KS_READ("read_rw", KS_BOTH, 0, 0, 64, 0),
  /* Linux: a read-only mapping is populated by read faults: the zero page,
   * or pages of its own without it */
  KS_MMAP_POPULATE_ZP("map_ro", KS_BOTH, 1, 128, 64, KS_PROT_READ, 64, 64),
  KS_READ("read_ro", KS_BOTH, 1, 0, 64, 0),
  /* Linux: PROT_NONE has nothing get_user_pages may touch */
  KS_MMAP_POPULATE_ZP("map_none", KS_BOTH, 2, 256, 64, KS_PROT_NONE, 0, 0),
  KS_MUNMAP("unmap_rw", KS_BOTH, 0),
  KS_MUNMAP("unmap_ro", KS_BOTH, 1),
  KS_MUNMAP("unmap_none", KS_BOTH, 2),
};

/* (l) MADV_DONTNEED drops anonymous pages: the next access faults in a
 * zero page again; in a child it drops only the child's view. */
static const ks_step ks_steps_dontneed[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, 64, KS_PROT_RW),
  KS_WRITE("write_all", KS_BOTH, 0, 0, 64, 64),
  KS_MADV_DONTNEED("dontneed_low", KS_BOTH, 0, 0, 32),
  KS_READ("read_low", KS_BOTH, 0, 0, 32, 32),
  KS_READ("read_high", KS_BOTH, 0, 32, 32, 0),
  KS_WRITE_ZP("write_low", KS_BOTH, 0, 0, 32, 32, 0),
  KS_FORK("fork"),
  KS_MADV_DONTNEED("child_dontneed", KS_CHILD, 0, 0, 64),
  KS_READ("child_read", KS_CHILD, 0, 0, 64, 64),
  KS_READ("parent_read", KS_PARENT, 0, 0, 64, 0),
  KS_CHILD_EXIT("child_exit"),
  /* Linux: fork write-protected the parent's PTEs; each write faults once
   * and reuses its page, which nobody else maps any more */
  KS_WRITE("parent_write", KS_PARENT, 0, 0, 64, 64),
  KS_MUNMAP("unmap", KS_PARENT, 0),
};

static const ks_script ks_scripts[] = {
  KS_SCRIPT("read_then_write", "first touch by reads, then writes",
            ks_steps_read_then_write),
  KS_SCRIPT("write_first", "first touch by writes", ks_steps_write_first),
  KS_SCRIPT("fork_cow", "copy-on-write both ways around a child's life",
            ks_steps_fork_cow),
  KS_SCRIPT("fork_after_reads", "fork with zero-page PTEs and no anon_vma",
            ks_steps_fork_after_reads),
  KS_SCRIPT("fork_after_reads_anon",
            "fork with zero-page PTEs in a VMA that has an anon_vma",
            ks_steps_fork_after_reads_anon),
  KS_SCRIPT("remap", "munmap and mmap again at the same place",
            ks_steps_remap),
  KS_SCRIPT("mprotect", "read-only and PROT_NONE and back, then writes",
            ks_steps_mprotect),
  KS_SCRIPT("mprotect_forked", "mprotect round trip on pages shared by fork",
            ks_steps_mprotect_forked),
  KS_SCRIPT("fork_read_shared", "fork, both read the parent's writes",
            ks_steps_fork_read_shared),
  KS_SCRIPT("fork_twice", "two children one after the other",
            ks_steps_fork_twice),
  KS_SCRIPT("adjacent_merge", "adjacent regions merge into one VMA",
            ks_steps_adjacent_merge),
  KS_SCRIPT("mprotect_split_fork", "mprotect splits a VMA, then fork",
            ks_steps_mprotect_split_fork),
  KS_SCRIPT("populate", "MAP_POPULATE read-write, read-only, PROT_NONE",
            ks_steps_populate),
  KS_SCRIPT("dontneed", "MADV_DONTNEED, then in a forked child",
            ks_steps_dontneed),
};

#define KS_NSCRIPTS ((uint32_t)(sizeof(ks_scripts) / sizeof(ks_scripts[0])))

/* The probe: which ks_zero_policy a kernel follows. A script like the
 * others, whose expectations differ between the policies in one step:
 * after reads, a write faults again on every page with the zero page and
 * on none without it. Not one of ks_scripts (it compares nothing). */
#define KS_PROBE_PAGES 16u
static const ks_step ks_steps_probe[] = {
  KS_MMAP("map", KS_BOTH, 0, 0, KS_PROBE_PAGES, KS_PROT_RW),
  KS_READ("read_all", KS_BOTH, 0, 0, KS_PROBE_PAGES, KS_PROBE_PAGES),
  KS_WRITE_ZP("write_all", KS_BOTH, 0, 0, KS_PROBE_PAGES, KS_PROBE_PAGES, 0),
  KS_MUNMAP("unmap", KS_BOTH, 0),
};
static const ks_script ks_probe =
    KS_SCRIPT("probe", "what an anonymous read fault maps", ks_steps_probe);

/* The policy whose expectations the probe's measured minor counts (one per
 * step) meet exactly, or -1 when they meet neither: the kernel then does
 * something else, and no comparison can be trusted. */
static inline int ks_probe_policy(const int64_t *minflt) {
  for (unsigned p = 0; p < KS_NPOLICIES; p++) {
    uint32_t i = 0;
    while (i < ks_probe.nsteps &&
           (ks_probe.steps[i].expect_minflt[p] == KS_ANY ||
            minflt[i] == ks_probe.steps[i].expect_minflt[p]))
      i++;
    if (i == ks_probe.nsteps)
      return (int)p;
  }
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Random scripts: the differential against the running kernel. A seed     */
/* gives one arena script (KS_SCRIPT_ARENA) of KS_RANDOM_STEPS steps:      */
/* mmap (sometimes MAP_POPULATE, sometimes a MAP_GROWSDOWN stack), munmap, */
/* mprotect, reads and writes (of what the protection allows, what it     */
/* refuses, holes, and just below stacks), MADV_DONTNEED, MADV_FREE, brk,  */
/* mremap (shrink, grow, moves: FIXED ones inside the arena, MAYMOVE ones  */
/* out of it, which the step reads back through the address returned and  */
/* unmaps), calls that fail (unaligned, over holes), fork with either process */
/* acting, the child's exit, MAP_SHARED | MAP_ANONYMOUS mappings under all */
/* of these, touches by a second thread of the first process (KS_THREAD), */
/* execve (EXEC), memfds mapped MAP_SHARED (MEMFD, MMAP_FILE) and msync    */
/* with the files read back (MSYNC). Every step's results are compared, not */
/* required: FORK's and EXEC's own counts excepted (they measure the     */
/* replayer, 9.10).                                                        */
/*                                                                          */
/* The arena, in pages from the initial break (the heap's start):          */
/*   [0, KS_RANDOM_LOW)            the heap and plain regions               */
/*   [KS_RANDOM_STACKS, KS_RANDOM_PAGES)  stacks, and a few plain regions   */
/* 256 pages apart (Linux's stack_guard_gap), so a stack's growth is       */
/* refused or allowed by what lies in the low zone. Below page 0, the      */
/* floor: one read-only page (an accessible VMA for the guard gap).        */

#define KS_RANDOM_STEPS 32u
#define KS_RANDOM_LOW 48u
#define KS_RANDOM_GAP 256u /* Linux's default stack_guard_gap, pages */
#define KS_RANDOM_STACKS (KS_RANDOM_LOW + KS_RANDOM_GAP - 8u)
#define KS_RANDOM_PAGES (KS_RANDOM_STACKS + 40u)
#define KS_RANDOM_MAX_REGION 8u
#define KS_RANDOM_MAX_TOUCH 8u

/* Text of a step's touches: per page two characters, the byte read (hex),
 * "ww" a write that went through, "sm" / "sa" / "s?" SIGSEGV with
 * SEGV_MAPERR / SEGV_ACCERR / another si_code, "ba" / "b?" SIGBUS with
 * BUS_ADRERR (a shared mapping past its object's end) / another. */
#define KS_TOUCH_TEXT 72
/* Text of the arena's VMAs (ks_maps_digest). */
#define KS_MAPS_TEXT 1536

static inline const char *ks_segv_token(int si_code) {
  return si_code == 1 ? "sm" : si_code == 2 ? "sa" : "s?";
}
static inline const char *ks_bus_token(int si_code) {
  return si_code == 2 ? "ba" : "b?";
}

static inline uint64_t ks_rand(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* The generator's guess of a process's arena: per page 0 (hole) or
 * 1 + prot, KS_GEN_STACK for a grow-down region; and its break. A guess
 * only: the script's validity does not depend on it, every result is
 * measured. */
#define KS_GEN_STACK 0x10u
#define KS_GEN_FILE 0x20u /* a memfd's mapping */
typedef struct ks_gen_proc {
  uint8_t pg[KS_RANDOM_PAGES];
  uint32_t brk; /* pages above the arena's start */
  uint8_t file[KS_MAX_FILES]; /* memfd sizes, pages; 0: no such file */
} ks_gen_proc;

static inline uint32_t ks_gen_below(uint64_t *x, uint32_t n) {
  return (uint32_t)(ks_rand(x) % n);
}

/* A mapped page (most of the time), else any page. */
static inline uint32_t ks_gen_mapped_page(uint64_t *x, const ks_gen_proc *m) {
  uint32_t start = ks_gen_below(x, KS_RANDOM_PAGES);
  for (uint32_t k = 0; k < KS_RANDOM_PAGES; k++) {
    uint32_t pg = (start + k) % KS_RANDOM_PAGES;
    if (m->pg[pg])
      return pg;
  }
  return ks_gen_below(x, KS_RANDOM_LOW);
}

/* The end of the mapped run from page pg (pg itself if it is a hole). */
static inline uint32_t ks_gen_run_end(const ks_gen_proc *m, uint32_t pg) {
  while (pg < KS_RANDOM_PAGES && m->pg[pg])
    pg++;
  return pg;
}

static inline void ks_gen_set(ks_gen_proc *m, uint32_t first, uint32_t count,
                              uint8_t v) {
  for (uint32_t k = first; k < first + count && k < KS_RANDOM_PAGES; k++)
    m->pg[k] = v;
}

/* The guess after an mremap that succeeds as drawn: the pages of the
 * source's first `keep` pages go to `to` (holes kept), a grown part takes
 * the first page's protection; a move out of the arena (to KS_RANDOM_PAGES)
 * only clears the source. */
static inline void ks_gen_move(ks_gen_proc *m, uint32_t first, uint32_t count,
                               uint32_t keep, uint32_t to, uint32_t len) {
  uint8_t v[KS_RANDOM_PAGES];
  uint8_t grown = (uint8_t)(m->pg[first] & ~KS_GEN_STACK);
  memcpy(v, m->pg + first, keep);
  ks_gen_set(m, first, count, 0);
  if (to >= KS_RANDOM_PAGES)
    return;
  for (uint32_t k = 0; k < len && to + k < KS_RANDOM_PAGES; k++)
    m->pg[to + k] = k < keep ? v[k] : grown;
}

/* mremap: shrink; grow in place, blocked, or moved (MAYMOVE without FIXED:
 * where the top-down allocator puts it, outside the arena in a real
 * process); FIXED moves inside the arena (same size across regions and
 * holes, over mappings, growing or shrinking); calls that fail. */
static inline void ks_gen_mremap(uint64_t *x, ks_gen_proc *m, ks_step *st) {
  st->op = KS_OP_MREMAP;
  st->first = ks_gen_mapped_page(x, m);
  uint32_t end = ks_gen_run_end(m, st->first);
  uint32_t run = end > st->first ? end - st->first : 1;
  st->count = 1 + ks_gen_below(x, run < 16 ? run : 16);
  st->new_count = st->count;
  st->flags = KS_MREMAP_MAYMOVE | KS_MREMAP_FIXED;
  unsigned how = ks_gen_below(x, 12);
  if (how == 0) { /* shrink (or the same size), with MAYMOVE or not */
    st->new_count = 1 + ks_gen_below(x, st->count);
    st->flags = (uint8_t)ks_gen_below(x, 2);
    ks_gen_set(m, st->first + st->new_count, st->count - st->new_count, 0);
  } else if (how <= 2) { /* grow: in place, refused, or moved out */
    st->new_count = st->count + 1 + ks_gen_below(x, 4);
    st->flags = (uint8_t)(how == 2);
    uint32_t e = st->first + st->count;
    if (e == end && e + st->new_count - st->count <= KS_RANDOM_PAGES &&
        ks_gen_run_end(m, e) == e) /* a guess: the next page is free */
      ks_gen_move(m, st->first, st->count, st->count, st->first,
                  st->new_count);
    else if (how == 2)
      ks_gen_move(m, st->first, st->count, 0, KS_RANDOM_PAGES, 0);
  } else if (how <= 8) { /* FIXED, inside the arena */
    if (how == 3) /* same size, across what lies there */
      st->count = st->new_count = 1 + ks_gen_below(x, 2 * KS_RANDOM_MAX_REGION);
    else if (how == 4) /* growing or shrinking */
      st->new_count = 1 + ks_gen_below(x, st->count + 4);
    int high = ks_gen_below(x, 5) == 0;
    uint32_t lo = high ? KS_RANDOM_STACKS : 0;
    uint32_t hi = high ? KS_RANDOM_PAGES : KS_RANDOM_LOW;
    st->at = how == 5 ? ks_gen_mapped_page(x, m) /* over a mapping */
                      : lo + ks_gen_below(x, hi - lo);
    if (st->at + st->new_count > KS_RANDOM_PAGES)
      st->at = KS_RANDOM_PAGES - st->new_count; /* for the guess */
    if (st->first + st->count <= KS_RANDOM_PAGES &&
        (st->at >= st->first + st->count ||
         st->first >= st->at + st->new_count))
      ks_gen_move(m, st->first, st->count,
                  st->count < st->new_count ? st->count : st->new_count,
                  st->at, st->new_count);
  } else { /* calls that fail */
    unsigned what = ks_gen_below(x, 7);
    if (what == 0)
      st->off = 1 + (int32_t)ks_gen_below(x, KS_PAGE_SIZE - 1);
    else if (what == 1)
      st->flags = KS_MREMAP_FIXED; /* without MAYMOVE */
    else if (what == 2)
      st->flags |= 8; /* no such flag */
    else if (what == 3)
      st->new_count = 0;
    else if (what == 4)
      st->count = 0; /* old_len 0: shared mappings only */
    else if (what == 5) /* from a hole: EFAULT */
      st->first = st->first > 0 ? st->first - 1 : KS_RANDOM_LOW - 1;
    st->at = what == 6 ? st->first + ks_gen_below(x, st->count) /* overlap */
                       : ks_gen_below(x, KS_RANDOM_LOW - st->new_count);
  }
  if (st->at + st->new_count > KS_RANDOM_PAGES) /* inside the arena */
    st->at = KS_RANDOM_PAGES - st->new_count;
}

/* A page of a memfd's mapping, from a random start; else any mapped one. */
static inline uint32_t ks_gen_file_page(uint64_t *x, const ks_gen_proc *m) {
  uint32_t start = ks_gen_below(x, KS_RANDOM_PAGES);
  for (uint32_t k = 0; k < KS_RANDOM_PAGES; k++)
    if (m->pg[(start + k) % KS_RANDOM_PAGES] & KS_GEN_FILE)
      return (start + k) % KS_RANDOM_PAGES;
  return ks_gen_mapped_page(x, m);
}

/* Memfds: a new one (now and then in place of one the process has), a
 * shared mapping of one (from any page, now and then past its end, so
 * twice or at two offsets as the draws fall), writes and reads through
 * such mappings, msync of a run, mostly of one (then the files are read
 * back). `what` < 15. */
static inline void ks_gen_file(uint64_t *x, ks_gen_proc *m, ks_step *st,
                               unsigned what) {
  uint32_t id = ks_gen_below(x, KS_MAX_FILES);
  for (uint32_t k = 0; k < KS_MAX_FILES && !m->file[id]; k++)
    id = (id + 1) % KS_MAX_FILES; /* a file the process has, if any */
  if (what < 2 || (what < 9 && !m->file[id])) {
    if (what < 2)
      id = ks_gen_below(x, KS_MAX_FILES);
    st->op = KS_OP_MEMFD;
    st->region = (uint8_t)id;
    st->count = 1 + ks_gen_below(x, KS_FILE_PAGES);
    m->file[id] = (uint8_t)st->count;
  } else if (what < 9) {
    uint32_t len = 1 + ks_gen_below(x, KS_RANDOM_MAX_REGION);
    st->op = KS_OP_MMAP_FILE;
    st->region = (uint8_t)id;
    if (ks_gen_below(x, 3))
      st->prot = KS_PROT_RW;
    st->at = ks_gen_below(x, 4) ? ks_gen_below(x, m->file[id])
                                : ks_gen_below(x, m->file[id] + 2u);
    st->first = ks_gen_below(x, KS_RANDOM_LOW - len + 1);
    st->count = len;
    if (!ks_gen_below(x, 16))
      st->off = 1 + (int32_t)ks_gen_below(x, KS_PAGE_SIZE - 1); /* EINVAL */
    else
      ks_gen_set(m, st->first, len, (uint8_t)(1 + st->prot + KS_GEN_FILE));
  } else if (what < 13) {
    st->op = (uint8_t)(what < 12 ? KS_OP_WRITE : KS_OP_READ);
    st->first = ks_gen_file_page(x, m);
    st->count = 1 + ks_gen_below(x, 4);
  } else {
    st->op = KS_OP_MSYNC;
    st->first = ks_gen_file_page(x, m);
    uint32_t end = ks_gen_run_end(m, st->first);
    st->count = 1 + ks_gen_below(x, end > st->first ? end - st->first : 1);
    if (!ks_gen_below(x, 6))
      st->count += 1 + ks_gen_below(x, 4); /* past the run: ENOMEM */
    if (!ks_gen_below(x, 10))
      st->off = 1 + (int32_t)ks_gen_below(x, KS_PAGE_SIZE - 1); /* EINVAL */
  }
}

/* Fills st (op, first, count, prot, off; MREMAP: new_count, flags, at)
 * with one random call for the process m; updates the guess. Returns 0
 * to draw again. */
static inline int ks_gen_call(uint64_t *x, ks_gen_proc *m, ks_step *st) {
  static const uint8_t prots[] = {KS_PROT_RW, KS_PROT_RW, KS_PROT_READ,
                                  KS_PROT_NONE, KS_PROT_WRITE};
  unsigned pick = ks_gen_below(x, 145);
  st->prot = prots[ks_rand(x) % sizeof prots];
  if (pick >= 115) {
    ks_gen_file(x, m, st, (pick - 115) / 2);
  } else if (pick >= 100) {
    ks_gen_mremap(x, m, st);
  } else if (pick < 14) { /* mmap, mostly in the low zone, mostly over a hole */
    uint32_t len = 1 + ks_gen_below(x, KS_RANDOM_MAX_REGION);
    int high = ks_gen_below(x, 5) == 0;
    uint32_t lo = high ? KS_RANDOM_STACKS : 0;
    uint32_t hi = high ? KS_RANDOM_PAGES : KS_RANDOM_LOW;
    st->first = lo + ks_gen_below(x, hi - lo - len + 1);
    st->count = len;
    if (ks_gen_below(x, 4) &&
        ks_gen_run_end(m, st->first) != st->first)
      return 0;
    unsigned kind = ks_gen_below(x, 12);
    st->op = (uint8_t)(kind < 6   ? KS_OP_MMAP
                       : kind < 9 ? KS_OP_MMAP_SHARED
                                  : KS_OP_MMAP_POPULATE);
    ks_gen_set(m, st->first, len, (uint8_t)(1 + st->prot));
  } else if (pick < 18) { /* a stack, room below it to grow */
    uint32_t len = 1 + ks_gen_below(x, 4);
    st->op = KS_OP_MMAP_GROWSDOWN;
    st->first = KS_RANDOM_STACKS + 8 +
                ks_gen_below(x, KS_RANDOM_PAGES - KS_RANDOM_STACKS - 8 - len + 1);
    st->count = len;
    if (ks_gen_below(x, 3))
      st->prot = KS_PROT_RW;
    ks_gen_set(m, st->first, len, (uint8_t)(1 + st->prot + KS_GEN_STACK));
  } else if (pick < 25) { /* munmap a run, or part of one */
    st->op = KS_OP_MUNMAP;
    st->first = ks_gen_mapped_page(x, m);
    uint32_t end = ks_gen_run_end(m, st->first);
    st->count = end > st->first && ks_gen_below(x, 3)
                    ? end - st->first
                    : 1 + ks_gen_below(x, KS_RANDOM_MAX_REGION);
    ks_gen_set(m, st->first, st->count, 0);
  } else if (pick < 36) { /* mprotect, now and then past the run */
    st->op = KS_OP_MPROTECT;
    st->first = ks_gen_mapped_page(x, m);
    uint32_t end = ks_gen_run_end(m, st->first);
    uint32_t most = end > st->first ? end - st->first : 1;
    st->count = 1 + ks_gen_below(x, most);
    if (!ks_gen_below(x, 8))
      st->count += 1 + ks_gen_below(x, 4);
    for (uint32_t k = st->first; k < st->first + st->count &&
                                 k < KS_RANDOM_PAGES && m->pg[k]; k++)
      m->pg[k] = (uint8_t)((m->pg[k] & KS_GEN_STACK) | (1 + st->prot));
  } else if (pick < 70) {
    /* reads and writes: from a mapped page while the answer stays the
     * same kind; now and then just below a stack or anywhere */
    st->op = (uint8_t)(pick < 52 ? KS_OP_WRITE : KS_OP_READ);
    unsigned where = ks_gen_below(x, 10);
    st->first = ks_gen_mapped_page(x, m);
    if (where == 0) {
      st->first = ks_gen_below(x, KS_RANDOM_PAGES);
    } else if (where == 1) {
      uint32_t s = KS_RANDOM_STACKS + 8;
      while (s < KS_RANDOM_PAGES && !(m->pg[s] & KS_GEN_STACK))
        s++;
      if (s < KS_RANDOM_PAGES)
        st->first = s - 1 - ks_gen_below(x, 8);
    } else if (!m->pg[st->first]) {
      return 0; /* nothing mapped: holes only as drawn above */
    }
    unsigned need = st->op == KS_OP_READ ? KS_PROT_RW : KS_PROT_WRITE;
    uint8_t v0 = m->pg[st->first];
    int ok0 = v0 && ((v0 - 1u) & 3u & need);
    uint32_t most = 1 + ks_gen_below(x, KS_RANDOM_MAX_TOUCH);
    st->count = 1;
    while (st->count < most && st->first + st->count < KS_RANDOM_PAGES) {
      uint8_t v = m->pg[st->first + st->count];
      if ((v && ((v - 1u) & 3u & need)) != ok0 || (!v) != (!v0))
        break;
      st->count++;
    }
  } else if (pick < 79) { /* madvise a run, now and then past it */
    st->op = (uint8_t)(pick < 75 ? KS_OP_MADV_DONTNEED : KS_OP_MADV_FREE);
    st->first = ks_gen_mapped_page(x, m);
    uint32_t end = ks_gen_run_end(m, st->first);
    st->count = 1 + ks_gen_below(x, end > st->first ? end - st->first : 1);
    if (!ks_gen_below(x, 8))
      st->count += 1 + ks_gen_below(x, 4);
  } else if (pick < 89) { /* brk: grow, shrink, unaligned, a query */
    st->op = KS_OP_BRK;
    st->count = ks_gen_below(x, 3) ? ks_gen_below(x, 20)
                                   : m->brk + ks_gen_below(x, 5);
    unsigned how = ks_gen_below(x, 10);
    if (how == 0)
      st->off = 1 + (int32_t)ks_gen_below(x, KS_PAGE_SIZE - 1);
    else if (how == 1)
      st->count = 0, st->off = -(int32_t)KS_PAGE_SIZE; /* below: a query */
    uint32_t top = st->count + (st->off > 0);
    if (how != 1 && top > m->brk &&
        ks_gen_run_end(m, m->brk) >= top + 1) {
      ks_gen_set(m, m->brk, top - m->brk, 1 + KS_PROT_RW);
      m->brk = top;
    } else if (how != 1 && top < m->brk) {
      ks_gen_set(m, top, m->brk - top, 0);
      m->brk = top;
    }
  } else { /* calls that fail: unaligned, or a range from a hole */
    unsigned what = ks_gen_below(x, 5);
    st->op = what == 0   ? KS_OP_MUNMAP
             : what == 1 ? KS_OP_MPROTECT
             : what == 2 ? KS_OP_MADV_DONTNEED
             : what == 3 ? KS_OP_MMAP
                         : KS_OP_MMAP_SHARED;
    st->first = ks_gen_mapped_page(x, m);
    st->count = 1 + ks_gen_below(x, 4);
    if (ks_gen_below(x, 2))
      st->off = 1 + (int32_t)ks_gen_below(x, KS_PAGE_SIZE - 1);
    else if (st->first > 0 && what < 3)
      st->first -= 1 + ks_gen_below(x, st->first < 3 ? st->first : 3);
    else
      st->count = 0; /* zero length */
  }
  if (st->op != KS_OP_MMAP && st->op != KS_OP_MMAP_POPULATE &&
      st->op != KS_OP_MMAP_GROWSDOWN && st->op != KS_OP_MMAP_SHARED &&
      st->op != KS_OP_MMAP_FILE && st->op != KS_OP_MPROTECT)
    st->prot = 0; /* only these take one */
  return 1;
}

/* The script of `seed` into steps[KS_MAX_STEPS]; its name (no spaces)
 * into name[32]. */
static inline ks_script ks_random_script(uint64_t seed, ks_step *steps,
                                         char *name) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  static ks_gen_proc m[2];
  int child = 0;
  uint32_t n = 0;
  memset(m, 0, sizeof m);
  while (n < KS_RANDOM_STEPS - 1) {
    unsigned pick = ks_gen_below(&x, 100);
    int p = child ? (int)(ks_rand(&x) & 1) : 0; /* 1: the child */
    ks_step st;
    memset(&st, 0, sizeof st);
    st.who = (uint8_t)(child ? (p ? KS_CHILD : KS_PARENT) : KS_BOTH);
    if (pick < 94) {
      if (!ks_gen_call(&x, &m[p], &st))
        continue;
      if ((st.op == KS_OP_READ || st.op == KS_OP_WRITE) && !p &&
          ks_gen_below(&x, 3) == 0)
        st.who = KS_THREAD; /* the first process's second thread */
      uint32_t room = KS_RANDOM_PAGES - st.first - (st.off > 0);
      if (st.count > room)
        st.count = room; /* inside the arena */
      if (!st.count && (st.op == KS_OP_READ || st.op == KS_OP_WRITE))
        continue;
    } else if (!child && pick >= 98) { /* a new image, a new mm */
      st.op = KS_OP_EXEC;
      st.who = KS_BOTH;
      memset(&m[0], 0, sizeof m[0]);
    } else if (!child) {
      st.op = KS_OP_FORK;
      st.who = KS_BOTH;
      child = 1;
      m[1] = m[0];
    } else {
      st.op = KS_OP_CHILD_EXIT;
      st.who = KS_PARENT;
      child = 0;
    }
    st.name = ks_op_name(st.op);
    int any = st.op == KS_OP_FORK || st.op == KS_OP_EXEC;
    st.expect_minflt[0] = st.expect_minflt[1] = any ? KS_ANY : 0;
    st.expect_majflt = any ? KS_ANY : 0;
    steps[n++] = st;
  }
  if (child) {
    ks_step st;
    memset(&st, 0, sizeof st);
    st.op = KS_OP_CHILD_EXIT;
    st.who = KS_PARENT;
    st.name = ks_op_name(st.op);
    steps[n++] = st;
  }
  snprintf(name, 32, "random-%llu", (unsigned long long)seed);
  ks_script s = {name, "random", steps, n, KS_SCRIPT_ARENA};
  return s;
}

/* The seed of a random script's name, or 0 if it is not one. */
static inline uint64_t ks_random_seed_of(const char *name) {
  if (strncmp(name, "random-", 7) != 0)
    return 0;
  return strtoull(name + 7, NULL, 10);
}

/* An arena script's step as text, one line ("WHO OP FIRST COUNT PROT OFF",
 * prot as rwx letters): how a minimised script is printed and how
 * kernel_replay --script reads one. */
static inline void ks_step_format(const ks_step *st, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s %s %u %u %c%c- %d", ks_who_name(st->who),
                   ks_op_name(st->op), st->first, st->count,
                   st->prot & KS_PROT_READ ? 'r' : '-',
                   st->prot & KS_PROT_WRITE ? 'w' : '-', st->off);
  if (st->op == KS_OP_MREMAP && n > 0 && (size_t)n < cap)
    snprintf(out + n, cap - (size_t)n, " %u %u %u", st->new_count,
             (unsigned)st->flags, st->at);
  else if ((st->op == KS_OP_MEMFD || st->op == KS_OP_MMAP_FILE) && n > 0 &&
           (size_t)n < cap) /* the file, and where the mapping starts in it */
    snprintf(out + n, cap - (size_t)n, " %u %u", (unsigned)st->region, st->at);
}

/* Parses ks_step_format's text into st (name: the op's), after an index
 * ("12: ", as a minimised script is printed) if there is one; 0 if it is
 * not a step. */
static inline int ks_step_parse(const char *text, ks_step *st) {
  char who[16], op[32], prot[8];
  memset(st, 0, sizeof *st);
  const char *colon = strchr(text, ':');
  if (colon && strspn(text, " 0123456789") == (size_t)(colon - text))
    text = colon + 1;
  int at = 0;
  unsigned flags = 0;
  if (sscanf(text, "%15s %31s %u %u %7s %d%n", who, op, &st->first,
             &st->count, prot, &st->off, &at) != 6 || strlen(prot) != 3)
    return 0;
  unsigned w = 0, o = KS_OP_MMAP;
  while (w <= KS_THREAD && strcmp(ks_who_name(w), who))
    w++;
  while (o <= KS_OP_LAST && strcmp(ks_op_name(o), op))
    o++;
  if (w > KS_THREAD || o > KS_OP_LAST)
    return 0;
  unsigned id = 0;
  if (o == KS_OP_MREMAP &&
      (sscanf(text + at, "%u %u %u", &st->new_count, &flags, &st->at) != 3 ||
       flags > 255))
    return 0;
  if ((o == KS_OP_MEMFD || o == KS_OP_MMAP_FILE) &&
      (sscanf(text + at, "%u %u", &id, &st->at) != 2 || id >= KS_MAX_FILES))
    return 0;
  st->region = (uint8_t)id;
  st->flags = (uint8_t)flags;
  st->who = (uint8_t)w;
  st->op = (uint8_t)o;
  st->name = ks_op_name(o);
  st->prot = (uint8_t)((prot[0] == 'r' ? KS_PROT_READ : 0) |
                       (prot[1] == 'w' ? KS_PROT_WRITE : 0));
  int any = o == KS_OP_FORK || o == KS_OP_EXEC;
  st->expect_minflt[0] = st->expect_minflt[1] = any ? KS_ANY : 0;
  st->expect_majflt = any ? KS_ANY : 0;
  return 1;
}

/* Whether steps fork and exit as a script must: FORK with no child alive,
 * KS_CHILD steps only while one is, KS_BOTH only while none is (KS_PARENT
 * then means the one process too), KS_THREAD touches at any time, EXEC
 * with no child alive, the child gone at the end. */
static inline int ks_processes_ok(const ks_step *steps, uint32_t n) {
  int child = 0;
  for (uint32_t i = 0; i < n; i++) {
    const ks_step *st = &steps[i];
    if (st->op == KS_OP_FORK) {
      if (child || st->who != KS_BOTH)
        return 0;
      child = 1;
    } else if (st->op == KS_OP_CHILD_EXIT) {
      if (!child || st->who != KS_PARENT)
        return 0;
      child = 0;
    } else if (st->op == KS_OP_EXEC) {
      if (child || st->who != KS_BOTH)
        return 0;
    } else if (st->who == KS_THREAD) {
      if (st->op != KS_OP_READ && st->op != KS_OP_WRITE)
        return 0;
    } else if (child ? st->who == KS_BOTH : st->who == KS_CHILD) {
      return 0;
    }
  }
  return !child;
}

/* ------------------------------------------------------------------------ */
/* What both halves report, in one format.                                  */

/* The VMAs of /proc/PID/maps text (the kernel's, or mmu_space_maps') that
 * meet the arena [lo, lo + pages * 4096), clipped to it, as
 * "first-end:rwx[name]" in arena pages, comma separated, "-" for none;
 * PROT_NONE ones only when with_none (the fixed scripts' arena holes are
 * PROT_NONE reservations the library does not have). A shared VMA is
 * "first-end:rwxs+OFFSET#K[name]", its offset in pages, its name without
 * spaces, and K for its inode: the inode's rank among the shared VMAs'
 * inodes of the list, by first appearance (the library's inode numbers
 * are its own, not tmpfs's: what is compared is which VMAs share one). */
static inline void ks_maps_digest(const char *text, uint64_t lo,
                                  uint32_t pages, int with_none, char *out,
                                  size_t cap) {
  const uint64_t hi = lo + (uint64_t)pages * KS_PAGE_SIZE;
  unsigned long long inodes[64];
  unsigned ninodes = 0;
  size_t len = 0;
  out[0] = 0;
  while (text && *text) {
    const char *eol = strchr(text, '\n');
    size_t n = eol ? (size_t)(eol - text) : strlen(text);
    unsigned long long a, b, off = 0, inode = 0;
    char perms[8], name[64] = "", shared[48] = "";
    int at = 0;
    if (sscanf(text, "%llx-%llx %7s %llx %*s %llu%n", &a, &b, perms, &off,
               &inode, &at) == 5 &&
        at > 0 && (size_t)at <= n) {
      while ((size_t)at < n && text[at] == ' ')
        at++;
      size_t k = 0;
      for (size_t c = (size_t)at; c < n && k < sizeof name - 1; c++)
        if (text[c] != ' ' || perms[3] != 's')
          name[k++] = text[c];
      name[k] = 0;
      while (k && name[k - 1] == ' ')
        name[--k] = 0;
      if (b > lo && a < hi && (with_none || strncmp(perms, "---", 3) != 0)) {
        if (perms[3] == 's') {
          unsigned r = 0;
          while (r < ninodes && inodes[r] != inode)
            r++;
          if (r == ninodes && ninodes < sizeof inodes / sizeof inodes[0])
            inodes[ninodes++] = inode;
          /* the offset of the part inside the arena */
          off += (a < lo ? lo - a : 0);
          snprintf(shared, sizeof shared, "s+%llu#%u",
                   off / KS_PAGE_SIZE, r);
        }
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        int w = snprintf(out + len, cap - len, "%s%llu-%llu:%.3s%s%s",
                         len ? "," : "", (a - lo) / KS_PAGE_SIZE,
                         (b - lo) / KS_PAGE_SIZE, perms, shared, name);
        if (w < 0 || (size_t)w >= cap - len) {
          snprintf(out, cap, "overflow");
          return;
        }
        len += (size_t)w;
      }
    }
    text = eol ? eol + 1 : NULL;
  }
  if (!len)
    snprintf(out, cap, "-");
}

/* One step's report, as kernel_replay prints it:
 *   SCRIPT INDEX STEP WHO minflt=N majflt=N [segv=N] [rc=ERR] [brk=HEX]
 *   [to=WHERE] [touch=TEXT] [maps=TEXT]
 * (counts "*" when not measured: KS_ANY; rc 0 or an errno name; brk the
 * break after the step, minus the arena's start; to: where an mremap that
 * succeeded put the mapping, its arena page or "out" when it left the
 * arena, whose pages the step then read: touch). */
typedef struct ks_line {
  char script[64], step[32], who[16];
  unsigned index;
  int64_t minflt, majflt;
  int64_t segv;  /* -1: not reported */
  char rc[16];   /* "": not reported */
  int has_brk;
  long long brk;
  char to[16];   /* "": not reported */
  int has_arena; /* EXEC: where the new image's arena starts, modulo */
  long long arena; /* 2 MiB (fault-around's windows depend on it) */
  char touch[KS_TOUCH_TEXT];
  char file[KS_FILE_TEXT]; /* MSYNC: the process's files (ks_file_digest) */
  char maps[KS_MAPS_TEXT];
} ks_line;

/* Appends file `id` of `pages` pages to an MSYNC's text (ks_line.file):
 * "ID:" and per page the byte at KS_TOUCH_OFFSET in hex, or "nz" if
 * another byte of the page is not zero (nothing writes one), comma
 * separated. */
static inline void ks_file_digest(char *out, size_t cap, unsigned id,
                                  const uint8_t *bytes, uint32_t pages) {
  size_t n = strlen(out);
  int w = snprintf(out + n, cap - n, "%s%u:", n ? "," : "", id);
  n += w > 0 ? (size_t)w : 0;
  for (uint32_t p = 0; p < pages && n + 3 < cap; p++) {
    const uint8_t *pg = bytes + (size_t)p * KS_PAGE_SIZE;
    int other = 0;
    for (uint32_t b = 0; b < KS_PAGE_SIZE; b++)
      other |= b != KS_TOUCH_OFFSET && pg[b];
    if (other)
      snprintf(out + n, cap - n, "nz");
    else
      snprintf(out + n, cap - n, "%02x", pg[KS_TOUCH_OFFSET]);
    n += 2;
  }
}

static inline void ks_line_init(ks_line *l, const char *script, unsigned index,
                                const ks_step *st) {
  memset(l, 0, sizeof *l);
  snprintf(l->script, sizeof l->script, "%s", script);
  snprintf(l->step, sizeof l->step, "%s", st->name);
  snprintf(l->who, sizeof l->who, "%s", ks_who_name(st->who));
  l->index = index;
  l->segv = -1;
}

static inline void ks_line_format(const ks_line *l, char *out, size_t cap) {
  char mi[24], ma[24];
  if (l->minflt < 0)
    snprintf(mi, sizeof mi, "*");
  else
    snprintf(mi, sizeof mi, "%lld", (long long)l->minflt);
  if (l->majflt < 0)
    snprintf(ma, sizeof ma, "*");
  else
    snprintf(ma, sizeof ma, "%lld", (long long)l->majflt);
  size_t n = (size_t)snprintf(out, cap, "%s %u %s %s minflt=%s majflt=%s",
                              l->script, l->index, l->step, l->who, mi, ma);
#define KS_APPEND_(...)                                                      \
  do {                                                                       \
    if (n < cap)                                                             \
      n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__);                  \
  } while (0)
  if (l->segv >= 0)
    KS_APPEND_(" segv=%lld", (long long)l->segv);
  if (l->rc[0])
    KS_APPEND_(" rc=%s", l->rc);
  if (l->has_brk)
    KS_APPEND_(" brk=%llx", (unsigned long long)l->brk);
  if (l->to[0])
    KS_APPEND_(" to=%s", l->to);
  if (l->has_arena)
    KS_APPEND_(" arena=%llx", (unsigned long long)l->arena);
  if (l->touch[0])
    KS_APPEND_(" touch=%s", l->touch);
  if (l->file[0])
    KS_APPEND_(" file=%s", l->file);
  if (l->maps[0])
    KS_APPEND_(" maps=%s", l->maps);
#undef KS_APPEND_
}

/* Parses a step's line; 0 if it is not one. */
static inline int ks_line_parse(const char *line, ks_line *l) {
  char mi[24], ma[24];
  memset(l, 0, sizeof *l);
  l->segv = -1;
  if (sscanf(line, "%63s %u %31s %15s minflt=%23s majflt=%23s", l->script,
             &l->index, l->step, l->who, mi, ma) != 6)
    return 0;
  l->minflt = strcmp(mi, "*") ? strtoll(mi, NULL, 10) : KS_ANY;
  l->majflt = strcmp(ma, "*") ? strtoll(ma, NULL, 10) : KS_ANY;
  const char *f;
  if ((f = strstr(line, " segv=")))
    l->segv = strtoll(f + 6, NULL, 10);
  if ((f = strstr(line, " rc=")))
    sscanf(f + 4, "%15s", l->rc);
  if ((f = strstr(line, " brk=")))
    l->has_brk = 1, l->brk = (long long)strtoull(f + 5, NULL, 16);
  if ((f = strstr(line, " to=")))
    sscanf(f + 4, "%15s", l->to);
  if ((f = strstr(line, " arena=")))
    l->has_arena = 1, l->arena = (long long)strtoull(f + 7, NULL, 16);
  if ((f = strstr(line, " touch=")))
    sscanf(f + 7, "%71s", l->touch);
  if ((f = strstr(line, " file=")))
    sscanf(f + 6, "%127s", l->file);
  if ((f = strstr(line, " maps=")))
    sscanf(f + 6, "%1535s", l->maps);
  return 1;
}

#endif /* MMU_KERNEL_SCRIPT_H */
