/* SPDX-License-Identifier: MIT */
// consumer.cpp - the generated single-file mmu.h compiled as C++17, with the
// implementation in this file (MMU_IMPLEMENTATION) and a C translation unit
// (consumer_extra.c) calling into it through the extern "C" API.
// Same guest as consumer.c: 1 MiB RAM, one 4 KiB page mapped by 4-level
// tables, long-mode paging; checks one translation and one not-present #PF.
#define MMU_IMPLEMENTATION
#include "mmu.h"
#include "mmu.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "consumer.h"

extern "C" int consumer_extra_check(mmu_cpu *cpu, uint64_t vaddr,
                                    uint64_t want_paddr);

namespace {

alignas(8) uint64_t ram[CONSUMER_RAM_BYTES / 8];
alignas(8) uint64_t tlb_storage[8192];
mmu_cpu cpu;
int failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                   #cond);                                                   \
      failures++;                                                            \
    }                                                                        \
  } while (0)

void put_entry(uint64_t gpa, uint64_t value) { ram[gpa / 8] = value; }

void map_one_page() {
  const uint64_t v = CONSUMER_VADDR;
  const uint64_t flags = MMU_PTE_P | MMU_PTE_W;
  put_entry(CONSUMER_PML4 + ((v >> 39) & 511) * 8, CONSUMER_PDPT | flags);
  put_entry(CONSUMER_PDPT + ((v >> 30) & 511) * 8, CONSUMER_PD | flags);
  put_entry(CONSUMER_PD + ((v >> 21) & 511) * 8, CONSUMER_PT | flags);
  put_entry(CONSUMER_PT + ((v >> 12) & 511) * 8, CONSUMER_FRAME | flags);
}

} // namespace

int main() {
  const uint64_t vaddr = CONSUMER_VADDR + CONSUMER_OFFSET;
  const uint64_t hole = CONSUMER_VADDR + 0x1000u + 0x18u;

  CHECK(mmu_version() == MMU_VERSION);
  CHECK(std::strcmp(mmu_version_string(), MMU_VERSION_STRING) == 0);

  mmu_ram_region region{};
  region.gpa = 0;
  region.size = CONSUMER_RAM_BYTES;
  region.host = ram;
  mmu_config cfg{};
  cfg.ram = &region;
  cfg.ram_count = 1;

  size_t need = mmu_tlb_storage_size(&cfg);
  CHECK(need > 0 && need <= sizeof tlb_storage);
  int rc = mmu_init(&cpu, &cfg, tlb_storage, sizeof tlb_storage);
  CHECK(rc == MMU_OK);
  if (rc != MMU_OK) {
    std::fprintf(stderr, "mmu_init: %s\n", mmu_status_name(rc));
    return 1;
  }

  map_one_page();
  mmu_regs regs{};
  regs.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  regs.cr3 = CONSUMER_PML4;
  regs.cr4 = MMU_CR4_PAE;
  regs.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  regs.cpl = 0;
  rc = mmu_load_regs(&cpu, &regs);
  CHECK(rc == MMU_OK);
  if (rc != MMU_OK) {
    std::fprintf(stderr, "mmu_load_regs: %s\n", mmu_status_name(rc));
    return 1;
  }

  for (int pass = 0; pass < 2; pass++) {
    mmu_result res{};
    rc = mmu_translate(&cpu, vaddr, MMU_READ, &res);
    CHECK(rc == MMU_OK);
    CHECK(res.paddr == CONSUMER_FRAME + CONSUMER_OFFSET);
    CHECK(res.host ==
          reinterpret_cast<uint8_t *>(ram) + CONSUMER_FRAME + CONSUMER_OFFSET);
    CHECK(res.page_size == 4096);
  }

  mmu_result res{};
  rc = mmu_translate(&cpu, hole, MMU_READ, &res);
  CHECK(rc == MMU_PAGE_FAULT);
  CHECK(res.error_code == 0);
  CHECK(res.cr2 == hole);

  failures +=
      consumer_extra_check(&cpu, vaddr, CONSUMER_FRAME + CONSUMER_OFFSET);

  if (failures) {
    std::fprintf(stderr, "consumer (C++): %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer (C++17): translation and #PF as expected\n");
  return 0;
}
