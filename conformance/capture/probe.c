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
  probe_cmd(r->efer);
  if (r->op == C_VMX)
    for (int i = 0; i < 4; i++)
      probe_cmd(r->pdpte[i]);
}

const char *probe_vmx_reason(uint64_t reason) {
  switch (reason & 0xffff) {
  case 0: return "exception or NMI";
  case 2: return "triple fault";
  case 12: return "HLT";
  case 18: return "VMCALL";
  case 28: return "control-register access";
  case 33: return "VM-entry failure: invalid guest state";
  case 34: return "VM-entry failure: MSR loading";
  case 41: return "VM-entry failure: machine-check";
  case 48: return "EPT violation";
  case 49: return "EPT misconfiguration";
  default: return "?";
  }
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

int probe_ept_open(capture_source *s) {
  int e = probe_open(s, PROBE_EPT_RAM);
  if (e)
    return e;
  probe_zero(PROBE_VMXON);
  probe_zero(PROBE_VMCS);
  probe_nested_base(PROBE_EPT_ROOT, MMU_EPT_R | MMU_EPT_W | MMU_EPT_X,
                    PROBE_STUB,
                    MMU_EPT_R | MMU_EPT_W | MMU_EPT_X | MMU_EPT_MT_WB);
  return 0;
}

static uint64_t probe_q(const uint8_t *v, size_t off) {
  uint64_t q;
  memcpy(&q, v + off, 8);
  return q;
}

void probe_vmx_print(const uint8_t *v) {
  uint64_t status = probe_q(v, VR_STATUS);
  printf("  bochs: status %" PRIu64 " stage %" PRIu64, status,
         probe_q(v, VR_STAGE));
  if (status == 2)
    printf(" exit reason %#" PRIx64 " (%s) qual %#" PRIx64 " gpa %#" PRIx64
           " gla %#" PRIx64 " guest rip %#" PRIx64 " rax %#" PRIx64
           " intinfo %#" PRIx64 " errc %#" PRIx64,
           probe_q(v, VR_REASON), probe_vmx_reason(probe_q(v, VR_REASON)),
           probe_q(v, VR_QUAL), probe_q(v, VR_GPA), probe_q(v, VR_GLA),
           probe_q(v, VR_GRIP), probe_q(v, VR_GRAX), probe_q(v, VR_INTINFO),
           probe_q(v, VR_ERRC));
  else if (status == 3)
    printf(" VMfail rflags %#" PRIx64 " VM-instruction error %" PRIu64
           " field %#" PRIx64,
           probe_q(v, VR_FLAGS), probe_q(v, VR_VMERR), probe_q(v, VR_FIELD));
  else if (status == 4)
    printf(" exception %" PRIu64 " code %#" PRIx64, probe_q(v, VR_FLAGS),
           probe_q(v, VR_VMERR));
  printf(" (featctl %#" PRIx64 " basic %#" PRIx64 ")\n",
         probe_q(v, VR_FEATCTL), probe_q(v, VR_BASIC));
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

mmu_cpu *probe_ept_library(uint64_t eptp) {
  mmu_nested n;
  memset(&n, 0, sizeof n);
  n.kind = MMU_NESTED_EPT;
  n.flags = MMU_NESTED_EXEC_ONLY; /* Bochs: execute-only, 1G, A/D */
  n.root = eptp;
  return probe_library(40, 0, &n);
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
