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
 *   MMU_ASSERT(x)      internal consistency checks (default: assert(x))
 */
#ifndef MMU_H_INCLUDED
#define MMU_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define MMU_VERSION_MAJOR 0
#define MMU_VERSION_MINOR 1
#define MMU_VERSION_PATCH 0
#define MMU_VERSION                                                          \
  ((uint32_t)((MMU_VERSION_MAJOR << 16) | (MMU_VERSION_MINOR << 8) |         \
              MMU_VERSION_PATCH))
#define MMU_VERSION_STRING "0.1.0"

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

typedef enum mmu_status {
  MMU_OK = 0,
  MMU_PAGE_FAULT = 1,    /* #PF: result.error_code and result.cr2 are set */
  MMU_GP_FAULT = 2,      /* #GP(0): non-canonical address or bad register */
  MMU_ERR_ARG = -1,      /* invalid argument (NULL pointer, bad length)    */
  MMU_ERR_VERSION = -2,  /* header and library disagree on version/size    */
  MMU_ERR_CONFIG = -3,   /* config out of range (TLB geometry, MAXPHYADDR) */
  MMU_ERR_STORAGE = -4,  /* TLB storage too small or misaligned            */
  MMU_ERR_RAM = -5,      /* RAM region list malformed (overlap, alignment) */
  MMU_ERR_MODE = -6,     /* paging mode not modelled (32-bit, PAE)         */
  MMU_ERR_PT_BUS = -7,   /* walk touched a paging entry outside RAM and no */
                         /* pt_read callback resolved it; result.paddr is  */
                         /* the entry's physical address                   */
  MMU_ERR_CONTENDED = -8 /* A/D update lost its compare-exchange race too  */
                         /* often; no state changed, retry the access      */
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
  uint8_t page_shift; /* 12, 21 or 30 */
  uint8_t global;
  uint8_t victim;    /* way 0 only: the set's next way to replace */
} mmu_tlb_entry;

#define MMU_TLB_EMPTY (1ull << 63) /* non-canonical: no key ever equals it */
enum { MMU_RIGHT_W = 1, MMU_RIGHT_U = 2, MMU_RIGHT_X = 4, MMU_RIGHT_D = 8 };
enum { MMU_PKEY_NONE = 16 };

/* Counters. tlb_loads/tlb_misses are indexed by access kind & 3 (read,
 * write, fetch): perf's dTLB-loads, dTLB-stores and iTLB-loads. */
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

/* Caller-owned, one per vCPU. Fields other than regs and stats are private:
 * they are public only so that mmu_translate() can be inline. */
typedef struct mmu_cpu {
  /* read by the inline hit check */
  mmu_tlb_entry *tlb;
  uint32_t tlb_set_mask;
  uint32_t tlb_ways;
  uint32_t tlb_set_shift; /* log2(ways * sizeof(mmu_tlb_entry)) */
  uint32_t tlb_set_bits; /* log2 sets */
  uint16_t pcid;        /* current PCID; 0 when CR4.PCIDE = 0 */
  uint32_t pcid_salt;   /* MMU_PCID_SALT(pcid), the PCID's share of the index */
  uint8_t mode;         /* MMU__MODE_* bits of the current CPL and AC */
  uint8_t canon_shift;  /* 47, or 56 with LA57 */
  uint16_t allow[32];   /* [access|mode] -> bit per rights: hit allowed */
  uint32_t pk_deny[32]; /* [access|mode] -> bit per pkey: PKRU denies */
  mmu_stats stats;
  /* cold */
  mmu_regs regs;
  uint8_t fault[32];    /* [access|mode] -> bit per rights W|U|X: #PF */
  uint64_t rsvd[6][2];  /* [level][PS] reserved-bit masks (SDM 4.5) */
  uint64_t addr_mask;   /* bits 51:12 below MAXPHYADDR */
  const mmu_ram_region *ram;
  uint32_t ram_count;
  uint32_t ram_last;    /* index of the last region hit */
  mmu_pt_read_fn pt_read;
  mmu_pt_cmpxchg_fn pt_cmpxchg;
  void *pt_user;
  uint32_t maxphyaddr;
  uint32_t flags;
  uint32_t tlb_large;   /* valid entries with page_shift > 12 */
  uint32_t magic;       /* set by init: catches use before init */
  uint32_t version;
} mmu_cpu;

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
} mmu_result;

/* A walk as the reference walker saw it: one line per level, top first. */
typedef struct mmu_walk_step {
  uint64_t entry_gpa;
  uint64_t entry; /* value read, before any A/D update */
  uint8_t level;  /* 5 = PML5E, 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE */
} mmu_walk_step;

typedef struct mmu_trace {
  uint32_t count;
  mmu_walk_step step[5];
} mmu_trace;

/* ------------------------------------------------------------------------ */
/* Functions.                                                               */

MMU_API uint32_t mmu_version(void);
MMU_API const char *mmu_version_string(void);
MMU_API const char *mmu_status_name(int status);

/* Bytes of TLB storage a cpu with this config needs (alignment: 8); 0 if
 * the geometry is invalid. cfg may be NULL for the defaults. */
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
MMU_API void mmu_write_pkru(mmu_cpu *cpu, uint32_t value);
MMU_API void mmu_set_cpl(mmu_cpu *cpu, unsigned cpl);
MMU_API void mmu_set_ac(mmu_cpu *cpu, int ac);
/* Load a whole register state at once (snapshot restore, test set-up):
 * validates the combination, then flushes the whole TLB. */
MMU_API int mmu_load_regs(mmu_cpu *cpu, const mmu_regs *regs);

/* Invalidation (SDM 4.10.4.1). mmu_invpcid returns MMU_GP_FAULT where the
 * instruction would raise #GP. */
MMU_API void mmu_invlpg(mmu_cpu *cpu, uint64_t vaddr);
MMU_API int mmu_invpcid(mmu_cpu *cpu, unsigned type, uint64_t pcid,
                        uint64_t vaddr);
MMU_API void mmu_flush_tlb(mmu_cpu *cpu); /* everything, global included */

/* Translation. mmu_translate() is the inline hit path; on a miss it calls
 * mmu_translate_slow(), which walks and fills the TLB. */
static inline int mmu_translate(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                                mmu_result *out);
MMU_API int mmu_translate_slow(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                               mmu_result *out);
/* An access of len bytes (1..4096) that may cross into the next page: both
 * pages are translated, lower first; out[0] and out[1] receive them (out[1]
 * is the same page as out[0] when the access does not cross). A fault is
 * reported in the out[] of the page that faulted, with cr2 the first byte
 * of the access inside that page. */
MMU_API int mmu_translate_span(mmu_cpu *cpu, uint64_t vaddr, uint32_t len,
                               unsigned access, mmu_result out[2]);

/* The reference walker: SDM 4.5-4.8 written out for clarity, no TLB, no
 * tables. Sets A/D in guest RAM as translate does; trace may be NULL. */
MMU_API int mmu_reference_translate(mmu_cpu *cpu, uint64_t vaddr,
                                    unsigned access, mmu_result *out,
                                    mmu_trace *trace);

MMU_API void mmu_stats_reset(mmu_cpu *cpu);
/* Number of valid TLB entries (tests and diagnostics; O(entries)). */
MMU_API uint32_t mmu_tlb_count(const mmu_cpu *cpu);

/* ------------------------------------------------------------------------ */
/* The hit path.                                                            */

/* Set index: the page-table, page-directory and PDPT indices of the address
 * folded onto each other, plus the PCID's salt. Pages of one page table stay
 * in consecutive sets; pages a table apart (2 MiB and 1 GiB strides) spread
 * over the sets; address spaces with equal layouts land apart. Two levels of
 * XOR: folding in the PML4 index too cost 0.5 ns a hit (bench/) and helps
 * only strides of 512 GiB and more. */
#define MMU_PCID_SALT(pcid) ((uint32_t)(pcid) * 0x9E5u)
static inline uint32_t mmu_tlb_set_index(const mmu_cpu *cpu, uint64_t vpn,
                                         uint32_t pcid_salt) {
  uint64_t h = (vpn ^ (vpn >> 9)) ^ ((vpn >> 18) ^ pcid_salt);
  return (uint32_t)h & cpu->tlb_set_mask;
}

static inline int mmu_translate(mmu_cpu *cpu, uint64_t vaddr, unsigned access,
                                mmu_result *out) {
  unsigned index = (access & 7u) | cpu->mode;
  cpu->stats.tlb_loads[access & 3u]++;
  /* canonical: bits 63:canon_shift all equal (SDM 3.3.7.1, 4.5.1) */
  if (MMU_LIKELY((uint64_t)(((int64_t)vaddr >> cpu->canon_shift) + 1) <= 1)) {
    uint64_t key = (vaddr & ~0xFFFull) | cpu->pcid;
    mmu_tlb_entry *e = (mmu_tlb_entry *)(void *)(
        (char *)cpu->tlb +
        ((size_t)mmu_tlb_set_index(cpu, vaddr >> 12, cpu->pcid_salt)
         << cpu->tlb_set_shift));
    for (uint32_t w = 0; w < cpu->tlb_ways; w++, e++) {
      if (e->tag != key)
        continue;
      if (MMU_LIKELY(((cpu->allow[index] >> e->rights) & 1u) &&
                     !((cpu->pk_deny[index] >> e->pkey) & 1u))) {
        out->paddr = e->paddr | (vaddr & 0xFFFu);
        out->host = e->host ? e->host + (vaddr & 0xFFFu) : NULL;
        out->page_size = 1ull << e->page_shift;
        return MMU_OK;
      }
      break; /* present but not usable as is: the walk decides */
    }
  }
  return mmu_translate_slow(cpu, vaddr, access, out);
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
#include "../mmu/control.c"
#include "../mmu/reference.c"
#include "../mmu/init.c"
#endif
