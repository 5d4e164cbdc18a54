/* SPDX-License-Identifier: MIT */
/* mmu - the command-line face of the library: explain one page walk, run
 * conformance vectors, replay a memory trace, play an mmap script. */
#include <string.h>

#include "cli.h"
#include "mmu.h"

static const struct {
  const char *name;
  int (*run)(int, char **);
  const char *what;
} subcommands[] = {
    {"walk", cli_walk, "explain one translation, level by level"},
    {"conform", cli_conform, "run conformance vector and digest files"},
    {"trace", cli_trace, "replay a valgrind lackey trace through a TLB and RAM"},
    {"maps", cli_maps, "run an mmap script, print /proc/PID/maps after each line"},
};
#define SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: mmu [--help] [--version] COMMAND [ARGS...]\n\n"
             "commands:\n");
  for (size_t i = 0; i < SUBCOMMANDS; i++)
    fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].what);
  fprintf(f, "\n'mmu COMMAND --help' describes a command; 'man mmu' all of them.\n"
             "exit status: 0 ok, 1 a check failed, 2 bad usage or input.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_BAD_INPUT;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return CLI_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("mmu %s\n", MMU_VERSION_STRING);
    return CLI_OK;
  }
  for (size_t i = 0; i < SUBCOMMANDS; i++)
    if (strcmp(argv[1], subcommands[i].name) == 0) {
      if (argc > 2 && strcmp(argv[2], "--version") == 0) {
        printf("mmu %s %s\n", subcommands[i].name, MMU_VERSION_STRING);
        return CLI_OK;
      }
      return subcommands[i].run(argc - 1, argv + 1);
    }
  fprintf(stderr, "mmu: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return CLI_BAD_INPUT;
}
