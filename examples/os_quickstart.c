/* SPDX-License-Identifier: MIT */
/* os_quickstart.c - the README's OS-side snippet as a whole program: a cpu
 * in long mode at CPL 3 whose RAM covers the system's frame pool, one
 * process, an mmap, a write that faults its page in, and the reports.
 * The part between the README markers is copied into README.md verbatim
 * (ctest readme_snippet checks it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"

#define POOL_GPA 0x40000000ull /* guest-physical base of the frame pool */
#define POOL_FRAMES 256u

static _Alignas(4096) uint8_t pool[POOL_FRAMES * 4096];
static _Alignas(64) uint8_t tlb_storage[1 << 16];
static _Alignas(64) uint8_t sys_storage[1 << 16];
static mmu_region regions[64];

static int check(int rc, const char *what) {
  if (rc != MMU_OK) {
    fprintf(stderr, "os_quickstart: %s: %s\n", what, mmu_status_name(rc));
    exit(1);
  }
  return rc;
}

int main(void) {
  mmu_cpu cpu;
  mmu_system sys;
  mmu_space proc;
  uint64_t addr;
  mmu_result res;
  /* README-BEGIN */
  /* the cpu: its RAM must cover the pool the system hands out frames from */
  mmu_ram_region ram = {.gpa = POOL_GPA, .size = sizeof pool, .host = pool};
  mmu_config cc = {0};
  cc.ram = &ram;
  cc.ram_count = 1;
  check(mmu_init(&cpu, &cc, tlb_storage, mmu_tlb_storage_size(&cc)), "init");
  /* user mode in long mode: CR0.PG+PE, CR4.PAE, EFER.LME+LMA+NXE, CPL 3 */
  mmu_regs regs = {0};
  regs.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  regs.cr4 = MMU_CR4_PAE;
  regs.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  regs.cpl = 3;
  check(mmu_load_regs(&cpu, &regs), "long mode");

  /* once: a pool of guest-physical frames, optionally swap, a policy */
  mmu_system_config sc = {0};
  sc.pool = ram;
  size_t need = mmu_system_storage_size(&sc); /* sys_storage >= need */
  check(mmu_system_init(&sys, &sc, sys_storage, need), "system");

  /* a process: its regions live in storage you hand over */
  check(mmu_space_init(&proc, &sys, NULL, regions, sizeof regions), "space");
  check(mmu_space_activate(&proc, &cpu), "activate"); /* CR3 := its PML4 */
  check(mmu_space_mmap(&proc, 0, 1 << 20, MMU_PROT_READ | MMU_PROT_WRITE, 0,
                       NULL, 0, &addr), "mmap");

  /* every guest load/store: the inline TLB hit, and on #PF the kernel's
   * handler, which pages in, copies on write, or says SIGSEGV */
  uint64_t va = addr + 4096;
  int rc;
  while ((rc = mmu_translate(&cpu, va, MMU_WRITE, &res)) == MMU_PAGE_FAULT) {
    mmu_fault_info fi;
    check(mmu_space_fault(&proc, res.cr2, res.error_code, &fi), "fault");
    if (fi.fault_class == MMU_FAULT_SEGV) { /* SEGV_MAPERR or _ACCERR */
      printf("SIGSEGV at %#llx\n", (unsigned long long)fi.addr);
      return 1;
    }
  } /* (mmu_space_access does this loop; mmu_space_write copies) */
  check(rc, "translate");
  memcpy(res.host, "hello", 6);

  char text[4096];
  mmu_space_maps(&proc, text, sizeof text); /* /proc/PID/maps */
  fputs(text, stdout);
  mmu_format_time_v(mmu_space_rusage(&proc), text, sizeof text); /* time -v */
  fputs(text, stdout);
  /* README-END */
  if (mmu_space_rusage(&proc)->minflt != 1 ||
      strcmp((char *)res.host, "hello") != 0) {
    fprintf(stderr, "os_quickstart: %llu minor faults, want 1\n",
            (unsigned long long)mmu_space_rusage(&proc)->minflt);
    return 1;
  }
  check(mmu_space_destroy(&proc), "exit");
  return 0;
}
