/* SPDX-License-Identifier: MIT */
/* fuzz_nested.c - the second dimension of nested paging (SPEC.md 10) on
 * any tables: mmu_nested_translate against a model written here from the
 * manuals (SDM 3C "EPT Translation Mechanism", APM 2 15.25), one access at
 * a time, RAM compared after each (A/D).
 *
 * Input: a configuration byte block, then entries poked into 16 pages of
 * RAM (addresses mostly inside it, flags anywhere), then accesses. Entry
 * addresses outside RAM must give MMU_ERR_PT_BUS, never a read there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define NF_PAGES 16
#define NF_RAM (NF_PAGES * 4096)

typedef struct nf_state {
  uint8_t *ram;   /* the library's */
  uint8_t *model; /* the model's copy */
  uint64_t base;  /* gpa of RAM */
  mmu_nested n;
  uint32_t maxphy;
} nf_state;

static uint64_t nf_bits(unsigned hi, unsigned lo) {
  return (~0ull >> (63 - hi)) & ~((1ull << lo) - 1);
}

static int nf_rd(const nf_state *s, const uint8_t *ram, uint64_t hpa,
                 uint64_t *v) {
  if (hpa < s->base || hpa - s->base > NF_RAM - 8)
    return -1;
  memcpy(v, ram + (hpa - s->base), 8);
  return 0;
}

static void nf_wr(const nf_state *s, uint8_t *ram, uint64_t hpa, uint64_t v) {
  memcpy(ram + (hpa - s->base), &v, 8);
}

/* The model's answer: status, and hpa/size or gpa/qual. */
typedef struct nf_out {
  int status;
  uint64_t hpa, size, qual, bus;
} nf_out;

static nf_out nf_model(nf_state *s, uint64_t gpa, unsigned kind) {
  nf_out o = {0, 0, 0, 0, 0};
  const int ept = s->n.kind == MMU_NESTED_EPT;
  const uint32_t fl = s->n.flags;
  uint64_t addr = nf_bits(51, 12) & (s->maxphy < 52 ? nf_bits(s->maxphy - 1, 0) : ~0ull);
  uint64_t high = s->maxphy < 52 ? nf_bits(51, s->maxphy) : 0;
  int levels = ept ? (int)((s->n.root >> 3) & 7) + 1 : (fl & MMU_NESTED_LA57) ? 5 : 4;
  uint64_t table = s->n.root & addr;
  uint64_t at[5], e[5];
  unsigned r = 1, w = 1, x = 1, u = 1; /* ANDed over the levels */
  int level;
  for (level = levels;; level--) {
    at[level - 1] = table + 8 * ((gpa >> (12 + 9 * (level - 1))) & 511);
    if (nf_rd(s, s->model, at[level - 1], &e[level - 1]) != 0) {
      o.status = MMU_ERR_PT_BUS;
      o.bus = at[level - 1];
      return o;
    }
    uint64_t v = e[level - 1];
    int big = (v >> 7) & 1;
    int leaf = level == 1 || ((level == 2 || level == 3) && big);
    if (ept) {
      unsigned rwx = (unsigned)(v & 7);
      if (rwx == 0) {
        o.status = MMU_EPT_VIOLATION;
        o.qual = kind == MMU_READ ? 1 : kind == MMU_WRITE ? 2 : 4;
        return o;
      }
      int mis = rwx == 2 || rwx == 6 || (rwx == 4 && !(fl & MMU_NESTED_EXEC_ONLY));
      mis |= (v & high) != 0;
      if (level >= 4)
        mis |= (v & nf_bits(7, 3)) != 0;
      else if (!leaf)
        mis |= (v & nf_bits(6, 3)) != 0;
      if (leaf && level == 3)
        mis |= (v & nf_bits(29, 12)) != 0 || (fl & MMU_NESTED_NO_1G);
      if (leaf && level == 2)
        mis |= (v & nf_bits(20, 12)) != 0;
      unsigned mt = (unsigned)((v >> 3) & 7);
      if (leaf)
        mis |= mt == 2 || mt == 3 || mt == 7;
      if (mis) {
        o.status = MMU_EPT_MISCONFIG;
        return o;
      }
      r &= v & 1;
      w &= (v >> 1) & 1;
      x &= (v >> 2) & 1;
    } else {
      uint64_t qbase = MMU_PFEC_U | (kind == MMU_WRITE ? MMU_PFEC_W : 0) |
                       (kind == MMU_FETCH && (fl & MMU_NESTED_NXE) ? MMU_PFEC_ID : 0) |
                       MMU_NPF_FINAL;
      if (!(v & 1)) {
        o.status = MMU_NPF;
        o.qual = qbase;
        return o;
      }
      uint64_t rsv = high | ((fl & MMU_NESTED_NXE) ? 0 : 1ull << 63);
      if (level >= 4)
        rsv |= (1ull << 7) | (1ull << 8);
      if (leaf && level == 3)
        rsv |= (fl & MMU_NESTED_NO_1G) ? 1ull << 7 : nf_bits(29, 13);
      if (leaf && level == 2)
        rsv |= nf_bits(20, 13);
      if (v & rsv) {
        o.status = MMU_NPF;
        o.qual = qbase | MMU_PFEC_P | MMU_PFEC_RSVD;
        return o;
      }
      u &= (v >> 2) & 1;
      w &= (v >> 1) & 1;
      x &= !(v >> 63);
    }
    if (leaf)
      break;
    table = v & addr;
  }
  int ok = ept ? (kind == MMU_READ ? r : kind == MMU_WRITE ? w : x)
               : u && (kind == MMU_READ || (kind == MMU_WRITE ? w : x));
  if (!ok) {
    if (ept) {
      o.status = MMU_EPT_VIOLATION;
      o.qual = (kind == MMU_READ ? 1u : kind == MMU_WRITE ? 2u : 4u) |
               (r << 3) | (w << 4) | (x << 5);
    } else {
      o.status = MMU_NPF;
      o.qual = MMU_PFEC_P | MMU_PFEC_U | (kind == MMU_WRITE ? MMU_PFEC_W : 0) |
               (kind == MMU_FETCH && (fl & MMU_NESTED_NXE) ? MMU_PFEC_ID : 0) |
               MMU_NPF_FINAL;
    }
    return o;
  }
  if (!ept || (s->n.root & MMU_EPTP_AD)) {
    uint64_t a = ept ? 1ull << 8 : 1ull << 5, d = ept ? 1ull << 9 : 1ull << 6;
    for (int l = levels; l >= level; l--)
      nf_wr(s, s->model, at[l - 1],
            e[l - 1] | a | (l == level && kind == MMU_WRITE ? d : 0));
  }
  o.size = 1ull << (12 + 9 * (level - 1));
  o.hpa = (e[level - 1] & addr & ~(o.size - 1)) | (gpa & (o.size - 1));
  return o;
}

/* An entry value: mostly a page of RAM with random low flags. */
static uint64_t nf_entry(fuzz_input *in, const nf_state *s) {
  uint8_t k = fi_u8(in);
  uint64_t v = (k & 3) == 3 ? fi_u64(in)
                            : s->base + (uint64_t)(fi_u8(in) % NF_PAGES) * 4096;
  v |= fi_u16(in) & 0xFFF;
  if (k & 4)
    v |= 1ull << (12 + fi_u8(in) % 52);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t ram[NF_RAM] __attribute__((aligned(4096)));
  static uint8_t model[NF_RAM] __attribute__((aligned(4096)));
  static uint8_t tlb[1 << 16] __attribute__((aligned(64)));
  fuzz_input in;
  fi_init(&in, data, size);
  nf_state s;
  memset(&s, 0, sizeof s);
  memset(ram, 0, sizeof ram);
  s.ram = ram;
  s.model = model;

  uint8_t c0 = fi_u8(&in), c1 = fi_u8(&in);
  s.maxphy = 36 + (uint32_t)(c0 % 17);
  s.base = (uint64_t)(fi_u8(&in) % 16) * FZ_MiB;
  mmu_ram_region region = {s.base, NF_RAM, ram};
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.maxphyaddr = s.maxphy;
  cfg.ram = &region;
  cfg.ram_count = 1;
  cfg.tlb_sets = 16;
  cfg.tlb_ways = 2;
  mmu_cpu cpu;
  FZ_CHECK(mmu_tlb_storage_size(&cfg) <= sizeof tlb, "tlb storage");
  FZ_CHECK(mmu_init(&cpu, &cfg, tlb, sizeof tlb) == MMU_OK, "init");

  s.n.kind = (c0 >> 5) & 1 ? MMU_NESTED_NPT : MMU_NESTED_EPT;
  s.n.flags = c1 & (MMU_NESTED_EXEC_ONLY | MMU_NESTED_NO_1G);
  uint64_t root = s.base + (uint64_t)(fi_u8(&in) % NF_PAGES) * 4096;
  if (s.n.kind == MMU_NESTED_EPT) {
    s.n.root = root | ((c1 & 0x40) ? MMU_EPTP_WB : MMU_EPTP_UC) |
               ((c1 & 0x20) ? MMU_EPTP_WALK5 : MMU_EPTP_WALK4) |
               ((c1 & 0x80) ? MMU_EPTP_AD : 0);
  } else {
    s.n.root = root;
    s.n.flags |= ((c1 & 0x40) ? MMU_NESTED_NXE : 0) |
                 ((c1 & 0x20) ? MMU_NESTED_LA57 : 0);
  }
  FZ_CHECK(mmu_set_nested(&cpu, &s.n) == MMU_OK, "mmu_set_nested refused 0x%llx",
           (unsigned long long)s.n.root);

  /* mappings first (a walk that gets somewhere), then pokes over them */
  uint64_t mapped[8];
  unsigned nmapped = fi_u8(&in) % 9, next_page = 0;
  int levels = s.n.kind == MMU_NESTED_EPT ? (int)((s.n.root >> 3) & 7) + 1
               : (s.n.flags & MMU_NESTED_LA57) ? 5 : 4;
  const uint64_t upper = 7; /* EPT: R W X; NPT: P W U */
  for (unsigned i = 0; i < nmapped; i++) {
    uint64_t g = fi_u64(&in) & nf_bits(s.maxphy - 1, 12);
    int leaf = 1 + fi_u8(&in) % 3;
    uint64_t table = root;
    for (int level = levels; level > leaf; level--) {
      uint64_t at = table + 8 * ((g >> (12 + 9 * (level - 1))) & 511), v = 0;
      nf_rd(&s, ram, at, &v);
      if (!(v & 7) || v < s.base || v - s.base >= NF_RAM) {
        next_page = (next_page + 1) % NF_PAGES;
        v = (s.base + (uint64_t)next_page * 4096) | upper;
        nf_wr(&s, ram, at, v);
      }
      table = v & nf_bits(51, 12);
    }
    uint64_t span = 1ull << (12 + 9 * (leaf - 1));
    uint64_t frame = (s.base + (uint64_t)(fi_u8(&in) % NF_PAGES) * 4096) & ~(span - 1);
    uint64_t flags = s.n.kind == MMU_NESTED_EPT ? 7 | MMU_EPT_MT_WB : 7;
    flags ^= fi_u8(&in) & 0x1ff & (fi_u8(&in) % 4 == 0 ? 0x1ff : 0x120);
    nf_wr(&s, ram, table + 8 * ((g >> (12 + 9 * (leaf - 1))) & 511),
          frame | flags | (leaf > 1 ? 1ull << 7 : 0));
    mapped[i] = g;
  }

  unsigned pokes = fi_u8(&in) % 64;
  for (unsigned i = 0; i < pokes; i++) {
    uint64_t at = s.base + (uint64_t)(fi_u16(&in) % (NF_RAM / 8)) * 8;
    nf_wr(&s, ram, at, nf_entry(&in, &s));
  }
  memcpy(model, ram, sizeof ram);

  for (unsigned op = 0; op < 64 && !fi_empty(&in); op++) {
    uint8_t kb = fi_u8(&in);
    unsigned kind = (kb & 0x7F) % 3;
    uint64_t gpa = fi_u64(&in) & nf_bits(s.maxphy - 1, 0);
    if (nmapped && !(kb & 0x80)) /* mostly where a mapping is */
      gpa = mapped[gpa % nmapped] | (gpa & 0xFFF);
    mmu_result r;
    memset(&r, 0, sizeof r);
    int st = mmu_nested_translate(&cpu, gpa, kind, &r);
    nf_out m = nf_model(&s, gpa, kind);
    fz_trace("op %u: %s 0x%llx -> %d / %d\n", op,
             kind == 0 ? "read" : kind == 1 ? "write" : "fetch",
             (unsigned long long)gpa, st, m.status);
    FZ_CHECK(st == m.status, "gpa 0x%llx kind %u: status %d, model %d",
             (unsigned long long)gpa, kind, st, m.status);
    if (st == MMU_OK) {
      FZ_CHECK(r.paddr == m.hpa && r.page_size == m.size,
               "gpa 0x%llx: 0x%llx/%llu, model 0x%llx/%llu",
               (unsigned long long)gpa, (unsigned long long)r.paddr,
               (unsigned long long)r.page_size, (unsigned long long)m.hpa,
               (unsigned long long)m.size);
      int in_ram = r.paddr >= s.base && r.paddr - s.base < NF_RAM;
      FZ_CHECK(in_ram ? r.host == ram + (r.paddr - s.base) : r.host == NULL,
               "host pointer");
    } else if (st == MMU_ERR_PT_BUS) {
      FZ_CHECK(r.paddr == m.bus, "bus at 0x%llx, model 0x%llx",
               (unsigned long long)r.paddr, (unsigned long long)m.bus);
    } else {
      FZ_CHECK(r.gpa == gpa && r.exit_qual == m.qual,
               "gpa 0x%llx kind %u: exit %d qual 0x%llx, model 0x%llx",
               (unsigned long long)gpa, kind, st,
               (unsigned long long)r.exit_qual, (unsigned long long)m.qual);
    }
    FZ_CHECK(memcmp(ram, model, sizeof ram) == 0,
             "gpa 0x%llx kind %u: RAM (A/D) differs from the model's",
             (unsigned long long)gpa, kind);
  }
  return 0;
}
