#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/record_tlb_traces.sh - records the TLB traces bench/bench_trace.c
# replays: bench/traces/{gzip,sort,sqlite3,python3,xz}.tlb.xz (format and
# provenance: bench/traces/README.md).
#
#   tools/record_tlb_traces.sh [outdir]      (default: bench/traces)
#
# Each trace is the first 5,000,000 page references of a real program run
# under valgrind's lackey, with the real virtual page numbers (TLB set
# indexing depends on them) and the kind of each reference (fetch, read,
# write). Needs valgrind, setarch, xz, gzip, sqlite3, python3, awk and a C
# compiler. Deterministic: ASLR off (setarch -R), an empty environment but
# for LC_ALL=C, PATH and (python3) PYTHONHASHSEED=0, inputs generated here,
# no network. Recording the same tools' versions gives the same bytes.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$here/bench/traces}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
limit=5000000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# ---------------------------------------------------------------------------
# Inputs. awk arithmetic stays below 2^53, so mawk and gawk agree.

# sort: as tools/record_trace.sh (100,000 bytes of "<key> line <n>").
awk 'BEGIN { for (n = 1; n <= 20000; n++) print (n * 7919) % 20011 " line " n }' |
  head -c 100000 >"$tmp/input.txt"

# gzip, xz: 1 MiB of text, words drawn by the Park-Miller generator from a
# list of 64, lines of 6..13 words after a line number.
awk 'BEGIN {
  split("alpha bravo charlie delta echo foxtrot golf hotel india juliet " \
        "kilo lima mike november oscar papa quebec romeo sierra tango " \
        "uniform victor whiskey xray yankee zulu page table entry walk " \
        "cache miss hit frame dirty access global user write read fetch " \
        "level index tag set way victim flush shootdown kernel process " \
        "memory virtual physical address translation buffer lookaside " \
        "mapping region swap fault", w, " ")
  s = 12345
  for (n = 1; n <= 40000; n++) {
    s = (s * 16807) % 2147483647
    k = 6 + s % 8
    line = n ":"
    for (j = 0; j < k; j++) {
      s = (s * 16807) % 2147483647
      line = line " " w[1 + s % 64]
    }
    print line
  }
}' | head -c 1048576 >"$tmp/data.txt"

# sqlite3: an in-memory database, 20,000 INSERTs in one transaction, an
# index, a few queries.
awk 'BEGIN {
  print "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v REAL, name TEXT);"
  print "BEGIN;"
  for (n = 1; n <= 20000; n++)
    printf "INSERT INTO t VALUES(%d, %d, %d.5, '"'"'name %d'"'"');\n",
           n, (n * 7919) % 20011, n % 977, (n * 31) % 10007
  print "COMMIT;"
  print "CREATE INDEX t_k ON t(k);"
  print "SELECT count(*), sum(k), avg(v) FROM t;"
  print "SELECT id, name FROM t WHERE k BETWEEN 1000 AND 1040 ORDER BY k;"
  print "SELECT k % 10, count(*), max(name) FROM t GROUP BY 1 ORDER BY 1;"
  print "SELECT a.id, b.id FROM t a JOIN t b ON a.k = b.id WHERE a.id < 50;"
}' >"$tmp/db.sql"

# python3: dicts, lists and string work.
cat >"$tmp/work.py" <<'PYEOF'
d = {}
for i in range(20000):
    d["key%05d" % i] = (i * 7919) % 20011
order = sorted(d, key=d.get)
text = " ".join(order[:6000]).upper().replace("KEY", "k-")
counts = {}
for word in text.split():
    counts[word[-2:]] = counts.get(word[-2:], 0) + 1
rows = [[j * i % 97 for j in range(50)] for i in range(200)]
total = sum(sum(r) for r in rows)
print(len(d), len(text), len(counts), total, order[:3])
PYEOF

# ---------------------------------------------------------------------------
# The filter: lackey's output on stdin, the trace on stdout.
#
# Lackey prints one line per memory reference of the client:
#   "I  addr,size" (instruction fetch), " L addr,size" (load),
#   " S addr,size" (store), " M addr,size" (load then store, same bytes).
# Each becomes one page reference per 4 KiB page its bytes touch (two when
# it straddles a page boundary); M gives its read(s) then its write(s).
# Nothing is dropped or renumbered. Output: the line "mmu-tlb-trace 1\n",
# then per page reference one LEB128 varint
#   v = zigzag(vpn - prev[kind]) << 2 | kind     (kind 0 read, 1 write,
#                                                 2 fetch; prev[] starts 0)
# where prev[kind] is the page of the previous reference of the same kind.
cat >"$tmp/tlbfilter.c" <<'CEOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t limit, emitted, lackey_refs, kinds[3], prev[3];
static uint64_t lo = UINT64_MAX, hi;

/* open-addressing set of page numbers, for the distinct-page count */
static uint64_t *keys;
static size_t cap = 1u << 22, used;

static void remember(uint64_t page) {
  size_t i = (size_t)((page * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
  while (keys[i] != UINT64_MAX) {
    if (keys[i] == page)
      return;
    i = (i + 1) & (cap - 1);
  }
  if (++used > cap / 2) {
    fprintf(stderr, "tlbfilter: more than %zu distinct pages\n", cap / 2);
    exit(1);
  }
  keys[i] = page;
  if (page < lo)
    lo = page;
  if (page > hi)
    hi = page;
}

static void report(void) {
  fprintf(stderr,
          "tlbfilter: %llu lackey references -> %llu page references "
          "(read %llu, write %llu, fetch %llu), %zu distinct pages, "
          "%#llx..%#llx\n",
          (unsigned long long)lackey_refs, (unsigned long long)emitted,
          (unsigned long long)kinds[0], (unsigned long long)kinds[1],
          (unsigned long long)kinds[2], used, (unsigned long long)(lo << 12),
          (unsigned long long)(hi << 12));
}

static void emit(uint64_t vpn, unsigned kind) {
  int64_t d = (int64_t)(vpn - prev[kind]);
  uint64_t v = (((uint64_t)d << 1) ^ (uint64_t)(d >> 63)) << 2 | kind;
  prev[kind] = vpn;
  do {
    unsigned byte = (unsigned)(v & 0x7F);
    v >>= 7;
    putchar(v ? (int)(byte | 0x80) : (int)byte);
  } while (v);
  remember(vpn);
  kinds[kind]++;
  if (++emitted == limit) {
    if (fflush(stdout) != 0)
      exit(1);
    report();
    exit(0); /* valgrind then dies of SIGPIPE (or runs on, its output lost) */
  }
}

int main(int argc, char **argv) {
  char line[512];
  limit = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
  keys = malloc(cap * sizeof *keys);
  if (!keys)
    return 1;
  memset(keys, 0xFF, cap * sizeof *keys);
  fputs("mmu-tlb-trace 1\n", stdout);
  while (fgets(line, sizeof line, stdin)) {
    char *p = line, *end;
    while (*p == ' ')
      p++;
    char c = *p;
    if (c != 'I' && c != 'L' && c != 'S' && c != 'M')
      continue; /* "==pid== ..." banner and summary lines */
    p++;
    if (*p != ' ')
      continue;
    while (*p == ' ')
      p++;
    unsigned long long addr = strtoull(p, &end, 16);
    if (end == p || *end != ',')
      continue;
    unsigned long size = strtoul(end + 1, NULL, 10);
    if (size == 0)
      continue;
    lackey_refs++;
    uint64_t first = addr >> 12, last = (addr + size - 1) >> 12;
    if (c == 'I')
      for (uint64_t q = first; q <= last; q++)
        emit(q, 2);
    if (c == 'L' || c == 'M')
      for (uint64_t q = first; q <= last; q++)
        emit(q, 0);
    if (c == 'S' || c == 'M')
      for (uint64_t q = first; q <= last; q++)
        emit(q, 1);
  }
  report();
  fprintf(stderr, "tlbfilter: the program ended before %llu references\n",
          (unsigned long long)limit);
  return 1;
}
CEOF
${CC:-cc} -O2 -o "$tmp/tlbfilter" "$tmp/tlbfilter.c"

# ---------------------------------------------------------------------------
# Recording. Valgrind runs in the background with lackey's log (fd 9) on a
# FIFO the filter reads; the client's stdin is the given file, its stdout
# /dev/null. Once the filter has its references it exits and valgrind is
# killed: the rest of the run is not needed (and a client that catches
# SIGPIPE, as xz does, would otherwise run to its end under lackey).

record() { # name, stdin file, then the command and its arguments
  name=$1
  input=$2
  shift 2
  echo "record_tlb_traces: $name: $*"
  rm -f "$tmp/lackey.fifo"
  mkfifo "$tmp/lackey.fifo"
  (cd "$tmp" &&
    exec env -i LC_ALL=C PATH=/usr/bin:/bin PYTHONHASHSEED=0 \
      setarch x86_64 -R valgrind --tool=lackey --trace-mem=yes --log-fd=9 \
      "$@" 9>lackey.fifo <"$input" >/dev/null 2>"$name.valgrind.err") &
  vpid=$!
  status=0
  "$tmp/tlbfilter" "$limit" <"$tmp/lackey.fifo" >"$tmp/$name.tlb" \
    2>"$tmp/$name.stats" || status=$?
  kill -KILL "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  cat "$tmp/$name.stats"
  if [ "$status" -ne 0 ]; then
    echo "record_tlb_traces: $name: filter failed ($status); valgrind said:" >&2
    tail -5 "$tmp/$name.valgrind.err" >&2
    exit 1
  fi
  xz -9e -T1 -c "$tmp/$name.tlb" >"$outdir/$name.tlb.xz"
  echo "record_tlb_traces: $name: $(wc -c <"$tmp/$name.tlb") bytes," \
    "$(wc -c <"$outdir/$name.tlb.xz") compressed -> $outdir/$name.tlb.xz"
  rm -f "$tmp/$name.tlb"
}

record gzip /dev/null /usr/bin/gzip -6 -c data.txt
record sort /dev/null /usr/bin/sort input.txt
record sqlite3 db.sql /usr/bin/sqlite3 -init /dev/null -batch :memory:
record python3 work.py "$python" -S -B -
record xz /dev/null /usr/bin/xz -6 -T1 -c data.txt

echo "record_tlb_traces: $(gzip --version | head -1); $(sort --version | head -1);" \
  "sqlite3 $(sqlite3 --version | cut -d' ' -f1); $("$python" --version);" \
  "$(xz --version | head -1); $(valgrind --version);" \
  "$(ldd --version | head -1)"
