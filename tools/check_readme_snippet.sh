#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's code block after "<!-- snippet: FILE -->" must be FILE's
# lines between /* README-BEGIN */ and /* README-END */ (their common
# two-space indent removed), so the snippet readers copy is one that
# compiles and runs (the FILE is built and run as a test).
#
#   tools/check_readme_snippet.sh README.md examples/os_quickstart.c
set -eu
readme=$1
file=$2
name=${file#"$(dirname "$(dirname "$file")")/"}
want=$(sed -n '/\/\* README-BEGIN \*\//,/\/\* README-END \*\//p' "$file" |
  sed '1d;$d' | sed 's/^  //')
got=$(awk -v m="<!-- snippet: $name -->" '
  $0 == m { found = 1; next }
  found == 1 && /^```/ { found = 2; next }
  found == 2 && /^```/ { exit }
  found == 2 { print }' "$readme")
if [ -z "$want" ]; then
  echo "check_readme_snippet: no README-BEGIN/END block in $file" >&2
  exit 1
fi
if [ "$want" != "$got" ]; then
  echo "check_readme_snippet: $readme's block after <!-- snippet: $name --> differs from $file:" >&2
  printf '%s\n' "$want" >/tmp/readme_snippet_want.$$
  printf '%s\n' "$got" >/tmp/readme_snippet_got.$$
  diff /tmp/readme_snippet_want.$$ /tmp/readme_snippet_got.$$ >&2 || true
  rm -f /tmp/readme_snippet_want.$$ /tmp/readme_snippet_got.$$
  exit 1
fi
echo "check_readme_snippet: $name matches"
