/* SPDX-License-Identifier: MIT */
/* Conformance vector text format (SPEC.md section 8): the reader's results
 * and errors, writer round trips, and the checker's verdicts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gen.h"
#include "vector.h"

static const char good[] =
    "mmu-vectors 1\n"
    "source hand   # trailing comment\n"
    "meta anything at all\n"
    "\n"
    "vector v-1\n"
    "category perm.user-write\n"
    "departs smap-fetch: example reason\n"
    "config maxphyaddr=40 flags=0x2 ram=0x400000\n"
    "regs cr0=0x80010001 cr3=0x200000 cr4=0x20 efer=0xd00 pkru=0x4 cpl=3 ac=1\n"
    "pte 0x200000 0x201007\n"
    "pte 0x201000 0x202007\n"
    "pte 0x202000 0x203007\n"
    "pte 0x203000 0x300005\n"
    "step read 0x123 -> ok 0x300123\n"
    "ad 0x203000 0x300025\n"
    "step write+implicit 0x123 -> pf 0x3 cr2=0x123\n"
    "observed pf 0x7 cr2=0x123\n"
    "step fetch 0xffff800000000000 -> gp\n"
    "step set-pte 0x203000 0x0\n"
    "step invpcid 1 0x5 0x0\n"
    "step cpl 0\n"
    "end\n";

/* A PAE vector (SPEC 8.1): the PDPTE registers start as the vector's RAM
 * holds them, a PDPTE changed in memory is not seen until a MOV to CR3,
 * and a MOV to CR3 of a table with a reserved PDPTE bit is #GP. */
static const char pae[] =
    "mmu-vectors 1\nvector pae\ncategory pae.pdpte\nconfig ram=0x400000\n"
    "regs cr0=0x80000011 cr3=0x200020 cr4=0x20 efer=0x0 cpl=0\n"
    "pte 0x200020 0x201001\npte 0x201000 0x202003\npte 0x202008 0x300003\n"
    "step read 0x1234 -> ok 0x300234\n"
    "ad 0x201000 0x202023\nad 0x202008 0x300023\n"
    "step set-pte 0x200020 0x0\n"
    "step invlpg 0x1000\n"
    "step read 0x1234 -> ok 0x300234\n"
    "step cr3 0x200020\n"
    "step read 0x1234 -> pf 0x0 cr2=0x1234\n"
    "step set-pte 0x200020 0x201003\n"
    "step cr3 0x200020 -> gp\n"
    "step read 0x1234 -> pf 0x0 cr2=0x1234\n"
    "end\n";

static int read_one(const char *text, vec_vector *v, vec_reader *r) {
  vec_reader_init(r, text, strlen(text));
  return vec_read(r, v);
}

Test(vector_reader, parses_every_line_kind) {
  static vec_vector v;
  vec_reader r;
  cr_assert_eq(read_one(good, &v, &r), VEC_OK, "%s", r.error);
  cr_assert_str_eq(r.source, "hand");
  cr_assert_str_eq(v.id, "v-1");
  cr_assert_str_eq(v.category, "perm.user-write");
  cr_assert_str_eq(v.departs, "smap-fetch: example reason");
  cr_assert_eq(v.maxphyaddr, 40);
  cr_assert_eq(v.flags, 2);
  cr_assert_eq(v.ram_size, 0x400000);
  cr_assert_eq(v.cr0, 0x80010001);
  cr_assert_eq(v.pkru, 4);
  cr_assert_eq(v.cpl, 3);
  cr_assert_eq(v.ac, 1);
  cr_assert_eq(v.pte_count, 4);
  cr_assert_eq(v.pte[3].value, 0x300005);
  cr_assert_eq(v.step_count, 6);
  cr_assert_eq(v.step[0].op, VEC_ACCESS);
  cr_assert_eq(v.step[0].expect.kind, VEC_OUT_OK);
  cr_assert_eq(v.step[0].expect.pa_or_cr2, 0x300123);
  cr_assert_eq(v.step[0].ad_count, 1);
  cr_assert_eq(v.step[1].access, MMU_WRITE | MMU_IMPLICIT);
  cr_assert_eq(v.step[1].expect.kind, VEC_OUT_PF);
  cr_assert_eq(v.step[1].expect.error_code, 3);
  cr_assert_eq(v.step[1].observed.error_code, 7);
  cr_assert_eq(v.step[2].expect.kind, VEC_OUT_GP);
  cr_assert_eq(v.step[3].op, VEC_SET_PTE);
  cr_assert_eq(v.step[4].op, VEC_INVPCID);
  cr_assert_eq(v.step[4].b, 5);
  cr_assert_eq(v.step[5].op, VEC_CPL);
  cr_assert_eq(vec_read(&r, &v), VEC_EOF);
  cr_assert_eq(r.count, 1);
}

/* a written out and read back is a */
static void write_read(const vec_vector *a) {
  static vec_vector b;
  vec_reader r;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  fprintf(f, "mmu-vectors 1\nsource hand\n");
  vec_write(f, a);
  fclose(f);
  vec_reader_init(&r, buf, len);
  cr_assert_eq(vec_read(&r, &b), VEC_OK, "%s", r.error);
  cr_assert_eq(memcmp(a, &b, sizeof b), 0, "%s", buf);
  free(buf);
}

static void roundtrip(const char *text) {
  static vec_vector a;
  vec_reader r;
  cr_assert_eq(read_one(text, &a, &r), VEC_OK, "%s", r.error);
  write_read(&a);
}

Test(vector_reader, write_then_read_is_identity) {
  roundtrip(good);
  roundtrip(pae); /* register steps that #GP */
}

/* Each malformed input gives VEC_ERROR and names the line. */
static void expect_error(const char *text, const char *line_and_words) {
  static vec_vector v;
  vec_reader r;
  vec_reader_init(&r, text, strlen(text));
  int rc;
  while ((rc = vec_read(&r, &v)) == VEC_OK)
    ;
  cr_assert_eq(rc, VEC_ERROR, "accepted: %s", text);
  cr_assert(strstr(r.error, line_and_words) != NULL, "error '%s' lacks '%s'",
            r.error, line_and_words);
}

#define HDR "mmu-vectors 1\nvector x\n"
Test(vector_reader, rejects_malformed_input) {
  expect_error("", "empty input");
  expect_error("mmu-vectors 2\n", "line 1: unsupported format version 2");
  expect_error("hello\n", "line 1: file must start");
  expect_error(HDR "step read 0x1 -> okk\n", "line 3: unknown outcome 'okk'");
  expect_error(HDR "step read 0x1 -> ok\n", "line 3: ok needs a physical address");
  expect_error(HDR "step read 0x1 -> pf 0x4\n", "line 3: pf needs cr2=");
  expect_error(HDR "step read 0x1 ok 0x1\n", "line 3: expected '->'");
  expect_error(HDR "step jump 0x1\n", "line 3: unknown step 'jump'");
  expect_error(HDR "step invpcid 1 2\n", "line 3: invpcid needs 3 numbers");
  expect_error(HDR "pte 0x1001 0x5\n", "line 3: pte address not 8-byte aligned");
  expect_error(HDR "pte 0x1000\n", "line 3: pte needs");
  expect_error(HDR "regs cr0=0x1 cpl=4\n", "line 3: bad register item 'cpl=4'");
  expect_error(HDR "config maxphyaddr=60\n", "line 3: bad config item");
  expect_error(HDR "config ram=0x1001\n", "line 3: bad config item");
  expect_error(HDR "ad 0x0 0x0\n", "line 3: ad must follow an access step");
  expect_error(HDR "observed gp\n", "line 3: observed must follow");
  expect_error(HDR "step read 0x1 -> gp extra\n", "line 3: unexpected text");
  expect_error(HDR "step read 0x10000000000000000 -> gp\n", "line 3: access needs");
  expect_error(HDR "step read 0x1 -> gp\n", "vector 'x' has no 'end'");
  expect_error(HDR "end\n", "line 3: vector 'x' has no steps");
  expect_error(HDR "bogus\n", "line 3: unknown line 'bogus'");
  expect_error("mmu-vectors 1\nstep read 0x1 -> gp\n", "line 2: expected 'vector'");
  expect_error("mmu-vectors 1\nvector\n", "line 2: missing text");
  expect_error(HDR "category a\001b\n", "line 3: control character");
  expect_error(HDR "regs cpl=3\nregs cpl=0\n", "line 4: second 'regs' line");
  expect_error(HDR "category a\ncategory b\n", "line 4: second 'category' line");
  expect_error(HDR "step set-pte 0x8 0x1 -> gp\n", "line 3: set-pte has no outcome");
  expect_error(HDR "step cr3 0x1000 -> ok 0x1\n", "line 3: cr3 can only end in '-> gp'");
  expect_error(HDR "step cr3 0x1000 -> gp 1\n", "line 3: unexpected text");
}

Test(vector_reader, rejects_nul_bytes_and_overlong_tokens) {
  static vec_vector v;
  vec_reader r;
  const char text[] = "mmu-vectors 1\nvector x\0y\n";
  vec_reader_init(&r, text, sizeof text - 1);
  cr_assert_eq(vec_read(&r, &v), VEC_ERROR);
  cr_assert(strstr(r.error, "line 2: NUL byte"));

  char long_line[256];
  memset(long_line, 'a', sizeof long_line);
  memcpy(long_line, "mmu-vectors 1\n", 14);
  long_line[sizeof long_line - 1] = '\n';
  vec_reader_init(&r, long_line, sizeof long_line);
  cr_assert_eq(vec_read(&r, &v), VEC_ERROR);
  cr_assert(strstr(r.error, "line 2: token too long"), "%s", r.error);
}

Test(vector_reader, enforces_array_bounds) {
  /* 65 pte lines: one more than VEC_MAX_PTES */
  static char text[8192];
  size_t n = (size_t)snprintf(text, sizeof text, HDR);
  for (int i = 0; i <= VEC_MAX_PTES; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "pte 0x%x 0x1\n", i * 8);
  expect_error(text, "more than 64 pte lines");
  n = (size_t)snprintf(text, sizeof text, HDR);
  for (int i = 0; i <= VEC_MAX_STEPS; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "step cpl 0\n");
  expect_error(text, "more than 16 steps");
}

/* ---- the checker -------------------------------------------------------- */

static check_ctx *new_ctx(void) {
  check_ctx *ctx = calloc(1, sizeof *ctx);
  ctx->ram_capacity = 4u << 20;
  ctx->ram = aligned_alloc(4096, ctx->ram_capacity);
  memset(ctx->ram, 0, ctx->ram_capacity);
  return ctx;
}

static void free_ctx(check_ctx *ctx) {
  free(ctx->ram);
  free(ctx);
}

static const char walk[] =
    "mmu-vectors 1\nvector w\ncategory t\nconfig maxphyaddr=46 ram=0x400000\n"
    "regs cr0=0x80010001 cr3=0x200000 cr4=0x20 efer=0xd00 cpl=3\n"
    "pte 0x200000 0x201007\npte 0x201000 0x202007\npte 0x202000 0x203007\n"
    "pte 0x203000 0x300005\n";

/* Read one whole vector and run it on one path. */
static int check_whole(const char *text, int path, char *msg, size_t n) {
  static vec_vector v;
  vec_reader r;
  vec_reader_init(&r, text, strlen(text));
  cr_assert_eq(vec_read(&r, &v), VEC_OK, "%s", r.error);
  check_ctx *ctx = new_ctx();
  int rc = check_vector(ctx, &v, path, msg, n);
  free_ctx(ctx);
  return rc;
}

/* The walk above with these steps. */
static int check_text(const char *steps, int path, char *msg, size_t n) {
  static char text[4096];
  snprintf(text, sizeof text, "%s%send\n", walk, steps);
  return check_whole(text, path, msg, n);
}

static const char right_steps[] =
    "step read 0x123 -> ok 0x300123\n"
    "ad 0x200000 0x201027\nad 0x201000 0x202027\nad 0x202000 0x203027\n"
    "ad 0x203000 0x300025\n"
    "step write 0x123 -> pf 0x7 cr2=0x123\n";

Test(checker, passes_a_right_vector_on_both_paths) {
  char msg[2048];
  cr_assert_eq(check_text(right_steps, CHECK_FAST, msg, sizeof msg), 1, "%s", msg);
  cr_assert_eq(check_text(right_steps, CHECK_REFERENCE, msg, sizeof msg), 1, "%s", msg);
}

Test(checker, catches_a_wrong_address) {
  char msg[2048];
  cr_assert_eq(check_text("step read 0x123 -> ok 0x300124\n"
                          "ad 0x200000 0x201027\nad 0x201000 0x202027\n"
                          "ad 0x202000 0x203027\nad 0x203000 0x300025\n",
                          CHECK_FAST, msg, sizeof msg),
               0);
  cr_assert(strstr(msg, "got ok 0x300123, expected ok 0x300124"), "%s", msg);
  cr_assert(strstr(msg, "L1 entry at 0x203000"), "%s", msg);
}

Test(checker, catches_a_missing_accessed_bit) {
  char msg[2048];
  /* the leaf's A is not listed: the library sets it, so this must fail */
  cr_assert_eq(check_text("step read 0x123 -> ok 0x300123\n"
                          "ad 0x200000 0x201027\nad 0x201000 0x202027\n"
                          "ad 0x202000 0x203027\n",
                          CHECK_REFERENCE, msg, sizeof msg),
               0);
  cr_assert(strstr(msg, "entry at 0x203000 is 0x300025, expected 0x300005"), "%s", msg);
}

Test(checker, catches_a_wrong_error_code) {
  char msg[2048];
  cr_assert_eq(check_text("step write 0x123 -> pf 0x5 cr2=0x123\n", CHECK_FAST, msg,
                          sizeof msg),
               0);
  cr_assert(strstr(msg, "got pf 0x7 cr2=0x123, expected pf 0x5"), "%s", msg);
}

Test(checker, rejects_entries_outside_ram) {
  char msg[2048];
  static vec_vector v;
  vec_reader r;
  const char *text = "mmu-vectors 1\nvector o\nconfig ram=0x1000\n"
                     "pte 0x2000 0x1\nstep cpl 0\nend\n";
  vec_reader_init(&r, text, strlen(text));
  cr_assert_eq(vec_read(&r, &v), VEC_OK);
  check_ctx *ctx = new_ctx();
  cr_assert_eq(check_vector(ctx, &v, CHECK_FAST, msg, sizeof msg), -1);
  cr_assert(strstr(msg, "outside RAM"), "%s", msg);
  free_ctx(ctx);
}


Test(checker, pae_vectors_hold_the_pdpte_registers) {
  char msg[2048];
  cr_assert_eq(check_whole(pae, CHECK_FAST, msg, sizeof msg), 1, "%s", msg);
  cr_assert_eq(check_whole(pae, CHECK_REFERENCE, msg, sizeof msg), 1, "%s", msg);
  /* a MOV to CR3 the vector says succeeds while the library says #GP */
  static char wrong[2048];
  snprintf(wrong, sizeof wrong, "%s", pae);
  char *gp = strstr(wrong, "step cr3 0x200020 -> gp\n");
  memcpy(gp, "step cr3 0x200020      \n", strlen("step cr3 0x200020 -> gp\n"));
  cr_assert_eq(check_whole(wrong, CHECK_FAST, msg, sizeof msg), 0);
  cr_assert(strstr(msg, "the library says #GP"), "%s", msg);
}

/* ---- nested vectors (SPEC 8.2 'nested', 10) ------------------------------ */

/* A guest with paging off under EPT: gpa 0x1000 maps to 0x300000 through
 * a 4-level EPT at 0x200000 with A/D on; gpa 0x2000 is not mapped. */
static const char ept[] =
    "mmu-vectors 1\nvector e\ncategory ept.off\nconfig maxphyaddr=40 ram=0x400000\n"
    "regs cr0=0x11 cr3=0x0 cr4=0x0 efer=0x0 cpl=0\n"
    "nested ept root=0x20005e flags=0x1\n"
    "pte 0x200000 0x201007\npte 0x201000 0x202007\npte 0x202000 0x203007\n"
    "pte 0x203008 0x300037\n"
    "step read 0x1010 -> ok 0x300010\n"
    "ad 0x200000 0x201107\nad 0x201000 0x202107\nad 0x202000 0x203107\n"
    "ad 0x203008 0x300137\n"
    "step write 0x2008 -> ept-violation 0x182 gpa=0x2008\n"
    "step write 0x1010 -> ok 0x300010\n"
    "ad 0x203008 0x300337\n"
    "step set-pte 0x203008 0x300017\n"
    "step invlpg 0x1000\n"
    "step read 0x1010 -> ept-misconfig gpa=0x1010\n"
    "end\n";

Test(nested_vectors, parse_write_read_and_hold_on_both_paths) {
  roundtrip(ept);
  char msg[2048];
  cr_assert_eq(check_whole(ept, CHECK_FAST, msg, sizeof msg), 1, "%s", msg);
  cr_assert_eq(check_whole(ept, CHECK_REFERENCE, msg, sizeof msg), 1, "%s", msg);
  /* a wrong qualification is caught and shown in the vector's words */
  static char wrong[2048];
  snprintf(wrong, sizeof wrong, "%s", ept);
  memcpy(strstr(wrong, "0x182"), "0x082", 5);
  cr_assert_eq(check_whole(wrong, CHECK_FAST, msg, sizeof msg), 0);
  cr_assert(strstr(msg, "got ept-violation 0x182 gpa=0x2008, expected "
                        "ept-violation 0x82 gpa=0x2008"), "%s", msg);
  expect_error("mmu-vectors 1\nvector x\nnested vmx root=0x1000\n", "ept or npt");
  expect_error("mmu-vectors 1\nvector x\nnested ept root=0x1000 asid=1\n",
               "bad nested item");
  expect_error("mmu-vectors 1\nvector x\nstep read 0x0 -> npf 0x100000004\n",
               "gpa=ADDRESS");
  expect_error("mmu-vectors 1\nvector x\nstep read 0x0 -> ept-violation gpa=0x0\n",
               "exit qualification");
}

/* Generated ept and npt vectors (and ept-pae, npt-pae: a PAE guest),
 * outcomes from the TLB path: the reference walker agrees with every one,
 * the text form keeps them, and the outcomes cover what the categories
 * are for. */
static void generated_agree(const char *category, unsigned caps) {
  check_ctx *ctx = calloc(1, sizeof *ctx);
  ctx->ram_capacity = 64u << 20;
  ctx->ram = aligned_alloc(4096, ctx->ram_capacity);
  memset(ctx->ram, 0, ctx->ram_capacity);
  static vec_vector v;
  unsigned seen[8] = {0}, ad = 0, tables = 0, paging = 0, rsvd = 0;
  char msg[4096];
  for (uint64_t i = 0; i < 2000; i++) {
    cr_assert_eq(gen_vector(category, 7, i, caps, "t", &v), 1);
    cr_assert_eq(check_fill(ctx, &v, CHECK_FAST, msg, sizeof msg), 1, "%s", msg);
    cr_assert_eq(check_vector(ctx, &v, CHECK_REFERENCE, msg, sizeof msg), 1,
                 "%s", msg);
    write_read(&v);
    paging += (v.cr0 & MMU_CR0_PG) != 0;
    for (uint32_t s = 0; s < v.step_count; s++) {
      const vec_step *st = &v.step[s];
      if (st->op != VEC_ACCESS)
        continue;
      seen[st->expect.kind]++;
      ad += st->ad_count != 0;
      rsvd += st->expect.kind == VEC_OUT_PF && (st->expect.error_code & MMU_PFEC_RSVD);
      tables += (st->expect.kind == VEC_OUT_EPT_VIOLATION &&
                 !(st->expect.qual & MMU_EPTQ_FINAL)) ||
                (st->expect.kind == VEC_OUT_NPF &&
                 (st->expect.qual & MMU_NPF_TABLE));
    }
  }
  int is_ept = strncmp(category, "ept", 3) == 0;
  int guest_pae = strstr(category, "-pae") != NULL;
  cr_log_info("%s: ok %u pf %u (rsvd %u) violation %u misconfig %u npf %u, "
              "A/D %u, guest-table exits %u, guest paging %u of 2000",
              category, seen[VEC_OUT_OK], seen[VEC_OUT_PF], rsvd,
              seen[VEC_OUT_EPT_VIOLATION], seen[VEC_OUT_EPT_MISCONFIG],
              seen[VEC_OUT_NPF], ad, tables, paging);
  cr_assert_gt(seen[VEC_OUT_OK], 300);
  cr_assert_gt(seen[VEC_OUT_PF], 50);
  cr_assert_gt(is_ept ? seen[VEC_OUT_EPT_VIOLATION] : seen[VEC_OUT_NPF], 300);
  if (is_ept)
    cr_assert_gt(seen[VEC_OUT_EPT_MISCONFIG], 100);
  cr_assert_gt(ad, 500);
  cr_assert_gt(tables, 30);
  if (guest_pae)
    cr_assert(paging == 2000 && rsvd > 50);
  else
    cr_assert(paging > 600 && paging < 1400);
  free(ctx->ram);
  free(ctx);
}

Test(nested_vectors, generated_ept_vectors_agree_on_both_paths) {
  generated_agree("ept", GEN_CAP_EPT | GEN_CAP_1G | GEN_CAP_PHYS40);
}

Test(nested_vectors, generated_npt_vectors_agree_on_both_paths) {
  generated_agree("npt", GEN_CAP_NPT | GEN_CAP_1G);
}

Test(nested_vectors, generated_ept_pae_vectors_agree_on_both_paths) {
  generated_agree("ept-pae", GEN_CAP_EPT | GEN_CAP_PAE | GEN_CAP_1G | GEN_CAP_PHYS40);
}

Test(nested_vectors, generated_npt_pae_vectors_agree_on_both_paths) {
  generated_agree("npt-pae", GEN_CAP_NPT | GEN_CAP_PAE | GEN_CAP_1G);
}
