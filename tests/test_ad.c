/* SPDX-License-Identifier: MIT */
/* Accessed and dirty flags (SDM 4.8). */
#include "pt.h"

#define V 0x00007FFF12345000ull
#define PA (PT_DATA + 0x10000ull)
#define V2M 0x0000000080000000ull
#define V1G 0x0000004000000000ull

TestSuite(ad, .init = pt_setup4, .fini = pt_teardown);

/* snapshot of the entries va uses, levels top..1 (index = level) */
typedef struct {
  uint64_t e[6];
  int leaf;
} snap;

static snap take(pt_env *e, uint64_t va, int leaf) {
  snap s;
  memset(&s, 0, sizeof s);
  s.leaf = leaf;
  for (int l = e->levels; l >= leaf; l--)
    s.e[l] = pt_get(e, va, l);
  return s;
}

/* every entry now equals its snapshot value | add (levels above the leaf)
 * and | add_leaf for the leaf */
static void expect_entries(pt_env *e, uint64_t va, const snap *s, uint64_t add,
                           uint64_t add_leaf) {
  for (int l = e->levels; l >= s->leaf; l--) {
    uint64_t want = s->e[l] | (l == s->leaf ? add_leaf : add);
    uint64_t got = pt_get(e, va, l);
    cr_assert(got == want, "level %d entry: got 0x%llx, expected 0x%llx", l,
              (unsigned long long)got, (unsigned long long)want);
  }
}

Test(ad, read_sets_a_everywhere_no_d) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_READ, PA);
  expect_entries(&E, V, &s, F_A, F_A);
}

Test(ad, write_sets_a_everywhere_d_in_leaf_only) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
  expect_entries(&E, V, &s, F_A, F_A | F_D);
}

Test(ad, fetch_sets_a_no_d) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 3);
  TR_OK(&E, V, MMU_FETCH, PA);
  expect_entries(&E, V, &s, F_A, F_A);
}

Test(ad, other_bits_preserved) {
  uint64_t extra = F_G | (5ull << 9) | MMU_PTE_PWT | (0x3Full << 52) | F_XD;
  pt_map(&E, V, PA, 4 * KiB, F_PWU | extra, F_PWU | (7ull << 9));
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V + 0x10, MMU_WRITE, PA + 0x10);
  expect_entries(&E, V, &s, F_A, F_A | F_D);
}

Test(ad, already_set_unchanged) {
  pt_map(&E, V, PA, 4 * KiB, F_PWU | F_A | F_D, F_PWU | F_A);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
  expect_entries(&E, V, &s, 0, 0);
}

Test(ad, page_2m_write) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  snap s = take(&E, V2M, 2);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V2M + 0x5000, MMU_WRITE, 12 * MiB + 0x5000);
  expect_entries(&E, V2M, &s, F_A, F_A | F_D);
}

Test(ad, page_1g_read_then_write) {
  pt_map(&E, V1G, 0, 1 * GiB, F_PWU, F_PWU);
  snap s = take(&E, V1G, 3);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V1G + 0x7000, MMU_READ, 0x7000);
  expect_entries(&E, V1G, &s, F_A, F_A);
  TR_OK(&E, V1G + 0x7000, MMU_WRITE, 0x7000);
  expect_entries(&E, V1G, &s, F_A, F_A | F_D);
}

Test(ad, la57_sets_a_in_pml5e, .init = pt_setup5) {
  uint64_t va = 0x00ABCDEF12345000ull;
  pt_map4k(&E, va, PA, F_PWU);
  snap s = take(&E, va, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, va, MMU_WRITE, PA);
  expect_entries(&E, va, &s, F_A, F_A | F_D);
}

/* a TLB entry filled by a read must not let a write skip setting D */
Test(ad, write_after_read_rewalks_and_sets_d) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_READ, PA);
  uint64_t w = WALKS(&E);
  TR_OK(&E, V + 8, MMU_READ, PA + 8);
  EQ(WALKS(&E), w); /* hit */
  TR_OK(&E, V + 8, MMU_WRITE, PA + 8);
  EQ(WALKS(&E), w + 1);
  expect_entries(&E, V, &s, F_A, F_A | F_D);
  TR_OK(&E, V + 16, MMU_WRITE, PA + 16);
  EQ(WALKS(&E), w + 1); /* now a hit */
}

/* same for one 4K piece of a 2M page: the write re-walks and sets D in the PDE */
Test(ad, write_after_read_2m_sets_d) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU, F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V2M + 0x3000, MMU_READ, 12 * MiB + 0x3000);
  uint64_t w = WALKS(&E);
  TR_OK(&E, V2M + 0x3008, MMU_WRITE, 12 * MiB + 0x3008);
  EQ(WALKS(&E), w + 1);
  EQ(pt_get(&E, V2M, 2) & (F_A | F_D), F_A | F_D);
}

/* D cleared by the guest after a write: a real CPU keeps using the cached
 * dirty translation until INVLPG; after INVLPG the next write sets D again */
Test(ad, d_set_again_after_invlpg) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
  pt_clr(&E, V, 1, F_D);
  mmu_invlpg(&E.cpu, V);
  TR_OK(&E, V, MMU_WRITE, PA);
  EQ(pt_get(&E, V, 1) & F_D, F_D);
}

Test(ad, fault_not_present_leaves_entries_untouched) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_clr(&E, V, 1, F_P);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_WRITE, EC_W);
  expect_entries(&E, V, &s, 0, 0);
}

Test(ad, fault_protection_leaves_entries_untouched) {
  pt_map4k(&E, V, PA, F_PW);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 3);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U);
  expect_entries(&E, V, &s, 0, 0);
}

Test(ad, fault_write_readonly_no_d) {
  pt_map4k(&E, V, PA, F_PU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_WRITE, EC_P | EC_W);
  expect_entries(&E, V, &s, 0, 0);
}

Test(ad, fault_reserved_leaves_entries_untouched) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_or(&E, V, 4, F_PS);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, EC_P | EC_RSVD);
  expect_entries(&E, V, &s, 0, 0);
}

Test(ad, reference_sets_ad_like_translate) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  mmu_result r;
  memset(&r, 0, sizeof r);
  ST(mmu_reference_translate(&E.cpu, V, MMU_READ, &r, NULL), MMU_OK);
  expect_entries(&E, V, &s, F_A, F_A);
  ST(mmu_reference_translate(&E.cpu, V, MMU_WRITE, &r, NULL), MMU_OK);
  expect_entries(&E, V, &s, F_A, F_A | F_D);
}

/* --- MMU_CFG_AD_ON_FAULT_UPPER ------------------------------------------ */

static void setup_upper(void) {
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = MMU_CFG_AD_ON_FAULT_UPPER;
  pt_env_init(&E, &cfg, 4);
}

Test(ad, upper_not_present_pte, .init = setup_upper) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_clr(&E, V, 1, F_P);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, 0);
  EQ(pt_get(&E, V, 4), s.e[4] | F_A);
  EQ(pt_get(&E, V, 3), s.e[3] | F_A);
  EQ(pt_get(&E, V, 2), s.e[2] | F_A);
  EQ(pt_get(&E, V, 1), s.e[1]);
}

Test(ad, upper_not_present_pdpte, .init = setup_upper) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_clr(&E, V, 3, F_P);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, 0);
  EQ(pt_get(&E, V, 4), s.e[4] | F_A);
  EQ(pt_get(&E, V, 3), s.e[3]);
  EQ(pt_get(&E, V, 2), s.e[2]);
  EQ(pt_get(&E, V, 1), s.e[1]);
}

Test(ad, upper_reserved_pde, .init = setup_upper) {
  pt_map(&E, V2M, 12 * MiB, 2 * MiB, F_PWU | (1ull << 14), F_PWU);
  snap s = take(&E, V2M, 2);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V2M, MMU_READ, EC_P | EC_RSVD);
  EQ(pt_get(&E, V2M, 4), s.e[4] | F_A);
  EQ(pt_get(&E, V2M, 3), s.e[3] | F_A);
  EQ(pt_get(&E, V2M, 2), s.e[2]); /* the entry with the reserved bit */
}

Test(ad, upper_pml4e_not_present_touches_nothing, .init = setup_upper) {
  pt_map4k(&E, V, PA, F_PWU);
  pt_clr(&E, V, 4, F_P);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, 0);
  expect_entries(&E, V, &s, 0, 0);
}

/* permission fault found at the end of the walk: the entries above the leaf
 * were present and valid and get A (QEMU); the leaf itself does not */
Test(ad, upper_permission_fault, .init = setup_upper) {
  pt_map4k(&E, V, PA, F_PW);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 3);
  TR_PF(&E, V, MMU_READ, EC_P | EC_U);
  EQ(pt_get(&E, V, 4), s.e[4] | F_A);
  EQ(pt_get(&E, V, 3), s.e[3] | F_A);
  EQ(pt_get(&E, V, 2), s.e[2] | F_A);
  EQ(pt_get(&E, V, 1) & F_D, 0);
}

Test(ad, upper_success_same_as_default, .init = setup_upper) {
  pt_map4k(&E, V, PA, F_PWU);
  snap s = take(&E, V, 1);
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
  expect_entries(&E, V, &s, F_A, F_A | F_D);
}

/* --- A/D through pt_cmpxchg: races ----------------------------------------- */

static struct {
  uint64_t base;
  uint64_t table[512];
  int mode; /* 0: normal, 1: always lose, 2: lose once, entry goes away, */
            /* 3: lose while `neighbour` counts down, the other 4 bytes change */
  unsigned cmpxchgs, neighbour;
  uint64_t other_half; /* mode 3: a bit of the 4 bytes not compared */
} mm;

static int mm_read(void *user, uint64_t gpa, uint64_t *value) {
  (void)user;
  if (gpa < mm.base || gpa >= mm.base + 4096)
    return -1;
  *value = mm.table[(gpa - mm.base) / 8];
  return 0;
}

static int mm_cmpxchg(void *user, uint64_t gpa, uint64_t expected,
                      uint64_t desired) {
  (void)user;
  if (gpa < mm.base || gpa >= mm.base + 4096)
    return -1;
  uint64_t *p = &mm.table[(gpa - mm.base) / 8];
  mm.cmpxchgs++;
  if (mm.mode == 1)
    return 1;
  if (mm.mode == 2) {
    mm.mode = 0;
    *p &= ~F_P; /* another agent clears P between read and cmpxchg */
    return 1;
  }
  if (mm.mode == 3 && mm.neighbour) {
    mm.neighbour--;
    *p ^= mm.other_half; /* another cpu sets A in the neighbouring entry */
    return 1;
  }
  if (*p != expected)
    return 1;
  *p = desired;
  return 0;
}

static void setup_mm(void) {
  memset(&mm, 0, sizeof mm);
  mm.base = 0x80000000ull;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pt_read = mm_read;
  cfg.pt_cmpxchg = mm_cmpxchg;
  pt_env_init(&E, &cfg, 4);
  /* the PT of V lives behind the callbacks */
  pt_map4k(&E, V, PA, F_PWU);
  mm.table[pt_index(V, 1)] = pt_get(&E, V, 1);
  pt_set(&E, V, 2, mm.base | F_PWU);
}

Test(ad, cmpxchg_callback_sets_a_d, .init = setup_mm) {
  pt_boot(&E, 0, 0);
  TR_OK(&E, V, MMU_WRITE, PA);
  EQ(mm.table[pt_index(V, 1)], PA | F_PWU | F_A | F_D);
}

Test(ad, cmpxchg_always_losing_is_contended, .init = setup_mm) {
  mm.mode = 1;
  uint64_t before = mm.table[pt_index(V, 1)];
  pt_boot(&E, 0, 0);
  mmu_result r;
  ST(pt_tr(&E, V, MMU_WRITE, &r), MMU_ERR_CONTENDED);
  cr_assert(E.cpu.stats.walk_retries > 0);
  EQ(mm.table[pt_index(V, 1)], before);
  EQ(mmu_tlb_count(&E.cpu), 0); /* no state changed */
}

/* a lost race restarts the walk, which sees the entry's new value */
Test(ad, cmpxchg_lost_race_rewalks, .init = setup_mm) {
  mm.mode = 2;
  pt_boot(&E, 0, 0);
  TR_PF(&E, V, MMU_READ, 0);
  EQ(E.cpu.stats.walk_retries, 1);
}

/* 32-bit paging's 4-byte entries are exchanged as the 8 bytes holding them
 * (the callbacks' unit). V32's page table lives behind the callbacks. */
#define V32 0x00403123u
#define PA32 0x00900000u

static void setup_mm32(void) {
  setup_mm();
  uint32_t pde = (uint32_t)mm.base | (uint32_t)F_PWU;
  uint8_t *dir = pt_host(&E, E.root);
  memcpy(dir + (V32 >> 22) * 4, &pde, 4);
  memset(mm.table, 0, sizeof mm.table);
  unsigned i = (V32 >> 12) & 0x3FF; /* the PTE: half (i & 1) of word i / 2 */
  mm.table[i / 2] = (uint64_t)(PA32 | F_PWU) << (32 * (i & 1));
  mm.other_half = (uint64_t)F_A << (32 * !(i & 1));
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr3 = E.root;
  r.cpl = 3;
  pt_load(&E, &r);
}

static uint32_t mm_pte32(void) {
  unsigned i = (V32 >> 12) & 0x3FF;
  return (uint32_t)(mm.table[i / 2] >> (32 * (i & 1)));
}

/* A callback that keeps refusing costs the walk's 64 tries in all: each
 * refusal with nothing changed is a lost race that starts the walk over
 * (it was 64 tries inside each of the 64 walks). */
Test(ad, narrow_cmpxchg_always_losing_costs_64_tries, .init = setup_mm32) {
  mm.mode = 1;
  mmu_result r;
  ST(pt_tr(&E, V32, MMU_WRITE, &r), MMU_ERR_CONTENDED);
  EQ(mm.cmpxchgs, 64);
  EQ(E.cpu.stats.walk_retries, 64);
  EQ(mm_pte32(), PA32 | F_PWU);
}

/* A change to the other 4 bytes is not this entry's race: retried in
 * place, no walk starts over, and the neighbour's change is kept. */
Test(ad, narrow_cmpxchg_neighbour_change_is_no_lost_race, .init = setup_mm32) {
  mm.mode = 3;
  mm.neighbour = 5;
  TR_OK(&E, V32, MMU_WRITE, PA32 | (V32 & 0xFFF));
  EQ(E.cpu.stats.walk_retries, 0);
  EQ(mm.cmpxchgs, 6);
  EQ(mm_pte32(), PA32 | F_PWU | F_A | F_D);
  unsigned i = (V32 >> 12) & 0x3FF;
  EQ(mm.table[i / 2] & mm.other_half, mm.other_half); /* 5 flips: set */
}
