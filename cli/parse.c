/* SPDX-License-Identifier: MIT */
/* parse.c - the `mmu` command's parsers (parse.h). */
#define _POSIX_C_SOURCE 200809L

#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"

int cli_parse_u64(const char *s, int allow_suffix, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
    return 0;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s)
    return 0;
  unsigned shift = 0;
  if (allow_suffix && *end) {
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: return 0;
    }
    end++;
  }
  if (*end)
    return 0;
  if (shift && v > (~0ull >> shift))
    return 0;
  *out = (uint64_t)(v << shift);
  return 1;
}

/* ---- lackey lines ------------------------------------------------------- */

static int hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* valgrind's own lines: "==PID== ...", "--PID-- ...", "**PID** ...". */
static int chatter(const char *s, size_t n) {
  if (n < 5 || !strchr("=-*", s[0]) || s[1] != s[0])
    return 0;
  size_t i = 2;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  return i > 2 && i + 1 < n && s[i] == s[0] && s[i + 1] == s[0];
}

/* 1 a reference, 0 a line to skip, -1 malformed (*why says how). */
int cli_lackey_line(const char *s, size_t n, int *kind, uint64_t *addr,
                      uint64_t *size, const char **why) {
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  if (n == 0 || chatter(s, n))
    return 0;
  size_t i = 0;
  while (i < n && s[i] == ' ')
    i++;
  const char *kinds = "ILSM", *k = i < n && s[i] ? strchr(kinds, s[i]) : NULL;
  if (!k || i + 1 >= n || s[i + 1] != ' ') {
    *why = "not a lackey line ('I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', "
           "' M ...' or valgrind's '==PID==')";
    return -1;
  }
  *kind = (int)(k - kinds);
  for (i++; i < n && s[i] == ' ';)
    i++;
  uint64_t a = 0;
  size_t digits = 0;
  for (; i < n && hexval(s[i]) >= 0; i++, digits++) {
    if (a >> 60) {
      *why = "address wider than 64 bits";
      return -1;
    }
    a = a << 4 | (uint64_t)hexval(s[i]);
  }
  if (!digits || i >= n || s[i] != ',') {
    *why = "expected a hexadecimal address and ','";
    return -1;
  }
  uint64_t z = 0;
  for (i++, digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
    if ((z = z * 10 + (uint64_t)(s[i] - '0')) > CLI_MAX_REF_BYTES) {
      *why = "size above 1 MiB";
      return -1;
    }
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  if (!digits || i != n) {
    *why = "expected a decimal size after the ','";
    return -1;
  }
  if (z == 0) {
    *why = "size 0";
    return -1;
  }
  if (a + (z - 1) < a) {
    *why = "the reference runs past the end of the address space";
    return -1;
  }
  *addr = a;
  *size = z;
  return 1;
}

/* ---- mmu maps script lines ---------------------------------------------- */


static const struct {
  const char *name;
  int min_args, max_args; /* after the name */
} ops[] = {
    [CLI_OP_COMMENT] = {"#", 0, 0},       [CLI_OP_MMAP] = {"mmap", 4, 4},
    [CLI_OP_MUNMAP] = {"munmap", 2, 2},   [CLI_OP_MPROTECT] = {"mprotect", 3, 3},
    [CLI_OP_MADVISE] = {"madvise", 3, 3}, [CLI_OP_MREMAP] = {"mremap", 3, 5},
    [CLI_OP_BRK] = {"brk", 1, 1},         [CLI_OP_STACK] = {"stack", 1, 1},
    [CLI_OP_FORK] = {"fork", 0, 0},       [CLI_OP_PID] = {"pid", 1, 1},
    [CLI_OP_TOUCH] = {"touch", 2, 2},
};
#define NOPS (sizeof ops / sizeof ops[0])


static int parse_prot(const char *s, unsigned *prot) {
  if (strlen(s) != 3 || (s[0] != 'r' && s[0] != '-') ||
      (s[1] != 'w' && s[1] != '-') || (s[2] != 'x' && s[2] != '-'))
    return 0;
  *prot = (s[0] == 'r' ? MMU_PROT_READ : 0) |
          (s[1] == 'w' ? MMU_PROT_WRITE : 0) |
          (s[2] == 'x' ? MMU_PROT_EXEC : 0);
  return 1;
}

/* A comma-separated list of names[i] -> bits[i]; NULL, or the bad word. */
static const char *parse_words(char *s, const char *const *names,
                               const unsigned *bits, size_t n,
                               unsigned *out) {
  *out = 0;
  for (char *save = NULL, *w = strtok_r(s, ",", &save); w;
       w = strtok_r(NULL, ",", &save)) {
    size_t i = 0;
    while (i < n && strcmp(w, names[i]) != 0)
      i++;
    if (i == n)
      return w;
    *out |= bits[i];
  }
  return NULL;
}

enum { F_PRIVATE = 1u << 8, F_SHARED = 1u << 9, F_ANON = 1u << 10 };

static const char *parse_mmap_flags(char *s, cli_cmd *c) {
  static const char *const names[] = {"private", "shared", "anonymous",
                                      "fixed", "growsdown", "hugetlb",
                                      "populate"};
  static const unsigned bits[] = {F_PRIVATE, F_SHARED, F_ANON,
                                  MMU_MAP_FIXED, MMU_MAP_GROWSDOWN,
                                  MMU_MAP_HUGETLB, MMU_MAP_POPULATE};
  static char why[96];
  unsigned f;
  const char *bad = parse_words(s, names, bits, 7, &f);
  if (bad) {
    snprintf(why, sizeof why, "unknown mmap flag '%.30s'", bad);
    return why;
  }
  if ((f & F_PRIVATE) && (f & F_SHARED))
    return "private and shared together";
  if (!(f & F_ANON))
    return "only anonymous mappings (there are no files): add 'anonymous'";
  c->shared = (f & F_SHARED) ? 1 : (f & F_PRIVATE) ? 0 : -1;
  c->flags = f & 0xFF;
  return NULL;
}

/* The numbers an op takes, by argument position (1-based after the name). */
static int is_number_arg(int op, int arg) {
  switch (op) {
  case CLI_OP_MMAP: return arg <= 2;
  case CLI_OP_MPROTECT: case CLI_OP_MADVISE: return arg <= 2;
  case CLI_OP_MREMAP: return arg != 4;
  case CLI_OP_TOUCH: return arg == 1;
  default: return 1;
  }
}

/* One line into c; NULL, or what is wrong with it. */
const char *cli_script_line(char **w, int n, cli_cmd *c) {
  static char why[128];
  int op = 1;
  while (op < (int)NOPS && strcmp(w[0], ops[op].name) != 0)
    op++;
  if (op == (int)NOPS) {
    snprintf(why, sizeof why, "unknown call '%.30s' (mmap, munmap, mprotect, "
             "madvise, mremap, brk, stack, fork, pid, touch)", w[0]);
    return why;
  }
  c->op = op;
  if (n - 1 < ops[op].min_args || n - 1 > ops[op].max_args) {
    if (ops[op].max_args > ops[op].min_args)
      snprintf(why, sizeof why, "%s takes %d to %d arguments, not %d", w[0],
               ops[op].min_args, ops[op].max_args, n - 1);
    else
      snprintf(why, sizeof why, "%s takes %d argument%s, not %d", w[0],
               ops[op].min_args, ops[op].min_args == 1 ? "" : "s", n - 1);
    return why;
  }
  int k = 0;
  for (int a = 1; a < n; a++) {
    if (!is_number_arg(op, a))
      continue;
    if (!cli_parse_u64(w[a], 1, &c->num[k++])) {
      snprintf(why, sizeof why, "'%.30s' is not a number", w[a]);
      return why;
    }
  }
  switch (op) {
  case CLI_OP_MMAP:
    if (!parse_prot(w[3], &c->prot))
      return "PROT is three letters: r or -, w or -, x or - (rw-)";
    return parse_mmap_flags(w[4], c);
  case CLI_OP_MPROTECT:
    if (!parse_prot(w[3], &c->prot))
      return "PROT is three letters: r or -, w or -, x or - (rw-)";
    return NULL;
  case CLI_OP_MADVISE:
    if (strcmp(w[3], "dontneed") == 0)
      c->flags = MMU_MADV_DONTNEED;
    else if (strcmp(w[3], "free") == 0)
      c->flags = MMU_MADV_FREE;
    else
      return "advice is dontneed or free";
    return NULL;
  case CLI_OP_MREMAP:
    if (n > 4 && strcmp(w[4], "0") != 0) {
      static const char *const names[] = {"maymove", "fixed"};
      static const unsigned bits[] = {MMU_MREMAP_MAYMOVE, MMU_MREMAP_FIXED};
      const char *bad = parse_words(w[4], names, bits, 2, &c->flags);
      if (bad) {
        snprintf(why, sizeof why, "unknown mremap flag '%.30s' (maymove, "
                 "fixed, or 0)", bad);
        return why;
      }
    }
    return NULL;
  case CLI_OP_TOUCH:
    if (strcmp(w[2], "r") == 0)
      c->access = MMU_READ;
    else if (strcmp(w[2], "w") == 0)
      c->access = MMU_WRITE;
    else if (strcmp(w[2], "x") == 0)
      c->access = MMU_FETCH;
    else
      return "touch takes r, w or x";
    return NULL;
  default:
    return NULL;
  }
}


const char *cli_op_name(int op) {
  return op >= 0 && op < (int)NOPS ? ops[op].name : "?";
}
