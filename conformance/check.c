/* SPDX-License-Identifier: MIT */
/* check.c - run a conformance vector against the library and explain any
 * disagreement. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void check_say(char *msg, size_t n, size_t *used, const char *fmt, ...) {
  if (*used >= n)
    return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(msg + *used, n - *used, fmt, ap);
  va_end(ap);
  if (k > 0)
    *used += (size_t)k < n - *used ? (size_t)k : n - *used;
}

/* A result as text: its outcome's, or the status's name. */
static void check_outcome_text(char *buf, size_t n, int status,
                               const mmu_result *r) {
  vec_outcome o = vec_outcome_of(status, r);
  if (o.kind == VEC_OUT_NONE)
    snprintf(buf, n, "%s", mmu_status_name(status));
  else
    vec_outcome_text(buf, n, &o);
}

static uint64_t *check_entry(check_ctx *ctx, uint64_t gpa) {
  return (uint64_t *)(void *)(ctx->ram + gpa);
}

static void check_remember(check_ctx *ctx, uint64_t gpa) {
  for (uint32_t i = 0; i < ctx->written_count; i++)
    if (ctx->written[i] == gpa)
      return;
  if (ctx->written_count < sizeof ctx->written / sizeof ctx->written[0])
    ctx->written[ctx->written_count++] = gpa;
}

/* The walk the reference walker takes, for the report (read-only: run on a
 * cpu whose state is a copy, A/D writes undone afterwards). */
static void check_trace(check_ctx *ctx, mmu_cpu *cpu, uint64_t va,
                        unsigned access, char *msg, size_t n, size_t *used) {
  uint64_t saved[VEC_MAX_PTES + VEC_MAX_STEPS];
  for (uint32_t i = 0; i < ctx->written_count; i++)
    saved[i] = *check_entry(ctx, ctx->written[i]);
  mmu_result r;
  mmu_trace t;
  memset(&t, 0, sizeof t);
  (void)mmu_reference_translate(cpu, va, access, &r, &t);
  for (uint32_t i = 0; i < ctx->written_count; i++)
    *check_entry(ctx, ctx->written[i]) = saved[i];
  check_say(msg, n, used, "  reference walk:\n");
  for (uint32_t i = 0; i < t.count; i++)
    check_say(msg, n, used, "    L%u entry at 0x%llx = 0x%llx\n",
              t.step[i].level, (unsigned long long)t.step[i].entry_gpa,
              (unsigned long long)t.step[i].entry);
}


/* Runs v; with fill, records the library's outcomes and A/D changes into
 * fill (a copy of v) instead of comparing. */
/* A step that writes a register or invalidates: what the library says. */
static int check_register_step(mmu_cpu *cpu, const vec_step *s) {
  switch (s->op) {
  case VEC_INVPCID:
    return mmu_invpcid(cpu, (unsigned)(s->a > 0xFFFFFFFFu ? 0xFFFFFFFFu : s->a),
                       s->b, s->c);
  case VEC_CR0:
    return mmu_write_cr0(cpu, s->a);
  case VEC_CR3:
    return mmu_write_cr3(cpu, s->a);
  case VEC_CR4:
    return mmu_write_cr4(cpu, s->a);
  default:
    return mmu_write_efer(cpu, s->a);
  }
}

static int check_run(check_ctx *ctx, const vec_vector *v, int path,
                     vec_vector *fill, uint32_t until, mmu_cpu *cpu,
                     char *msg, size_t msg_len) {
  size_t used = 0;
  msg[0] = 0;
  for (uint32_t i = 0; i < ctx->written_count; i++)
    *check_entry(ctx, ctx->written[i]) = 0;
  ctx->written_count = 0;

  if (v->ram_size > ctx->ram_capacity) {
    check_say(msg, msg_len, &used, "%s: RAM of 0x%llx bytes is more than the runner has\n",
              v->id, (unsigned long long)v->ram_size);
    return -1;
  }
  for (uint32_t i = 0; i < v->pte_count; i++) {
    if (v->pte[i].gpa > v->ram_size - 8) {
      check_say(msg, msg_len, &used, "%s: pte at 0x%llx is outside RAM\n", v->id,
                (unsigned long long)v->pte[i].gpa);
      return -1;
    }
    *check_entry(ctx, v->pte[i].gpa) = v->pte[i].value;
    check_remember(ctx, v->pte[i].gpa);
  }

  ctx->region.gpa = 0;
  ctx->region.size = v->ram_size;
  ctx->region.host = ctx->ram;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tlb_sets = 64;
  cfg.tlb_ways = 4;
  cfg.maxphyaddr = v->maxphyaddr;
  cfg.flags = v->flags;
  cfg.ram = &ctx->region;
  cfg.ram_count = 1;
  int rc = mmu_init(cpu, &cfg, ctx->tlb, sizeof ctx->tlb);
  if (rc == MMU_OK) {
    mmu_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.cr0 = v->cr0;
    regs.cr3 = v->cr3;
    regs.cr4 = v->cr4;
    regs.efer = v->efer;
    regs.pkru = v->pkru;
    regs.cpl = (uint8_t)v->cpl;
    regs.ac = (uint8_t)v->ac;
    /* PAE paging starts with the PDPTE registers a MOV to CR3 loads from
     * the vector's RAM (SPEC 8.1; under EPT what VM entry loads from the
     * VMCS's guest PDPTE fields, the harness writing them so); under NPT
     * there are none (each walk reads its PDPTE), a reserved bit there is
     * the walk's #PF, not a state to refuse */
    if ((v->cr0 & MMU_CR0_PG) && (v->cr4 & MMU_CR4_PAE) &&
        !(v->efer & MMU_EFER_LMA) && v->nested_kind != MMU_NESTED_NPT)
      for (int i = 0; i < 4; i++) {
        uint64_t gpa = (v->cr3 & 0xFFFFFFE0u) + 8 * (uint64_t)i;
        regs.pdpte[i] = gpa <= v->ram_size - 8 ? *check_entry(ctx, gpa) : 0;
      }
    rc = mmu_load_regs(cpu, &regs);
  }
  if (rc == MMU_OK && v->nested_kind != MMU_NESTED_OFF) {
    mmu_nested nested;
    memset(&nested, 0, sizeof nested);
    nested.kind = v->nested_kind;
    nested.flags = v->nested_flags;
    nested.root = v->nested_root;
    rc = mmu_set_nested(cpu, &nested);
  }
  if (rc != MMU_OK) {
    check_say(msg, msg_len, &used, "%s: state rejected: %s\n", v->id,
              mmu_status_name(rc));
    return -1;
  }

  for (uint32_t si = 0; si < v->step_count && si < until; si++) {
    const vec_step *s = &v->step[si];
    switch (s->op) {
    case VEC_ACCESS: {
      uint64_t before[VEC_MAX_PTES + VEC_MAX_STEPS];
      for (uint32_t i = 0; i < ctx->written_count; i++)
        before[i] = *check_entry(ctx, ctx->written[i]);
      mmu_result r;
      memset(&r, 0, sizeof r);
      if (ctx->on_access)
        ctx->on_access(ctx->on_access_user, cpu, s, NULL, NULL);
      int status = path == CHECK_REFERENCE
                       ? mmu_reference_translate(cpu, s->a, s->access, &r, NULL)
                       : mmu_translate(cpu, s->a, s->access, &r);
      if (ctx->on_access)
        ctx->on_access(ctx->on_access_user, cpu, s, &status, &r);
      if (fill) {
        vec_step *fs = &fill->step[si];
        fs->expect = vec_outcome_of(status, &r);
        fs->ad_count = 0;
        for (uint32_t i = 0; i < ctx->written_count; i++) {
          uint64_t now = *check_entry(ctx, ctx->written[i]);
          if (now != before[i] && fs->ad_count == VEC_MAX_AD) {
            check_say(msg, msg_len, &used, "%s step %u: more than %d entries changed\n",
                      v->id, si, VEC_MAX_AD);
            return -1;
          }
          if (now != before[i]) {
            fs->ad[fs->ad_count].gpa = ctx->written[i];
            fs->ad[fs->ad_count].value = now;
            fs->ad_count++;
          }
        }
        break;
      }
      char got[64], want[64];
      check_outcome_text(got, sizeof got, status, &r);
      vec_outcome_text(want, sizeof want, &s->expect);
      int ok = vec_outcome_matches(&s->expect, status, &r);
      /* A/D: listed entries hold their new values, the rest are unchanged */
      for (uint32_t i = 0; ok && i < ctx->written_count; i++) {
        uint64_t now = *check_entry(ctx, ctx->written[i]), expect = before[i];
        for (uint32_t k = 0; k < s->ad_count; k++)
          if (s->ad[k].gpa == ctx->written[i])
            expect = s->ad[k].value;
        if (now != expect) {
          check_say(msg, msg_len, &used,
                    "%s step %u (%s %s 0x%llx): entry at 0x%llx is 0x%llx, "
                    "expected 0x%llx\n",
                    v->id, si, path == CHECK_REFERENCE ? "reference" : "translate",
                    vec_access_name(s->access), (unsigned long long)s->a,
                    (unsigned long long)ctx->written[i], (unsigned long long)now,
                    (unsigned long long)expect);
          ok = -1;
        }
      }
      if (ok == 0)
        check_say(msg, msg_len, &used,
                  "%s step %u (%s %s 0x%llx): got %s, expected %s\n", v->id, si,
                  path == CHECK_REFERENCE ? "reference" : "translate",
                  vec_access_name(s->access), (unsigned long long)s->a, got, want);
      if (ok != 1) {
        ctx->failed_step = si;
        if (v->departs[0])
          check_say(msg, msg_len, &used, "  (source departs: %s)\n", v->departs);
        check_trace(ctx, cpu, s->a, s->access, msg, msg_len, &used);
        return 0;
      }
      break;
    }
    case VEC_SET_PTE:
      if ((s->a & 7) || s->a > v->ram_size - 8) {
        check_say(msg, msg_len, &used, "%s: set-pte at 0x%llx is outside RAM\n",
                  v->id, (unsigned long long)s->a);
        return -1;
      }
      *check_entry(ctx, s->a) = s->b;
      check_remember(ctx, s->a);
      break;
    case VEC_INVLPG:
      mmu_invlpg(cpu, s->a);
      break;
    case VEC_INVPCID:
    case VEC_CR0:
    case VEC_CR3:
    case VEC_CR4:
    case VEC_EFER: {
      /* instructions that may #GP: the step says so with "-> gp" */
      int status = check_register_step(cpu, s);
      if (fill) {
        fill->step[si].expect.kind =
            status == MMU_GP_FAULT ? VEC_OUT_GP : VEC_OUT_NONE;
        break;
      }
      int want = s->expect.kind == VEC_OUT_GP ? MMU_GP_FAULT : MMU_OK;
      if (status != want) {
        check_say(msg, msg_len, &used,
                  "%s step %u (%s): the library says %s, the vector %s\n",
                  v->id, si, path == CHECK_REFERENCE ? "reference" : "translate",
                  mmu_status_name(status), want == MMU_OK ? "ok" : "#GP");
        ctx->failed_step = si;
        return 0;
      }
      break;
    }
    case VEC_PKRU:
      mmu_write_pkru(cpu, (uint32_t)s->a);
      break;
    case VEC_CPL:
      mmu_set_cpl(cpu, (unsigned)(s->a & 3));
      break;
    case VEC_AC:
      mmu_set_ac(cpu, s->a != 0);
      break;
    default:
      check_say(msg, msg_len, &used, "%s: unknown step kind\n", v->id);
      return -1;
    }
  }
  return 1;
}

int check_vector(check_ctx *ctx, const vec_vector *v, int path, char *msg,
                 size_t msg_len) {
  mmu_cpu cpu;
  return check_run(ctx, v, path, NULL, v->step_count, &cpu, msg, msg_len);
}

int check_run_until(check_ctx *ctx, const vec_vector *v, int path,
                    uint32_t until, mmu_cpu *cpu, char *msg, size_t msg_len) {
  return check_run(ctx, v, path, NULL, until, cpu, msg, msg_len);
}

int check_fill(check_ctx *ctx, vec_vector *v, int path, char *msg,
               size_t msg_len) {
  static vec_vector copy;
  copy = *v;
  mmu_cpu cpu;
  int rc = check_run(ctx, &copy, path, v, copy.step_count, &cpu, msg, msg_len);
  return rc < 0 ? rc : 1;
}
