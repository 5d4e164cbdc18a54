#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/record_cli_trace.sh - records tests/cli/true.lackey.xz, the short
# real lackey trace that `mmu trace`'s tests and the README replay (see
# tests/cli/README.md).
#
#   tools/record_cli_trace.sh [output.lackey.xz]
#
# Needs valgrind (lackey), setarch and xz. Deterministic: ASLR is off
# (setarch -R), the environment is empty but for LC_ALL=C and PATH, and the
# working directory is / (valgrind's start-up depends on its length). A
# second recording with the same tools' versions differs only in the PID
# valgrind writes into its own "==PID==" lines and in the addresses of a
# few one-byte loads, which vary from run to run within one stack page:
# the same pages in the same order, so the same `mmu trace` reports.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/tests/cli/true.lackey.xz}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# valgrind's log as it is: its "==PID==" banner and summary around one line
# per memory reference of the client (I fetch, L load, S store, M modify).
cd /
env -i LC_ALL=C PATH=/usr/bin:/bin setarch "$(uname -m)" -R \
  valgrind --tool=lackey --trace-mem=yes --log-file="$tmp/true.lackey" \
  /bin/true
xz -9e -T1 -c "$tmp/true.lackey" >"$out"
echo "record_cli_trace: $(wc -l <"$tmp/true.lackey") lines -> $out ($(wc -c <"$out") bytes)"
echo "record_cli_trace: $(/bin/true --version | head -1), $(valgrind --version)"
