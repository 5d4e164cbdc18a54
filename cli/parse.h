/* SPDX-License-Identifier: MIT */
/* parse.h - the `mmu` command's parsers of what users hand it: numbers,
 * valgrind lackey trace lines (mmu trace), script lines (mmu maps). No I/O
 * and nothing kept between calls, so fuzz/fuzz_cli_parsers.c runs them as
 * the command does. */
#ifndef MMU_CLI_PARSE_H
#define MMU_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Strict number parsing for options: the whole string must be a number
 * (decimal, or hex with 0x), optionally with a K/M/G suffix (powers of 2)
 * where allow_suffix is set. Returns 1 on success, 0 otherwise. */
int cli_parse_u64(const char *s, int allow_suffix, uint64_t *out);

/* One line of `valgrind --tool=lackey --trace-mem=yes` (n bytes, a line
 * end allowed): 1 a reference (*kind 0 I, 1 L, 2 S, 3 M; *addr, *size of
 * 1..CLI_MAX_REF_BYTES that does not wrap), 0 a line to skip (empty, or
 * valgrind's "==PID==" chatter), -1 malformed (*why says how). */
#define CLI_MAX_REF_BYTES (1u << 20) /* no instruction touches more at once */
int cli_lackey_line(const char *s, size_t n, int *kind, uint64_t *addr,
                    uint64_t *size, const char **why);

/* One line of an `mmu maps` script, split into words w[0..n-1] (n >= 1,
 * n <= CLI_SCRIPT_MAX_ARGS + 1): NULL with *c filled (op, num, prot,
 * flags, shared, access; line and text are the caller's), or what is wrong
 * with it. w's words may be cut up (comma lists). */
enum cli_op {
  CLI_OP_COMMENT, CLI_OP_MMAP, CLI_OP_MUNMAP, CLI_OP_MPROTECT,
  CLI_OP_MADVISE, CLI_OP_MREMAP, CLI_OP_BRK, CLI_OP_STACK, CLI_OP_FORK,
  CLI_OP_PID, CLI_OP_TOUCH, CLI_OP_COUNT
};
#define CLI_SCRIPT_MAX_ARGS 6
typedef struct cli_cmd {
  unsigned long line;
  int op;            /* enum cli_op */
  uint64_t num[4];   /* the numbers, in the order written */
  unsigned prot;     /* mmap, mprotect */
  unsigned flags;    /* MMU_MAP_* / MMU_MREMAP_*; madvise's advice */
  int shared;        /* mmap: 1 shared, 0 private, -1 neither (EINVAL) */
  unsigned access;   /* touch */
  char *text;        /* the line as echoed: its words, single-spaced */
} cli_cmd;
const char *cli_script_line(char **w, int n, cli_cmd *c);
/* The call's name as scripts write it ("mmap"); "#" for a comment. */
const char *cli_op_name(int op);

#endif
