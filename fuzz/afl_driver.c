/* SPDX-License-Identifier: MIT */
/* afl_driver.c - AFL++ persistent mode with shared-memory test cases for a
 * fuzz target that defines LLVMFuzzerTestOneInput.
 *
 * Build with afl-clang-fast (or afl-clang-lto) and link with one
 * fuzz/fuzz_<name>.c. Each test case is copied into an exactly sized heap
 * buffer, so that an ASan build catches reads past the input (the shared
 * memory page would hide them). Outside afl-fuzz, files named on the
 * command line are run once each (stdin when there are none). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#ifndef __AFL_FUZZ_TESTCASE_LEN
#error "afl_driver.c must be compiled with afl-clang-fast or afl-clang-lto"
#endif

__AFL_FUZZ_INIT();

static void run_one(const unsigned char *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy)
    abort();
  if (len)
    memcpy(copy, data, len);
  LLVMFuzzerTestOneInput(copy, len);
  free(copy);
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  run_one(buf, n);
  return 0;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  if (argc > 1 && !getenv("__AFL_SHM_FUZZ_ID")) {
    int bad = 0;
    for (int i = 1; i < argc; i++)
      bad |= run_file(argv[i]) != 0;
    return bad;
  }
#ifdef __AFL_HAVE_MANUAL_CONTROL
  __AFL_INIT();
#endif
  unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF; /* after __AFL_INIT */
  while (__AFL_LOOP(100000)) {
    ssize_t len = __AFL_FUZZ_TESTCASE_LEN;
    if (len < 0)
      len = 0;
    run_one(buf, (size_t)len);
  }
  return 0;
}
