/* SPDX-License-Identifier: MIT */
/* The `mmu` command: what its subcommands share. Each subcommand is one
 * file (cli/walk.c, conform.c, trace.c, maps.c) exporting one entry point;
 * cli/main.c dispatches to it. The command is a tool, not the library: it
 * may allocate and use stdio, but it needs neither Criterion nor libxxhash
 * (digest files are read only when libxxhash was found: MMU_CLI_HAVE_XXHASH). */
#ifndef MMU_CLI_H
#define MMU_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit codes, the same for every subcommand (mmu(1), EXIT STATUS). */
enum {
  CLI_OK = 0,        /* done; every check held                          */
  CLI_FAILED = 1,    /* ran, and a check failed (a vector disagreed...) */
  CLI_BAD_INPUT = 2  /* bad usage, or a file that cannot be read/parsed  */
};

/* Subcommands: argv[0] is the subcommand's name ("walk"). Each handles
 * --help itself (usage on stdout, exit 0) and returns an exit code. */
int cli_walk(int argc, char **argv);
int cli_conform(int argc, char **argv);
int cli_trace(int argc, char **argv);
int cli_maps(int argc, char **argv);

/* "mmu walk: " + message + newline on stderr. Use for usage errors. */
void cli_error(const char *subcommand, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "FILE:LINE: message" on stderr (LINE 0: "FILE: message"), as compilers
 * write errors, so editors can jump to them. */
void cli_file_error(const char *file, unsigned long line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Where cli_error and cli_file_error write (NULL: stderr again): a fuzz
 * target running a subcommand silences them. */
void cli_set_error_stream(FILE *f);

/* Numbers, trace lines, script lines: parse.h. */
#include "parse.h"

/* Read a whole file ("-" is stdin) into a malloc'd buffer with a NUL
 * after the last byte. NULL (and errno) on failure. */
char *cli_read_file(const char *path, size_t *len);

#endif
