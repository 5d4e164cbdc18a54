#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails if any given object or archive references (as an undefined symbol)
# a heap or mapping function: the library must never allocate.
#
# usage: tools/check_no_alloc.sh [--canary CANARY.a] LIB.a...
#
# With --canary, first proves the check can fail: CANARY (built from
# tests/alloc_canary.c, which calls malloc) must be flagged, or the check
# itself is broken. The nm used is $NM (default: nm).
set -u
NM=${NM:-nm}

# Prints "file: symbol" for every forbidden undefined symbol of $1.
# Returns 2 if nm fails.
forbidden_refs() {
  syms=$("$NM" -A -P -u "$1") || { echo "check_no_alloc: $NM failed on $1" >&2; return 2; }
  printf '%s\n' "$syms" | awk '
    BEGIN {
      n = split("malloc calloc realloc reallocarray free mmap mmap64 munmap " \
                "mremap posix_memalign aligned_alloc memalign pvalloc valloc " \
                "strdup strndup __strdup __strndup brk sbrk", list, " ")
      for (i = 1; i <= n; i++) bad[list[i]] = 1
    }
    NF >= 2 {
      file = $1; sub(/:$/, "", file)
      sym = $2; sub(/@.*$/, "", sym)
      # operator new / new[] / delete / delete[], every overload
      if (sym in bad || sym ~ /^_Z(nw|na|dl|da)/)
        print file ": " sym
    }'
}

canary=
if [ "${1:-}" = "--canary" ]; then
  [ "$#" -ge 2 ] || { echo "usage: $0 [--canary CANARY] LIB..." >&2; exit 2; }
  canary=$2
  shift 2
fi
[ "$#" -ge 1 ] || { echo "usage: $0 [--canary CANARY] LIB..." >&2; exit 2; }

if [ -n "$canary" ]; then
  found=$(forbidden_refs "$canary") || exit 1
  if [ -z "$found" ]; then
    echo "check_no_alloc: BROKEN: the canary $canary calls malloc but was not flagged" >&2
    exit 1
  fi
  echo "canary flagged as expected:"
  printf '%s\n' "$found" | sed 's/^/  /'
fi

status=0
for lib in "$@"; do
  found=$(forbidden_refs "$lib") || { status=1; continue; }
  if [ -n "$found" ]; then
    echo "FAIL: $lib references allocation functions:"
    printf '%s\n' "$found" | sed 's/^/  /'
    status=1
  else
    echo "ok: $lib references no allocation function"
  fi
done
exit $status
