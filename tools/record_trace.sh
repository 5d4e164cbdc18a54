#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/record_trace.sh - regenerates bench/traces/sort.trace.xz, the page
# reference trace bench/bench_policy.c replays (see bench/traces/README.md).
#
#   tools/record_trace.sh [output.trace.xz]
#
# Needs valgrind (lackey), setarch, xz and a C compiler. Deterministic: ASLR
# is off (setarch -R), the input is generated, the locale is C.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/bench/traces/sort.trace.xz}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The workload's input: 6,000 lines "<key> line <n>", keys a permutation
# step of n, so sort does real work (100,000 bytes).
awk 'BEGIN { for (n = 1; n <= 20000; n++) print (n * 7919) % 20011 " line " n }' |
  head -c 100000 >"$tmp/input.txt"

# Lackey prints one line per memory reference of the client:
#   "I  addr,size" (instruction fetch), " L addr,size", " S addr,size",
#   " M addr,size" (load and store of the same bytes).
# The filter turns every reference into the 4 KiB pages it touches (two when
# it straddles a page boundary), drops a reference to the same page as the
# one just before it, and renumbers pages densely in first-touch order.
cat >"$tmp/pages.c" <<'CEOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* open-addressing map: 4 KiB page number -> dense id */
static uint64_t *keys;
static uint32_t *ids;
static size_t cap = 1u << 20, used;

static uint32_t dense(uint64_t page) {
  size_t i = (size_t)((page * 0x9E3779B97F4A7C15ull) >> 44) & (cap - 1);
  while (keys[i] != UINT64_MAX) {
    if (keys[i] == page)
      return ids[i];
    i = (i + 1) & (cap - 1);
  }
  if (++used > cap / 2) {
    fprintf(stderr, "pages: more than %zu distinct pages\n", cap / 2);
    exit(1);
  }
  keys[i] = page;
  ids[i] = (uint32_t)(used - 1);
  return ids[i];
}

int main(void) {
  char line[256];
  uint64_t last = UINT64_MAX, refs = 0, kept = 0;
  keys = malloc(cap * sizeof *keys);
  ids = malloc(cap * sizeof *ids);
  if (!keys || !ids)
    return 1;
  memset(keys, 0xFF, cap * sizeof *keys);
  while (fgets(line, sizeof line, stdin)) {
    char kind;
    unsigned long long addr;
    unsigned size;
    if (sscanf(line, " %c %llx,%u", &kind, &addr, &size) != 3 ||
        !strchr("ILSM", kind) || size == 0)
      continue; /* lackey's banner and summary lines */
    refs++;
    for (uint64_t p = addr >> 12; p <= (addr + size - 1) >> 12; p++) {
      if (p == last)
        continue;
      last = p;
      printf("%u\n", dense(p));
      kept++;
    }
  }
  fprintf(stderr, "pages: %llu references, %llu kept, %zu distinct pages\n",
          (unsigned long long)refs, (unsigned long long)kept, used);
  return 0;
}
CEOF
${CC:-cc} -O2 -o "$tmp/pages" "$tmp/pages.c"

cd "$tmp"
LC_ALL=C setarch "$(uname -m)" -R \
  valgrind --tool=lackey --trace-mem=yes --log-fd=9 \
  sort input.txt 9>&1 >/dev/null 2>"$tmp/valgrind.err" |
  ./pages >"$tmp/trace.txt"
xz -9e -T1 -c "$tmp/trace.txt" >"$out"
echo "record_trace: $(wc -l <"$tmp/trace.txt") references -> $out ($(wc -c <"$out") bytes)"
echo "record_trace: $(sort --version | head -1), $(valgrind --version)"
