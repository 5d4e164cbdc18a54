/* SPDX-License-Identifier: MIT */
/* standalone_main.c - run a fuzz target on files, without a fuzzing engine.
 *
 *   fuzz_<name>_repro FILE|DIR...
 *
 * Links with one fuzz/fuzz_<name>.c (any C compiler, gcc too) and calls its
 * LLVMFuzzerTestOneInput once per file; a directory means every regular
 * file in it (not recursive; README* and *.md notes are skipped). A failing
 * input aborts, so the exit status and the sanitizer report say which file
 * (it is printed before it runs). Exit 0 when every input ran. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int verbose;

/* Exactly sized heap copy, so that ASan sees a read past the input. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "standalone: cannot open %s\n", path);
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      fclose(f);
      fprintf(stderr, "standalone: out of memory reading %s\n", path);
      return -1;
    }
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    buf = realloc(buf, cap);
  }
  fclose(f);
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, n);
  free(buf);
  if (verbose)
    fprintf(stderr, "standalone: running %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int skip_name(const char *name) {
  size_t n = strlen(name);
  return name[0] == '.' || strncmp(name, "README", 6) == 0 ||
         (n > 3 && strcmp(name + n - 3, ".md") == 0);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  verbose = getenv("FUZZ_VERBOSE") != NULL;
  unsigned long ran = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "standalone: no such file %s\n", argv[i]);
      failed++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed += run_file(argv[i]) != 0;
      ran++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) {
      failed++;
      continue;
    }
    /* sorted, so that runs are reproducible */
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (skip_name(e->d_name))
        continue;
      if (count == cap) {
        cap = cap ? cap * 2 : 64;
        char **bigger = realloc(names, cap * sizeof *names);
        if (!bigger)
          break;
        names = bigger;
      }
      names[count++] = strdup(e->d_name);
    }
    closedir(d);
    if (count)
      qsort(names, count, sizeof *names, by_name);
    for (size_t k = 0; k < count; k++) {
      size_t len = strlen(argv[i]) + strlen(names[k]) + 2;
      char *path = malloc(len);
      if (path) {
        snprintf(path, len, "%s/%s", argv[i], names[k]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
          failed += run_file(path) != 0;
          ran++;
        }
        free(path);
      }
      free(names[k]);
    }
    free(names);
  }
  fprintf(stderr, "standalone: %lu inputs run, %lu unreadable\n", ran, failed);
  return failed ? 1 : 0;
}
