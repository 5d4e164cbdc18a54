#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one `mmu` command and holds it to what a test expects.
#
#   check.sh [--expect FILE] [--stdout-has REGEX] [--stderr-has REGEX]
#            [--in-dump-dir] STATUS -- COMMAND...
#
# STATUS is the exit status the command must return; --expect FILE the
# exact text it must print on stdout (MMU_CLI_UPDATE=1 rewrites FILE
# instead: review the diff); --stdout-has/--stderr-has an extended regular
# expression some line must match. --in-dump-dir runs COMMAND in a fresh
# directory holding dump.bin, the guest RAM the walk-dump test reads.
#
#   check.sh --man-options MAN SECTION -- COMMAND --help
#
# Every --option COMMAND's help names is in MAN between the marks
# '.\" SECTION-BEGIN' and '.\" SECTION-END', and every one there in the help.
set -u

fail() {
  echo "check.sh: $*" >&2
  exit 1
}

# Little-endian 64-bit value at a byte offset of a file (dd keeps the rest).
put_u64() {
  file=$1 offset=$2 value=$3 bytes="" i=0
  while [ $i -lt 8 ]; do
    bytes="$bytes\\$(printf '%03o' $(( (value >> (8 * i)) & 255 )))"
    i=$((i + 1))
  done
  printf "$bytes" | dd of="$file" bs=1 seek="$offset" conv=notrunc 2>/dev/null ||
    fail "cannot write $file"
}

# Guest RAM at GPA 0x100000: a user stack page mapped by four levels
# (PML4 0x100000, PDPT 0x101000, PD 0x102000, PT 0x103000, page 0x104000),
# every entry P|W|U, none yet accessed: a user write sets A in each and D
# in the PTE. Linear address 0x7ffd4a3b2c18.
make_dump() {
  file=$1 base=$((0x100000)) va=$((0x7ffd4a3b2c18))
  dd if=/dev/zero of="$file" bs=4096 count=5 2>/dev/null || fail "cannot create $file"
  table=0 level=4
  while [ $level -ge 1 ]; do
    index=$(( (va >> (12 + 9 * (level - 1))) & 511 ))
    next=$(( base + (5 - level) * 4096 ))
    put_u64 "$file" $(( table + index * 8 )) $(( next | 7 ))
    table=$(( next - base ))
    level=$((level - 1))
  done
  printf 'guest data' | dd of="$file" bs=1 seek=$(( 0x4c18 )) conv=notrunc 2>/dev/null
}

if [ "${1:-}" = "--man-options" ]; then
  man=$2 section=$3
  shift 3
  [ "${1:-}" = "--" ] || fail "--man-options MAN SECTION -- COMMAND --help"
  shift
  help=$("$@") || fail "'$*' failed"
  in_help=$(printf '%s\n' "$help" | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
  in_man=$(sed -n "/^\\.\\\\\" $section-BEGIN/,/^\\.\\\\\" $section-END/p" "$man" |
           sed 's/\\-/-/g' | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
  [ -n "$in_man" ] || fail "no options between the $section marks of $man"
  status=0
  for o in $in_help; do
    printf '%s\n' "$in_man" | grep -qx -- "$o" ||
      { echo "check.sh: $o is in the help, not in $man" >&2; status=1; }
  done
  for o in $in_man; do
    printf '%s\n' "$in_help" | grep -qx -- "$o" ||
      { echo "check.sh: $o is in $man, not in the help" >&2; status=1; }
  done
  exit $status
fi

expect="" stdout_has="" stderr_has="" dump_dir=0
while [ $# -gt 0 ]; do
  case $1 in
  --expect) expect=$2; shift 2 ;;
  --stdout-has) stdout_has=$2; shift 2 ;;
  --stderr-has) stderr_has=$2; shift 2 ;;
  --in-dump-dir) dump_dir=1; shift ;;
  --) shift; break ;;
  *) want_status=$1; shift ;;
  esac
done
[ -n "${want_status:-}" ] && [ $# -gt 0 ] || fail "usage: see the head of $0"

work=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$work"' EXIT
if [ $dump_dir = 1 ]; then
  make_dump "$work/dump.bin"
  cd "$work" || fail "cd $work"
fi
"$@" >"$work/stdout" 2>"$work/stderr"
status=$?
cat "$work/stderr" >&2
ok=1
if [ "$status" != "$want_status" ]; then
  echo "check.sh: exit status $status, want $want_status: $*" >&2
  ok=0
fi
if [ -n "$expect" ]; then
  if [ "${MMU_CLI_UPDATE:-0}" = 1 ]; then
    cp "$work/stdout" "$expect"
  elif ! diff -u "$expect" "$work/stdout"; then
    echo "check.sh: stdout differs from $expect (diff above)" >&2
    ok=0
  fi
fi
if [ -n "$stdout_has" ] && ! grep -qE -- "$stdout_has" "$work/stdout"; then
  cat "$work/stdout"
  echo "check.sh: no line of stdout matches '$stdout_has'" >&2
  ok=0
fi
if [ -n "$stderr_has" ] && ! grep -qE -- "$stderr_has" "$work/stderr"; then
  echo "check.sh: no line of stderr matches '$stderr_has'" >&2
  ok=0
fi
[ $ok = 1 ] || exit 1
echo "check.sh: ok (exit $status): $*"
