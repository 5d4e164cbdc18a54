/* SPDX-License-Identifier: MIT */
/* digest.h - digests of enumerated vectors (SPEC.md 8.4): an enumeration
 * too large to check in as text is checked in as one XXH3-64 per block of
 * vectors, over the vectors' canonical text (vec_write). */
#ifndef MMU_DIGEST_H_INCLUDED
#define MMU_DIGEST_H_INCLUDED

#include <stdint.h>
#include <stdio.h>

#include "vector.h"

#define DIGEST_MAX_BLOCKS 65536

typedef struct digest_file {
  char source[VEC_MAX_TEXT];
  char enumeration[VEC_MAX_TEXT];
  unsigned caps;
  unsigned flags; /* MMU_CFG_* the source's CPU implies, ORed into vectors */
  uint64_t count; /* vectors */
  uint64_t block; /* vectors per block */
  uint64_t nblocks;
  uint64_t hash[DIGEST_MAX_BLOCKS];
} digest_file;

/* Running digest of one block. */
typedef struct digest_state digest_state;
digest_state *digest_begin(void);
void digest_add(digest_state *d, const vec_vector *v);
uint64_t digest_end(digest_state *d); /* frees d */

/* Text form; digest_read returns 0 or -1 with err filled ("line N: ..."). */
void digest_write(FILE *f, const digest_file *d, const char *meta);
int digest_read(const char *path, digest_file *d, char *err, size_t n);

#endif
