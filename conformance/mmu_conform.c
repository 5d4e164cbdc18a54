/* SPDX-License-Identifier: MIT */
/* mmu_conform - run conformance vector files against the library, on both
 * the TLB path (mmu_translate) and the reference walker, and print a
 * pass/fail table by category. Any vector file can be given, so a fork can
 * run its own captures.
 *
 *   mmu_conform [--quiet] [--max-report N] [--digest-stride N] FILE...
 *
 * A FILE ending in .digest holds block digests of an enumeration (SPEC.md
 * 8.4): the vectors are regenerated, run on both paths and digested;
 * --digest-stride N checks every Nth block only (sanitizer builds).
 *
 * Exit status: 0 all agree, 1 a disagreement, 2 a file could not be read
 * or parsed (the message names file and line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"
#include "gen.h"

#define MAX_CATEGORIES 512

typedef struct category_row {
  char name[VEC_MAX_TEXT];
  char source[VEC_MAX_TEXT];
  unsigned long vectors, failed, departs;
} category_row;

static category_row rows[MAX_CATEGORIES];
static unsigned row_count;

static category_row *row_for(const char *source, const char *category) {
  for (unsigned i = 0; i < row_count; i++)
    if (strcmp(rows[i].name, category) == 0 && strcmp(rows[i].source, source) == 0)
      return &rows[i];
  if (row_count == MAX_CATEGORIES)
    return &rows[MAX_CATEGORIES - 1];
  category_row *r = &rows[row_count++];
  snprintf(r->name, sizeof r->name, "%s", category);
  snprintf(r->source, sizeof r->source, "%s", source);
  return r;
}

static unsigned long rows_failed_of_last_digest;

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Regenerate an enumeration, run it on the library, compare block digests.
 * Returns the number of blocks that differ, -1 on a bad file. */
static unsigned long digest_stride = 1; /* check every Nth block */

static long check_digests(check_ctx *ctx, const char *path, unsigned long *vectors) {
  static digest_file d;
  static vec_vector v;
  static char msg[4096];
  char err[256];
  if (digest_read(path, &d, err, sizeof err) != 0) {
    fprintf(stderr, "mmu_conform: %s\n", err);
    return -1;
  }
  if (gen_enumeration_count(d.enumeration, d.caps) != d.count) {
    fprintf(stderr, "mmu_conform: %s: this generator makes %llu vectors of %s, "
                    "the file %llu\n", path,
            (unsigned long long)gen_enumeration_count(d.enumeration, d.caps),
            d.enumeration, (unsigned long long)d.count);
    return -1;
  }
  long bad = 0;
  unsigned long checked_vectors = 0;
  for (uint64_t b = 0; b < d.nblocks; b += digest_stride) {
    digest_state *st = digest_begin();
    int ref_differs = 0;
    if (!st)
      return -1;
    for (uint64_t i = b * d.block; i < d.count && i < (b + 1) * d.block; i++) {
      gen_enumerated(d.enumeration, i, d.caps, d.source, &v);
      v.flags |= d.flags;
      /* the TLB path's outcomes are digested; the reference walker must
       * give the same ones */
      if (check_fill(ctx, &v, CHECK_FAST, msg, sizeof msg) != 1) {
        fprintf(stderr, "mmu_conform: %s", msg);
        digest_end(st);
        return -1;
      }
      if (check_vector(ctx, &v, CHECK_REFERENCE, msg, sizeof msg) != 1) {
        if (!ref_differs++)
          fprintf(stderr, "FAIL %s: the reference walker differs from the TLB "
                          "path:\n%s", path, msg);
      }
      digest_add(st, &v);
      (*vectors)++;
      checked_vectors++;
    }
    uint64_t hash = digest_end(st);
    if (hash != d.hash[b] || ref_differs) {
      if (bad++ < 10)
        fprintf(stderr,
                "FAIL %s: block %llu (vectors %llu..%llu) differs from the "
                "source; see them with: mmu_capture --source %s --enumerate %s "
                "--block %llu --limit %llu --review FILE\n",
                path, (unsigned long long)b, (unsigned long long)(b * d.block),
                (unsigned long long)((b + 1) * d.block - 1), d.source,
                d.enumeration, (unsigned long long)d.block,
                (unsigned long long)((b + 1) * d.block));
    }
  }
  category_row *row = row_for(d.source, d.enumeration);
  unsigned long failed_vectors = (unsigned long)bad * d.block;
  if (failed_vectors > checked_vectors)
    failed_vectors = checked_vectors;
  row->vectors += checked_vectors;
  row->failed += failed_vectors;
  rows_failed_of_last_digest = failed_vectors;
  return bad;
}

int main(int argc, char **argv) {
  int quiet = 0, files = 0, status = 0;
  unsigned long max_report = 20, reported = 0, total = 0, failed = 0;
  check_ctx *ctx = calloc(1, sizeof *ctx);
  uint64_t capacity = 64ull << 20;
  if (!ctx)
    return 2;
  ctx->ram_capacity = capacity;
  ctx->ram = aligned_alloc(4096, capacity);
  if (!ctx->ram)
    return 2;
  memset(ctx->ram, 0, capacity);
  static vec_vector v;
  static char msg[4096];

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
      continue;
    }
    if (strcmp(argv[i], "--digest-stride") == 0 && i + 1 < argc) {
      digest_stride = strtoul(argv[++i], NULL, 10);
      if (digest_stride == 0)
        digest_stride = 1;
      continue;
    }
    if (strcmp(argv[i], "--max-report") == 0 && i + 1 < argc) {
      max_report = strtoul(argv[++i], NULL, 10);
      continue;
    }
    size_t plen = strlen(argv[i]);
    if (plen > 7 && strcmp(argv[i] + plen - 7, ".digest") == 0) {
      unsigned long n = 0;
      long bad = check_digests(ctx, argv[i], &n);
      files++;
      if (bad < 0)
        status = 2;
      total += n;
      if (bad > 0) /* every vector of a differing block counts as failed */
        failed += rows_failed_of_last_digest;
      continue;
    }
    size_t len;
    char *text = read_file(argv[i], &len);
    if (!text) {
      fprintf(stderr, "mmu_conform: cannot read %s\n", argv[i]);
      status = 2;
      continue;
    }
    files++;
    vec_reader r;
    vec_reader_init(&r, text, len);
    int rc;
    while ((rc = vec_read(&r, &v)) == VEC_OK) {
      category_row *row =
          row_for(r.source[0] ? r.source : "?", v.category[0] ? v.category : "(none)");
      row->vectors++;
      row->departs += v.departs[0] != 0;
      total++;
      int bad = 0;
      for (int path = CHECK_FAST; path <= CHECK_REFERENCE; path++) {
        int ok = check_vector(ctx, &v, path, msg, sizeof msg);
        if (ok != 1) {
          bad = 1;
          if (ok < 0)
            status = 2;
          if (reported++ < max_report)
            fprintf(stderr, "FAIL %s:%s", argv[i], msg);
          break;
        }
      }
      if (bad) {
        row->failed++;
        failed++;
      }
    }
    if (rc == VEC_ERROR) {
      fprintf(stderr, "mmu_conform: %s: %s\n", argv[i], r.error);
      status = 2;
    }
    free(text);
  }
  if (files == 0) {
    fprintf(stderr, "usage: mmu_conform [--quiet] [--max-report N] FILE...\n");
    return 2;
  }
  if (!quiet || failed) {
    printf("%-10s %-34s %8s %8s %8s %8s\n", "source", "category", "vectors",
           "passed", "failed", "departs");
    for (unsigned i = 0; i < row_count; i++)
      printf("%-10s %-34s %8lu %8lu %8lu %8lu\n", rows[i].source, rows[i].name,
             rows[i].vectors, rows[i].vectors - rows[i].failed, rows[i].failed,
             rows[i].departs);
  }
  printf("%lu passed, %lu failed\n", total - failed, failed);
  free(ctx->ram);
  free(ctx);
  if (status)
    return status;
  return failed ? 1 : 0;
}
