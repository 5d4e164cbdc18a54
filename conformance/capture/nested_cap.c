/* SPDX-License-Identifier: MIT */
/* nested_cap.c - EPT vectors through C_VMX, NPT vectors through C_SVM
 * (nested_cap.h).
 *
 * Plan, per chunk of vectors (one guest of the source): the harness's
 * pages (VMXON region and VMCS, or host save area and VMCB; its nested PD
 * and PT behind entry 3 of the vector's PDPT for gpa 0, the guest's page
 * table for linear GEN_NESTED_STUB and, for PAE guests, the guest's page
 * directory above it, and the code: a read of 8 bytes, a
 * 4-byte write or a jump, each ending in VMCALL or VMMCALL); per vector,
 * the pages the last one used zeroed, its entries
 * written, the harness's two entries in its tables (PDPT entry 3, and
 * with 32-bit guest paging the PDE for GEN_NESTED_STUB, with PAE paging
 * the guest's PDPTE 3, which under EPT goes to VM entry as the VMCS's
 * GUEST_PDPTE3 beside the vector's PDPTEs 0..2 as its RAM holds them at
 * CR3), the guest PTE for GEN_NESTED_STUB in the mode's format, the RAM pattern in the
 * pages its accesses land in (the library's prediction says which); per
 * access step a C_VMX that reads back every entry of the vector and the
 * quad the access lands in.
 *
 * Outcomes: a VMCALL (VMMCALL) after a read is "ok" when the 8 bytes read are what
 * the predicted quad holds (the pattern tells one quad from another),
 * after a write when the predicted quad holds the marker written; a fetch
 * lands on a UD2 written at the predicted address and exits with #UD;
 * a guest #PF exits with its error code and CR2; EPT violations and
 * misconfigurations exit with their qualification and guest-physical
 * address, #VMEXIT(NPF) with EXITINFO1 and EXITINFO2. Where the source did something the prediction
 * cannot place (a read of other bytes, a write that landed elsewhere) the
 * vector is not captured and the reason says what happened. */
#define _GNU_SOURCE
#include "nested_cap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/mmu.h"
#include "../check.h"
#include "../gen.h"
#include "bguest/blayout.h"
#include "booted.h"
#include "qguest/qlayout.h"

#define NC_VMXON 0x200000ull
#define NC_VMCS 0x201000ull
#define NC_EPT_PD 0x202000ull   /* gpa [3 GiB, 4 GiB) */
#define NC_EPT_PT 0x203000ull   /* gpa [4 GiB - 2 MiB, 4 GiB) */
#define NC_GUEST_PT 0x204000ull /* at gpa NC_GUEST_PT_GPA */
#define NC_CODE 0x205000ull     /* at gpa GEN_NESTED_STUB */
#define NC_GUEST_PD 0x206000ull /* PAE: at gpa NC_GUEST_PD_GPA */
#define NC_GUEST_PT_GPA (GEN_NESTED_STUB - 0x1000)
#define NC_GUEST_PD_GPA (GEN_NESTED_STUB - 0x2000)
#define NC_ADDR 0x000FFFFFFFFFF000ull
#define NC_RWX 7ull /* EPT R W X; NPT P W U */
#define NC_EPT_LEAF (NC_RWX | MMU_EPT_MT_WB | MMU_EPT_A | MMU_EPT_D)
#define NC_NPT_LEAF (NC_RWX | MMU_PTE_A | MMU_PTE_D)
/* SVM exit codes (APM 2 appendix C) */
#define NC_SVM_UD 0x46
#define NC_SVM_PF 0x4e
#define NC_SVM_VMMCALL 0x81
#define NC_SVM_NPF 0x400
/* what a fetch finds where it lands: UD2s, so it stops at once with #UD
 * (an INT3 would do on VMX, but QEMU's SVM delivers #BP to the guest's
 * IDT instead of taking the exception intercept) */
#define NC_UD2 0x0B0F0B0F0B0F0B0Full
#define NC_MAX_PAGES (VEC_MAX_PTES + VEC_MAX_STEPS + 8)
/* a chunk's room, kept below the harness's buffers */
#define NC_CMD_ROOM ((H_CMD_SIZE - 4096) / 8)
#define NC_RES_ROOM (H_RES_SIZE - 4096)

typedef struct nc_plan {
  int svm;       /* C_SVM (NPT) or C_VMX (EPT) */
  uint64_t *cmd;
  size_t ncmd;
  uint64_t resoff;
  uint64_t used[NC_MAX_PAGES]; /* pages the chunk's last vector wrote */
  unsigned nused;
} nc_plan;

/* One vector as planned: what its steps' results mean. */
typedef struct nc_vec {
  size_t index;
  uint64_t resoff[VEC_MAX_STEPS];  /* each access's results */
  uint64_t land[VEC_MAX_STEPS];    /* predicted quad, or 0 */
  uint64_t content[VEC_MAX_STEPS]; /* what a read there must return */
  uint32_t marker[VEC_MAX_STEPS];  /* what a write stores */
  vec_vector predicted;
} nc_vec;

static void emit(nc_plan *p, uint64_t q) { p->cmd[p->ncmd++] = q; }

static void emit_wr(nc_plan *p, uint64_t at, uint64_t v) {
  emit(p, C_WR);
  emit(p, 1);
  emit(p, at);
  emit(p, v);
}

static void nc_use(nc_plan *p, uint64_t page) {
  if (p->nused < NC_MAX_PAGES &&
      !cap_contains(p->used, p->nused, page))
    p->used[p->nused++] = page;
}

/* The harness's table reference (EPT: RWX; NPT: P W U), A set. */
static uint64_t nc_link(const nc_plan *p) {
  return NC_RWX | (p->svm ? MMU_PTE_A : MMU_EPT_A);
}

/* The chunk's start: the harness's pages and the guest's code. */
static void nc_chunk_start(nc_plan *p) {
  p->ncmd = 0;
  p->resoff = 0;
  p->nused = 0;
  for (uint64_t pg = NC_VMXON; pg <= NC_GUEST_PD; pg += 4096) {
    emit(p, C_ZERO);
    emit(p, pg);
  }
  uint64_t leaf = p->svm ? NC_NPT_LEAF : NC_EPT_LEAF;
  emit_wr(p, NC_EPT_PD + 8 * 511, NC_EPT_PT | nc_link(p));
  emit_wr(p, NC_EPT_PT + 8 * 509, NC_GUEST_PD | leaf);
  emit_wr(p, NC_EPT_PT + 8 * 510, NC_GUEST_PT | leaf);
  emit_wr(p, NC_EPT_PT + 8 * 511, NC_CODE | leaf);
  /* PAE PDE 511: the guest's page table, P W A */
  emit_wr(p, NC_GUEST_PD + 0xFF8, NC_GUEST_PT_GPA | 0x23);
  /* +0: mov eax,[esi]; mov edx,[esi+4]; vmcall (0f 01 c1) or vmmcall
   * (0f 01 d9)  +16: mov [esi],eax; vmcall  +32: jmp esi */
  uint64_t call = p->svm ? 0xd9 : 0xc1;
  emit_wr(p, NC_CODE, 0x00010f04568b068bull | call << 56);
  emit_wr(p, NC_CODE + 16, 0x00000000010f0689ull | call << 32);
  emit_wr(p, NC_CODE + 32, 0x000000000000e6ffull);
}

static int nc_has_pte(const vec_vector *v, uint64_t at) {
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == at)
      return 1;
  return 0;
}

static uint64_t nc_pte(const vec_vector *v, uint64_t at) {
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == at)
      return v->pte[i].value;
  return 0;
}

/* Plans vector v (its prediction in nv->predicted); 0, or -EINVAL /
 * -ENOTSUP with the reason, or -ENOSPC when the chunk is full. */
static int nc_plan_vector(nc_plan *p, check_ctx *ctx, const vec_vector *v,
                          nc_vec *nv, uint32_t maxphy, char *why, size_t wn) {
  if (v->nested_kind != (p->svm ? MMU_NESTED_NPT : MMU_NESTED_EPT)) {
    snprintf(why, wn, "not an %s vector", p->svm ? "NPT" : "EPT");
    return -ENOTSUP;
  }
  if (p->svm && (v->nested_flags & (MMU_NESTED_LA57 | MMU_NESTED_NXE)) !=
                    MMU_NESTED_NXE) {
    snprintf(why, wn, "the harness's host runs 4-level paging with NXE");
    return -ENOTSUP;
  }
  if ((v->maxphyaddr ? v->maxphyaddr : 52) != maxphy) {
    snprintf(why, wn, "maxphyaddr %u: the source's is %u", v->maxphyaddr, maxphy);
    return -ENOTSUP;
  }
  if (v->cpl != 0 || (v->efer & (MMU_EFER_LME | MMU_EFER_LMA))) {
    snprintf(why, wn, "the harness's guest runs at CPL 0 with paging off, "
                      "32-bit or PAE paging");
    return -ENOTSUP;
  }
  if (v->ram_size != GEN_RAM_SIZE) {
    snprintf(why, wn, "RAM must be %llu MiB", (unsigned long long)(GEN_RAM_SIZE >> 20));
    return -ENOTSUP;
  }
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa < GEN_TABLES_BASE || v->pte[i].gpa >= v->ram_size) {
      snprintf(why, wn, "entry at 0x%" PRIx64 ": the harness's or outside RAM",
               v->pte[i].gpa);
      return v->pte[i].gpa >= v->ram_size ? -ERANGE : -EINVAL;
    }
  /* the harness's way to its code: entry 3 of the PDPT behind entry 0 */
  uint64_t root = v->nested_root & NC_ADDR, e0 = nc_pte(v, root);
  uint64_t bad = p->svm ? MMU_PTE_XD | MMU_PTE_PS | 0x100 : 0x78;
  if ((e0 & NC_RWX) != NC_RWX || (e0 & bad) || !(e0 & NC_ADDR)) {
    snprintf(why, wn, "nested entry 0 is not a table with every right");
    return -EINVAL;
  }
  uint64_t hole = (e0 & NC_ADDR & ((1ull << maxphy) - 1)) + 8 * 3;
  int paging = (v->cr0 & MMU_CR0_PG) != 0;
  int pae = paging && (v->cr4 & MMU_CR4_PAE);
  /* the guest's entry for the harness: 32-bit PDE 1023 (in the quad of
   * 1022 and 1023), PAE PDPTE 3 */
  uint64_t pdpt = v->cr3 & 0xFFFFFFE0ull;
  uint64_t pde_at = pae ? pdpt + 8 * 3 : (v->cr3 & 0xFFFFF000ull) + 0xFF8;
  if (nc_has_pte(v, hole) || (paging && nc_has_pte(v, pde_at))) {
    snprintf(why, wn, "the vector uses the harness's entries");
    return -EINVAL;
  }
  /* the library's prediction: where accesses land */
  char msg[1024];
  nv->predicted = *v;
  if (check_fill(ctx, &nv->predicted, CHECK_REFERENCE, msg, sizeof msg) < 0) {
    snprintf(why, wn, "%.*s", (int)strcspn(msg, "\n"), msg);
    return -EINVAL;
  }
  /* room: zeroes, entries, fills, and per access a C_VMX and its peeks */
  const uint64_t cmd_size = p->svm ? VS_LEN : VX_SIZE;
  const uint64_t res_size = p->svm ? SR_SIZE : VR_SIZE;
  size_t need = 2 * (p->nused + v->pte_count + VEC_MAX_STEPS) + 4 * v->pte_count + 16 +
                v->step_count * (cmd_size / 8 + v->pte_count + 1 + 8);
  size_t res = v->step_count * (res_size + 8 * (v->pte_count + 1));
  if (p->ncmd + need + 1 > NC_CMD_ROOM || p->resoff + res > NC_RES_ROOM)
    return -ENOSPC;

  for (unsigned i = 0; i < p->nused; i++) {
    emit(p, C_ZERO);
    emit(p, p->used[i]);
  }
  p->nused = 0;
  for (uint32_t i = 0; i < v->pte_count; i++) {
    nc_use(p, v->pte[i].gpa & ~0xFFFull);
    emit(p, C_ZERO);
    emit(p, v->pte[i].gpa & ~0xFFFull);
  }
  for (uint32_t i = 0; i < v->pte_count; i++)
    emit_wr(p, v->pte[i].gpa, v->pte[i].value);
  emit_wr(p, hole, NC_EPT_PD | nc_link(p));
  if (pae) /* PDPTE 3: the harness's page directory */
    emit_wr(p, pde_at, NC_GUEST_PD_GPA | 1);
  else if (paging) /* PDE 1023: the harness's page table, P W A */
    emit_wr(p, pde_at, (NC_GUEST_PT_GPA | 0x23) << 32);
  /* the PTE for GEN_NESTED_STUB, P and A: PAE's 8-byte PTE 511, 32-bit
   * paging's 4-byte PTE 1023 */
  emit_wr(p, NC_GUEST_PT + 0xFF8,
          pae ? GEN_NESTED_STUB | 0x21 : (GEN_NESTED_STUB | 0x21) << 32);
  /* EPT: the PDPTE registers VM entry loads (GUEST_PDPTE0..3), the
   * vector's RAM at CR3 as the library starts from it (SPEC 8.1), and
   * the harness's PDPTE 3 */
  uint64_t pdpte[4] = {0, 0, 0, 0};
  for (int i = 0; pae && i < 4; i++)
    pdpte[i] = i == 3 ? NC_GUEST_PD_GPA | 1 : nc_pte(v, pdpt + 8 * (uint64_t)i);

  uint64_t filled[VEC_MAX_STEPS];
  unsigned nfilled = 0;
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    const vec_step *ps = &nv->predicted.step[s];
    nv->land[s] = 0;
    nv->marker[s] = 0x5A000000u | (uint32_t)((nv->index & 0xFFF) << 8) | s;
    if (st->op == VEC_SET_PTE) {
      if (!nc_has_pte(v, st->a)) {
        snprintf(why, wn, "set-pte of an address the vector does not list");
        return -EINVAL;
      }
      emit_wr(p, st->a, st->b);
      continue;
    }
    if (st->op == VEC_INVLPG)
      continue; /* every access starts with nothing cached (INVEPT, no VPID) */
    if (st->op != VEC_ACCESS || (st->access & MMU_IMPLICIT)) {
      snprintf(why, wn, "step %u: the harness makes only reads, writes and fetches", s);
      return -ENOTSUP;
    }
    if (ps->expect.kind == VEC_OUT_OK) {
      uint64_t pa = ps->expect.pa_or_cr2, page = pa & ~0xFFFull;
      if (pa < GEN_DATA_BASE || pa >= v->ram_size) {
        snprintf(why, wn, "step %u lands at 0x%" PRIx64 ", outside the data pages", s, pa);
        return -ENOTSUP;
      }
      if (!cap_contains(filled, nfilled, page)) {
        filled[nfilled++] = page;
        nc_use(p, page);
        emit(p, C_FILL);
        emit(p, page);
      }
      nv->land[s] = pa & ~7ull;
      nv->content[s] = booted_pattern_of(nv->land[s]);
      if ((st->access & 3u) == MMU_FETCH)
        emit_wr(p, nv->land[s], NC_UD2);
    }
    /* C_VMX and C_SVM share their operands' layout (probe.h) */
    nv->resoff[s] = p->resoff;
    emit(p, p->svm ? C_SVM : C_VMX);
    emit(p, p->resoff);
    emit(p, NC_VMXON);
    emit(p, NC_VMCS);
    emit(p, v->nested_root);
    emit(p, GEN_NESTED_STUB + 16 * (uint64_t)(st->access & 3u));
    emit(p, st->a);
    emit(p, nv->marker[s]);
    for (int k = 0; k < (p->svm ? VS_NPEEK : 3); k++)
      emit(p, NC_VMXON); /* the fixed peeks: unused here */
    emit(p, v->cr0);
    emit(p, v->cr3);
    emit(p, v->cr4);
    emit(p, v->efer);
    for (int i = 0; !p->svm && i < 4; i++)
      emit(p, pdpte[i]);
    emit(p, v->pte_count + 1);
    for (uint32_t i = 0; i < v->pte_count; i++)
      emit(p, v->pte[i].gpa);
    emit(p, nv->land[s] ? nv->land[s] : NC_VMXON);
    p->resoff += res_size + 8 * (v->pte_count + 1);
    if (nv->land[s]) /* the pattern again for the steps after it */
      emit_wr(p, nv->land[s], booted_pattern_of(nv->land[s]));
  }
  return 0;
}

static uint64_t rd(const uint8_t *res, uint64_t off) {
  uint64_t q;
  memcpy(&q, res + off, 8);
  return q;
}

/* An exit as either harness reports it. */
enum { NX_CALL, NX_UD, NX_PF, NX_VIOLATION, NX_MISCONFIG, NX_NPF, NX_OTHER };
typedef struct nc_exit {
  int kind;
  uint64_t code, info1, info2, gla; /* PF: ec, cr2; exits: qual, gpa */
  uint64_t got;   /* a read's 8 bytes */
  uint64_t list;  /* where the quads read back start */
} nc_exit;

/* The exit of the access whose results are r; 0, or -EIO with the reason
 * when the guest never ran. */
static int nc_exit_of(int svm, const uint8_t *r, nc_exit *x, char *why, size_t wn) {
  memset(x, 0, sizeof *x);
  x->kind = NX_OTHER;
  if (svm) {
    if (rd(r, SR_STATUS) != 2) {
      snprintf(why, wn, "no #VMEXIT (status %" PRIu64 ", stage %" PRIu64
                        ", host exception %" PRIu64 ")",
               rd(r, SR_STATUS), rd(r, SR_STAGE), rd(r, SR_EXC));
      return -EIO;
    }
    x->code = rd(r, SR_EXITCODE);
    x->info1 = rd(r, SR_INFO1);
    x->info2 = rd(r, SR_INFO2);
    x->got = (rd(r, SR_GRAX) & 0xFFFFFFFFull) | rd(r, SR_GRDX) << 32;
    x->list = SR_SIZE;
    x->kind = x->code == NC_SVM_VMMCALL ? NX_CALL
              : x->code == NC_SVM_UD    ? NX_UD
              : x->code == NC_SVM_PF    ? NX_PF
              : x->code == NC_SVM_NPF   ? NX_NPF
                                        : NX_OTHER;
    return 0;
  }
  if (rd(r, VR_STATUS) != 2) {
    snprintf(why, wn, "no VM exit (status %" PRIu64 ", stage %" PRIu64
                      ", error %" PRIu64 ")",
             rd(r, VR_STATUS), rd(r, VR_STAGE), rd(r, VR_VMERR));
    return -EIO;
  }
  uint64_t reason = rd(r, VR_REASON) & 0xFFFF, intinfo = rd(r, VR_INTINFO);
  x->code = reason;
  x->info1 = rd(r, VR_QUAL);
  x->info2 = rd(r, VR_GPA);
  x->gla = rd(r, VR_GLA);
  x->got = (rd(r, VR_GRAX) & 0xFFFFFFFFull) | rd(r, VR_GRDX) << 32;
  x->list = VR_SIZE;
  if (reason == 18)
    x->kind = NX_CALL;
  else if (reason == 0 && (intinfo & 0x800000FFull) == 0x80000006ull)
    x->kind = NX_UD;
  else if (reason == 0 && (intinfo & 0x800000FFull) == 0x8000000Eull) {
    x->kind = NX_PF; /* CR2 is the qualification */
    x->info2 = x->info1;
    x->info1 = rd(r, VR_ERRC);
  } else if (reason == 48)
    x->kind = NX_VIOLATION;
  else if (reason == 49)
    x->kind = NX_MISCONFIG;
  else
    x->code |= (intinfo & 0xFF) << 16; /* the vector, for the reason */
  return 0;
}

/* Vector v's outcomes from the results; 0, or < 0 with the reason. */
static int nc_decode(int svm, const nc_vec *nv, vec_vector *v,
                     const uint8_t *res, char *why, size_t wn) {
  uint64_t now[VEC_MAX_PTES];
  for (uint32_t i = 0; i < v->pte_count; i++)
    now[i] = v->pte[i].value;
  for (uint32_t s = 0; s < v->step_count; s++) {
    vec_step *st = &v->step[s];
    if (st->op == VEC_SET_PTE) {
      for (uint32_t i = 0; i < v->pte_count; i++)
        if (v->pte[i].gpa == st->a)
          now[i] = st->b;
      continue;
    }
    if (st->op != VEC_ACCESS)
      continue;
    const uint8_t *r = res + nv->resoff[s];
    nc_exit x;
    char what[96];
    if (nc_exit_of(svm, r, &x, what, sizeof what) < 0) {
      snprintf(why, wn, "step %u: %s", s, what);
      return -EIO;
    }
    vec_outcome *o = &st->expect;
    memset(o, 0, sizeof *o);
    unsigned kind = st->access & 3u;
    if ((x.kind == NX_CALL && kind != MMU_FETCH) ||
        (x.kind == NX_UD && kind == MMU_FETCH)) {
      /* the access went ahead: a read read the predicted quad's bytes, a
       * write's marker is there, a fetch found the UD2 written there */
      uint64_t got = kind == MMU_READ ? x.got : rd(r, x.list + 8 * v->pte_count);
      int right = nv->land[s] && (kind == MMU_FETCH ||
                                  (kind == MMU_READ ? got == nv->content[s]
                                                    : (uint32_t)got == nv->marker[s]));
      if (!right) {
        snprintf(why, wn, "step %u: the %s went ahead but %s 0x%" PRIx64
                          " (the library: %s)",
                 s, vec_access_name(st->access),
                 kind == MMU_WRITE ? "the predicted quad holds" : "read", got,
                 nv->land[s] ? "lands there" : "no access");
        return -EIO;
      }
      o->kind = VEC_OUT_OK;
      o->pa_or_cr2 = nv->predicted.step[s].expect.pa_or_cr2;
    } else if (x.kind == NX_PF) {
      o->kind = VEC_OUT_PF;
      o->error_code = (uint32_t)x.info1;
      o->pa_or_cr2 = x.info2;
    } else if (x.kind == NX_VIOLATION || x.kind == NX_MISCONFIG || x.kind == NX_NPF) {
      uint64_t gpa = x.info2 & ~0xFFFull;
      if ((x.kind == NX_VIOLATION && (x.info1 & MMU_EPTQ_LINEAR_VALID) &&
           (x.gla & ~0xFFFull) == GEN_NESTED_STUB) ||
          gpa == GEN_NESTED_STUB || gpa == NC_GUEST_PT_GPA ||
          gpa == NC_GUEST_PD_GPA) {
        snprintf(why, wn, "step %u: the harness's own fetch exited (gpa 0x%" PRIx64 ")",
                 s, x.info2);
        return -EINVAL;
      }
      o->kind = x.kind == NX_VIOLATION   ? VEC_OUT_EPT_VIOLATION
                : x.kind == NX_MISCONFIG ? VEC_OUT_EPT_MISCONFIG
                                         : VEC_OUT_NPF;
      o->qual = x.kind == NX_MISCONFIG ? 0 : x.info1;
      o->gpa = x.info2;
    } else {
      snprintf(why, wn, "step %u: exit 0x%" PRIx64 " (info 0x%" PRIx64 ", 0x%" PRIx64 ")",
               s, x.code, x.info1, x.info2);
      return -EIO;
    }
    st->ad_count = 0;
    for (uint32_t i = 0; i < v->pte_count; i++) {
      uint64_t after = rd(r, x.list + 8 * i);
      if (after == now[i])
        continue;
      if (st->ad_count == VEC_MAX_AD) {
        snprintf(why, wn, "step %u: more than %d entries changed", s, VEC_MAX_AD);
        return -EIO;
      }
      st->ad[st->ad_count].gpa = v->pte[i].gpa;
      st->ad[st->ad_count].value = after;
      st->ad_count++;
      now[i] = after;
    }
  }
  return 0;
}

int nested_cap_kind(const vec_vector *v, size_t n, int *status,
                    capture_reasons *reasons) {
  size_t same = 0;
  for (size_t i = 0; i < n; i++)
    same += v[i].nested_kind == v[0].nested_kind;
  if (n == 0 || (same == n && v[0].nested_kind == MMU_NESTED_OFF))
    return MMU_NESTED_OFF;
  (void)capture_reasons_reset(reasons, n); /* on failure every reason is "" */
  if (same == n)
    return (int)v[0].nested_kind;
  for (size_t i = 0; i < n; i++)
    capture_reason(reasons, i, "a batch mixes nested kinds or nested and other vectors");
  for (size_t i = 0; i < n; i++)
    status[i] = -ENOTSUP;
  return -1;
}

int nested_cap_run(nested_exec_fn exec, void *src, uint32_t maxphy,
                   uint32_t kind, vec_vector *v, size_t n, int *status,
                   capture_reasons *reasons) {
  nc_plan p;
  memset(&p, 0, sizeof p);
  p.svm = kind == MMU_NESTED_NPT;
  p.cmd = malloc(NC_CMD_ROOM * 8 + 64);
  uint8_t *res = malloc(H_RES_SIZE);
  nc_vec *nv = malloc(n * sizeof *nv);
  check_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx) {
    ctx->ram_capacity = GEN_RAM_SIZE;
    ctx->ram = aligned_alloc(4096, GEN_RAM_SIZE);
  }
  int captured = 0, err = 0;
  if (capture_reasons_reset(reasons, n) != 0 || !p.cmd || !res || !nv || !ctx ||
      !ctx->ram) {
    err = -ENOMEM;
    goto out;
  }
  memset(ctx->ram, 0, GEN_RAM_SIZE);
  char why[128];
  for (size_t i = 0; i < n;) {
    nc_chunk_start(&p);
    size_t first = i;
    for (; i < n; i++) {
      nv[i].index = i;
      status[i] = 0;
      int rc = nc_plan_vector(&p, ctx, &v[i], &nv[i], maxphy, why, sizeof why);
      if (rc == -ENOSPC && i > first)
        break; /* the next chunk takes it */
      if (rc == -ENOSPC)
        snprintf(why, sizeof why, "more commands than a chunk holds");
      if (rc < 0) {
        status[i] = rc;
        capture_reason(reasons, i, "%s", why);
      }
    }
    emit(&p, C_END);
    int r = exec(src, p.cmd, p.ncmd, p.resoff, res);
    if (r < 0) {
      err = r;
      goto out;
    }
    for (size_t k = first; k < i; k++) {
      if (status[k] < 0)
        continue;
      if (r == 1) { /* the guest panicked: nothing of this chunk is sure */
        status[k] = -EIO;
        capture_reason(reasons, k, "the guest panicked during its chunk");
        continue;
      }
      int rc = nc_decode(p.svm, &nv[k], &v[k], res, why, sizeof why);
      if (rc < 0) {
        status[k] = rc;
        capture_reason(reasons, k, "%s", why);
      } else {
        captured++;
      }
    }
  }
out:
  if (ctx)
    free(ctx->ram);
  free(ctx);
  free(nv);
  free(res);
  free(p.cmd);
  return err < 0 ? err : captured;
}
