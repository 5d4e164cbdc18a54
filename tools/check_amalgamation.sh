#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerates the single-file header into SCRATCH and fails if the committed
# one (COMMITTED, normally dist/mmu.h) differs.
#
# usage: tools/check_amalgamation.sh COMMITTED SCRATCH
set -u
[ "$#" -eq 2 ] || { echo "usage: $0 COMMITTED SCRATCH" >&2; exit 2; }
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
sh "$here/amalgamate.sh" "$2" || exit 1
if [ ! -f "$1" ]; then
  echo "$1 is missing: run tools/amalgamate.sh dist/mmu.h"
  exit 1
fi
if ! diff -u "$1" "$2"; then
  echo "$1 is out of date: run tools/amalgamate.sh dist/mmu.h"
  exit 1
fi
echo "ok: $1 matches include/ and mmu/"
