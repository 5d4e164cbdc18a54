/* SPDX-License-Identifier: MIT */
/* mmu.h - a reference x86-64 MMU for emulators.
 *
 * Public API. The translation hit check is inline below; everything else is
 * in mmu/, one file per concern. To get the whole library in one translation
 * unit, in exactly one C or C++ file:
 *
 *     #define MMU_IMPLEMENTATION
 *     #include "mmu.h"
 *
 * The library never allocates: the embedder owns the mmu_cpu struct, the TLB
 * storage (sized by mmu_tlb_storage_size()) and guest RAM. SPEC.md is the
 * contract; section references like "SDM 4.6.1" point into the Intel SDM
 * vol. 3A chapter 4.
 *
 * Options, defined before including:
 *   MMU_STATIC         give every API function internal linkage
 *   MMU_API            override the linkage of API functions
 *   MMU_ASSERT(x)      internal consistency checks, and the debug-build
 *                      checks of the unchecked hot path (default: assert(x))
 */
#ifndef MMU_H_INCLUDED
#define MMU_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define MMU_VERSION_MAJOR 0
#define MMU_VERSION_MINOR 6
#define MMU_VERSION_PATCH 0
#define MMU_VERSION                                                          \
  ((uint32_t)((MMU_VERSION_MAJOR << 16) | (MMU_VERSION_MINOR << 8) |         \
              MMU_VERSION_PATCH))
#define MMU_VERSION_STRING "0.6.0"

#ifndef MMU_API
#ifdef MMU_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define MMU_API static __attribute__((unused)) /* no warning for unused calls */
#else
#define MMU_API static
#endif
#else
#define MMU_API extern
#endif
#endif

#ifndef MMU_ASSERT
#include <assert.h>
#define MMU_ASSERT(x) assert(x)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MMU_LIKELY(x) __builtin_expect(!!(x), 1)
#define MMU_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define MMU_LIKELY(x) (x)
#define MMU_UNLIKELY(x) (x)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes. Positive values are architectural faults the guest sees;   */
/* negative values are errors of the embedder's making or of guest RAM.     */
/* mmu_status_name() names each.                                            */
/*                                                                          */
/* Misuse (SPEC.md 2.5): every function checks its arguments on entry. A    */
/* NULL pointer or an argument out of range is MMU_ERR_ARG; an object never */
/* initialised, destroyed, or from another version of this header is       */
/* MMU_ERR_UNINIT (its magic and version words say so); nothing changes.   */
/* Functions that return a size, count or pointer return 0 or NULL then.   */
/* Not checked, to stay a few instructions: the inline mmu_translate(),    */
/* mmu_translate_host(), mmu_front_lookup() and mmu_cpu_sync() trust that  */
/* the cpu was initialised, out is not NULL and access is a valid kind;    */
/* MMU_ASSERT checks that in debug builds (and mmu_translate_slow(), where */
/* every miss goes, checks it always). Calls on one cpu, or on one system  */
/* and its spaces, from two threads at once are not detected (SPEC 2.3).   */

typedef enum mmu_status {
  MMU_OK = 0,
  MMU_PAGE_FAULT = 1,    /* #PF: result.error_code and result.cr2 are set */
  MMU_GP_FAULT = 2,      /* #GP(0): non-canonical address or bad register */
  /* Nested paging (SPEC.md 10): a VM exit of the guest-physical address  */
  /* result.gpa; result.exit_qual as the exit reports it.                 */
  MMU_EPT_VIOLATION = 3, /* exit qualification (SDM 3C 28.2.3.2)         */
  MMU_EPT_MISCONFIG = 4, /* no qualification (SDM 3C 28.2.3.1)           */
  MMU_NPF = 5,           /* #VMEXIT(NPF): exit_qual is EXITINFO1 (APM 2  */
                         /* 15.25.6), gpa EXITINFO2                      */
  MMU_STATUS_MAX = MMU_NPF,
  MMU_ERR_ARG = -1,      /* invalid argument (NULL pointer, bad length)    */
  MMU_ERR_VERSION = -2,  /* header and library disagree on version/size    */
  MMU_ERR_CONFIG = -3,   /* config out of range (TLB geometry, MAXPHYADDR) */
  MMU_ERR_STORAGE = -4,  /* storage too small or misaligned (see the     */
                         /* call's size query)                            */
  MMU_ERR_RAM = -5,      /* RAM region list malformed (overlap, alignment) */
  MMU_ERR_MODE = -6,     /* paging mode not modelled (no longer returned:  */
                         /* every mode is, from paging off to LA57)        */
  MMU_ERR_PT_BUS = -7,   /* walk touched a paging entry outside RAM and no */
                         /* pt_read callback resolved it; result.paddr is  */
                         /* the entry's physical address                   */
  MMU_ERR_CONTENDED = -8, /* A/D update lost its compare-exchange race too */
                          /* often; no state changed, retry the access     */
  /* OS side (mmu_system, mmu_space): every one leaves state as it was.     */
  MMU_ERR_NOMEM = -9,        /* frame pool exhausted (nothing evictable)   */
  MMU_ERR_NOSWAP = -10,      /* swap full, or no swap to evict to          */
  MMU_ERR_SWAP_IO = -11,     /* swap backend failed or read short          */
  MMU_ERR_SWAP_CORRUPT = -12,/* swapped page failed its XXH64 checksum     */
  MMU_ERR_FILE = -13,        /* a file region's read_page callback failed  */
  MMU_ERR_NOSPACE = -14,     /* no room in the address space, region table */
                             /* full, or too many cpus (Linux: ENOMEM)     */
  MMU_ERR_BADADDR = -15,     /* no mapping where the call needs one       */
                             /* (Linux: EFAULT, as mremap returns it)      */
  MMU_ERR_BUSY = -16,        /* the object is still mapped (EBUSY)         */
  MMU_ERR_UNINIT = -17,      /* object not initialised (or destroyed)      */
  MMU_ERR_STATE = -18,       /* the cpu is not in a state the call needs   */
                             /* (mmu_space_activate: long-mode paging off) */
  MMU_STATUS_MIN = MMU_ERR_STATE /* lowest code (tests walk them all)      */
} mmu_status;

/* Access kinds for mmu_translate(). User or supervisor mode follows from the
 * CPL (SDM 4.6): CPL 3 accesses are user-mode unless MMU_IMPLICIT is set,
 * which marks implicit supervisor-mode accesses (GDT/IDT/LDT/TSS). */
enum {
  MMU_READ = 0,
  MMU_WRITE = 1,
  MMU_FETCH = 2,
  MMU_IMPLICIT = 4
};

/* #PF error code bits (SDM 4.7, Figure 4-12). */
enum {
  MMU_PFEC_P = 1u << 0,
  MMU_PFEC_W = 1u << 1,
  MMU_PFEC_U = 1u << 2,
  MMU_PFEC_RSVD = 1u << 3,
  MMU_PFEC_ID = 1u << 4,
  MMU_PFEC_PK = 1u << 5
};

/* Control-register and EFER bits the MMU reads. */
#define MMU_CR0_PE (1ull << 0)
#define MMU_CR0_WP (1ull << 16)
#define MMU_CR0_NW (1ull << 29)
#define MMU_CR0_CD (1ull << 30)
#define MMU_CR0_PG (1ull << 31)
#define MMU_CR3_NOFLUSH (1ull << 63)
#define MMU_CR4_PSE (1ull << 4)
#define MMU_CR4_PAE (1ull << 5)
#define MMU_CR4_PGE (1ull << 7)
#define MMU_CR4_LA57 (1ull << 12)
#define MMU_CR4_PCIDE (1ull << 17)
#define MMU_CR4_SMEP (1ull << 20)
#define MMU_CR4_SMAP (1ull << 21)
#define MMU_CR4_PKE (1ull << 22)
#define MMU_EFER_LME (1ull << 8)
#define MMU_EFER_LMA (1ull << 10)
#define MMU_EFER_NXE (1ull << 11)

/* Paging-entry bits (SDM 4.5, Tables 4-15 to 4-20). */
#define MMU_PTE_P (1ull << 0)
#define MMU_PTE_W (1ull << 1)
#define MMU_PTE_U (1ull << 2)
#define MMU_PTE_PWT (1ull << 3)
#define MMU_PTE_PCD (1ull << 4)
#define MMU_PTE_A (1ull << 5)
#define MMU_PTE_D (1ull << 6)
#define MMU_PTE_PS (1ull << 7)
#define MMU_PTE_G (1ull << 8)
#define MMU_PTE_XD (1ull << 63)
#define MMU_PTE_PKEY_SHIFT 59

/* ------------------------------------------------------------------------ */
/* Configuration. A zero-initialised mmu_config is valid: every 0 field     */
/* takes the default named beside it.                                       */

/* One contiguous piece of guest RAM. gpa and size must be multiples of
 * 4096; host must be 8-byte aligned and stay valid while the cpu is used. */
typedef struct mmu_ram_region {
  uint64_t gpa;
  uint64_t size;
  void *host;
} mmu_ram_region;

/* Optional callbacks for paging entries that live outside RAM (MMIO). Return
 * 0 on success. cmpxchg returns 0 if it stored, 1 if *value differed from
 * expected, anything else for a bus error. */
typedef int (*mmu_pt_read_fn)(void *user, uint64_t gpa, uint64_t *value);
typedef int (*mmu_pt_cmpxchg_fn)(void *user, uint64_t gpa, uint64_t expected,
                                 uint64_t desired);

enum {
  /* CPUID.80000001H:EDX.Page1GB = 0: PS in a PDPTE is a reserved bit. */
  MMU_CFG_NO_1G_PAGES = 1u << 0,
  /* On a walk that faults, set A in the paging-structure entries above the
   * level that faulted (QEMU TCG's behaviour). Default: a faulting walk
   * leaves every entry untouched (KVM's). SDM 4.8 allows both. */
  MMU_CFG_AD_ON_FAULT_UPPER = 1u << 1,
  /* AMD: bit 8 is reserved in PML5Es and PML4Es (Intel ignores it), as
   * KVM's AMD walker and the KVM captures on AMD hosts show. */
  MMU_CFG_AMD = 1u << 2
};

typedef struct mmu_config {
  uint32_t tlb_sets;   /* power of two, 1..65536; 0 = 64 */
  uint32_t tlb_ways;   /* power of two, 1..16; 0 = 4 */
  uint32_t front_entries; /* front TLB entries per view, power of two, */
                          /* 16..4096; 0 = sets * ways within 64..1024 */
  uint32_t maxphyaddr; /* 36..52, CPUID.80000008H:EAX[7:0]; 0 = 52 */
  uint32_t flags;      /* MMU_CFG_* */
  const mmu_ram_region *ram; /* array, owned by the embedder */
  uint32_t ram_count;
  mmu_pt_read_fn pt_read;       /* optional */
  mmu_pt_cmpxchg_fn pt_cmpxchg; /* optional */
  void *pt_user;
} mmu_config;

/* ------------------------------------------------------------------------ */
/* State.                                                                   */

/* The paging-relevant architectural registers. Read them from cpu->regs;
 * change them only through the mmu_write_* / mmu_set_* calls, which apply
 * the SDM 4.10.4.1 flush rules. */
typedef struct mmu_regs {
  uint64_t cr0, cr3, cr4, efer;
  uint32_t pkru;
  uint8_t cpl; /* 0..3 */
  uint8_t ac;  /* EFLAGS.AC */
  /* PAE paging's four PDPTE registers (SDM 4.4.1): loaded from CR3 by the
   * MOV to CR0, CR3 or CR4 that needs them, not re-read on a TLB miss. */
  uint64_t pdpte[4];
} mmu_regs;

/* One TLB entry caches one 4 KiB piece of a page of any size (large pages
 * are splintered, as QEMU does, so a hit needs one probe); page_shift keeps
 * the size the SDM's invalidation rules are written against. */
typedef struct mmu_tlb_entry {
  uint64_t tag;      /* linear address of the piece | PCID; MMU_TLB_EMPTY */
  uint64_t paddr;    /* physical address of the piece */
  uint8_t *host;     /* host address of the piece, NULL when not RAM */
  uint8_t rights;    /* MMU_RIGHT_* combined over all levels */
  uint8_t pkey;      /* protection key, MMU_PKEY_NONE for supervisor pages */
  uint8_t page_shift; /* 12, 21, 22 (4 MiB, 32-bit paging) or 30 */
  uint8_t global;
  uint8_t reserved_[4];
} mmu_tlb_entry;

#define MMU_TLB_EMPTY (1ull << 63) /* non-canonical: no key ever equals it */
enum { MMU_RIGHT_W = 1, MMU_RIGHT_U = 2, MMU_RIGHT_X = 4, MMU_RIGHT_D = 8,
       /* nested paging: the second dimension forbids fetches (it forbids
        * writes by leaving D clear: a write then always walks) */
       MMU_RIGHT_HOST_NOX = 16 };
enum { MMU_PKEY_NONE = 16 };

/* The front TLB (SPEC.md 5.8): what the inline hit and a JIT read. One
 * direct-mapped table per privilege view (supervisor, supervisor with
 * EFLAGS.AC under SMAP, user); an entry holds decisions, not rights: for
 * each access kind a comparator that equals the page address exactly when
 * that access may go ahead with no walk, and the addends that turn the
 * linear address into the host and physical addresses. 64 bytes, one cache
 * line; the layout is a stable contract (offsets in SPEC.md 5.8). */
typedef struct mmu_front_entry {
  uint64_t cmp[4];    /* [access & 3]: read, write, fetch, fetch (0) */
  uint64_t host_add;  /* host = vaddr + host_add (mod 2^64) */
  uint64_t phys_add;  /* paddr = vaddr + phys_add (mod 2^64) */
  uint64_t page_size; /* 4096, 2 MiB, 4 MiB or 1 GiB */
  uint64_t page;      /* the page address decoded; MMU_FRONT_NONE if empty */
} mmu_front_entry;

/* A comparator no address equals: vaddr & ~0xFFF has its low bits clear. */
#define MMU_FRONT_NONE (~0ull)

/* Byte offsets for code that reads the front without the C structs (a JIT
 * emitting the hit inline, SPEC.md 5.8); pinned below. 64-bit hosts. */
#define MMU_FRONT_ENTRY_SIZE 64
#define MMU_FRONT_CMP_OFFSET 0 /* + 8 * (access & 3) */
#define MMU_FRONT_HOST_ADD_OFFSET 32
#define MMU_FRONT_PHYS_ADD_OFFSET 40
#define MMU_FRONT_PAGE_SIZE_OFFSET 48
#define MMU_FRONT_INDEX_SHIFT 6 /* slot offset = (vaddr >> 6) & index mask */
#define MMU_CPU_FRONT_OFFSET 0  /* + 8 * ((access >> 2) & 1) */
#define MMU_CPU_FRONT_INDEX_MASK_OFFSET 16
#define MMU_CPU_TLB_LOADS_OFFSET 24 /* stats.tlb_loads, + 8 * (access & 3) */

#if defined(__cplusplus) && __cplusplus >= 201103L
#define MMU__STATIC_ASSERT(c, m) static_assert(c, m)
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && \
    __STDC_VERSION__ >= 201112L
#define MMU__STATIC_ASSERT(c, m) _Static_assert(c, m)
#else /* a negative array size fails to compile */
#define MMU__STATIC_ASSERT(c, m) extern int mmu__static_assert[(c) ? 1 : -1]
#endif
MMU__STATIC_ASSERT(sizeof(mmu_front_entry) == MMU_FRONT_ENTRY_SIZE,
                   "front entry size");
MMU__STATIC_ASSERT(offsetof(mmu_front_entry, cmp) == MMU_FRONT_CMP_OFFSET,
                   "front cmp offset");
MMU__STATIC_ASSERT(offsetof(mmu_front_entry, host_add) ==
                       MMU_FRONT_HOST_ADD_OFFSET, "front host_add offset");
MMU__STATIC_ASSERT(offsetof(mmu_front_entry, phys_add) ==
                       MMU_FRONT_PHYS_ADD_OFFSET, "front phys_add offset");
MMU__STATIC_ASSERT(offsetof(mmu_front_entry, page_size) ==
                       MMU_FRONT_PAGE_SIZE_OFFSET, "front page_size offset");
MMU__STATIC_ASSERT((1 << (12 - MMU_FRONT_INDEX_SHIFT)) == MMU_FRONT_ENTRY_SIZE,
                   "front index shift");

/* Counters. tlb_loads/tlb_misses are indexed by access kind & 3 (read,
 * write, fetch): perf's dTLB-loads, dTLB-stores and iTLB-loads. tlb_loads
 * counts the translations that missed the front TLB, and every one when
 * MMU_COUNT_HITS is 1 (see mmu_translate); tlb_misses the ones that walked. */
typedef struct mmu_stats {
  uint64_t tlb_loads[4];
  uint64_t tlb_misses[4];
  uint64_t walks;        /* page walks started (after a TLB miss) */
  uint64_t walk_retries; /* walks restarted by a lost A/D race */
  uint64_t faults_not_present;
  uint64_t faults_protection; /* P=1 without RSVD or PK */
  uint64_t faults_reserved;
  uint64_t faults_pkey;
  uint64_t faults_gp;
  uint64_t bus_errors;
  uint64_t flushes_full;  /* every entry, global included */
  uint64_t flushes_pcid;  /* one PCID's non-global entries */
  uint64_t invlpg;
  uint64_t invpcid;
} mmu_stats;

/* Nested paging (SPEC.md 10): guest-physical addresses translated by the
 * host's EPT (Intel VMX) or nested page tables (AMD SVM). A zeroed
 * mmu_nested is "off". RAM regions are then host-physical. */
enum { MMU_NESTED_OFF = 0, MMU_NESTED_EPT = 1, MMU_NESTED_NPT = 2 };
enum {
  /* EPT: IA32_VMX_EPT_VPID_CAP bits the processor lacks or has */
  MMU_NESTED_EXEC_ONLY = 1u << 0, /* bit 0: execute-only entries allowed */
  MMU_NESTED_NO_1G = 1u << 1,     /* bit 17 clear: PS in an EPT PDPTE is */
                                  /* a misconfiguration; NPT: Page1GB = 0 */
  MMU_NESTED_NO_AD = 1u << 2,     /* bit 21 clear: EPTP bit 6 is refused */
  MMU_NESTED_MBEC = 1u << 3,      /* mode-based execute control on */
                                  /* (secondary control 22): bit 2 is XS, */
                                  /* bit 10 XU (SPEC 10.2) */
  /* NPT: the host's paging mode at VMRUN (nested tables use its format) */
  MMU_NESTED_NXE = 1u << 8,       /* host EFER.NXE */
  MMU_NESTED_LA57 = 1u << 9       /* host CR4.LA57: 5-level nested tables */
};
typedef struct mmu_nested {
  uint32_t kind;  /* MMU_NESTED_* */
  uint32_t flags; /* MMU_NESTED_* flags */
  uint64_t root;  /* EPT: the EPTP (bits 2:0 memory type, 5:3 walk length */
                  /* - 1, 6 A/D); NPT: nCR3 */
  uint16_t tag;   /* VPID or ASID: the context mmu_invvpid and */
                  /* mmu_invlpga name (SPEC 10.5) */
  uint16_t reserved_[3];
} mmu_nested;

/* EPTP fields (SDM 3C 24.6.11). */
#define MMU_EPTP_WB 6ull
#define MMU_EPTP_UC 0ull
#define MMU_EPTP_WALK4 (3ull << 3)
#define MMU_EPTP_WALK5 (4ull << 3)
#define MMU_EPTP_AD (1ull << 6)
/* EPT entry bits (SDM 3C 28.2.2). */
#define MMU_EPT_R (1ull << 0)
#define MMU_EPT_W (1ull << 1)
#define MMU_EPT_X (1ull << 2)
#define MMU_EPT_MT_WB (6ull << 3) /* leaf memory type, bits 5:3 */
#define MMU_EPT_PS (1ull << 7)
#define MMU_EPT_A (1ull << 8)
#define MMU_EPT_D (1ull << 9)
#define MMU_EPT_XU (1ull << 10) /* with MMU_NESTED_MBEC */
/* EPT violation exit qualification (SDM 3C 28.2.3.2, Table 27-7). */
#define MMU_EPTQ_READ (1ull << 0)
#define MMU_EPTQ_WRITE (1ull << 1)
#define MMU_EPTQ_FETCH (1ull << 2)
#define MMU_EPTQ_READABLE (1ull << 3)
#define MMU_EPTQ_WRITABLE (1ull << 4)
#define MMU_EPTQ_EXECUTABLE (1ull << 5) /* XS with MBEC */
#define MMU_EPTQ_USER_EXECUTABLE (1ull << 6) /* XU, with MBEC */
#define MMU_EPTQ_LINEAR_VALID (1ull << 7)
#define MMU_EPTQ_FINAL (1ull << 8) /* with LINEAR_VALID: not a table */
/* #VMEXIT(NPF) EXITINFO1 beyond the #PF error-code bits (APM 2 15.25.6). */
#define MMU_NPF_FINAL (1ull << 32) /* translating the final gpa */
#define MMU_NPF_TABLE (1ull << 33) /* translating a guest table's gpa */

/* Caller-owned, one per vCPU. Fields other than regs and stats are private:
 * they are public only so that mmu_translate() can be inline. */
typedef struct mmu_cpu {
  /* read by the inline hit: the front tables of the current view and of
   * implicit supervisor accesses, and the byte mask of a front index */
  mmu_front_entry *front[2];
  uint64_t front_index_mask; /* (entries - 1) << 6 */
  mmu_stats stats;
  /* cold */
  mmu_regs regs;
  mmu_front_entry *front_view[3]; /* supervisor, supervisor+AC, user */
  uint32_t front_entries;         /* per view */
  uint32_t front_log_cap;
  uint32_t front_log_n;           /* fills since the last clear */
  uint32_t *front_log;            /* view << 16 | slot of each fill */
  /* [view][rights] and [view][pkey]: bit per access & 3 (read, write,
   * fetch, fetch) the rights allow / the key denies */
  uint8_t view_allow[3][32];
  uint8_t view_pk_deny[3][17];
  mmu_tlb_entry *tlb;
  uint64_t *tlb_lru;    /* per set: ways in recency order, a nibble each */
  uint64_t tlb_lru_mask; /* the nibbles of tlb_ways ways */
  uint32_t tlb_set_mask;
  uint32_t tlb_ways;
  uint32_t tlb_ways_log2;
  uint32_t tlb_set_bits;  /* log2 of the number of sets */
  uint32_t tlb_large;   /* valid entries with page_shift > 12 */
  uint16_t pcid;        /* current PCID; 0 when CR4.PCIDE = 0 */
  uint8_t mode;         /* MMU__MODE_* bits of the current CPL and AC */
  uint8_t view;         /* front view of the current CPL and AC */
  uint8_t front_large;  /* a front may hold a piece of a large page */
  uint8_t front_used;   /* bit per view filled since the last clear */
  uint8_t canon_shift;  /* 47, or 56 with LA57 */
  int8_t paging;        /* MMU__PAGING_*: 0 off, 2 32-bit, 3 PAE, 4, 5 */
  uint16_t allow[32];   /* [access|mode] -> bit per rights: hit allowed */
  uint32_t pk_deny[32]; /* [access|mode] -> bit per pkey: PKRU denies */
  uint32_t perm_key;    /* the register bits allow/fault were built for */
  uint64_t pk_key;      /* and pk_deny (0: not built) */
  uint8_t fault[32];    /* [access|mode] -> bit per rights W|U|X: #PF */
  uint64_t rsvd[6][2];  /* [level][PS] reserved-bit masks (SDM 4.5) */
  uint64_t addr_mask;   /* bits 51:12 below MAXPHYADDR */
  /* the RAM region walks read last: gpa, size - 8, host */
  uint64_t ram_hot_gpa, ram_hot_limit;
  uint8_t *ram_hot_host;
  const mmu_ram_region *ram;
  uint32_t ram_count;
  mmu_pt_read_fn pt_read;
  mmu_pt_cmpxchg_fn pt_cmpxchg;
  void *pt_user;
  uint32_t maxphyaddr;
  uint32_t flags;
  uint32_t magic;       /* set by init: catches use before init */
  uint32_t version;
  /* TLB shootdowns posted by the OS side for the owner thread (SPEC 2.3):
   * a ring of ranges; every field is read and written atomically */
  uint32_t shoot_state;   /* MMU__CPU_UNMANAGED, _IDLE or _RUNNING */
  uint32_t shoot_posted;  /* ranges posted (the poster's count) */
  uint32_t shoot_applied; /* ranges applied (the owner's count) */
  uint32_t shoot_pages[8];
  uint64_t shoot_va[8];
  /* nested paging (mmu_set_nested): its root table, walk depth, and the
   * masks its entries are tested with [level][leaf] (nested.c) */
  mmu_nested nested;
  uint64_t nested_table;
  int16_t nested_levels;
  int16_t nested_format; /* the walk's copy: 0 NPT, 1 EPT, 2 EPT with MBEC */
  uint64_t nested_mask[6][2];
  /* the VM exit of the last MOV to CR0/CR3/CR4 (mmu_cr_exit) */
  uint64_t cr_exit_gpa, cr_exit_qual;
  int32_t cr_exit_status; /* 0: none */
  uint32_t reserved_cr_;
} mmu_cpu;

MMU__STATIC_ASSERT(offsetof(mmu_cpu, front) == MMU_CPU_FRONT_OFFSET &&
                       sizeof(mmu_front_entry *) == 8,
                   "cpu front offset");
MMU__STATIC_ASSERT(offsetof(mmu_cpu, front_index_mask) ==
                       MMU_CPU_FRONT_INDEX_MASK_OFFSET, "cpu mask offset");
MMU__STATIC_ASSERT(offsetof(mmu_cpu, stats) + offsetof(mmu_stats, tlb_loads) ==
                       MMU_CPU_TLB_LOADS_OFFSET, "cpu tlb_loads offset");

/* Mode bits combined into the permission-table index with the access kind. */
enum { MMU__MODE_USER = 8, MMU__MODE_AC = 16 };

/* Result of a translation. On MMU_OK: paddr, host (NULL unless RAM) and
 * page_size. On MMU_PAGE_FAULT: error_code and cr2. */
typedef struct mmu_result {
  uint64_t paddr;
  uint8_t *host;
  uint64_t page_size;
  uint64_t cr2;
  uint32_t error_code;
  /* nested paging's exits (MMU_EPT_VIOLATION, _MISCONFIG, MMU_NPF) */
  uint64_t gpa;       /* the guest-physical address being translated */
  uint64_t exit_qual; /* EPT: the exit qualification; NPT: EXITINFO1 */
} mmu_result;

/* A walk as the reference walker saw it: one line per level, top first. */
typedef struct mmu_walk_step {
  uint64_t entry_gpa;
  uint64_t entry; /* value read, before any A/D update */
  uint8_t level;  /* 5 = PML5E, 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE */
                  /* (PAE: the PDPTE register, entry_gpa where it was */
                  /* loaded from; 32-bit paging: 4-byte entries) */
} mmu_walk_step;

/* Under nested paging, an entry of the second dimension the reference
 * walker read (SPEC 10.4): translating a guest table entry's gpa or the
 * final one, top level first. */
typedef struct mmu_nested_step {
  uint64_t gpa;       /* the guest-physical address being translated */
  uint64_t entry_hpa; /* where this entry is (host-physical) */
  uint64_t entry;     /* value read, before any A/D update */
  uint8_t level;      /* 5..1 of the EPT or nested tables */
  uint8_t for_level;  /* the guest entry's level (step[].level) whose gpa */
                      /* this translates; 0: the final address */
  uint8_t reserved_[6];
} mmu_nested_step;

#define MMU_TRACE_NESTED_MAX 30 /* 5 guest levels + the final, 5 each */

typedef struct mmu_trace {
  uint32_t count;
  mmu_walk_step step[5]; /* the guest's (the only) dimension */
  uint32_t nested_count;
  mmu_nested_step nested[MMU_TRACE_NESTED_MAX];
} mmu_trace;

/* ------------------------------------------------------------------------ */
/* Functions.                                                               */

MMU_API uint32_t mmu_version(void);
MMU_API const char *mmu_version_string(void);
MMU_API const char *mmu_status_name(int status);

/* Bytes of TLB storage a cpu with this config needs (alignment: 8); 0 if
 * the geometry is invalid. cfg may be NULL for the defaults. The same as a
 * constant, for static storage: MMU_TLB_STORAGE_SIZE(sets, ways, front) with
 * front the config's front_entries, or MMU_FRONT_DEFAULT(sets, ways) when
 * that is 0. */
#define MMU_FRONT_DEFAULT(sets, ways)                                        \
  ((sets) * (ways) < 64 ? 64 : (sets) * (ways) > 1024 ? 1024 : (sets) * (ways))
#define MMU_TLB_STORAGE_SIZE(sets, ways, front)                              \
  (((size_t)(sets) * (ways) * 32 + (size_t)(sets) * 8 +                      \
    3 * (size_t)(front) * 64 + ((front) / 4 < 16 ? 16 : (front) / 4) * 4 +   \
    56 + 63) & ~(size_t)63)
MMU_API size_t mmu_tlb_storage_size(const mmu_config *cfg);

/* Initialise a cpu: paging off, CPL 0, empty TLB. Checks that the caller was
 * compiled against this library's struct layout (use the mmu_init macro). */
MMU_API int mmu_init_versioned(mmu_cpu *cpu, size_t sizeof_cpu,
                               uint32_t version, const mmu_config *cfg,
                               void *tlb_storage, size_t storage_bytes);
#define mmu_init(cpu, cfg, storage, bytes)                                   \
  mmu_init_versioned((cpu), sizeof(mmu_cpu), MMU_VERSION, (cfg), (storage),  \
                     (bytes))

/* Register writes as the instructions do them: each validates like MOV to
 * CRn / WRMSR (MMU_GP_FAULT, state unchanged) and flushes exactly what SDM
 * 4.10.4.1 says. */
MMU_API int mmu_write_cr0(mmu_cpu *cpu, uint64_t value);
MMU_API int mmu_write_cr3(mmu_cpu *cpu, uint64_t value);
MMU_API int mmu_write_cr4(mmu_cpu *cpu, uint64_t value);
MMU_API int mmu_write_efer(mmu_cpu *cpu, uint64_t value);
MMU_API int mmu_write_pkru(mmu_cpu *cpu, uint32_t value);
/* Under EPT, a MOV to CR0, CR3 or CR4 that loads PAE paging's PDPTEs reads
 * them through EPT (SPEC 10.4) and may return MMU_EPT_VIOLATION or
 * MMU_EPT_MISCONFIG, registers unchanged: mmu_cr_exit gives that exit's
 * gpa and exit_qual and returns its status; MMU_ERR_STATE when the last
 * of those writes made no exit. */
MMU_API int mmu_cr_exit(const mmu_cpu *cpu, mmu_result *out);
MMU_API int mmu_set_cpl(mmu_cpu *cpu, unsigned cpl);
MMU_API int mmu_set_ac(mmu_cpu *cpu, int ac);
/* Load a whole register state at once (snapshot restore, test set-up):
 * validates the combination, then flushes the whole TLB. */
MMU_API int mmu_load_regs(mmu_cpu *cpu, const mmu_regs *regs);

/* Invalidation (SDM 4.10.4.1). mmu_invpcid returns MMU_GP_FAULT where the
 * instruction would raise #GP. */
MMU_API int mmu_invlpg(mmu_cpu *cpu, uint64_t vaddr);
MMU_API int mmu_invpcid(mmu_cpu *cpu, unsigned type, uint64_t pcid,
                        uint64_t vaddr);
MMU_API int mmu_flush_tlb(mmu_cpu *cpu); /* everything, global included */

/* Nested paging (SPEC.md 10). mmu_set_nested checks the EPTP or nCR3 as VM
 * entry would (MMU_ERR_ARG: the entry would fail) and flushes the TLB;
 * mmu_nested_translate translates one guest-physical address (a guest's
 * physical access, DMA): MMU_OK with paddr/host/page_size, or a VM exit
 * with gpa and exit_qual. While it is on, mmu_translate walks the guest's
 * tables through it (the same exits; paddr is host-physical). */
MMU_API int mmu_set_nested(mmu_cpu *cpu, const mmu_nested *nested);
/* The hypervisor's invalidations (SPEC.md 10.5): INVEPT (type 1 single
 * context, 2 all contexts), INVVPID (0 one address, 1 one VPID, 2 all, 3
 * one VPID but its global translations), INVLPGA (one address of one
 * ASID; 0 is the host's). MMU_ERR_ARG where the instruction would VMfail
 * (INVLPGA never does). The TLB keeps one context: `tag` in mmu_nested
 * names its VPID or ASID. */
MMU_API int mmu_invept(mmu_cpu *cpu, unsigned type, uint64_t eptp);
MMU_API int mmu_invvpid(mmu_cpu *cpu, unsigned type, uint16_t vpid,
                        uint64_t vaddr);
MMU_API int mmu_invlpga(mmu_cpu *cpu, uint64_t vaddr, uint32_t asid);
MMU_API int mmu_nested_translate(mmu_cpu *cpu, uint64_t gpa, unsigned access,
                                 mmu_result *out);

/* vCPU threads and the OS side (SPEC 2.3). A cpu whose thread runs while
 * another thread calls the mmu_space and mmu_system functions is
 * "managed": its thread calls mmu_cpu_enter() before running guest code,
 * mmu_cpu_leave() before it blocks or calls any OS-side function, and
 * mmu_cpu_sync() at least between blocks of guest instructions (an
 * interrupt window). The OS side then never touches the cpu: it posts
 * invalidations, which the owner applies in mmu_cpu_sync(), on a TLB miss
 * and in mmu_cpu_enter(), and before it reuses or reads a frame it waits
 * until every running cpu applied them (the TLB shootdown IPI and its
 * acknowledgment; cfg.kick may hurry a cpu along). A cpu never entered is
 * unmanaged: the OS side invalidates its TLB directly, which is right only
 * while nothing runs on it concurrently (one thread for everything). */
MMU_API int mmu_cpu_enter(mmu_cpu *cpu);
MMU_API int mmu_cpu_leave(mmu_cpu *cpu);
static inline void mmu_cpu_sync(mmu_cpu *cpu);
MMU_API int mmu_cpu_apply_shootdowns(mmu_cpu *cpu);

/* Translation. mmu_translate() is the inline hit path; on a miss it calls
 * mmu_translate_slow(), which walks and fills the TLB. vaddr is the linear
 * address: outside IA-32e mode only its low 32 bits count (SDM vol. 1
 * 3.3.6), CR2 and the TLB's tags included, in every paging mode. */
static inline int mmu_translate(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                                mmu_result *out);
static inline uint8_t *mmu_translate_host(mmu_cpu *cpu, uint64_t vaddr,
                                          unsigned access);
MMU_API int mmu_translate_slow(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                               mmu_result *out);
/* An access of len bytes (1..4096) that may cross into the next page: both
 * pages are translated, lower first; out[0] and out[1] receive them (out[1]
 * is the same page as out[0] when the access does not cross). A fault is
 * reported in the out[] of the page that faulted, with cr2 the first byte
 * of the access inside that page. */
MMU_API int mmu_translate_span(mmu_cpu *cpu, uint64_t vaddr, uint32_t len,
                               unsigned access, mmu_result out[2]);

/* The reference walker: SDM 4.3-4.8 written out for clarity, no TLB, no
 * tables, and nested paging's second dimension (SPEC.md 10) the same way.
 * Sets A/D in guest RAM as translate does; trace may be NULL (its entry
 * addresses are guest-physical). */
MMU_API int mmu_reference_translate(mmu_cpu *cpu, uint64_t vaddr,
                                    unsigned access, mmu_result *out,
                                    mmu_trace *trace);

MMU_API int mmu_stats_reset(mmu_cpu *cpu);
/* Number of valid TLB entries (tests and diagnostics; O(entries)). */
MMU_API uint32_t mmu_tlb_count(const mmu_cpu *cpu);

/* ------------------------------------------------------------------------ */
/* XXH64 (the xxHash 64-bit algorithm), used to checksum swapped pages;      */
/* exported so embedders and tests can check a page the same way.           */

MMU_API uint64_t mmu_xxh64(const void *data, size_t len, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* Page replacement (SPEC.md section 9.6). A policy orders the frames that  */
/* may be evicted. It learns of references in one of two ways: explicit     */
/* mmu_policy_access() calls (a recorded trace, or Accessed bits harvested  */
/* by the system before each eviction for LRU and LFU), or by testing and   */
/* clearing a frame's referenced bit through the callback given to          */
/* mmu_policy_victim() (Clock and the two lists, as a kernel scans).        */

enum {
  MMU_POLICY_DEFAULT = 0, /* = MMU_POLICY_TWO_LIST */
  MMU_POLICY_LRU = 1,     /* exact least-recently-used over the references */
  MMU_POLICY_CLOCK = 2,   /* second chance over one circular list */
  MMU_POLICY_LFU = 3,     /* fewest references this residency, ties to */
                          /* the least recently referenced */
  MMU_POLICY_TWO_LIST = 4 /* Linux's active/inactive lists */
};

/* Test-and-clear the referenced (Accessed) state of a frame: 1 if it was set. */
typedef int (*mmu_referenced_fn)(void *user, uint32_t frame);

/* Caller-owned; fields are private. */
typedef struct mmu_policy {
  uint32_t magic, version;
  uint32_t kind;
  uint32_t frames;   /* frame numbers are 0..frames-1 */
  uint32_t resident; /* frames inserted and not removed */
  uint32_t hand;     /* Clock hand */
  uint32_t head[2], tail[2], count[2]; /* lists (two-list: 0 inactive, 1 active; */
                                       /* LFU: [0] the buckets by count) */
  uint32_t free_bucket; /* LFU: unused bucket slots */
  uint32_t *prev, *next; /* links per frame (LFU: then per bucket) */
  uint64_t *bucket_count; /* LFU, per bucket: its reference count */
  uint32_t *bucket_head, *bucket_tail; /* LFU, per bucket: its frames */
  uint32_t *owner;   /* LFU, per frame: its bucket */
  uint8_t *state;    /* per frame: resident, list */
} mmu_policy;

MMU_API const char *mmu_policy_name(unsigned kind);
/* Bytes of storage (alignment 8) for a policy over `frames` frames; 0 if the
 * kind is unknown or frames is 0 or above 2^31. */
MMU_API size_t mmu_policy_storage_size(unsigned kind, uint32_t frames);
MMU_API int mmu_policy_init(mmu_policy *p, unsigned kind, uint32_t frames,
                            void *storage, size_t bytes);
/* A frame became evictable (newly mapped) / stopped being so (freed). Both
 * are idempotent. */
MMU_API int mmu_policy_insert(mmu_policy *p, uint32_t frame);
MMU_API int mmu_policy_remove(mmu_policy *p, uint32_t frame);
/* The frame was referenced. */
MMU_API int mmu_policy_access(mmu_policy *p, uint32_t frame);
/* Choose the frame to evict and remove it from the policy. referenced may
 * be NULL (nothing is ever referenced). MMU_ERR_NOMEM if nothing is resident. */
MMU_API int mmu_policy_victim(mmu_policy *p, mmu_referenced_fn referenced,
                              void *user, uint32_t *frame);

/* Offline evaluation over a trace of page numbers 0..pages-1 (demand
 * paging into `frames` frames, every first touch a miss). The policy is
 * driven as the system drives it: mmu_policy_access on every reference for
 * LRU and LFU, a referenced bit set by every reference and cleared by the
 * callback for Clock and the two lists. */
MMU_API size_t mmu_trace_sim_storage_size(unsigned kind, uint32_t pages,
                                          uint32_t frames);
MMU_API int mmu_trace_simulate(unsigned kind, const uint32_t *trace, size_t n,
                               uint32_t pages, uint32_t frames, void *storage,
                               size_t bytes, uint64_t *misses);
/* Belady's OPT (evict the page whose next use is furthest), the lower bound
 * every policy is measured against. */
MMU_API size_t mmu_trace_opt_storage_size(size_t n, uint32_t pages,
                                          uint32_t frames);
MMU_API int mmu_trace_opt(const uint32_t *trace, size_t n, uint32_t pages,
                          uint32_t frames, void *storage, size_t bytes,
                          uint64_t *misses);

/* ------------------------------------------------------------------------ */
/* The OS side (SPEC.md section 9): a kernel's view of user memory, built   */
/* on the MMU above. An mmu_system owns a pool of physical frames, a swap   */
/* backend and a replacement policy; each mmu_space is one process's        */
/* address space: a 4-level page-table tree in pool frames, built lazily,   */
/* and a sorted table of regions (Linux's VMAs). Spaces of one system may   */
/* share frames copy-on-write after mmu_space_fork(). Not thread-safe: the  */
/* embedder serialises calls on one system.                                 */

enum {
  MMU_PROT_NONE = 0,
  MMU_PROT_READ = 1,
  MMU_PROT_WRITE = 2,
  MMU_PROT_EXEC = 4
};

/* mmu_space_mmap() flags. Every mapping is private (MAP_PRIVATE). */
enum {
  MMU_MAP_FIXED = 1u << 0,   /* at addr exactly, replacing what was there */
  MMU_MAP_GROWSDOWN = 1u << 1, /* a stack: faults below it grow it */
  MMU_MAP_HUGETLB = 1u << 2, /* 2 MiB pages (hugetlbfs rules: 2 MiB aligned */
                             /* address, length, munmap and mprotect; never */
                             /* swapped) */
  MMU_MAP_POPULATE = 1u << 3, /* fault every page in now (mm_populate): one */
                             /* minor fault each, counted as Linux does */
  MMU_MAP_SHARED = 1u << 4   /* set on regions of mmu_space_mmap_object(): */
                             /* MAP_SHARED, every mapper sees every write */
};

/* mmu_space_madvise() advice: Linux's values. */
enum {
  MMU_MADV_DONTNEED = 4, /* drop the pages: the next access finds them */
                         /* zero (anonymous) or the file's (file mappings) */
  MMU_MADV_FREE = 8      /* anonymous only: reclaim may drop the pages */
                         /* instead of swapping them, unless written again */
};

/* Region kinds, as /proc/PID/maps names them. */
enum {
  MMU_REGION_ANON = 0,
  MMU_REGION_FILE = 1,  /* private file mapping, filled by read_page */
  MMU_REGION_STACK = 2, /* MMU_MAP_GROWSDOWN */
  MMU_REGION_HEAP = 3,  /* [heap], moved by mmu_space_brk() */
  MMU_REGION_SHARED = 4 /* MAP_SHARED: pages of an mmu_object */
};

/* A file for private file mappings. read_page fills 4096 bytes at a
 * page-aligned offset (zeros past the end of file) and returns 0, or
 * nonzero on error; it sets *did_io when it had to read the medium, which
 * makes the fault major. Must outlive every region that maps it. */
typedef struct mmu_file {
  int (*read_page)(void *user, uint64_t offset, void *page, int *did_io);
  void *user;
  const char *path; /* shown in the maps dump */
  uint32_t dev_major, dev_minor;
  uint64_t inode;
  /* writeback of a shared mapping's dirty page (0 on success); NULL: the
   * file is read-only to the system, and a dirty page is an error */
  int (*write_page)(void *user, uint64_t offset, const void *page);
} mmu_file;

/* Swap device: `slots` slots of 4096 bytes. read returns the bytes it read
 * (4096 on success; less, or negative, is an I/O error); write returns 0 on
 * success. */
typedef struct mmu_swap_backend {
  long (*read)(void *user, uint64_t slot, void *page);
  int (*write)(void *user, uint64_t slot, const void *page);
  void *user;
  uint64_t slots; /* 0 = no swap */
} mmu_swap_backend;

enum {
  /* Leave XD clear in every PTE (EFER.NXE = 0 guests): PROT_EXEC then
   * changes nothing the MMU enforces, as on pre-NX x86. */
  MMU_SYS_NO_NX = 1u << 0,
  /* A kernel without the zero page (mm_forbids_zeropage(), e.g. s390 KVM
   * guests, or a boot option of some paravirtualised kernels): an
   * anonymous read fault allocates a zeroed page of its own, mapped
   * writable where the region is (the write that follows takes no fault)
   * and giving the region its anon_vma (fork copies its entries). 0, the
   * default, is Linux's usual shared zero page (SPEC.md 9.3). */
  MMU_SYS_NO_ZERO_PAGE = 1u << 1
};

typedef struct mmu_system_config {
  /* Physical frames the system may use, for page tables and pages alike.
   * gpa and size multiples of 4096 (2 MiB alignment of the frames is what
   * MMU_MAP_HUGETLB needs); host 8-byte aligned. Every cpu that runs the
   * spaces must have this range in its RAM regions. */
  mmu_ram_region pool;
  unsigned policy;       /* MMU_POLICY_*; 0 = two lists */
  mmu_swap_backend swap; /* optional */
  uint32_t flags;        /* MMU_SYS_* */
  /* optional: called when the OS side waits for a running managed cpu to
   * apply posted invalidations (mmu_cpu_enter); it should make the cpu's
   * thread reach mmu_cpu_sync() soon (an IPI). The wait spins meanwhile. */
  void (*kick)(void *user, mmu_cpu *cpu);
  void *kick_user;
} mmu_system_config;

/* vmstat's names for system-wide events (/proc/vmstat). */
typedef struct mmu_vmstat {
  uint64_t pgfault;     /* faults that reached a region's handler (not */
                        /* the SIGSEGV ones, as Linux counts PGFAULT)   */
  uint64_t pgmajfault;  /* faults that read swap or a file medium */
  uint64_t pswpin;      /* pages read from swap */
  uint64_t pswpout;     /* pages written to swap */
  uint64_t pgsteal;     /* pages reclaimed (swapped out or dropped) */
  uint64_t pgscan;      /* frames the policy looked at to reclaim */
  uint64_t cow_copies;  /* pages copied by copy-on-write */
  uint64_t cow_reuses;  /* write faults that took a page over uncopied */
  uint64_t zero_maps;   /* read faults that mapped the shared zero page */
  uint64_t pglazyfree;  /* pages MADV_FREE marked lazily free */
  uint64_t pglazyfreed; /* of those, dropped by reclaim unwritten */
} mmu_vmstat;

/* Frame accounting (mmu_system_usage): counts kept as frames change kind,
 * so a read costs the same on any pool size. */
typedef struct mmu_usage {
  uint64_t frames_total, frames_free;
  uint64_t frames_pt;    /* page-table pages, roots included */
  uint64_t frames_anon;  /* pages mapped by some space (huge pages: 512) */
  uint64_t swap_total, swap_used;
} mmu_usage;

struct mmu_space;

/* Caller-owned; fields are private. */
typedef struct mmu_system {
  uint32_t magic, version, flags;
  uint64_t pool_gpa;
  uint8_t *pool_host;
  uint32_t nframes;
  uint32_t free_count, free_cursor;
  uint32_t kind_frames[8];   /* frames of each kind: usage without a scan */
  uint64_t *free_bits;       /* bit per frame, 1 = free */
  struct mmu__frame *frame;  /* per-frame bookkeeping */
  struct mmu__slot *slot;    /* per-swap-slot bookkeeping */
  uint64_t slots, slots_used, slot_cursor;
  uint32_t zero_frame;       /* the shared zero page */
  uint32_t harvest_hand;     /* next frame whose Accessed bit reclaim reads */
  uint32_t pinned;           /* the page a fault is about: never a victim */
  mmu_swap_backend swap;
  mmu_policy policy;
  struct mmu_space *spaces;  /* live spaces, linked */
  mmu_cpu *cpus[8];          /* cpus that ever ran a space of this system */
  uint32_t shoot_wait;       /* bit per cpus[i] posted to since the last wait */
  uint32_t deferred;         /* freed frames waiting for a shootdown, linked */
  void (*kick)(void *user, mmu_cpu *cpu);
  void *kick_user;
  uint64_t next_anon_id;
  uint64_t next_inode;       /* anonymous objects' inode numbers */
  mmu_vmstat vm;
} mmu_system;

/* One region (a VMA). Read them with mmu_space_regions(). */
typedef struct mmu_region {
  uint64_t start, end;   /* [start, end), page aligned */
  uint64_t offset;       /* file offset of start (file regions); where */
                         /* an anonymous one's pages were first mapped */
                         /* (Linux's vm_pgoff << 12: start unless moved) */
  const mmu_file *file;  /* file regions, and shared ones of a file */
  struct mmu_object *object; /* shared regions only */
  uint64_t anon_id;      /* 0 until the first page is allocated (anon_vma) */
  uint8_t prot;          /* MMU_PROT_* */
  uint8_t kind;          /* MMU_REGION_* */
  uint8_t flags;         /* MMU_MAP_GROWSDOWN, MMU_MAP_HUGETLB */
  uint8_t vm;            /* MMU_VM_*: state Linux keeps in vm_flags/anon_vma */
} mmu_region;

/* mmu_region.vm. ACCOUNT is VM_ACCOUNT: set when a private mapping is made
 * writable (mmap, mprotect, brk), cleared by mprotect only from an
 * anonymous region with no anon_vma yet, so it keeps a once written
 * mapping from merging with one never writable. FORKED_ANON: the
 * region's anon_vma chain also holds its parent's (anon_vma_fork), which
 * keeps it from merging with a region that has no anon_vma yet. */
enum { MMU_VM_ACCOUNT = 1, MMU_VM_FORKED_ANON = 2 };

/* Per process, as getrusage() and /usr/bin/time -v report. */
typedef struct mmu_rusage {
  uint64_t minflt; /* "Minor (reclaiming a frame) page faults" */
  uint64_t majflt; /* "Major (requiring I/O) page faults" */
  uint64_t maxrss_pages; /* high-water mark of resident pages */
  uint64_t rss_pages;    /* resident now (huge pages count 512) */
  uint64_t swap_pages;   /* PTEs that point into swap */
} mmu_rusage;

enum {
  /* 5-level paging (CR4.LA57): user space up to 2^56 - 4096 instead of
   * 2^47 - 4096; placement stays below mmap_base as Linux keeps it below
   * 2^47 unless asked higher. The cpus that run it must have LA57 on. */
  MMU_SPACE_LA57 = 1u << 0
};

typedef struct mmu_space_config {
  uint32_t max_regions;  /* region table capacity; 0 = 64 */
  uint32_t flags;        /* MMU_SPACE_* */
  uint32_t pid;          /* for the embedder; shown nowhere */
  uint64_t mmap_base;    /* top-down placement starts below; 0 = 0x7f0000000000 */
  uint64_t stack_limit;  /* RLIMIT_STACK in bytes; 0 = 8 MiB */
  uint64_t stack_guard_gap; /* bytes kept free below a stack; 0 = 1 MiB (256 pages) */
} mmu_space_config;

typedef struct mmu_space {
  uint32_t magic, version;
  mmu_system *sys;
  struct mmu_space *next_space;
  uint64_t root;         /* gpa of the PML4 (PML5 with LA57) */
  uint32_t root_frame;
  uint32_t levels;       /* 4, or 5 with MMU_SPACE_LA57 */
  uint64_t user_top;     /* first address past user space */
  uint32_t cpu_mask;     /* sys->cpus[i] has this space in CR3 */
  mmu_region *regions;   /* sorted by start, non-overlapping */
  uint32_t nregions, max_regions;
  uint64_t mmap_base, stack_limit, stack_guard_gap;
  uint64_t start_brk, brk; /* heap; start_brk 0 until set */
  uint64_t start_stack;  /* initial stack pointer; 0 until set */
  uint32_t pid;
  uint32_t pt_frames;    /* page-table frames, root included */
  uint32_t remapped;     /* mremap moved pages here (or in the parent) */
  mmu_rusage ru;
} mmu_space;

/* A shared memory object, what MAP_SHARED maps: anonymous shared memory
 * (Linux's shmem behind MAP_SHARED | MAP_ANONYMOUS, shown as
 * "/dev/zero (deleted)") or the page cache of a file (file != NULL: read
 * with read_page, dirty pages written back with write_page). Its pages
 * are shared by every region that maps it, in every space: no copy on
 * write. Caller-owned; fields are private. */
typedef struct mmu_object {
  uint32_t magic, version;
  mmu_system *sys;
  const mmu_file *file;
  uint64_t pages;     /* size (i_size): a page past it is SIGBUS */
  uint64_t *page;     /* per page: resident frame, swap slot, or nothing */
  uint32_t mappings;  /* regions mapping it, in every space */
  uint64_t inode;     /* shown by the maps dump for anonymous objects */
} mmu_object;

/* Storage for an object of `pages` pages: 8 bytes each. */
MMU_API size_t mmu_object_storage_size(uint64_t pages);
/* An object of `pages` pages; file NULL for anonymous shared memory.
 * Anonymous objects free their pages when their last mapping goes (its
 * storage may then be reused: mmu_object_mappings() is 0); file objects
 * keep theirs, as a page cache does, until mmu_object_destroy. */
MMU_API int mmu_object_init_versioned(mmu_object *obj, size_t sizeof_obj,
                                      uint32_t version, mmu_system *sys,
                                      uint64_t pages, const mmu_file *file,
                                      void *storage, size_t bytes);
#define mmu_object_init(obj, sys, pages, file, storage, bytes)                \
  mmu_object_init_versioned((obj), sizeof(mmu_object), MMU_VERSION, (sys),    \
                            (pages), (file), (storage), (bytes))
MMU_API uint32_t mmu_object_mappings(const mmu_object *obj);
/* Write every dirty page of a file object back (msync of all of it).
 * MMU_ERR_FILE if write_page failed (the page stays dirty). */
MMU_API int mmu_object_sync(mmu_object *obj);
/* Write back and free every page. MMU_ERR_BUSY while a region maps it. */
MMU_API int mmu_object_destroy(mmu_object *obj);

/* What a fault was, as the kernel counts it. */
enum {
  MMU_FAULT_NONE = 0,     /* no fault: the access translated at once */
  MMU_FAULT_MINOR = 1,    /* page allocated, zero page or file page mapped, */
                          /* or a write-protected page taken over */
  MMU_FAULT_COW = 2,      /* minor: one page copied for a write */
  MMU_FAULT_MAJOR = 3,    /* paged in from swap or a file medium */
  MMU_FAULT_SEGV = 4,     /* SIGSEGV, with si_code */
  MMU_FAULT_SPURIOUS = 5, /* the entry already allowed it (stale TLB): */
                          /* nothing changed; minor to getrusage, as Linux */
  MMU_FAULT_SIGBUS = 6    /* SIGBUS: a shared mapping past its object's */
                          /* end (si_code MMU_BUS_ADRERR) */
};
/* Linux's si_code values */
enum { MMU_SEGV_MAPERR = 1, MMU_SEGV_ACCERR = 2, MMU_SEGV_PKUERR = 4 };
enum { MMU_BUS_ADRERR = 2 };

/* Details of the fault. */
enum {
  MMU_FAULTF_ZERO_PAGE = 1u << 0, /* mapped the shared zero page */
  MMU_FAULTF_STACK_GROWN = 1u << 1,
  MMU_FAULTF_HUGE = 1u << 2       /* a 2 MiB page */
};

typedef struct mmu_fault_info {
  uint32_t fault_class; /* MMU_FAULT_* */
  int32_t si_code;      /* MMU_SEGV_* for MMU_FAULT_SEGV, else 0 */
  uint64_t addr;        /* the faulting address (CR2) */
  uint32_t flags;       /* MMU_FAULTF_* */
} mmu_fault_info;

/* Storage for a system with this config (frames, swap slots, policy);
 * 0 if the config is invalid. */
MMU_API size_t mmu_system_storage_size(const mmu_system_config *cfg);
MMU_API int mmu_system_init_versioned(mmu_system *sys, size_t sizeof_sys,
                                      uint32_t version,
                                      const mmu_system_config *cfg,
                                      void *storage, size_t bytes);
#define mmu_system_init(sys, cfg, storage, bytes)                            \
  mmu_system_init_versioned((sys), sizeof(mmu_system), MMU_VERSION, (cfg),   \
                            (storage), (bytes))
MMU_API int mmu_system_usage(const mmu_system *sys, mmu_usage *out);
/* The system's vmstat counters, and a process's getrusage() ones (the
 * structs' other fields are private); NULL on misuse. */
MMU_API const mmu_vmstat *mmu_system_vmstat(const mmu_system *sys);
MMU_API const mmu_rusage *mmu_space_rusage(const mmu_space *space);
/* Reclaim up to `pages` pages through the policy (swapping anonymous pages
 * out, dropping clean file pages). *reclaimed may be NULL. MMU_ERR_NOSWAP
 * if a page needed swap and none was free: nothing is lost. */
MMU_API int mmu_system_reclaim(mmu_system *sys, uint32_t pages,
                               uint32_t *reclaimed);

/* A kernel's periodic page aging (a timer tick, kswapd): reads and clears
 * the Accessed bit of every resident page and tells LRU and LFU which were
 * referenced, so they can order pages between evictions too (each eviction
 * reads the next 64 frames' bits, round robin). Clock and the two lists
 * read the bits as they scan and need no aging: 0 then. Returns the pages
 * found referenced; O(frames). */
MMU_API uint32_t mmu_system_age(mmu_system *sys);

/* Storage for a space's region table. */
MMU_API size_t mmu_space_storage_size(const mmu_space_config *cfg);
/* An empty space (no regions, an empty PML4). cfg may be NULL. */
MMU_API int mmu_space_init_versioned(mmu_space *space, size_t sizeof_space,
                                     uint32_t version, mmu_system *sys,
                                     const mmu_space_config *cfg,
                                     void *storage, size_t bytes);
#define mmu_space_init(space, sys, cfg, storage, bytes)                      \
  mmu_space_init_versioned((space), sizeof(mmu_space), MMU_VERSION, (sys),   \
                           (cfg), (storage), (bytes))
/* fork(): child gets the parent's regions and a copy of its page tables;
 * every private page is shared read-only until one side writes it. The
 * child's storage must be at least the parent's size. Cost: O(page-table
 * pages), no page is copied. */
MMU_API int mmu_space_fork(mmu_space *parent, mmu_space *child,
                           void *storage, size_t bytes);
/* exit(): unmap everything, free page tables and swap slots, detach from
 * every cpu (their CR3 is left pointing at a freed root: load another). */
MMU_API int mmu_space_destroy(mmu_space *space);
/* execve(): the process keeps its space (and cpus running it), but every
 * mapping, the heap's and the stack's markers and the resident counts go,
 * as with a new mm; the fault counters and the peak RSS stay, as Linux
 * keeps them per task. Set the heap base and stack again, as a loader
 * does, before brk. */
MMU_API int mmu_space_exec(mmu_space *space);
/* Load the space into a cpu's CR3 (flushing its non-global entries) and
 * track the cpu for TLB shootdowns. Paging must be on in long mode. */
MMU_API int mmu_space_activate(mmu_space *space, mmu_cpu *cpu);

/* The system calls. Lengths round up to pages; addresses must be page
 * aligned. Errors as Linux's EINVAL (MMU_ERR_ARG) and ENOMEM
 * (MMU_ERR_NOSPACE). */
MMU_API int mmu_space_mmap(mmu_space *space, uint64_t addr, uint64_t len,
                           unsigned prot, unsigned flags, const mmu_file *file,
                           uint64_t offset, uint64_t *mapped);
MMU_API int mmu_space_munmap(mmu_space *space, uint64_t addr, uint64_t len);
MMU_API int mmu_space_mprotect(mmu_space *space, uint64_t addr, uint64_t len,
                               unsigned prot);
/* mmap(MAP_SHARED) of [offset, offset + len) of an object: as
 * mmu_space_mmap (flags MMU_MAP_FIXED, MMU_MAP_POPULATE), with every
 * page the object's own. A page past the object's end faults SIGBUS. */
MMU_API int mmu_space_mmap_object(mmu_space *space, uint64_t addr,
                                  uint64_t len, unsigned prot, unsigned flags,
                                  mmu_object *obj, uint64_t offset,
                                  uint64_t *mapped);
/* msync(MS_SYNC): write back the dirty pages of shared file mappings in
 * [addr, addr + len); other regions need nothing. Holes: MMU_ERR_NOSPACE
 * (ENOMEM) after the rest. */
MMU_API int mmu_space_msync(mmu_space *space, uint64_t addr, uint64_t len);
/* mremap(): resize [addr, addr + old_len) to new_len, in place when it
 * can, else (MMU_MREMAP_MAYMOVE) moved where mmap would place it, or to
 * new_addr (MMU_MREMAP_FIXED, which needs MAYMOVE; whatever is there is
 * unmapped). Pages move with their entries: no fault, no copy. Shrinking
 * unmaps the tail; a same-size FIXED move may span several regions and
 * holes. *result receives the address. MMU_ERR_BADADDR (EFAULT) when
 * addr is unmapped or a resize reaches past its region. */
enum { MMU_MREMAP_MAYMOVE = 1, MMU_MREMAP_FIXED = 2 };
MMU_API int mmu_space_mremap(mmu_space *space, uint64_t addr, uint64_t old_len,
                             uint64_t new_len, unsigned flags,
                             uint64_t new_addr, uint64_t *result);
/* madvise(): MMU_MADV_DONTNEED, MMU_MADV_FREE. A hole in the range is
 * MMU_ERR_NOSPACE after the mapped parts were done, as Linux's ENOMEM. */
MMU_API int mmu_space_madvise(mmu_space *space, uint64_t addr, uint64_t len,
                              int advice);
/* Set the heap start (once, before the first brk; as the ELF loader does
 * after the data segment). */
MMU_API int mmu_space_set_brk_base(mmu_space *space, uint64_t start_brk);
/* The initial stack pointer, as the ELF loader records it (mm->start_stack):
 * the maps dump names the region holding it "[stack]". */
MMU_API int mmu_space_set_start_stack(mmu_space *space, uint64_t sp);
/* brk(): new_brk 0 queries; *result receives the break after the call
 * (unchanged on failure, as the syscall returns). */
MMU_API int mmu_space_brk(mmu_space *space, uint64_t new_brk,
                          uint64_t *result);

/* The page-fault handler: the cr2 and error code of a #PF that
 * mmu_translate() reported for this space. Resolves it (allocating,
 * copying, paging in) or classifies it as SIGSEGV; info says which.
 * Returns MMU_OK when info is filled in (SIGSEGV included) and an error
 * when the fault could not be resolved: MMU_ERR_NOMEM (no frame is left
 * that could be evicted), MMU_ERR_NOSWAP (the pages that could be need
 * swap, and there is none or it is full), MMU_ERR_SWAP_IO, _SWAP_CORRUPT,
 * MMU_ERR_FILE. The access may be retried after the embedder frees memory. */
MMU_API int mmu_space_fault(mmu_space *space, uint64_t cr2,
                            uint32_t error_code, mmu_fault_info *info);
/* An access as a user-mode instruction makes it: translate on the cpu
 * (where the space is active), resolve a #PF and retry. MMU_OK with *out
 * filled, or MMU_PAGE_FAULT with info->fault_class == MMU_FAULT_SEGV, or an
 * error. info may be NULL. */
MMU_API int mmu_space_access(mmu_space *space, mmu_cpu *cpu, uint64_t vaddr,
                             unsigned access, mmu_result *out,
                             mmu_fault_info *info);
/* copy_to_user / copy_from_user over a cpu where the space is active. */
MMU_API int mmu_space_write(mmu_space *space, mmu_cpu *cpu, uint64_t vaddr,
                            const void *src, size_t len, mmu_fault_info *info);
MMU_API int mmu_space_read(mmu_space *space, mmu_cpu *cpu, uint64_t vaddr,
                           void *dst, size_t len, mmu_fault_info *info);

MMU_API const mmu_region *mmu_space_regions(const mmu_space *space,
                                            uint32_t *count);
/* /proc/PID/maps, byte for byte as Linux prints it. Returns the length of
 * the full text (snprintf-style; buf may be NULL when cap is 0). */
MMU_API size_t mmu_space_maps(const mmu_space *space, char *buf, size_t cap);

/* Counter reports in the tools' own formats (snprintf-style returns):
 * the page-fault lines of /usr/bin/time -v; perf stat's lines for
 * dTLB-loads, -load-misses, -stores, -store-misses, iTLB-loads and
 * -load-misses (with perf's miss ratios), then every other mmu_stats
 * counter in the same columns (page-walks, page-faults and its kinds,
 * gp-faults, flushes, invlpg, invpcid); /proc/vmstat's lines. */
MMU_API size_t mmu_format_time_v(const mmu_rusage *ru, char *buf, size_t cap);
MMU_API size_t mmu_format_perf_stat(const mmu_stats *st, char *buf,
                                    size_t cap);
MMU_API size_t mmu_format_vmstat(const mmu_vmstat *vm, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* The hit path.                                                            */

/* The backing TLB's set index: the page-table, page-directory and PDPT
 * indices of the address folded onto each other, plus the PCID's salt.
 * Pages of one page table stay in consecutive sets; pages a table apart
 * (2 MiB and 1 GiB strides) spread over the sets; address spaces with
 * equal layouts land apart. Public for benchmarks of index quality. */
#define MMU_PCID_SALT(pcid) ((uint32_t)(pcid) * 0x9E5u)
/* The backing TLB's set of a page (slow path only): the page number plus
 * a Fibonacci hash of its bits above the set index and of the PCID salt.
 * Consecutive pages fill consecutive sets; pages a front slot apart, and
 * power-of-two strides (64 KiB, 2 MiB, 1 GiB), scatter. Of the indices
 * tried on bench_trace's real traces this one walks least (SPEC.md 5.1). */
static inline uint32_t mmu_tlb_set_index(const mmu_cpu *cpu, uint64_t vpn,
                                         uint32_t pcid_salt) {
  uint64_t high = (vpn >> cpu->tlb_set_bits) ^ pcid_salt;
  uint64_t h = vpn + ((high * 0x9E3779B97F4A7C15ull) >> 32);
  return (uint32_t)h & cpu->tlb_set_mask;
}

/* The hit: one front entry, one compare (SPEC.md 5.8). The comparator of
 * the access kind equals the page address only when the page is cached for
 * the current PCID and paging mode, is in RAM, and this access may go ahead
 * with no walk (permissions, protection keys and a set D for writes were
 * decided when the entry was filled). A non-canonical address never equals
 * a comparator, so it needs no check of its own. Implicit supervisor
 * accesses (MMU_IMPLICIT) read the supervisor view.
 *
 * Statistics: a hit counts nothing unless MMU_COUNT_HITS is defined to 1
 * before including mmu.h, which adds one increment (tlb_loads) to the hit;
 * misses and everything the slow path does are always counted. */
#ifndef MMU_COUNT_HITS
#define MMU_COUNT_HITS 0
#endif

/* What the unchecked hot path trusts; MMU_ASSERT holds it in debug builds. */
#define MMU__CPU_MAGIC 0x4D4D5531u /* "MMU1", set by mmu_init */
#define MMU__ACCESS_OK(access) (((access) & ~(unsigned)MMU_IMPLICIT) <= MMU_FETCH)
#define MMU__HOT_ASSERT(cpu, access)                                         \
  MMU_ASSERT((cpu) != NULL && (cpu)->magic == MMU__CPU_MAGIC &&              \
             MMU__ACCESS_OK(access))

static inline const mmu_front_entry *mmu_front_lookup(const mmu_cpu *cpu,
                                                      uint64_t vaddr,
                                                      unsigned access) {
  return (const mmu_front_entry *)(const void *)(
      (const char *)cpu->front[(access >> 2) & 1u] +
      ((vaddr >> 6) & cpu->front_index_mask));
}

static inline int mmu_translate(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                                mmu_result *out) {
  MMU__HOT_ASSERT(cpu, access);
  MMU_ASSERT(out != NULL);
  const mmu_front_entry *e = mmu_front_lookup(cpu, vaddr, access);
  if (MMU_LIKELY(e->cmp[access & 3u] == (vaddr & ~0xFFFull))) {
    if (MMU_COUNT_HITS)
      cpu->stats.tlb_loads[access & 3u]++;
    out->paddr = vaddr + e->phys_add;
    out->host = (uint8_t *)(uintptr_t)(vaddr + e->host_add);
    out->page_size = e->page_size;
    return MMU_OK;
  }
  return mmu_translate_slow(cpu, vaddr, access, out);
}

/* An interrupt window of a managed cpu: apply what the OS side posted. */
static inline void mmu_cpu_sync(mmu_cpu *cpu) {
  MMU__HOT_ASSERT(cpu, MMU_READ);
  if (MMU_UNLIKELY(__atomic_load_n(&cpu->shoot_posted, __ATOMIC_ACQUIRE) !=
                   cpu->shoot_applied))
    mmu_cpu_apply_shootdowns(cpu);
}

/* The host-pointer fast path for interpreters and JITs: the host address of
 * vaddr if the front hits, else NULL: then call mmu_translate(), which
 * walks, faults or answers for memory that is not RAM (MMIO), and fills
 * the front so the next call hits. */
static inline uint8_t *mmu_translate_host(mmu_cpu *cpu, uint64_t vaddr,
                                          unsigned access) {
  MMU__HOT_ASSERT(cpu, access);
  const mmu_front_entry *e = mmu_front_lookup(cpu, vaddr, access);
  if (MMU_LIKELY(e->cmp[access & 3u] == (vaddr & ~0xFFFull)))
    return (uint8_t *)(uintptr_t)(vaddr + e->host_add);
  return NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* MMU_H_INCLUDED */

/* ------------------------------------------------------------------------ */
/* Implementation. In the generated single-file mmu.h the files below are   */
/* pasted here by tools/amalgamate.sh.                                      */
#if defined(MMU_IMPLEMENTATION) && !defined(MMU_IMPLEMENTATION_INCLUDED)
#define MMU_IMPLEMENTATION_INCLUDED
#include "../mmu/internal.h"
#include "../mmu/memory.c"
#include "../mmu/perm.c"
#include "../mmu/tlb.c"
#include "../mmu/walk.c"
#include "../mmu/nested.c"
#include "../mmu/control.c"
#include "../mmu/reference.c"
#include "../mmu/init.c"
#include "../mmu/checksum.c"
#include "../mmu/policy.c"
#include "../mmu/report.c"
#include "../mmu/shootdown.c"
#include "../mmu/frames.c"
#include "../mmu/regions.c"
#include "../mmu/space.c"
#include "../mmu/fault.c"
#include "../mmu/swap.c"
#include "../mmu/object.c"
#endif
