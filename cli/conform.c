/* SPDX-License-Identifier: MIT */
/* mmu conform - run conformance vector files against the library, on both
 * the TLB path (mmu_translate) and the reference walker, and print a
 * pass/fail table by source and category (SPEC.md 8.3). Any vector file
 * can be given, so a fork can run its own captures. A FILE ending in
 * .digest holds block digests of an enumeration (SPEC.md 8.4): its vectors
 * are regenerated, run on both paths and digested. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#ifdef MMU_CLI_HAVE_XXHASH
#include "digest.h"
#include "gen.h"
#endif

static const char conform_usage[] =
    "usage: mmu conform [--quiet] [--max-report N] [--digest-stride N] FILE...\n"
    "\n"
    "Runs every vector of each FILE on the TLB path (mmu_translate) and on the\n"
    "reference walker and prints a pass/fail table by source and category.\n"
    "A FILE ending in .digest holds block digests of an enumeration: its\n"
    "vectors are regenerated, run on both paths and digested. A failing\n"
    "vector is reported as FILE:LINE: with the step, both outcomes and the\n"
    "'mmu walk FILE ID --step N' that explains the step.\n"
    "\n"
    "  --quiet            print the table only when a vector fails\n"
    "  --max-report N     explain at most N failing vectors (default 20)\n"
    "  --digest-stride N  check every Nth block of a .digest file (default 1)\n"
    "\n"
    "exit status: 0 every vector agrees, 1 a vector disagrees,\n"
    "2 bad usage or a file that cannot be read or parsed (FILE:LINE: why).\n";

#define CONFORM_MAX_CATEGORIES 512
#define CONFORM_RAM (64ull << 20) /* what every checked-in vector declares */

typedef struct conform_row {
  char category[VEC_MAX_TEXT];
  char source[VEC_MAX_TEXT];
  unsigned long vectors, failed, departs;
} conform_row;

typedef struct conform_run {
  check_ctx *ctx;
  int quiet;
  uint64_t max_report, digest_stride;
  unsigned long reported, total, failed;
  int input_error; /* a file could not be read or parsed */
  conform_row rows[CONFORM_MAX_CATEGORIES];
  unsigned row_count;
  char msg[4096];
} conform_run;

static conform_row *conform_row_for(conform_run *run, const char *source,
                                    const char *category) {
  for (unsigned i = 0; i < run->row_count; i++)
    if (strcmp(run->rows[i].category, category) == 0 &&
        strcmp(run->rows[i].source, source) == 0)
      return &run->rows[i];
  if (run->row_count == CONFORM_MAX_CATEGORIES) /* the last row takes the rest */
    return &run->rows[CONFORM_MAX_CATEGORIES - 1];
  conform_row *row = &run->rows[run->row_count++];
  snprintf(row->category, sizeof row->category, "%s", category);
  snprintf(row->source, sizeof row->source, "%s", source);
  return row;
}

/* The checker's report without its last newline, for cli_file_error. */
static const char *conform_trimmed(char *msg) {
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = 0;
  return msg;
}

static void conform_vectors(conform_run *run, const char *path) {
  static vec_vector v;
  size_t len;
  char *text = cli_read_file(path, &len);
  if (!text) {
    cli_file_error(path, 0, "cannot read: %s", strerror(errno));
    run->input_error = 1;
    return;
  }
  vec_reader r;
  vec_reader_init(&r, text, len);
  int rc;
  while ((rc = vec_read(&r, &v)) == VEC_OK) {
    conform_row *row = conform_row_for(run, r.source[0] ? r.source : "?",
                                       v.category[0] ? v.category : "(none)");
    row->vectors++;
    row->departs += v.departs[0] != 0;
    run->total++;
    for (int path_kind = CHECK_FAST; path_kind <= CHECK_REFERENCE; path_kind++) {
      int ok = check_vector(run->ctx, &v, path_kind, run->msg, sizeof run->msg);
      if (ok == 1)
        continue;
      row->failed++;
      run->failed++;
      if (ok < 0) { /* the vector cannot be run: a bad file, not a bad library */
        run->input_error = 1;
        cli_file_error(path, r.vector_line, "%s", conform_trimmed(run->msg));
      } else if (run->reported++ < run->max_report) {
        cli_file_error(path, r.vector_line, "FAIL %s", conform_trimmed(run->msg));
        fprintf(stderr, "  explained: mmu walk %s %s --step %u\n", path, v.id,
                (unsigned)run->ctx->failed_step);
      }
      break;
    }
  }
  if (rc == VEC_ERROR) {
    cli_file_error(path, r.line, "%s", vec_error_text(&r));
    run->input_error = 1;
  }
  free(text);
}

#ifdef MMU_CLI_HAVE_XXHASH
/* Regenerate an enumeration, run it on the library, compare block digests.
 * Every vector of a differing block counts as failed. */
static void conform_digests(conform_run *run, const char *path) {
  static digest_file d;
  static vec_vector v;
  char err[256];
  if (digest_read(path, &d, err, sizeof err) != 0) {
    unsigned long line = 0;
    const char *what = err;
    if (sscanf(err, "line %lu: ", &line) == 1 && strstr(err, ": "))
      what = strstr(err, ": ") + 2;
    cli_file_error(path, line, "%s", what);
    run->input_error = 1;
    return;
  }
  uint64_t count = gen_enumeration_count(d.enumeration, d.caps);
  if (count != d.count) {
    cli_file_error(path, 0, "this generator makes %llu vectors of %s, the file %llu",
                   (unsigned long long)count, d.enumeration,
                   (unsigned long long)d.count);
    run->input_error = 1;
    return;
  }
  unsigned long bad_blocks = 0, checked = 0, failed = 0;
  for (uint64_t b = 0; b < d.nblocks; b += run->digest_stride) {
    digest_state *st = digest_begin();
    int reference_differs = 0;
    unsigned long in_block = 0;
    if (!st) {
      cli_error("conform", "out of memory");
      run->input_error = 1;
      return;
    }
    for (uint64_t i = b * d.block; i < d.count && i < (b + 1) * d.block; i++) {
      gen_enumerated(d.enumeration, i, d.caps, d.source, &v);
      v.flags |= d.flags;
      /* the TLB path's outcomes are digested; the reference walker must
       * give the same ones */
      if (check_fill(run->ctx, &v, CHECK_FAST, run->msg, sizeof run->msg) != 1) {
        cli_file_error(path, 0, "%s", conform_trimmed(run->msg));
        digest_end(st);
        run->input_error = 1;
        return;
      }
      if (check_vector(run->ctx, &v, CHECK_REFERENCE, run->msg, sizeof run->msg) != 1 &&
          !reference_differs++ && run->reported++ < run->max_report)
        cli_file_error(path, 0, "FAIL the reference walker differs from the TLB path: %s",
                       conform_trimmed(run->msg));
      digest_add(st, &v);
      in_block++;
    }
    checked += in_block;
    if (digest_end(st) != d.hash[b] || reference_differs) {
      failed += in_block;
      if (bad_blocks++ < 10)
        cli_file_error(path, 0,
                       "FAIL block %llu (vectors %llu..%llu) differs from the "
                       "source; see them with: mmu_capture --source %s --enumerate %s "
                       "--block %llu --limit %llu --review FILE",
                       (unsigned long long)b, (unsigned long long)(b * d.block),
                       (unsigned long long)((b + 1) * d.block - 1), d.source,
                       d.enumeration, (unsigned long long)d.block,
                       (unsigned long long)((b + 1) * d.block));
    }
  }
  conform_row *row = conform_row_for(run, d.source, d.enumeration);
  row->vectors += checked;
  row->failed += failed;
  run->total += checked;
  run->failed += failed;
}
#else
static void conform_digests(conform_run *run, const char *path) {
  cli_file_error(path, 0, "cannot check digest files: this mmu was built "
                          "without libxxhash (XXH3)");
  run->input_error = 1;
}
#endif

static int conform_is_digest(const char *path) {
  size_t n = strlen(path);
  return n > 7 && strcmp(path + n - 7, ".digest") == 0;
}

/* A numeric option's value: a whole number, at least min. */
static int conform_number(const char *option, const char *value, uint64_t min,
                          uint64_t *out) {
  if (!value) {
    cli_error("conform", "%s needs a number", option);
    return 0;
  }
  if (!cli_parse_u64(value, 0, out) || *out < min) {
    cli_error("conform", "%s: '%s' is not a number of at least %llu", option,
              value, (unsigned long long)min);
    return 0;
  }
  return 1;
}

static void conform_table(const conform_run *run) {
  printf("%-10s %-34s %8s %8s %8s %8s\n", "source", "category", "vectors",
         "passed", "failed", "departs");
  for (unsigned i = 0; i < run->row_count; i++) {
    const conform_row *row = &run->rows[i];
    printf("%-10s %-34s %8lu %8lu %8lu %8lu\n", row->source, row->category,
           row->vectors, row->vectors - row->failed, row->failed, row->departs);
  }
}

int cli_conform(int argc, char **argv) {
  static conform_run run;
  memset(&run, 0, sizeof run);
  run.max_report = 20;
  run.digest_stride = 1;
  int options_done = 0;
  /* options first, anywhere on the line; files in order after */
  char **files = calloc((size_t)argc, sizeof *files);
  int file_count = 0;
  if (!files)
    return CLI_BAD_INPUT;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
      files[file_count++] = argv[i];
    } else if (strcmp(arg, "--") == 0) {
      options_done = 1;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(conform_usage, stdout);
      free(files);
      return CLI_OK;
    } else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
      run.quiet = 1;
    } else if (strcmp(arg, "--max-report") == 0) {
      if (!conform_number(arg, i + 1 < argc ? argv[++i] : NULL, 0, &run.max_report))
        goto usage;
    } else if (strcmp(arg, "--digest-stride") == 0) {
      if (!conform_number(arg, i + 1 < argc ? argv[++i] : NULL, 1,
                          &run.digest_stride))
        goto usage;
    } else {
      cli_error("conform", "unknown option '%s'", arg);
      goto usage;
    }
  }
  if (file_count == 0) {
    cli_error("conform", "no FILE given");
    goto usage;
  }

  run.ctx = calloc(1, sizeof *run.ctx);
  if (run.ctx) {
    run.ctx->ram_capacity = CONFORM_RAM;
    run.ctx->ram = aligned_alloc(4096, CONFORM_RAM);
  }
  if (!run.ctx || !run.ctx->ram) {
    cli_error("conform", "cannot allocate %llu MiB of guest RAM",
              (unsigned long long)(CONFORM_RAM >> 20));
    free(run.ctx);
    free(files);
    return CLI_BAD_INPUT;
  }
  memset(run.ctx->ram, 0, CONFORM_RAM);

  for (int i = 0; i < file_count; i++) {
    if (conform_is_digest(files[i]))
      conform_digests(&run, files[i]);
    else
      conform_vectors(&run, files[i]);
  }
  if ((!run.quiet || run.failed) && run.row_count)
    conform_table(&run);
  printf("%lu passed, %lu failed\n", run.total - run.failed, run.failed);
  free(run.ctx->ram);
  free(run.ctx);
  free(files);
  if (run.input_error)
    return CLI_BAD_INPUT;
  return run.failed ? CLI_FAILED : CLI_OK;

usage:
  fprintf(stderr, "usage: mmu conform [--quiet] [--max-report N] "
                  "[--digest-stride N] FILE...\n");
  free(files);
  return CLI_BAD_INPUT;
}
