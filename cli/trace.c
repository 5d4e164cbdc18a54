/* SPDX-License-Identifier: MIT */
/* mmu trace - replay a valgrind lackey trace (--tool=lackey --trace-mem=yes)
 * through the OS side: one process (mmu_space) on one user-mode cpu with
 * the TLB geometry asked for, a frame pool of --ram bytes, swap in memory
 * and a replacement policy. Every page is mapped anonymous, rwx, on its
 * first touch (a 2 MiB granule at a time), so each first touch is a minor
 * fault as in a process; when RAM runs out the policy evicts to swap and
 * re-touches are major faults. Reports in the tools' own formats, and
 * Belady's OPT over the same page references as the bound the run must
 * not beat. The trace is streamed: only a page id per reference is kept,
 * for OPT. */
#define _POSIX_C_SOURCE 200809L
/* perf's dTLB-loads count every lookup, hits included */
#define MMU_COUNT_HITS 1

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "os.h"

#define GRANULE_SHIFT 21          /* regions are mapped 2 MiB at a time */
#define MMAP_MIN_ADDR 0x10000ull  /* Linux's default vm.mmap_min_addr */

/* ---- options ------------------------------------------------------------ */

typedef struct tr_opts {
  const char *path, *ram_text;
  uint64_t tlb_sets, tlb_ways;
  unsigned page_shift; /* 12 or 21 */
  uint64_t ram, swap;
  unsigned policy;
  uint64_t age, interval, opt_limit;
  int no_opt, json;
  const char *save_ram; /* --save-ram FILE, or NULL */
} tr_opts;

static void usage(FILE *f) {
  fprintf(f,
    "usage: mmu trace [OPTIONS] FILE|-\n"
    "Replay a valgrind lackey trace (valgrind --tool=lackey --trace-mem=yes)\n"
    "through a TLB, a RAM of limited size, swap and a page replacement\n"
    "policy, as one process whose pages are mapped on first touch.\n"
    "Prints /usr/bin/time -v's fault lines, perf stat's TLB lines,\n"
    "/proc/vmstat and Belady's OPT bound for the same page references.\n"
    "\n"
    "  --tlb-sets N      TLB sets, a power of two 1..65536 (default 64)\n"
    "  --tlb-ways N      ways per set, a power of two 1..16 (default 4)\n"
    "  --page-size 4K|2M page size (default 4K); 2M maps hugetlb pages,\n"
    "                    which are never swapped, and cannot replay the\n"
    "                    first 2 MiB (below mmap_min_addr)\n"
    "  --ram SIZE        RAM, page tables included (default 1G)\n"
    "  --swap SIZE       swap, kept in memory (default 4G; 0: none)\n"
    "  --policy NAME     lru, clock, lfu, or two-list (Linux's active and\n"
    "                    inactive lists, also named linux; the default)\n"
    "  --age N           age pages (a timer tick) every N references\n"
    "  --interval N      a vmstat line every N references\n"
    "  --no-opt          do not compute Belady's OPT\n"
    "  --opt-limit N     skip OPT past N page references (default 64M)\n"
    "  --json            print one JSON object instead of the reports\n"
    "  --save-ram FILE   write guest RAM (the frame pool, page tables\n"
    "                    included) to FILE at the end and print the\n"
    "                    mmu walk command that explains the last data\n"
    "                    reference from it\n"
    "  --help            this text\n"
    "SIZE and N take a K, M or G suffix (powers of 2). FILE '-' is stdin.\n"
    "Exit status: 0 ok, 1 a check failed (the policy beat OPT, or faults\n"
    "do not add up), 2 bad usage, an unreadable trace, or RAM and swap\n"
    "too small for it.\n");
}

static int parse_policy(const char *s, unsigned *out) {
  if (strcmp(s, "linux") == 0) {
    *out = MMU_POLICY_TWO_LIST;
    return 1;
  }
  for (unsigned k = MMU_POLICY_LRU; k <= MMU_POLICY_TWO_LIST; k++)
    if (strcmp(s, mmu_policy_name(k)) == 0) {
      *out = k;
      return 1;
    }
  return 0;
}

static int pow2_in(uint64_t v, uint64_t lo, uint64_t hi) {
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

/* A numeric option's value, with or without the K/M/G suffix. */
static int opt_u64(const char *name, const char *value, int suffix,
                   uint64_t *out) {
  if (!value) {
    cli_error("trace", "%s needs a value", name);
    return 0;
  }
  if (!cli_parse_u64(value, suffix, out)) {
    cli_error("trace", "%s: '%s' is not a number", name, value);
    return 0;
  }
  return 1;
}

/* CLI_OK, CLI_BAD_INPUT, or -1 for --help (printed). */
static int parse_opts(int argc, char **argv, tr_opts *o) {
  memset(o, 0, sizeof *o);
  o->tlb_sets = 64;
  o->tlb_ways = 4;
  o->page_shift = 12;
  o->ram = 1ull << 30;
  o->ram_text = "1G";
  o->swap = 4ull << 30;
  o->policy = MMU_POLICY_TWO_LIST;
  o->opt_limit = 64ull << 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = 1, takes = 1;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return -1;
    } else if (strcmp(a, "--tlb-sets") == 0) {
      ok = opt_u64(a, v, 0, &o->tlb_sets);
      if (ok && !pow2_in(o->tlb_sets, 1, 65536)) {
        cli_error("trace", "--tlb-sets: %s is not a power of two in 1..65536", v);
        ok = 0;
      }
    } else if (strcmp(a, "--tlb-ways") == 0) {
      ok = opt_u64(a, v, 0, &o->tlb_ways);
      if (ok && !pow2_in(o->tlb_ways, 1, 16)) {
        cli_error("trace", "--tlb-ways: %s is not a power of two in 1..16", v);
        ok = 0;
      }
    } else if (strcmp(a, "--page-size") == 0) {
      uint64_t ps = 0;
      ok = opt_u64(a, v, 1, &ps);
      if (ok && ps != 4096 && ps != (2u << 20)) {
        cli_error("trace", "--page-size: %s is neither 4K nor 2M", v);
        ok = 0;
      }
      o->page_shift = ps == 4096 ? 12 : 21;
    } else if (strcmp(a, "--ram") == 0) {
      ok = opt_u64(a, v, 1, &o->ram);
      o->ram_text = v;
    } else if (strcmp(a, "--swap") == 0) {
      ok = opt_u64(a, v, 1, &o->swap);
      if (ok && (o->swap & 4095)) {
        cli_error("trace", "--swap: %s is not a multiple of 4K", v);
        ok = 0;
      }
    } else if (strcmp(a, "--policy") == 0) {
      if (!v || !parse_policy(v, &o->policy)) {
        cli_error("trace", "--policy: '%s' is none of lru, clock, lfu, "
                  "two-list, linux", v ? v : "");
        ok = 0;
      }
    } else if (strcmp(a, "--age") == 0) {
      ok = opt_u64(a, v, 1, &o->age);
    } else if (strcmp(a, "--interval") == 0) {
      ok = opt_u64(a, v, 1, &o->interval);
      if (ok && !o->interval) {
        cli_error("trace", "--interval: must be at least 1");
        ok = 0;
      }
    } else if (strcmp(a, "--opt-limit") == 0) {
      ok = opt_u64(a, v, 1, &o->opt_limit);
    } else if (strcmp(a, "--no-opt") == 0) {
      o->no_opt = 1;
      takes = 0;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
      takes = 0;
    } else if (strcmp(a, "--save-ram") == 0) {
      if (!v) {
        cli_error("trace", "--save-ram needs a file name");
        return CLI_BAD_INPUT;
      }
      o->save_ram = v;
    } else if (a[0] == '-' && a[1]) {
      cli_error("trace", "unknown option '%s' (see mmu trace --help)", a);
      return CLI_BAD_INPUT;
    } else if (o->path) {
      cli_error("trace", "one trace at a time ('%s' and '%s')", o->path, a);
      return CLI_BAD_INPUT;
    } else {
      o->path = a;
      takes = 0;
    }
    if (!ok)
      return CLI_BAD_INPUT;
    i += takes;
  }
  if (!o->path) {
    cli_error("trace", "no trace given (FILE, or - for stdin)");
    return CLI_BAD_INPUT;
  }
  uint64_t page = 1ull << o->page_shift;
  if (o->ram % page || o->ram < 8 * page || (o->ram >> 12) >= (1ull << 31)) {
    cli_error("trace", "--ram: %s is not a multiple of %s from %s to 8T",
              o->ram_text, o->page_shift == 12 ? "4K" : "2M",
              o->page_shift == 12 ? "32K" : "16M");
    return CLI_BAD_INPUT;
  }
  return CLI_OK;
}

/* ---- page numbers to dense ids ----------------------------------------- */

/* Open addressing; a key is a page number, or a granule number with
 * GRANULE_TAG (mapped granules), both far below 2^63. */
#define GRANULE_TAG (1ull << 62)
#define MAP_EMPTY UINT64_MAX

typedef struct page_map {
  uint64_t *key;
  uint32_t *val;
  size_t cap, used;
} page_map;

static size_t map_slot(const page_map *m, uint64_t key) {
  size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
  while (m->key[i] != MAP_EMPTY && m->key[i] != key)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int map_grow(page_map *m) {
  page_map n = {NULL, NULL, m->cap ? m->cap * 2 : 1024, m->used};
  n.key = malloc(n.cap * sizeof *n.key);
  n.val = malloc(n.cap * sizeof *n.val);
  if (!n.key || !n.val) {
    free(n.key);
    free(n.val);
    return 0;
  }
  memset(n.key, 0xFF, n.cap * sizeof *n.key);
  for (size_t i = 0; i < m->cap; i++)
    if (m->key[i] != MAP_EMPTY) {
      size_t j = map_slot(&n, m->key[i]);
      n.key[j] = m->key[i];
      n.val[j] = m->val[i];
    }
  free(m->key);
  free(m->val);
  *m = n;
  return 1;
}

/* The value of key, inserting `fresh` when it is new (*added set then).
 * 0 when out of memory. */
static int map_get(page_map *m, uint64_t key, uint32_t fresh, uint32_t *val,
                   int *added) {
  if ((m->used + 1) * 2 > m->cap && !map_grow(m))
    return 0;
  size_t i = map_slot(m, key);
  *added = m->key[i] == MAP_EMPTY;
  if (*added) {
    m->key[i] = key;
    m->val[i] = fresh;
    m->used++;
  }
  *val = m->val[i];
  return 1;
}

/* ---- swap in memory ----------------------------------------------------- */

typedef struct swap_dev {
  uint8_t **page; /* per slot, allocated on its first write */
  uint64_t slots;
} swap_dev;

static long swap_read(void *user, uint64_t slot, void *page) {
  swap_dev *d = user;
  if (slot >= d->slots || !d->page[slot])
    return -1; /* never written: the system read a slot it did not fill */
  memcpy(page, d->page[slot], 4096);
  return 4096;
}

static int swap_write(void *user, uint64_t slot, const void *page) {
  swap_dev *d = user;
  if (slot >= d->slots || (!d->page[slot] && !(d->page[slot] = malloc(4096))))
    return -1;
  memcpy(d->page[slot], page, 4096);
  return 0;
}

/* ---- the replay --------------------------------------------------------- */

enum { K_I, K_L, K_S, K_M };

typedef struct tr_interval { /* the counters at the last vmstat line */
  uint64_t pswpin, pswpout, minflt, majflt;
} tr_interval;

typedef struct tr_row { /* one vmstat line; KiB but the counts */
  uint64_t refs, swpd, free, si, so, minflt, majflt;
} tr_row;

typedef struct tr {
  tr_opts o;
  const char *name; /* the trace as messages name it */
  cli_os os;
  swap_dev swap;
  mmu_space space;
  void *regions;
  page_map map;
  uint32_t *ids; /* the page string for OPT: dense ids, repeats dropped */
  size_t nids, ids_cap;
  const char *opt_skipped; /* why OPT was not computed, or NULL */
  uint64_t refs, kind[4], straddling, outside, touches, pages, granules;
  uint32_t last_id;
  uint64_t last_data; /* the last load or store replayed */
  tr_interval mark;
  uint64_t mark_refs;
  tr_row *rows; /* --json --interval: the lines, printed at the end */
  size_t nrows, rows_cap;
  /* progress on stderr */
  int progress;
  uint64_t file_bytes, bytes;
  struct timespec last_draw;
} tr;

static void tr_free(tr *t) {
  if (t->space.magic)
    mmu_space_destroy(&t->space);
  free(t->regions);
  cli_os_free(&t->os);
  if (t->swap.page)
    for (uint64_t i = 0; i < t->swap.slots; i++)
      free(t->swap.page[i]);
  free(t->swap.page);
  free(t->map.key);
  free(t->map.val);
  free(t->ids);
  free(t->rows);
  free(t);
}

/* The system, its cpu and the process, running. */
static int tr_setup(tr *t) {
  const tr_opts *o = &t->o;
  t->swap.slots = o->swap >> 12;
  if (t->swap.slots &&
      !(t->swap.page = calloc(t->swap.slots, sizeof(uint8_t *)))) {
    cli_error("trace", "no memory for %" PRIu64 " swap slots", t->swap.slots);
    return CLI_BAD_INPUT;
  }
  mmu_system_config sc;
  memset(&sc, 0, sizeof sc);
  sc.pool.size = o->ram;
  sc.policy = o->policy;
  /* a read fault allocates the page (no shared zero page): every page
   * the trace touches takes a frame, as OPT counts it */
  sc.flags = MMU_SYS_NO_ZERO_PAGE;
  if (t->swap.slots) {
    sc.swap.read = swap_read;
    sc.swap.write = swap_write;
    sc.swap.user = &t->swap;
    sc.swap.slots = t->swap.slots;
  }
  if (!cli_os_init(&t->os, &sc, (uint32_t)o->tlb_sets, (uint32_t)o->tlb_ways)) {
    cli_error("trace", "no memory for --ram %s and --swap %" PRIu64 " bytes",
              o->ram_text, o->swap);
    return CLI_BAD_INPUT;
  }
  if (cli_os_space(&t->os, &t->space, 4096, &t->regions) != MMU_OK ||
      mmu_space_activate(&t->space, &t->os.cpu) != MMU_OK) {
    cli_error("trace", "cannot set up the process");
    return CLI_BAD_INPUT;
  }
  return CLI_OK;
}

/* Whether every page of [first, last] can be mapped: whole pages of user
 * space from mmap_min_addr on (not a kernel address, the vsyscall page). */
static int mappable(const tr *t, uint64_t first, uint64_t last) {
  unsigned sh = t->o.page_shift;
  return first >= (MMAP_MIN_ADDR + (1ull << sh) - 1) >> sh &&
         last < t->space.user_top >> sh;
}

/* Map the granule holding a mappable page (anonymous, rwx, fixed) unless
 * it is mapped; its part in user space from mmap_min_addr on. */
static int map_granule(tr *t, uint64_t page) {
  uint64_t g = (page << t->o.page_shift) >> GRANULE_SHIFT, unused;
  uint32_t dummy;
  int added;
  if (!map_get(&t->map, g | GRANULE_TAG, 0, &dummy, &added))
    return 0;
  if (!added)
    return 1;
  uint64_t start = g << GRANULE_SHIFT, end = start + (1ull << GRANULE_SHIFT);
  if (start < MMAP_MIN_ADDR)
    start = MMAP_MIN_ADDR;
  if (end > t->space.user_top)
    end = t->space.user_top;
  int huge = t->o.page_shift == GRANULE_SHIFT;
  int rc = mmu_space_mmap(&t->space, start, end - start,
                          MMU_PROT_READ | MMU_PROT_WRITE | MMU_PROT_EXEC,
                          MMU_MAP_FIXED | (huge ? MMU_MAP_HUGETLB : 0), NULL,
                          0, &unused);
  if (rc != MMU_OK) {
    cli_error("trace", "mmap of [%#" PRIx64 ", %#" PRIx64 ") failed: %s",
              start, end, mmu_status_name(rc));
    return 0;
  }
  t->granules++;
  return 1;
}

static void record_id(tr *t, uint32_t id) {
  if (t->opt_skipped || (t->nids && t->last_id == id))
    return; /* a repeat is a hit for OPT and every policy alike */
  if (t->nids >= t->o.opt_limit || t->nids >= UINT32_MAX - 1) {
    t->opt_skipped = "the page string passed --opt-limit";
  } else if (t->nids == t->ids_cap) {
    size_t cap = t->ids_cap ? t->ids_cap * 2 : 1 << 16;
    uint32_t *bigger = realloc(t->ids, cap * sizeof *bigger);
    if (bigger) {
      t->ids = bigger;
      t->ids_cap = cap;
    } else {
      t->opt_skipped = "no memory for the page string";
    }
  }
  if (t->opt_skipped) {
    free(t->ids);
    t->ids = NULL;
    t->nids = t->ids_cap = 0;
    return;
  }
  t->ids[t->nids++] = id;
  t->last_id = id;
}

/* One access to one page, as the instruction makes it: look up, and on a
 * #PF let the kernel handle it and look up again (the restarted
 * instruction's lookup counts too, as the hardware's does). */
static int touch(tr *t, uint64_t page, unsigned access, const char **why) {
  uint32_t id;
  int added;
  if (!map_get(&t->map, page, (uint32_t)t->pages, &id, &added)) {
    *why = "out of memory for the page map";
    return CLI_BAD_INPUT;
  }
  if (added && (++t->pages >= UINT32_MAX || !map_granule(t, page))) {
    *why = "cannot map the page";
    return CLI_FAILED;
  }
  t->touches++;
  record_id(t, id);
  uint64_t va = page << t->o.page_shift;
  for (int round = 0; round < 3; round++) {
    mmu_result r;
    mmu_cpu_sync(&t->os.cpu);
    int rc = mmu_translate(&t->os.cpu, va, access, &r);
    if (rc == MMU_OK)
      return CLI_OK;
    if (rc != MMU_PAGE_FAULT) {
      *why = mmu_status_name(rc);
      return CLI_FAILED;
    }
    mmu_fault_info info;
    rc = mmu_space_fault(&t->space, r.cr2, r.error_code, &info);
    if (rc == MMU_ERR_NOMEM || rc == MMU_ERR_NOSWAP) {
      *why = t->o.page_shift == GRANULE_SHIFT
                 ? "no free 2 MiB page in --ram (huge pages are never "
                   "swapped: Linux sends SIGBUS)"
                 : "RAM and swap are full (Linux's OOM killer would end the "
                   "process): try a larger --ram or --swap";
      return CLI_BAD_INPUT;
    }
    if (rc != MMU_OK) {
      *why = mmu_status_name(rc);
      return CLI_FAILED;
    }
    if (info.fault_class == MMU_FAULT_SEGV ||
        info.fault_class == MMU_FAULT_SIGBUS) {
      *why = "a signal in a mapped rwx region";
      return CLI_FAILED;
    }
  }
  *why = "the access still faults after three faults were handled";
  return CLI_FAILED;
}

static int replay(tr *t, int kind, uint64_t addr, uint64_t size,
                  const char **why) {
  static const unsigned access[4][2] = {
      {MMU_FETCH, MMU_FETCH}, {MMU_READ, MMU_READ},
      {MMU_WRITE, MMU_WRITE}, {MMU_READ, MMU_WRITE}};
  uint64_t first = addr >> t->o.page_shift;
  uint64_t last = (addr + size - 1) >> t->o.page_shift;
  t->refs++;
  t->kind[kind]++;
  if (last != first)
    t->straddling++;
  if (!mappable(t, first, last)) {
    t->outside++;
    return CLI_OK;
  }
  if (kind != K_I)
    t->last_data = addr;
  for (int k = 0; k < (kind == K_M ? 2 : 1); k++)
    for (uint64_t p = first; p <= last; p++) {
      int rc = touch(t, p, access[kind][k], why);
      if (rc != CLI_OK)
        return rc;
    }
  return CLI_OK;
}

/* ---- the lackey format -------------------------------------------------- */

/* ---- progress and vmstat lines ------------------------------------------ */

static double seconds_since(const struct timespec *a) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - a->tv_sec) +
         (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_clear(tr *t) {
  if (t->progress)
    fputs("\r\033[K", stderr);
}

static void progress_draw(tr *t) {
  if (seconds_since(&t->last_draw) < 0.1)
    return;
  clock_gettime(CLOCK_MONOTONIC, &t->last_draw);
  if (t->file_bytes) {
    int pct = (int)(100.0 * (double)t->bytes / (double)t->file_bytes);
    int bar = pct * 30 / 100;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRIu64 " references", bar,
            "##############################", 30 - bar, "", pct, t->refs);
  } else {
    fprintf(stderr, "\r%" PRIu64 " references", t->refs);
  }
  fflush(stderr);
}

static void vmstat_header(void) {
  /* vmstat's memory and swap columns (KiB), a row per interval of
   * references instead of per second; the faults are this tool's own */
  printf("----refs---- -----memory------ ----swap--- ---faults----\n"
         "%12s %8s %8s %5s %5s %6s %6s\n",
         "refs", "swpd", "free", "si", "so", "minflt", "majflt");
}

/* The counters since the last row: printed now, or kept for --json. */
static int vmstat_row(tr *t) {
  mmu_usage u;
  mmu_system_usage(&t->os.sys, &u);
  tr_interval now = {t->os.sys.vm.pswpin, t->os.sys.vm.pswpout, t->space.ru.minflt,
                     t->space.ru.majflt};
  tr_row r = {t->refs, u.swap_used * 4, u.frames_free * 4,
              (now.pswpin - t->mark.pswpin) * 4,
              (now.pswpout - t->mark.pswpout) * 4, now.minflt - t->mark.minflt,
              now.majflt - t->mark.majflt};
  t->mark = now;
  t->mark_refs = t->refs;
  if (!t->o.json) {
    progress_clear(t);
    printf("%12" PRIu64 " %8" PRIu64 " %8" PRIu64 " %5" PRIu64 " %5" PRIu64
           " %6" PRIu64 " %6" PRIu64 "\n",
           r.refs, r.swpd, r.free, r.si, r.so, r.minflt, r.majflt);
    fflush(stdout);
    return 1;
  }
  if (t->nrows == t->rows_cap) {
    size_t cap = t->rows_cap ? t->rows_cap * 2 : 64;
    tr_row *bigger = realloc(t->rows, cap * sizeof *bigger);
    if (!bigger)
      return 0;
    t->rows = bigger;
    t->rows_cap = cap;
  }
  t->rows[t->nrows++] = r;
  return 1;
}

/* ---- reports ------------------------------------------------------------ */

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

/* "perf stat -e a,b,c:" from the event names the formatter printed. */
static void perf_header(const char *text) {
  printf("perf stat -e ");
  int n = 0;
  for (const char *p = text; *p;) {
    const char *eol = strchr(p, '\n');
    if (!eol)
      eol = p + strlen(p);
    const char *q = p;
    while (q < eol && *q == ' ')
      q++;
    while (q < eol && *q != ' ') /* the count */
      q++;
    while (q < eol && *q == ' ')
      q++;
    const char *e = q;
    while (e < eol && *e != ' ')
      e++;
    if (e > q)
      printf("%s%.*s", n++ ? "," : "", (int)(e - q), q);
    p = *eol ? eol + 1 : eol;
  }
  printf(":\n");
}

static char *format(size_t (*fn)(const void *, char *, size_t),
                    const void *what) {
  size_t n = fn(what, NULL, 0);
  char *buf = malloc(n + 1);
  if (buf)
    fn(what, buf, n + 1);
  return buf;
}

static size_t fmt_time(const void *p, char *b, size_t c) {
  return mmu_format_time_v(p, b, c);
}
static size_t fmt_perf(const void *p, char *b, size_t c) {
  return mmu_format_perf_stat(p, b, c);
}
static size_t fmt_vmstat(const void *p, char *b, size_t c) {
  return mmu_format_vmstat(p, b, c);
}

/* Faults that brought a page into a frame, as OPT counts them: every
 * first touch and every page-in from swap (there is no fork, so no
 * swap-cache hit). Write faults on a present page bring nothing in. */
static uint64_t policy_faults(const tr *t) {
  return t->pages + t->space.ru.majflt;
}

typedef struct tr_opt_result {
  int done;
  uint64_t frames, faults;
} tr_opt_result;

/* Belady's OPT over the recorded page string with as many frames as the
 * run ever held pages: no policy held more, so none may fault less. */
static void run_opt(tr *t, tr_opt_result *res) {
  memset(res, 0, sizeof *res);
  uint64_t per_page = 1ull << (t->o.page_shift - 12);
  res->frames = t->space.ru.maxrss_pages / per_page;
  if (t->o.no_opt)
    t->opt_skipped = "--no-opt";
  if (t->opt_skipped)
    return;
  if (!t->nids || !res->frames) {
    t->opt_skipped = "no page was touched";
    return;
  }
  size_t need = mmu_trace_opt_storage_size(t->nids, (uint32_t)t->pages,
                                           (uint32_t)res->frames);
  void *st = need ? malloc(need) : NULL;
  if (!st) {
    t->opt_skipped = "no memory for OPT";
    return;
  }
  int rc = mmu_trace_opt(t->ids, t->nids, (uint32_t)t->pages,
                         (uint32_t)res->frames, st, need, &res->faults);
  free(st);
  if (rc != MMU_OK)
    t->opt_skipped = mmu_status_name(rc);
  else
    res->done = 1;
}

static const char *size_text(uint64_t bytes, char *buf, size_t cap) {
  static const char units[] = "KMGT";
  int u = -1;
  while (bytes >= 1024 && !(bytes % 1024) && u < 3) {
    bytes /= 1024;
    u++;
  }
  if (u < 0)
    snprintf(buf, cap, "%" PRIu64 " bytes", bytes);
  else
    snprintf(buf, cap, "%" PRIu64 " %ciB", bytes, units[u]);
  return buf;
}

static void report_text(tr *t, const tr_opt_result *opt) {
  char a[32], b[32];
  const char *policy = mmu_policy_name(t->o.policy);
  printf("trace %s: %" PRIu64 " references (%" PRIu64 " I, %" PRIu64
         " L, %" PRIu64 " S, %" PRIu64 " M), %" PRIu64
         " crossing a page boundary",
         t->name, t->refs, t->kind[K_I], t->kind[K_L], t->kind[K_S],
         t->kind[K_M], t->straddling);
  if (t->outside)
    printf(", %" PRIu64 " not replayed (below mmap_min_addr 0x10000 or "
           "past user space)", t->outside);
  printf("\n%s pages: %" PRIu64 " touched, mapped on first touch 2 MiB at a "
         "time (%" PRIu64 " mmap calls)\n",
         t->o.page_shift == 12 ? "4 KiB" : "2 MiB", t->pages, t->granules);
  printf("TLB %" PRIu64 " sets x %" PRIu64 " ways, RAM %s (%" PRIu64
         " frames, page tables included), swap %s, policy %s\n\n",
         t->o.tlb_sets, t->o.tlb_ways, size_text(t->o.ram, a, sizeof a),
         t->o.ram >> 12, t->o.swap ? size_text(t->o.swap, b, sizeof b) : "none",
         policy);
  char *time_v = format(fmt_time, &t->space.ru);
  char *perf = format(fmt_perf, &t->os.cpu.stats);
  char *vm = format(fmt_vmstat, &t->os.sys.vm);
  printf("/usr/bin/time -v:\n%s\n", time_v ? time_v : "");
  perf_header(perf ? perf : "");
  printf("%s\n/proc/vmstat:\n%s\n", perf ? perf : "", vm ? vm : "");
  free(time_v);
  free(perf);
  free(vm);
  if (opt->done)
    printf("Belady's OPT with %" PRIu64 " frames (the most pages resident at "
           "once): %" PRIu64 " faults over %zu page references;\n"
           "%s: %" PRIu64 " faults (%" PRIu64 " first touches + %" PRIu64
           " major), %.3f x OPT\n",
           opt->frames, opt->faults, t->nids, policy, policy_faults(t),
           t->pages, t->space.ru.majflt,
           opt->faults ? (double)policy_faults(t) / (double)opt->faults : 0.0);
  else
    printf("Belady's OPT: skipped (%s)\n", t->opt_skipped);
}

static void report_json(tr *t, const tr_opt_result *opt) {
  const mmu_stats *s = &t->os.cpu.stats;
  const mmu_vmstat *v = &t->os.sys.vm;
  const mmu_rusage *ru = &t->space.ru;
  printf("{\n  \"trace\": ");
  json_string(t->name);
  printf(",\n  \"references\": {\"total\": %" PRIu64 ", \"I\": %" PRIu64
         ", \"L\": %" PRIu64 ", \"S\": %" PRIu64 ", \"M\": %" PRIu64
         ", \"crossing_pages\": %" PRIu64 ", \"not_replayed\": %" PRIu64
         "},\n",
         t->refs, t->kind[K_I], t->kind[K_L], t->kind[K_S], t->kind[K_M],
         t->straddling, t->outside);
  printf("  \"page_size\": %u, \"pages\": %" PRIu64 ", \"page_accesses\": %"
         PRIu64 ", \"mmap_calls\": %" PRIu64 ",\n",
         1u << t->o.page_shift, t->pages, t->touches, t->granules);
  printf("  \"tlb\": {\"sets\": %" PRIu64 ", \"ways\": %" PRIu64 "},\n",
         t->o.tlb_sets, t->o.tlb_ways);
  printf("  \"ram_bytes\": %" PRIu64 ", \"ram_frames\": %" PRIu64
         ", \"swap_bytes\": %" PRIu64 ", \"policy\": \"%s\",\n",
         t->o.ram, t->o.ram >> 12, t->o.swap, mmu_policy_name(t->o.policy));
  printf("  \"time\": {\"maxrss_kb\": %" PRIu64 ", \"majflt\": %" PRIu64
         ", \"minflt\": %" PRIu64 "},\n",
         ru->maxrss_pages * 4, ru->majflt, ru->minflt);
  printf("  \"perf\": {\"dTLB-loads\": %" PRIu64 ", \"dTLB-load-misses\": %"
         PRIu64 ", \"dTLB-stores\": %" PRIu64 ", \"dTLB-store-misses\": %"
         PRIu64 ", \"iTLB-loads\": %" PRIu64 ", \"iTLB-load-misses\": %" PRIu64
         ", \"page-walks\": %" PRIu64 "},\n",
         s->tlb_loads[0], s->tlb_misses[0], s->tlb_loads[1], s->tlb_misses[1],
         s->tlb_loads[2], s->tlb_misses[2], s->walks);
  printf("  \"vmstat\": {\"pswpin\": %" PRIu64 ", \"pswpout\": %" PRIu64
         ", \"pgfault\": %" PRIu64 ", \"pgmajfault\": %" PRIu64
         ", \"pgsteal\": %" PRIu64 ", \"pgscan\": %" PRIu64 "},\n",
         v->pswpin, v->pswpout, v->pgfault, v->pgmajfault, v->pgsteal,
         v->pgscan);
  printf("  \"policy_faults\": %" PRIu64 ",\n  \"opt\": ", policy_faults(t));
  if (opt->done) {
    printf("{\"frames\": %" PRIu64 ", \"faults\": %" PRIu64
           ", \"references\": %zu}", opt->frames, opt->faults, t->nids);
  } else {
    printf("null, \"opt_skipped\": ");
    json_string(t->opt_skipped);
  }
  printf(",\n  \"intervals\": [");
  for (size_t i = 0; i < t->nrows; i++) {
    const tr_row *r = &t->rows[i];
    printf("%s\n    {\"refs\": %" PRIu64 ", \"swpd_kb\": %" PRIu64
           ", \"free_kb\": %" PRIu64 ", \"si_kb\": %" PRIu64
           ", \"so_kb\": %" PRIu64 ", \"minflt\": %" PRIu64
           ", \"majflt\": %" PRIu64 "}",
           i ? "," : "", r->refs, r->swpd, r->free, r->si, r->so, r->minflt,
           r->majflt);
  }
  printf("%s]\n}\n", t->nrows ? "\n  " : "");
}

/* The numbers must add up; a failed check is exit 1. */
static int check(tr *t, const tr_opt_result *opt) {
  const mmu_rusage *ru = &t->space.ru;
  int rc = CLI_OK;
  /* a minor fault maps a page on its first touch or takes a present one
   * over for a write (a private page mapped read-only: after a swap-in
   * by a read, or a huge page); no fork, so nothing else */
  if (ru->minflt != t->pages + t->os.sys.vm.cow_reuses) {
    cli_error("trace", "check failed: %" PRIu64 " minor faults, not the %"
              PRIu64 " first touches plus %" PRIu64 " write takeovers",
              ru->minflt, t->pages, t->os.sys.vm.cow_reuses);
    rc = CLI_FAILED;
  }
  if (!t->os.sys.vm.pgsteal && ru->majflt) {
    cli_error("trace", "check failed: %" PRIu64 " major faults with "
              "nothing reclaimed", ru->majflt);
    rc = CLI_FAILED;
  }
  if (opt->done && policy_faults(t) < opt->faults) {
    cli_error("trace", "check failed: %s took %" PRIu64 " faults, fewer "
              "than Belady's OPT (%" PRIu64 ") with the same %" PRIu64
              " frames", mmu_policy_name(t->o.policy), policy_faults(t),
              opt->faults, opt->frames);
    rc = CLI_FAILED;
  }
  return rc;
}

/* The pool is all of guest RAM: `mmu walk` can replay any translation of
 * the traced process from it and the space's CR3. */
static int save_ram(tr *t) {
  FILE *out = fopen(t->o.save_ram, "wb");
  size_t bytes = (size_t)t->os.cfg.pool.size;
  if (!out || fwrite(t->os.pool, 1, bytes, out) != bytes || fclose(out)) {
    cli_file_error(t->o.save_ram, 0, "cannot write: %s", strerror(errno));
    return CLI_BAD_INPUT;
  }
  fprintf(t->o.json ? stderr : stdout,
          "\nguest RAM (%zu bytes at 0x%llx) saved to %s; the last data "
          "reference, explained:\n  mmu walk --ram %s@0x%llx --cr3 0x%llx "
          "--cpl 3 0x%llx\n",
          bytes, (unsigned long long)CLI_OS_POOL_GPA, t->o.save_ram,
          t->o.save_ram, (unsigned long long)CLI_OS_POOL_GPA,
          (unsigned long long)t->space.root,
          (unsigned long long)t->last_data);
  return CLI_OK;
}

static int run(tr *t, FILE *f) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  unsigned long lineno = 0;
  int rc = CLI_OK;
  if (t->o.interval && !t->o.json)
    vmstat_header();
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    t->bytes += (uint64_t)len;
    int kind;
    uint64_t addr, size;
    const char *why = NULL;
    int p = cli_lackey_line(line, (size_t)len, &kind, &addr, &size, &why);
    if (p == 0)
      continue;
    if (p < 0 && lineno == 1 && len >= 2 &&
        ((unsigned char)line[0] == 0xFD || (unsigned char)line[0] == 0x1F))
      why = "compressed? (xz -dc FILE | mmu trace [OPTIONS] -)";
    if (p < 0 || (rc = replay(t, kind, addr, size, &why)) != CLI_OK) {
      progress_clear(t);
      fflush(stdout);
      cli_file_error(t->name, lineno, "%s", why);
      rc = p < 0 ? CLI_BAD_INPUT : rc;
      break;
    }
    if (t->o.interval && t->refs % t->o.interval == 0 && !vmstat_row(t)) {
      cli_error("trace", "out of memory for the vmstat lines");
      rc = CLI_BAD_INPUT;
      break;
    }
    if (t->o.age && t->refs % t->o.age == 0)
      mmu_system_age(&t->os.sys);
    if (t->progress && (t->refs & 0x3FFF) == 0)
      progress_draw(t);
  }
  if (rc == CLI_OK && ferror(f)) {
    cli_file_error(t->name, 0, "read error: %s", strerror(errno));
    rc = CLI_BAD_INPUT;
  }
  free(line);
  progress_clear(t);
  if (rc != CLI_OK)
    return rc;
  if (t->o.interval && t->refs != t->mark_refs && !vmstat_row(t)) {
    cli_error("trace", "out of memory for the vmstat lines");
    return CLI_BAD_INPUT;
  }
  if (t->o.interval && !t->o.json)
    printf("\n");
  tr_opt_result opt;
  run_opt(t, &opt);
  if (t->o.json)
    report_json(t, &opt);
  else
    report_text(t, &opt);
  fflush(stdout);
  rc = check(t, &opt);
  if (t->o.save_ram && save_ram(t) != CLI_OK)
    rc = CLI_BAD_INPUT;
  return rc;
}

int cli_trace(int argc, char **argv) {
  tr *t = calloc(1, sizeof *t);
  if (!t) {
    cli_error("trace", "out of memory");
    return CLI_BAD_INPUT;
  }
  int rc = parse_opts(argc, argv, &t->o);
  if (rc != CLI_OK) {
    free(t);
    return rc < 0 ? CLI_OK : rc;
  }
  int from_stdin = strcmp(t->o.path, "-") == 0;
  t->name = from_stdin ? "<stdin>" : t->o.path;
  FILE *f = from_stdin ? stdin : fopen(t->o.path, "r");
  if (!f) {
    cli_file_error(t->o.path, 0, "%s", strerror(errno));
    free(t);
    return CLI_BAD_INPUT;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
    t->file_bytes = (uint64_t)st.st_size;
  t->progress = isatty(fileno(stderr));
  rc = tr_setup(t);
  if (rc == CLI_OK)
    rc = run(t, f);
  if (f != stdin)
    fclose(f);
  tr_free(t);
  return rc;
}
