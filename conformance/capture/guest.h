/* SPDX-License-Identifier: MIT */
/* guest.h - the host side of the capture guest harness that every source
 * shares (guest/layout.h, guest/steps.inc): the harness's RAM image, what
 * a vector's memory holds before it runs and which of it is watched, the
 * checks a vector must pass to run under the harness, the step encoding,
 * how an access's exception becomes an outcome, the CPUID a source
 * describes its CPU by, and per-vector reasons. Linux only. */
#ifndef CAPTURE_GUEST_H_INCLUDED
#define CAPTURE_GUEST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../vector.h"
#include "guest/layout.h"

#define CAP_ADDR_MASK 0x000ffffffffff000ull

static inline uint64_t cap_rd64(const uint8_t *mem, uint64_t off) {
  uint64_t v;
  memcpy(&v, mem + off, 8);
  return v;
}

static inline void cap_wr64(uint8_t *mem, uint64_t off, uint64_t v) {
  memcpy(mem + off, &v, 8);
}

/* The linear address of guest-physical 0 through the harness's slot. */
static inline uint64_t cap_hb(int la57) {
  return la57 ? 1ull << 48 : 1ull << 39;
}

/* Appends x to arr[0..*n) unless there; -1 if that would pass max. */
int cap_add_unique(uint64_t *arr, unsigned *n, unsigned max, uint64_t x);
int cap_contains(const uint64_t *arr, unsigned n, uint64_t x);

/* ---- the harness image --------------------------------------------------- */

typedef struct capture_image {
  const unsigned char *start;
  size_t len;
  uint64_t off_stubs, off_lldt; /* from its header */
  uint64_t off_stubs32; /* steps32.inc's stubs32 (0: the harness has none);
                           the source sets it after capture_image_open */
} capture_image;

/* Reads the header of the image [start, end); EPROTO if it is not a
 * harness image of this layout. */
int capture_image_open(capture_image *img, const unsigned char *start,
                       const unsigned char *end);

/* The RIP of the LLDT of an implicit access (a #GP there: bad base). */
uint64_t capture_lldt_rip(const capture_image *img, int la57);

/* Guest RAM as every harness starts: the image at H_CODE; the GDT's code,
 * data and TSS descriptors; IDTs and TSSs for both paging modes (all gates
 * DPL 0) and, where the image has stubs32, the 32-bit IDT and TSS used
 * outside IA-32e; the harness's tables, mapping all of [0, ram_size)
 * through CAPTURE_HARNESS_SLOT. [0, H_END) is zeroed first. */
void capture_build_harness(uint8_t *mem, uint64_t ram_size,
                           const capture_image *img);

/* The entry the harness puts in slot CAPTURE_HARNESS_SLOT of a vector's
 * top-level table. */
uint64_t capture_harness_entry(int la57);

/* ---- a vector under the harness ----------------------------------------- */

/* Paging modes a vector can ask for (CR0.PG, CR4.PAE, EFER.LME, CR4.LA57);
 * a source says which its harness can enter (capture_source.modes). */
enum capture_mode {
  CAPTURE_MODE_OFF,    /* paging off (or not in protected mode) */
  CAPTURE_MODE_32,     /* 32-bit paging */
  CAPTURE_MODE_PAE,    /* PAE paging */
  CAPTURE_MODE_LONG4,  /* 4-level paging */
  CAPTURE_MODE_LONG5   /* 5-level paging */
};
#define CAPTURE_MODE_BIT(m) (1u << (m))
#define CAPTURE_MODES_LONG \
  (CAPTURE_MODE_BIT(CAPTURE_MODE_LONG4) | CAPTURE_MODE_BIT(CAPTURE_MODE_LONG5))

enum capture_mode capture_vector_mode(const vec_vector *v);

/* What a source's CPU and harness accept. */
typedef struct capture_limits {
  uint64_t ram_size;
  unsigned modes; /* CAPTURE_MODE_BIT()s its harness can enter */
  uint64_t cr4;   /* paging controls it offers: MMU_CR4_{LA57,PKE,PCIDE,SMEP,SMAP} */
  int nx;         /* EFER.NXE */
} capture_limits;

/* A vector's memory as the harness sets it up, and what it watches. */
/* the harness has up to 8 entries in a top-level table (32-bit paging) */
#define CAPTURE_MAX_HENTRIES (8 * (VEC_MAX_STEPS + 1))
#define CAPTURE_MAX_TOUCHED (VEC_MAX_PTES + VEC_MAX_STEPS + CAPTURE_MAX_HENTRIES)
typedef struct capture_vmem {
  uint64_t top[VEC_MAX_STEPS + 1]; /* its top-level tables: CR3, CR3 steps */
  unsigned ntop;
  /* entries written before it runs: its own, then the harness's entry in
   * each top-level table */
  uint64_t gpa[VEC_MAX_PTES + CAPTURE_MAX_HENTRIES];
  uint64_t val[VEC_MAX_PTES + CAPTURE_MAX_HENTRIES];
  unsigned n;
  /* entries it may leave non-zero: those, then SET_PTE targets */
  uint64_t touched[CAPTURE_MAX_TOUCHED];
  unsigned ntouched;
  /* entries whose changes it records: its own, then SET_PTE targets */
  uint64_t watch[MAX_WATCH];
  unsigned nwatch;
} capture_vmem;

/* Checks that v can run under the harness with these limits and lays out
 * its memory. Returns 0, or -EINVAL (malformed, or conflicts with the
 * harness's memory or slot), -ENOTSUP (a mode, control or access kind the
 * source cannot do), -ERANGE (an entry or table outside RAM), with why
 * said in why[0..n). */
int capture_plan_vector(const capture_limits *lim, const vec_vector *v,
                        capture_vmem *m, char *why, size_t n);

/* The five quads of step st as the step library reads them (STEP_SIZE
 * bytes); target: for a write, the guest-physical address whose byte it
 * stores (UINT64_MAX: none). */
void capture_encode_step(const vec_step *st, uint64_t target,
                         uint64_t q[STEP_SIZE / 8]);

/* ---- outcomes -------------------------------------------------------------- */

/* How a harness's fetch probe ends when the fetch itself works. */
enum capture_fetch_probe {
  CAPTURE_FETCH_RUNS, /* the fetched bytes run: whatever they raise, the
                         fetch went through unless #PF at the address or
                         #GP of a non-canonical one */
  CAPTURE_FETCH_UD    /* the fetched bytes raise #UD at the address */
};

/* An access's exception as the step library recorded it (R_EVEC...):
 * vector (UINT64_MAX: none), error code, CR2, RIP. */
typedef struct capture_exc {
  uint64_t vec, ec, cr2, rip;
} capture_exc;

/* The outcome of access step st from its exception. Returns 0 with *o
 * filled (VEC_OUT_OK: the access went through, the source finds its
 * physical address), or -1 when the exception makes no sense for it. */
int capture_decode(const capture_image *img, int la57,
                   enum capture_fetch_probe fetch, const vec_step *st,
                   const capture_exc *e, vec_outcome *o);

/* ---- the CPU a source runs ------------------------------------------------- */

/* CPUID leaves 0, 1, 7, 0x80000000, 0x80000001..4, 0x80000008,
 * 0x8000000a (CPUID_N), each eax, ebx, ecx, edx. */
extern const uint32_t capture_cpuid_leaves[CPUID_N];

typedef struct capture_cpu {
  char vendor[13];
  char brand_buf[49];
  const char *brand; /* brand_buf without leading blanks */
  unsigned family, model, stepping;
  int nx, la57, pdpe1gb, pku, pcid, invpcid, smep, smap;
  unsigned maxphyaddr;
  int vmx, svm, npt; /* CPUID.1:ECX[5], 0x80000001:ECX[2], 0x8000000a:EDX[0] */
  uint32_t svm_features; /* CPUID 0x8000000a EDX (0 without SVM) */
} capture_cpu;

void capture_cpu_decode(const uint32_t regs[CPUID_N][4], capture_cpu *c);

/* The limits of a source whose CPU offers what `offer` says (its nx, la57,
 * pku, pcid, smep, smap) and whose harness enters `modes`. */
capture_limits capture_limits_of(const capture_cpu *offer, uint64_t ram_size,
                                 unsigned modes);

/* ---- why vectors were not captured ---------------------------------------- */

typedef struct capture_reasons {
  char (*text)[128];
  size_t n;
} capture_reasons;

/* Room for n reasons, all empty; -ENOMEM (then every reason reads ""). */
int capture_reasons_reset(capture_reasons *r, size_t n);
void capture_reason(capture_reasons *r, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *capture_reason_of(const capture_reasons *r, size_t i);
void capture_reasons_free(capture_reasons *r);

#endif
