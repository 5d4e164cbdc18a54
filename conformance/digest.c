/* SPDX-License-Identifier: MIT */
/* digest.c - block digests of enumerated vectors. */
#define _GNU_SOURCE
#include "digest.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct digest_state {
  XXH3_state_t *xxh;
};

digest_state *digest_begin(void) {
  digest_state *d = malloc(sizeof *d);
  if (!d)
    return NULL;
  d->xxh = XXH3_createState();
  if (!d->xxh) {
    free(d);
    return NULL;
  }
  XXH3_64bits_reset(d->xxh);
  return d;
}

/* The digest covers what the library must reproduce: the vector and its
 * SDM outcomes, not a source's departures ('departs', 'observed'). */
void digest_add(digest_state *d, const vec_vector *v) {
  static char buf[32768];
  static vec_vector sdm;
  sdm = *v;
  sdm.departs[0] = 0;
  for (uint32_t i = 0; i < sdm.step_count; i++)
    memset(&sdm.step[i].observed, 0, sizeof sdm.step[i].observed);
  FILE *f = fmemopen(buf, sizeof buf, "w");
  if (!f)
    return;
  vec_write(f, &sdm);
  long n = ftell(f);
  fclose(f);
  if (n > 0)
    XXH3_64bits_update(d->xxh, buf, (size_t)n);
}

uint64_t digest_end(digest_state *d) {
  uint64_t h = XXH3_64bits_digest(d->xxh);
  XXH3_freeState(d->xxh);
  free(d);
  return h;
}

void digest_write(FILE *f, const digest_file *d, const char *meta) {
  fprintf(f, "mmu-digests 1\nsource %s\n", d->source);
  if (meta && *meta)
    fprintf(f, "meta %s\n", meta);
  fprintf(f, "enumeration %s caps=0x%x flags=0x%x count=%llu block=%llu\n",
          d->enumeration, d->caps, d->flags, (unsigned long long)d->count,
          (unsigned long long)d->block);
  for (uint64_t i = 0; i < d->nblocks; i++)
    fprintf(f, "block %llu 0x%016llx\n", (unsigned long long)i,
            (unsigned long long)d->hash[i]);
  fprintf(f, "end\n");
}

int digest_read(const char *path, digest_file *d, char *err, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, n, "cannot open %s", path);
    return -1;
  }
  memset(d, 0, sizeof *d);
  char line[512];
  unsigned long lineno = 0;
  int header = 0, ended = 0, rc = -1;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char word[64];
    unsigned long long a, b, c, e;
    unsigned x, y;
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (!header) {
      if (strcmp(line, "mmu-digests 1\n") != 0) {
        snprintf(err, n, "line %lu: expected 'mmu-digests 1'", lineno);
        goto out;
      }
      header = 1;
    } else if (sscanf(line, "source %95s", d->source) == 1 ||
               strncmp(line, "meta ", 5) == 0) {
    } else if (sscanf(line, "enumeration %95s caps=0x%x flags=0x%x count=%llu block=%llu",
                      d->enumeration, &x, &y, &a, &b) == 5) {
      if (b == 0 || (a + b - 1) / b > DIGEST_MAX_BLOCKS) {
        snprintf(err, n, "line %lu: block size out of range", lineno);
        goto out;
      }
      d->caps = x;
      d->flags = y;
      d->count = a;
      d->block = b;
    } else if (sscanf(line, "block %llu 0x%llx", &c, &e) == 2) {
      if (!d->block || c != d->nblocks || c >= DIGEST_MAX_BLOCKS) {
        snprintf(err, n, "line %lu: block %llu out of order", lineno, c);
        goto out;
      }
      d->hash[d->nblocks++] = e;
    } else if (sscanf(line, "%63s", word) == 1 && strcmp(word, "end") == 0) {
      ended = 1;
      break;
    } else {
      snprintf(err, n, "line %lu: unknown line", lineno);
      goto out;
    }
  }
  if (!ended || !d->block || d->nblocks != (d->count + d->block - 1) / d->block) {
    snprintf(err, n, "%s: incomplete (no end, or blocks missing)", path);
    goto out;
  }
  rc = 0;
out:
  fclose(f);
  return rc;
}
