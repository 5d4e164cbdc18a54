/* SPDX-License-Identifier: MIT */
/* internal.h - definitions shared by the implementation files in mmu/.
 * Everything here is static: the library is one translation unit. */
#ifndef MMU_INTERNAL_H_INCLUDED
#define MMU_INTERNAL_H_INCLUDED

#include "../include/mmu.h"

#include <string.h>

/* Sets and front slots are found by shifting: sizes must be powers of two. */
#ifdef __cplusplus
static_assert((sizeof(mmu_tlb_entry) & (sizeof(mmu_tlb_entry) - 1)) == 0,
              "mmu_tlb_entry size must be a power of two");
#else
_Static_assert((sizeof(mmu_tlb_entry) & (sizeof(mmu_tlb_entry) - 1)) == 0,
               "mmu_tlb_entry size must be a power of two");
/* The JIT contract (SPEC.md 5.8): a front entry is one 64-byte line. */
_Static_assert(sizeof(mmu_front_entry) == 64, "front entry is 64 bytes");
_Static_assert(offsetof(mmu_front_entry, host_add) == 32, "host_add at 32");
_Static_assert(offsetof(mmu_front_entry, phys_add) == 40, "phys_add at 40");
_Static_assert(offsetof(mmu_front_entry, page_size) == 48, "page_size at 48");
_Static_assert(offsetof(mmu_cpu, front) == 0, "front tables first");
_Static_assert(offsetof(mmu_cpu, front_index_mask) == 16, "mask at 16");
#endif

#define MMU__MAGIC MMU__CPU_MAGIC

/* Misuse checks at the API's entry (SPEC.md 2.5): NULL is MMU_ERR_ARG; an
 * object whose magic and version words are not this library's (never
 * initialised, destroyed, or built against another header) MMU_ERR_UNINIT. */
#define MMU__CHECK_OBJ(obj, want)                                            \
  (!(obj) ? MMU_ERR_ARG                                                      \
          : (obj)->magic == (want) && (obj)->version == MMU_VERSION          \
                ? MMU_OK                                                     \
                : MMU_ERR_UNINIT)
#define MMU__CHECK_CPU(cpu) MMU__CHECK_OBJ(cpu, MMU__MAGIC)
/* Return the status of a check (or any call) unless it is MMU_OK. */
#define MMU__TRY(expr)                                                       \
  do {                                                                       \
    int mmu__try_rc = (expr);                                                \
    if (mmu__try_rc != MMU_OK)                                               \
      return mmu__try_rc;                                                    \
  } while (0)

#if defined(__GNUC__) || defined(__clang__)
#define MMU_NOINLINE __attribute__((noinline))
#define MMU_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MMU_NOINLINE
#define MMU_ALWAYS_INLINE inline
#endif
#define MMU__PAGE_MASK 0xFFFull

/* Upper bound on walk restarts after a lost A/D compare-exchange. */
#define MMU__MAX_WALK_RETRIES 64

/* bits hi..lo set */
#define MMU__BITS(hi, lo) ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

/* cpu->paging: the paging mode (SDM 4.1.1), by its number of levels. */
enum {
  MMU__PAGING_OFF = 0,  /* CR0.PG = 0: linear is physical */
  MMU__PAGING_32 = 2,   /* 32-bit paging: 2 levels of 4-byte entries */
  MMU__PAGING_PAE = 3,  /* PAE: PDPTE registers, then 2 levels */
  MMU__PAGING_4 = 4,
  MMU__PAGING_5 = 5
};

/* A walk's findings, before permissions are decided. */
typedef struct mmu__walk_state {
  uint64_t entry[5];     /* [i] = entry used at level i+1 (PAE: [2] is */
                         /* the PDPTE register; 32-bit: zero-extended) */
  uint64_t root;         /* the top table in memory (CR3, or the PDPTE) */
  uint64_t vaddr;        /* entry addresses follow from these */
  int top;               /* the top level in memory: 5, 4, or 2 */
  int narrow;            /* 32-bit paging: 4-byte entries, 10-bit indices */
  int leaf_level;        /* level of the entry that maps the page */
  uint8_t rights;        /* MMU_RIGHT_W|U|X combined over levels (no D) */
  uint64_t paddr;        /* translated address */
  uint32_t page_shift;
  /* nested paging's guest walk (nested.c): where each entry was read, as
   * the second dimension translated its gpa */
  uint64_t entry_at[5];
} mmu__walk_state;

/* memory.c */
static mmu_ram_region const *mmu__ram_find(mmu_cpu *cpu, uint64_t gpa,
                                           uint64_t len);
static inline int mmu__pt_read(mmu_cpu *cpu, uint64_t gpa, uint64_t *value);
static int mmu__pt_cmpxchg(mmu_cpu *cpu, uint64_t gpa, uint64_t expected,
                           uint64_t desired);
static inline int mmu__pt_read32(mmu_cpu *cpu, uint64_t gpa, uint64_t *value);
static int mmu__pt_cmpxchg32(mmu_cpu *cpu, uint64_t gpa, uint32_t expected,
                             uint32_t desired);
static uint8_t *mmu__host_page(mmu_cpu *cpu, uint64_t gpa);
static void mmu__ram_make_hot(mmu_cpu *cpu, const mmu_ram_region *r);

/* perm.c */
static void mmu__update_tables(mmu_cpu *cpu);
static void mmu__update_pcid(mmu_cpu *cpu);
static uint32_t mmu__pfec_base(const mmu_cpu *cpu, unsigned access);
static int mmu__paging_mode(const mmu_regs *r); /* MMU__PAGING_* */
static int mmu__pdptes_load(mmu_cpu *cpu, uint64_t cr3, uint64_t pdpte[4]);

/* A present PDPTE's reserved bits (SDM 4.4.1, Table 4-8). */
static inline uint64_t mmu__pdpte_reserved(const mmu_cpu *cpu) {
  return MMU__BITS(2, 1) | MMU__BITS(8, 5) | MMU__BITS(63, cpu->maxphyaddr);
}

/* tlb.c */
static void mmu__tlb_flush_all(mmu_cpu *cpu);
static void mmu__tlb_flush_pcid(mmu_cpu *cpu, uint16_t pcid, int globals_too);
static void mmu__tlb_flush_nonglobal(mmu_cpu *cpu);
static void mmu__tlb_flush_page(mmu_cpu *cpu, uint64_t vaddr, uint16_t pcid,
                                int globals_too);
static void mmu__tlb_drop(mmu_cpu *cpu, mmu_tlb_entry *e);
static void mmu__front_clear_all(mmu_cpu *cpu);

/* Outside IA-32e mode linear addresses are 32 bits (SDM 3.3.6): the
 * library reads a wider vaddr as its low 32 bits, as the address wraps. */
static inline uint64_t mmu__linear(const mmu_cpu *cpu, uint64_t va) {
  return cpu->paging >= MMU__PAGING_4 ? va : (uint32_t)va;
}

/* (Every 32-bit linear address is canonical: mmu__linear first.) */
static inline int mmu__is_canonical(const mmu_cpu *cpu, uint64_t va) {
  return (uint64_t)(((int64_t)va >> cpu->canon_shift) + 1) <= 1;
}

/* ---- OS side -------------------------------------------------------------- */

/* Frame kinds. */
enum {
  MMU__FR_FREE = 0,
  MMU__FR_PT = 1,        /* page-table page; refs = non-zero entries */
  MMU__FR_ZERO = 2,      /* the shared zero page */
  MMU__FR_PAGE = 3,      /* a 4 KiB user page; refs = PTEs mapping it */
  MMU__FR_HUGE = 4,      /* head of a 2 MiB page; refs = PDEs mapping it */
  MMU__FR_HUGE_TAIL = 5, /* the other 511 frames of a 2 MiB page */
  MMU__FR_DEFERRED = 6   /* freed, waiting for a shootdown (shootdown.c) */
};
/* Frame flags. */
enum {
  MMU__FRF_EXCLUSIVE = 1, /* one owner, may be made writable without a fault */
  MMU__FRF_FILE_CLEAN = 2, /* same bytes as the file: reclaim drops it */
  MMU__FRF_LAZYFREE = 4,   /* MADV_FREE: reclaim drops it if still clean */
  MMU__FRF_FILE = 8,       /* index is a file offset (a file region's page) */
  MMU__FRF_SHARED = 16,    /* an mmu_object's page: `cached` points to it, */
                           /* index is its offset there, refs count the */
                           /* object's hold too */
  MMU__FRF_DIRTY = 32      /* shared: written since the last writeback */
};

struct mmu__frame {
  /* user pages: the byte offset of the page in its region's offsets (the
   * address it was first mapped at, for anonymous pages; the file offset,
   * for a private file page), as Linux's page->index; every space sharing
   * it maps it where its region puts that offset. Deferred frames: the
   * next one + 1. */
  uint64_t index;
  uint64_t cached; /* swap cache: slot + 1 whose bytes this page holds */
  uint32_t refs;
  uint8_t kind, flags;
  uint16_t unused_;
};

/* Every change of a frame's kind goes through here, so the counts per kind
 * that mmu_system_usage reads stay exact (as Linux's vmstat counters do). */
static inline void mmu__frame_set_kind(mmu_system *sys, uint32_t f,
                                       uint8_t kind) {
  sys->kind_frames[sys->frame[f].kind]--;
  sys->kind_frames[kind]++;
  sys->frame[f].kind = kind;
}

struct mmu__slot {
  uint64_t checksum; /* XXH64 of the page, seed 0 */
  uint32_t refs;     /* swap PTEs pointing here; 0 = free */
  uint32_t cache;    /* swap cache: frame + 1 holding the bytes, or 0 */
};

#define MMU__PAGE 4096ull
#define MMU__HUGE (2ull << 20)
#define MMU__PTE_ADDR MMU__BITS(51, 12)
/* Not-present entries are ignored by the MMU (SDM 4.5): their other bits
 * are ours. A swap entry holds the slot; a PROT_NONE entry keeps its frame. */
#define MMU__SWP_MARK (1ull << 1)
#define MMU__PROTNONE_MARK (1ull << 2)
/* a mapping reclaim took P away from while it waits for the shootdown;
 * the entry keeps its frame and bits, and _PRESENT says it had P (U/S is
 * bit 2, so a user page looks like a PROT_NONE one without P) (swap.c) */
#define MMU__RECLAIM_MARK (1ull << 3)
#define MMU__RECLAIM_PRESENT (1ull << 4)
#define MMU__TABLE_FLAGS (MMU_PTE_P | MMU_PTE_W | MMU_PTE_U | MMU_PTE_A)
/* First address past user space: x86-64 Linux's TASK_SIZE_MAX leaves the
 * last canonical page unmapped (SYSRET with a non-canonical RIP). */
#define MMU__USER_TOP (0x800000000000ull - 4096)
#define MMU__USER_TOP_LA57 (0x100000000000000ull - 4096)
#define MMU__MMAP_MIN_ADDR 0x1000ull    /* vm.mmap_min_addr */
#define MMU__SYS_MAGIC 0x4D4D5553u      /* "MMUS" */
#define MMU__SPACE_MAGIC 0x4D4D5541u    /* "MMUA" */
#define MMU__NO_FRAME 0xFFFFFFFFu
#define MMU__CHECK_SYS(sys) MMU__CHECK_OBJ(sys, MMU__SYS_MAGIC)
/* A space and the system it belongs to. */
static inline int mmu__check_space(const mmu_space *s) {
  int rc = MMU__CHECK_OBJ(s, MMU__SPACE_MAGIC);
  return rc != MMU_OK ? rc : MMU__CHECK_SYS(s->sys);
}

/* frames.c */
static int mmu__frame_alloc(mmu_system *sys, uint32_t *frame);
static int mmu__frame_alloc_any(mmu_system *sys, uint32_t *frame, int zero);
static int mmu__frame_alloc_huge(mmu_system *sys, uint32_t *head);
static void mmu__frame_free(mmu_system *sys, uint32_t frame);
static int mmu__ensure_free(mmu_system *sys, uint32_t frames);
static inline uint8_t *mmu__frame_host(const mmu_system *sys, uint32_t f) {
  return sys->pool_host + (size_t)f * MMU__PAGE;
}
static inline uint64_t mmu__frame_gpa(const mmu_system *sys, uint32_t f) {
  return sys->pool_gpa + (uint64_t)f * MMU__PAGE;
}
/* The pool frame an entry points at, or MMU__NO_FRAME if outside the pool. */
static inline uint32_t mmu__entry_frame(const mmu_system *sys, uint64_t e) {
  uint64_t off = (e & MMU__PTE_ADDR) - sys->pool_gpa;
  return off < (uint64_t)sys->nframes * MMU__PAGE ? (uint32_t)(off >> 12)
                                                   : MMU__NO_FRAME;
}

/* The user page a leaf entry maps, if it is one this system handed out at
 * that size (the zero page too for 4 KiB leaves), else MMU__NO_FRAME: an
 * entry someone scribbled on is never followed into the bookkeeping. */
static inline uint32_t mmu__leaf_frame(const mmu_system *sys, uint64_t e,
                                       int huge) {
  uint32_t f = mmu__entry_frame(sys, e);
  if (f == MMU__NO_FRAME)
    return f;
  if (huge)
    return sys->frame[f].kind == MMU__FR_HUGE && sys->frame[f].refs
               ? f : MMU__NO_FRAME;
  return (sys->frame[f].kind == MMU__FR_PAGE && sys->frame[f].refs) ||
                 f == sys->zero_frame
             ? f : MMU__NO_FRAME;
}

/* regions.c */
static int32_t mmu__region_find(const mmu_space *s, uint64_t addr);
static uint32_t mmu__region_next(const mmu_space *s, uint64_t addr);
static int mmu__region_split(mmu_space *s, uint32_t i, uint64_t addr);
static void mmu__region_merge_around(mmu_space *s, uint32_t first,
                                     uint32_t last);
static void mmu__region_remove(mmu_space *s, uint32_t i);
static void mmu__regions_drop(mmu_space *s);
static int mmu__region_insert(mmu_space *s, const mmu_region *r,
                              uint32_t *index);
static uint64_t mmu__region_gap_below(const mmu_space *s, uint32_t i);

/* space.c */
static int mmu__walk_to(mmu_space *s, uint64_t va, int level, int alloc,
                        uint64_t **slot, uint32_t *table_frame);
static void mmu__entry_set(mmu_system *sys, uint32_t table_frame,
                           uint64_t *slot, uint64_t value);
static uint64_t mmu__leaf_flags(const mmu_system *sys, const mmu_region *r,
                                int writable);
static void mmu__rss_add(mmu_space *s, int64_t pages);
static void mmu__page_new(mmu_system *sys, uint32_t f, const mmu_region *r,
                          uint64_t va, uint8_t flags);

/* shootdown.c */
static void mmu__shootdown(mmu_space *s, uint64_t va, uint64_t pages);
static void mmu__frame_defer(mmu_system *sys, uint32_t f, uint32_t n);
static void mmu__tlb_finish(mmu_system *sys);

/* fault.c */
static int mmu__space_fault(mmu_space *s, uint64_t cr2, uint32_t ec,
                            mmu_fault_info *info);

/* object.c */
#define MMU__OBJ_MAGIC 0x4D4D554Fu /* "MMUO" */
static void mmu__object_mapped(mmu_object *o, int32_t regions);
static mmu_object *mmu__frame_object(const mmu_system *sys, uint32_t f);
static int mmu__fault_shared(mmu_space *s, mmu_region *r, uint64_t va,
                             uint64_t *slot, uint32_t table, int write,
                             mmu_fault_info *info);
static int mmu__reclaim_shared(mmu_system *sys, uint32_t f);

/* swap.c */
static int mmu__swap_in(mmu_space *s, uint64_t va, uint64_t *entry,
                        uint32_t table_frame, const mmu_region *r, int write,
                        mmu_fault_info *info);
static void mmu__slot_put(mmu_system *sys, uint64_t slot);
static void mmu__uncache(mmu_system *sys, uint32_t frame);
static int mmu__reclaim_one(mmu_system *sys);

#endif
