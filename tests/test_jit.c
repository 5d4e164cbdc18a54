/* SPDX-License-Identifier: MIT */
/* The JIT contract (SPEC.md 5.8): the inline hit written from the byte
 * offsets of mmu.h alone, as a JIT would emit it, held to mmu_translate()
 * before and after every translating step of every conformance vector. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jit_hit.h"
#include "digest.h"
#include "gen.h"
#include "vector.h"

#ifndef MMU_VECTOR_DIR
#define MMU_VECTOR_DIR "conformance/vectors"
#endif

/* The one increment a JIT adds to its hit for perf-style dTLB-loads. */
static void jit_count(void *cpu, unsigned access) {
  uint8_t *p = (uint8_t *)cpu + MMU_CPU_TLB_LOADS_OFFSET + 8 * (access & 3);
  uint64_t n;
  memcpy(&n, p, 8);
  n++;
  memcpy(p, &n, 8);
}

typedef struct jit_run {
  const uint8_t *ram; /* guest RAM is [0, size) at ram */
  unsigned long vectors, steps, hits_before, hits_after, misses_after_ok_ram;
  unsigned long hits_by_access[8];
  unsigned long crossing_checked;
  unsigned long failures;
  char first[512];
  /* the step in flight */
  int after;
  int pending_hit;
  jit_out pending;
  uint64_t loads_before[4];
} jit_run;

static void jit_fail(jit_run *run, const vec_step *s, const char *what) {
  if (run->failures++ == 0)
    snprintf(run->first, sizeof run->first, "%s 0x%llx, %s: %s",
             vec_access_name(s->access), (unsigned long long)s->a,
             run->after ? "after translating" : "before translating", what);
}

static int jit_same(const jit_out *o, const mmu_result *r) {
  return r->host && o->host == (uint64_t)(uintptr_t)r->host &&
         o->paddr == r->paddr && o->page_size == r->page_size;
}

/* Sizes 2..16: hit as size 1 does when the access stays in the page,
 * miss when it crosses into the next one. */
static void jit_check_sizes(jit_run *run, const mmu_cpu *cpu,
                            const vec_step *s, int hit1, const jit_out *o1) {
  for (unsigned size = 2; size <= 16; size *= 2) {
    jit_out o;
    int hit = jit_hit(cpu, s->a, s->access, size, &o);
    int crosses = (s->a & 0xFFF) + size > 4096;
    run->crossing_checked += crosses;
    if (hit != (hit1 && !crosses) ||
        (hit && memcmp(&o, o1, sizeof o) != 0))
      jit_fail(run, s, "a multi-byte access disagrees with the 1-byte one");
  }
}

static void jit_on_access(void *user, mmu_cpu *cpu, const vec_step *s,
                          const int *status, const mmu_result *r) {
  jit_run *run = user;
  jit_out o = {0, 0, 0};
  run->after = status != NULL;
  int hit = jit_hit(cpu, s->a, s->access, 1, &o);
  jit_check_sizes(run, cpu, s, hit, &o);
  if (hit) {
    if (o.host - (uint64_t)(uintptr_t)run->ram != o.paddr)
      jit_fail(run, s, "host is not RAM + paddr");
    run->hits_by_access[s->access & 7]++;
  }
  if (!status) { /* before the step */
    run->steps++;
    run->pending_hit = hit;
    run->pending = o;
    memcpy(run->loads_before, cpu->stats.tlb_loads, sizeof run->loads_before);
    if (hit) {
      run->hits_before++;
      jit_count(cpu, s->access);
    }
    return;
  }
  if (run->pending_hit && (*status != MMU_OK || !jit_same(&run->pending, r)))
    jit_fail(run, s, "hit before, but mmu_translate differs");
  if (hit) {
    run->hits_after++;
    if (*status != MMU_OK || !r->host)
      jit_fail(run, s, "hit after a fault, an error or MMIO");
    else if (!jit_same(&o, r))
      jit_fail(run, s, "hit after, but differs from mmu_translate");
  } else if (*status == MMU_OK && r->host && (cpu->regs.cr0 & MMU_CR0_PG)) {
    run->misses_after_ok_ram++; /* allowed; the front may skip a fill */
  }
  /* perf-style counting: with the JIT's increment on its hits, every
   * paged translation counts once (a hit by the JIT, a miss by the slow
   * path; mmu_translate's own hit counts nothing with MMU_COUNT_HITS 0) */
  if ((cpu->regs.cr0 & MMU_CR0_PG) && *status != MMU_GP_FAULT &&
      *status != MMU_ERR_MODE) {
    for (unsigned k = 0; k < 4; k++) {
      uint64_t want = run->loads_before[k] + (k == (s->access & 3));
      if (cpu->stats.tlb_loads[k] != want)
        jit_fail(run, s, "tlb_loads did not count this access exactly once");
    }
  }
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static check_ctx *jit_ctx(jit_run *run) {
  check_ctx *ctx = calloc(1, sizeof *ctx);
  cr_assert(ctx);
  ctx->ram_capacity = GEN_RAM_SIZE;
  ctx->ram = aligned_alloc(4096, ctx->ram_capacity);
  cr_assert(ctx->ram);
  memset(ctx->ram, 0, ctx->ram_capacity);
  ctx->on_access = jit_on_access;
  ctx->on_access_user = run;
  run->ram = ctx->ram;
  return ctx;
}

static void jit_report(const char *what, const jit_run *run) {
  cr_log_info("%s: %lu vectors, %lu access steps, JIT hits %lu before and "
              "%lu after the translation, %lu misses after an ok RAM "
              "translation, %lu crossing accesses; hits by access "
              "r/w/x %lu/%lu/%lu, implicit r/w/x %lu/%lu/%lu",
              what, run->vectors, run->steps, run->hits_before,
              run->hits_after, run->misses_after_ok_ram,
              run->crossing_checked, run->hits_by_access[0],
              run->hits_by_access[1], run->hits_by_access[2],
              run->hits_by_access[4], run->hits_by_access[5],
              run->hits_by_access[6]);
  printf("test_jit %s: %lu vectors, %lu steps, %lu + %lu JIT hits\n", what,
         run->vectors, run->steps, run->hits_before, run->hits_after);
}

/* Every vector of the checked-in .vec files, on the TLB path: each must
 * still pass, and the JIT sequence must agree with every step. */
Test(jit, inline_hit_matches_translate_on_every_vector, .timeout = 600) {
  static jit_run run;
  static vec_vector v;
  static char msg[4096];
  check_ctx *ctx = jit_ctx(&run);
  glob_t g;
  cr_assert_eq(glob(MMU_VECTOR_DIR "/*.vec", 0, NULL, &g), 0,
               "no vector files in %s", MMU_VECTOR_DIR);
  for (size_t f = 0; f < g.gl_pathc; f++) {
    size_t len;
    char *text = read_all(g.gl_pathv[f], &len);
    cr_assert(text, "cannot read %s", g.gl_pathv[f]);
    vec_reader r;
    vec_reader_init(&r, text, len);
    int rc;
    while ((rc = vec_read(&r, &v)) == VEC_OK) {
      run.vectors++;
      int ok = check_vector(ctx, &v, CHECK_FAST, msg, sizeof msg);
      cr_assert_eq(ok, 1, "%s: %s", g.gl_pathv[f], msg);
      cr_assert_eq(run.failures, 0, "%s %s: %s", g.gl_pathv[f], v.id,
                   run.first);
    }
    cr_assert_eq(rc, VEC_EOF, "%s: %s", g.gl_pathv[f], r.error);
    free(text);
  }
  globfree(&g);
  jit_report("vector files", &run);
  cr_assert_gt(run.vectors, 0);
  cr_assert_gt(run.hits_before, 0, "the JIT sequence never hit");
  cr_assert_gt(run.hits_after, 0, "the JIT sequence never hit");
  free(ctx->ram);
  free(ctx);
}

/* The enumerations behind the .digest files, every stride-th block
 * (MMU_JIT_DIGEST_STRIDE, default 16, 64 under ASan; 1 runs all of them).
 * Outcomes are the library's own (check_fill): the conformance_digest
 * tests hold them to the sources. */
/* Sanitized builds run four times slower: a sparser sample keeps them
 * near half a minute. */
#if defined(__SANITIZE_ADDRESS__)
#define JIT_DEFAULT_STRIDE 64
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JIT_DEFAULT_STRIDE 64
#endif
#endif
#ifndef JIT_DEFAULT_STRIDE
#define JIT_DEFAULT_STRIDE 16
#endif

Test(jit, inline_hit_matches_translate_on_enumerations, .timeout = 1200) {
  static jit_run run;
  static vec_vector v;
  static digest_file d;
  static char msg[4096];
  char err[256];
  unsigned long stride = JIT_DEFAULT_STRIDE;
  const char *env = getenv("MMU_JIT_DIGEST_STRIDE");
  if (env && strtoul(env, NULL, 10) > 0)
    stride = strtoul(env, NULL, 10);
  check_ctx *ctx = jit_ctx(&run);
  glob_t g;
  if (glob(MMU_VECTOR_DIR "/*.digest", 0, NULL, &g) != 0) {
    free(ctx->ram);
    free(ctx);
    cr_skip_test("no digest files in %s", MMU_VECTOR_DIR);
  }
  for (size_t f = 0; f < g.gl_pathc; f++) {
    cr_assert_eq(digest_read(g.gl_pathv[f], &d, err, sizeof err), 0, "%s",
                 err);
    for (uint64_t b = 0; b < d.nblocks; b += stride)
      for (uint64_t i = b * d.block; i < d.count && i < (b + 1) * d.block;
           i++) {
        cr_assert(gen_enumerated(d.enumeration, i, d.caps, d.source, &v));
        v.flags |= d.flags;
        run.vectors++;
        cr_assert_eq(check_fill(ctx, &v, CHECK_FAST, msg, sizeof msg), 1,
                     "%s", msg);
        cr_assert_eq(run.failures, 0, "%s %s: %s", g.gl_pathv[f], v.id,
                     run.first);
      }
  }
  globfree(&g);
  jit_report("enumerations", &run);
  cr_assert_gt(run.hits_before + run.hits_after, 0,
               "the JIT sequence never hit");
  free(ctx->ram);
  free(ctx);
}
