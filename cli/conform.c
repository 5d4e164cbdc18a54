/* SPDX-License-Identifier: MIT */
/* mmu conform - not written yet (issue 12). */
#include <string.h>

#include "cli.h"

int cli_conform(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--help") == 0) {
    printf("usage: mmu conform (not written yet)\n");
    return CLI_OK;
  }
  cli_error("conform", "not written yet");
  return CLI_BAD_INPUT;
}
