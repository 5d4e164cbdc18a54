/* SPDX-License-Identifier: MIT */
/* kernel_replay: runs the fault-count scripts of kernel_script.h in real
 * Linux processes and reports, per step, the minor and major page faults
 * (getrusage RUSAGE_SELF deltas) of the process that executed the step.
 *
 *   kernel_replay --list            the scripts, one a line
 *   kernel_replay SCRIPT...         run these scripts
 *   kernel_replay --all             run every script
 *   kernel_replay --expect [S...]   print what the scripts expect
 *   kernel_replay --check [S...]    run (all by default), compare with the
 *                                   expectations; exit 1 on any difference
 *   kernel_replay --probe           only say what anonymous read faults map
 *   --runs N                        run each script N times (default 5) and
 *                                   require identical counts every time
 *   --policy zero-page|no-zero-page take the expectations of this policy
 *                                   instead of probing the kernel
 *   --continue OUT STEPS I N        internal: the new image of an EXEC step
 *                                   (exec_self), going on from step I + 1
 *
 * Output, one line per step:
 *   <script> <step-index> <step-name> <who> minflt=<n> majflt=<n>
 * Lines starting with '#' are comments (kernel, THP settings, summaries),
 * among them, before any step, the policy the counts follow:
 *   # anonymous read faults: zero-page|no-zero-page (probed|given)
 * Before it runs or checks anything, the replayer probes the kernel (the
 * probe script of kernel_script.h, in fresh processes like every script):
 * a kernel that meets neither policy's expectations is an error (exit 1),
 * not a guess.
 *
 * How a measurement is kept clean: each run of a script executes in a
 * fresh process (the "leader", forked by this program), which is the
 * script's one process and, after FORK, its parent. Before any step, and
 * again in both processes after a fork, every page the measuring code
 * itself may write inside a window (128 KiB of stack, the state block) is
 * written, and every code path used inside a window (the libc wrappers,
 * the touch loops, getrusage) is executed once on a scratch mapping, so
 * that a child, whose page tables for the program's file mappings fork did
 * not copy, has them mapped. Inside a window the only memory touched
 * besides the script's regions is that warm state. Nothing is printed or
 * allocated by the leader or the child: results go back through pipes.
 *
 * Linux only, GNU C11.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel_script.h"

#define PAGE KS_PAGE_SIZE
#define STACK_WARM (128u * 1024u)
#define DEFAULT_RUNS 5
#define MAX_RUNS 100
#define PROBE_RUNS 3

#define barrier() __asm__ volatile("" ::: "memory")

/* The touch loops must touch the regions only: no sanitizer shadow. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define NO_SANITIZE __attribute__((no_sanitize("address", "hwaddress")))
#endif
#endif
#ifndef NO_SANITIZE
#define NO_SANITIZE
#endif

enum {
  ERR_NONE = 0,
  ERR_SYSCALL,  /* detail: errno */
  ERR_CONTENT,  /* a byte read back differs from the shadow */
  ERR_CHILD,    /* the child died or the pipe broke */
  ERR_WAIT      /* waitpid failed or the child exited abnormally */
};

typedef struct result {
  int64_t minflt, majflt;
  int32_t err, page, got, want;
  int32_t segv; /* pages whose access raised SIGSEGV with SEGV_ACCERR */
  int32_t rc;   /* arena scripts: the call's errno, 0 if it succeeded */
  int64_t brk;  /* arena scripts, BRK: the break returned, from the arena */
  int64_t to;   /* MREMAP that succeeded: the arena page it returned, or */
                /* -1 outside the arena */
  int64_t arena_off; /* EXEC: the new arena's start modulo 2 MiB */
  char touch[KS_TOUCH_TEXT]; /* arena scripts: what each page gave */
  char file[KS_FILE_TEXT]; /* MSYNC: the process's memfds read back */
  char maps[KS_MAPS_TEXT]; /* the arena's VMAs after the step */
} result;

typedef struct command {
  int32_t step; /* -1: exit */
} command;

/* Everything the leader and the child write during a script. Page aligned
 * so that warming it is a walk over whole pages. */
static struct state {
  uint8_t *arena; /* page 0 of the arena */
  uint32_t arena_pages, arena_mode; /* arena_mode: KS_SCRIPT_ARENA */
  uint8_t *scratch; /* two pages outside the arena, to warm code paths */
  uint32_t mapped[KS_MAX_REGIONS]; /* pages, 0 = not mapped */
  uint32_t at[KS_MAX_REGIONS];
  uint8_t shadow[KS_MAX_REGIONS][KS_MAX_PAGES];
  ks_step steps[KS_MAX_STEPS];
  uint32_t nsteps;
  result results[KS_MAX_STEPS];
  result res;
  command cmd;
  struct rusage ru0, ru1;
  pid_t child;
  int cmd_w, res_r;  /* leader's ends */
  int cmd_r, res_w;  /* child's ends */
  int tcmd_r, tcmd_w, tdone_r, tdone_w; /* the second thread's pipes */
  int out;          /* the results' pipe to the runner */
  uint32_t written; /* results sent on it so far (an EXEC sends those */
                    /* before it, the new image the rest) */
  command tcmd;
  int status;
  uint8_t ready, tdone;
  /* memfds (KS_OP_MEMFD): per name its fd + 1 (0: none) and pages; this
   * process's own, as its fd table (a child's is the copy fork made) */
  int memfd[KS_MAX_FILES];
  uint32_t memfd_pages[KS_MAX_FILES];
  uint8_t file_buf[KS_FILE_PAGES * PAGE]; /* a memfd read back */
} g __attribute__((aligned(4096)));

/* ------------------------------------------------------------------------ */
/* Warming. */

static __attribute__((noinline)) void warm_stack(void) {
  volatile uint8_t buf[STACK_WARM];
  for (size_t i = 0; i < sizeof buf; i += 512)
    buf[i] = (uint8_t)i;
  barrier();
}

static void warm_state(void) {
  volatile uint8_t *p = (volatile uint8_t *)&g;
  for (size_t i = 0; i < sizeof g; i += 512)
    p[i] = p[i];
  volatile uint8_t *last = p + sizeof g - 1;
  *last = *last;
}

static __attribute__((noinline)) NO_SANITIZE uint32_t touch_read(const uint8_t *base,
                                                     uint32_t count) {
  const volatile uint8_t *p = base + KS_TOUCH_OFFSET;
  uint32_t acc = 0;
  for (uint32_t k = 0; k < count; k++)
    acc += p[(size_t)k * PAGE];
  return acc;
}

static __attribute__((noinline)) NO_SANITIZE void touch_write(uint8_t *base,
                                                  uint32_t first,
                                                  uint32_t count,
                                                  uint32_t step) {
  volatile uint8_t *p = base + KS_TOUCH_OFFSET;
  for (uint32_t k = 0; k < count; k++)
    p[(size_t)k * PAGE] = KS_BYTE(step, first + k);
}

/* Accesses the protection refuses: SIGSEGV, caught, each page once; and
 * SIGBUS (a shared mapping past its object's end), caught the same way. */
static sigjmp_buf segv_jump;
static volatile sig_atomic_t segv_code, segv_sig;

static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  segv_sig = sig;
  segv_code = si->si_code;
  siglongjmp(segv_jump, 1);
}

static __attribute__((noinline)) NO_SANITIZE int32_t
touch_refused(uint8_t *base, uint32_t count, int write) {
  volatile uint8_t *p = base + KS_TOUCH_OFFSET;
  volatile int32_t refused = 0;
  for (volatile uint32_t k = 0; k < count; k++) {
    segv_code = 0;
    if (sigsetjmp(segv_jump, 1) == 0) {
      if (write)
        p[(size_t)k * PAGE] = 0x5A;
      else
        (void)p[(size_t)k * PAGE];
    } else if (segv_code == SEGV_ACCERR) {
      refused++;
    }
  }
  return refused;
}

/* Arena scripts: each page of a touch, SIGSEGV caught; out receives two
 * characters a page (KS_TOUCH_TEXT), written without library calls or
 * constant data (warm_paths runs it once in every process). */
static __attribute__((noinline)) NO_SANITIZE void
touch_arena(uint8_t *base, uint32_t first, uint32_t count, int write,
            uint32_t step, char *out) {
  volatile uint8_t *p = base + KS_TOUCH_OFFSET;
  volatile char *o = out;
  for (volatile uint32_t k = 0; k < count; k++) {
    segv_code = 0;
    if (sigsetjmp(segv_jump, 1) == 0) {
      if (write) {
        p[(size_t)k * PAGE] = KS_BYTE(step, first + k);
        o[2 * k] = 'w';
        o[2 * k + 1] = 'w';
      } else {
        uint8_t v = p[(size_t)k * PAGE];
        uint8_t hi = (uint8_t)(v >> 4), lo = (uint8_t)(v & 15);
        o[2 * k] = (char)(hi < 10 ? '0' + hi : 'a' + hi - 10);
        o[2 * k + 1] = (char)(lo < 10 ? '0' + lo : 'a' + lo - 10);
      }
    } else if (segv_sig == SIGBUS) {
      o[2 * k] = 'b';
      o[2 * k + 1] = segv_code == BUS_ADRERR ? 'a' : '?';
    } else {
      o[2 * k] = 's';
      o[2 * k + 1] = segv_code == SEGV_MAPERR   ? 'm'
                     : segv_code == SEGV_ACCERR ? 'a'
                                                : '?';
    }
  }
  o[2 * count] = 0;
}

static __attribute__((noinline)) void window_begin(void) {
  getrusage(RUSAGE_SELF, &g.ru0);
  barrier();
}

static __attribute__((noinline)) void window_end(result *r) {
  barrier();
  getrusage(RUSAGE_SELF, &g.ru1);
  r->minflt = (int64_t)(g.ru1.ru_minflt - g.ru0.ru_minflt);
  r->majflt = (int64_t)(g.ru1.ru_majflt - g.ru0.ru_majflt);
}

static int map_fixed(void *addr, size_t len, int prot, int populate) {
  void *p = mmap(addr, len, prot,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
                     (populate ? MAP_POPULATE : 0),
                 -1, 0);
  return p == MAP_FAILED ? -1 : 0;
}

static int reserve(void *addr, size_t len) {
  void *p = mmap(addr, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                 0);
  return p == MAP_FAILED ? -1 : 0;
}

/* The arena's VMAs (ks_maps_digest) from /proc/self/maps after a step,
 * outside its window; the fixed scripts' PROT_NONE ones left out (the
 * arena's holes are PROT_NONE reservations there, which the library does
 * not have). */
static char maps_buf[1 << 16];

static void capture_maps(result *r) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  size_t n = 0;
  if (fd >= 0) {
    ssize_t got;
    while (n < sizeof maps_buf - 1 &&
           (got = read(fd, maps_buf + n, sizeof maps_buf - 1 - n)) > 0)
      n += (size_t)got;
    close(fd);
  }
  maps_buf[n] = 0;
  ks_maps_digest(maps_buf, (uintptr_t)g.arena, g.arena_pages,
                 g.arena_mode != 0, r->maps, sizeof r->maps);
}

static void set_err(result *r, int32_t err, int32_t page, int32_t got,
                    int32_t want);

/* MSYNC, after its window: each memfd of the process, fsync'd (tmpfs:
 * nothing to do) and read back with pread, as ks_file_digest says; "-"
 * for none. */
static void capture_files(result *r) {
  r->file[0] = 0;
  for (unsigned id = 0; id < KS_MAX_FILES; id++) {
    size_t len = (size_t)g.memfd_pages[id] * PAGE;
    if (!g.memfd[id])
      continue;
    memset(g.file_buf, 0xEE, len);
    if (fsync(g.memfd[id] - 1) ||
        pread(g.memfd[id] - 1, g.file_buf, len, 0) != (ssize_t)len)
      set_err(r, ERR_SYSCALL, 0, errno, 0);
    ks_file_digest(r->file, sizeof r->file, id, g.file_buf,
                   g.memfd_pages[id]);
  }
  if (!r->file[0])
    snprintf(r->file, sizeof r->file, "-");
}

/* MEMFD: file `id` a new memfd of `pages` pages, the one of that name
 * before closed (its mappings keep it). Returns 0 or -1 (errno). */
static int new_memfd(unsigned id, uint32_t pages) {
  char name[] = "ks0";
  name[2] = (char)('0' + id);
  if (g.memfd[id])
    close(g.memfd[id] - 1);
  g.memfd[id] = 0;
  int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  g.memfd[id] = fd + 1;
  g.memfd_pages[id] = pages;
  return ftruncate(fd, (off_t)pages * PAGE);
}

/* An arena script's step: the call made as given, its result reported. */
static void exec_arena_step(const ks_step *st, uint32_t i, result *r) {
  uint8_t *addr = g.arena + (intptr_t)st->first * PAGE + st->off;
  size_t len = (size_t)st->count * PAGE;
  int prot = st->prot, e = 0;
  long rc = 0;
  uint8_t *moved = NULL;
  memset(r, 0, sizeof *r);
  window_begin();
  switch (st->op) {
  case KS_OP_MMAP:
  case KS_OP_MMAP_POPULATE:
  case KS_OP_MMAP_GROWSDOWN:
    rc = mmap(addr, len, prot,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
                  (st->op == KS_OP_MMAP_POPULATE ? MAP_POPULATE : 0) |
                  (st->op == KS_OP_MMAP_GROWSDOWN ? MAP_GROWSDOWN : 0),
              -1, 0) == MAP_FAILED;
    break;
  case KS_OP_MMAP_SHARED:
    rc = mmap(addr, len, prot, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
              0) == MAP_FAILED;
    break;
  case KS_OP_MEMFD:
    rc = new_memfd(st->region, st->count);
    break;
  case KS_OP_MMAP_FILE:
    if (!g.memfd[st->region]) {
      rc = 1;
      errno = EBADF;
      break;
    }
    rc = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED,
              g.memfd[st->region] - 1, (off_t)st->at * PAGE) == MAP_FAILED;
    break;
  case KS_OP_MSYNC:
    rc = msync(addr, len, MS_SYNC);
    break;
  case KS_OP_MUNMAP:
    rc = munmap(addr, len);
    break;
  case KS_OP_MPROTECT:
    rc = mprotect(addr, len, prot);
    break;
  case KS_OP_MADV_DONTNEED:
  case KS_OP_MADV_FREE:
    rc = madvise(addr, len, st->op == KS_OP_MADV_FREE ? MADV_FREE
                                                      : MADV_DONTNEED);
    break;
  case KS_OP_BRK:
    r->brk = (int64_t)syscall(SYS_brk, g.arena + len + st->off) -
             (int64_t)(uintptr_t)g.arena;
    break;
  case KS_OP_READ:
  case KS_OP_WRITE:
    touch_arena(g.arena + (size_t)st->first * PAGE, st->first, st->count,
                st->op == KS_OP_WRITE, i, r->touch);
    break;
  case KS_OP_MREMAP: {
    size_t new_len = (size_t)st->new_count * PAGE;
    moved = (uint8_t *)syscall(SYS_mremap, addr, len, new_len,
                               (unsigned long)st->flags,
                               g.arena + (size_t)st->at * PAGE);
    rc = moved == MAP_FAILED;
    if (rc)
      break;
    e = moved >= g.arena && moved < g.arena + (size_t)g.arena_pages * PAGE;
    r->to = e ? (moved - g.arena) / PAGE : -1;
    if (!e) /* out of the arena: its pages read back through the address */
      touch_arena(moved, 0, st->new_count, 0, i, r->touch);
    break;
  }
  default:
    break;
  }
  e = rc ? errno : 0;
  window_end(r);
  r->rc = e;
  if (st->op == KS_OP_MREMAP && !rc && r->to < 0)
    munmap(moved, (size_t)st->new_count * PAGE);
  if (st->op == KS_OP_MSYNC)
    capture_files(r);
  capture_maps(r);
}

/* Arena scripts: every call of exec_arena_step once, on the scratch pages
 * (its code is file-backed text, which a child has not mapped yet), brk as
 * a query. Returns 0 or an errno. */
static int warm_arena_calls(void) {
#define WARM_CALL(op_, prot_, count_, off_)                                  \
  { .name = "warm", .op = (op_), .prot = (prot_), .count = (count_),        \
    .off = (off_) }
  static const ks_step calls[] = {
      WARM_CALL(KS_OP_MMAP, KS_PROT_RW, 2, 0),
      WARM_CALL(KS_OP_MMAP_POPULATE, KS_PROT_RW, 2, 0),
      WARM_CALL(KS_OP_MMAP_GROWSDOWN, KS_PROT_RW, 2, 0),
      WARM_CALL(KS_OP_WRITE, 0, 2, 0),
      WARM_CALL(KS_OP_READ, 0, 2, 0),
      WARM_CALL(KS_OP_MPROTECT, KS_PROT_READ, 2, 0),
      WARM_CALL(KS_OP_MPROTECT, KS_PROT_RW, 2, 1), /* EINVAL */
      WARM_CALL(KS_OP_MADV_DONTNEED, 0, 2, 0),
      WARM_CALL(KS_OP_MADV_FREE, 0, 2, 0),
      WARM_CALL(KS_OP_MREMAP, 0, 2, 0), /* new_count 0: EINVAL */
      WARM_CALL(KS_OP_MMAP_SHARED, KS_PROT_RW, 2, 0),
      WARM_CALL(KS_OP_WRITE, 0, 2, 0),
      WARM_CALL(KS_OP_MEMFD, 0, 2, 0),
      WARM_CALL(KS_OP_MMAP_FILE, KS_PROT_RW, 2, 0),
      WARM_CALL(KS_OP_WRITE, 0, 2, 0),
      WARM_CALL(KS_OP_MSYNC, 0, 2, 0),
      WARM_CALL(KS_OP_MUNMAP, 0, 2, 0),
      WARM_CALL(KS_OP_BRK, 0, 0, 0),
  };
#undef WARM_CALL
  uint8_t *arena = g.arena;
  int memfd[KS_MAX_FILES]; /* the process's files, the warm one apart */
  uint32_t memfd_pages[KS_MAX_FILES];
  memcpy(memfd, g.memfd, sizeof memfd);
  memcpy(memfd_pages, g.memfd_pages, sizeof memfd_pages);
  memset(g.memfd, 0, sizeof g.memfd);
  for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
    g.arena = calls[c].op == KS_OP_BRK ? NULL : g.scratch; /* brk(0) */
    exec_arena_step(&calls[c], 0, &g.res);
  }
  g.arena = arena;
  if (g.memfd[0])
    close(g.memfd[0] - 1);
  memcpy(g.memfd, memfd, sizeof memfd);
  memcpy(g.memfd_pages, memfd_pages, sizeof memfd_pages);
  return reserve(g.scratch, 2 * PAGE) ? errno : 0;
}

/* Run every path a window uses once, on the scratch pages. Returns 0 or
 * an errno. */
static int warm_paths(void) {
  result r;
  warm_stack();
  warm_state();
  for (int i = 0; i < 3; i++) {
    window_begin();
    if (map_fixed(g.scratch, 2 * PAGE, PROT_READ | PROT_WRITE, 0))
      return errno;
    (void)touch_read(g.scratch, 2);
    touch_write(g.scratch, 0, 2, 0);
    if (madvise(g.scratch, 2 * PAGE, MADV_DONTNEED)) /* bind it before */
      return errno;                                  /* a step calls it */
    touch_write(g.scratch, 0, 2, 0);
    /* a refused access, caught: the signal path is warm too */
    if (mprotect(g.scratch, 2 * PAGE, PROT_NONE))
      return errno;
    if (touch_refused(g.scratch, 1, 1) != 1 ||
        touch_refused(g.scratch, 1, 0) != 1)
      return EFAULT;
    touch_arena(g.scratch, 0, 2, 1, 0, g.res.touch);
    touch_arena(g.scratch, 0, 2, 0, 0, g.res.touch);
    if (mprotect(g.scratch, 2 * PAGE, PROT_READ | PROT_WRITE))
      return errno;
    touch_arena(g.scratch, 0, 2, 1, 0, g.res.touch);
    touch_arena(g.scratch, 0, 2, 0, 0, g.res.touch);
    if (madvise(g.scratch, 2 * PAGE, MADV_FREE))
      return errno;
    (void)syscall(SYS_brk, 0);
    if (mprotect(g.scratch, 2 * PAGE, PROT_READ))
      return errno;
    if (mprotect(g.scratch, 2 * PAGE, PROT_READ | PROT_WRITE))
      return errno;
    if (munmap(g.scratch, 2 * PAGE))
      return errno;
    window_end(&r);
    if (reserve(g.scratch, 2 * PAGE))
      return errno;
  }
  if (g.arena_mode && warm_arena_calls())
    return errno;
  window_begin();
  window_end(&r);
  warm_stack();
  warm_state();
  return 0;
}

/* ------------------------------------------------------------------------ */
/* One step, in the process that owns it. */

static void set_err(result *r, int32_t err, int32_t page, int32_t got,
                    int32_t want) {
  if (r->err)
    return;
  r->err = err;
  r->page = page;
  r->got = got;
  r->want = want;
}

static __attribute__((noinline)) void exec_step(uint32_t i, result *r) {
  const ks_step *st = &g.steps[i];
  unsigned id = st->region;
  uint8_t *base = g.arena + (size_t)g.at[id] * PAGE;
  int rc = 0;
  if (g.arena_mode) {
    exec_arena_step(&g.steps[i], i, r);
    return;
  }
  memset(r, 0, sizeof *r);
  switch (st->op) {
  case KS_OP_MMAP:
  case KS_OP_MMAP_POPULATE: {
    uint8_t *addr = g.arena + (size_t)st->at * PAGE;
    size_t len = (size_t)st->count * PAGE;
    int prot = st->prot;
    window_begin();
    rc = map_fixed(addr, len, prot, st->op == KS_OP_MMAP_POPULATE);
    window_end(r);
    if (rc) {
      set_err(r, ERR_SYSCALL, 0, errno, 0);
      break;
    }
    g.mapped[id] = st->count;
    g.at[id] = st->at;
    memset(g.shadow[id], 0, sizeof g.shadow[id]);
    break;
  }
  case KS_OP_MUNMAP: {
    size_t len = (size_t)g.mapped[id] * PAGE;
    window_begin();
    rc = munmap(base, len);
    window_end(r);
    if (rc) {
      set_err(r, ERR_SYSCALL, 0, errno, 0);
      break;
    }
    g.mapped[id] = 0;
    if (reserve(base, len)) /* keep the arena whole (outside the window) */
      set_err(r, ERR_SYSCALL, 0, errno, 0);
    break;
  }
  case KS_OP_MPROTECT: {
    uint32_t count = st->count ? st->count : g.mapped[id] - st->first;
    uint8_t *p = base + (size_t)st->first * PAGE;
    size_t len = (size_t)count * PAGE;
    int prot = st->prot;
    window_begin();
    rc = mprotect(p, len, prot);
    window_end(r);
    if (rc)
      set_err(r, ERR_SYSCALL, 0, errno, 0);
    break;
  }
  case KS_OP_MADV_DONTNEED: {
    uint8_t *p = base + (size_t)st->first * PAGE;
    window_begin();
    rc = madvise(p, (size_t)st->count * PAGE, MADV_DONTNEED);
    window_end(r);
    if (rc)
      set_err(r, ERR_SYSCALL, 0, errno, 0);
    /* anonymous: the pages read as zero from now on */
    memset(&g.shadow[id][st->first], 0, st->count);
    break;
  }
  case KS_OP_READ:
  case KS_OP_WRITE: {
    uint8_t *p = base + (size_t)st->first * PAGE;
    uint32_t first = st->first, count = st->count;
    window_begin();
    if (st->expect_segv)
      r->segv = touch_refused(p, count, st->op == KS_OP_WRITE);
    else if (st->op == KS_OP_READ)
      (void)touch_read(p, count);
    else
      touch_write(p, first, count, i);
    window_end(r);
    if (st->op == KS_OP_WRITE && !st->expect_segv)
      for (uint32_t k = 0; k < count; k++)
        g.shadow[id][first + k] = KS_BYTE(i, first + k);
    break;
  }
  default:
    break;
  }
  /* Check what the touched pages hold (no fault: they are mapped now). */
  if ((st->op == KS_OP_READ || st->op == KS_OP_WRITE) && !st->expect_segv) {
    const volatile uint8_t *p =
        base + (size_t)st->first * PAGE + KS_TOUCH_OFFSET;
    for (uint32_t k = 0; k < st->count; k++) {
      uint8_t got = p[(size_t)k * PAGE], want = g.shadow[id][st->first + k];
      if (got != want) {
        set_err(r, ERR_CONTENT, (int32_t)(st->first + k), got, want);
        break;
      }
    }
  }
  capture_maps(r);
}

/* The process's initial break (start_brk, field 47 of /proc/self/stat),
 * page aligned, or 0. */
static uintptr_t arena_start(void) {
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  char *f = strrchr(buf, ')'); /* field 2, the name, may hold spaces */
  for (int field = 2; f && field < 47; field++)
    f = strchr(f + 1, ' ');
  unsigned long long sb = f ? strtoull(f + 1, NULL, 10) : 0;
  return (sb & (PAGE - 1)) ? 0 : (uintptr_t)sb;
}

/* Whether an arena script can run in this process image: the floor page
 * below the initial break and the arena above it (past the replayer's own
 * heap) are free. */
static int arena_room(void) {
  uintptr_t sb = arena_start();
  uintptr_t heap = (uintptr_t)syscall(SYS_brk, 0);
  if (!sb)
    return 0;
  heap = (heap + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
  uintptr_t end = sb + (uintptr_t)KS_RANDOM_PAGES * PAGE;
  void *lo = mmap((void *)(sb - PAGE), PAGE, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  int ok = lo == (void *)(sb - PAGE);
  if (ok)
    munmap(lo, PAGE);
  if (ok && heap < end) {
    void *hi = mmap((void *)heap, end - heap, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ok = hi == (void *)heap;
    if (ok)
      munmap(hi, end - heap);
  }
  return ok;
}

/* ------------------------------------------------------------------------ */
/* The child: runs the steps the leader sends, reports each result. */

static int full_write(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int full_read(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static __attribute__((noreturn)) void child_main(void) {
  close(g.cmd_w);
  close(g.res_r);
  g.ready = warm_paths() == 0;
  if (full_write(g.res_w, &g.ready, 1))
    _exit(2);
  warm_stack();
  warm_state();
  for (;;) {
    if (full_read(g.cmd_r, &g.cmd, sizeof g.cmd))
      _exit(3);
    if (g.cmd.step < 0)
      _exit(0);
    exec_step((uint32_t)g.cmd.step, &g.res);
    if (full_write(g.res_w, &g.res, sizeof g.res))
      _exit(4);
  }
}

/* ------------------------------------------------------------------------ */
/* The second thread (arena scripts): a thread of the leader's process,
 * clone(CLONE_VM | CLONE_THREAD ...) before the first step, on a stack
 * outside the arena that fork does not copy (MADV_DONTFORK: the leader's
 * thread never writes a page fork made copy-on-write). It shares the
 * leader's TLS and calls nothing that allocates. It runs the KS_THREAD
 * steps the leader sends (getrusage RUSAGE_SELF counts the whole process)
 * while the leader waits, then says it is done. */
#define THREAD_STACK (512u * 1024u)

static int thread_main(void *arg) {
  (void)arg;
  warm_stack();
  /* a refused access, caught: the signal path on this stack is warm */
  touch_arena(g.scratch, 0, 1, 0, 0, g.res.touch);
  g.tdone = 1;
  if (full_write(g.tdone_w, &g.tdone, 1) == 0)
    while (full_read(g.tcmd_r, &g.tcmd, sizeof g.tcmd) == 0 &&
           g.tcmd.step >= 0) {
      exec_step((uint32_t)g.tcmd.step, &g.results[g.tcmd.step]);
      if (full_write(g.tdone_w, &g.tdone, 1))
        break;
    }
  syscall(SYS_exit, 0); /* this thread only */
  return 0;
}

static int start_thread(void) {
  int c[2], d[2];
  uint8_t *stack = mmap(NULL, THREAD_STACK, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED || madvise(stack, THREAD_STACK, MADV_DONTFORK) ||
      pipe2(c, O_CLOEXEC) || pipe2(d, O_CLOEXEC))
    return -1;
  g.tcmd_r = c[0];
  g.tcmd_w = c[1];
  g.tdone_r = d[0];
  g.tdone_w = d[1];
  if (clone(thread_main, stack + THREAD_STACK,
            CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                CLONE_THREAD | CLONE_SYSVSEM,
            NULL) < 0)
    return -1;
  return full_read(g.tdone_r, &g.tdone, 1);
}

/* ------------------------------------------------------------------------ */
/* The leader: the script's first process, then its parent. */

static void child_gone(void) {
  close(g.cmd_w);
  close(g.res_r);
  g.child = 0;
}

/* EXEC: the results so far go to the runner, the steps to the new image
 * through a pipe it inherits, and the process executes this program
 * again (--continue), which sets the arena up at its own initial break
 * and goes on from the next step. Returns only if that failed. */
static void exec_self(uint32_t i, result *r) {
  int sp[2];
  static char a_out[16], a_steps[16], a_index[16], a_n[16];
  static char *args[] = {"kernel_replay", "--continue", a_out, a_steps,
                         a_index, a_n, NULL};
  if (full_write(g.out, g.results + g.written,
                 (i - g.written) * sizeof *g.results) ||
      pipe(sp) || full_write(sp[1], g.steps, g.nsteps * sizeof *g.steps) ||
      close(sp[1]) || fcntl(g.out, F_SETFD, 0)) {
    set_err(r, ERR_SYSCALL, 0, errno, 0);
    return;
  }
  g.written = i;
  snprintf(a_out, sizeof a_out, "%d", g.out);
  snprintf(a_steps, sizeof a_steps, "%d", sp[0]);
  snprintf(a_index, sizeof a_index, "%u", i);
  snprintf(a_n, sizeof a_n, "%u", g.nsteps);
  execv("/proc/self/exe", args);
  set_err(r, ERR_SYSCALL, 0, errno, 0);
}

static void leader_step(uint32_t i) {
  const ks_step *st = &g.steps[i];
  result *r = &g.results[i];
  memset(r, 0, sizeof *r);
  switch (st->op) {
  case KS_OP_FORK: {
    int c[2], s[2];
    if (pipe2(c, O_CLOEXEC) || pipe2(s, O_CLOEXEC)) {
      set_err(r, ERR_SYSCALL, 0, errno, 0);
      return;
    }
    g.cmd_r = c[0];
    g.cmd_w = c[1];
    g.res_r = s[0];
    g.res_w = s[1];
    window_begin();
    pid_t pid = fork();
    if (pid == 0)
      child_main();
    window_end(r);
    if (pid < 0) {
      set_err(r, ERR_SYSCALL, 0, errno, 0);
      return;
    }
    g.child = pid;
    close(g.cmd_r);
    close(g.res_w);
    if (warm_paths())
      set_err(r, ERR_SYSCALL, 0, errno, 0);
    if (full_read(g.res_r, &g.ready, 1) || !g.ready)
      set_err(r, ERR_CHILD, 0, 0, 0);
    warm_stack();
    warm_state();
    capture_maps(r);
    return;
  }
  case KS_OP_EXEC:
    exec_self(i, r);
    return; /* only if it failed */
  case KS_OP_CHILD_EXIT: {
    g.cmd.step = -1;
    if (full_write(g.cmd_w, &g.cmd, sizeof g.cmd))
      set_err(r, ERR_CHILD, 0, 0, 0);
    pid_t pid = g.child;
    window_begin();
    /* wait4 directly: a sanitizer's waitpid interceptor touches memory */
    pid_t w = (pid_t)syscall(SYS_wait4, pid, &g.status, 0, NULL);
    window_end(r);
    if (w != pid || !WIFEXITED(g.status) || WEXITSTATUS(g.status) != 0)
      set_err(r, ERR_WAIT, 0, g.status, 0);
    child_gone();
    capture_maps(r);
    return;
  }
  default:
    break;
  }
  if (st->who == KS_THREAD) {
    g.tcmd.step = (int32_t)i;
    if (full_write(g.tcmd_w, &g.tcmd, sizeof g.tcmd) ||
        full_read(g.tdone_r, &g.tdone, 1))
      set_err(r, ERR_CHILD, 0, 0, 0);
    return;
  }
  if (st->who == KS_CHILD) {
    g.cmd.step = (int32_t)i;
    if (full_write(g.cmd_w, &g.cmd, sizeof g.cmd) ||
        full_read(g.res_r, r, sizeof *r))
      set_err(r, ERR_CHILD, 0, 0, 0);
    return;
  }
  exec_step(i, r);
}

/* The arena, the scratch pages, warm paths and, for arena scripts, the
 * second thread. */
static void leader_setup(uint32_t flags) {
  if (flags & KS_SCRIPT_ARENA) {
    /* the arena starts at the initial break, the replayer's own heap
     * given back (nothing here allocates); the floor below it */
    uintptr_t sb = arena_start();
    g.arena_mode = KS_SCRIPT_ARENA;
    g.arena_pages = KS_RANDOM_PAGES;
    g.arena = (uint8_t *)sb;
    if (!sb || (uintptr_t)syscall(SYS_brk, sb) != sb ||
        mmap(g.arena - PAGE, PAGE, PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
             0) != g.arena - PAGE)
      _exit(13);
    g.scratch = mmap(NULL, 2 * PAGE, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g.scratch == MAP_FAILED)
      _exit(10);
  } else {
    size_t len = (size_t)(KS_ARENA_PAGES + 2) * PAGE;
    uint8_t *res = mmap(NULL, len + 4 * PAGE, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
      _exit(10);
    g.arena = res + PAGE;
    g.arena_pages = KS_ARENA_PAGES;
    g.scratch = res + len + PAGE; /* a guard page from the arena's */
  }
  if (warm_paths())
    _exit(11);
  if (g.arena_mode && start_thread())
    _exit(14);
  warm_stack();
  warm_state();
}

/* Steps from `from` on; then the results not sent yet. */
static __attribute__((noreturn)) void leader_run(uint32_t from) {
  for (uint32_t i = from; i < g.nsteps; i++) {
    leader_step(i);
    if (g.results[i].err)
      break;
  }
  if (g.child) {
    kill(g.child, SIGKILL);
    waitpid(g.child, NULL, 0);
  }
  if (full_write(g.out, g.results + g.written,
                 (g.nsteps - g.written) * sizeof *g.results))
    _exit(12);
  _exit(0);
}

static __attribute__((noreturn)) void leader_main(const ks_script *s,
                                                  int out) {
  g.out = out;
  g.written = 0;
  memcpy(g.steps, s->steps, s->nsteps * sizeof *s->steps);
  g.nsteps = s->nsteps;
  leader_setup(s->flags);
  leader_run(0);
}

/* ------------------------------------------------------------------------ */
/* The runner: validation, runs, output. */

/* An arena script's call: inside the arena (the floor excepted), a touch
 * short enough for its text. */
static const char *validate_arena_step(const ks_step *st) {
  if (st->op < KS_OP_MMAP || st->op > KS_OP_LAST || st->op == KS_OP_FORK ||
      st->op == KS_OP_CHILD_EXIT)
    return "bad op";
  if (st->prot & ~(unsigned)KS_PROT_RW)
    return "bad prot";
  if (st->off < -(int32_t)PAGE || st->off >= (int32_t)PAGE ||
      (st->off < 0 && st->op != KS_OP_BRK))
    return "bad offset";
  if (st->first + st->count + (st->off > 0) > KS_RANDOM_PAGES)
    return "outside the arena";
  if ((st->op == KS_OP_READ || st->op == KS_OP_WRITE) &&
      (!st->count || 2 * st->count >= KS_TOUCH_TEXT))
    return "bad touch length";
  if ((st->op == KS_OP_MEMFD || st->op == KS_OP_MMAP_FILE) &&
      (st->region >= KS_MAX_FILES ||
       (st->op == KS_OP_MEMFD && (!st->count || st->count > KS_FILE_PAGES))))
    return "bad memfd";
  if (st->op == KS_OP_MREMAP &&
      (st->at + st->new_count > KS_RANDOM_PAGES ||
       2 * st->new_count >= KS_TOUCH_TEXT))
    return "mremap target outside the arena, or too long to read back";
  return NULL;
}

static const char *validate(const ks_script *s, uint32_t *bad) {
  /* Per process (0: the one/parent, 1: the child), per region: pages and
   * arena offset; per page: prot. */
  static uint32_t pages[2][KS_MAX_REGIONS], at[2][KS_MAX_REGIONS];
  static uint8_t prot[2][KS_MAX_REGIONS][KS_MAX_PAGES];
  int child = 0;
  memset(pages, 0, sizeof pages);
  if (s->nsteps > KS_MAX_STEPS) {
    *bad = 0;
    return "too many steps";
  }
  for (uint32_t i = 0; i < s->nsteps; i++) {
    const ks_step *st = &s->steps[i];
    *bad = i;
    if (!st->name || !*st->name || strchr(st->name, ' '))
      return "bad name";
    if (st->op == KS_OP_FORK) {
      if (child)
        return "fork while a child is alive";
      memcpy(pages[1], pages[0], sizeof pages[0]);
      memcpy(at[1], at[0], sizeof at[0]);
      memcpy(prot[1], prot[0], sizeof prot[0]);
      child = 1;
      continue;
    }
    if (st->op == KS_OP_CHILD_EXIT) {
      if (!child)
        return "no child to exit";
      child = 0;
      continue;
    }
    if (st->op == KS_OP_EXEC &&
        (child || st->who != KS_BOTH || !(s->flags & KS_SCRIPT_ARENA)))
      return "exec: an arena script's one process, no child alive";
    if (st->who > KS_THREAD ||
        (st->who == KS_THREAD &&
         (!(s->flags & KS_SCRIPT_ARENA) ||
          (st->op != KS_OP_READ && st->op != KS_OP_WRITE))))
      return "bad who (a thread only touches, in arena scripts)";
    if (child && st->who == KS_BOTH)
      return "who must be parent or child while a child lives";
    if (!child && st->who == KS_CHILD)
      return "no child";
    if (s->flags & KS_SCRIPT_ARENA) {
      const char *why = validate_arena_step(st);
      if (why)
        return why;
      continue;
    }
    int p = st->who == KS_CHILD;
    unsigned id = st->region;
    if (id >= KS_MAX_REGIONS)
      return "bad region id";
    switch (st->op) {
    case KS_OP_MMAP:
    case KS_OP_MMAP_POPULATE:
      if (pages[p][id])
        return "region already mapped";
      if (!st->count || st->count > KS_MAX_PAGES ||
          st->at + st->count > KS_ARENA_PAGES)
        return "bad region size or place";
      if (st->prot & ~(unsigned)KS_PROT_RW)
        return "bad prot";
      for (unsigned o = 0; o < KS_MAX_REGIONS; o++)
        if (pages[p][o] && st->at < at[p][o] + pages[p][o] &&
            at[p][o] < st->at + st->count)
          return "regions overlap";
      pages[p][id] = st->count;
      at[p][id] = st->at;
      memset(prot[p][id], st->prot, sizeof prot[p][id]);
      break;
    case KS_OP_MUNMAP:
      if (!pages[p][id])
        return "region not mapped";
      pages[p][id] = 0;
      break;
    case KS_OP_MPROTECT: {
      if (!pages[p][id])
        return "region not mapped";
      if (st->prot & ~(unsigned)KS_PROT_RW)
        return "bad prot";
      uint32_t n = st->count ? st->count : pages[p][id] - st->first;
      if (st->first >= pages[p][id] || st->first + n > pages[p][id])
        return "pages out of the region";
      memset(&prot[p][id][st->first], st->prot, n);
      break;
    }
    case KS_OP_MADV_DONTNEED:
      if (!pages[p][id])
        return "region not mapped";
      if (!st->count || st->first + st->count > pages[p][id])
        return "pages out of the region";
      break;
    case KS_OP_READ:
    case KS_OP_WRITE: {
      unsigned need = st->op == KS_OP_READ ? KS_PROT_READ : KS_PROT_WRITE;
      if (!pages[p][id])
        return "region not mapped";
      if (!st->count || st->first + st->count > pages[p][id])
        return "pages out of the region";
      /* x86 reads any page that is not PROT_NONE */
      unsigned refuses = st->op == KS_OP_READ ? KS_PROT_RW : KS_PROT_WRITE;
      for (uint32_t k = st->first; k < st->first + st->count; k++) {
        if (st->expect_segv && (prot[p][id][k] & refuses))
          return "a refused access the protection allows";
        if (!st->expect_segv && !(prot[p][id][k] & need))
          return "access the protection forbids";
      }
      break;
    }
    default:
      return "bad op";
    }
  }
  if (child) {
    *bad = s->nsteps;
    return "the child must exit before the script ends";
  }
  return NULL;
}

/* One run of a script: results[0..nsteps). Returns 0 or -1. */
static int run_once(const ks_script *s, result *out) {
  int fd[2];
  if (pipe2(fd, O_CLOEXEC)) {
    perror("pipe");
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return -1;
  }
  if (pid == 0) {
    close(fd[0]);
    leader_main(s, fd[1]);
  }
  close(fd[1]);
  int rc = full_read(fd[0], out, s->nsteps * sizeof *out);
  close(fd[0]);
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "kernel_replay: %s: the script process failed (status "
            "0x%x)\n", s->name, status);
    return -1;
  }
  return rc ? -1 : 0;
}

static void errno_text(int32_t e, char *out, size_t cap) {
  switch (e) {
  case 0: snprintf(out, cap, "0"); break;
  case ENOMEM: snprintf(out, cap, "ENOMEM"); break;
  case EINVAL: snprintf(out, cap, "EINVAL"); break;
  case EEXIST: snprintf(out, cap, "EEXIST"); break;
  case EFAULT: snprintf(out, cap, "EFAULT"); break;
  case EBADF: snprintf(out, cap, "EBADF"); break;
  default: snprintf(out, cap, "E%d", (int)e); break;
  }
}

/* A step's line (ks_line_format); r NULL: the counts only. */
static void print_line(const ks_script *s, uint32_t i, int64_t minflt,
                       int64_t majflt, const result *r) {
  const ks_step *st = &s->steps[i];
  static ks_line l;
  static char text[2048];
  ks_line_init(&l, s->name, i, st);
  l.minflt = minflt < 0 ? KS_ANY : minflt;
  l.majflt = majflt < 0 ? KS_ANY : majflt;
  if (r && st->expect_segv)
    l.segv = r->segv;
  if (r && (s->flags & KS_SCRIPT_ARENA) && st->op != KS_OP_FORK &&
      st->op != KS_OP_CHILD_EXIT) {
    if (st->op == KS_OP_READ || st->op == KS_OP_WRITE)
      snprintf(l.touch, sizeof l.touch, "%s", r->touch);
    else
      errno_text(r->rc, l.rc, sizeof l.rc);
    if (st->op == KS_OP_MREMAP && !r->rc) {
      snprintf(l.touch, sizeof l.touch, "%s", r->touch);
      if (r->to < 0)
        snprintf(l.to, sizeof l.to, "out");
      else
        snprintf(l.to, sizeof l.to, "%u", (unsigned)r->to & 0xFFFFu);
    }
    if (st->op == KS_OP_BRK)
      l.has_brk = 1, l.brk = r->brk;
    if (st->op == KS_OP_MSYNC)
      snprintf(l.file, sizeof l.file, "%s", r->file);
    if (st->op == KS_OP_EXEC)
      l.has_arena = 1, l.arena = r->arena_off;
  }
  if (r)
    snprintf(l.maps, sizeof l.maps, "%s", r->maps);
  ks_line_format(&l, text, sizeof text);
  printf("%s\n", text);
}

static const char *err_name(int32_t err) {
  switch (err) {
  case ERR_SYSCALL: return "system call failed";
  case ERR_CONTENT: return "wrong page contents";
  case ERR_CHILD: return "child lost";
  case ERR_WAIT: return "child exit";
  default: return "?";
  }
}

/* Runs a script `runs` times; prints its lines (or, with check, its
 * differences from the expectations of `policy`). Returns the number of
 * problems. */
static int run_script(const ks_script *s, int runs, int check,
                      unsigned policy) {
  static result res[MAX_RUNS][KS_MAX_STEPS];
  uint32_t bad;
  const char *why = validate(s, &bad);
  if (why) {
    fprintf(stderr, "kernel_replay: %s: step %u: %s\n", s->name, bad, why);
    return 1;
  }
  for (int r = 0; r < runs; r++) {
    if (run_once(s, res[r]))
      return 1;
    for (uint32_t i = 0; i < s->nsteps; i++) {
      const result *x = &res[r][i];
      if (x->err) {
        if (x->err == ERR_CONTENT)
          fprintf(stderr, "kernel_replay: %s: step %u (%s): %s: page %d "
                  "holds %d, expected %d\n", s->name, i, s->steps[i].name,
                  err_name(x->err), x->page, x->got, x->want);
        else
          fprintf(stderr, "kernel_replay: %s: step %u (%s): %s (%d)\n",
                  s->name, i, s->steps[i].name, err_name(x->err), x->got);
        return 1;
      }
    }
  }
  int problems = 0;
  for (uint32_t i = 0; i < s->nsteps; i++) {
    const ks_step *st = &s->steps[i];
    int stable = 1;
    for (int r = 1; r < runs; r++)
      if (res[r][i].minflt != res[0][i].minflt ||
          res[r][i].majflt != res[0][i].majflt ||
          res[r][i].segv != res[0][i].segv || res[r][i].rc != res[0][i].rc ||
          res[r][i].brk != res[0][i].brk ||
          strcmp(res[r][i].touch, res[0][i].touch) ||
          strcmp(res[r][i].file, res[0][i].file) ||
          strcmp(res[r][i].maps, res[0][i].maps))
        stable = 0;
    /* FORK's own count (KS_ANY) measures the replayer: not required stable */
    int32_t want_minflt = st->expect_minflt[policy];
    if (!stable && !(want_minflt == KS_ANY && st->expect_majflt == KS_ANY)) {
      /* an arena script's comparison leaves an unstable step out */
      problems += !(s->flags & KS_SCRIPT_ARENA);
      printf("UNSTABLE %s %u %s %s minflt=", s->name, i, st->name,
             ks_who_name(st->who));
      for (int r = 0; r < runs; r++)
        printf("%s%lld", r ? "," : "", (long long)res[r][i].minflt);
      printf(" majflt=");
      for (int r = 0; r < runs; r++)
        printf("%s%lld", r ? "," : "", (long long)res[r][i].majflt);
      printf("\n");
    }
    int64_t mi = res[0][i].minflt, ma = res[0][i].majflt;
    if (!check) {
      print_line(s, i, mi, ma, &res[0][i]);
      continue;
    }
    int dmin = want_minflt != KS_ANY && mi != want_minflt;
    int dmaj = st->expect_majflt != KS_ANY && ma != st->expect_majflt;
    if (dmin || dmaj) {
      problems++;
      printf("DIFF %s %u %s %s minflt=%lld (expected %d) majflt=%lld "
             "(expected %d)\n", s->name, i, st->name, ks_who_name(st->who),
             (long long)mi, want_minflt, (long long)ma, st->expect_majflt);
    }
  }
  if (check)
    printf("# %s: %u steps, %d runs, %s\n", s->name, s->nsteps, runs,
           problems ? "FAILED" : "ok");
  return problems;
}

/* What anonymous read faults map here: the probe script, run PROBE_RUNS
 * times, must meet one policy's expectations every time. The policy, or
 * -1 after saying why. */
static int probe_kernel(void) {
  static result res[KS_MAX_STEPS];
  int policy = -1;
  for (int r = 0; r < PROBE_RUNS; r++) {
    int64_t minflt[KS_MAX_STEPS];
    if (run_once(&ks_probe, res))
      return -1;
    for (uint32_t i = 0; i < ks_probe.nsteps; i++) {
      if (res[i].err) {
        fprintf(stderr, "kernel_replay: probe step %u (%s): %s (%d)\n", i,
                ks_probe.steps[i].name, err_name(res[i].err), res[i].got);
        return -1;
      }
      minflt[i] = res[i].minflt;
    }
    int p = ks_probe_policy(minflt);
    if (p < 0 || (r > 0 && p != policy)) {
      fprintf(stderr, "kernel_replay: the probe meets %s:",
              p < 0 ? "no known policy" : "different policies run to run");
      for (uint32_t i = 0; i < ks_probe.nsteps; i++)
        fprintf(stderr, " %s minflt=%lld", ks_probe.steps[i].name,
                (long long)minflt[i]);
      fprintf(stderr, " (zero page: read and write %u each; without: read "
              "%u, write 0)\n", KS_PROBE_PAGES, KS_PROBE_PAGES);
      return -1;
    }
    policy = p;
  }
  return policy;
}

static void print_file(const char *label, const char *path) {
  char buf[256];
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("# %s: (unavailable)\n", label);
    return;
  }
  if (fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\n")] = 0;
    printf("# %s: %s\n", label, buf);
  }
  fclose(f);
}

static void print_environment(void) {
  struct utsname u;
  if (uname(&u) == 0)
    printf("# kernel: %s %s %s\n", u.sysname, u.release, u.machine);
  print_file("thp enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
  print_file("thp 2048kB", "/sys/kernel/mm/transparent_hugepage/"
             "hugepages-2048kB/enabled");
  print_file("numa_balancing", "/proc/sys/kernel/numa_balancing");
  printf("# THP off for the process (PR_SET_THP_DISABLE); page size %ld\n",
         sysconf(_SC_PAGESIZE));
}

static const ks_script *find_script(const char *name) {
  for (uint32_t i = 0; i < KS_NSCRIPTS; i++)
    if (strcmp(ks_scripts[i].name, name) == 0)
      return &ks_scripts[i];
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "usage: kernel_replay [--runs N] [--policy zero-page|"
             "no-zero-page]\n"
             "                     --list | --probe | --all | --expect "
             "[SCRIPT...] | --check [SCRIPT...] | SCRIPT...\n"
             "                     | --random SEED COUNT (random scripts "
             "SEED .. SEED+COUNT-1, SEED >= 1)\n"
             "                     | --script NAME FILE (an arena script, "
             "a step a line as ks_step_format writes it)\n");
}

/* Whether the arena has room at this image's initial break; if not (the
 * break lies right above another mapping: one chance in 8192 with ASLR,
 * always without), a new image, a new layout, up to 8 times; 0 after. */
static int room_or_reexec(char **argv) {
  if (arena_room())
    return 1;
  const char *tries = getenv("KERNEL_REPLAY_REEXEC");
  int n = tries ? atoi(tries) : 0;
  char next[16];
  snprintf(next, sizeof next, "%d", n + 1);
  if (n < 8 && setenv("KERNEL_REPLAY_REEXEC", next, 1) == 0)
    execv("/proc/self/exe", argv);
  return 0;
}

/* Signals and THP, for this image and every process it forks. */
static int process_setup(void) {
  /* Refused accesses are caught (touch_refused); fork keeps the handler. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, NULL) != 0 ||
      sigaction(SIGBUS, &sa, NULL) != 0) {
    perror("kernel_replay: sigaction");
    return -1;
  }
  /* No transparent huge pages, for every process of every script (fork
   * inherits it, execve keeps it): as a flag of the mm, not of each VMA,
   * where MADV_NOHUGEPAGE would change what merges. */
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
    perror("kernel_replay: prctl(PR_SET_THP_DISABLE)");
    return -1;
  }
  return 0;
}

/* After an EXEC step (exec_self): kernel_replay --continue OUT STEPS
 * INDEX NSTEPS. The script's process in a new image: its steps from the
 * STEPS pipe, a new arena at the new initial break, the EXEC step's
 * report (where that arena lies in its 2 MiB), then the steps after it.
 * Nothing here allocates before the arena is set up. */
static __attribute__((noreturn)) void continue_main(char **argv) {
  int out = atoi(argv[2]), steps = atoi(argv[3]);
  uint32_t i = (uint32_t)strtoul(argv[4], NULL, 10);
  g.nsteps = (uint32_t)strtoul(argv[5], NULL, 10);
  if (!room_or_reexec(argv) || process_setup() || g.nsteps > KS_MAX_STEPS ||
      i >= g.nsteps ||
      full_read(steps, g.steps, g.nsteps * sizeof *g.steps) || close(steps))
    _exit(15);
  for (uint32_t k = 0; k < g.nsteps; k++)
    g.steps[k].name = ks_op_name(g.steps[k].op);
  g.out = out;
  g.written = i;
  leader_setup(KS_SCRIPT_ARENA);
  result *r = &g.results[i];
  memset(r, 0, sizeof *r);
  r->arena_off = (int64_t)((uintptr_t)g.arena & 0x1FFFFFu);
  capture_maps(r);
  leader_run(i + 1);
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "--continue"))
    continue_main(argv);
  enum { M_RUN, M_LIST, M_EXPECT, M_CHECK, M_PROBE } mode = M_RUN;
  int all = 0, runs = DEFAULT_RUNS, policy = -1;
  unsigned long long random_seed = 0, random_count = 0;
  static ks_step file_steps[KS_MAX_STEPS];
  static char file_name[64];
  ks_script file_script = {file_name, "from a file", file_steps, 0,
                           KS_SCRIPT_ARENA};
  const ks_script *chosen[KS_NSCRIPTS > 0 ? 64 : 1];
  unsigned nchosen = 0;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--list"))
      mode = M_LIST;
    else if (!strcmp(argv[a], "--all"))
      all = 1;
    else if (!strcmp(argv[a], "--expect"))
      mode = M_EXPECT;
    else if (!strcmp(argv[a], "--check"))
      mode = M_CHECK;
    else if (!strcmp(argv[a], "--probe"))
      mode = M_PROBE;
    else if (!strcmp(argv[a], "--random") && a + 2 < argc) {
      random_seed = strtoull(argv[++a], NULL, 10);
      random_count = strtoull(argv[++a], NULL, 10);
      if (random_seed == 0 || random_count == 0) {
        fprintf(stderr, "kernel_replay: --random SEED COUNT, both > 0\n");
        return 2;
      }
    }
    else if (!strcmp(argv[a], "--script") && a + 2 < argc) {
      snprintf(file_name, sizeof file_name, "%s", argv[++a]);
      FILE *f = fopen(argv[++a], "r");
      char text[256];
      while (f && fgets(text, sizeof text, f) &&
             file_script.nsteps < KS_MAX_STEPS)
        if (!ks_step_parse(text, &file_steps[file_script.nsteps++])) {
          fprintf(stderr, "kernel_replay: not a step: %s", text);
          return 2;
        }
      if (!f || strchr(file_name, ' ')) {
        fprintf(stderr, "kernel_replay: --script NAME FILE\n");
        return 2;
      }
      fclose(f);
    }
    else if (!strcmp(argv[a], "--policy") && a + 1 < argc) {
      const char *name = argv[++a];
      if ((policy = ks_policy_of(name)) < 0) {
        fprintf(stderr, "kernel_replay: --policy zero-page or "
                "no-zero-page, not '%s'\n", name);
        return 2;
      }
    }
    else if (!strcmp(argv[a], "--runs") && a + 1 < argc) {
      runs = atoi(argv[++a]);
      if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "kernel_replay: --runs between 1 and %d\n",
                MAX_RUNS);
        return 2;
      }
    } else if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
      usage(stdout);
      return 0;
    } else if (argv[a][0] == '-') {
      usage(stderr);
      return 2;
    } else {
      const ks_script *s = find_script(argv[a]);
      if (!s) {
        fprintf(stderr, "kernel_replay: no script %s (--list)\n", argv[a]);
        return 2;
      }
      if (nchosen < 64)
        chosen[nchosen++] = s;
    }
  }
  if (mode == M_LIST) {
    for (uint32_t i = 0; i < KS_NSCRIPTS; i++)
      printf("%s %u %s\n", ks_scripts[i].name, ks_scripts[i].nsteps,
             ks_scripts[i].summary);
    return 0;
  }
  if (all || (nchosen == 0 && (mode == M_EXPECT || mode == M_CHECK))) {
    nchosen = 0;
    for (uint32_t i = 0; i < KS_NSCRIPTS && nchosen < 64; i++)
      chosen[nchosen++] = &ks_scripts[i];
  }
  if (nchosen == 0 && mode != M_PROBE && !random_count &&
      !file_script.nsteps) {
    usage(stderr);
    return 2;
  }
  if ((random_count || file_script.nsteps) && !room_or_reexec(argv)) {
    fprintf(stderr, "kernel_replay: no room for the arena at the initial "
            "break (address space layout randomisation off?)\n");
    return 77; /* cannot run here: a skip, not a pass */
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (process_setup())
    return 1;
  int given = policy >= 0;
  if (!given && (policy = probe_kernel()) < 0)
    return 1;
  printf("# anonymous read faults: %s (%s)\n", ks_policy_name((unsigned)policy),
         given ? "given" : "probed");
  if (mode == M_PROBE)
    return 0;
  if (random_count || file_script.nsteps) /* fault-around's windows */
    printf("# arena start modulo 2 MiB: %#lx\n",
           (unsigned long)(arena_start() & 0x1FFFFFu));
  if (mode == M_EXPECT) {
    for (unsigned c = 0; c < nchosen; c++)
      for (uint32_t i = 0; i < chosen[c]->nsteps; i++)
        print_line(chosen[c], i, chosen[c]->steps[i].expect_minflt[policy],
                   chosen[c]->steps[i].expect_majflt, NULL);
    return 0;
  }
  print_environment();
  int problems = 0;
  for (unsigned c = 0; c < nchosen; c++)
    problems += run_script(chosen[c], runs, mode == M_CHECK, (unsigned)policy);
  if (file_script.nsteps)
    problems += run_script(&file_script, runs, 0, (unsigned)policy);
  for (unsigned long long k = 0; k < random_count; k++) {
    static ks_step steps[KS_MAX_STEPS];
    static char name[32];
    ks_script rs = ks_random_script(random_seed + k, steps, name);
    problems += run_script(&rs, runs, 0, (unsigned)policy);
  }
  if (mode == M_CHECK)
    printf("# %s: %d problem(s)\n", problems ? "FAILED" : "ok", problems);
  return problems ? 1 : 0;
}
