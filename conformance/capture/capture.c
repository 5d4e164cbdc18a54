/* SPDX-License-Identifier: MIT */
/* mmu_capture - capture conformance vectors from an independent x86
 * implementation (KVM, QEMU TCG), mark where it departs from the SDM, and
 * re-check checked-in vectors against it.
 *
 *   mmu_capture --source kvm [--seed N] [--count N] [--category NAME]...
 *               [--out FILE] [--review FILE]
 *   mmu_capture --source kvm --check FILE... [--limit N] [--digest-stride N]
 *   mmu_capture --source kvm --enumerate access-all --digest-out FILE
 *               [--block N] [--review FILE] [--limit N --text FILE]
 *   mmu_capture --source qemu --cross FILE...   (vectors of another source)
 *   mmu_capture --list
 *
 * Sources are capture_source objects (source.h: kvm.c, qemu.c, bochs.c); this file
 * knows them only through that interface.
 *
 * Capture: the generator (gen.c) makes vectors without outcomes, the source
 * fills them, the source's detectors (departures.c) re-run the vectors a
 * known departure explains (the SDM's outcome becomes the vector's, the
 * source's is kept as 'observed'), and every vector is then run on the
 * library's reference walker. A disagreement no detector explains is not
 * written to the output: it goes to the review file and the exit status is
 * 3, so a person settles it against the SDM (a library bug, or a new
 * departure to detect).
 *
 * Check: re-captures each vector of the files whose source matches and
 * compares with what the file says. Without the source (no /dev/kvm, no
 * qemu-system-x86_64 on PATH) it says that re-capture was skipped and
 * exits with 77 (MMU_CAPTURE_SKIPPED, ctest's SKIP_RETURN_CODE); a source
 * that is there but fails to start is an error (2). MMU_KVM_DEVICE and
 * QEMU_SYSTEM_X86_64 name another device or binary.
 *
 * Exit status: 0 done (and, for --check, all agree), 1 differences, 2
 * errors, 3 vectors left for review, 77 skipped. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "../digest.h"
#include "../gen.h"
#include "guest.h"
#include "source.h"

#define MMU_CAPTURE_SKIPPED 77
#define CAPTURE_BATCH 1024 /* vectors per source run (QEMU: per boot) */

/* ---- sources ------------------------------------------------------------ */

static capture_source *const sources[] = {
    &capture_kvm,
#ifdef MMU_CAPTURE_QEMU
    &capture_qemu,
#endif
#ifdef MMU_CAPTURE_BOCHS
    &capture_bochs,
#endif
};

static capture_source *find_source(const char *name) {
  for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
    if (strcmp(sources[i]->name, name) == 0)
      return sources[i];
  return NULL;
}

/* ---- running vectors ---------------------------------------------------- */

static check_ctx *ctx; /* the library's side */

/* v as this source's CPU runs it: the configuration a CPU implies (AMD's
 * reserved bits, A on faulting walks, 1 GiB pages) replaced by this
 * source's, outcomes cleared. */
static void as_this_cpu(const capture_source *s, const vec_vector *v, vec_vector *out) {
  *out = *v;
  capture_clear_outcomes(out);
  out->flags = (v->flags & ~(unsigned)(MMU_CFG_AMD | MMU_CFG_AD_ON_FAULT_UPPER |
                                       MMU_CFG_NO_1G_PAGES)) |
               s->cpu_flags;
  if (!(s->caps & GEN_CAP_1G))
    out->flags |= MMU_CFG_NO_1G_PAGES;
}

/* Does going from v's configuration to u's change an outcome, as the
 * library models both? 1 yes, 0 no, -1 the library cannot run them. */
static int config_matters(const vec_vector *v, const vec_vector *u) {
  static vec_vector lib_v, lib_u;
  static char msg[4096];
  lib_v = *v;
  lib_u = *u;
  if (check_fill(ctx, &lib_v, CHECK_REFERENCE, msg, sizeof msg) != 1 ||
      check_fill(ctx, &lib_u, CHECK_REFERENCE, msg, sizeof msg) != 1)
    return -1;
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS &&
        !capture_same_outcome(&lib_v.step[i].expect, &lib_u.step[i].expect))
      return 1;
  return 0;
}

/* Does the library (reference walker and TLB path) agree with v? */
static int library_agrees(const vec_vector *v, char *msg, size_t n) {
  for (int path = CHECK_FAST; path <= CHECK_REFERENCE; path++)
    if (check_vector(ctx, v, path, msg, n) != 1)
      return 0;
  return 1;
}

/* Try every detector in turn (a vector may show more than one departure);
 * 1 if any explained (and rewrote) the vector. */
static int explain(capture_source *s, vec_vector *v) {
  int hit = 0;
  for (const capture_departure *const *d = s->departures; d && *d; d++)
    hit |= (*d)->detect(s, v, *d);
  return hit;
}

/* Does the library agree with what the source did to v, once the source's
 * known departures are accounted for (*departs counts those)? 1 yes; 0 no:
 * v is for a person to settle (*reviewed counts them), written with why
 * to review, or said on stderr if loud and there is no review file. */
static int settle(capture_source *s, vec_vector *v, FILE *review, int loud,
                  unsigned long *departs, unsigned long *reviewed) {
  static char msg[4096];
  if (library_agrees(v, msg, sizeof msg))
    return 1;
  if (explain(s, v))
    ++*departs;
  if (library_agrees(v, msg, sizeof msg))
    return 1;
  ++*reviewed;
  if (review) {
    fprintf(review, "# %s", msg);
    vec_write(review, v);
  } else if (loud) {
    fprintf(stderr, "REVIEW %s", msg);
  }
  return 0;
}

/* ---- capture ------------------------------------------------------------ */

static void write_header(FILE *f, const capture_source *s, uint64_t seed) {
  char desc[1280];
  s->describe(s, desc, sizeof desc);
  fprintf(f, "mmu-vectors 1\n");
  fprintf(f, "# captured by mmu_capture; regenerate with --source %s --seed %llu\n",
          s->name, (unsigned long long)seed);
  fprintf(f, "source %s\n", s->name);
  fprintf(f, "meta %s\n", desc);
  fprintf(f, "meta seed=%llu generator=mmu_capture-%s\n\n",
          (unsigned long long)seed, mmu_version_string());
}

static int capture(capture_source *s, uint64_t seed, uint64_t count,
                   const char **cats, size_t ncats, const char *out_path,
                   const char *review_path) {
  FILE *out = out_path ? fopen(out_path, "w") : stdout;
  FILE *review = review_path ? fopen(review_path, "w") : NULL;
  if (!out || (review_path && !review)) {
    fprintf(stderr, "mmu_capture: cannot open output: %s\n", strerror(errno));
    return 2;
  }
  write_header(out, s, seed);
  if (review)
    write_header(review, s, seed);
  size_t all_count;
  const gen_category *all = gen_categories(&all_count);
  unsigned long written = 0, refused = 0, failed = 0, reviewed = 0, departs = 0;
  vec_vector *batch = malloc(CAPTURE_BATCH * sizeof *batch);
  int *status = malloc(CAPTURE_BATCH * sizeof *status);
  if (!batch || !status)
    return 2;
  for (size_t c = 0; c < all_count; c++) {
    int wanted = ncats == 0;
    for (size_t k = 0; k < ncats; k++)
      wanted |= strcmp(cats[k], all[c].name) == 0;
    if (!wanted)
      continue;
    int more = 1;
    for (uint64_t i = 0; i < count && more;) {
      size_t n = 0; /* generate a batch: QEMU runs one per boot */
      for (; i < count && n < CAPTURE_BATCH; i++, n++) {
        if (!gen_vector(all[c].name, seed, i, s->caps, s->name, &batch[n])) {
          more = 0;
          break;
        }
        batch[n].flags |= s->cpu_flags;
      }
      s->run(s, batch, n, status);
      /* the batch's refusals and failures first: a detector's re-run
       * (settle) replaces the source's reasons */
      for (size_t k = 0; k < n; k++) {
        int st = status[k];
        if (st == 0)
          continue; /* refused (the harness cannot run it) or failed */
        int refusal = st == -EINVAL || st == -ENOTSUP || st == -ERANGE;
        unsigned long nth = refusal ? ++refused : ++failed;
        if (nth <= 5) /* the first few say why; the summary counts all */
          fprintf(stderr, "mmu_capture: %s: %s (%d): %s\n", batch[k].id,
                  refusal ? "refused" : "harness failure", st, s->why(s, k));
      }
      for (size_t k = 0; k < n; k++) {
        vec_vector *v = &batch[k];
        if (status[k] != 0)
          continue;
        if (!settle(s, v, review, 1, &departs, &reviewed))
          continue;
        vec_write(out, v);
        written++;
      }
    }
  }
  free(batch);
  free(status);
  fprintf(stderr,
          "mmu_capture: %lu vectors written (%lu mark a departure), %lu for "
          "review, %lu refused by the source, %lu harness failures\n",
          written, departs, reviewed, refused, failed);
  if (out != stdout)
    fclose(out);
  if (review)
    fclose(review);
  return reviewed ? 3 : 0;
}

/* ---- check -------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
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

/* The source's own outcome of a step: 'observed' when it departs. */
static vec_outcome source_outcome(const vec_step *s) {
  return s->observed.kind != VEC_OUT_NONE ? s->observed : s->expect;
}

/* Compare a re-captured vector with the file's; 1 if they agree. A step
 * that departed from the SDM may depart again in any way (some vary
 * between runs: KVM's slot-256 fault is 0x4 one time and 0xd the next) or
 * not at all, the source then giving the SDM's outcome (a host whose KVM
 * lacks that departure); *sdm_now counts the latter. */
static int recapture_agrees(const char *file, const vec_vector *v,
                            const vec_vector *again, unsigned long *sdm_now) {
  for (uint32_t i = 0; i < v->step_count; i++) {
    if (v->step[i].op != VEC_ACCESS)
      continue;
    vec_outcome was = source_outcome(&v->step[i]);
    const vec_outcome *now = &again->step[i].expect;
    int departed = v->departs[0] && v->step[i].observed.kind != VEC_OUT_NONE;
    if (departed && capture_same_outcome(now, &v->step[i].expect))
      ++*sdm_now;
    if (!departed && (!capture_same_outcome(&was, now) ||
                   (!v->departs[0] && !capture_same_step(&v->step[i], &again->step[i])))) {
      fprintf(stderr, "%s: %s step %u: the source now differs from the file\n",
              file, v->id, i);
      return 0;
    }
  }
  return 1;
}

/* Re-capture: each vector of this source in the files is run again and
 * must come out as the file says. A vector captured on a CPU whose rules
 * differ from this one's for it (AMD's reserved bits on an Intel host, say:
 * the library, which models both, tells which vectors they touch) cannot
 * be re-captured here and is skipped, and said so. Exit status 0, 1 on a
 * difference, 2 on an error, MMU_CAPTURE_SKIPPED when no vector could be
 * re-captured. */
static int check_files(capture_source *s, char **files, int nfiles, unsigned long limit) {
  unsigned long checked = 0, differ = 0, skipped = 0, other_cpu = 0;
  unsigned long sdm_now = 0;
  static vec_vector mine;
  vec_vector *batch = malloc(CAPTURE_BATCH * sizeof *batch);
  vec_vector *again = malloc(CAPTURE_BATCH * sizeof *again);
  int *status = malloc(CAPTURE_BATCH * sizeof *status);
  if (!batch || !again || !status)
    return 2;
  for (int f = 0; f < nfiles; f++) {
    size_t len;
    char *text = slurp(files[f], &len);
    if (!text) {
      fprintf(stderr, "mmu_capture: cannot read %s\n", files[f]);
      return 2;
    }
    vec_reader r;
    vec_reader_init(&r, text, len);
    int rc = VEC_OK;
    while (rc == VEC_OK) {
      size_t n = 0; /* a batch of this source's vectors */
      while (n < CAPTURE_BATCH && (rc = vec_read(&r, &batch[n])) == VEC_OK) {
        if (strcmp(r.source, s->name) != 0 || (limit && checked + n >= limit)) {
          skipped++;
          continue;
        }
        as_this_cpu(s, &batch[n], &mine);
        int matters = mine.flags != batch[n].flags
                          ? config_matters(&batch[n], &mine) : 0;
        if (matters < 0) {
          fprintf(stderr, "%s: %s: the library cannot run it\n", files[f],
                  batch[n].id);
          differ++;
          continue;
        }
        if (matters) {
          other_cpu++;
          continue;
        }
        again[n] = batch[n];
        capture_clear_outcomes(&again[n]);
        n++;
      }
      if (n == 0)
        break;
      s->run(s, again, n, status);
      for (size_t k = 0; k < n; k++) {
        checked++;
        if (status[k] != 0) {
          fprintf(stderr, "%s: %s: the source refused or failed\n", files[f],
                  batch[k].id);
          differ++;
        } else if (!recapture_agrees(files[f], &batch[k], &again[k],
                                     &sdm_now)) {
          if (++differ <= 3) { /* what the source does now, for the log */
            fprintf(stderr, "now:\n");
            vec_write(stderr, &again[k]);
          }
        }
      }
    }
    free(text);
    if (rc == VEC_ERROR) {
      fprintf(stderr, "mmu_capture: %s: %s\n", files[f], r.error);
      return 2;
    }
  }
  free(batch);
  free(again);
  free(status);
  printf("re-captured %lu vectors under %s: %lu differ (%lu of other sources "
         "or over the limit skipped; %lu skipped as captured on a CPU whose "
         "rules differ from this one's for them)\n",
         checked, s->name, differ, skipped, other_cpu);
  if (sdm_now)
    printf("%lu steps that departed from the SDM when captured follow it "
           "here\n", sdm_now);
  if (!checked && !differ && other_cpu) {
    printf("re-capture skipped: every vector was captured on a CPU of "
           "another kind\n");
    return MMU_CAPTURE_SKIPPED;
  }
  return differ ? 1 : 0;
}

/* Cross-check: run vectors captured under another source on this one, in
 * this source's configuration, and compare the SDM outcomes (after this
 * source's detectors). A/D is not compared: the sources' policies differ.
 * Vectors whose outcome depends on a configuration the two sources do not
 * share (AMD's bit 8, 1 GiB pages switched off) are skipped. */
static int cross_check(capture_source *s, char **files, int nfiles) {
  unsigned long agree = 0, differ = 0, skipped = 0, departed = 0;
  static vec_vector v, again;
  for (int f = 0; f < nfiles; f++) {
    size_t len;
    char *text = slurp(files[f], &len);
    if (!text)
      return 2;
    vec_reader r;
    vec_reader_init(&r, text, len);
    int rc;
    while ((rc = vec_read(&r, &v)) == VEC_OK) {
      if (strcmp(r.source, s->name) == 0) {
        skipped++;
        continue;
      }
      as_this_cpu(s, &v, &again);
      if (config_matters(&v, &again) != 0 || capture_run_one(s, &again) != 0) {
        skipped++;
        continue;
      }
      departed += explain(s, &again);
      int same = 1;
      for (uint32_t i = 0; i < v.step_count; i++)
        if (v.step[i].op == VEC_ACCESS &&
            !capture_same_outcome(&v.step[i].expect, &again.step[i].expect))
          same = 0;
      if (same) {
        agree++;
      } else {
        differ++;
        fprintf(stderr, "CROSS %s: %s (from %s) differs under %s:\n", files[f],
                v.id, r.source, s->name);
        vec_write(stderr, &again);
      }
    }
    free(text);
    if (rc == VEC_ERROR)
      return 2;
  }
  printf("cross-check under %s: %lu vectors agree, %lu differ, %lu skipped "
         "(same source, configuration-dependent, or refused); %lu needed "
         "this source's departure detectors\n",
         s->name, agree, differ, skipped, departed);
  return differ ? 1 : 0;
}

/* ---- enumerations -------------------------------------------------------- */

static digest_file digests;

/* Captures vectors [b0, b0 + n) of an enumeration and returns the digest of
 * their settled outcomes in *hash (0 or 2 when the source fails). */
static int capture_block(capture_source *s, const char *name, uint64_t b0,
                         size_t n, vec_vector *batch, int *status, FILE *review,
                         FILE *text, unsigned long *departs,
                         unsigned long *reviewed, uint64_t *hash) {
  digest_state *d = digest_begin();
  if (!d)
    return 2;
  for (size_t k = 0; k < n; k++) {
    gen_enumerated(name, b0 + k, s->caps, s->name, &batch[k]);
    batch[k].flags |= s->cpu_flags;
  }
  s->run(s, batch, n, status);
  int rc = 0;
  for (size_t k = 0; k < n; k++) {
    vec_vector *v = &batch[k];
    if (status[k] != 0) { /* one retry: the VM is re-created after a failure */
      capture_clear_outcomes(v);
      status[k] = capture_run_one(s, v);
    }
    if (status[k] != 0) {
      fprintf(stderr, "mmu_capture: %s: the source failed (%d); a digest "
                      "must cover every vector\n", v->id, status[k]);
      rc = 2;
      break;
    }
    settle(s, v, review, 0, departs, reviewed);
    digest_add(d, v);
    if (text)
      vec_write(text, v);
  }
  *hash = digest_end(d);
  return rc;
}

static int enumerate(capture_source *s, const char *name, uint64_t block,
                     const char *out_path, const char *review_path,
                     unsigned long limit, const char *text_path) {
  uint64_t count = gen_enumeration_count(name, s->caps);
  if (limit && limit < count) /* a trial run: its digests won't verify */
    count = limit;
  if (!count || !block || (count + block - 1) / block > DIGEST_MAX_BLOCKS) {
    fprintf(stderr, "mmu_capture: no enumeration '%s' (or bad --block)\n", name);
    return 2;
  }
  FILE *review = review_path ? fopen(review_path, "w") : NULL;
  if (review)
    write_header(review, s, 0);
  FILE *text = text_path ? fopen(text_path, "w") : NULL; /* to look at them */
  if (text)
    write_header(text, s, 0);
  unsigned long reviewed = 0, departs = 0;
  memset(&digests, 0, sizeof digests);
  snprintf(digests.source, sizeof digests.source, "%s", s->name);
  snprintf(digests.enumeration, sizeof digests.enumeration, "%s", name);
  digests.caps = s->caps;
  digests.flags = s->cpu_flags;
  digests.count = count;
  digests.block = block;
  time_t start = time(NULL);
  vec_vector *batch = malloc(block * sizeof *batch);
  int *status = malloc(block * sizeof *status);
  if (!batch || !status)
    return 2;
  for (uint64_t b0 = 0; b0 < count; b0 += block) {
    size_t n = (size_t)(count - b0 < block ? count - b0 : block);
    if (capture_block(s, name, b0, n, batch, status, review, text, &departs,
                      &reviewed, &digests.hash[digests.nblocks++]) != 0)
      return 2;
    if (digests.nblocks % 64 == 0)
      fprintf(stderr, "mmu_capture: %llu of %llu vectors, %ld s\n",
              (unsigned long long)(b0 + block), (unsigned long long)count,
              (long)(time(NULL) - start));
  }
  free(batch);
  free(status);
  FILE *out = out_path ? fopen(out_path, "w") : stdout;
  if (!out)
    return 2;
  char desc[1280];
  s->describe(s, desc, sizeof desc);
  digest_write(out, &digests, desc);
  if (out != stdout)
    fclose(out);
  if (review)
    fclose(review);
  if (text)
    fclose(text);
  fprintf(stderr, "mmu_capture: %s: %llu vectors in %llu blocks, %lu departures "
                  "marked, %lu for review, %ld s\n",
          name, (unsigned long long)count, (unsigned long long)digests.nblocks,
          departs, reviewed, (long)(time(NULL) - start));
  return reviewed ? 3 : 0;
}

/* Re-captures every stride-th block of a digest file of this source and
 * compares. 0 all agree, 1 a block differs, 2 error, MMU_CAPTURE_SKIPPED
 * when the file is another source's or its CPU's capabilities differ. */
static int check_digest(capture_source *s, const char *path, uint64_t stride) {
  static digest_file want;
  char err[256];
  if (digest_read(path, &want, err, sizeof err) != 0) {
    fprintf(stderr, "mmu_capture: %s: %s\n", path, err);
    return 2;
  }
  if (strcmp(want.source, s->name) != 0 || want.caps != s->caps ||
      want.flags != s->cpu_flags) {
    printf("%s: skipped (captured under %s caps=0x%x flags=0x%x; here %s "
           "caps=0x%x flags=0x%x)\n", path, want.source, want.caps, want.flags,
           s->name, s->caps, s->cpu_flags);
    return MMU_CAPTURE_SKIPPED;
  }
  if (gen_enumeration_count(want.enumeration, s->caps) != want.count) {
    fprintf(stderr, "mmu_capture: %s: %s has %llu vectors in this generator, "
                    "the file %llu: re-capture the file\n", path,
            want.enumeration,
            (unsigned long long)gen_enumeration_count(want.enumeration, s->caps),
            (unsigned long long)want.count);
    return 2;
  }
  vec_vector *batch = malloc(want.block * sizeof *batch);
  int *status = malloc(want.block * sizeof *status);
  if (!batch || !status)
    return 2;
  unsigned long departs = 0, reviewed = 0, blocks = 0, differ = 0;
  int rc = 0;
  for (uint64_t i = 0; i < want.nblocks && rc == 0; i += stride ? stride : 1) {
    uint64_t b0 = i * want.block, hash;
    size_t n = (size_t)(want.count - b0 < want.block ? want.count - b0 : want.block);
    rc = capture_block(s, want.enumeration, b0, n, batch, status, NULL, NULL,
                       &departs, &reviewed, &hash);
    blocks++;
    if (rc == 0 && hash != want.hash[i]) {
      differ++;
      printf("%s: block %llu (vectors %llu..%llu) differs; see them with: "
             "mmu_capture --source %s --enumerate %s --block %llu --limit %llu "
             "--text FILE\n", path, (unsigned long long)i,
             (unsigned long long)b0, (unsigned long long)(b0 + n - 1), s->name,
             want.enumeration, (unsigned long long)want.block,
             (unsigned long long)(b0 + n));
    }
  }
  free(batch);
  free(status);
  if (rc)
    return rc;
  printf("%s: re-captured %lu of %llu blocks of %s under %s: %lu differ, %lu "
         "vectors for review\n", path, blocks, (unsigned long long)want.nblocks,
         want.enumeration, s->name, differ, reviewed);
  return differ || reviewed ? 1 : 0;
}

/* --check: vector files by check_files, digest files ("mmu-digests" first)
 * by check_digest; the worst status wins, 77 only when nothing ran. */
static int check_all(capture_source *s, char **files, int nfiles,
                     unsigned long limit, uint64_t stride) {
  char **vecs = calloc((size_t)nfiles + 1, sizeof *vecs);
  if (!vecs)
    return 2;
  int nvecs = 0, worst = 0, ran = 0;
  for (int f = 0; f < nfiles; f++) {
    char head[16] = {0};
    FILE *fp = fopen(files[f], "r");
    if (!fp) {
      fprintf(stderr, "mmu_capture: cannot read %s\n", files[f]);
      free(vecs);
      return 2;
    }
    size_t got = fread(head, 1, 11, fp);
    fclose(fp);
    if (got < 11 || memcmp(head, "mmu-digests", 11) != 0) {
      vecs[nvecs++] = files[f];
      continue;
    }
    int rc = check_digest(s, files[f], stride);
    if (rc != MMU_CAPTURE_SKIPPED) {
      ran = 1;
      worst = rc > worst ? rc : worst;
    }
  }
  if (nvecs) {
    int rc = check_files(s, vecs, nvecs, limit);
    if (rc != MMU_CAPTURE_SKIPPED) {
      ran = 1;
      worst = rc > worst ? rc : worst;
    }
  }
  free(vecs);
  return ran ? worst : MMU_CAPTURE_SKIPPED;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
    "usage: mmu_capture --source S [--seed N] [--count N]\n"
    "                   [--category NAME]... [--out FILE] [--review FILE]\n"
    "       mmu_capture --source S --check FILE... [--limit N]\n"
    "                   [--digest-stride N]\n"
    "       mmu_capture --source S --enumerate NAME --digest-out FILE\n"
    "                   [--block N] [--review FILE] [--limit N --text FILE]\n"
    "       mmu_capture --source S --cross FILE...\n"
    "       mmu_capture --list | --help\n"
    "\n"
    "Captures conformance vectors from a source S (kvm, qemu or bochs;\n"
    "SPEC.md 8.5), marks their departures from the SDM, or re-checks\n"
    "checked-in vectors and digests (.digest files: every Nth block with\n"
    "--digest-stride N). --check and --cross take the rest of the arguments\n"
    "as files. Enumerations: access-all, paging32-all, pae-all.\n"
    "MMU_KVM_DEVICE, QEMU_SYSTEM_X86_64 and BOCHS name another device or\n"
    "binary.\n"
    "\n"
    "exit status: 0 done (all agree), 1 differences, 2 bad usage or error,\n"
    "3 vectors left for review, 77 re-capture skipped (source absent)\n");
}

/* A whole-string number (decimal or 0x hex) for option `name`. */
static int parse_number(const char *name, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text || *end || text[0] == '-') {
    fprintf(stderr, "mmu_capture: %s wants a number, not '%s'\n", name, text);
    return 0;
  }
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  const char *src_name = "kvm", *out = NULL, *review = NULL, *enumeration = NULL;
  const char *text = NULL;
  uint64_t block = 4096, stride = 1;
  uint64_t seed = 1, count = 100;
  unsigned long limit = 0;
  const char *cats[32];
  size_t ncats = 0;
  int check = 0, first_file = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    uint64_t num;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--list") == 0) {
      size_t n;
      const gen_category *c = gen_categories(&n);
      for (size_t k = 0; k < n; k++)
        printf("%-10s %s\n", c[k].name, c[k].summary);
      return 0;
    } else if (strcmp(a, "--source") == 0 && i + 1 < argc) {
      src_name = argv[++i];
    } else if (strcmp(a, "--seed") == 0 && i + 1 < argc) {
      if (!parse_number(a, argv[++i], &seed))
        return 2;
    } else if (strcmp(a, "--count") == 0 && i + 1 < argc) {
      if (!parse_number(a, argv[++i], &count))
        return 2;
    } else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
      if (!parse_number(a, argv[++i], &num))
        return 2;
      limit = (unsigned long)num;
    } else if (strcmp(a, "--category") == 0 && i + 1 < argc && ncats < 32) {
      cats[ncats++] = argv[++i];
    } else if (strcmp(a, "--out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (strcmp(a, "--enumerate") == 0 && i + 1 < argc) {
      enumeration = argv[++i];
    } else if (strcmp(a, "--digest-out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (strcmp(a, "--text") == 0 && i + 1 < argc) {
      text = argv[++i];
    } else if (strcmp(a, "--block") == 0 && i + 1 < argc) {
      if (!parse_number(a, argv[++i], &block))
        return 2;
    } else if (strcmp(a, "--digest-stride") == 0 && i + 1 < argc) {
      if (!parse_number(a, argv[++i], &stride) || !stride) {
        fprintf(stderr, "mmu_capture: --digest-stride wants a number above 0\n");
        return 2;
      }
    } else if (strcmp(a, "--review") == 0 && i + 1 < argc) {
      review = argv[++i];
    } else if (strcmp(a, "--check") == 0 || strcmp(a, "--cross") == 0) {
      check = strcmp(a, "--check") == 0 ? 1 : 2;
      first_file = i + 1;
      break;
    } else {
      fprintf(stderr, "mmu_capture: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  capture_source *s = find_source(src_name);
  if (!s) {
    fprintf(stderr, "mmu_capture: no source '%s' in this build\n", src_name);
    return 2;
  }
  int e = s->open(s, GEN_RAM_SIZE);
  if ((e == ENOENT || e == EACCES || e == EPERM) && check) {
    /* absent, or not ours to use: nothing to re-capture with */
    printf("re-capture skipped: source '%s' cannot run here (%s: %s); the "
           "checked-in vectors are run by the conformance_vectors test\n",
           src_name, s->needs, strerror(e));
    s->close(s);
    return MMU_CAPTURE_SKIPPED;
  }
  if (e) {
    const char *why = s->why(s, 0);
    fprintf(stderr, "mmu_capture: source '%s' could not start: %s%s%s\n",
            src_name, strerror(e), *why ? ": " : "", why);
    s->close(s);
    return 2;
  }
  ctx = calloc(1, sizeof *ctx);
  ctx->ram_capacity = GEN_RAM_SIZE;
  ctx->ram = aligned_alloc(4096, GEN_RAM_SIZE);
  if (!ctx->ram)
    return 2;
  memset(ctx->ram, 0, GEN_RAM_SIZE);
  int rc = check == 2    ? cross_check(s, argv + first_file, argc - first_file)
           : check       ? check_all(s, argv + first_file, argc - first_file, limit, stride)
           : enumeration ? enumerate(s, enumeration, block, out, review, limit, text)
                         : capture(s, seed, count, cats, ncats, out, review);
  s->close(s);
  free(ctx->ram);
  free(ctx);
  return rc;
}
