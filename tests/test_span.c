/* SPDX-License-Identifier: MIT */
/* mmu_translate_span: accesses that may cross a page boundary. */
#include "pt.h"

#define V 0x00007FFF12345000ull
#define PA1 (PT_DATA + 0x10000ull)
#define PA2 (PT_DATA + 0x50000ull) /* not contiguous with PA1 */

TestSuite(span, .init = pt_setup4, .fini = pt_teardown);

static void map2(uint64_t f1, uint64_t f2) {
  pt_map4k(&E, V, PA1, f1);
  pt_map4k(&E, V + 0x1000, PA2, f2);
}

static int span(uint64_t va, uint32_t len, unsigned access, mmu_result out[2]) {
  memset(out, 0, 2 * sizeof *out);
  return mmu_translate_span(&E.cpu, va, len, access, out);
}

/* The header does not say which out[] carries error_code/cr2 on a fault:
 * accept either, but the values must be the SDM ones. */
static void expect_span_pf(mmu_result out[2], uint32_t ec, uint64_t cr2) {
  int ok0 = out[0].error_code == ec && out[0].cr2 == cr2;
  int ok1 = out[1].error_code == ec && out[1].cr2 == cr2;
  cr_assert(ok0 || ok1,
            "expected ec 0x%x cr2 0x%llx; got [0] ec 0x%x cr2 0x%llx, "
            "[1] ec 0x%x cr2 0x%llx",
            ec, (unsigned long long)cr2, out[0].error_code,
            (unsigned long long)out[0].cr2, out[1].error_code,
            (unsigned long long)out[1].cr2);
}

Test(span, bad_length) {
  map2(F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V, 0, MMU_READ, out), MMU_ERR_ARG);
  ST(span(V, 4097, MMU_READ, out), MMU_ERR_ARG);
  ST(span(V, 0xFFFFFFFFu, MMU_READ, out), MMU_ERR_ARG);
}

Test(span, within_one_page) {
  map2(F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 0x100, 8, MMU_READ, out), MMU_OK);
  EQ(out[0].paddr, PA1 + 0x100);
  PTREQ(out[0].host, E.host[0] + PA1 + 0x100);
  EQ(out[1].paddr & ~0xFFFull, PA1);
  EQ(WALKS(&E), 1); /* the second page is not touched */
}

Test(span, full_page_aligned_does_not_cross) {
  map2(F_PWU, F_PWU);
  pt_clr(&E, V + 0x1000, 1, F_P); /* next page not present */
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V, 4096, MMU_WRITE, out), MMU_OK);
  EQ(out[0].paddr, PA1);
  EQ(out[1].paddr & ~0xFFFull, PA1);
}

Test(span, last_byte_of_page) {
  map2(F_PWU, F_PWU);
  pt_clr(&E, V + 0x1000, 1, F_P);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 0xFFF, 1, MMU_READ, out), MMU_OK);
  EQ(out[0].paddr, PA1 + 0xFFF);
}

Test(span, crossing) {
  map2(F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 0xFFE, 4, MMU_READ, out), MMU_OK);
  EQ(out[0].paddr, PA1 + 0xFFE);
  PTREQ(out[0].host, E.host[0] + PA1 + 0xFFE);
  EQ(out[1].paddr, PA2);
  PTREQ(out[1].host, E.host[0] + PA2);
}

Test(span, crossing_max_length) {
  map2(F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 1, 4096, MMU_WRITE, out), MMU_OK);
  EQ(out[0].paddr, PA1 + 1);
  EQ(out[1].paddr, PA2);
  EQ(pt_get(&E, V, 1) & F_D, F_D);
  EQ(pt_get(&E, V + 0x1000, 1) & F_D, F_D);
}

Test(span, second_page_not_present) {
  map2(F_PWU, F_PWU);
  pt_clr(&E, V + 0x1000, 1, F_P);
  pt_boot(&E, 0, 3);
  mmu_result out[2];
  ST(span(V + 0xFFC, 8, MMU_WRITE, out), MMU_PAGE_FAULT);
  expect_span_pf(out, EC_W | EC_U, V + 0x1000);
}

Test(span, second_page_read_only) {
  map2(F_PWU, F_PU);
  pt_boot(&E, 0, 3);
  mmu_result out[2];
  ST(span(V + 0xFF0, 32, MMU_WRITE, out), MMU_PAGE_FAULT);
  expect_span_pf(out, EC_P | EC_W | EC_U, V + 0x1000);
}

Test(span, first_page_faults_first) {
  map2(F_PWU, F_PWU);
  pt_clr(&E, V, 1, F_P);
  pt_clr(&E, V + 0x1000, 1, F_P);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 0xFFA, 8, MMU_READ, out), MMU_PAGE_FAULT);
  expect_span_pf(out, 0, V + 0xFFA);
}

Test(span, first_page_faults_second_fine) {
  map2(F_PW, F_PWU);
  pt_boot(&E, 0, 3);
  mmu_result out[2];
  ST(span(V + 0xFFA, 8, MMU_READ, out), MMU_PAGE_FAULT);
  expect_span_pf(out, EC_P | EC_U, V + 0xFFA);
}

Test(span, fetch_second_page_xd) {
  map2(F_PWU, F_PWU | F_XD);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(V + 0xFFF, 15, MMU_FETCH, out), MMU_PAGE_FAULT);
  expect_span_pf(out, EC_P | EC_ID, V + 0x1000);
}

Test(span, second_page_non_canonical) {
  uint64_t va = 0x00007FFFFFFFF000ull;
  pt_map4k(&E, va, PA1, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(va + 0xFFE, 4, MMU_READ, out), MMU_GP_FAULT);
  ST(span(va + 0xFF0, 16, MMU_READ, out), MMU_OK); /* ends at the boundary */
  EQ(out[0].paddr, PA1 + 0xFF0);
}

Test(span, across_large_page_boundary) {
  uint64_t va = 0x0000000080000000ull;
  pt_map(&E, va, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  pt_map4k(&E, va + 2 * MiB, PA2, F_PWU);
  pt_boot(&E, 0, 0);
  mmu_result out[2];
  ST(span(va + 2 * MiB - 2, 4, MMU_READ, out), MMU_OK);
  EQ(out[0].paddr, 12 * MiB + 2 * MiB - 2);
  EQ(out[0].page_size, 2 * MiB);
  EQ(out[1].paddr, PA2);
  EQ(out[1].page_size, 4096);
}

Test(span, paging_off) {
  mmu_result out[2];
  ST(span(0x1FFE, 4, MMU_WRITE, out), MMU_OK);
  EQ(out[0].paddr, 0x1FFE);
  EQ(out[1].paddr, 0x2000);
}
