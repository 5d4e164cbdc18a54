/* SPDX-License-Identifier: MIT */
/* vector.c - read and write conformance vectors in their text form
 * (SPEC.md section 8). The reader never allocates, never reads past the
 * buffer it is given, and reports the first problem as "line N: ...". */
#include "vector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mmu.h"

/* ---- a line cursor over a byte buffer ----------------------------------- */

typedef struct vec_cursor {
  const char *p, *end;
} vec_cursor;

static int vec_is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Next token of the line into tok (NUL-terminated, at most n-1 bytes).
 * Returns its length, 0 at the end of the line, -1 if it is too long. */
static int vec_token(vec_cursor *c, char *tok, size_t n) {
  while (c->p < c->end && vec_is_space(*c->p))
    c->p++;
  size_t len = 0;
  while (c->p < c->end && !vec_is_space(*c->p) && *c->p != '#') {
    if (len + 1 >= n)
      return -1;
    tok[len++] = *c->p++;
  }
  tok[len] = 0;
  return (int)len;
}

static int vec_set_error(vec_reader *r, const char *fmt, ...) {
  va_list ap;
  int k = snprintf(r->error, sizeof r->error, "line %lu: ", r->line);
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < sizeof r->error)
    vsnprintf(r->error + k, sizeof r->error - (size_t)k, fmt, ap);
  va_end(ap);
  return VEC_ERROR;
}

/* Strict unsigned parse: decimal or 0x-hex, the whole token, no overflow. */
static int vec_parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (!*s)
    return 0;
  for (; *s; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = (unsigned)(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f')
      d = (unsigned)(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F')
      d = (unsigned)(*s - 'A' + 10);
    else
      return 0;
    if (v > (UINT64_MAX - d) / (uint64_t)base)
      return 0;
    v = v * (uint64_t)base + d;
  }
  *out = v;
  return 1;
}

/* "key=value" with a numeric value. */
static int vec_parse_kv(const char *tok, const char *key, uint64_t *out) {
  size_t k = strlen(key);
  return strncmp(tok, key, k) == 0 && tok[k] == '=' &&
         vec_parse_u64(tok + k + 1, out);
}

/* ---- pieces of a vector ------------------------------------------------- */

static const struct {
  const char *name;
  unsigned access;
} vec_access_names[] = {
    {"read", MMU_READ},
    {"write", MMU_WRITE},
    {"fetch", MMU_FETCH},
    {"read+implicit", MMU_READ | MMU_IMPLICIT},
    {"write+implicit", MMU_WRITE | MMU_IMPLICIT},
};

static const struct {
  const char *name;
  vec_op op;
  int args; /* numeric arguments that follow */
} vec_op_names[] = {
    {"set-pte", VEC_SET_PTE, 2}, {"invlpg", VEC_INVLPG, 1},
    {"invpcid", VEC_INVPCID, 3}, {"cr0", VEC_CR0, 1},
    {"cr3", VEC_CR3, 1},         {"cr4", VEC_CR4, 1},
    {"efer", VEC_EFER, 1},       {"pkru", VEC_PKRU, 1},
    {"cpl", VEC_CPL, 1},         {"ac", VEC_AC, 1},
};

const char *vec_access_name(unsigned access) {
  for (size_t i = 0; i < sizeof vec_access_names / sizeof vec_access_names[0];
       i++)
    if (vec_access_names[i].access == access)
      return vec_access_names[i].name;
  return "?";
}

static const char *vec_op_name(vec_op op) {
  for (size_t i = 0; i < sizeof vec_op_names / sizeof vec_op_names[0]; i++)
    if (vec_op_names[i].op == op)
      return vec_op_names[i].name;
  return "?";
}

/* Register writes and INVPCID: the steps that may end in #GP. */
static int vec_may_gp(vec_op op) {
  return op == VEC_INVPCID || op == VEC_CR0 || op == VEC_CR3 ||
         op == VEC_CR4 || op == VEC_EFER;
}

/* "-> ok PA" | "-> pf EC cr2=X" | "-> gp" | "-> ept-violation QUAL gpa=X" |
 * "-> ept-misconfig gpa=X" | "-> npf EXITINFO1 gpa=X", after the arrow or
 * "observed". */
static int vec_parse_outcome(vec_reader *r, vec_cursor *c, vec_outcome *o) {
  char tok[64];
  uint64_t v;
  if (vec_token(c, tok, sizeof tok) <= 0)
    return vec_set_error(r, "expected an outcome: ok, pf, gp, ept-violation, "
                            "ept-misconfig or npf");
  memset(o, 0, sizeof *o);
  if (strcmp(tok, "ok") == 0) {
    if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &v))
      return vec_set_error(r, "ok needs a physical address");
    o->kind = VEC_OUT_OK;
    o->pa_or_cr2 = v;
  } else if (strcmp(tok, "pf") == 0) {
    if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &v) ||
        v > 0xFFFFFFFFu)
      return vec_set_error(r, "pf needs an error code");
    o->error_code = (uint32_t)v;
    if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_kv(tok, "cr2", &v))
      return vec_set_error(r, "pf needs cr2=ADDRESS");
    o->kind = VEC_OUT_PF;
    o->pa_or_cr2 = v;
  } else if (strcmp(tok, "gp") == 0) {
    o->kind = VEC_OUT_GP;
  } else if (strcmp(tok, "ept-violation") == 0 || strcmp(tok, "npf") == 0 ||
             strcmp(tok, "ept-misconfig") == 0) {
    o->kind = tok[0] == 'n'      ? VEC_OUT_NPF
              : tok[4] == 'v'    ? VEC_OUT_EPT_VIOLATION
                                 : VEC_OUT_EPT_MISCONFIG;
    if (o->kind != VEC_OUT_EPT_MISCONFIG &&
        (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &o->qual)))
      return vec_set_error(r, "%s needs its exit qualification",
                           o->kind == VEC_OUT_NPF ? "npf" : "ept-violation");
    if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_kv(tok, "gpa", &o->gpa))
      return vec_set_error(r, "a nested exit needs gpa=ADDRESS");
  } else {
    return vec_set_error(r, "unknown outcome '%s'", tok);
  }
  return VEC_OK;
}

static int vec_line_end(vec_reader *r, vec_cursor *c) {
  char tok[8];
  int n = vec_token(c, tok, sizeof tok);
  if (n != 0)
    return vec_set_error(r, "unexpected text at the end of the line");
  return VEC_OK;
}

static int vec_parse_step(vec_reader *r, vec_cursor *c, vec_vector *v) {
  char tok[64];
  if (v->step_count >= VEC_MAX_STEPS)
    return vec_set_error(r, "more than %d steps", VEC_MAX_STEPS);
  vec_step *s = &v->step[v->step_count];
  memset(s, 0, sizeof *s);
  if (vec_token(c, tok, sizeof tok) <= 0)
    return vec_set_error(r, "step needs an operation");
  for (size_t i = 0; i < sizeof vec_access_names / sizeof vec_access_names[0];
       i++) {
    if (strcmp(tok, vec_access_names[i].name) != 0)
      continue;
    s->op = VEC_ACCESS;
    s->access = vec_access_names[i].access;
    if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &s->a))
      return vec_set_error(r, "access needs a linear address");
    if (vec_token(c, tok, sizeof tok) <= 0 || strcmp(tok, "->") != 0)
      return vec_set_error(r, "expected '->' and the outcome");
    int rc = vec_parse_outcome(r, c, &s->expect);
    if (rc != VEC_OK)
      return rc;
    v->step_count++;
    return vec_line_end(r, c);
  }
  for (size_t i = 0; i < sizeof vec_op_names / sizeof vec_op_names[0]; i++) {
    if (strcmp(tok, vec_op_names[i].name) != 0)
      continue;
    uint64_t *args[3] = {&s->a, &s->b, &s->c};
    s->op = vec_op_names[i].op;
    for (int k = 0; k < vec_op_names[i].args; k++)
      if (vec_token(c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, args[k]))
        return vec_set_error(r, "%s needs %d numbers", vec_op_names[i].name,
                             vec_op_names[i].args);
    /* an instruction that may #GP says so: "-> gp" (else it succeeds) */
    vec_cursor after = *c;
    if (vec_token(&after, tok, sizeof tok) > 0 && strcmp(tok, "->") == 0) {
      if (!vec_may_gp(s->op))
        return vec_set_error(r, "%s has no outcome", vec_op_names[i].name);
      *c = after;
      int rc = vec_parse_outcome(r, c, &s->expect);
      if (rc != VEC_OK)
        return rc;
      if (s->expect.kind != VEC_OUT_GP)
        return vec_set_error(r, "%s can only end in '-> gp'",
                             vec_op_names[i].name);
    }
    v->step_count++;
    return vec_line_end(r, c);
  }
  return vec_set_error(r, "unknown step '%s'", tok);
}

/* Rest of the line as text (after one space), for departs/meta lines. */
static int vec_rest(vec_reader *r, vec_cursor *c, char *dst, size_t n) {
  while (c->p < c->end && vec_is_space(*c->p))
    c->p++;
  size_t len = 0;
  while (c->p + len < c->end && c->p[len] != '#') /* '#' starts a comment */
    len++;
  while (len && vec_is_space(c->p[len - 1]))
    len--;
  if (len == 0)
    return vec_set_error(r, "missing text");
  if (len >= n)
    return vec_set_error(r, "text longer than %u bytes", (unsigned)(n - 1));
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)c->p[i] < 0x20 && c->p[i] != '\t')
      return vec_set_error(r, "control character in text");
  memcpy(dst, c->p, len);
  dst[len] = 0;
  c->p = c->end;
  return VEC_OK;
}

/* ---- the reader --------------------------------------------------------- */

void vec_reader_init(vec_reader *r, const char *text, size_t len) {
  memset(r, 0, sizeof *r);
  r->text = text;
  r->len = len;
}

int vec_read(vec_reader *r, vec_vector *v) {
  int in_vector = 0;
  unsigned seen = 0; /* lines that may appear once, already read */
  vec_step *last_access = NULL;
  char tok[64];

  while (r->pos < r->len) {
    const char *start = r->text + r->pos;
    const char *nl = memchr(start, '\n', r->len - r->pos);
    const char *end = nl ? nl : r->text + r->len;
    r->pos = (size_t)(end - r->text) + (nl ? 1 : 0);
    r->line++;
    for (const char *q = start; q < end; q++)
      if (*q == 0)
        return vec_set_error(r, "NUL byte");
    vec_cursor c = {start, end};
    int n = vec_token(&c, tok, sizeof tok);
    if (n < 0)
      return vec_set_error(r, "token too long");
    if (n == 0)
      continue; /* blank or comment */

    if (!r->seen_header) {
      uint64_t version;
      if (strcmp(tok, "mmu-vectors") != 0 || vec_token(&c, tok, sizeof tok) <= 0 ||
          !vec_parse_u64(tok, &version))
        return vec_set_error(r, "file must start with 'mmu-vectors 1'");
      if (version != 1)
        return vec_set_error(r, "unsupported format version %llu",
                             (unsigned long long)version);
      r->seen_header = 1;
      int rc = vec_line_end(r, &c);
      if (rc != VEC_OK)
        return rc;
      continue;
    }

    if (!in_vector) {
      if (strcmp(tok, "vector") == 0) {
        memset(v, 0, sizeof *v);
        v->maxphyaddr = 52;
        v->ram_size = 64ull << 20;
        int rc = vec_rest(r, &c, v->id, sizeof v->id);
        if (rc != VEC_OK)
          return rc;
        in_vector = 1;
        r->vector_line = r->line;
        last_access = NULL;
        seen = 0;
      } else if (strcmp(tok, "source") == 0) {
        int rc = vec_rest(r, &c, r->source, sizeof r->source);
        if (rc != VEC_OK)
          return rc;
      } else if (strcmp(tok, "meta") == 0) {
        char ignored[2048]; /* kept for people: versions, CPUID, capabilities */
        int rc = vec_rest(r, &c, ignored, sizeof ignored);
        if (rc != VEC_OK)
          return rc;
      } else {
        return vec_set_error(r, "expected 'vector', 'source' or 'meta', got '%s'", tok);
      }
      continue;
    }

    int rc = VEC_OK;
    uint64_t x;
    /* category, departs, config, regs and nested may each appear once */
    static const char *const once[] = {"category", "departs", "config", "regs",
                                       "nested"};
    for (unsigned k = 0; k < 5; k++)
      if (strcmp(tok, once[k]) == 0) {
        if (seen & (1u << k))
          return vec_set_error(r, "second '%s' line in vector '%s'", once[k], v->id);
        seen |= 1u << k;
      }
    if (strcmp(tok, "end") == 0) {
      rc = vec_line_end(r, &c);
      if (rc != VEC_OK)
        return rc;
      if (v->step_count == 0)
        return vec_set_error(r, "vector '%s' has no steps", v->id);
      r->count++;
      return VEC_OK;
    } else if (strcmp(tok, "category") == 0) {
      rc = vec_rest(r, &c, v->category, sizeof v->category);
    } else if (strcmp(tok, "departs") == 0) {
      rc = vec_rest(r, &c, v->departs, sizeof v->departs);
    } else if (strcmp(tok, "config") == 0) {
      while ((n = vec_token(&c, tok, sizeof tok)) > 0) {
        if (vec_parse_kv(tok, "maxphyaddr", &x) && x >= 36 && x <= 52)
          v->maxphyaddr = (uint32_t)x;
        else if (vec_parse_kv(tok, "flags", &x) && x <= 7)
          v->flags = (uint32_t)x;
        else if (vec_parse_kv(tok, "ram", &x) && x > 0 && (x & 0xFFF) == 0 &&
                 x <= VEC_MAX_RAM)
          v->ram_size = x;
        else
          return vec_set_error(r, "bad config item '%s'", tok);
      }
      if (n < 0)
        return vec_set_error(r, "token too long");
    } else if (strcmp(tok, "regs") == 0) {
      while ((n = vec_token(&c, tok, sizeof tok)) > 0) {
        if (vec_parse_kv(tok, "cr0", &x))
          v->cr0 = x;
        else if (vec_parse_kv(tok, "cr3", &x))
          v->cr3 = x;
        else if (vec_parse_kv(tok, "cr4", &x))
          v->cr4 = x;
        else if (vec_parse_kv(tok, "efer", &x))
          v->efer = x;
        else if (vec_parse_kv(tok, "pkru", &x) && x <= 0xFFFFFFFFu)
          v->pkru = (uint32_t)x;
        else if (vec_parse_kv(tok, "cpl", &x) && x <= 3)
          v->cpl = (uint32_t)x;
        else if (vec_parse_kv(tok, "ac", &x) && x <= 1)
          v->ac = (uint32_t)x;
        else
          return vec_set_error(r, "bad register item '%s'", tok);
      }
      if (n < 0)
        return vec_set_error(r, "token too long");
    } else if (strcmp(tok, "nested") == 0) {
      if (vec_token(&c, tok, sizeof tok) <= 0 ||
          (strcmp(tok, "ept") != 0 && strcmp(tok, "npt") != 0))
        return vec_set_error(r, "nested needs ept or npt");
      v->nested_kind = tok[0] == 'e' ? MMU_NESTED_EPT : MMU_NESTED_NPT;
      while ((n = vec_token(&c, tok, sizeof tok)) > 0) {
        if (vec_parse_kv(tok, "root", &x))
          v->nested_root = x;
        else if (vec_parse_kv(tok, "flags", &x) && x <= 0xFFFFFFFFu)
          v->nested_flags = (uint32_t)x;
        else
          return vec_set_error(r, "bad nested item '%s'", tok);
      }
      if (n < 0)
        return vec_set_error(r, "token too long");
    } else if (strcmp(tok, "pte") == 0) {
      uint64_t gpa, val;
      if (v->pte_count >= VEC_MAX_PTES)
        return vec_set_error(r, "more than %d pte lines", VEC_MAX_PTES);
      if (vec_token(&c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &gpa) ||
          vec_token(&c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &val))
        return vec_set_error(r, "pte needs a physical address and a value");
      if (gpa & 7)
        return vec_set_error(r, "pte address not 8-byte aligned");
      v->pte[v->pte_count].gpa = gpa;
      v->pte[v->pte_count].value = val;
      v->pte_count++;
      rc = vec_line_end(r, &c);
    } else if (strcmp(tok, "step") == 0) {
      rc = vec_parse_step(r, &c, v);
      if (rc == VEC_OK)
        last_access = v->step[v->step_count - 1].op == VEC_ACCESS
                          ? &v->step[v->step_count - 1]
                          : NULL;
    } else if (strcmp(tok, "observed") == 0) {
      if (!last_access)
        return vec_set_error(r, "observed must follow an access step");
      rc = vec_parse_outcome(r, &c, &last_access->observed);
      if (rc == VEC_OK)
        rc = vec_line_end(r, &c);
    } else if (strcmp(tok, "ad") == 0) {
      uint64_t gpa, val;
      if (!last_access)
        return vec_set_error(r, "ad must follow an access step");
      if (last_access->ad_count >= VEC_MAX_AD)
        return vec_set_error(r, "more than %d ad lines for one step", VEC_MAX_AD);
      if (vec_token(&c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &gpa) ||
          vec_token(&c, tok, sizeof tok) <= 0 || !vec_parse_u64(tok, &val))
        return vec_set_error(r, "ad needs a physical address and a value");
      last_access->ad[last_access->ad_count].gpa = gpa;
      last_access->ad[last_access->ad_count].value = val;
      last_access->ad_count++;
      rc = vec_line_end(r, &c);
    } else {
      return vec_set_error(r, "unknown line '%s' in vector '%s'", tok, v->id);
    }
    if (rc != VEC_OK)
      return rc;
  }
  if (!r->seen_header && r->line == 0)
    return vec_set_error(r, "empty input");
  if (in_vector)
    return vec_set_error(r, "vector '%s' has no 'end'", v->id);
  return VEC_EOF;
}

const char *vec_error_text(const vec_reader *r) {
  const char *colon = strstr(r->error, ": ");
  return strncmp(r->error, "line ", 5) == 0 && colon ? colon + 2 : r->error;
}

/* ---- the writer --------------------------------------------------------- */

vec_outcome vec_outcome_of(int status, const mmu_result *r) {
  vec_outcome o;
  memset(&o, 0, sizeof o);
  switch (status) {
  case MMU_OK:
    o.kind = VEC_OUT_OK;
    o.pa_or_cr2 = r->paddr;
    break;
  case MMU_PAGE_FAULT:
    o.kind = VEC_OUT_PF;
    o.error_code = r->error_code;
    o.pa_or_cr2 = r->cr2;
    break;
  case MMU_GP_FAULT:
    o.kind = VEC_OUT_GP;
    break;
  case MMU_EPT_VIOLATION:
  case MMU_NPF:
    o.kind = status == MMU_NPF ? VEC_OUT_NPF : VEC_OUT_EPT_VIOLATION;
    o.qual = r->exit_qual;
    o.gpa = r->gpa;
    break;
  case MMU_EPT_MISCONFIG:
    o.kind = VEC_OUT_EPT_MISCONFIG;
    o.gpa = r->gpa;
    break;
  default:
    break;
  }
  return o;
}

int vec_outcome_matches(const vec_outcome *o, int status, const mmu_result *r) {
  vec_outcome got = vec_outcome_of(status, r);
  return o->kind != VEC_OUT_NONE && got.kind == o->kind &&
         got.pa_or_cr2 == o->pa_or_cr2 && got.error_code == o->error_code &&
         got.qual == o->qual && got.gpa == o->gpa;
}

void vec_outcome_text(char *buf, size_t n, const vec_outcome *o) {
  switch (o->kind) {
  case VEC_OUT_OK:
    snprintf(buf, n, "ok 0x%llx", (unsigned long long)o->pa_or_cr2);
    break;
  case VEC_OUT_PF:
    snprintf(buf, n, "pf 0x%x cr2=0x%llx", o->error_code,
             (unsigned long long)o->pa_or_cr2);
    break;
  case VEC_OUT_GP:
    snprintf(buf, n, "gp");
    break;
  case VEC_OUT_EPT_VIOLATION:
  case VEC_OUT_NPF:
    snprintf(buf, n, "%s 0x%llx gpa=0x%llx",
             o->kind == VEC_OUT_NPF ? "npf" : "ept-violation",
             (unsigned long long)o->qual, (unsigned long long)o->gpa);
    break;
  case VEC_OUT_EPT_MISCONFIG:
    snprintf(buf, n, "ept-misconfig gpa=0x%llx", (unsigned long long)o->gpa);
    break;
  default:
    snprintf(buf, n, "none");
    break;
  }
}

static void vec_write_outcome(FILE *f, const vec_outcome *o) {
  char text[96];
  vec_outcome_text(text, sizeof text, o);
  fputs(text, f);
}

void vec_write(FILE *f, const vec_vector *v) {
  fprintf(f, "vector %s\n", v->id);
  if (v->category[0])
    fprintf(f, "category %s\n", v->category);
  if (v->departs[0])
    fprintf(f, "departs %s\n", v->departs);
  fprintf(f, "config maxphyaddr=%u flags=0x%x ram=0x%llx\n", v->maxphyaddr,
          v->flags, (unsigned long long)v->ram_size);
  fprintf(f, "regs cr0=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx pkru=0x%x cpl=%u ac=%u\n",
          (unsigned long long)v->cr0, (unsigned long long)v->cr3,
          (unsigned long long)v->cr4, (unsigned long long)v->efer, v->pkru,
          v->cpl, v->ac);
  if (v->nested_kind != MMU_NESTED_OFF)
    fprintf(f, "nested %s root=0x%llx flags=0x%x\n",
            v->nested_kind == MMU_NESTED_EPT ? "ept" : "npt",
            (unsigned long long)v->nested_root, v->nested_flags);
  for (uint32_t i = 0; i < v->pte_count; i++)
    fprintf(f, "pte 0x%llx 0x%llx\n", (unsigned long long)v->pte[i].gpa,
            (unsigned long long)v->pte[i].value);
  for (uint32_t i = 0; i < v->step_count; i++) {
    const vec_step *s = &v->step[i];
    if (s->op == VEC_ACCESS) {
      fprintf(f, "step %s 0x%llx -> ", vec_access_name(s->access),
              (unsigned long long)s->a);
      vec_write_outcome(f, &s->expect);
      fputc('\n', f);
      if (s->observed.kind != VEC_OUT_NONE) {
        fprintf(f, "observed ");
        vec_write_outcome(f, &s->observed);
        fputc('\n', f);
      }
      for (uint32_t k = 0; k < s->ad_count; k++)
        fprintf(f, "ad 0x%llx 0x%llx\n", (unsigned long long)s->ad[k].gpa,
                (unsigned long long)s->ad[k].value);
    } else {
      fprintf(f, "step %s", vec_op_name(s->op));
      const uint64_t args[3] = {s->a, s->b, s->c};
      int nargs = s->op == VEC_SET_PTE ? 2 : s->op == VEC_INVPCID ? 3 : 1;
      for (int k = 0; k < nargs; k++)
        fprintf(f, " 0x%llx", (unsigned long long)args[k]);
      fputs(s->expect.kind == VEC_OUT_GP ? " -> gp\n" : "\n", f);
    }
  }
  fprintf(f, "end\n\n");
}
