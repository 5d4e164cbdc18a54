/* SPDX-License-Identifier: MIT */
/* bench_trace.c - real-program TLB traces through the library and through a
 * QEMU-style TLB, side by side.
 *
 *   bench_trace [--quick] [--trace FILE] [--geometry SxW] [--reps N]
 *               [--json FILE] [--help]
 *
 * Replays the page-reference traces bench/traces/<prog>.tlb.xz (gzip, sort,
 * sqlite3, python3, xz under valgrind's lackey; tools/record_tlb_traces.sh
 * records them, bench/traces/README.md gives the format) and four synthetic
 * stride streams (64 pages at 4 KiB, 64 KiB, 2 MiB and 1 GiB, reads) through
 *
 *   mmu   the library: mmu_translate() on an mmu_cpu of the geometry, 4-level
 *         paging at CPL 3, PCIDs off, every page of the trace mapped 4 KiB
 *         P|W|U|A|D (no A/D write ever happens);
 *   qemu  QEMU's softmmu TLB (accel/tcg/cputlb.c): a direct-mapped table of
 *         CPUTLBEntry {addr_read, addr_write, addr_code, addend} indexed by
 *         the low bits of the page number, plus the 8-entry fully
 *         associative victim TLB; a miss in both walks the same guest page
 *         tables in software and fills.
 *
 * For every trace and geometry it prints walks (and per 1000 references),
 * the hit ratio (references served without a walk), translations per
 * second (median of --reps timed runs, the two models interleaved) and the
 * ratios mmu/qemu. Every reference's translation is checked once, untimed:
 * both models must give the same physical address. Each timed run starts
 * from an empty TLB and, as bench_common.h's loops do, makes every address
 * depend on the previous translation (latency, not throughput).
 *
 * Exit status: 0; 1 if a translation failed or the models disagreed; 2 on
 * bad usage or an unreadable trace. --quick replays the first 200,000
 * references of each trace once (ctest). */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <errno.h>

#ifndef MMU_TRACE_DIR
#define MMU_TRACE_DIR "bench/traces"
#endif

#define QUICK_REFS 200000u
#define STRIDE_REFS 1000000u
#define STRIDE_PAGES 64u
#define STRIDE_BASE 0x00007f0000000000ull
#define MAX_DATA_FRAMES 4096u /* guest frames behind the pages, reused */
#define MAX_REPS 99u

static const char *const default_traces[] = {"gzip", "sort", "sqlite3",
                                             "python3", "xz"};

static const struct {
  uint32_t sets, ways;
} geometries[] = {{16, 4}, {64, 1}, {64, 4}, {256, 4}, {16, 16}, {1024, 4}};
#define NGEOM (sizeof geometries / sizeof geometries[0])

static const struct {
  const char *name;
  uint64_t stride;
} strides[] = {{"stride-4K", 4096ull},
               {"stride-64K", 65536ull},
               {"stride-2M", 2ull << 20},
               {"stride-1G", 1ull << 30}};

/* ------------------------------------------------------------------------ */
/* Traces.                                                                  */

typedef struct trace {
  char name[64];
  uint64_t *va;   /* per reference: page address | small offset */
  uint8_t *kind;  /* MMU_READ, MMU_WRITE or MMU_FETCH */
  size_t n;
  uint64_t *pages; /* distinct page numbers, sorted */
  size_t npages;
  size_t kinds[3];
} trace;

static void trace_free(trace *t) {
  free(t->va);
  free(t->kind);
  free(t->pages);
  memset(t, 0, sizeof *t);
}

/* The in-page offset of reference i: varies, 8-byte aligned. */
static uint64_t offset_of(size_t i) { return (uint64_t)(i * 72u) & 0xFF8u; }

static int canonical(uint64_t va) {
  return (uint64_t)(((int64_t)va >> 47) + 1) <= 1;
}

static int trace_grow(trace *t, size_t *cap) {
  size_t c = *cap ? 2 * *cap : (size_t)1 << 20;
  uint64_t *va = (uint64_t *)realloc(t->va, c * sizeof *va);
  if (!va)
    return -1;
  t->va = va;
  uint8_t *k = (uint8_t *)realloc(t->kind, c);
  if (!k)
    return -1;
  t->kind = k;
  *cap = c;
  return 0;
}

static int trace_add(trace *t, size_t *cap, uint64_t vpn, unsigned kind) {
  if (t->n == *cap && trace_grow(t, cap))
    return -1;
  t->va[t->n] = (vpn << 12) | offset_of(t->n);
  t->kind[t->n] = (uint8_t)kind;
  t->kinds[kind]++;
  t->n++;
  return 0;
}

static void trace_name_of(trace *t, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strlen(base);
  static const char *const suffixes[] = {".tlb.xz", ".tlb", ".xz"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    size_t sl = strlen(suffixes[i]);
    if (len > sl && !strcmp(base + len - sl, suffixes[i])) {
      len -= sl;
      break;
    }
  }
  if (len >= sizeof t->name)
    len = sizeof t->name - 1;
  memcpy(t->name, base, len);
  t->name[len] = 0;
}

#define TRACE_MAGIC "mmu-tlb-trace 1\n"

/* Reads up to limit references (format: bench/traces/README.md). Returns 0,
 * or -1 with a message on stderr. */
static int trace_read(trace *t, const char *path, size_t limit) {
  size_t len = strlen(path), cap = 0;
  int piped = len > 3 && !strcmp(path + len - 3, ".xz");
  char cmd[4096];
  FILE *f;
  memset(t, 0, sizeof *t);
  trace_name_of(t, path);
  if (piped) {
    if (strchr(path, '\'') || len > sizeof cmd - 32) {
      fprintf(stderr, "bench_trace: unusable trace path %s\n", path);
      return -1;
    }
    snprintf(cmd, sizeof cmd, "xz -dc -- '%s'", path);
    FILE *probe = fopen(path, "rb"); /* a clear message, not xz's */
    if (!probe) {
      fprintf(stderr, "bench_trace: cannot open %s: %s\n", path,
              strerror(errno));
      return -1;
    }
    fclose(probe);
    f = popen(cmd, "r");
  } else {
    f = fopen(path, "rb");
  }
  if (!f) {
    fprintf(stderr, "bench_trace: cannot open %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  const char *err = NULL;
  char magic[sizeof TRACE_MAGIC];
  if (fread(magic, 1, sizeof TRACE_MAGIC - 1, f) != sizeof TRACE_MAGIC - 1 ||
      memcmp(magic, TRACE_MAGIC, sizeof TRACE_MAGIC - 1))
    err = "not an mmu-tlb-trace 1 file";
  uint64_t prev[3] = {0, 0, 0};
  while (!err && t->n < limit) {
    uint64_t v = 0;
    unsigned shift = 0;
    int c = getc(f);
    if (c == EOF)
      break;
    for (;;) {
      if (shift > 63) {
        err = "varint too long";
        break;
      }
      v |= (uint64_t)(c & 0x7F) << shift;
      shift += 7;
      if (!(c & 0x80))
        break;
      c = getc(f);
      if (c == EOF) {
        err = "truncated varint";
        break;
      }
    }
    if (err)
      break;
    unsigned kind = (unsigned)(v & 3);
    if (kind == 3) {
      err = "reference kind 3";
      break;
    }
    uint64_t z = v >> 2;
    uint64_t delta = (z >> 1) ^ (0 - (z & 1)); /* zigzag */
    uint64_t vpn = prev[kind] + delta;
    prev[kind] = vpn;
    if (!canonical(vpn << 12) || (vpn >> 52)) {
      err = "non-canonical page";
      break;
    }
    static const unsigned mmu_kind[3] = {MMU_READ, MMU_WRITE, MMU_FETCH};
    if (trace_add(t, &cap, vpn, mmu_kind[kind])) {
      err = "out of memory";
      break;
    }
  }
  /* stopping early (--quick) may leave the decompressor a broken pipe */
  int rc = piped ? pclose(f) : fclose(f);
  if (!err && t->n == 0)
    err = "no references";
  if (!err && t->n < limit && rc != 0)
    err = piped ? "xz -dc failed" : "read error";
  if (err) {
    fprintf(stderr, "bench_trace: %s: %s (after %zu references)\n", path,
            err, t->n);
    trace_free(t);
    return -1;
  }
  return 0;
}

/* A synthetic stream: pages base + i * stride, i = 0..pages-1, read in a
 * loop, n references. */
static int trace_stride(trace *t, const char *name, uint64_t stride,
                        size_t n) {
  size_t cap = 0;
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  for (size_t i = 0; i < n; i++)
    if (trace_add(t, &cap, (STRIDE_BASE + (i % STRIDE_PAGES) * stride) >> 12,
                  MMU_READ)) {
      trace_free(t);
      return -1;
    }
  return 0;
}

static int trace_distinct(trace *t) {
  uint64_t *p = (uint64_t *)malloc(t->n * sizeof *p);
  if (!p)
    return -1;
  for (size_t i = 0; i < t->n; i++)
    p[i] = t->va[i] >> 12;
  qsort(p, t->n, sizeof *p, bc_cmp_u64);
  size_t m = 0;
  for (size_t i = 0; i < t->n; i++)
    if (m == 0 || p[m - 1] != p[i])
      p[m++] = p[i];
  uint64_t *shrunk = (uint64_t *)realloc(p, m * sizeof *p);
  t->pages = shrunk ? shrunk : p;
  t->npages = m;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The guest: every distinct page mapped 4 KiB P|W|U|A|D.                   */

typedef struct guest {
  bc_guest g;
  uint64_t tables; /* paging-structure pages, PML4 included */
  uint64_t frames; /* data frames the pages share */
} guest;

/* Distinct values of pages[i] >> shift (pages sorted). */
static uint64_t distinct_prefixes(const uint64_t *pages, size_t n,
                                  unsigned shift) {
  uint64_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || (pages[i] >> shift) != (pages[i - 1] >> shift))
      count++;
  return count;
}

static int guest_build(guest *gu, const trace *t) {
  memset(gu, 0, sizeof *gu);
  gu->tables = 1 + distinct_prefixes(t->pages, t->npages, 27) +
               distinct_prefixes(t->pages, t->npages, 18) +
               distinct_prefixes(t->pages, t->npages, 9);
  gu->frames = t->npages < MAX_DATA_FRAMES ? t->npages : MAX_DATA_FRAMES;
  /* gpa 0: unused; then the tables; then the data frames */
  uint64_t pt_base = 4096, pt_bytes = gu->tables * 4096;
  uint64_t data_base = pt_base + pt_bytes;
  uint64_t size = data_base + gu->frames * 4096;
  if (bc_guest_init(&gu->g, size, pt_base, pt_bytes)) {
    bc_guest_free(&gu->g);
    return -1;
  }
  for (size_t i = 0; i < t->npages; i++) {
    uint64_t va = t->pages[i] << 12;
    uint64_t pa = data_base + (uint64_t)(i % gu->frames) * 4096;
    if (!bc_map(&gu->g, va, pa, 12, BC_PTE_RW)) {
      bc_guest_free(&gu->g);
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The library.                                                             */

typedef struct lib {
  mmu_config cfg;
  void *storage;
  mmu_cpu cpu;
} lib;

static int lib_init(lib *l, guest *gu, uint32_t sets, uint32_t ways) {
  memset(l, 0, sizeof *l);
  l->cfg.tlb_sets = sets;
  l->cfg.tlb_ways = ways;
  l->cfg.ram = &gu->g.region;
  l->cfg.ram_count = 1;
  size_t bytes = mmu_tlb_storage_size(&l->cfg);
  if (!bytes)
    return MMU_ERR_CONFIG;
  l->storage = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (!l->storage)
    return MMU_ERR_STORAGE;
  int rc = mmu_init(&l->cpu, &l->cfg, l->storage, bytes);
  if (rc == MMU_OK)
    rc = bc_enable_paging(&l->cpu, &gu->g, 0, 3);
  return rc;
}

static void lib_free(lib *l) {
  free(l->storage);
  l->storage = NULL;
}

/* One timed replay; *walks gets cpu.stats.walks, *bad the failures. */
static BC_NOINLINE uint64_t run_lib(lib *l, const trace *t, uint64_t *walks,
                                    uint64_t *bad) {
  mmu_cpu *cpu = &l->cpu;
  const uint64_t *va = t->va;
  const uint8_t *kind = t->kind;
  const size_t n = t->n;
  const uint64_t zero = bc_zero_v;
  uint64_t last = 0, acc = 0, nbad = 0;
  mmu_flush_tlb(cpu);
  mmu_stats_reset(cpu);
  uint64_t t0 = bc_now_ns();
  for (size_t i = 0; i < n; i++) {
    mmu_result r;
    if (MMU_UNLIKELY(mmu_translate(cpu, va[i] ^ (last & zero), kind[i], &r) !=
                     MMU_OK)) {
      nbad++;
      r.paddr = 0;
    }
    last = r.paddr;
    acc += last;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  *walks = cpu->stats.walks;
  *bad += nbad;
  return t1 - t0;
}

/* ------------------------------------------------------------------------ */
/* The QEMU model (accel/tcg/cputlb.c, include/exec/cputlb.h).              */

/* CPUTLBEntry on a 64-bit host: the comparators read by access type
 * (tlb_read_idx: MMU_DATA_LOAD 0, MMU_DATA_STORE 1, MMU_INST_FETCH 2, the
 * same numbers as MMU_READ, MMU_WRITE, MMU_FETCH) and the addend that turns
 * a guest virtual address into a host address. */
typedef union qemu_entry {
  struct {
    uint64_t addr_read, addr_write, addr_code;
    uintptr_t addend;
  } e;
  uint64_t addr_idx[4];
} qemu_entry;
_Static_assert(sizeof(qemu_entry) == 32, "CPUTLBEntry is 32 bytes");

#define QEMU_VTLB_SIZE 8 /* CPU_VTLB_SIZE */
#define QEMU_PAGE_MASK (~(uint64_t)0xFFF) /* TARGET_PAGE_MASK */
#define QEMU_INVALID_MASK ((uint64_t)1 << 11) /* TLB_INVALID_MASK */

typedef struct qemu_tlb {
  qemu_entry *table; /* f[mmu_idx].table */
  uint64_t mask;     /* entries - 1 (QEMU keeps it shifted: fast->mask) */
  uint32_t entries;
  qemu_entry vtable[QEMU_VTLB_SIZE];
  unsigned vindex;
  guest *gu;
  uint64_t cr3;
  uint64_t walks, victim_hits, bad;
} qemu_tlb;

/* The QEMU model's table size for a library geometry: as many
 * translations as the library can hold, its front (one view: the traces
 * run at CPL 3) plus sets x ways, since a page the front evicts goes back
 * to the backing TLB. QEMU's tables are powers of two: qemu_init rounds
 * this down to one, and its victim TLB adds 8. */
static uint32_t qemu_entries_for(const mmu_cpu *cpu, uint32_t sets,
                                 uint32_t ways) {
  return cpu->front_entries + sets * ways;
}

static void qemu_flush(qemu_tlb *q) {
  /* tlb_flush: every comparator -1 */
  memset(q->table, 0xFF, (size_t)q->entries * sizeof *q->table);
  memset(q->vtable, 0xFF, sizeof q->vtable);
  q->vindex = 0;
}

static int qemu_init(qemu_tlb *q, guest *gu, uint32_t entries) {
  memset(q, 0, sizeof *q);
  uint32_t n = 1;
  while (n <= entries / 2)
    n <<= 1;
  q->entries = n;
  q->mask = n - 1;
  q->table = (qemu_entry *)aligned_alloc(64, (size_t)n * sizeof *q->table);
  if (!q->table)
    return -1;
  q->gu = gu;
  q->cr3 = gu->g.pml4;
  qemu_flush(q);
  return 0;
}

static void qemu_free(qemu_tlb *q) {
  free(q->table);
  q->table = NULL;
}

static inline int qemu_hit_page(uint64_t cmp, uint64_t page) {
  return page == (cmp & (QEMU_PAGE_MASK | QEMU_INVALID_MASK));
}

static inline int qemu_hit_page_anyprot(const qemu_entry *e, uint64_t page) {
  return qemu_hit_page(e->e.addr_read, page) ||
         qemu_hit_page(e->e.addr_write, page) ||
         qemu_hit_page(e->e.addr_code, page);
}

static inline int qemu_entry_is_empty(const qemu_entry *e) {
  return (e->e.addr_read & e->e.addr_write & e->e.addr_code) == ~0ull;
}

/* x86's get_physical_address for 4-level paging at CPL 3 (CR0.WP = 1,
 * EFER.NXE = 1, no SMEP/SMAP/PKE): walk, check, set A/D as needed. Returns
 * 0 with the page's physical address and its rights (bit per access type:
 * QEMU's PAGE_READ, PAGE_WRITE, PAGE_EXEC), or -1 for a fault. */
static int qemu_walk(qemu_tlb *q, uint64_t va, unsigned kind,
                     uint64_t *page_pa, unsigned *prot) {
  bc_guest *g = &q->gu->g;
  uint64_t table = q->cr3 & BC_ADDR_MASK;
  uint64_t user = 1, writable = 1, nx = 0;
  for (int level = 4; level >= 1; level--) {
    unsigned shift = 12 + 9 * (unsigned)(level - 1);
    uint64_t gpa = table + ((va >> shift) & 511) * 8;
    if (gpa + 8 > g->size)
      return -1;
    uint64_t *p = bc_entry(g, gpa), e = *p;
    if (!(e & MMU_PTE_P))
      return -1;
    user &= e >> 2;
    writable &= e >> 1;
    nx |= e >> 63;
    if (!(e & MMU_PTE_A))
      *p = e |= MMU_PTE_A;
    if (level == 1 || (level <= 3 && (e & MMU_PTE_PS))) {
      uint64_t in_page = ((uint64_t)1 << shift) - 1;
      if (!(user & 1) || (kind == MMU_WRITE && !(writable & 1)) ||
          (kind == MMU_FETCH && nx))
        return -1;
      if (kind == MMU_WRITE && !(e & MMU_PTE_D))
        *p = e |= MMU_PTE_D;
      *page_pa = (e & BC_ADDR_MASK & ~in_page) | (va & in_page & ~0xFFFull);
      /* a page stays read-only in the TLB until it is dirty */
      *prot = 1u | ((writable & 1) && (e & MMU_PTE_D) ? 2u : 0u) |
              (nx ? 0u : 4u);
      return *page_pa + 4096 <= g->size ? 0 : -1;
    }
    table = e & BC_ADDR_MASK;
  }
  return -1;
}

/* The slow path: tlb_fill's caller (probe_access_internal / load_helper):
 * a hit with flags, the victim TLB, or a walk and tlb_set_page_full. */
static BC_NOINLINE uintptr_t qemu_slow(qemu_tlb *q, uint64_t va,
                                       unsigned kind) {
  uint64_t page = va & QEMU_PAGE_MASK;
  qemu_entry *te = &q->table[(va >> 12) & q->mask];
  if (qemu_hit_page(te->addr_idx[kind], page)) /* flags set: not here */
    return (uintptr_t)va + te->e.addend;
  /* victim_tlb_hit */
  for (unsigned v = 0; v < QEMU_VTLB_SIZE; v++) {
    qemu_entry *vt = &q->vtable[v];
    if (qemu_hit_page(vt->addr_idx[kind], page)) {
      qemu_entry tmp = *vt;
      *vt = *te;
      *te = tmp;
      q->victim_hits++;
      return (uintptr_t)va + te->e.addend;
    }
  }
  q->walks++;
  uint64_t pa;
  unsigned prot;
  if (qemu_walk(q, va, kind, &pa, &prot)) {
    q->bad++;
    return 0;
  }
  /* tlb_set_page_full: drop the page from the victim TLB, evict the old
   * entry into it (round robin) unless it is for the same page */
  for (unsigned v = 0; v < QEMU_VTLB_SIZE; v++)
    if (qemu_hit_page_anyprot(&q->vtable[v], page))
      memset(&q->vtable[v], 0xFF, sizeof q->vtable[v]);
  if (!qemu_hit_page_anyprot(te, page) && !qemu_entry_is_empty(te))
    q->vtable[q->vindex++ % QEMU_VTLB_SIZE] = *te;
  te->e.addend = (uintptr_t)(q->gu->g.ram + pa) - (uintptr_t)page;
  te->e.addr_read = (prot & 1) ? page : ~0ull;
  te->e.addr_write = (prot & 2) ? page : ~0ull;
  te->e.addr_code = (prot & 4) ? page : ~0ull;
  return (uintptr_t)va + te->e.addend;
}

/* The fast path TCG inlines into every guest load, store and code-pointer
 * lookup: index by the page number, one compare against the access type's
 * comparator. */
static inline uintptr_t qemu_translate(qemu_tlb *q, uint64_t va,
                                       unsigned kind) {
  const qemu_entry *e = &q->table[(va >> 12) & q->mask];
  if (MMU_LIKELY(e->addr_idx[kind] == (va & QEMU_PAGE_MASK)))
    return (uintptr_t)va + e->e.addend;
  return qemu_slow(q, va, kind);
}

static BC_NOINLINE uint64_t run_qemu(qemu_tlb *q, const trace *t,
                                     uint64_t *walks, uint64_t *victim_hits,
                                     uint64_t *bad) {
  const uint64_t *va = t->va;
  const uint8_t *kind = t->kind;
  const size_t n = t->n;
  const uint64_t zero = bc_zero_v;
  uint64_t last = 0, acc = 0;
  qemu_flush(q);
  q->walks = q->victim_hits = q->bad = 0;
  uint64_t t0 = bc_now_ns();
  for (size_t i = 0; i < n; i++) {
    last = (uint64_t)qemu_translate(q, va[i] ^ (last & zero), kind[i]);
    acc += last;
  }
  uint64_t t1 = bc_now_ns();
  bc_sink += acc;
  *walks = q->walks;
  *victim_hits = q->victim_hits;
  *bad += q->bad;
  return t1 - t0;
}

/* Untimed: both models translate every reference to the same address. */
static uint64_t check_models(lib *l, qemu_tlb *q, const trace *t) {
  uint64_t bad = 0;
  mmu_flush_tlb(&l->cpu);
  qemu_flush(q);
  q->bad = 0;
  for (size_t i = 0; i < t->n; i++) {
    mmu_result r;
    memset(&r, 0, sizeof r);
    int rc = mmu_translate(&l->cpu, t->va[i], t->kind[i], &r);
    uintptr_t host = qemu_translate(q, t->va[i], t->kind[i]);
    if (rc != MMU_OK || host == 0 ||
        host != (uintptr_t)(q->gu->g.ram + r.paddr) ||
        r.host != (uint8_t *)host) {
      if (bad < 5)
        fprintf(stderr,
                "bench_trace: %s reference %zu (%#llx, kind %u): mmu %s "
                "paddr %#llx, qemu host offset %#llx\n",
                t->name, i, (unsigned long long)t->va[i], t->kind[i],
                mmu_status_name(rc), (unsigned long long)r.paddr,
                (unsigned long long)(host - (uintptr_t)q->gu->g.ram));
      bad++;
    }
  }
  return bad + q->bad;
}

/* ------------------------------------------------------------------------ */
/* Results.                                                                 */

typedef struct row {
  char trace[64];
  size_t refs, pages;
  uint32_t sets, ways, qemu_entries;
  uint64_t walks[2]; /* [0] mmu, [1] qemu */
  uint64_t victim_hits;
  double tps[2];     /* translations per second, median */
} row;

static double per_1k(uint64_t walks, size_t refs) {
  return refs ? 1000.0 * (double)walks / (double)refs : 0.0;
}

static double hit_ratio(uint64_t walks, size_t refs) {
  return refs ? 1.0 - (double)walks / (double)refs : 0.0;
}

static void print_header(void) {
  printf("%-10s %8s %6s %8s %5s | %-35s | %-35s | %s\n", "", "", "", "",
         "qemu", "mmu (the library)", "qemu (direct-mapped + victim)",
         "mmu/qemu");
  printf("%-10s %8s %6s %8s %5s | %9s %8s %8s %7s | %9s %8s %8s %7s | "
         "%6s %6s\n",
         "trace", "refs", "pages", "geometry", "N", "walks", "walks/1k",
         "hit%", "Mtr/s", "walks", "walks/1k", "hit%", "Mtr/s", "tr/s",
         "walks");
}

static void print_row(const row *r) {
  char geo[32], wratio[16];
  snprintf(geo, sizeof geo, "%ux%u", r->sets, r->ways);
  if (r->walks[1])
    snprintf(wratio, sizeof wratio, "%6.2f",
             (double)r->walks[0] / (double)r->walks[1]);
  else
    snprintf(wratio, sizeof wratio, "%6s", "-");
  printf("%-10s %8zu %6zu %8s %5u |", r->trace, r->refs, r->pages, geo,
         r->qemu_entries);
  for (int m = 0; m < 2; m++)
    printf(" %9llu %8.3f %8.3f %7.1f |", (unsigned long long)r->walks[m],
           per_1k(r->walks[m], r->refs),
           100.0 * hit_ratio(r->walks[m], r->refs), r->tps[m] / 1e6);
  printf(" %6.2f %s\n", r->tps[1] > 0 ? r->tps[0] / r->tps[1] : 0.0, wratio);
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static int write_json(const char *path, const row *rows, size_t nrows,
                      unsigned reps, int quick) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench_trace: cannot write %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  fprintf(f, "{\n  \"benchmark\": \"bench_trace\",\n  \"reps\": %u,\n"
             "  \"quick\": %s,\n  \"qemu_victim_entries\": %d,\n"
             "  \"results\": [\n",
          reps, quick ? "true" : "false", QEMU_VTLB_SIZE);
  for (size_t i = 0; i < nrows; i++) {
    const row *r = &rows[i];
    fprintf(f, "    {\"trace\": ");
    json_string(f, r->trace);
    fprintf(f,
            ", \"refs\": %zu, \"distinct_pages\": %zu, \"sets\": %u, "
            "\"ways\": %u, \"qemu_entries\": %u,\n",
            r->refs, r->pages, r->sets, r->ways, r->qemu_entries);
    for (int m = 0; m < 2; m++) {
      fprintf(f,
              "     \"%s\": {\"walks\": %llu, \"walks_per_1k\": %.6f, "
              "\"hit_ratio\": %.8f, \"translations_per_s\": %.1f",
              m ? "qemu" : "mmu", (unsigned long long)r->walks[m],
              per_1k(r->walks[m], r->refs), hit_ratio(r->walks[m], r->refs),
              r->tps[m]);
      if (m)
        fprintf(f, ", \"victim_hits\": %llu",
                (unsigned long long)r->victim_hits);
      fprintf(f, "},\n");
    }
    fprintf(f, "     \"ratio_translations_per_s\": %.6f, \"ratio_walks\": ",
            r->tps[1] > 0 ? r->tps[0] / r->tps[1] : 0.0);
    if (r->walks[1])
      fprintf(f, "%.6f}", (double)r->walks[0] / (double)r->walks[1]);
    else
      fprintf(f, "null}");
    fprintf(f, "%s\n", i + 1 < nrows ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  if (fclose(f)) {
    fprintf(stderr, "bench_trace: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Running.                                                                 */

typedef struct opts {
  unsigned reps;
  int quick;
  size_t limit;
  int geo; /* index into geometries[], or -1: all; -2: custom */
  uint32_t sets, ways;
} opts;

/* One trace through every geometry; appends rows. Returns 0, 1 if a
 * translation failed, -1 if out of memory. */
static int bench_one(const trace *t, const opts *o, row *rows,
                     size_t *nrows) {
  guest gu;
  if (guest_build(&gu, t)) {
    fprintf(stderr, "bench_trace: %s: cannot build the guest\n", t->name);
    return -1;
  }
  int failed = 0;
  for (size_t gi = 0; gi < NGEOM; gi++) {
    uint32_t sets = geometries[gi].sets, ways = geometries[gi].ways;
    if (o->geo == -2) {
      if (gi)
        break;
      sets = o->sets;
      ways = o->ways;
    } else if (o->geo >= 0 && (size_t)o->geo != gi) {
      continue;
    }
    lib l;
    qemu_tlb q;
    int rc = lib_init(&l, &gu, sets, ways);
    if (rc != MMU_OK) {
      fprintf(stderr, "bench_trace: mmu_init %ux%u: %s\n", sets, ways,
              mmu_status_name(rc));
      lib_free(&l);
      bc_guest_free(&gu.g);
      return -1;
    }
    if (qemu_init(&q, &gu, qemu_entries_for(&l.cpu, sets, ways))) {
      lib_free(&l);
      bc_guest_free(&gu.g);
      return -1;
    }
    uint64_t bad = check_models(&l, &q, t);
    uint64_t ns[2][MAX_REPS], walks[2] = {0, 0}, vhits = 0;
    for (unsigned r = 0; r < o->reps; r++) {
      /* alternate which model runs first */
      for (int s = 0; s < 2; s++) {
        int m = (int)((r + (unsigned)s) & 1u);
        if (m == 0)
          ns[0][r] = run_lib(&l, t, &walks[0], &bad);
        else
          ns[1][r] = run_qemu(&q, t, &walks[1], &vhits, &bad);
      }
    }
    row *w = &rows[(*nrows)++];
    memset(w, 0, sizeof *w);
    snprintf(w->trace, sizeof w->trace, "%s", t->name);
    w->refs = t->n;
    w->pages = t->npages;
    w->sets = sets;
    w->ways = ways;
    w->qemu_entries = q.entries;
    w->walks[0] = walks[0];
    w->walks[1] = walks[1];
    w->victim_hits = vhits;
    for (int m = 0; m < 2; m++) {
      uint64_t med = bc_median(ns[m], o->reps);
      w->tps[m] = med ? (double)t->n * 1e9 / (double)med : 0.0;
    }
    print_row(w);
    fflush(stdout);
    if (bad) {
      fprintf(stderr, "bench_trace: %s %ux%u: %llu translations failed or "
                      "disagreed\n",
              t->name, sets, ways, (unsigned long long)bad);
      failed = 1;
    }
    lib_free(&l);
    qemu_free(&q);
  }
  bc_guest_free(&gu.g);
  return failed;
}

static void usage(FILE *f, const char *argv0) {
  fprintf(f,
          "usage: %s [--quick] [--trace FILE] [--geometry SxW] [--reps N] "
          "[--json FILE] [--help]\n"
          "  Replays bench/traces/{gzip,sort,sqlite3,python3,xz}.tlb.xz and\n"
          "  64-page stride streams (4K, 64K, 2M, 1G) through the library's\n"
          "  TLB and a QEMU-style TLB (direct-mapped + %d-entry victim),\n"
          "  geometries 16x4 64x1 64x4 256x4 16x16 1024x4.\n"
          "  --quick         first %u references of each, 1 repetition\n"
          "  --trace FILE    this trace only (.tlb.xz, or uncompressed)\n"
          "  --geometry SxW  this library geometry only\n"
          "  --reps N        timed repetitions per model, median (default 5)\n"
          "  --json FILE     also write the results as JSON\n"
          "exit: 0 ok, 1 a translation failed, 2 bad usage or trace\n",
          argv0, QEMU_VTLB_SIZE, QUICK_REFS);
}

static int parse_geometry(const char *s, uint32_t *sets, uint32_t *ways) {
  char *end;
  errno = 0;
  unsigned long a = strtoul(s, &end, 10);
  if (errno || end == s || (*end != 'x' && *end != 'X'))
    return -1;
  const char *w = end + 1;
  unsigned long b = strtoul(w, &end, 10);
  if (errno || end == w || *end || a == 0 || b == 0 || a > 1u << 20 ||
      b > 1u << 10)
    return -1;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tlb_sets = (uint32_t)a;
  cfg.tlb_ways = (uint32_t)b;
  if (!mmu_tlb_storage_size(&cfg))
    return -1;
  *sets = (uint32_t)a;
  *ways = (uint32_t)b;
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  memset(&o, 0, sizeof o);
  o.reps = 5;
  o.limit = SIZE_MAX;
  o.geo = -1;
  const char *trace_path = NULL, *json_path = NULL;
  int reps_given = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_arg = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      return 0;
    } else if (!strcmp(a, "--quick")) {
      o.quick = 1;
    } else if (!strcmp(a, "--trace") && has_arg) {
      trace_path = argv[++i];
    } else if (!strcmp(a, "--json") && has_arg) {
      json_path = argv[++i];
    } else if (!strcmp(a, "--reps") && has_arg) {
      char *end;
      unsigned long n = strtoul(argv[++i], &end, 10);
      if (*end || n == 0 || n > MAX_REPS) {
        fprintf(stderr, "bench_trace: --reps wants 1..%u\n", MAX_REPS);
        return 2;
      }
      o.reps = (unsigned)n;
      reps_given = 1;
    } else if (!strcmp(a, "--geometry") && has_arg) {
      const char *g = argv[++i];
      o.geo = -2;
      for (size_t k = 0; k < NGEOM; k++) {
        char name[32];
        snprintf(name, sizeof name, "%ux%u", geometries[k].sets,
                 geometries[k].ways);
        if (!strcmp(g, name))
          o.geo = (int)k;
      }
      if (o.geo == -2 && parse_geometry(g, &o.sets, &o.ways)) {
        fprintf(stderr, "bench_trace: bad geometry %s (want SxW, powers of "
                        "two the library accepts)\n",
                g);
        return 2;
      }
    } else {
      usage(stderr, argv[0]);
      return 2;
    }
  }
  if (o.quick) {
    o.limit = QUICK_REFS;
    if (!reps_given)
      o.reps = 1;
  }

  size_t ntraces = trace_path ? 1 : sizeof default_traces / sizeof
                                        default_traces[0];
  size_t nstreams = trace_path ? 0 : sizeof strides / sizeof strides[0];
  size_t max_rows = (ntraces + nstreams) * NGEOM;
  row *rows = (row *)calloc(max_rows, sizeof *rows);
  if (!rows)
    return 2;
  size_t nrows = 0;
  int failed = 0;

  int header_done = 0;
  for (size_t k = 0; k < ntraces + nstreams && !failed; k++) {
    trace t;
    if (k < ntraces) {
      char path[4096];
      if (trace_path)
        snprintf(path, sizeof path, "%s", trace_path);
      else
        snprintf(path, sizeof path, "%s/%s.tlb.xz", MMU_TRACE_DIR,
                 default_traces[k]);
      if (trace_read(&t, path, o.limit)) {
        free(rows);
        return 2;
      }
    } else {
      size_t n = STRIDE_REFS < o.limit ? STRIDE_REFS : o.limit;
      if (trace_stride(&t, strides[k - ntraces].name,
                       strides[k - ntraces].stride, n)) {
        fprintf(stderr, "bench_trace: out of memory\n");
        free(rows);
        return 2;
      }
    }
    if (trace_distinct(&t)) {
      fprintf(stderr, "bench_trace: out of memory\n");
      trace_free(&t);
      free(rows);
      return 2;
    }
    if (!header_done) { /* after the first trace is read: errors first */
      printf("bench_trace: library TLB (sets x ways) vs QEMU-style TLB (N "
             "direct-mapped + %d victim); %u rep%s interleaved, median%s\n"
             "hit%% = references served without a page walk; Mtr/s = "
             "million translations per second; each run starts with an "
             "empty TLB\n",
             QEMU_VTLB_SIZE, o.reps, o.reps == 1 ? "" : "s",
             o.quick ? "; --quick" : "");
      print_header();
      header_done = 1;
    }
    size_t first = nrows;
    int rc = bench_one(&t, &o, rows, &nrows);
    if (rc < 0) {
      trace_free(&t);
      free(rows);
      return 2;
    }
    if (rc > 0)
      failed = 1;
    /* a cheap stride (64 pages) that never hits in the library's TLB
     * means its set index folds the stride onto one set */
    if (k >= ntraces)
      for (size_t i = first; i < nrows; i++)
        if (rows[i].walks[0] >= rows[i].refs)
          printf("WARNING: %s %ux%u: the library never hit\n", rows[i].trace,
                 rows[i].sets, rows[i].ways);
    trace_free(&t);
  }
  if (json_path && write_json(json_path, rows, nrows, o.reps, o.quick))
    failed = failed ? failed : 2;
  free(rows);
  return failed;
}
