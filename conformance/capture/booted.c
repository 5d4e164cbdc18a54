/* SPDX-License-Identifier: MIT */
/* booted.c - what qemu.c and bochs.c share (booted.h): the plan of a
 * vector as harness commands, the RAM pattern, the parse of its results,
 * and batches run in chunks through the source's transport (booted_ops).
 *
 * Physical addresses: every 8-byte cell of RAM at or above H_END that the
 * plan gives the pattern holds booted_pattern_of(its address). Each of its
 * bytes is an opcode that raises #UD in 64-bit mode (so a fetch anywhere
 * stops at once), and byte 5 has bit 4 clear (so a descriptor read from it
 * is a system descriptor: the segment load raises #GP(selector) and never
 * writes the accessed bit back). After an access that did not fault, the
 * guest reads the neighbouring cell ((va & ~7) ^ 8, same page) at CPL 0
 * with AC = 1 and PKRU = 0 and the host decodes it. Writes store the byte
 * the host expects to be there and the guest rewrites the cell's pattern
 * afterwards.
 *
 * The host predicts each vector with the library's reference walker (only
 * to decide which pages must hold the pattern and which must be zero for
 * paging structures, and what byte a write stores); every recorded
 * outcome comes from the emulator. */
#define _GNU_SOURCE
#include "booted.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MMU_STATIC
#define MMU_IMPLEMENTATION
#include "../../include/mmu.h"
#include "../gen.h"
#include "qguest/qlayout.h"

#define MAX_PAGES 256 /* pages one vector touches */
#define PG_PATTERN BOOTED_PG_PATTERN
#define PG_TABLE BOOTED_PG_TABLE
#define PG_UNKNOWN BOOTED_PG_UNKNOWN

enum { ST_PENDING = 1, ST_SOLO = 2 }; /* internal status before the end */

typedef booted_inst inst;

static const uint8_t SYM16[16] = {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e,
                                  0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60,
                                  0x61, 0xd4, 0xd5, 0xce};
static const uint8_t SYM8[8] = {0x06, 0x07, 0x0e, 0x27, 0x2f, 0x60, 0x61, 0xce};

typedef struct booted_pend { /* a vector planned into the current chunk */
  size_t vi;
  uint64_t resoff;
  unsigned nmon;
  uint64_t mon[MAX_WATCH];
  uint64_t pred[VEC_MAX_STEPS]; /* predicted pa of OK accesses, or ~0 */
} pend;

typedef struct pred_ctx { /* the vector's memory, for the prediction */
  uint64_t gpa[VEC_MAX_PTES + VEC_MAX_STEPS], val[VEC_MAX_PTES + VEC_MAX_STEPS];
  unsigned n;
  uint64_t rd[MAX_PAGES]; /* pages of entries the walks read */
  unsigned nrd;
  int overflow;
} pred_ctx;

void booted_set_err(booted *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof p->err, fmt, ap);
  va_end(ap);
}

int booted_init(booted *p, const booted_ops *ops, const capture_source *src,
                uint64_t ram_size) {
  p->ops = ops;
  p->src = src;
  p->ram_size = ram_size;
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  p->tlb_bytes = mmu_tlb_storage_size(&cfg);
  p->tlb = calloc(1, p->tlb_bytes);
  p->cappd = 4096;
  p->pd = calloc(p->cappd, sizeof *p->pd);
  p->cmd = calloc(H_CMD_SIZE / 8, 8);
  return p->tlb && p->pd && p->cmd ? 0 : ENOMEM;
}

void booted_fini(booted *p) {
  capture_reasons_free(&p->reasons);
  free(p->tlb);
  free(p->pd);
  free(p->cmd);
  p->tlb = NULL;
  p->pd = NULL;
  p->cmd = NULL;
}

int booted_open(booted *p, const char *tag, const unsigned char *image,
                const unsigned char *end) {
  int e = capture_image_open(&p->img, image, end);
  if (e)
    return e;
  const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(p->tmpdir, sizeof p->tmpdir, "%s/%.16s-cap-XXXXXX", shm, tag);
  if (!mkdtemp(p->tmpdir)) {
    p->tmpdir[0] = 0;
    return errno;
  }
  snprintf(p->rompath, sizeof p->rompath, "%.255s/reset.rom", p->tmpdir);
  return 0;
}

int booted_write_rom(booted *p) {
  static uint8_t rom[0x10000];
  memset(rom, 0, sizeof rom);
  /* reset vector: ljmp 0x1000:0x0000 (H_CODE) */
  static const uint8_t jmp[5] = {0xea, 0x00, 0x00, H_CODE >> 4 & 0xff,
                                 H_CODE >> 12 & 0xff};
  memcpy(rom + sizeof rom - 16, jmp, sizeof jmp);
  int e = booted_write_file(p->rompath, rom, sizeof rom);
  if (e)
    booted_set_err(p, "write %s: %s", p->rompath, strerror(e));
  return e;
}

_Static_assert(MB_CPUID + 16 * CPUID_N <= MB_VMX, "CPUID overlaps MB_VMX");

int booted_stage_commands(uint8_t *mem, const uint64_t *cmd, size_t nquads,
                          uint64_t reslen) {
  if (nquads * 8 > H_CMD_SIZE || reslen > H_RES_SIZE)
    return -EINVAL;
  memcpy(mem + H_CMD, cmd, nquads * 8);
  memset(mem + H_MBOX + MB_PANIC, 0, 32);
  return 0;
}

void booted_take_results(const uint8_t *mem, uint64_t reslen, uint8_t *res,
                         uint64_t panic[4]) {
  memcpy(res, mem + H_RES, reslen);
  for (int i = 0; i < 4; i++)
    panic[i] = cap_rd64(mem, H_MBOX + MB_PANIC + 8 * i);
}

void booted_read_cpuid(booted *p, const uint8_t *mem) {
  for (int i = 0; i < CPUID_N; i++)
    for (int j = 0; j < 4; j++) {
      uint32_t x;
      memcpy(&x, mem + H_MBOX + MB_CPUID + 16 * i + 4 * j, 4);
      p->cpuid[i][j] = x;
    }
  for (int i = 0; i < MBV_N; i++)
    memcpy(&p->vmx_msr[i], mem + H_MBOX + MB_VMX + 8 * i, 8);
  p->have_cpuid = 1;
  capture_cpu_decode((const uint32_t(*)[4])p->cpuid, &p->cpu);
}

/* What the VMX capability MSRs offer for nested paging: the secondary
 * processor-based controls' allowed-1 bits (EPT, VPID, unrestricted guest,
 * mode-based execute control) and IA32_VMX_EPT_VPID_CAP, raw and by name. */
static void describe_vmx(const booted *p, char *buf, size_t n) {
  const uint64_t *m = p->vmx_msr;
  uint64_t rd = m[MBV_READ], p2 = m[MBV_PROC2] >> 32;
  uint64_t cap = rd & 4 ? m[MBV_EPTVPID] : 0;
  if (!(rd & 1)) {
    snprintf(buf, n, "vmx-msrs=unread");
    return;
  }
  static const struct {
    int bit;
    const char *name;
  } caps[] = {{0, "x-only"},     {6, "pwl4"},          {7, "pwl5"},
              {8, "uc"},         {14, "wb"},           {16, "2m"},
              {17, "1g"},        {20, "invept"},       {21, "ad"},
              {22, "adv-exit"},  {23, "sss"},          {25, "invept-single"},
              {26, "invept-all"}, {32, "invvpid"},     {40, "invvpid-addr"},
              {41, "invvpid-single"}, {42, "invvpid-all"}, {43, "invvpid-sg"}};
  int k = snprintf(buf, n, "feature-control=%#llx procbased2=%#llx ept=%d "
                   "vpid=%d ug=%d mbec=%d ept-vpid-cap=%#llx (",
                   (unsigned long long)m[MBV_FEATCTL],
                   (unsigned long long)m[MBV_PROC2], (int)(p2 >> 1 & 1),
                   (int)(p2 >> 5 & 1), (int)(p2 >> 7 & 1), (int)(p2 >> 22 & 1),
                   (unsigned long long)cap);
  const char *sep = "";
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    if (cap >> caps[i].bit & 1 && k >= 0 && (size_t)k < n) {
      k += snprintf(buf + k, n - (size_t)k, "%s%s", sep, caps[i].name);
      sep = ",";
    }
  if (k >= 0 && (size_t)k < n)
    snprintf(buf + k, n - (size_t)k, ")");
}

void booted_describe_cpu(const booted *p, char *buf, size_t n) {
  const capture_cpu *c = &p->cpu;
  char vmx[512] = "";
  if (c->vmx)
    describe_vmx(p, vmx, sizeof vmx);
  snprintf(buf, n, "cpu %s \"%s\" family %#x model %#x stepping %u; cpuid: "
           "nx=%d la57=%d pdpe1gb=%d pku=%d pcid=%d invpcid=%d smep=%d "
           "smap=%d maxphyaddr=%u vmx=%d svm=%d npt=%d svm-features=%#x%s%s",
           c->vendor, c->brand, c->family, c->model, c->stepping, c->nx,
           c->la57, c->pdpe1gb, c->pku, c->pcid, c->invpcid, c->smep, c->smap,
           c->maxphyaddr, c->vmx, c->svm, c->npt, c->svm_features,
           vmx[0] ? "; " : "", vmx);
}

const char *booted_why(const booted *p, size_t i) {
  return p->reasons.n ? capture_reason_of(&p->reasons, i) : p->err;
}

void booted_close(booted *p) {
  if (p->rompath[0])
    unlink(p->rompath);
  if (p->tmpdir[0])
    rmdir(p->tmpdir);
  booted_fini(p);
}

/* ---- processes and files ------------------------------------------------- */

int64_t booted_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double booted_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* Read from fd until EOF or timeout; returns bytes read or -1. */
ssize_t booted_read_timeout(int fd, char *buf, size_t n, int ms) {
  size_t got = 0;
  int64_t end = booted_now_ms() + ms;
  while (got + 1 < n) {
    int left = (int)(end - booted_now_ms());
    if (left <= 0)
      return -1;
    struct pollfd pf = {fd, POLLIN, 0};
    int r = poll(&pf, 1, left);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0)
      return -1;
    ssize_t k = read(fd, buf + got, n - 1 - got);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return -1;
    }
    if (k == 0)
      break;
    got += (size_t)k;
  }
  buf[got] = 0;
  return (ssize_t)got;
}

int booted_write_file(const char *path, const void *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno;
  const char *c = data;
  while (n) {
    ssize_t k = write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      close(fd);
      return e;
    }
    c += k;
    n -= (size_t)k;
  }
  if (close(fd) < 0)
    return errno;
  return 0;
}

/* ---- processes ------------------------------------------------------------ */

int booted_find_exe(const char *var, const char *name, char *out, size_t n) {
  const char *env = getenv(var);
  if (env && *env) {
    if (access(env, X_OK) != 0)
      return errno;
    snprintf(out, n, "%s", env);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    if (len > 0 && len < n - 32) {
      char cand[PATH_MAX];
      snprintf(cand, sizeof cand, "%.*s/%s", (int)len, path, name);
      if (access(cand, X_OK) == 0) {
        snprintf(out, n, "%s", cand);
        return 0;
      }
    }
    if (!colon)
      break;
    path = colon + 1;
  }
  return ENOENT;
}

pid_t booted_spawn(char *const argv[], const char *inpath, int *out_fd,
                   const char *errpath) {
  int pfd[2] = {-1, -1};
  if (out_fd && pipe2(pfd, O_CLOEXEC) < 0)
    return -1;
  int errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (errfd < 0) {
    int e = errno;
    if (out_fd) {
      close(pfd[0]);
      close(pfd[1]);
    }
    errno = e;
    return -1;
  }
  int nullfd = open(inpath ? inpath : "/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd < 0) {
    int e = errno;
    close(errfd);
    if (out_fd) {
      close(pfd[0]);
      close(pfd[1]);
    }
    errno = e;
    return -1;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* child: only async-signal-safe calls */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    if (dup2(nullfd, 0) < 0 || dup2(out_fd ? pfd[1] : errfd, 1) < 0 ||
        dup2(errfd, 2) < 0)
      _exit(127);
    close_range(3, ~0u, 0); /* nothing of ours leaks into the emulator */
    execv(argv[0], argv);
    _exit(127);
  }
  int e = errno;
  close(nullfd);
  close(errfd);
  if (out_fd)
    close(pfd[1]);
  if (pid < 0) {
    if (out_fd)
      close(pfd[0]);
    errno = e;
    return -1;
  }
  if (out_fd)
    *out_fd = pfd[0];
  return pid;
}

void booted_reap(pid_t pid, int *status) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (status)
    *status = st;
}

void booted_build_harness(booted *p, uint8_t *mem) {
  const uint64_t PWA = MMU_PTE_P | MMU_PTE_W | MMU_PTE_A;
  capture_build_harness(mem, p->ram_size, &p->img);
  cap_wr64(mem, H_GDT + SEL_KCODE32, 0x00cf9a000000ffffull);
  cap_wr64(mem, H_PML4 + 0, H_PDPT_ID | PWA);
  cap_wr64(mem, H_PDPT_ID + 0, H_PD_ID | PWA);
  cap_wr64(mem, H_PD_ID + 0, H_PT0 | PWA);
  cap_wr64(mem, H_PML5 + 0, H_PML4 | PWA);

  memcpy(mem + H_SYM16, SYM16, 16);
  memcpy(mem + H_SYM8, SYM8, 8);
  memset(mem + H_INV16, 0xff, 256);
  memset(mem + H_INV8, 0xff, 256);
  for (int k = 0; k < 16; k++)
    mem[H_INV16 + SYM16[k]] = (uint8_t)k;
  for (int k = 0; k < 8; k++)
    mem[H_INV8 + SYM8[k]] = (uint8_t)k;
}

void booted_first_line(const char *path, char *buf, size_t n) {
  buf[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t k = read(fd, buf, n - 1);
  close(fd);
  if (k < 0)
    k = 0;
  buf[k] = 0;
  for (char *c = buf; *c; c++)
    if (*c == '\n')
      *c = ' ';
}

/* ---- the RAM pattern ------------------------------------------------------ */

uint64_t booted_pattern_of(uint64_t gpa) {
  uint64_t w = gpa >> 3;
  uint8_t b[8];
  b[0] = SYM16[w & 15];
  b[1] = SYM16[(w >> 4) & 15];
  b[2] = SYM16[(w >> 8) & 15];
  b[3] = SYM16[(w >> 12) & 15];
  b[4] = SYM16[(w >> 16) & 15];
  b[6] = SYM16[(w >> 20) & 15];
  b[7] = SYM16[(w >> 24) & 15];
  b[5] = SYM8[(w >> 28) & 7];
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | b[i];
  return v;
}

/* the address whose pattern v is, or UINT64_MAX */
static uint64_t pattern_decode(uint64_t v) {
  static const int pos[7] = {0, 1, 2, 3, 4, 6, 7};
  uint64_t w = 0;
  for (int j = 0; j < 7; j++) {
    uint8_t b = (uint8_t)(v >> (8 * pos[j]));
    int nib = -1;
    for (int k = 0; k < 16; k++)
      if (SYM16[k] == b)
        nib = k;
    if (nib < 0)
      return UINT64_MAX;
    w |= (uint64_t)nib << (4 * j);
  }
  uint8_t b5 = (uint8_t)(v >> 40);
  int t = -1;
  for (int k = 0; k < 8; k++)
    if (SYM8[k] == b5)
      t = k;
  if (t < 0)
    return UINT64_MAX;
  w |= (uint64_t)t << 28;
  return w << 3;
}


/* ---- planning one vector ------------------------------------------------- */

static int pc_find(pred_ctx *c, uint64_t gpa) {
  for (unsigned i = 0; i < c->n; i++)
    if (c->gpa[i] == gpa)
      return (int)i;
  return -1;
}

static int pc_set(pred_ctx *c, uint64_t gpa, uint64_t val) {
  int i = pc_find(c, gpa);
  if (i < 0) {
    if (c->n >= VEC_MAX_PTES + VEC_MAX_STEPS)
      return -1;
    i = (int)c->n++;
    c->gpa[i] = gpa;
  }
  c->val[i] = val;
  return 0;
}

static int pc_read(void *u, uint64_t gpa, uint64_t *value) {
  pred_ctx *c = u;
  if (cap_add_unique(c->rd, &c->nrd, MAX_PAGES, gpa & ~0xfffull) < 0)
    c->overflow = 1;
  int i = pc_find(c, gpa);
  *value = i < 0 ? 0 : c->val[i];
  return 0;
}

static int pc_cmpxchg(void *u, uint64_t gpa, uint64_t expected,
                      uint64_t desired) {
  pred_ctx *c = u;
  int i = pc_find(c, gpa);
  uint64_t cur = i < 0 ? 0 : c->val[i];
  if (cur != expected)
    return 1;
  return pc_set(c, gpa, desired) < 0 ? 2 : 0;
}

static int emit(booted *p, uint64_t x) {
  if (p->ncmd >= H_CMD_SIZE / 8 - 1)
    return -1;
  p->cmd[p->ncmd++] = x;
  return 0;
}

/* Plans v into the command list. Returns 0, or a negative status (with
 * the reason set) for a vector refused before running. */
static int plan_vector(booted *p, inst *in, vec_vector *v,
                       size_t vi) {
  uint32_t mp = v->maxphyaddr ? v->maxphyaddr : 52;
  int la57 = (v->cr4 & MMU_CR4_LA57) != 0;
  uint64_t ram = p->ram_size;
  if (v->step_count == 0) {
    capture_reason(&p->reasons, vi, "no steps");
    return -EINVAL;
  }
  if (v->flags & MMU_CFG_AMD) {
    capture_reason(&p->reasons, vi, "MMU_CFG_AMD: %s", p->ops->amd);
    return -ENOTSUP;
  }
  capture_limits lim = capture_limits_of(&p->cpu, ram, p->src->modes);
  static capture_vmem m;
  char why[128];
  int refused = capture_plan_vector(&lim, v, &m, why, sizeof why);
  if (refused < 0) {
    capture_reason(&p->reasons, vi, "%s", why);
    return refused;
  }
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    if (p->ops->refuse_step && (refused = p->ops->refuse_step(p, v, &m, s, vi)))
      return refused;
    if (st->op == VEC_INVPCID && !p->cpu.invpcid) {
      capture_reason(&p->reasons, vi, "step %u: INVPCID, which CPUID does not offer", s);
      return -ENOTSUP;
    }
    if (st->op == VEC_ACCESS && (st->access & MMU_IMPLICIT) &&
        (st->a & 0xfff) > 0xff8) {
      capture_reason(&p->reasons, vi, "step %u: implicit read (a descriptor) "
                     "would cross a page", s);
      return -ENOTSUP;
    }
  }

  /* predict with the library's reference walker */
  static pred_ctx pc;
  memset(&pc, 0, sizeof pc);
  for (uint32_t i = 0; i < v->pte_count; i++)
    pc_set(&pc, v->pte[i].gpa, v->pte[i].value);
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.maxphyaddr = mp;
  cfg.flags = v->flags & (MMU_CFG_NO_1G_PAGES | MMU_CFG_AD_ON_FAULT_UPPER);
  cfg.pt_read = pc_read;
  cfg.pt_cmpxchg = pc_cmpxchg;
  cfg.pt_user = &pc;
  mmu_cpu cpu;
  if (mmu_init(&cpu, &cfg, p->tlb, p->tlb_bytes) != MMU_OK) {
    capture_reason(&p->reasons, vi, "library refuses the config (maxphyaddr %u)", mp);
    return -EINVAL;
  }
  mmu_regs regs = {.cr0 = v->cr0, .cr3 = v->cr3, .cr4 = v->cr4,
                   .efer = v->efer, .pkru = v->pkru,
                   .cpl = (uint8_t)(v->cpl & 3), .ac = (uint8_t)(v->ac != 0)};
  if (capture_vector_mode(v) == CAPTURE_MODE_PAE) /* SPEC 8.1: as RAM gives */
    for (int i = 0; i < 4; i++) {
      int k = pc_find(&pc, (v->cr3 & 0xffffffe0ull) + 8 * (uint64_t)i);
      regs.pdpte[i] = k < 0 ? 0 : pc.val[k];
    }
  if (v->cpl > 3 || mmu_load_regs(&cpu, &regs) != MMU_OK) {
    capture_reason(&p->reasons, vi, "register state invalid");
    return -EINVAL;
  }
  pend *pd = &p->pd[p->npd];
  memset(pd, 0, sizeof *pd);
  pd->vi = vi;
  uint64_t dpages[VEC_MAX_STEPS], lpages[VEC_MAX_STEPS];
  unsigned ndpages = 0, nlpages = 0;
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    pd->pred[s] = UINT64_MAX;
    switch (st->op) {
    case VEC_ACCESS: {
      mmu_result res;
      memset(&res, 0, sizeof res);
      mmu_trace tr;
      memset(&tr, 0, sizeof tr);
      int r = mmu_reference_translate(&cpu, st->a, st->access, &res, &tr);
      if (r == MMU_PAGE_FAULT && tr.count > 0) {
        /* the leaf's frame keeps the pattern even when the library says
         * the access faults: the emulator may disagree, and must then be able to
         * tell where it went */
        const mmu_walk_step *w = &tr.step[tr.count - 1];
        int lvl = w->level;
        if ((w->entry & MMU_PTE_P) &&
            (lvl == 1 || ((lvl == 2 || lvl == 3) && (w->entry & MMU_PTE_PS)))) {
          uint64_t size = 1ull << (12 + 9 * (lvl - 1));
          uint64_t pa = (w->entry & CAP_ADDR_MASK & ((1ull << mp) - 1) &
                         ~(size - 1)) | (st->a & (size - 1));
          if (pa >= H_END && pa < ram)
            cap_add_unique(lpages, &nlpages, VEC_MAX_STEPS, pa & ~0xfffull);
        }
      }
      if (r == MMU_OK) {
        uint64_t pa = res.paddr;
        if (pa < H_END || pa >= ram) {
          capture_reason(&p->reasons, vi, "step %u: the access would succeed at %#llx, "
                     "outside the pattern RAM [2 MiB, %llu MiB)", s,
                     (unsigned long long)pa, (unsigned long long)(ram >> 20));
          return -ENOTSUP;
        }
        pd->pred[s] = pa;
        cap_add_unique(dpages, &ndpages, VEC_MAX_STEPS, pa & ~0xfffull);
      }
      break;
    }
    case VEC_SET_PTE:
      if (pc_set(&pc, st->a, st->b) < 0) {
        capture_reason(&p->reasons, vi, "too many entries");
        return -EINVAL;
      }
      break;
    case VEC_INVLPG:
      mmu_invlpg(&cpu, st->a);
      break;
    case VEC_INVPCID:
      mmu_invpcid(&cpu, (unsigned)st->a, st->b, st->c);
      break;
    case VEC_CR0:
      mmu_write_cr0(&cpu, st->a);
      break;
    case VEC_CR3:
      mmu_write_cr3(&cpu, st->a);
      break;
    case VEC_CR4:
      mmu_write_cr4(&cpu, st->a);
      break;
    case VEC_EFER:
      mmu_write_efer(&cpu, st->a);
      break;
    case VEC_PKRU:
      mmu_write_pkru(&cpu, (uint32_t)st->a);
      break;
    case VEC_CPL:
      mmu_set_cpl(&cpu, (unsigned)(st->a & 3));
      break;
    case VEC_AC:
      mmu_set_ac(&cpu, st->a != 0);
      break;
    }
  }
  if (pc.overflow) {
    capture_reason(&p->reasons, vi, "walks read too many pages");
    return -ENOTSUP;
  }
  /* pages that must read as zero apart from the vector's entries */
  uint64_t tpages[MAX_PAGES];
  unsigned ntpages = 0;
  for (unsigned t = 0; t < m.ntop; t++)
    cap_add_unique(tpages, &ntpages, MAX_PAGES, m.top[t]);
  for (uint32_t i = 0; i < v->pte_count; i++)
    cap_add_unique(tpages, &ntpages, MAX_PAGES, v->pte[i].gpa & ~0xfffull);
  for (uint32_t s = 0; s < v->step_count; s++)
    if (v->step[s].op == VEC_SET_PTE)
      cap_add_unique(tpages, &ntpages, MAX_PAGES, v->step[s].a & ~0xfffull);
  for (unsigned i = 0; i < pc.nrd; i++) {
    uint64_t pg = pc.rd[i];
    if (pg >= ram)
      continue;
    if (pg < H_END) {
      capture_reason(&p->reasons, vi, "a walk reads an entry in harness memory (%#llx)",
                 (unsigned long long)pg);
      return -ENOTSUP;
    }
    cap_add_unique(tpages, &ntpages, MAX_PAGES, pg);
  }
  for (unsigned i = 0; i < ntpages; i++)
    if (cap_contains(dpages, ndpages, tpages[i])) {
      capture_reason(&p->reasons, vi, "an access lands on a paging-structure page (%#llx)",
                 (unsigned long long)tpages[i]);
      return -ENOTSUP;
    }
  /* leaf frames of faulting accesses: pattern too, unless they hold
   * paging structures */
  for (unsigned i = 0; i < nlpages; i++)
    if (!cap_contains(tpages, ntpages, lpages[i]))
      cap_add_unique(dpages, &ndpages, VEC_MAX_STEPS, lpages[i]);
  /* other frames the entries point to: zero them, so that a walk the emulator
   * takes further than the library finds zeroes */
  for (unsigned i = 0; i < pc.n; i++) {
    uint64_t pg = pc.val[i] & CAP_ADDR_MASK & ((1ull << mp) - 1);
    if ((pc.val[i] & MMU_PTE_P) && pg >= H_END && pg < ram &&
        !cap_contains(dpages, ndpages, pg))
      cap_add_unique(tpages, &ntpages, MAX_PAGES, pg);
  }
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    uint64_t pg = st->b & CAP_ADDR_MASK & ((1ull << mp) - 1);
    if (st->op == VEC_SET_PTE && (st->b & MMU_PTE_P) && pg >= H_END &&
        pg < ram && !cap_contains(dpages, ndpages, pg))
      cap_add_unique(tpages, &ntpages, MAX_PAGES, pg);
  }

  /* watched entries */
  unsigned nacc = 0;
  memcpy(pd->mon, m.watch, m.nwatch * sizeof m.watch[0]);
  pd->nmon = m.nwatch;
  for (uint32_t s = 0; s < v->step_count; s++)
    if (v->step[s].op == VEC_ACCESS)
      nacc++;
  uint64_t reccap = (uint64_t)pd->nmon * (2 * nacc + 1);
  if (reccap > 512)
    reccap = 512;
  uint64_t resbytes = V_STEPS + (uint64_t)v->step_count * VS_SIZE + reccap * 16;
  if (p->resoff + resbytes > H_RES_SIZE)
    return 1; /* chunk full */
  size_t ncmd0 = p->ncmd;
  int fail = 0;
  fail |= emit(p, C_VEC) | emit(p, vi) | emit(p, p->resoff) | emit(p, reccap);
  if (in->la57 != la57) {
    fail |= emit(p, C_MODE) | emit(p, (uint64_t)la57);
    in->la57 = la57;
    p->st.mode_switches++;
  }
  /* what the previous vectors left, then page roles, then the entries */
  fail |= emit(p, C_WR) | emit(p, in->ndirty);
  for (unsigned i = 0; i < in->ndirty; i++)
    fail |= emit(p, in->dirty[i]) | emit(p, 0);
  for (unsigned i = 0; i < ntpages; i++)
    if (in->pstate[tpages[i] >> 12] != PG_TABLE) {
      fail |= emit(p, C_ZERO) | emit(p, tpages[i]);
      in->pstate[tpages[i] >> 12] = PG_TABLE;
    }
  for (unsigned i = 0; i < ndpages; i++)
    if (in->pstate[dpages[i] >> 12] != PG_PATTERN) {
      fail |= emit(p, C_FILL) | emit(p, dpages[i]);
      in->pstate[dpages[i] >> 12] = PG_PATTERN;
    }
  fail |= emit(p, C_WR) | emit(p, m.n);
  for (unsigned i = 0; i < m.n; i++)
    fail |= emit(p, m.gpa[i]) | emit(p, m.val[i]);
  memcpy(in->dirty, m.touched, m.ntouched * sizeof m.touched[0]);
  in->ndirty = m.ntouched;
  /* Outside IA-32e the pattern's bytes are instructions that run after a
   * fetch (push, pop, POPA...) and may reach the fetched page; the byte
   * fetched is INT3 instead, which stops at once (#BP, or #GP at CPL 3).
   * The cell's page is refilled before its next use. */
  if (capture_vector_mode(v) < CAPTURE_MODE_LONG4) {
    uint64_t cells[VEC_MAX_STEPS], vals[VEC_MAX_STEPS];
    unsigned ncells = 0;
    for (uint32_t s = 0; s < v->step_count; s++) {
      uint64_t pa = pd->pred[s];
      if (v->step[s].op != VEC_ACCESS || (v->step[s].access & 3) != MMU_FETCH ||
          pa == UINT64_MAX)
        continue;
      uint64_t cell = pa & ~7ull, val = booted_pattern_of(cell);
      for (unsigned i = 0; i < ncells; i++)
        if (cells[i] == cell)
          val = vals[i];
      unsigned sh = 8 * (unsigned)(pa & 7);
      val = (val & ~(0xffull << sh)) | (0xccull << sh);
      cells[ncells] = cell;
      vals[ncells++] = val;
      in->pstate[cell >> 12] = PG_UNKNOWN;
    }
    fail |= emit(p, C_WR) | emit(p, ncells);
    for (unsigned i = 0; i < ncells; i++)
      fail |= emit(p, cells[i]) | emit(p, vals[i]);
  }
  fail |= emit(p, C_MON) | emit(p, pd->nmon);
  for (unsigned i = 0; i < pd->nmon; i++)
    fail |= emit(p, pd->mon[i]);
  fail |= emit(p, C_RUN) | emit(p, v->cr0) | emit(p, v->cr4) |
          emit(p, v->efer) | emit(p, v->cr3) | emit(p, (uint64_t)p->cpu.pku) |
          emit(p, v->pkru) | emit(p, v->cpl == 3 ? 3 : 0) |
          emit(p, v->ac ? 1 : 0) | emit(p, v->step_count);
  for (uint32_t s = 0; s < v->step_count; s++) {
    const vec_step *st = &v->step[s];
    uint64_t a = st->a, b = st->b;
    if (st->op == VEC_CPL)
      a = (a & 3) == 3 ? 3 : 0;
    if (st->op == VEC_ACCESS)
      b = (st->access & 7) == MMU_WRITE ? pd->pred[s] : UINT64_MAX;
    fail |= emit(p, (uint64_t)st->op) | emit(p, st->access) | emit(p, a) |
            emit(p, b) | emit(p, st->c);
  }
  if (fail) {
    /* cannot happen: the caller leaves BOOTED_PLAN_MAX_BYTES free */
    p->ncmd = ncmd0;
    in->tainted = 1;
    capture_reason(&p->reasons, vi, "command list overflow");
    return -EPROTO;
  }
  pd->resoff = p->resoff;
  p->resoff += (resbytes + 63) & ~63ull;
  p->npd++;
  return 0;
}

/* ---- results --------------------------------------------------------------- */

static int parse_vector(booted *p, inst *in, vec_vector *v,
                        const pend *pd) {
  const uint8_t *m = in->mem;
  uint64_t base = H_RES + pd->resoff;
  size_t vi = pd->vi;
  int la57 = (v->cr4 & MMU_CR4_LA57) != 0;
  /* outside IA-32e the pattern's bytes run (they are #UD in 64-bit code
   * only), and the guest does not rewrite a written cell's pattern */
  int ia32e = capture_vector_mode(v) >= CAPTURE_MODE_LONG4;
  if (cap_rd64(m, base + V_STATUS) != 2) {
    capture_reason(&p->reasons, vi, "vector did not finish");
    return -EIO;
  }
  uint64_t setup = cap_rd64(m, base + V_SETUP);
  if (setup) {
    static const char *const what[] = {"?", "EFER", "CR4", "CR0", "PKRU",
                                       "CR3"};
    unsigned stage = (unsigned)(setup & 0xff);
    capture_reason(&p->reasons, vi, "%s refused the initial %s (exception %llu)", p->ops->name,
               what[stage < 6 ? stage : 0], (unsigned long long)(setup >> 8));
    return -ENOTSUP;
  }
  if (cap_rd64(m, base + V_FLAGS) & 1) {
    capture_reason(&p->reasons, vi, "too many entry changes recorded");
    return -EPROTO;
  }
  uint64_t nrec = cap_rd64(m, base + V_NREC);
  uint64_t recoff = base + V_STEPS + (uint64_t)v->step_count * VS_SIZE;
  for (uint64_t r = 0; r < nrec; r++)
    if ((cap_rd64(m, recoff + 16 * r) >> 8 & 0xff) != 0) {
      capture_reason(&p->reasons, vi, "step %llu: the follow-up read changed entry %#llx "
                 "to %#llx (%s)", (unsigned long long)(cap_rd64(m, recoff + 16 * r) & 0xff),
                 (unsigned long long)pd->mon[cap_rd64(m, recoff + 16 * r) >> 16 & 0xffff],
                 (unsigned long long)cap_rd64(m, recoff + 16 * r + 8),
                 vec_access_name(v->step[cap_rd64(m, recoff + 16 * r) & 0xff].access));
      return -EPROTO;
    }
  for (uint32_t s = 0; s < v->step_count; s++) {
    vec_step *st = &v->step[s];
    uint64_t sb = base + V_STEPS + (uint64_t)s * VS_SIZE;
    if (st->op != VEC_ACCESS && !p->ops->gp_outcomes)
      continue;
    if (st->op != VEC_ACCESS) { /* a register step or INVPCID: #GP or not */
      uint64_t ev = cap_rd64(m, sb);
      memset(&st->expect, 0, sizeof st->expect);
      if (ev == 13) {
        st->expect.kind = VEC_OUT_GP;
      } else if (ev != UINT64_MAX) {
        capture_reason(&p->reasons, vi, "step %u: exception %lld", s,
                       (long long)ev);
        return -EPROTO;
      }
      continue;
    }
    capture_exc e = {cap_rd64(m, sb), cap_rd64(m, sb + 8), cap_rd64(m, sb + 16),
                     cap_rd64(m, sb + 24)};
    uint64_t fuv = cap_rd64(m, sb + 32), fue = cap_rd64(m, sb + 40);
    unsigned kind = st->access & 3;
    vec_outcome o;
    if (capture_decode(&p->img, la57, ia32e ? CAPTURE_FETCH_UD : CAPTURE_FETCH_RUNS,
                       st, &e, &o) < 0) {
      capture_reason(&p->reasons, vi, "step %u: unexpected exception %lld "
                     "error %#llx rip %#llx", s, (long long)e.vec,
                     (unsigned long long)e.ec, (unsigned long long)e.rip);
      return -EPROTO;
    }
    int ok = o.kind == VEC_OUT_OK;
    if (ok) {
      if (fue != UINT64_MAX) {
        capture_reason(&p->reasons, vi, "step %u: the access worked but the follow-up read "
                   "raised exception %lld", s, (long long)fue);
        return -EPROTO;
      }
      uint64_t g = pattern_decode(fuv);
      if (g == UINT64_MAX) {
        capture_reason(&p->reasons, vi, "step %u: the access worked on memory without the "
                   "pattern (read %#llx; predicted pa %#llx)", s,
                   (unsigned long long)fuv, (unsigned long long)pd->pred[s]);
        if (kind == MMU_WRITE)
          in->tainted = 1; /* a byte went somewhere unknown */
        return pd->pred[s] == UINT64_MAX ? -ENOTSUP : -EPROTO;
      }
      uint64_t pa = (g ^ 8) | (st->a & 7);
      if ((pa & 0xfff) != (st->a & 0xfff)) {
        capture_reason(&p->reasons, vi, "step %u: pattern %#llx does not match the offset",
                   s, (unsigned long long)fuv);
        return -EPROTO;
      }
      o.kind = VEC_OUT_OK;
      o.pa_or_cr2 = pa;
      if (!ia32e && kind == MMU_WRITE && pa < p->ram_size)
        in->pstate[pa >> 12] = PG_UNKNOWN;
    }
    st->expect = o;
    st->ad_count = 0;
    for (uint64_t r = 0; r < nrec; r++) {
      uint64_t tag = cap_rd64(m, recoff + 16 * r);
      if ((tag & 0xff) != s)
        continue;
      unsigned idx = (unsigned)(tag >> 16 & 0xffff);
      if (idx >= pd->nmon) {
        capture_reason(&p->reasons, vi, "bad record");
        return -EPROTO;
      }
      if (st->ad_count >= VEC_MAX_AD) {
        capture_reason(&p->reasons, vi, "step %u: more than %d entries changed", s,
                   VEC_MAX_AD);
        return -EPROTO;
      }
      st->ad[st->ad_count].gpa = pd->mon[idx];
      st->ad[st->ad_count].value = cap_rd64(m, recoff + 16 * r + 8);
      st->ad_count++;
    }
  }
  v->flags |= p->ops->vflags;
  return 0;
}

/* Runs the planned chunk on `in`. Returns 0, or <0 when the guest broke:
 * then *culprit is the vector it was running (or SIZE_MAX). */
static int run_chunk(booted *p, inst *in, size_t *culprit) {
  *culprit = SIZE_MAX;
  p->cmd[p->ncmd] = C_END;
  memcpy(in->mem + H_CMD, p->cmd, (p->ncmd + 1) * 8);
  for (size_t i = 0; i < p->npd; i++)
    cap_wr64(in->mem, H_RES + p->pd[i].resoff + V_STATUS, 0);
  cap_wr64(in->mem, H_RT + R_CUR, UINT64_MAX);
  p->st.chunks++;
  int r = p->ops->exec(p, in);
  if (r == 0)
    return 0;
  uint64_t cur = cap_rd64(in->mem, H_RT + R_CUR);
  if (cur != UINT64_MAX)
    *culprit = (size_t)cur;
  if (r == 1)
    booted_set_err(p, "guest panic: exception %llu error %#llx cr2 %#llx rip %#llx "
            "in vector %llu",
            (unsigned long long)cap_rd64(in->mem, H_MBOX + MB_PANIC),
            (unsigned long long)cap_rd64(in->mem, H_MBOX + MB_PANIC + 8),
            (unsigned long long)cap_rd64(in->mem, H_MBOX + MB_PANIC + 16),
            (unsigned long long)cap_rd64(in->mem, H_MBOX + MB_PANIC + 24),
            (unsigned long long)cur);
  return r < 0 ? r : -EPROTO;
}

/* ---- batches ---------------------------------------------------------------- */

typedef struct order_ent {
  uint32_t maxphy;
  int no1g, la57;
  size_t i;
} order_ent;

static int order_cmp(const void *a, const void *b) {
  const order_ent *x = a, *y = b;
  if (x->maxphy != y->maxphy)
    return x->maxphy < y->maxphy ? -1 : 1;
  if (x->no1g != y->no1g)
    return x->no1g - y->no1g;
  if (x->la57 != y->la57)
    return x->la57 - y->la57;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* Runs the vectors ord[0..n) (same instance key); solo: one per chunk
 * (retries of vectors that broke the guest). */
static int run_group(booted *p, vec_vector *v, int *st,
                     const order_ent *ord, size_t n, int solo) {
  size_t pos = 0;
  while (pos < n) {
    inst *in = p->ops->get(p, ord[pos].maxphy, ord[pos].no1g);
    if (!in) {
      for (size_t k = pos; k < n; k++) {
        st[ord[k].i] = -EIO;
        capture_reason(&p->reasons, ord[k].i, "%s did not start: %s", p->ops->name, p->err);
      }
      return -EIO;
    }
    p->ncmd = 0;
    p->npd = 0;
    p->resoff = 0;
    size_t k = pos;
    while (k < n && p->npd < p->cappd &&
           p->ncmd * 8 + BOOTED_PLAN_MAX_BYTES < H_CMD_SIZE) {
      if (solo && p->npd == 1)
        break;
      size_t vi = ord[k].i;
      int r = plan_vector(p, in, &v[vi], vi);
      if (r == 1)
        break; /* results area full */
      if (r < 0)
        st[vi] = r;
      k++;
    }
    if (p->npd == 0) {
      pos = k;
      continue;
    }
    size_t culprit;
    int r = run_chunk(p, in, &culprit);
    size_t next = k;
    for (size_t j = 0; j < p->npd; j++) {
      pend *pd = &p->pd[j];
      size_t vi = pd->vi;
      if (r == 0 || cap_rd64(in->mem, H_RES + pd->resoff + V_STATUS) == 2) {
        st[vi] = parse_vector(p, in, &v[vi], pd);
        continue;
      }
      if (vi == culprit || culprit == SIZE_MAX) {
        if (culprit == SIZE_MAX)
          culprit = vi; /* the first unfinished one */
        st[vi] = solo ? -EIO : ST_SOLO;
        capture_reason(&p->reasons, vi, "broke the guest: %s", p->err);
        /* resume after it */
        for (size_t o = pos; o < n; o++)
          if (ord[o].i == vi)
            next = o + 1;
        continue;
      }
    }
    if (r < 0) {
      p->st.crashes++;
      p->ops->kill(p, in);
    } else if (in->tainted || p->ops->fresh_chunks) {
      p->ops->kill(p, in);
    }
    pos = next;
  }
  return 0;
}

int booted_run(booted *p, vec_vector *v, size_t n, int *status) {
  if (!p || (!v && n))
    return -EINVAL;
  p->err[0] = 0;
  capture_reasons_reset(&p->reasons, n);
  int *st = status ? status : calloc(n ? n : 1, sizeof *st);
  order_ent *ord = calloc(n ? n : 1, sizeof *ord);
  if (!st || !ord) {
    if (!status)
      free(st);
    free(ord);
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    st[i] = ST_PENDING;
    uint32_t mp = v[i].maxphyaddr ? v[i].maxphyaddr : 52;
    if (mp < 36 || mp > 52) {
      st[i] = -EINVAL;
      capture_reason(&p->reasons, i, "maxphyaddr %u out of range", mp);
    } else if (p->ops->refuse_run && (st[i] = p->ops->refuse_run(p, &v[i], i)) == 0) {
      st[i] = ST_PENDING;
    }
    ord[i].maxphy = mp;
    ord[i].no1g = (v[i].flags & MMU_CFG_NO_1G_PAGES) != 0;
    ord[i].la57 = (v[i].cr4 & MMU_CR4_LA57) != 0;
    ord[i].i = i;
  }
  qsort(ord, n, sizeof *ord, order_cmp);
  int fatal = 0;
  size_t g0 = 0;
  while (g0 < n) {
    size_t g1 = g0;
    while (g1 < n && ord[g1].maxphy == ord[g0].maxphy &&
           ord[g1].no1g == ord[g0].no1g)
      g1++;
    /* drop the ones already refused */
    size_t m = 0;
    for (size_t k = g0; k < g1; k++)
      if (st[ord[k].i] == ST_PENDING)
        ord[g0 + m++] = ord[k];
    if (m && run_group(p, v, st, ord + g0, m, 0) < 0)
      fatal = 1;
    /* vectors that broke the guest: once more, alone */
    size_t ns = 0;
    for (size_t k = g0; k < g0 + m; k++)
      if (st[ord[k].i] == ST_SOLO)
        ord[g0 + ns++] = ord[k];
    if (ns && run_group(p, v, st, ord + g0, ns, 1) < 0)
      fatal = 1;
    g0 = g1;
  }
  int captured = 0;
  for (size_t i = 0; i < n; i++) {
    if (st[i] == ST_PENDING || st[i] == ST_SOLO) {
      st[i] = -EIO;
      capture_reason(&p->reasons, i, "not run");
    }
    if (st[i] == 0) {
      captured++;
      p->st.vectors++;
      capture_reason(&p->reasons, i, "%s", "");
    } else if (st[i] == -EINVAL || st[i] == -ENOTSUP || st[i] == -ERANGE) {
      p->st.refused++;
    } else {
      p->st.failed++;
    }
  }
  if (p->ops->idle)
    p->ops->idle(p);
  free(ord);
  if (!status)
    free(st);
  if (fatal && captured == 0 && n > 0)
    return -EIO;
  return captured;
}

