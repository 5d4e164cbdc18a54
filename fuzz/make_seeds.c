/* SPDX-License-Identifier: MIT */
/* make_seeds.c - seed corpora for the fuzz targets.
 *
 *   make_seeds OUTDIR [VECTOR-FILE...]
 *
 * Writes OUTDIR/<target>/ for every target (directories are created):
 *  - vector_parser: conformance vectors one per file, a few per category
 *    (and every 'departs' one up to a bound), as vec_write prints them;
 *  - walk_differential, tlb_coherence: the same vectors encoded in the
 *    targets' raw mode (fuzz_world.h: registers, entries and steps as
 *    given), walk_differential cut at the first set-pte (it never rewrites
 *    entries); nested vectors (ept, npt) only to walk_differential, which
 *    sets their 'nested' line with its nested op (tlb_coherence has no
 *    second dimension); plus the scenarios below, written as vectors, which
 *    exercise what the unit tests do (PCID switches, global pages, large
 *    pages, INVLPG at a page's own size, CR4/CR0 toggles, 5-level paging),
 *    and inputs from a fixed-seed generator in the targets' mapped mode;
 *  - space_sequence: scenarios in its operation encoding (fork and
 *    copy-on-write, reclaim and swap-in under each policy, mprotect split
 *    and merge, stack growth, 2 MiB pages, injected faults, private file
 *    mappings, brk) and fixed-seed generated inputs;
 *  - walk_differential also: nested paging in mapped mode (EPT 4/5 levels,
 *    A/D, execute-only; NPT NXE, LA57; the guest with paging off, 32-bit
 *    or IA-32e paging; a read-only or not-present nested page);
 *  - nested: EPT and NPT configurations with two mappings each, and the
 *    nested vectors' second-dimension tables with their steps' addresses;
 *  - cli_parsers: numbers, lackey lines and mmu maps script lines, good
 *    and malformed.
 * Output is deterministic: fuzz/corpus/ is this program's output over
 * conformance/vectors/ (fuzz/run_ci.sh regenerates it into the build tree
 * and fuzzes from both). A new target adds its entry to 'emit' below. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mmu.h"
#include "vector.h"

/* ---- output ---------------------------------------------------------- */

static const char *outdir;

typedef struct buf {
  uint8_t b[8192];
  size_t n;
} buf;

static void put8(buf *o, unsigned v) {
  if (o->n < sizeof o->b)
    o->b[o->n++] = (uint8_t)v;
}
static void put16(buf *o, unsigned v) {
  put8(o, v & 0xFF);
  put8(o, (v >> 8) & 0xFF);
}
static void put32(buf *o, uint32_t v) {
  put16(o, v & 0xFFFF);
  put16(o, v >> 16);
}
static void put64(buf *o, uint64_t v) {
  put32(o, (uint32_t)v);
  put32(o, (uint32_t)(v >> 32));
}

static void mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(tmp, 0755);
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
    perror(tmp);
    exit(1);
  }
}

static unsigned long written;

static void save(const char *target, const char *name, const void *data,
                 size_t n) {
  char dir[4096], path[4400];
  snprintf(dir, sizeof dir, "%s/%s", outdir, target);
  mkdir_p(dir);
  /* file names: letters, digits, '-', '_', '.' */
  char clean[200];
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < sizeof clean; p++)
    clean[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                (*p >= '0' && *p <= '9') || *p == '-' ||
                                *p == '_' || *p == '.'
                            ? *p
                            : '_');
  clean[k] = 0;
  snprintf(path, sizeof path, "%s/%s", dir, clean);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  written++;
}

/* ---- raw mode encoding (fuzz_world.h, the targets' main) --------------- */

enum { T_WALK, T_TLB };

static const uint64_t sizes0[8] = {64 << 10,  64 << 10,  128 << 10, 128 << 10,
                                   192 << 10, 256 << 10, 512 << 10, 1 << 20};

/* Header, registers and entries. 0 if the vector's entries do not fit in
 * one region of at most 1 MiB. */
static int encode_state(buf *o, const vec_vector *v, int target,
                        uint64_t *base_out, uint64_t *size_out) {
  uint64_t lo = ~0ull, hi = 0;
  for (uint32_t i = 0; i < v->pte_count; i++) {
    lo = v->pte[i].gpa < lo ? v->pte[i].gpa : lo;
    hi = v->pte[i].gpa > hi ? v->pte[i].gpa : hi;
  }
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_SET_PTE) {
      lo = v->step[i].a < lo ? v->step[i].a : lo;
      hi = v->step[i].a > hi ? v->step[i].a : hi;
    }
  if (lo == ~0ull)
    lo = hi = v->cr3 & ~0xFFFull;
  uint64_t base = lo & ~((1ull << 20) - 1);
  if ((base >> 20) > 0xFFF)
    return 0;
  int si = -1;
  for (int k = 0; k < 8 && si < 0; k++)
    if (hi + 8 - base <= sizes0[k])
      si = k;
  if (si < 0)
    return 0;
  int la57 = (v->cr4 & MMU_CR4_LA57) != 0;
  put8(o, ((52u - v->maxphyaddr) << 2) | 2u | (unsigned)la57); /* raw */
  /* 64 sets, 4 ways; walk_differential: bits 7:6 = 3 turn on its nested
   * ops (4 ways too) */
  put8(o, (v->flags & 7) | (v->nested_kind && target == T_WALK ? 0xC0u : 0u));
  put16(o, (unsigned)(base >> 20));
  put8(o, (unsigned)si | (5u << 3)); /* one region */
  if (target == T_WALK) {
    put8(o, 0); /* no MMIO page */
    put8(o, 0); /* MMIO mode */
  }
  put32(o, (uint32_t)v->cr0);
  put64(o, v->cr3);
  put32(o, (uint32_t)v->cr4);
  put16(o, (unsigned)v->efer);
  put32(o, v->pkru);
  put8(o, (v->cpl & 3) | ((v->ac & 1) << 2));
  put8(o, v->pte_count);
  for (uint32_t i = 0; i < v->pte_count; i++) {
    put16(o, (unsigned)((v->pte[i].gpa - base) / 8));
    put64(o, v->pte[i].value);
  }
  uint64_t vas[24];
  unsigned nva = 0;
  for (uint32_t i = 0; i < v->step_count && nva < 24; i++) {
    if (v->step[i].op != VEC_ACCESS)
      continue;
    uint64_t page = v->step[i].a & ~0xFFFull;
    unsigned k = 0;
    while (k < nva && vas[k] != page)
      k++;
    if (k == nva)
      vas[nva++] = page;
  }
  put8(o, nva);
  for (unsigned k = 0; k < nva; k++)
    put64(o, vas[k]);
  *base_out = base;
  *size_out = sizes0[si];
  return 1;
}

static void put_va(buf *o, uint64_t va) {
  put8(o, 0xF0); /* fz_access_va: a u64 as is */
  put64(o, va);
}

/* INVPCID's k byte in tlb_coherence: type k % 5, PCID from a table. */
static int invpcid_byte(unsigned type, uint64_t pcid) {
  static const uint64_t pcids[8] = {0, 1, 2, 0xFFF, 0, 1, 0x1000, 3};
  for (int k = 0; k < 0x80; k++)
    if ((unsigned)k % 5 == type && pcids[(k >> 3) & 7] == pcid)
      return k;
  return -1;
}

static int reg_kind(vec_op op) {
  switch (op) {
  case VEC_CR0: return 0;
  case VEC_CR3: return 1;
  case VEC_CR4: return 2;
  case VEC_EFER: return 3;
  case VEC_PKRU: return 4;
  case VEC_CPL: return 5;
  case VEC_AC: return 6;
  default: return -1;
  }
}

/* The steps. walk_differential stops at the first set-pte. */
static void encode_steps(buf *o, const vec_vector *v, int target,
                         uint64_t base, uint64_t size) {
  for (uint32_t i = 0; i < v->step_count; i++) {
    const vec_step *s = &v->step[i];
    int rk = reg_kind(s->op);
    if (target == T_WALK) {
      if (s->op == VEC_ACCESS) {
        put8(o, 0);
        put8(o, s->access);
        put_va(o, s->a);
      } else if (s->op == VEC_INVLPG) {
        put8(o, 14);
        put_va(o, s->a);
      } else if (s->op == VEC_INVPCID && s->a <= 3 && s->b <= 3) {
        for (unsigned k = 0; k < 0x80; k++)
          if (k % 5 == s->a && ((k >> 3) & 3) == s->b) {
            put8(o, 15);
            put8(o, k);
            put_va(o, s->c);
            break;
          }
      } else if (rk >= 0) {
        put8(o, 20);
        put8(o, (unsigned)rk);
        put64(o, s->a);
      } else if (s->op == VEC_SET_PTE) {
        return;
      }
    } else {
      if (s->op == VEC_ACCESS) {
        put8(o, 0);
        put_va(o, s->a);
        put8(o, s->access);
      } else if (s->op == VEC_INVLPG) {
        put8(o, 10);
        put_va(o, s->a);
        put8(o, 0xFF); /* this address, not the last one accessed */
      } else if (s->op == VEC_INVPCID) {
        int k = invpcid_byte((unsigned)s->a, s->b);
        if (k >= 0) {
          put8(o, 11);
          put8(o, (unsigned)k);
          put_va(o, s->c);
        }
      } else if (rk >= 0) {
        put8(o, 18);
        put8(o, (unsigned)rk);
        put64(o, s->a);
      } else if (s->op == VEC_SET_PTE && s->a >= base && s->a - base < size) {
        put8(o, 19);
        put16(o, (unsigned)((s->a - base) / 8));
        put64(o, s->b);
      }
    }
  }
}

static void emit_raw(const vec_vector *v, int target, const char *name) {
  buf o;
  o.n = 0;
  uint64_t base, size;
  if (!encode_state(&o, v, target, &base, &size))
    return;
  if (v->nested_kind) { /* walk_differential's nested op, as given */
    put8(&o, 0xFF);
    put8(&o, v->nested_kind);
    put16(&o, v->nested_flags);
    put64(&o, v->nested_root);
  }
  encode_steps(&o, v, target, base, size);
  save(target == T_WALK ? "walk_differential" : "tlb_coherence", name, o.b,
       o.n);
}

static void emit_text(const vec_vector *v, const char *source,
                      const char *name) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    exit(1);
  fprintf(f, "mmu-vectors 1\nsource %s\n\n", source[0] ? source : "seed");
  vec_write(f, v);
  fclose(f);
  save("vector_parser", name, text, len);
  free(text);
}

/* ---- selection ------------------------------------------------------------ */

typedef struct seen {
  char key[2 * VEC_MAX_TEXT + 2];
  unsigned count;
} seen;

static seen seen_tab[1024];
static unsigned seen_n;

static unsigned bump(const char *source, const char *category) {
  char key[sizeof seen_tab[0].key];
  snprintf(key, sizeof key, "%s/%s", source, category);
  for (unsigned i = 0; i < seen_n; i++)
    if (strcmp(seen_tab[i].key, key) == 0)
      return ++seen_tab[i].count;
  if (seen_n == 1024)
    return 1000;
  snprintf(seen_tab[seen_n].key, sizeof key, "%s", key);
  seen_tab[seen_n].count = 1;
  seen_n++;
  return 1;
}

static unsigned departs_emitted;

static void emit_nested_vector(const vec_vector *v, const char *name);

/* The first vector of a source whose steps have an outcome of this kind
 * (the nested exits' text forms). */
static int first_with_outcome(const vec_vector *v, const char *source) {
  static const char *kinds[] = {"", "", "", "", "ept-violation",
                                "ept-misconfig", "npf"};
  int first = 0;
  for (uint32_t i = 0; i < v->step_count; i++) {
    unsigned k = (unsigned)v->step[i].expect.kind;
    if (k >= VEC_OUT_EPT_VIOLATION && k <= VEC_OUT_NPF &&
        bump(source, kinds[k]) == 1)
      first = 1;
  }
  return first;
}

static void emit_vector(const vec_vector *v, const char *source) {
  unsigned n = bump(source, v->category);
  char name[256];
  snprintf(name, sizeof name, "vec-%s", v->id);
  int sequence = strstr(v->category, "sequence") != NULL ||
                 strstr(v->category, "tlb") != NULL ||
                 strstr(v->category, "rewrite") != NULL;
  int exit_kind = first_with_outcome(v, source);
  if (n <= 2 || exit_kind || (v->departs[0] && departs_emitted < 4)) {
    departs_emitted += v->departs[0] != 0;
    emit_text(v, source, name);
  }
  if (n <= 3 || (exit_kind && v->nested_kind))
    emit_raw(v, T_WALK, name);
  if (v->nested_kind) {
    if (n <= 3 || exit_kind)
      emit_nested_vector(v, name);
    return; /* tlb_coherence: no second dimension */
  }
  if (n <= (sequence ? 12u : 2u))
    emit_raw(v, T_TLB, name);
}

static void read_vectors(const char *text, size_t len, const char *what) {
  static vec_vector v;
  vec_reader r;
  vec_reader_init(&r, text, len);
  for (;;) {
    int rc = vec_read(&r, &v);
    if (rc == VEC_EOF)
      return;
    if (rc == VEC_ERROR) {
      fprintf(stderr, "make_seeds: %s: %s\n", what, r.error);
      exit(1);
    }
    emit_vector(&v, r.source);
  }
}

static void read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  size_t cap = 1 << 20, n = 0;
  char *text = malloc(cap);
  for (;;) {
    if (!text)
      exit(1);
    n += fread(text + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    text = realloc(text, cap);
  }
  fclose(f);
  read_vectors(text, n, path);
  free(text);
}

/* ---- scenarios: what the unit tests do, written as vectors ---------------- */

/* Outcomes are placeholders ('-> ok 0x0'): only the states and steps are
 * used. Tables at 0x400000 (PML4, or PML5 with LA57), 0x401000 (PDPT),
 * 0x402000 (PD), 0x403000 (PT). */
static const char scenarios[] =
    "mmu-vectors 1\n"
    "source scenario\n"
    "vector pcid-switch-global\n"
    "category sequence.pcid\n"
    "config maxphyaddr=46 ram=0x4000000\n"
    "regs cr0=0x80010001 cr3=0x400000 cr4=0x200a0 efer=0xd00\n"
    "pte 0x400000 0x401007\npte 0x401000 0x402007\npte 0x402000 0x403007\n"
    "pte 0x403000 0x10007\npte 0x403008 0x11107\npte 0x403010 0x12007\n"
    "step read 0x0 -> ok 0x0\n"
    "step read 0x1000 -> ok 0x0\n"
    "step set-pte 0x403000 0x20007\n"
    "step read 0x0 -> ok 0x0\n"
    "step cr3 0x400001\n"
    "step read 0x0 -> ok 0x0\n"
    "step cr3 0x8000000000400000\n"
    "step read 0x0 -> ok 0x0\n"
    "step invpcid 1 0 0\n"
    "step read 0x0 -> ok 0x0\n"
    "step set-pte 0x403008 0x21107\n"
    "step read 0x1000 -> ok 0x0\n"
    "step cr4 0x20020\n"
    "step read 0x1000 -> ok 0x0\n"
    "step invpcid 2 0 0\n"
    "step write 0x2000 -> ok 0x0\n"
    "end\n"
    "vector large-page-invlpg-own-size\n"
    "category sequence.large\n"
    "config maxphyaddr=46 ram=0x4000000\n"
    "regs cr0=0x80010001 cr3=0x400000 cr4=0xa0 efer=0xd00\n"
    "pte 0x400000 0x401007\npte 0x401000 0x402007\n"
    "pte 0x402008 0x2000e7\npte 0x402010 0x403007\npte 0x403000 0x30007\n"
    "step read 0x200000 -> ok 0x0\n"
    "step read 0x201000 -> ok 0x0\n"
    "step write 0x3ff000 -> ok 0x0\n"
    "step read 0x400000 -> ok 0x0\n"
    "step set-pte 0x402008 0x6000e7\n"
    "step set-pte 0x402010 0x0\n"
    "step read 0x201000 -> ok 0x0\n"
    "step invlpg 0x3ff000\n"
    "step read 0x201000 -> ok 0x0\n"
    "step read 0x400000 -> ok 0x0\n"
    "step invlpg 0x400000\n"
    "step read 0x400000 -> ok 0x0\n"
    "end\n"
    "vector rights-toggles\n"
    "category sequence.rights\n"
    "config maxphyaddr=46 ram=0x4000000\n"
    "regs cr0=0x80010001 cr3=0x400000 cr4=0x600020 efer=0xd00 pkru=0xc cpl=0\n"
    "pte 0x400000 0x401007\npte 0x401000 0x402007\npte 0x402000 0x403007\n"
    "pte 0x403000 0x10005\npte 0x403008 0x1800000000011007\n"
    "step fetch 0x0 -> ok 0x0\n"
    "step write 0x0 -> ok 0x0\n"
    "step cr0 0x80000001\n"
    "step write 0x0 -> ok 0x0\n"
    "step cr4 0x700020\n"
    "step fetch 0x0 -> ok 0x0\n"
    "step ac 1\n"
    "step read 0x1000 -> ok 0x0\n"
    "step cpl 3\n"
    "step write 0x1000 -> ok 0x0\n"
    "step pkru 0x0\n"
    "step write 0x1000 -> ok 0x0\n"
    "step set-pte 0x403008 0x11005\n"
    "step write 0x1000 -> ok 0x0\n"
    "step efer 0x500\n"
    "step read 0x1000 -> ok 0x0\n"
    "end\n"
    "vector five-level-1g\n"
    "category sequence.la57\n"
    "config maxphyaddr=52 ram=0x4000000\n"
    "regs cr0=0x80010001 cr3=0x400000 cr4=0x10a0 efer=0xd00\n"
    "pte 0x400ff8 0x401007\npte 0x401ff8 0x402007\npte 0x402ff8 0x400000e7\n"
    "pte 0x402000 0x403007\npte 0x403000 0x187\n"
    "step read 0xffffffffc0000000 -> ok 0x0\n"
    "step write 0xffffffffc0123456 -> ok 0x0\n"
    "step read 0xfffffe0000000000 -> ok 0x0\n"
    "step read 0xff00000000000000 -> ok 0x0\n"
    "step read 0x0100000000000000 -> ok 0x0\n"
    "step set-pte 0x402ff8 0x800000e7\n"
    "step read 0xffffffffc0000000 -> ok 0x0\n"
    "step invlpg 0xffffffffc0000000\n"
    "step read 0xffffffffc0000000 -> ok 0x0\n"
    "end\n";

/* ---- mapped-mode inputs from a fixed-seed generator ----------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void emit_generated(void) {
  static const char *targets[2] = {"walk_differential", "tlb_coherence"};
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 24; i++) {
      buf o;
      o.n = 0;
      size_t len = 48 + (size_t)(rnd() % 900);
      for (size_t k = 0; k < len; k++)
        put8(&o, (unsigned)rnd());
      /* mapped mode; 4- and 5-level; MAXPHYADDR 52 down to 36 */
      o.b[0] = (uint8_t)(((unsigned)(i % 17) << 2) | (unsigned)(i & 1));
      char name[64];
      snprintf(name, sizeof name, "gen-%02d", i);
      save(targets[t], name, o.b, o.n);
    }
  /* all zero: the plainest state (one present, writable, user page) */
  uint8_t zero[256];
  memset(zero, 0, sizeof zero);
  save("walk_differential", "zero-256", zero, sizeof zero);
  save("tlb_coherence", "zero-256", zero, sizeof zero);
}

/* ---- space_sequence: scenarios in its operation encoding ------------------ */

/* fuzz/space_model.h, sm_run and sm_op: a header of three bytes (pool and
 * policy, swap slots, space config), then per operation its byte, a space
 * byte (index among the live ones) and the operation's own bytes. Page
 * bytes below 0x40 are pages 0..63 of the window, 0x40..0x7f the heap's
 * pages 512..575. */
enum {
  SS_WRITE = 0, SS_READ = 5, SS_MMAP = 9, SS_MUNMAP = 11, SS_MPROTECT = 12,
  SS_BRK = 13, SS_FORK = 14, SS_EXIT = 15, SS_RECLAIM = 17, SS_INJECT = 18,
  SS_MADVISE = 19, SS_CLEAR = 20, SS_MAPS = 21, SS_COW = 22, SS_AGE = 23, SS_MREMAP = 24,
  SS_OBJECT = 25, SS_MAP_OBJECT = 26, SS_MSYNC = 28, SS_SHARED_TOUCH = 29
};

static void ss_op(buf *o, unsigned op, unsigned space) {
  put8(o, op);
  put8(o, space);
}
/* the header: pool and policy, swap slots, space config */
static void ss_begin(buf *o, unsigned c0, unsigned c1, unsigned c2) {
  o->n = 0;
  put8(o, c0);
  put8(o, c1);
  put8(o, c2);
}
/* an operation with two bytes of its own */
static void ss_op2(buf *o, unsigned op, unsigned space, unsigned a,
                   unsigned b) {
  ss_op(o, op, space);
  put8(o, a);
  put8(o, b);
}
/* 8 bytes at slot `slot` of a page */
static void ss_write(buf *o, unsigned space, unsigned page, unsigned slot) {
  ss_op(o, SS_WRITE, space);
  put8(o, page);
  put8(o, slot | 0x40);
}
static void ss_read(buf *o, unsigned space, unsigned page, unsigned slot) {
  ss_op(o, SS_READ, space);
  put8(o, page);
  put8(o, 0x70 | slot);
}
/* k: kind 0 anon, 2 file, 3 stack, 0x38 hugetlb, | 4 placed; prot as is */
static void ss_mmap(buf *o, unsigned space, unsigned k, unsigned prot,
                    unsigned page, unsigned pages, unsigned file_byte) {
  ss_op(o, SS_MMAP, space);
  put8(o, k);
  put8(o, prot ^ 3u);
  put8(o, page);
  put8(o, pages <= 16 ? pages - 1 : 0x80 | (pages - 1));
  if ((k & 0x38) != 0x38 && (k & 3) == 2)
    put8(o, file_byte);
}
static void ss_mprotect(buf *o, unsigned space, unsigned page, unsigned pages,
                        unsigned prot) {
  ss_op(o, SS_MPROTECT, space);
  put8(o, page);
  put8(o, pages <= 8 ? pages - 1 : 0x80 | (pages - 1));
  put8(o, prot ^ 1u);
}

/* mmap_object, fixed, read-write, at page `page`: object k (created with
 * `pages` pages, a file's if `file`, when it is not live yet) from offset
 * 0, `len` pages (9..16) */
static void ss_map_object(buf *o, unsigned space, unsigned k, int file,
                          unsigned pages, unsigned page, unsigned len) {
  ss_op(o, SS_MAP_OBJECT, space);
  put8(o, k | (file ? 2u : 0u));
  put8(o, 0);
  put8(o, page);
  put8(o, ((pages - 1) << 3) | (len - 9));
}

static void emit_space_sequence(void) {
  static const char *t = "space_sequence";
  buf o;
  /* fork, then copy-on-write on both sides, the child's exit; with 4- and
   * 5-level paging */
  for (unsigned la57 = 0; la57 < 2; la57++) {
    ss_begin(&o, 5, 0, la57 ? 0x40 : 0); /* 256 frames, two lists, 32 slots */
    ss_mmap(&o, 0, 0, 3, 0, 8, 0);
    for (unsigned p = 0; p < 4; p++)
      ss_write(&o, 0, p, p);
    ss_op(&o, SS_FORK, 0);
    ss_op2(&o, SS_COW, 1, 1, 1);
    ss_write(&o, 1, 2, 2);
    ss_read(&o, 0, 2, 2);
    ss_op(&o, SS_EXIT, 1);
    ss_write(&o, 0, 3, 3);
    ss_read(&o, 0, 3, 3);
    save(t, la57 ? "scn-fork-cow-la57" : "scn-fork-cow", o.b, o.n);
  }

  /* a kernel without the zero page: reads allocate pages of their own,
   * so fork copies their entries and writes on either side copy; then
   * they go to swap and come back */
  ss_begin(&o, 0x80 | 5, 0, 0);
  ss_mmap(&o, 0, 0, 3, 0, 8, 0);
  for (unsigned p = 0; p < 8; p++)
    ss_read(&o, 0, p, p);
  ss_op(&o, SS_FORK, 0);
  for (unsigned p = 0; p < 8; p += 2)
    ss_write(&o, 1, p, p);
  for (unsigned p = 1; p < 8; p += 2)
    ss_write(&o, 0, p, p);
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 15);
  for (unsigned p = 0; p < 8; p++) {
    ss_read(&o, 0, p, p);
    ss_read(&o, 1, p, p);
  }
  save(t, "scn-no-zero-page", o.b, o.n);

  /* reclaim into swap and back, under each policy */
  for (unsigned pol = 0; pol < 4; pol++) {
    ss_begin(&o, pol << 3, 40, 0); /* 64 frames */
    ss_mmap(&o, 0, 0, 3, 0, 48, 0);
    for (unsigned p = 0; p < 40; p++)
      ss_write(&o, 0, p, p & 7);
    ss_op(&o, SS_RECLAIM, 0);
    put8(&o, 39); /* 40 pages */
    for (unsigned p = 0; p < 40; p += 3)
      ss_read(&o, 0, p, p & 7);
    ss_op(&o, SS_AGE, 0);
    ss_op(&o, SS_FORK, 0);
    for (unsigned p = 1; p < 40; p += 4)
      ss_write(&o, 1, p, 0);
    /* everything out again while both hold it, then both read it back:
     * the second reader hits the swap cache */
    ss_op(&o, SS_RECLAIM, 0);
    put8(&o, 47);
    for (unsigned p = 0; p < 40; p += 2)
      ss_read(&o, 0, p, p & 7);
    for (unsigned p = 0; p < 40; p += 2)
      ss_read(&o, 1, p, p & 7);
    char name[64];
    snprintf(name, sizeof name, "scn-reclaim-swapin-policy%u", pol);
    save(t, name, o.b, o.n);
  }

  /* mprotect splits a region, a write is refused, mprotect merges back */
  ss_begin(&o, 2, 0, 0);
  ss_mmap(&o, 0, 0, 3, 0, 16, 0);
  for (unsigned p = 0; p < 8; p++)
    ss_write(&o, 0, p, 1);
  ss_mprotect(&o, 0, 4, 2, 1);
  ss_write(&o, 0, 4, 1);
  ss_read(&o, 0, 4, 1);
  ss_mprotect(&o, 0, 5, 1, 0);
  ss_read(&o, 0, 5, 1);
  ss_mprotect(&o, 0, 4, 2, 3);
  ss_op(&o, SS_MAPS, 0);
  ss_write(&o, 0, 5, 1);
  save(t, "scn-mprotect-split-merge", o.b, o.n);

  /* mremap after fork: the parent moves pages it shares with the child
   * (FIXED, over a hole and onto another mapping), grows the moved part
   * in place and with MAYMOVE; both read back, then through swap */
  ss_begin(&o, 5, 32, 0); /* 256 frames, two lists, 32 slots */
  ss_mmap(&o, 0, 0, 3, 0, 8, 0);
  ss_mmap(&o, 0, 0, 1, 40, 4, 0);
  for (unsigned p = 0; p < 8; p++)
    ss_write(&o, 0, p, p);
  ss_op(&o, SS_FORK, 0);
  ss_op(&o, SS_MREMAP, 0); /* pages 2..6 to 38: same size, FIXED */
  put8(&o, 2);
  put8(&o, 0x55);
  put8(&o, 2);
  put8(&o, 38);
  ss_op(&o, SS_MREMAP, 0); /* page 0..2 grown to 4 in place */
  put8(&o, 0);
  put8(&o, 0x42);
  put8(&o, 1);
  put8(&o, 0);
  ss_op(&o, SS_MREMAP, 0); /* page 38..43 grown to 12: moved (MAYMOVE) */
  put8(&o, 38);
  put8(&o, 0xC5);
  put8(&o, 0);
  put8(&o, 0);
  for (unsigned p = 0; p < 8; p++) {
    ss_read(&o, 1, p, p);
    ss_read(&o, 0, p, p);
  }
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 47);
  ss_op(&o, SS_MAPS, 0);
  for (unsigned p = 0; p < 8; p++)
    ss_read(&o, 1, p, p);
  save(t, "scn-mremap-after-fork", o.b, o.n);

  /* MAP_SHARED: an anonymous object shared with a forked child (a write
   * on either side read on both, no copy), its entries zapped and faulted
   * around again, paged out to the object's swap slots and back, freed
   * with the last region; a file object past its end (SIGBUS), mapped
   * twice in one space, written back by msync, sync and destroy (BUSY
   * while mapped) */
  ss_begin(&o, 5, 32, 0); /* 256 frames, two lists, 32 slots */
  ss_map_object(&o, 0, 0, 0, 16, 0, 16);
  for (unsigned p = 0; p < 4; p++)
    ss_write(&o, 0, p, p);
  ss_op(&o, SS_FORK, 0);
  ss_op2(&o, SS_COW, 1, 1, 1);
  ss_op2(&o, SS_COW, 0, 2, 2);
  ss_op2(&o, SS_MADVISE, 0, 0, 0x8F); /* DONTNEED, 16 pages */
  ss_op2(&o, SS_SHARED_TOUCH, 0, 0, 0x04); /* read, fault-around, all */
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 15);
  for (unsigned p = 0; p < 4; p++) {
    ss_read(&o, 0, p, p);
    ss_read(&o, 1, p, p);
  }
  ss_op(&o, SS_EXIT, 1);
  ss_op2(&o, SS_MUNMAP, 0, 0, 0x8F);
  ss_map_object(&o, 0, 1, 1, 8, 16, 12); /* pages 8..11 past the end */
  for (unsigned p = 16; p < 20; p++)
    ss_write(&o, 0, p, p & 7);
  ss_read(&o, 0, 25, 0); /* SIGBUS */
  ss_op2(&o, SS_MSYNC, 0, 16, 11);
  ss_write(&o, 0, 17, 3);
  ss_op(&o, SS_OBJECT, 0); /* object 1 sync */
  put8(&o, 1);
  ss_map_object(&o, 0, 1, 1, 8, 40, 9); /* the same pages again */
  ss_write(&o, 0, 42, 5);
  ss_op2(&o, SS_MSYNC, 0, 16, 7); /* the first mapping's range */
  ss_write(&o, 0, 43, 6);
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 20);
  ss_read(&o, 0, 19, 6);
  ss_op(&o, SS_OBJECT, 0); /* destroy: BUSY */
  put8(&o, 5);
  ss_op(&o, SS_MAPS, 0);
  ss_write(&o, 0, 18, 1);
  ss_op2(&o, SS_MUNMAP, 0, 0, 0xFF);
  ss_op(&o, SS_OBJECT, 0); /* destroy: written back */
  put8(&o, 5);
  save(t, "scn-shared-objects", o.b, o.n);

  /* a stack grows down to its limit and stops at another's guard gap */
  ss_begin(&o, 3, 0, 0); /* gap 16 pages, limit 64 pages */
  ss_mmap(&o, 0, 3, 3, 60, 4, 0);
  ss_write(&o, 0, 50, 0);
  ss_read(&o, 0, 40, 0);
  ss_mmap(&o, 0, 0, 3, 2, 1, 0);
  ss_write(&o, 0, 12, 0); /* inside the gap above page 2 */
  ss_write(&o, 0, 30, 0);
  ss_op(&o, SS_FORK, 0);
  ss_write(&o, 1, 25, 0);
  ss_op(&o, SS_MAPS, 1);
  save(t, "scn-stack-growth", o.b, o.n);

  /* 2 MiB pages: fault, fork, copy on write, refused partial munmap */
  ss_begin(&o, 7, 8, 0); /* 1600 frames: room for two 2 MiB pages */
  ss_mmap(&o, 0, 0x38, 3, 0, 3, 0); /* 512 pages */
  ss_write(&o, 0, 0, 0);
  ss_write(&o, 0, 63, 3);
  ss_op(&o, SS_FORK, 0);
  ss_write(&o, 1, 1, 2);
  ss_read(&o, 0, 1, 2);
  ss_op2(&o, SS_MUNMAP, 0, 4, 0);
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 10);
  ss_read(&o, 1, 0, 0);
  save(t, "scn-hugetlb", o.b, o.n);

  /* injected faults: failing swap writes, short reads, a flipped slot,
   * failing file reads; each cleared */
  ss_begin(&o, 0, 16, 0);
  ss_mmap(&o, 0, 0, 3, 0, 64, 0);
  ss_mmap(&o, 0, 2, 1, 0x40, 8, 0);
  for (unsigned p = 0; p < 50; p++)
    ss_write(&o, 0, p, 0);
  ss_op2(&o, SS_INJECT, 0, 0, 0);
  for (unsigned p = 50; p < 64; p++)
    ss_write(&o, 0, p, 0);
  ss_op2(&o, SS_INJECT, 0, 1, 10);
  for (unsigned p = 0; p < 10; p++)
    ss_read(&o, 0, p, 0);
  ss_op2(&o, SS_INJECT, 0, 2 | (5 << 2), 3);
  for (unsigned p = 0; p < 20; p++)
    ss_read(&o, 0, p, 0);
  ss_op2(&o, SS_INJECT, 0, 3, 0);
  ss_read(&o, 0, 0x41, 0);
  ss_op(&o, SS_CLEAR, 0);
  ss_read(&o, 0, 0x42, 0);
  save(t, "scn-injected-faults", o.b, o.n);

  /* private file mapping: read, copy on write, dropped clean pages */
  ss_begin(&o, 1, 8, 0);
  ss_mmap(&o, 0, 2, 3, 10, 16, 2 << 1);
  for (unsigned p = 10; p < 26; p += 2)
    ss_read(&o, 0, p, 3);
  ss_write(&o, 0, 11, 4);
  ss_op(&o, SS_RECLAIM, 0);
  put8(&o, 20);
  ss_read(&o, 0, 10, 5);
  ss_read(&o, 0, 11, 4);
  save(t, "scn-file-private", o.b, o.n);

  /* brk: grow, write, shrink, grow again */
  ss_begin(&o, 4, 0, 0);
  ss_op(&o, SS_BRK, 0);
  put16(&o, 0x0400); /* start + 64 KiB */
  ss_write(&o, 0, 0x42, 0);
  ss_op(&o, SS_BRK, 0);
  put16(&o, 0x0020);
  ss_read(&o, 0, 0x42, 0);
  ss_op(&o, SS_BRK, 0);
  put16(&o, 0x0800);
  ss_read(&o, 0, 0x42, 0);
  save(t, "scn-brk", o.b, o.n);

  /* fixed-seed random inputs, and all zeros (writes to one mapping) */
  for (int i = 0; i < 24; i++) {
    o.n = 0;
    size_t len = 64 + (size_t)(rnd() % 2000);
    for (size_t k = 0; k < len; k++)
      put8(&o, (unsigned)rnd());
    char name[64];
    snprintf(name, sizeof name, "gen-%02d", i);
    save(t, name, o.b, o.n);
  }
  uint8_t zero[256];
  memset(zero, 0, sizeof zero);
  save(t, "zero-256", zero, sizeof zero);
}

/* ---- nested: nested paging's second dimension ---------------------------- */

/* fuzz_nested.c's encoding: configuration bytes c0 (MAXPHYADDR - 36 mod 17,
 * bit 5 NPT), c1 (flags; EPT: 0x80 A/D, 0x40 WB, 0x20 5 levels; NPT: 0x40
 * NXE, 0x20 LA57), the RAM base and root page, mappings (gpa, leaf level,
 * frame page, two flag-perturbing bytes), pokes, then accesses (kind byte,
 * gpa: a mapping's unless bit 7 of the kind byte). */
static void emit_nested(void) {
  static const struct {
    const char *name;
    uint8_t c0, c1, leaf;
  } cases[] = {
      {"ept-4k-ad", 4, 0x80 | 0x40, 0},   {"ept-2m", 4, 0x40, 1},
      {"ept-1g-ad", 16, 0x80 | 0x40, 2},  {"ept-5level", 16, 0x40 | 0x20, 0},
      {"ept-xonly", 4, 0x41, 0},          {"npt-4k", 0x20 | 4, 0x40, 0},
      {"npt-2m-nonx", 0x20 | 4, 0, 1},    {"npt-5level-1g", 0x20 | 16, 0x60, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    buf o;
    o.n = 0;
    put8(&o, cases[i].c0);
    put8(&o, cases[i].c1);
    put8(&o, 1);      /* RAM at 1 MiB */
    put8(&o, 0);      /* root: its first page */
    put8(&o, 2);      /* two mappings */
    for (unsigned m = 0; m < 2; m++) {
      put64(&o, 0x40201000ull + m * 0x40000000ull);
      put8(&o, cases[i].leaf);
      put8(&o, 8 + m);
      put8(&o, 0);    /* flags as mapped */
      put8(&o, 1);
    }
    put8(&o, 0);      /* no pokes */
    for (unsigned k = 0; k < 6; k++) { /* read, write, fetch of each */
      put8(&o, k % 3);
      put64(&o, (k / 3) * 0x40000ull + 0x238);
    }
    save("nested", cases[i].name, o.b, o.n);
  }
}

/* A nested vector's second dimension in fuzz_nested's encoding: its
 * configuration, the entries in the 64 KiB window at its root's MiB (as
 * pokes of raw values), then accesses (raw gpas) to what its steps reach:
 * the guest's addresses with paging off, its top table, the exits' gpas.
 * Nothing if the root lies outside the window's reach. */
static void emit_nested_vector(const vec_vector *v, const char *name) {
  const int ept = v->nested_kind == MMU_NESTED_EPT;
  uint64_t table = v->nested_root & 0x000FFFFFFFFFF000ull;
  uint64_t base = table & ~((1ull << 20) - 1);
  if ((base >> 20) >= 16 || table - base >= 16 * 4096ull)
    return;
  int c0 = -1;
  for (int c = 0; c < 256 && c0 < 0; c++)
    if (((c >> 5) & 1) == !ept && (uint32_t)(c % 17) == v->maxphyaddr - 36)
      c0 = c;
  if (c0 < 0)
    return;
  unsigned c1 = v->nested_flags & (MMU_NESTED_EXEC_ONLY | MMU_NESTED_NO_1G);
  if (ept)
    c1 |= ((v->nested_root & 7) == MMU_EPTP_WB ? 0x40u : 0u) |
          ((v->nested_root & MMU_EPTP_WALK5) == MMU_EPTP_WALK5 ? 0x20u : 0u) |
          (v->nested_root & MMU_EPTP_AD ? 0x80u : 0u);
  else
    c1 |= (v->nested_flags & MMU_NESTED_NXE ? 0x40u : 0u) |
          (v->nested_flags & MMU_NESTED_LA57 ? 0x20u : 0u);
  buf o;
  o.n = 0;
  put8(&o, (unsigned)c0);
  put8(&o, c1);
  put8(&o, (unsigned)(base >> 20));
  put8(&o, (unsigned)((table - base) / 4096));
  put8(&o, 0); /* no mappings: the vector's entries are the tables */
  size_t count_at = o.n;
  put8(&o, 0);
  unsigned pokes = 0;
  for (uint32_t i = 0; i < v->pte_count && pokes < 63; i++) {
    uint64_t g = v->pte[i].gpa;
    if (g < base || g - base >= 16 * 4096ull)
      continue;
    put16(&o, (unsigned)((g - base) / 8));
    put8(&o, 3); /* the value as is */
    put64(&o, v->pte[i].value);
    put16(&o, 0);
    pokes++;
  }
  o.b[count_at] = (uint8_t)pokes;
  int paging = (v->cr0 & MMU_CR0_PG) != 0;
  if (paging) { /* the guest's top table: read, then as a table walk */
    put8(&o, 0x80);
    put64(&o, v->cr3 & ~0xFFFull);
    put8(&o, 0x81);
    put64(&o, v->cr3 & ~0xFFFull);
  }
  for (uint32_t i = 0; i < v->step_count; i++) {
    const vec_step *st = &v->step[i];
    if (st->op != VEC_ACCESS)
      continue;
    unsigned kind = st->access & 3u;
    if (!paging) {
      put8(&o, 0x80 | kind);
      put64(&o, st->a);
    }
    if (st->expect.kind >= VEC_OUT_EPT_VIOLATION) {
      put8(&o, 0x80 | kind);
      put64(&o, st->expect.gpa);
    }
  }
  save("nested", name, o.b, o.n);
}

/* walk_differential's access op: kind, mapping 0 at this offset */
static void put_wd_access(buf *o, unsigned kind, unsigned offset) {
  put8(o, 0);
  put8(o, kind);
  put8(o, 0);
  put8(o, 0);
  put16(o, offset);
}

/* walk_differential in mapped mode with its nested ops (c1 bits 7:6 = 3):
 * zero bytes up to the first op give one writable user page (mapping 0,
 * at linear 0, data at gpa 0); then a nested op, its guest mode, and
 * accesses to that page. */
static void emit_walk_nested(void) {
  static const struct {
    const char *name;
    uint8_t la57, op, k, guest;
    uint8_t ro; /* a nested mapping of gpa 0: 1 read-only, 2 not present */
  } cases[] = {
      {"nested-ept4-long", 0, 0xFD, 0x00, 3, 0},
      {"nested-ept4-ad-long", 0, 0xFD, 0x08, 3, 0},
      {"nested-ept5-ad-la57", 1, 0xFD, 0x0C, 3, 0},
      {"nested-ept4-xonly-32bit", 0, 0xFD, 0x10, 2, 1},
      {"nested-ept4-ad-off", 0, 0xFD, 0x08, 1, 1},
      {"nested-ept4-ro-long", 0, 0xFD, 0x08, 3, 1},
      {"nested-ept5-32bit-pse", 0, 0xFD, 0x04, 6, 0},
      {"nested-ept5-np-off", 0, 0xFD, 0x04, 1, 2},
      {"nested-npt4-long", 0, 0xFE, 0x00, 3, 0},
      {"nested-npt5-la57", 1, 0xFE, 0x04, 3, 0},
      {"nested-npt4-nonx-32bit", 0, 0xFE, 0x08, 2, 1},
      {"nested-npt4-off", 0, 0xFE, 0x00, 1, 2},
      {"nested-npt4-ro-long", 0, 0xFE, 0x00, 3, 1},
      /* PAE guests (guest byte bit 3; bits 7:4 the PDPT's 32-byte slot) */
      {"nested-ept4-pae", 0, 0xFD, 0x00, 0x0B, 0},
      {"nested-ept4-ad-ro-pae", 0, 0xFD, 0x08, 0x1B, 1},
      {"nested-npt4-pae", 0, 0xFE, 0x00, 0x0B, 0},
      {"nested-npt4-np-pae", 0, 0xFE, 0x00, 0x2B, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    buf o;
    o.n = 0;
    put8(&o, cases[i].la57);
    put8(&o, 0xC0); /* nested ops on */
    /* layout, MMIO, mode, one mapping (4 or 5 indices), pokes, regs */
    for (unsigned k = 0; k < 17u + (cases[i].la57 ? 5u : 4u) - 2u; k++)
      put8(&o, 0);
    put8(&o, cases[i].op);
    put8(&o, cases[i].k);
    if (cases[i].ro) { /* gpa 0 (a page of region 0), 4 KiB, identity */
      put8(&o, 1);
      put8(&o, 1);
      put8(&o, 0);
      put16(&o, 0);
      put8(&o, 0);
      put8(&o, 0); /* upper: all rights */
      if (cases[i].op == 0xFD) {
        put8(&o, cases[i].ro == 1 ? 6 : 7); /* R only, or none */
        put8(&o, 0);
      } else {
        put8(&o, cases[i].ro == 1 ? 0x08 : 0x07); /* not W, or not P */
        put8(&o, 0);
      }
      put8(&o, 0); /* no bit flipped */
    } else {
      put8(&o, 0);
    }
    put8(&o, 0); /* identity at 2 MiB */
    put8(&o, cases[i].guest);
    for (unsigned k = 0; k < 9; k++) { /* read, write, fetch; INVLPG */
      put_wd_access(&o, k % 3, (k * 0x238) & 0xFFF);
      if (k == 5) {
        put8(&o, 14);
        put8(&o, 0);
        put8(&o, 0);
        put16(&o, 0);
      }
    }
    put8(&o, 0xFC); /* off, then the same accesses again */
    put8(&o, 0);
    for (unsigned k = 0; k < 3; k++)
      put_wd_access(&o, k, 0);
    save("walk_differential", cases[i].name, o.b, o.n);
  }
}

/* cli_parsers: byte 0 picks the parser (0 numbers, 1 lackey lines, 2
 * mmu maps script lines), then lines as users write them: what
 * tests/cli's scripts and traces hold, and the malformed kinds. */
static void emit_cli_parsers(void) {
  static const struct {
    const char *name;
    char which;
    const char *text;
  } seeds[] = {
      {"numbers", 0, "0\n10\n0x10\n010\n4K\n64M\n2g\n18446744073709551615\n"
                     "0xffffffffffffffff\n16G\n-1\n+1\n 1\n1x\n0x\n4KB\n"},
      {"lackey", 1, "==12345== Lackey, an example Valgrind tool\n"
                    "I  0400d7d4,8\n I 0400d7d4,8\n L 04e2e428,4\n"
                    " S 1ffefffd58,8\n M 0402c1c8,4\n"
                    "--12345-- warning\n**12345** x\n\n"
                    " L ffffffffffffffff,1\n L ffffffffffffffff,2\n"
                    " S 0,1048576\n S 0,1048577\n L 0,0\n X 0,1\n"
                    " L 10000000000000000,1\n L 1000,\n L ,4\n"},
      {"maps", 2, "# a comment\n"
                  "mmap 0 64K rw- private,anonymous\n"
                  "mmap 0x10000000 2M r-x shared,anonymous,fixed,populate\n"
                  "mmap 0x7ff000000 1M rw- private,anonymous,growsdown\n"
                  "mmap 0 4M rw- private,anonymous,hugetlb\n"
                  "mmap 0 4096 rw- anonymous\n"
                  "munmap 0x10000 0x1000\nmprotect 0x10000 4K r--\n"
                  "madvise 0x10000 4K dontneed\nmadvise 0x10000 4K free\n"
                  "mremap 0x10000 4K 8K\nmremap 0x10000 4K 8K maymove\n"
                  "mremap 0x10000 4K 8K maymove,fixed 0x200000\n"
                  "brk 0\nbrk 0x555555580000\nstack 0x7ffffffde000\n"
                  "fork\npid 2\ntouch 0x10000 r\ntouch 0x10000 w\n"
                  "touch 0x10000 x # fetch\n"
                  "mmap 0 1 rwx private,shared,anonymous\nmmap 0 1 rw private\n"
                  "munmap 1\nfrob 1 2\ntouch 0x1000 q\nmremap 1 2 3 4 5 6\n"},
  };
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    size_t n = strlen(seeds[i].text);
    char *input = malloc(n + 1);
    if (!input)
      exit(1);
    input[0] = seeds[i].which;
    memcpy(input + 1, seeds[i].text, n);
    save("cli_parsers", seeds[i].name, input, n + 1);
    free(input);
  }
}

/* cli_walk: the 18-byte header fuzz_cli_walk.c reads, then RAM (256 bytes
 * of each page) holding a table per level that maps 0x400000 to the page
 * after them, for each mode, access kind and privilege, and one dump of
 * noise. */
static void cw_entry(uint8_t *ram, uint64_t at, uint64_t v, unsigned size) {
  for (unsigned i = 0; i < size; i++)
    ram[at + i] = (uint8_t)(v >> (8 * i));
}

static void emit_cli_walk(void) {
  static const struct {
    const char *name;
    unsigned mode, levels, esize;
  } modes[] = {{"4level", 0, 4, 8}, {"5level", 1, 5, 8}, {"pae", 2, 3, 8},
               {"32bit", 3, 2, 4}, {"off", 4, 0, 8}};
  static const struct {
    const char *name;
    uint8_t bits;
  } kinds[] = {{"read", 0}, {"write", 0x08}, {"fetch", 0x10},
               {"user-write", 0x48}, {"implicit", 0x20}};
  const uint64_t va = 0x400010;
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      static uint8_t in[18 + 7 * 256];
      memset(in, 0, sizeof in);
      unsigned L = modes[m].levels, es = modes[m].esize;
      in[0] = (uint8_t)(modes[m].mode | kinds[k].bits);
      in[1] = 0x03; /* WP, NXE */
      in[2] = 16;   /* MAXPHYADDR 52 */
      in[3] = 0;    /* RAM at 0, CR3 its page 0 */
      for (unsigned i = 0; i < 8; i++)
        in[10 + i] = (uint8_t)(va >> (8 * i));
      uint8_t *ram = in + 18;
      for (unsigned l = 0; l < L; l++) { /* table l maps to table l + 1 */
        unsigned level = L - l;          /* 5..1, PAE 3..1, 32-bit 2..1 */
        unsigned shift = es == 4 ? (level == 2 ? 22 : 12) : 12 + 9 * (level - 1);
        unsigned idx = (unsigned)((va >> shift) & (es == 4 ? 0x3FF : 0x1FF));
        uint64_t flags = (modes[m].mode == 2 && level == 3) ? 1 : 0x67;
        cw_entry(ram, 256ull * l + es * idx, 4096ull * (l + 1) | flags, es);
      }
      ram[256ull * L + 0x10] = 0xC3;
      char name[64];
      snprintf(name, sizeof name, "%s-%s", modes[m].name, kinds[k].name);
      save("cli_walk", name, in, 18 + 256ull * (L + 1));
    }
  uint8_t noise[18 + 4 * 256];
  uint32_t x = 0x12345678u;
  for (size_t i = 0; i < sizeof noise; i++) {
    x = x * 1103515245u + 12345u;
    noise[i] = (uint8_t)(x >> 24);
  }
  save("cli_walk", "noise", noise, sizeof noise);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: make_seeds OUTDIR [VECTOR-FILE...]\n");
    return 2;
  }
  outdir = argv[1];
  for (int i = 2; i < argc; i++)
    read_file(argv[i]);
  read_vectors(scenarios, sizeof scenarios - 1, "scenarios");
  emit_generated();
  emit_space_sequence();
  emit_nested();
  emit_walk_nested();
  emit_cli_parsers();
  emit_cli_walk();
  fprintf(stderr, "make_seeds: %lu files in %s\n", written, outdir);
  return 0;
}
