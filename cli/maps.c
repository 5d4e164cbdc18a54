/* SPDX-License-Identifier: MIT */
/* mmu maps - run a script of memory system calls, one a line, against the
 * OS side's processes, printing each call, its result (the address, or
 * Linux's errno name) and /proc/PID/maps after it. The whole script is
 * checked before anything runs, so a typo on line 40 costs no output. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "os.h"

#define MAX_REGIONS 256

static void usage(FILE *f) {
  fprintf(f,
    "usage: mmu maps [--ram SIZE] [--brk-base ADDR] SCRIPT|-\n"
    "Run a script of memory system calls, one a line, and print each line,\n"
    "its result (an address, 0, or -1 and Linux's errno name) and the\n"
    "process's /proc/PID/maps after it.\n"
    "\n"
    "  mmap ADDR LEN PROT FLAGS    ADDR 0: the kernel chooses\n"
    "  munmap ADDR LEN\n"
    "  mprotect ADDR LEN PROT\n"
    "  madvise ADDR LEN dontneed|free\n"
    "  mremap ADDR OLD_LEN NEW_LEN [FLAGS [NEW_ADDR]]\n"
    "                              FLAGS: maymove, fixed, comma-separated\n"
    "  brk ADDR                    0 queries; prints the break after it\n"
    "  stack ADDR                  the initial stack pointer, as the ELF\n"
    "                              loader records it (names [stack])\n"
    "  fork                        the lines after it run in the child\n"
    "  pid N                       the lines after it run in process N\n"
    "  touch ADDR r|w|x            a user-mode read, write or fetch; prints\n"
    "                              the fault it took\n"
    "  # comment                   to the end of the line, anywhere\n"
    "\n"
    "PROT is three letters as maps shows them: r or -, w or -, x or -\n"
    "(rw-, r-x, ---). FLAGS for mmap: private or shared, anonymous (every\n"
    "mapping is), and any of fixed, growsdown, hugetlb, populate,\n"
    "comma-separated: private,anonymous,fixed. Numbers are decimal or 0x\n"
    "hex, with an optional K, M or G suffix (powers of 2). The first\n"
    "process is pid 1; each fork's child gets the next pid.\n"
    "\n"
    "  --ram SIZE        physical memory for pages and page tables\n"
    "                    (default 64M; no swap)\n"
    "  --brk-base ADDR   where the heap starts (default 0x555555559000)\n"
    "  --help            this text\n"
    "Exit status: 0 ok, 2 bad usage or a bad script (FILE:LINE: what is\n"
    "wrong).\n");
}

/* ---- the script --------------------------------------------------------- */

/* The whole script into cmds; every error printed. Returns the count of
 * errors (0: *cmds and *ncmds are set). */
static int parse_script(const char *name, char *text, cli_cmd **cmds,
                        size_t *ncmds) {
  size_t cap = 16, n = 0;
  int errors = 0;
  cli_cmd *v = malloc(cap * sizeof *v);
  unsigned long line = 0;
  for (char *p = text; v && *p;) {
    char *eol = strchr(p, '\n'), *next = eol ? eol + 1 : p + strlen(p);
    if (eol)
      *eol = 0;
    line++;
    char *hash = strchr(p, '#'), *w[CLI_SCRIPT_MAX_ARGS + 2];
    int nw = 0;
    if (hash)
      *hash = 0;
    /* words, and the echo: the words single-spaced (cut at 255) */
    char echo[256] = "";
    for (char *save = NULL, *t = strtok_r(p, " \t\r", &save); t;
         t = strtok_r(NULL, " \t\r", &save)) {
      if (nw < CLI_SCRIPT_MAX_ARGS + 2)
        w[nw] = t;
      size_t used = strlen(echo);
      snprintf(echo + used, sizeof echo - used, "%s%s", nw++ ? " " : "", t);
    }
    if (n == cap) {
      cli_cmd *bigger = realloc(v, (cap *= 2) * sizeof *v);
      if (!bigger)
        break;
      v = bigger;
    }
    cli_cmd *c = &v[n];
    memset(c, 0, sizeof *c);
    c->line = line;
    const char *why = NULL;
    if (nw == 0 && hash) {
      c->op = CLI_OP_COMMENT;
      c->text = strdup(hash + 1);
    } else if (nw > 0) {
      why = nw > CLI_SCRIPT_MAX_ARGS + 1 ? "too many words" : cli_script_line(w, nw, c);
      c->text = strdup(echo);
    }
    if (why) {
      cli_file_error(name, line, "%s", why);
      errors++;
    }
    if ((nw > 0 || hash) && !why)
      n++;
    else
      free(c->text);
    p = next;
  }
  if (!v) {
    cli_error("maps", "out of memory");
    return errors + 1;
  }
  *cmds = v;
  *ncmds = n;
  return errors;
}

/* ---- the processes ------------------------------------------------------ */

typedef struct proc {
  uint32_t pid;
  mmu_space space;
  void *regions;
} proc;

typedef struct world {
  cli_os os;
  proc **procs;
  size_t nprocs;
  struct shm { /* MAP_SHARED mappings' objects, freed at the end */
    mmu_object obj;
    void *storage;
  } **objects;
  size_t nobjects;
  proc *cur;
  mmu_space *active; /* the space in the cpu's CR3 */
} world;

/* The next pid, its space not set up yet. */
static proc *proc_new(world *wd) {
  proc **bigger = realloc(wd->procs, (wd->nprocs + 1) * sizeof *bigger);
  if (!bigger)
    return NULL;
  wd->procs = bigger;
  proc *p = calloc(1, sizeof *p);
  if (p) {
    p->pid = (uint32_t)wd->nprocs + 1;
    wd->procs[wd->nprocs++] = p;
  }
  return p;
}

/* 1 ready, 0 out of memory, -1 a bad option (said). */
static int world_init(world *wd, uint64_t ram, uint64_t brk_base) {
  mmu_system_config sc;
  memset(&sc, 0, sizeof sc);
  sc.pool.size = ram;
  proc *p;
  if (!cli_os_init(&wd->os, &sc, 0, 0) || !(p = proc_new(wd)) ||
      cli_os_space(&wd->os, &p->space, MAX_REGIONS, &p->regions) != MMU_OK)
    return 0;
  wd->cur = p;
  if (mmu_space_set_brk_base(&p->space, brk_base) != MMU_OK) {
    cli_error("maps", "--brk-base: %#" PRIx64 " is not a page-aligned user "
              "address", brk_base);
    return -1;
  }
  return 1;
}

static void world_free(world *wd) {
  for (size_t i = 0; i < wd->nprocs; i++) {
    if (wd->procs[i]->space.magic)
      mmu_space_destroy(&wd->procs[i]->space);
    free(wd->procs[i]->regions);
    free(wd->procs[i]);
  }
  for (size_t i = 0; i < wd->nobjects; i++) {
    free(wd->objects[i]->storage);
    free(wd->objects[i]);
  }
  free(wd->objects);
  free(wd->procs);
  cli_os_free(&wd->os);
}

/* ---- running it --------------------------------------------------------- */

/* Linux's errno for a status of the calls, as strace prints it. */
static const char *errno_text(int rc) {
  switch (rc) {
  case MMU_ERR_ARG: return "EINVAL (Invalid argument)";
  case MMU_ERR_NOSPACE:
  case MMU_ERR_NOMEM:
  case MMU_ERR_NOSWAP: return "ENOMEM (Cannot allocate memory)";
  case MMU_ERR_BADADDR: return "EFAULT (Bad address)";
  case MMU_ERR_BUSY: return "EBUSY (Device or resource busy)";
  default: return mmu_status_name(rc);
  }
}

static void print_status(int rc) {
  if (rc == MMU_OK)
    printf("0");
  else
    printf("-1 %s", errno_text(rc));
}

static void print_addr(int rc, uint64_t addr) {
  if (rc == MMU_OK)
    printf("%#" PRIx64, addr);
  else
    print_status(rc);
}

static int do_mmap(world *wd, const cli_cmd *c) {
  mmu_space *s = &wd->cur->space;
  uint64_t addr = c->num[0], len = c->num[1], got = 0;
  if (c->shared < 0) /* neither MAP_PRIVATE nor MAP_SHARED */
    return print_status(MMU_ERR_ARG), 1;
  if (!c->shared) {
    int rc = mmu_space_mmap(s, addr, len, c->prot, c->flags, NULL, 0, &got);
    print_addr(rc, got);
    return 1;
  }
  /* MAP_SHARED | MAP_ANONYMOUS: an object of its own, as shmem gives it */
  uint64_t pages = len ? (len + 4095) / 4096 : 1;
  struct shm **bigger =
      realloc(wd->objects, (wd->nobjects + 1) * sizeof *bigger);
  struct shm *shm = calloc(1, sizeof *shm);
  size_t bytes = mmu_object_storage_size(pages);
  void *st = bytes ? malloc(bytes) : NULL;
  if (bigger)
    wd->objects = bigger;
  if (!bigger || !shm || !st ||
      mmu_object_init(&shm->obj, &wd->os.sys, pages, NULL, st, bytes) != MMU_OK) {
    free(shm);
    free(st);
    if (bigger && !bytes) /* longer than any object can be: ENOMEM */
      return print_status(MMU_ERR_NOSPACE), 1;
    return 0;
  }
  shm->storage = st;
  wd->objects[wd->nobjects++] = shm;
  int rc = mmu_space_mmap_object(s, addr, len, c->prot, c->flags, &shm->obj,
                                 0, &got);
  print_addr(rc, got);
  return 1;
}

static const char *fault_text(const mmu_fault_info *f) {
  switch (f->fault_class) {
  case MMU_FAULT_NONE: return "no fault";
  case MMU_FAULT_MINOR: return "minor fault";
  case MMU_FAULT_COW: return "minor fault (copy-on-write)";
  case MMU_FAULT_MAJOR: return "major fault";
  case MMU_FAULT_SPURIOUS: return "spurious fault";
  case MMU_FAULT_SIGBUS: return "SIGBUS (BUS_ADRERR)";
  default:
    return f->si_code == MMU_SEGV_MAPERR   ? "SIGSEGV (SEGV_MAPERR)"
           : f->si_code == MMU_SEGV_ACCERR ? "SIGSEGV (SEGV_ACCERR)"
                                           : "SIGSEGV (SEGV_PKUERR)";
  }
}

static void do_touch(world *wd, const cli_cmd *c) {
  mmu_space *s = &wd->cur->space;
  if (wd->active != s) {
    mmu_space_activate(s, &wd->os.cpu);
    wd->active = s;
  }
  mmu_fault_info info;
  mmu_result res;
  int rc = mmu_space_access(s, &wd->os.cpu, c->num[0], c->access, &res, &info);
  if (rc == MMU_OK || rc == MMU_PAGE_FAULT) {
    printf("%s", fault_text(&info));
    if (info.flags & MMU_FAULTF_STACK_GROWN)
      printf(", stack grown");
  } else if (rc == MMU_GP_FAULT) {
    printf("SIGSEGV (#GP: not canonical)");
  } else if (rc == MMU_ERR_NOMEM || rc == MMU_ERR_NOSWAP) {
    printf("out of memory (%s: Linux's OOM killer would end the process)",
           mmu_status_name(rc));
  } else {
    printf("%s", mmu_status_name(rc));
  }
}

/* One call; 0 on a failure of the tool's own (out of memory). */
static int run_cmd(world *wd, const char *name, const cli_cmd *c) {
  mmu_space *s = &wd->cur->space;
  uint64_t got = 0;
  int rc;
  if (c->op == CLI_OP_COMMENT) {
    printf("#%s\n", c->text);
    return 1;
  }
  if (c->op == CLI_OP_PID && (c->num[0] == 0 || c->num[0] > wd->nprocs)) {
    fflush(stdout);
    cli_file_error(name, c->line, "no process %" PRIu64 " (pids 1 to %zu)",
                   c->num[0], wd->nprocs);
    return -1;
  }
  printf("[%" PRIu32 "] %s = ", wd->cur->pid, c->text);
  switch (c->op) {
  case CLI_OP_MMAP:
    if (!do_mmap(wd, c))
      return 0;
    break;
  case CLI_OP_MUNMAP:
    print_status(mmu_space_munmap(s, c->num[0], c->num[1]));
    break;
  case CLI_OP_MPROTECT:
    print_status(mmu_space_mprotect(s, c->num[0], c->num[1], c->prot));
    break;
  case CLI_OP_MADVISE:
    print_status(mmu_space_madvise(s, c->num[0], c->num[1], (int)c->flags));
    break;
  case CLI_OP_MREMAP:
    rc = mmu_space_mremap(s, c->num[0], c->num[1], c->num[2], c->flags,
                          c->num[3], &got);
    print_addr(rc, got);
    break;
  case CLI_OP_BRK:
    rc = mmu_space_brk(s, c->num[0], &got);
    printf("%#" PRIx64, got);
    if (rc != MMU_OK)
      printf(" (the break stays: %s)", errno_text(rc));
    break;
  case CLI_OP_STACK:
    print_status(mmu_space_set_start_stack(s, c->num[0]));
    break;
  case CLI_OP_FORK: {
    /* the child's region table is the size of the parent's */
    size_t bytes = MAX_REGIONS * sizeof(mmu_region);
    proc *child = proc_new(wd);
    if (!child || !(child->regions = malloc(bytes)))
      return 0;
    rc = mmu_space_fork(s, &child->space, child->regions, bytes);
    if (rc != MMU_OK) { /* no child after all */
      free(child->regions);
      free(child);
      wd->nprocs--;
      print_status(rc);
      break;
    }
    printf("%" PRIu32 " (the lines after run in the child)", child->pid);
    wd->cur = child;
    break;
  }
  case CLI_OP_PID:
    wd->cur = wd->procs[c->num[0] - 1];
    printf("%" PRIu64, c->num[0]);
    break;
  case CLI_OP_TOUCH:
    do_touch(wd, c);
    break;
  }
  printf("\n");
  size_t len = mmu_space_maps(&wd->cur->space, NULL, 0);
  char *text = malloc(len + 1);
  if (!text)
    return 0;
  mmu_space_maps(&wd->cur->space, text, len + 1);
  printf("%s%s\n", text, len ? "" : "(no mappings)\n");
  free(text);
  return 1;
}

int cli_maps(int argc, char **argv) {
  const char *path = NULL;
  uint64_t ram = 64ull << 20, brk_base = 0x555555559000ull;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--ram") == 0 || strcmp(a, "--brk-base") == 0) {
      uint64_t *dst = a[2] == 'r' ? &ram : &brk_base;
      if (!v || !cli_parse_u64(v, 1, dst)) {
        cli_error("maps", "%s needs a number, not '%s'", a, v ? v : "");
        return CLI_BAD_INPUT;
      }
      i++;
    } else if (a[0] == '-' && a[1]) {
      cli_error("maps", "unknown option '%s' (see mmu maps --help)", a);
      return CLI_BAD_INPUT;
    } else if (path) {
      cli_error("maps", "one script at a time ('%s' and '%s')", path, a);
      return CLI_BAD_INPUT;
    } else {
      path = a;
    }
  }
  if (!path) {
    cli_error("maps", "no script given (FILE, or - for stdin)");
    return CLI_BAD_INPUT;
  }
  if ((ram & 4095) || ram < (64u << 10) || (ram >> 12) >= (1ull << 31)) {
    cli_error("maps", "--ram: %" PRIu64 " is not a multiple of 4K from 64K "
              "to 8T", ram);
    return CLI_BAD_INPUT;
  }
  const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
  size_t len;
  char *text = cli_read_file(path, &len);
  if (!text) {
    cli_file_error(name, 0, "%s", strerror(errno));
    return CLI_BAD_INPUT;
  }
  if (memchr(text, 0, len)) {
    cli_file_error(name, 0, "a binary file, not a script");
    free(text);
    return CLI_BAD_INPUT;
  }
  cli_cmd *cmds = NULL;
  size_t n = 0;
  int rc = parse_script(name, text, &cmds, &n) ? CLI_BAD_INPUT : CLI_OK;
  world *wd = calloc(1, sizeof *wd);
  if (rc == CLI_OK) {
    int ok = wd ? world_init(wd, ram, brk_base) : 0;
    if (ok <= 0) {
      if (!ok)
        cli_error("maps", "cannot set up %" PRIu64 " bytes of RAM", ram);
      rc = CLI_BAD_INPUT;
    }
  }
  for (size_t i = 0; rc == CLI_OK && i < n; i++) {
    int r = run_cmd(wd, name, &cmds[i]);
    if (r <= 0) {
      if (!r)
        cli_error("maps", "out of memory");
      rc = CLI_BAD_INPUT;
    }
  }
  fflush(stdout);
  if (wd)
    world_free(wd);
  free(wd);
  for (size_t i = 0; i < n; i++)
    free(cmds[i].text);
  free(cmds);
  free(text);
  return rc;
}
