/* SPDX-License-Identifier: MIT */
/* perm.c - access rights decided by precomputed tables (as KVM does).
 *
 * The index of every table is (access kind | mode): bit 0 write, bit 1
 * fetch, bit 2 implicit supervisor access, bit 3 CPL 3, bit 4 EFLAGS.AC.
 * Folding CPL and AC into the index means a privilege change or STAC/CLAC
 * only updates cpu->mode; the tables change with CR0, CR4, EFER and PKRU. */
#include "internal.h"

/* SDM 4.1.1, Table 4-1 (LMA implies PAE: the register writes keep it so). */
static int mmu__paging_mode(const mmu_regs *r) {
  if (!(r->cr0 & MMU_CR0_PG))
    return MMU__PAGING_OFF;
  if (r->efer & MMU_EFER_LMA)
    return (r->cr4 & MMU_CR4_LA57) ? MMU__PAGING_5 : MMU__PAGING_4;
  return (r->cr4 & MMU_CR4_PAE) ? MMU__PAGING_PAE : MMU__PAGING_32;
}

/* Rights as sets: bit r of a mask stands for the rights value r
 * (MMU_RIGHT_W | U | X, bits 0-2), so a rule over pages is one AND/OR. */
#define MMU__WITH_W 0xAAu /* r & MMU_RIGHT_W */
#define MMU__WITH_U 0xCCu /* r & MMU_RIGHT_U */
#define MMU__WITH_X 0xF0u /* r & MMU_RIGHT_X */

/* SDM 4.6.1: the rights values (bit per value, as above) on which an
 * access of kind idx faults. */
static unsigned mmu__rights_faults(const mmu_regs *r, unsigned idx) {
  int fetch = (idx & MMU_FETCH) != 0;
  int write = (idx & MMU_WRITE) && !fetch;
  int implicit = (idx & MMU_IMPLICIT) != 0;
  int user = (idx & MMU__MODE_USER) && !implicit; /* user-mode access */
  int ac = (idx & MMU__MODE_AC) != 0;
  int nxe = (r->efer & MMU_EFER_NXE) != 0;
  int wp = (r->cr0 & MMU_CR0_WP) != 0;
  int smep = (r->cr4 & MMU_CR4_SMEP) != 0;
  int smap = (r->cr4 & MMU_CR4_SMAP) != 0;
  unsigned f;
  if (fetch) /* no X under NXE; user: U needed; supervisor: no U (SMEP) */
    f = (nxe ? ~MMU__WITH_X : 0) | (user ? ~MMU__WITH_U : 0) |
        (!user && smep ? MMU__WITH_U : 0); /* SMAP never applies */
  else if (user) /* U needed, W for a write */
    f = ~MMU__WITH_U | (write ? ~MMU__WITH_W : 0);
  else /* supervisor data: SMAP on user pages, WP on read-only ones */
    f = (smap && (implicit || !ac) ? MMU__WITH_U : 0) |
        (write && wp ? ~MMU__WITH_W : 0);
  return f & 0xFFu;
}

/* SDM 4.6.2: the keys (bit per key) that deny this data access to a user
 * page; ad and wd hold PKRU's AD and WD bits, a bit per key. */
static uint32_t mmu__pkeys_deny(const mmu_regs *r, unsigned idx, uint32_t ad,
                                uint32_t wd) {
  if (idx & MMU_FETCH)
    return 0;
  int write = (idx & MMU_WRITE) != 0;
  int user = (idx & MMU__MODE_USER) && !(idx & MMU_IMPLICIT);
  return ad | (write && (user || (r->cr0 & MMU_CR0_WP)) ? wd : 0);
}

/* The table index mode bits of each front view. */
static const uint8_t mmu__view_mode[3] = {0, MMU__MODE_AC, MMU__MODE_USER};

/* The front's decisions: for each view, which access kinds (bit access & 3:
 * read, write, fetch, fetch) the rights allow and the key denies. */
/* Bits 0-7 of x as eight bytes of 0 or 1, byte i (from the low end) for
 * bit i: copies of x, each byte masked to its bit, each nonzero byte
 * carried into its bit 7 (no carry leaves a byte). */
static inline uint64_t mmu__bits_to_bytes(uint32_t x) {
  uint64_t m = ((uint64_t)(x & 0xFFu) * 0x0101010101010101ull) &
               0x8040201008040201ull;
  return ((m + 0x7F7F7F7F7F7F7F7Full) & 0x8080808080808080ull) >> 7;
}

/* The access kinds of values b..b+7 of one view, a byte each: bit k of
 * a byte from the table word of kind k (t[mode | k], k = 0..3). */
static inline uint64_t mmu__kinds8(const uint32_t a[4], unsigned b) {
  return mmu__bits_to_bytes(a[0] >> b) | mmu__bits_to_bytes(a[1] >> b) << 1 |
         mmu__bits_to_bytes(a[2] >> b) << 2 | mmu__bits_to_bytes(a[3] >> b) << 3;
}

static inline void mmu__put8(uint8_t *p, uint64_t w) {
  for (unsigned i = 0; i < 8; i++) /* one store where the compiler can */
    p[i] = (uint8_t)(w >> (8 * i));
}

/* The front's decisions as tables indexed by rights or key: eight values
 * at a time, a transpose of the four tables' words of the view's mode. */
static void mmu__update_views(mmu_cpu *cpu) {
  const uint64_t no_fetch = ~((uint64_t)(3u << MMU_FETCH) * 0x0101010101010101ull);
  for (unsigned v = 0; v < 3; v++) {
    unsigned mode = mmu__view_mode[v];
    uint32_t allow[4], deny[4];
    for (unsigned k = 0; k < 4; k++) {
      allow[k] = cpu->allow[mode | k];
      deny[k] = cpu->pk_deny[mode | k];
    }
    /* rights 16-31 are 0-15 with MMU_RIGHT_HOST_NOX: no fetch kinds (2, 3) */
    for (unsigned b = 0; b < 16; b += 8) {
      uint64_t kinds = mmu__kinds8(allow, b);
      mmu__put8(&cpu->view_allow[v][b], kinds);
      mmu__put8(&cpu->view_allow[v][b | MMU_RIGHT_HOST_NOX], kinds & no_fetch);
    }
    mmu__put8(&cpu->view_pk_deny[v][0], mmu__kinds8(deny, 0));
    mmu__put8(&cpu->view_pk_deny[v][8], mmu__kinds8(deny, 8));
    cpu->view_pk_deny[v][MMU_PKEY_NONE] = (uint8_t)mmu__kinds8(deny, MMU_PKEY_NONE);
  }
  mmu__front_clear_all(cpu); /* it held decisions of the old registers */
}

/* The protection-key table, rebuilt only when what it depends on changed
 * (keys on: PKRU and CR0.WP; off: nothing); then the views. `force`: the
 * rights tables changed, the views must follow. */
static void mmu__update_pkeys_as(mmu_cpu *cpu, int force) {
  const mmu_regs *r = &cpu->regs;
  int on = (r->cr4 & MMU_CR4_PKE) && (r->efer & MMU_EFER_LMA);
  uint64_t key = 1ull << 63 |
                 (on ? 1ull << 32 | (uint64_t)r->pkru |
                           ((r->cr0 & MMU_CR0_WP) ? 1ull << 33 : 0)
                     : 0);
  if (key == cpu->pk_key && !force)
    return;
  cpu->pk_key = key;
  uint32_t ad = 0, wd = 0;
  for (unsigned k = 0; on && k < 16; k++) {
    ad |= ((r->pkru >> (2 * k)) & 1u) << k;
    wd |= ((r->pkru >> (2 * k + 1)) & 1u) << k;
  }
  for (unsigned idx = 0; idx < 32; idx++) /* bit MMU_PKEY_NONE stays 0 */
    cpu->pk_deny[idx] = on ? mmu__pkeys_deny(r, idx, ad, wd) : 0;
  mmu__update_views(cpu);
}

static void mmu__update_pkeys(mmu_cpu *cpu) { mmu__update_pkeys_as(cpu, 0); }

/* CPL and AC select the permission tables' mode bits and the front view:
 * with SMAP off, AC changes nothing a supervisor access may do. */
static void mmu__update_mode(mmu_cpu *cpu) {
  int user = cpu->regs.cpl == 3;
  cpu->mode = (uint8_t)((user ? MMU__MODE_USER : 0) |
                        (cpu->regs.ac ? MMU__MODE_AC : 0));
  cpu->view = (uint8_t)(user ? 2
                        : (cpu->regs.ac && (cpu->regs.cr4 & MMU_CR4_SMAP)) ? 1
                                                                            : 0);
  cpu->front[0] = cpu->front_view[cpu->view];
  cpu->front[1] = cpu->front_view[0];
}

/* Recompute everything derived from the registers and the config. */
/* The only state a CR3 write changes: a context switch costs no table
 * rebuild. */
static void mmu__update_pcid(mmu_cpu *cpu) {
  const mmu_regs *r = &cpu->regs;
  cpu->pcid = (r->cr4 & MMU_CR4_PCIDE) ? (uint16_t)(r->cr3 & 0xFFF) : 0;
}

static void mmu__update_reserved(mmu_cpu *cpu);

static void mmu__update_tables(mmu_cpu *cpu) {
  const mmu_regs *r = &cpu->regs;
  int paging = (r->cr0 & MMU_CR0_PG) != 0;
  /* the rights tables depend on five bits: rebuilt (and the front, which
   * holds their decisions, cleared) only when one changed, so a MOV to
   * CR0 that flips TS or a CR4 write of PGE rebuilds nothing */
  uint32_t key = 1u << 31 | (uint32_t)paging |
                 ((r->efer & MMU_EFER_NXE) ? 2u : 0) |
                 ((r->cr0 & MMU_CR0_WP) ? 4u : 0) |
                 ((r->cr4 & MMU_CR4_SMEP) ? 8u : 0) |
                 ((r->cr4 & MMU_CR4_SMAP) ? 16u : 0);
  int changed = key != cpu->perm_key;
  cpu->perm_key = key;
  for (unsigned idx = 0; changed && idx < 32; idx++) {
    int write = (idx & MMU_WRITE) && !(idx & MMU_FETCH);
    /* paging off: no rights to check, every access goes ahead */
    unsigned fault = paging ? mmu__rights_faults(r, idx) : 0;
    /* allow: rights values 0-15, bit 3 D; a write through an entry cached
     * without D must walk to set it */
    cpu->fault[idx] = (uint8_t)fault;
    cpu->allow[idx] = (uint16_t)(~(fault | fault << 8) & (write ? 0xFF00u : 0xFFFFu));
  }
  mmu__update_pkeys_as(cpu, changed);
  mmu__update_mode(cpu);

  cpu->canon_shift = (r->cr4 & MMU_CR4_LA57) ? 56 : 47;
  cpu->paging = (int8_t)mmu__paging_mode(r);
  mmu__update_pcid(cpu);
  mmu__update_reserved(cpu);
}

/* Reserved bits by level and PS, for the current paging mode. */
static void mmu__update_reserved(mmu_cpu *cpu) {
  const mmu_regs *r = &cpu->regs;
  uint64_t xd = (r->efer & MMU_EFER_NXE) ? 0 : MMU_PTE_XD;
  if (cpu->paging == MMU__PAGING_32) {
    /* SDM 4.3, Table 4-4: a 4 MiB PDE holds physical bits M-1:32 in bits
     * M-20:13 (PSE-36, M = min(MAXPHYADDR, 40)); bits 21:M-19 are
     * reserved. Nothing else is in 32-bit paging. */
    unsigned m = cpu->maxphyaddr < 40 ? cpu->maxphyaddr : 40;
    memset(cpu->rsvd, 0, sizeof cpu->rsvd);
    cpu->rsvd[2][1] = MMU__BITS(21, m - 19);
    return;
  }
  if (cpu->paging == MMU__PAGING_PAE) {
    /* SDM 4.4.2, Tables 4-9 to 4-11: bits 62:MAXPHYADDR, XD without NXE,
     * bits 20:13 of a 2 MiB PDE. (The PDPTEs were checked when loaded.) */
    uint64_t high = MMU__BITS(62, cpu->maxphyaddr) | xd;
    for (int level = 0; level < 6; level++)
      cpu->rsvd[level][0] = cpu->rsvd[level][1] = high;
    cpu->rsvd[2][1] |= MMU__BITS(20, 13);
    return;
  }
  /* SDM 4.5, Tables 4-15 to 4-20: reserved bits by level and PS. */
  uint64_t high = cpu->maxphyaddr < 52 ? MMU__BITS(51, cpu->maxphyaddr) : 0;
  high |= xd;
  for (int level = 0; level < 6; level++)
    cpu->rsvd[level][0] = cpu->rsvd[level][1] = high;
  /* PS is reserved in PML5Es and PML4Es: in both masks, so the walk's
   * first check catches it */
  for (int ps = 0; ps < 2; ps++) {
    cpu->rsvd[5][ps] |= MMU_PTE_PS;
    cpu->rsvd[4][ps] |= MMU_PTE_PS;
  }
  cpu->rsvd[3][1] |= (cpu->flags & MMU_CFG_NO_1G_PAGES) ? MMU_PTE_PS
                                                        : MMU__BITS(29, 13);
  cpu->rsvd[2][1] |= MMU__BITS(20, 13);
  if (cpu->flags & MMU_CFG_AMD) { /* bit 8 of PML5Es and PML4Es */
    cpu->rsvd[5][0] |= MMU_PTE_G;
    cpu->rsvd[4][0] |= MMU_PTE_G;
  }
}

/* Error-code bits that depend only on the access (SDM 4.7). */
static uint32_t mmu__pfec_base(const mmu_cpu *cpu, unsigned access) {
  const mmu_regs *r = &cpu->regs;
  uint32_t pfec = 0;
  int fetch = (access & MMU_FETCH) != 0;
  if ((access & MMU_WRITE) && !fetch)
    pfec |= MMU_PFEC_W;
  if (r->cpl == 3 && !(access & MMU_IMPLICIT))
    pfec |= MMU_PFEC_U;
  /* SDM 4.7: I/D with SMEP, or with NXE where entries have XD (PAE and
   * 4/5-level paging; 32-bit paging has no XD) */
  if (fetch && ((r->cr4 & MMU_CR4_SMEP) ||
                ((r->efer & MMU_EFER_NXE) && (r->cr4 & MMU_CR4_PAE))))
    pfec |= MMU_PFEC_ID;
  return pfec;
}
