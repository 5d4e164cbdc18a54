/* SPDX-License-Identifier: MIT */
/* util.c - what the subcommands share besides parse.c: error messages and
 * reading a whole file. Apart from main.c so that a fuzz target can run a
 * subcommand (fuzz/fuzz_cli_walk.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static FILE *cli_errors; /* NULL: stderr */

void cli_set_error_stream(FILE *f) { cli_errors = f; }

static FILE *cli_err(void) { return cli_errors ? cli_errors : stderr; }

void cli_error(const char *subcommand, const char *fmt, ...) {
  va_list ap;
  fprintf(cli_err(), "mmu %s: ", subcommand);
  va_start(ap, fmt);
  vfprintf(cli_err(), fmt, ap);
  va_end(ap);
  fputc('\n', cli_err());
}

void cli_file_error(const char *file, unsigned long line, const char *fmt, ...) {
  va_list ap;
  if (line)
    fprintf(cli_err(), "%s:%lu: ", file, line);
  else
    fprintf(cli_err(), "%s: ", file);
  va_start(ap, fmt);
  vfprintf(cli_err(), fmt, ap);
  va_end(ap);
  fputc('\n', cli_err());
}

char *cli_read_file(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap * 2 + 1);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (buf && err) {
    free(buf);
    buf = NULL;
    errno = EIO;
  }
  if (buf) {
    buf[n] = 0;
    *len = n;
  }
  return buf;
}
