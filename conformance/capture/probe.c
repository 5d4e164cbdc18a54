/* SPDX-License-Identifier: MIT */
/* probe.c - see probe.h. */
#include "probe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bguest/blayout.h"
#include "qguest/qlayout.h"

uint8_t *probe_model;
static uint64_t cmd[8192];
static size_t ncmd;

void probe_cmd(uint64_t q) {
  if (ncmd + 1 >= sizeof cmd / sizeof cmd[0]) { /* room for C_END */
    fprintf(stderr, "probe: command list full\n");
    exit(2);
  }
  cmd[ncmd++] = q;
}

void probe_wr(uint64_t pa, uint64_t v) {
  probe_cmd(C_WR);
  probe_cmd(1);
  probe_cmd(pa);
  probe_cmd(v);
  memcpy(probe_model + pa, &v, 8);
}

void probe_zero(uint64_t pa) {
  probe_cmd(C_ZERO);
  probe_cmd(pa);
  memset(probe_model + pa, 0, 4096);
}

void probe_nested_base(uint64_t root, uint64_t table_bits, uint64_t stub,
                       uint64_t leaf_bits) {
  for (uint64_t t = root; t <= PROBE_PT_CASE(root); t += 0x1000)
    probe_zero(t);
  probe_zero(stub);
  probe_wr(root, PROBE_PDPT(root) | table_bits);
  probe_wr(PROBE_PDPT(root), PROBE_PD(root) | table_bits);
  probe_wr(PROBE_PD(root) + 8 * 2, PROBE_PT_STUB(root) | table_bits);
  probe_wr(PROBE_PD(root) + 8 * 3, PROBE_PT_CASE(root) | table_bits);
  probe_wr(PROBE_PT_STUB(root) + 8 * ((stub >> 12) & 511), stub | leaf_bits);
}

void probe_guest(const probe_guest_run *r) {
  const uint64_t q[] = {r->op, r->resoff, r->area1, r->area2,
                        r->root, r->rip, r->rsi, r->rax};
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
    probe_cmd(q[i]);
  for (int k = 0; k < r->npeek; k++)
    probe_cmd(r->peek[k]);
  probe_cmd(r->cr0);
  probe_cmd(r->cr3);
  probe_cmd(r->cr4);
  probe_cmd(0); /* EFER: no NXE */
  if (r->op == C_VMX)
    for (int i = 0; i < 4; i++)
      probe_cmd(0); /* the PDPTE fields: no PAE guest here */
}

const uint64_t *probe_cmds(size_t *nquads) {
  cmd[ncmd] = C_END;
  *nquads = ncmd + 1;
  return cmd;
}

int probe_open(capture_source *s, uint64_t ram_size) {
  probe_model = calloc(1, PROBE_MODEL_RAM);
  if (!probe_model)
    return 2;
  int e = s->open(s, ram_size);
  if (e) {
    fprintf(stderr, "%s: open: %s: %s\n", s->name, strerror(e), s->why(s, 0));
    s->close(s);
    free(probe_model);
    return e == ENOENT ? 77 : 2;
  }
  char desc[1400];
  s->describe(s, desc, sizeof desc);
  printf("%s\n", desc);
  return 0;
}

int probe_ran(capture_source *s, int r, const char *err,
              const uint64_t panic[4]) {
  if (r < 0) {
    fprintf(stderr, "%s: %s\n", s->name, err);
    s->close(s);
    free(probe_model);
    return 2;
  }
  if (r == 1)
    printf("guest panicked: vector %#" PRIx64 " code %#" PRIx64 " cr2 %#" PRIx64
           " rip %#" PRIx64 "\n",
           panic[0], panic[1], panic[2], panic[3]);
  return 0;
}

mmu_cpu *probe_library(uint32_t maxphyaddr, uint32_t flags,
                       const mmu_nested *n) {
  static uint8_t tlb[1 << 20];
  static mmu_ram_region ram;
  static mmu_cpu cpu;
  ram.gpa = 0;
  ram.size = PROBE_MODEL_RAM;
  ram.host = probe_model;
  mmu_config cc;
  memset(&cc, 0, sizeof cc);
  cc.maxphyaddr = maxphyaddr;
  cc.flags = flags;
  cc.ram = &ram;
  cc.ram_count = 1;
  if (mmu_tlb_storage_size(&cc) > sizeof tlb ||
      mmu_init(&cpu, &cc, tlb, sizeof tlb) != MMU_OK) {
    fprintf(stderr, "mmu_init failed\n");
    return NULL;
  }
  int e = mmu_set_nested(&cpu, n);
  if (e != MMU_OK) {
    fprintf(stderr, "mmu_set_nested: %s\n", mmu_status_name(e));
    return NULL;
  }
  return &cpu;
}

int probe_entries(const char *src, const uint64_t *at, const uint64_t *got,
                  int n) {
  int same = 1;
  for (int k = 0; k < n; k++) {
    uint64_t lib;
    memcpy(&lib, probe_model + at[k], 8);
    printf("  entry %#" PRIx64 ": %s %#" PRIx64 " mmu %#" PRIx64 "%s\n", at[k],
           src, got[k], lib, got[k] == lib ? "" : "  (differ)");
    same &= got[k] == lib;
  }
  return same;
}

int probe_finish(capture_source *s, size_t ncases, int bad, int departs) {
  printf("%zu cases, %d differ", ncases, bad);
  if (departs)
    printf(", %d known departures", departs);
  printf("\n");
  s->close(s);
  free(probe_model);
  return bad ? 1 : 0;
}
