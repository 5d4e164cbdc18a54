#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one `mmu` command and holds it to what a test expects.
#
#   check.sh [--expect FILE] [--stdout-has REGEX] [--stderr-has REGEX]
#            [--dump KIND] STATUS -- COMMAND...
#
# STATUS is the exit status the command must return; --expect FILE the
# exact text it must print on stdout (MMU_CLI_UPDATE=1 rewrites FILE
# instead: review the diff); --stdout-has/--stderr-has an extended regular
# expression some line must match. --dump KIND runs COMMAND in a fresh
# directory holding dump.bin, guest RAM of one kind below (long4, bits32,
# pae) that the walk tests read.
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

# Little-endian value of SIZE bytes (default 8) at a byte offset of a file
# (dd keeps the rest). Shell arithmetic is signed 64-bit: write an entry
# with bit 63 as two 4-byte halves.
put() {
  file=$1 offset=$2 value=$3 size=${4:-8} bytes="" i=0
  while [ $i -lt "$size" ]; do
    bytes="$bytes\\$(printf '%03o' $(( (value >> (8 * i)) & 255 )))"
    i=$((i + 1))
  done
  printf "$bytes" | dd of="$file" bs=1 seek="$offset" conv=notrunc 2>/dev/null ||
    fail "cannot write $file"
}

# A file of PAGES zeroed 4 KiB pages, with 'guest data' at byte DATA.
blank() {
  dd if=/dev/zero of="$1" bs=4096 count="$2" 2>/dev/null || fail "cannot create $1"
  printf 'guest data' | dd of="$1" bs=1 seek="$3" conv=notrunc 2>/dev/null ||
    fail "cannot write $1"
}

# long4, at GPA 0x100000: a user stack page mapped by four levels
# (PML4 0x100000, PDPT 0x101000, PD 0x102000, PT 0x103000, page 0x104000),
# every entry P|W|U, none yet accessed: a user write sets A in each and D
# in the PTE. Linear address 0x7ffd4a3b2c18.
dump_long4() {
  file=$1 base=$((0x100000)) va=$((0x7ffd4a3b2c18))
  blank "$file" 5 $((0x4c18))
  table=0 level=4
  while [ $level -ge 1 ]; do
    index=$(( (va >> (12 + 9 * (level - 1))) & 511 ))
    next=$(( base + (5 - level) * 4096 ))
    put "$file" $(( table + index * 8 )) $(( next | 7 ))
    table=$(( next - base ))
    level=$((level - 1))
  done
}

# bits32, at GPA 0: 32-bit paging (SDM 4.3), 4-byte entries, directory at
# 0x1000. 0x0804a123: PDE[32] -> table 0x2000, PTE[74] -> page 0x3000,
# both P|W|U and not accessed; their neighbours (PDE[33], PTE[75]) share
# their 8 bytes and must stay as they are. 0xc0512345: PDE[769], a 4 MiB
# supervisor page, PSE-36 bits 20:13 = 0x5a (physical 0x5a80400000).
# 0x00c01000: PDE[3], a 4 MiB user page with bit 17 set (PSE-36 under
# MAXPHYADDR 40, reserved under 36).
dump_bits32() {
  file=$1
  blank "$file" 4 $((0x3123))
  put "$file" $((0x1000 + 32 * 4)) $((0x2000 | 0x7)) 4
  put "$file" $((0x1000 + 33 * 4)) $((0x5000 | 0x67)) 4
  put "$file" $((0x2000 + 74 * 4)) $((0x3000 | 0x7)) 4
  put "$file" $((0x2000 + 75 * 4)) $((0x6000 | 0x25)) 4
  put "$file" $((0x1000 + 768 * 4)) $((0x00400000 | 0x83)) 4
  put "$file" $((0x1000 + 769 * 4)) $((0x80400000 | 0x5a << 13 | 0x83)) 4
  put "$file" $((0x1000 + 3 * 4)) $((0x00c00000 | 1 << 17 | 0x87)) 4
}

# pae, at GPA 0: PAE paging (SDM 4.4). PDPTEs at 0x1000: [1] -> PD 0x2000,
# [2] -> PD 0x3000, [0] and [3] not present. 0x80605abc: PDE 0x3000[3] ->
# PT 0x4000, PTE[5] -> page 0x5000 with XD, all P|W|U. 0x40345678:
# PDE 0x2000[1], a 2 MiB supervisor page at 0xf7fe00000. 0x40401000:
# PDE 0x2000[2] with bit 62 (reserved in PAE paging). PDPTEs at 0x1020:
# [0] -> 0x2000, [1] with W (bit 1, reserved in a PDPTE).
dump_pae() {
  file=$1
  blank "$file" 6 $((0x5abc))
  put "$file" $((0x1008)) $((0x2000 | 0x1))
  put "$file" $((0x1010)) $((0x3000 | 0x1))
  put "$file" $((0x3000 + 3 * 8)) $((0x4000 | 0x7))
  put "$file" $((0x4000 + 5 * 8)) $((0x5000 | 0x7)) 4
  put "$file" $((0x4000 + 5 * 8 + 4)) $((0x80000000)) 4
  put "$file" $((0x2000 + 1 * 8)) $((0xf7fe00000 | 0x83))
  put "$file" $((0x2000 + 2 * 8)) $((0x4000000000000000 | 0x5000 | 0x3))
  put "$file" $((0x1020)) $((0x2000 | 0x1))
  put "$file" $((0x1028)) $((0x3000 | 0x3))
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

expect="" stdout_has="" stderr_has="" dump=""
while [ $# -gt 0 ]; do
  case $1 in
  --expect) expect=$2; shift 2 ;;
  --stdout-has) stdout_has=$2; shift 2 ;;
  --stderr-has) stderr_has=$2; shift 2 ;;
  --dump) dump=$2; shift 2 ;;
  --) shift; break ;;
  *) want_status=$1; shift ;;
  esac
done
[ -n "${want_status:-}" ] && [ $# -gt 0 ] || fail "usage: see the head of $0"

work=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$work"' EXIT
if [ -n "$dump" ]; then
  case $dump in
  long4 | bits32 | pae) "dump_$dump" "$work/dump.bin" ;;
  *) fail "--dump $dump: no such kind" ;;
  esac
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
