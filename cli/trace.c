/* SPDX-License-Identifier: MIT */
/* mmu trace - not written yet (issue 12). */
#include <string.h>

#include "cli.h"

int cli_trace(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--help") == 0) {
    printf("usage: mmu trace (not written yet)\n");
    return CLI_OK;
  }
  cli_error("trace", "not written yet");
  return CLI_BAD_INPUT;
}
