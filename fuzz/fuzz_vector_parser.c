/* SPDX-License-Identifier: MIT */
/* fuzz_vector_parser.c - the conformance-vector text reader on any bytes.
 *
 * vec_reader_init / vec_read run until EOF or an error. An error must come
 * with a clear message: NUL-terminated, non-empty, "line N: ..." with N the
 * reader's line. Never a crash, never a read past the input (the engines
 * hand over exactly sized buffers). Every vector read is written back with
 * vec_write and read again: it must come back identical, and writing it a
 * second time must give the same text. Then each vector that fits in 1 MiB
 * of RAM is run through conformance/check.c on both paths, for crashes in
 * the runner or the library on arbitrary states (outcomes not compared: a
 * fuzzed vector may expect anything). */
#define _GNU_SOURCE /* open_memstream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_common.h"
#include "vector.h"

#define VP_MAX_VECTORS 64
#define VP_CHECK_RAM (1u << 20)

/* Text of one vector as vec_write gives it, after a file header. */
static char *vp_write(const vec_vector *v, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f)
    fz_fail("open_memstream failed");
  fputs("mmu-vectors 1\n", f);
  vec_write(f, v);
  if (fclose(f) != 0 || !buf)
    fz_fail("open_memstream failed");
  return buf;
}

static void vp_check_error(const vec_reader *r) {
  FZ_CHECK(memchr(r->error, 0, sizeof r->error) != NULL,
           "reader error message is not NUL-terminated");
  char prefix[48];
  snprintf(prefix, sizeof prefix, "line %lu: ", r->line);
  FZ_CHECK(strncmp(r->error, prefix, strlen(prefix)) == 0,
           "reader error '%s' does not start with '%s'", r->error, prefix);
  FZ_CHECK(strlen(r->error) > strlen(prefix),
           "reader error '%s' says nothing after the line number", r->error);
}

static void vp_clear_tail(char *text, size_t n) {
  size_t len = strnlen(text, n);
  if (len < n)
    memset(text + len, 0, n - len);
}

static void vp_normalize(vec_vector *v) {
  vp_clear_tail(v->id, sizeof v->id);
  vp_clear_tail(v->category, sizeof v->category);
  vp_clear_tail(v->departs, sizeof v->departs);
}

static void vp_round_trip(const vec_vector *v) {
  static vec_vector back;
  size_t len1 = 0, len2 = 0;
  char *text1 = vp_write(v, &len1);
  vec_reader r;
  vec_reader_init(&r, text1, len1);
  memset(&back, 0, sizeof back);
  int rc = vec_read(&r, &back);
  if (rc != VEC_OK)
    fz_fail("vector '%s' written by vec_write does not read back: %d %s\n"
            "---- text ----\n%s",
            v->id, rc, rc == VEC_ERROR ? r.error : "", text1);
  static vec_vector extra;
  rc = vec_read(&r, &extra);
  if (rc != VEC_EOF)
    fz_fail("vector '%s' written by vec_write reads back as more than one "
            "vector (%d %s)\n---- text ----\n%s",
            v->id, rc, rc == VEC_ERROR ? r.error : "", text1);
  /* vec_read zeroes the vector (and each step) before filling it, so the
   * two structs must be equal byte for byte, once the bytes after the NUL
   * of the text fields are cleared (a repeated 'category' line leaves the
   * tail of the longer first value there) */
  static vec_vector norm;
  norm = *v;
  vp_normalize(&norm);
  vp_normalize(&back);
  if (memcmp(&norm, &back, sizeof back) != 0) {
    size_t at = 0;
    while (at < sizeof back &&
           ((const uint8_t *)&norm)[at] == ((const uint8_t *)&back)[at])
      at++;
    fz_fail("vector '%s' changes in a write/read round trip (first "
            "difference at byte %zu of vec_vector)\n---- text ----\n%s",
            v->id, at, text1);
  }
  char *text2 = vp_write(&back, &len2);
  if (len1 != len2 || memcmp(text1, text2, len1) != 0)
    fz_fail("vec_write is not stable for '%s'\n---- first ----\n%s"
            "---- second ----\n%s",
            v->id, text1, text2);
  free(text1);
  free(text2);
}

/* Run the vector on both paths with RAM of exactly its size. */
static void vp_run(const vec_vector *v) {
  if (v->ram_size > VP_CHECK_RAM)
    return;
  static check_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.ram = (uint8_t *)calloc(1, (size_t)v->ram_size);
  if (!ctx.ram)
    fz_fail("out of memory");
  ctx.ram_capacity = v->ram_size;
  char msg[2048];
  for (int path = CHECK_FAST; path <= CHECK_REFERENCE; path++) {
    int rc = check_vector(&ctx, v, path, msg, sizeof msg);
    FZ_CHECK(rc == 1 || rc == 0 || rc == -1, "check_vector returned %d", rc);
    FZ_CHECK(memchr(msg, 0, sizeof msg) != NULL, "check_vector message");
  }
  free(ctx.ram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vec_vector v;
  vec_reader r;
  vec_reader_init(&r, (const char *)data, size);
  for (int n = 0; n < VP_MAX_VECTORS; n++) {
    unsigned long line_before = r.line;
    int rc = vec_read(&r, &v);
    if (rc == VEC_EOF)
      break;
    if (rc == VEC_ERROR) {
      vp_check_error(&r);
      break;
    }
    FZ_CHECK(rc == VEC_OK, "vec_read returned %d", rc);
    FZ_CHECK(r.line > line_before && r.pos <= r.len,
             "vec_read made no progress (line %lu, pos %zu of %zu)", r.line,
             r.pos, r.len);
    FZ_CHECK(v.step_count >= 1 && v.step_count <= VEC_MAX_STEPS &&
                 v.pte_count <= VEC_MAX_PTES,
             "vector '%s': %u steps, %u ptes", v.id, v.step_count,
             v.pte_count);
    FZ_CHECK(memchr(v.id, 0, sizeof v.id) && memchr(v.category, 0, sizeof v.category) &&
                 memchr(v.departs, 0, sizeof v.departs),
             "vector text fields not NUL-terminated");
    vp_round_trip(&v);
    vp_run(&v);
  }
  return 0;
}
