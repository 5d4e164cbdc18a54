/* SPDX-License-Identifier: MIT */
/* fuzz_cli_parsers.c - the `mmu` command's parsers (cli/parse.h) on any
 * bytes: numbers (options), valgrind lackey lines (mmu trace), script
 * lines (mmu maps). Byte 0 picks the parser, the rest is split into lines.
 *
 * Never a crash or a read past a line. A malformed line says why. What
 * parses is written back in a canonical form and parsed again: the same
 * number, reference or call must come back (a parser that reads more or
 * less than it checked shows here), and a lackey reference never runs
 * past the end of the address space nor exceeds CLI_MAX_REF_BYTES. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "parse.h"

#define CP_LINE 512

static void cp_number(const char *s) {
  uint64_t plain = 0, suffixed = 0, back = 0;
  int ok = cli_parse_u64(s, 0, &plain);
  int ok_suffix = cli_parse_u64(s, 1, &suffixed);
  /* a suffix is only ever an addition */
  FZ_CHECK(!ok || (ok_suffix && suffixed == plain),
           "number '%s': %llu without a suffix, %d/%llu with one allowed", s,
           (unsigned long long)plain, ok_suffix,
           (unsigned long long)suffixed);
  if (!ok_suffix)
    return;
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)suffixed);
  FZ_CHECK(cli_parse_u64(text, 0, &back) && back == suffixed,
           "number '%s' is %llu, which reads back as %llu", s,
           (unsigned long long)suffixed, (unsigned long long)back);
  snprintf(text, sizeof text, "0x%llx", (unsigned long long)suffixed);
  FZ_CHECK(cli_parse_u64(text, 0, &back) && back == suffixed,
           "number '%s' is 0x%llx, which reads back as 0x%llx", s,
           (unsigned long long)suffixed, (unsigned long long)back);
}

static void cp_lackey(const char *s, size_t n) {
  int kind = -1;
  uint64_t addr = 0, size = 0;
  const char *why = NULL;
  int r = cli_lackey_line(s, n, &kind, &addr, &size, &why);
  FZ_CHECK(r >= -1 && r <= 1, "lackey line: result %d", r);
  if (r < 0)
    FZ_CHECK(why && *why, "lackey line '%.*s': malformed, no reason",
             (int)n, s);
  if (r != 1)
    return;
  FZ_CHECK(kind >= 0 && kind <= 3 && size >= 1 && size <= CLI_MAX_REF_BYTES &&
               addr + (size - 1) >= addr,
           "lackey line '%.*s': kind %d addr 0x%llx size %llu", (int)n, s,
           kind, (unsigned long long)addr, (unsigned long long)size);
  /* as valgrind writes it: "I  ADDR,SIZE", " L ADDR,SIZE" */
  char text[64];
  int len = kind == 0 ? snprintf(text, sizeof text, "I  %08llx,%llu\n",
                                 (unsigned long long)addr,
                                 (unsigned long long)size)
                      : snprintf(text, sizeof text, " %c %08llx,%llu\n",
                                 "ILSM"[kind], (unsigned long long)addr,
                                 (unsigned long long)size);
  int kind2 = -1;
  uint64_t addr2 = 0, size2 = 0;
  FZ_CHECK(cli_lackey_line(text, (size_t)len, &kind2, &addr2, &size2, &why) == 1 &&
               kind2 == kind && addr2 == addr && size2 == size,
           "lackey line '%.*s' written back as '%s' reads differently", (int)n,
           s, text);
}

/* A parsed call written back as a script line. */
static void cp_render(const cli_cmd *c, char *out, size_t n) {
  static const char *const map_flags[4] = {"fixed", "growsdown", "hugetlb",
                                           "populate"};
  static const char *const remap_flags[2] = {"maymove", "fixed"};
  char prot[4] = {(c->prot & MMU_PROT_READ) ? 'r' : '-',
                  (c->prot & MMU_PROT_WRITE) ? 'w' : '-',
                  (c->prot & MMU_PROT_EXEC) ? 'x' : '-', 0};
  char flags[96] = "";
  size_t used = 0;
  const char *name = cli_op_name(c->op);
  unsigned long long a = c->num[0], b = c->num[1], d = c->num[2];
  switch (c->op) {
  case CLI_OP_MMAP:
    used += (size_t)snprintf(flags, sizeof flags, "%sanonymous",
                             c->shared > 0 ? "shared," : c->shared == 0 ? "private," : "");
    for (unsigned i = 0; i < 4; i++)
      if (c->flags & (1u << i))
        used += (size_t)snprintf(flags + used, sizeof flags - used, ",%s",
                                 map_flags[i]);
    snprintf(out, n, "%s 0x%llx 0x%llx %s %s", name, a, b, prot, flags);
    break;
  case CLI_OP_MUNMAP:
    snprintf(out, n, "%s 0x%llx 0x%llx", name, a, b);
    break;
  case CLI_OP_MPROTECT:
    snprintf(out, n, "%s 0x%llx 0x%llx %s", name, a, b, prot);
    break;
  case CLI_OP_MADVISE:
    snprintf(out, n, "%s 0x%llx 0x%llx %s", name, a, b,
             c->flags == MMU_MADV_FREE ? "free" : "dontneed");
    break;
  case CLI_OP_MREMAP:
    for (unsigned i = 0; i < 2; i++)
      if (c->flags & (i ? MMU_MREMAP_FIXED : MMU_MREMAP_MAYMOVE))
        used += (size_t)snprintf(flags + used, sizeof flags - used, "%s%s",
                                 used ? "," : "", remap_flags[i]);
    snprintf(out, n, "%s 0x%llx 0x%llx 0x%llx %s 0x%llx", name, a, b, d,
             used ? flags : "0", (unsigned long long)c->num[3]);
    break;
  case CLI_OP_TOUCH:
    snprintf(out, n, "%s 0x%llx %s", name, a,
             c->access == MMU_WRITE ? "w" : c->access == MMU_FETCH ? "x" : "r");
    break;
  case CLI_OP_FORK:
    snprintf(out, n, "%s", name);
    break;
  default: /* brk, stack, pid */
    snprintf(out, n, "%s 0x%llx", name, a);
    break;
  }
}

/* Words of a script line as mmu maps splits them (a '#' ends the line). */
static int cp_words(char *line, char **w, int max) {
  char *hash = strchr(line, '#'), *save = NULL;
  if (hash)
    *hash = 0;
  int nw = 0;
  for (char *t = strtok_r(line, " \t\r", &save); t;
       t = strtok_r(NULL, " \t\r", &save))
    if (nw++ < max)
      w[nw - 1] = t;
  return nw;
}

static void cp_script(const char *s, size_t n) {
  char line[CP_LINE], again[CP_LINE], text[CP_LINE];
  char *w[CLI_SCRIPT_MAX_ARGS + 2];
  if (n >= sizeof line)
    return;
  memcpy(line, s, n);
  line[n] = 0;
  int nw = cp_words(line, w, CLI_SCRIPT_MAX_ARGS + 2);
  if (nw < 1 || nw > CLI_SCRIPT_MAX_ARGS + 1)
    return;
  cli_cmd c;
  memset(&c, 0, sizeof c);
  const char *why = cli_script_line(w, nw, &c);
  if (why) {
    FZ_CHECK(*why, "script line '%.*s': refused, no reason", (int)n, s);
    return;
  }
  FZ_CHECK(c.op > CLI_OP_COMMENT && c.op < CLI_OP_COUNT,
           "script line '%.*s': op %d", (int)n, s, c.op);
  cp_render(&c, text, sizeof text);
  memcpy(again, text, strlen(text) + 1);
  nw = cp_words(again, w, CLI_SCRIPT_MAX_ARGS + 2);
  cli_cmd c2;
  memset(&c2, 0, sizeof c2);
  why = cli_script_line(w, nw, &c2);
  FZ_CHECK(!why && c2.op == c.op && memcmp(c2.num, c.num, sizeof c.num) == 0 &&
               c2.prot == c.prot && c2.flags == c.flags &&
               c2.shared == c.shared && c2.access == c.access,
           "script line '%.*s' written back as '%s' reads differently (%s)",
           (int)n, s, text, why ? why : "other fields");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned which = data[0] % 3;
  const char *p = (const char *)data + 1, *end = (const char *)data + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    if (which == 1) {
      cp_lackey(p, n); /* its own line end included, as mmu trace does */
    } else {
      size_t m = n - (nl ? 1 : 0);
      if (m < CP_LINE && !memchr(p, 0, m)) {
        char line[CP_LINE];
        memcpy(line, p, m);
        line[m] = 0;
        if (which == 0)
          cp_number(line);
        else
          cp_script(line, m);
      }
    }
    p += n;
  }
  return 0;
}
