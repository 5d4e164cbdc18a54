/* SPDX-License-Identifier: MIT */
/* fuzz_cli_walk.c - `mmu walk --ram FILE[@GPA]` on any RAM dump and
 * registers: the command explains a walk level by level from tables it
 * did not build, in every paging mode, and cross-checks the TLB path.
 *
 * Input: byte 0 the mode (bits 0-2 % 5: 4-level, 5-level, PAE, 32-bit, off;
 * bits 3-4 the access: read, write, fetch, read; bit 5 implicit, bit 6
 * CPL 3, bit 7 --ac), byte 1 the flags (WP, NXE, SMEP, SMAP, PKE, PSE,
 * --amd, --ad-on-fault), byte 2 MAXPHYADDR (36 + b % 17), byte 3 the RAM's
 * gpa (bits 0-1: 0, 4K, 64K, 2M), --no-1g (bit 2) and CR3's page in RAM
 * (bits 3-7), two bytes of CR3's low 12 bits, four of PKRU, eight of the
 * linear address; the rest is the RAM dump, 256 bytes to a page (the
 * first 32 entries of each of up to 16 pages, the rest zero: tables of
 * every level fit in the few kilobytes a fuzzer's inputs have), written to
 * a file the command reads as a user's would be.
 *
 * Never a crash, a leak or a read outside the dump. The exit status is 0
 * (explained, a fault too) or 2 (input refused, with a message): never 1,
 * which says that mmu_translate disagreed with the reference walker on the
 * explained walk. Output goes to /dev/null unless FUZZ_TRACE is set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_common.h"

#define CW_PAGES 16
#define CW_CHUNK 256 /* input bytes per page */

static char cw_path[256];

static void cw_remove(void) { remove(cw_path); }

/* Once per process: the dump's file, and the command's output silenced. */
static void cw_setup(void) {
  if (cw_path[0])
    return;
  const char *dir = getenv("TMPDIR");
  snprintf(cw_path, sizeof cw_path, "%s/mmu-fuzz-cli-walk-%ld.ram",
           dir && *dir ? dir : "/tmp", (long)getpid());
  atexit(cw_remove);
  if (!getenv("FUZZ_TRACE")) {
    FZ_CHECK(freopen("/dev/null", "w", stdout) != NULL, "no /dev/null");
    static FILE *null_errors;
    null_errors = fopen("/dev/null", "w");
    cli_set_error_stream(null_errors);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cw_setup();
  fuzz_input in;
  fi_init(&in, data, size);
  uint8_t b0 = fi_u8(&in), b1 = fi_u8(&in), b2 = fi_u8(&in), b3 = fi_u8(&in);
  uint16_t cr3_low = fi_u16(&in);
  uint32_t pkru = fi_u32(&in);
  uint64_t vaddr = fi_u64(&in);
  static uint8_t dump[CW_PAGES * 4096];
  size_t left = fi_remaining(&in), pages = (left + CW_CHUNK - 1) / CW_CHUNK;
  if (pages > CW_PAGES)
    pages = CW_PAGES;
  size_t ram = pages * 4096;
  memset(dump, 0, ram);
  for (size_t i = 0; i < pages; i++)
    fi_bytes(&in, dump + i * 4096, CW_CHUNK);
  FILE *f = fopen(cw_path, "wb");
  FZ_CHECK(f != NULL, "cannot write %s", cw_path);
  if (ram)
    FZ_CHECK(fwrite(dump, 1, ram, f) == ram, "short write");
  fclose(f);

  static const uint64_t gpas[4] = {0, 0x1000, 0x10000, 0x200000};
  uint64_t gpa = gpas[b3 & 3];
  unsigned mode = (b0 & 7u) % 5;
  uint64_t cr0 = MMU_CR0_PE | (mode == 4 ? 0 : MMU_CR0_PG) |
                 ((b1 & 1) ? MMU_CR0_WP : 0);
  uint64_t cr4 = (mode <= 2 ? MMU_CR4_PAE : 0) |
                 (mode == 1 ? MMU_CR4_LA57 : 0) |
                 ((b1 & 4) ? MMU_CR4_SMEP : 0) | ((b1 & 8) ? MMU_CR4_SMAP : 0) |
                 ((b1 & 16) ? MMU_CR4_PKE : 0) | ((b1 & 32) ? MMU_CR4_PSE : 0);
  uint64_t efer = (mode <= 1 ? MMU_EFER_LME | MMU_EFER_LMA : 0) |
                  ((b1 & 2) ? MMU_EFER_NXE : 0);
  uint64_t cr3 = gpa + 4096ull * (b3 >> 3) + (cr3_low & 0xFFF);

  char ram_arg[300], a_cr0[24], a_cr3[24], a_cr4[24], a_efer[24], a_pkru[24],
      a_maxphy[8], a_va[24];
  snprintf(ram_arg, sizeof ram_arg, "%s@0x%llx", cw_path,
           (unsigned long long)gpa);
  snprintf(a_cr0, sizeof a_cr0, "0x%llx", (unsigned long long)cr0);
  snprintf(a_cr3, sizeof a_cr3, "0x%llx", (unsigned long long)cr3);
  snprintf(a_cr4, sizeof a_cr4, "0x%llx", (unsigned long long)cr4);
  snprintf(a_efer, sizeof a_efer, "0x%llx", (unsigned long long)efer);
  snprintf(a_pkru, sizeof a_pkru, "0x%x", pkru);
  snprintf(a_maxphy, sizeof a_maxphy, "%u", 36u + b2 % 17u);
  snprintf(a_va, sizeof a_va, "0x%llx", (unsigned long long)vaddr);
  char *argv[32];
  int argc = 0;
  char walk[] = "walk", o_ram[] = "--ram", o_cr0[] = "--cr0", o_cr3[] = "--cr3",
       o_cr4[] = "--cr4", o_efer[] = "--efer", o_cpl[] = "--cpl", v_cpl[] = "3",
       o_pkru[] = "--pkru", o_maxphy[] = "--maxphyaddr", o_ac[] = "--ac",
       o_no1g[] = "--no-1g", o_amd[] = "--amd", o_adf[] = "--ad-on-fault",
       o_write[] = "--write", o_fetch[] = "--fetch", o_impl[] = "--implicit";
  argv[argc++] = walk;
  argv[argc++] = o_ram;
  argv[argc++] = ram_arg;
  argv[argc++] = o_cr0;
  argv[argc++] = a_cr0;
  argv[argc++] = o_cr3;
  argv[argc++] = a_cr3;
  argv[argc++] = o_cr4;
  argv[argc++] = a_cr4;
  argv[argc++] = o_efer;
  argv[argc++] = a_efer;
  argv[argc++] = o_pkru;
  argv[argc++] = a_pkru;
  argv[argc++] = o_maxphy;
  argv[argc++] = a_maxphy;
  if (b0 & 0x40) {
    argv[argc++] = o_cpl;
    argv[argc++] = v_cpl;
  }
  if (b0 & 0x80)
    argv[argc++] = o_ac;
  if (b3 & 4)
    argv[argc++] = o_no1g;
  if (b1 & 0x40)
    argv[argc++] = o_amd;
  if (b1 & 0x80)
    argv[argc++] = o_adf;
  unsigned access = (b0 >> 3) & 3;
  if (access == 1)
    argv[argc++] = o_write;
  else if (access == 2)
    argv[argc++] = o_fetch;
  if (b0 & 0x20)
    argv[argc++] = o_impl;
  argv[argc++] = a_va;
  argv[argc] = NULL;

  fflush(stdout);
  int rc = cli_walk(argc, argv);
  fflush(stdout);
  fz_trace("cli-walk: %s %s cr0 %s cr3 %s cr4 %s efer %s va %s: exit %d\n",
           ram_arg, (b0 & 0x40) ? "cpl 3" : "cpl 0", a_cr0, a_cr3, a_cr4,
           a_efer, a_va, rc);
  FZ_CHECK(rc == CLI_OK || rc == CLI_BAD_INPUT,
           "mmu walk --ram (%zu bytes at 0x%llx) --cr0 %s --cr3 %s --cr4 %s "
           "--efer %s %s: exit %d%s",
           ram, (unsigned long long)gpa, a_cr0, a_cr3, a_cr4, a_efer, a_va, rc,
           rc == CLI_FAILED ? " (the TLB path disagrees with the reference "
                              "walker on the walk it explains)"
                            : "");
  return 0;
}
