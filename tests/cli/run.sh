#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/cli/run.sh - the ctest cases of `mmu trace` and `mmu maps` that
# need more than one run of the command (tests/cli/README.md); the rest go
# through check.sh.
#
#   sh tests/cli/run.sh MMU TEST
#
# MMU is the built command, TEST one of the names below (ctest adds the
# cli_ prefix). Outputs are compared with the files beside this script;
# MMU_CLI_UPDATE=1 rewrites those files instead (then read the diff).
set -eu

mmu=$1
test=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

fail() {
  echo "FAIL cli_$test: $*" >&2
  exit 1
}

# run EXPECTED_STATUS ARGS...: the command's stdout in out, stderr in err
run() {
  want=$1
  shift
  set +e
  "$mmu" "$@" >out 2>err
  got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "--- stderr:" >&2
    cat err >&2
    fail "mmu $* exited $got, not $want"
  fi
}

# same FILE EXPECTED: FILE as the checked-in EXPECTED
same() {
  if [ "${MMU_CLI_UPDATE:-}" = 1 ]; then
    cp "$1" "$here/$2"
    echo "updated tests/cli/$2"
  elif ! diff -u "$here/$2" "$1" >&2; then
    fail "output differs from tests/cli/$2 (above)"
  fi
}

# has FILE TEXT: FILE holds the line TEXT
has() {
  grep -qxF -- "$2" "$1" || {
    cat "$1" >&2
    fail "no line '$2' in $1"
  }
}

# json_num FILE KEY: the first number after "KEY": in FILE
json_num() {
  n=$(grep -o "\"$2\": [0-9]*" "$1" | head -n 1 | sed 's/.*: //')
  [ -n "$n" ] || fail "no \"$2\" in the JSON"
  echo "$n"
}

# the checked-in lackey trace, as true.lackey in the working directory
trace() {
  command -v xz >/dev/null || fail "xz (Debian's xz-utils) is needed"
  xz -dc "$here/true.lackey.xz" >true.lackey
}

case $test in
trace_text)
  trace
  run 0 trace --tlb-sets 16 --tlb-ways 2 --interval 40000 true.lackey
  same out trace_true.txt
  ;;
trace_json)
  trace
  run 0 trace --tlb-sets 16 --tlb-ways 2 --interval 40000 --json true.lackey
  same out trace_true.json
  ;;
trace_fits)
  # RAM larger than the working set: no major fault, a minor fault per
  # page, and nothing can beat OPT, which faults once per page too
  trace
  run 0 trace --json true.lackey
  pages=$(json_num out pages)
  [ "$(json_num out majflt)" = 0 ] || fail "major faults with RAM to spare"
  [ "$(json_num out minflt)" = "$pages" ] || fail "minor faults are not the $pages pages"
  [ "$(json_num out faults)" = "$pages" ] || fail "OPT is not the $pages pages"
  [ "$(json_num out pswpout)" = 0 ] || fail "swapped with RAM to spare"
  ;;
trace_ram_limited)
  # 128 KiB of RAM for 140 pages: every policy swaps and takes major
  # faults, and none beats Belady's OPT (mmu trace checks it too: exit 1)
  trace
  for p in lru clock lfu two-list; do
    run 0 trace --ram 128K --policy "$p" --json true.lackey
    maj=$(json_num out majflt)
    pol=$(json_num out policy_faults)
    opt=$(json_num out faults)
    [ "$maj" -gt 0 ] || fail "$p: no major fault in 128 KiB"
    [ "$opt" -le "$pol" ] || fail "$p: $pol faults beat OPT's $opt"
    [ "$opt" -gt "$(json_num out pages)" ] || fail "$p: OPT reloaded nothing"
    echo "$p: $maj major, $pol faults, OPT $opt"
  done
  run 0 trace --ram 128K --policy lru true.lackey
  same out trace_true_128k.txt
  ;;
trace_huge)
  trace
  run 0 trace --page-size 2M --ram 64M true.lackey
  same out trace_true_2m.txt
  ;;
trace_stdin)
  # the same report from a pipe, under the name <stdin>
  trace
  run 0 trace --ram 256K true.lackey
  sed 's/^trace true\.lackey:/trace <stdin>:/' out >from_file
  set +e
  xz -dc "$here/true.lackey.xz" | "$mmu" trace --ram 256K - >out 2>err
  got=$?
  set -e
  [ "$got" = 0 ] || fail "mmu trace - exited $got"
  diff -u from_file out >&2 || fail "stdin and file reports differ"
  [ ! -s err ] || fail "stderr not empty in a pipe: $(cat err)"
  ;;
trace_save_ram)
  # the RAM the process ended with explains its last data reference: the
  # printed mmu walk command runs, and both paths agree on it
  trace
  run 0 trace --ram 256K --save-ram ram.bin true.lackey
  walk=$(sed -n 's/^  mmu walk /walk /p' out)
  [ -n "$walk" ] || fail "no mmu walk command printed"
  [ -s ram.bin ] || fail "ram.bin not written"
  # shellcheck disable=SC2086 # the command's words
  run 0 $walk
  grep -q '^mmu_translate (the TLB path) agrees: ok ' out ||
    fail "the walk of the saved RAM did not translate: $(cat out)"
  run 2 trace --save-ram /nonexistent/dir/ram.bin true.lackey
  has err "/nonexistent/dir/ram.bin: cannot write: No such file or directory"
  ;;
trace_bad_line)
  run 2 trace "$here/bad_line.lackey"
  has err "$here/bad_line.lackey:8: expected a decimal size after the ','"
  [ ! -s out ] || fail "a report for a bad trace"
  ;;
trace_missing_file)
  run 2 trace no-such.lackey
  has err "no-such.lackey: No such file or directory"
  ;;
trace_bad_option)
  run 2 trace --tlb-ways 3 x
  has err "mmu trace: --tlb-ways: 3 is not a power of two in 1..16"
  run 2 trace --ram 100000 x
  has err "mmu trace: --ram: 100000 is not a multiple of 4K from 32K to 8T"
  run 2 trace --policy fifo x
  has err "mmu trace: --policy: 'fifo' is none of lru, clock, lfu, two-list, linux"
  run 2 trace --interval 1X x
  has err "mmu trace: --interval: '1X' is not a number"
  run 2 trace --bogus x
  has err "mmu trace: unknown option '--bogus' (see mmu trace --help)"
  ;;
trace_out_of_memory)
  trace
  run 2 trace --ram 64K --swap 0 true.lackey
  grep -q '^true\.lackey:[0-9]*: RAM and swap are full' err ||
    fail "no out-of-memory message: $(cat err)"
  ;;
maps_script)
  run 0 maps "$here/maps_demo.maps"
  same out maps_demo.txt
  [ ! -s err ] || fail "stderr: $(cat err)"
  ;;
maps_stdin)
  run 0 maps "$here/maps_demo.maps"
  cp out from_file
  set +e
  "$mmu" maps - <"$here/maps_demo.maps" >out 2>err
  got=$?
  set -e
  [ "$got" = 0 ] || fail "mmu maps - exited $got"
  diff -u from_file out >&2 || fail "stdin and file outputs differ"
  ;;
maps_bad_script)
  # every error of the script named, nothing run
  run 2 maps "$here/maps_bad.maps"
  sed "s|^$here/||" err >errors
  same errors maps_bad.err
  [ ! -s out ] || fail "the script ran despite its errors"
  ;;
maps_bad_pid)
  printf 'mmap 0 4K rw- private,anonymous\nfork\npid 3\nmunmap 0 4K\n' >s.maps
  run 2 maps s.maps
  has err "s.maps:3: no process 3 (pids 1 to 2)"
  grep -q 'munmap' out && fail "the line after the bad one ran"
  grep -q '^\[1\] fork = 2' out || fail "the lines before it did not run"
  ;;
maps_missing_file)
  run 2 maps no-such.maps
  has err "no-such.maps: No such file or directory"
  run 2 maps --ram 1000 x
  has err "mmu maps: --ram: 1000 is not a multiple of 4K from 64K to 8T"
  ;;
*)
  fail "no such test"
  ;;
esac
echo "cli_$test: ok"
