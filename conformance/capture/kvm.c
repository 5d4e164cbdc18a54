/* SPDX-License-Identifier: MIT */
/* kvm.c - the KVM capture source (capture_kvm, source.h): runs conformance
 * vectors in a real KVM guest (kguest/kharness.S) and records what KVM did.
 * What all sources share (the harness image, a vector's memory and checks,
 * steps, outcomes) is guest.c's; this file is KVM's ioctls, its VMs and its
 * guest's entry. See kvm.h, and kguest/klayout.h and guest/layout.h for
 * the guest-physical layout.
 *
 * Per vector: the host fills the mailbox (entries to write, steps, entries
 * to watch), loads the vector's CR0/CR4/EFER with KVM_SET_SREGS (skipped
 * when the previous vector left the same ones) and runs the guest once. The
 * guest writes the paging entries itself (host writes to page-table pages
 * would leave KVM's shadow pages stale), switches CR3 and runs the steps.
 * Entries are not cleaned up after a vector: the next one writes only the
 * entries whose value differs (host reads of guest memory are fine), which
 * zeroes what the previous vector left and keeps shared tables as they are.
 * The physical address of a successful access comes from the KVM_EXIT_MMIO it
 * caused (leaf outside RAM) or from KVM_TRANSLATE while the vector's CR3 is
 * still loaded. */
#define _GNU_SOURCE
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../../include/mmu.h"
#include "../gen.h"
#include "guest.h"
#include "kguest/klayout.h"

extern const unsigned char kvm_guest_image[];
extern const unsigned char kvm_guest_image_end[];
extern const unsigned char kvm_guest_entry32[], kvm_guest_stubs32[];

#define MAXPHY_MIN 36
#define MAXPHY_MAX 52
#define NVM (MAXPHY_MAX - MAXPHY_MIN + 1)
#define CPUID_MAX_ENTRIES 256
#define RUN_DEADLINE_NS 2000000000ll /* one vector: 2 s */
#define WATCHDOG_US 50000            /* SIGALRM period while running */
#define EXC_NONE UINT64_MAX
#define EXC_FETCH_MMIO 0x100 /* not a vector: see fetch_from_mmio */
#define MB_MAX_ZERO 128 /* entries a vector may make non-zero */

typedef struct capvm {
  int vm_fd, vcpu_fd;
  struct kvm_run *run;
  size_t run_size;
  uint8_t *mem;
  uint32_t maxphy;
  int live;
  struct kvm_sregs sregs0; /* as KVM created the vCPU */
  /* what the previous vector left in the guest */
  uint64_t dirty[2 * MB_MAX_ZERO]; /* gpas that may be non-zero */
  unsigned ndirty;
  uint64_t live_top[VEC_MAX_STEPS + 1]; /* its top-level tables (pages) */
  unsigned nlive_top;
  int carry;      /* 1: CR0/CR4/EFER/mode are still last_* and RIP is at
                     the harness entry: KVM_SET_SREGS/REGS can be skipped */
  int regs_ok;    /* RIP is at the harness entry for last_la57 */
  int last_la57;
  uint64_t last_cr0, last_cr4, last_efer;
} capvm;

typedef struct step_cap { /* per step, filled during the run */
  int have_pa;
  uint64_t pa;
} step_cap;

struct kvm_cap_priv {
  int kvm_fd;
  uint64_t ram_size;
  size_t run_size;
  struct kvm_cpuid2 *cpuid; /* what KVM supports */
  char desc[512];
  char err[256];
  capvm vm[NVM];
  kvm_cap_stats st;
  capture_reasons reasons; /* of the last run */
  capture_image img;
  capture_cpu offer; /* what KVM_SET_SREGS accepts (probe_features) */
  int pke_accepted;
  struct sigaction old_sa;
  int sa_installed;
  /* scratch for the current vector */
  step_cap sc[VEC_MAX_STEPS];
  uint64_t planted[VEC_MAX_STEPS];
  uint64_t pred[VEC_MAX_STEPS]; /* predicted pa of write steps, or ~0 */
  unsigned nplanted;
};

static void set_err(struct kvm_cap_priv *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof p->err, fmt, ap);
  va_end(ap);
}

static void on_alarm(int sig) { (void)sig; }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void watchdog(int on) {
  struct itimerval it;
  memset(&it, 0, sizeof it);
  if (on) {
    it.it_interval.tv_usec = WATCHDOG_US;
    it.it_value.tv_usec = WATCHDOG_US;
  }
  setitimer(ITIMER_REAL, &it, NULL);
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c,
                                           uint32_t fn, uint32_t idx) {
  for (uint32_t i = 0; i < c->nent; i++)
    if (c->entries[i].function == fn &&
        (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
         c->entries[i].index == idx))
      return &c->entries[i];
  return NULL;
}


/* ---- VM life cycle ------------------------------------------------------ */

static void vm_destroy(struct kvm_cap_priv *p, capvm *vm) {
  (void)p;
  if (vm->run && vm->run != MAP_FAILED)
    munmap(vm->run, vm->run_size);
  if (vm->vcpu_fd >= 0)
    close(vm->vcpu_fd);
  if (vm->vm_fd >= 0)
    close(vm->vm_fd);
  if (vm->mem && vm->mem != MAP_FAILED)
    munmap(vm->mem, p->ram_size);
  memset(vm, 0, sizeof *vm);
  vm->vm_fd = vm->vcpu_fd = -1;
}

/* The harness as every source has it (guest.c), written before the vCPU
 * first runs and never again; TR is loaded through KVM_SET_SREGS. */
static void build_harness(struct kvm_cap_priv *p, uint8_t *mem) {
  capture_build_harness(mem, p->ram_size, &p->img);
  /* #BP from CPL 3: a user fetch runs into the int3 planted at its target */
  mem[H_IDT4 + 16 * 3 + 5] = 0xee;
  mem[H_IDT5 + 16 * 3 + 5] = 0xee;
}

static int vm_create(struct kvm_cap_priv *p, capvm *vm, uint32_t maxphy) {
  memset(vm, 0, sizeof *vm);
  vm->vm_fd = vm->vcpu_fd = -1;
  vm->maxphy = maxphy;
  vm->vm_fd = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
  if (vm->vm_fd < 0) {
    set_err(p, "KVM_CREATE_VM: %s", strerror(errno));
    goto fail;
  }
  if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) {
    set_err(p, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    goto fail;
  }
  vm->mem = mmap(NULL, p->ram_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm->mem == MAP_FAILED) {
    vm->mem = NULL;
    set_err(p, "mmap guest RAM: %s", strerror(errno));
    goto fail;
  }
  build_harness(p, vm->mem);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .flags = 0,
      .guest_phys_addr = 0,
      .memory_size = p->ram_size,
      .userspace_addr = (uint64_t)(uintptr_t)vm->mem,
  };
  if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    set_err(p, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
    goto fail;
  }
  vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
  if (vm->vcpu_fd < 0) {
    set_err(p, "KVM_CREATE_VCPU: %s", strerror(errno));
    goto fail;
  }
  vm->run_size = p->run_size;
  vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                 vm->vcpu_fd, 0);
  if (vm->run == MAP_FAILED) {
    vm->run = NULL;
    set_err(p, "mmap kvm_run: %s", strerror(errno));
    goto fail;
  }
  /* CPUID: what KVM supports, with MAXPHYADDR replaced */
  size_t csz = sizeof(struct kvm_cpuid2) +
               p->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
  struct kvm_cpuid2 *c = malloc(csz);
  if (!c) {
    set_err(p, "out of memory");
    goto fail;
  }
  memcpy(c, p->cpuid, csz);
  struct kvm_cpuid_entry2 *e7 = cpuid_find(c, 7, 0);
  struct kvm_cpuid_entry2 *e1 = cpuid_find(c, 1, 0);
  struct kvm_cpuid_entry2 *ex1 = cpuid_find(c, 0x80000001, 0);
  /* KVM_GET_SUPPORTED_CPUID on this kind of host leaves out features the
   * shadow MMU implements (SMEP, SMAP...): offer the paging features
   * anyway; KVM_SET_SREGS refuses CR4 bits it cannot do (probed in open) */
  if (e1)
    e1->ecx |= 1u << 17; /* PCID */
  if (e7) {
    e7->ebx |= 1u << 7 | 1u << 10 | 1u << 20; /* SMEP, INVPCID, SMAP */
    e7->ecx |= 1u << 3 | 1u << 16;            /* PKU, LA57 */
  }
  if (ex1)
    ex1->edx |= 1u << 20 | 1u << 26; /* NX, 1 GiB pages */
  struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x80000008, 0);
  if (e)
    e->eax = (e->eax & ~0xffu) | maxphy;
  int r = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c);
  int saved = errno;
  free(c);
  if (!e) {
    set_err(p, "no CPUID leaf 0x80000008");
    goto fail;
  }
  if (r < 0) {
    set_err(p, "KVM_SET_CPUID2: %s", strerror(saved));
    goto fail;
  }
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &vm->sregs0) < 0) {
    set_err(p, "KVM_GET_SREGS: %s", strerror(errno));
    goto fail;
  }
  vm->live = 1;
  p->st.vms_created++;
  return 0;
fail:
  vm_destroy(p, vm);
  return -EIO;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
                    int code64) {
  memset(s, 0, sizeof *s);
  s->selector = sel;
  s->base = 0;
  s->limit = 0xffffffff;
  s->type = type;
  s->present = 1;
  s->dpl = 0;
  s->s = 1;
  s->l = code64 ? 1 : 0;
  s->db = code64 ? 0 : 1;
  s->g = 1;
}

static void make_sregs(const capvm *vm, int la57, uint64_t cr0, uint64_t cr4,
                       uint64_t efer, struct kvm_sregs *s);

/* Which paging controls KVM_SET_SREGS accepts (on the maxphyaddr-52 VM). */
static int probe_features(struct kvm_cap_priv *p) {
  capvm *vm = &p->vm[52 - MAXPHY_MIN];
  if (!vm->live && vm_create(p, vm, 52) < 0)
    return -1;
  const uint64_t cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP | 0x10;
  const uint64_t cr4 = MMU_CR4_PAE;
  const uint64_t efer = MMU_EFER_LME;
  struct {
    uint64_t cr4, efer;
    int *flag;
  } t[] = {
      {MMU_CR4_LA57, 0, &p->offer.la57},  {MMU_CR4_SMEP, 0, &p->offer.smep},
      {MMU_CR4_SMAP, 0, &p->offer.smap},  {MMU_CR4_PKE, 0, &p->offer.pku},
      {MMU_CR4_PCIDE, 0, &p->offer.pcid}, {0, MMU_EFER_NXE, &p->offer.nx},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    struct kvm_sregs s;
    make_sregs(vm, (t[i].cr4 & MMU_CR4_LA57) != 0, cr0, cr4 | t[i].cr4,
               efer | t[i].efer, &s);
    *t[i].flag = ioctl(vm->vcpu_fd, KVM_SET_SREGS, &s) == 0;
  }
  /* kvm_pvm accepts CR4.PKE, but the first user access with it set ends
   * in an emulation failure (measured): treat PKU as unusable */
  p->pke_accepted = p->offer.pku;
  p->offer.pku = 0;
  return 0;
}

/* ---- open / describe / close -------------------------------------------- */

static int kvm_open(capture_source *s, uint64_t ram_size) {
  s->priv = NULL;
  if (ram_size < (4ull << 20) || ram_size > ((uint64_t)H_MAX_GIB << 30) ||
      (ram_size & ((2ull << 20) - 1)))
    return EINVAL;
  struct kvm_cap_priv *p = calloc(1, sizeof *p);
  if (!p)
    return ENOMEM;
  p->ram_size = ram_size;
  for (int i = 0; i < NVM; i++)
    p->vm[i].vm_fd = p->vm[i].vcpu_fd = -1;
  const char *dev = getenv("MMU_KVM_DEVICE");
  p->kvm_fd = open(dev && *dev ? dev : "/dev/kvm", O_RDWR | O_CLOEXEC);
  if (p->kvm_fd < 0) {
    int e = errno;
    free(p);
    return e;
  }
  int e = 0;
  int api = ioctl(p->kvm_fd, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) {
    e = api < 0 ? errno : EPROTO;
    goto fail;
  }
  int rs = ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (rs < (int)sizeof(struct kvm_run)) {
    e = rs < 0 ? errno : EPROTO;
    goto fail;
  }
  p->run_size = (size_t)rs;
  p->cpuid = calloc(1, sizeof(struct kvm_cpuid2) +
                           CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
  if (!p->cpuid) {
    e = ENOMEM;
    goto fail;
  }
  p->cpuid->nent = CPUID_MAX_ENTRIES;
  if (ioctl(p->kvm_fd, KVM_GET_SUPPORTED_CPUID, p->cpuid) < 0) {
    e = errno;
    goto fail;
  }
  if ((e = capture_image_open(&p->img, kvm_guest_image, kvm_guest_image_end)) == 0)
    p->img.off_stubs32 = (uint64_t)(kvm_guest_stubs32 - kvm_guest_image);
  if (e)
    goto fail;

  /* what KVM_GET_SUPPORTED_CPUID claims (for the description) */
  uint32_t regs[CPUID_N][4];
  memset(regs, 0, sizeof regs);
  for (int i = 0; i < CPUID_N; i++) {
    struct kvm_cpuid_entry2 *c = cpuid_find(p->cpuid, capture_cpuid_leaves[i], 0);
    if (c) {
      regs[i][0] = c->eax;
      regs[i][1] = c->ebx;
      regs[i][2] = c->ecx;
      regs[i][3] = c->edx;
    }
  }
  capture_cpu cpu;
  capture_cpu_decode(regs, &cpu);
  struct utsname u;
  const char *rel = uname(&u) == 0 ? u.release : "?";
  /* which vendor module backs /dev/kvm, and whether it uses TDP */
  char npt[64] = "unknown";
  static const char *const mods[][2] = {
      {"kvm_amd", "/sys/module/kvm_amd/parameters/npt"},
      {"kvm_intel", "/sys/module/kvm_intel/parameters/ept"},
      {"kvm_pvm", NULL}};
  for (int i = 0; i < 3; i++) {
    char dir[64];
    snprintf(dir, sizeof dir, "/sys/module/%s", mods[i][0]);
    if (access(dir, F_OK) != 0)
      continue;
    if (!mods[i][1]) {
      snprintf(npt, sizeof npt, "%s (shadow paging)", mods[i][0]);
      break;
    }
    char val[8] = "?";
    FILE *f = fopen(mods[i][1], "r");
    if (f) {
      if (fgets(val, sizeof val, f))
        val[strcspn(val, "\n")] = 0;
      fclose(f);
    }
    snprintf(npt, sizeof npt, "%s tdp=%s", mods[i][0], val);
    break;
  }
  if (probe_features(p) < 0) {
    e = EIO;
    goto fail;
  }
  snprintf(p->desc, sizeof p->desc,
           "kvm: linux %s; cpu %s%s%s family %#x model %#x stepping %u; "
           "module %s; supported-cpuid: nx=%d la57=%d pdpe1gb=%d "
           "pku=%d pcid=%d invpcid=%d smep=%d smap=%d maxphyaddr=%u; "
           "accepted by KVM_SET_SREGS: nxe=%d la57=%d smep=%d smap=%d "
           "pke=%d (usable %d) pcide=%d; guest maxphyaddr set per vector (%d..%d)",
           rel, cpu.vendor, *cpu.brand ? " " : "", cpu.brand, cpu.family,
           cpu.model, cpu.stepping, npt, cpu.nx, cpu.la57, cpu.pdpe1gb,
           cpu.pku, cpu.pcid, cpu.invpcid, cpu.smep, cpu.smap, cpu.maxphyaddr,
           p->offer.nx, p->offer.la57, p->offer.smep, p->offer.smap,
           p->pke_accepted, p->offer.pku, p->offer.pcid, MAXPHY_MIN,
           MAXPHY_MAX);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
  if (sigaction(SIGALRM, &sa, &p->old_sa) < 0) {
    e = errno;
    goto fail;
  }
  p->sa_installed = 1;
  s->priv = p;
  /* KVM on an AMD host reserves bit 8 of PML5Es and PML4Es (SPEC.md 7) */
  s->cpu_flags = strcmp(cpu.vendor, "AuthenticAMD") == 0 ? MMU_CFG_AMD : 0;
  return 0;
fail:
  for (int i = 0; i < NVM; i++)
    if (p->vm[i].live)
      vm_destroy(p, &p->vm[i]);
  free(p->cpuid);
  close(p->kvm_fd);
  free(p);
  return e;
}

static void kvm_describe(const capture_source *s, char *buf, size_t n) {
  const struct kvm_cap_priv *p = s->priv;
  snprintf(buf, n, "%s", p ? p->desc : "kvm: not open");
}

static const char *kvm_why(const capture_source *s, size_t i) {
  const struct kvm_cap_priv *p = s->priv;
  return p ? capture_reason_of(&p->reasons, i) : "";
}

void kvm_cap_get_stats(const capture_source *s, kvm_cap_stats *out) {
  const struct kvm_cap_priv *p = s->priv;
  memset(out, 0, sizeof *out);
  if (p)
    *out = p->st;
}

static void kvm_close(capture_source *s) {
  struct kvm_cap_priv *p = s->priv;
  if (!p)
    return;
  watchdog(0);
  for (int i = 0; i < NVM; i++)
    if (p->vm[i].live)
      vm_destroy(p, &p->vm[i]);
  if (p->sa_installed)
    sigaction(SIGALRM, &p->old_sa, NULL);
  free(p->cpuid);
  close(p->kvm_fd);
  capture_reasons_free(&p->reasons);
  free(p);
  s->priv = NULL;
}

/* ---- one vector ----------------------------------------------------------- */

/* Current value of the entry at gpa as the vector has it after the steps
 * before `upto` (for predicting where a fetch lands). */
static uint64_t pred_entry(const vec_vector *v, unsigned upto, uint64_t gpa) {
  uint64_t val = 0;
  for (uint32_t i = 0; i < v->pte_count; i++)
    if (v->pte[i].gpa == gpa)
      val = v->pte[i].value;
  for (unsigned s = 0; s < upto; s++)
    if (v->step[s].op == VEC_SET_PTE && v->step[s].a == gpa)
      val = v->step[s].b;
  return val;
}

static int pred_walk(const vec_vector *v, unsigned upto, uint64_t va,
                     uint64_t *pa) {
  uint64_t cr3 = v->cr3;
  for (unsigned s = 0; s < upto; s++)
    if (v->step[s].op == VEC_CR3)
      cr3 = v->step[s].a;
  if (capture_vector_mode(v) == CAPTURE_MODE_OFF) { /* linear is physical */
    *pa = va & 0xffffffffull;
    return 0;
  }
  int levels = (v->cr4 & MMU_CR4_LA57) ? 5 : 4;
  uint64_t table = cr3 & CAP_ADDR_MASK;
  for (int l = levels; l >= 1; l--) {
    uint64_t idx = (va >> (12 + 9 * (l - 1))) & 511;
    uint64_t e = pred_entry(v, upto, table + 8 * idx);
    if (!(e & MMU_PTE_P))
      return -1;
    if ((l == 2 || l == 3) && (e & MMU_PTE_PS)) {
      uint64_t sz = 1ull << (12 + 9 * (l - 1));
      *pa = (e & CAP_ADDR_MASK & ~(sz - 1)) | (va & (sz - 1));
      return 0;
    }
    table = e & CAP_ADDR_MASK;
  }
  *pa = table | (va & 0xfff);
  return 0;
}

static int page_is_table(const capture_vmem *m, uint64_t pa) {
  for (unsigned i = 0; i < m->ntouched; i++)
    if ((m->touched[i] & ~0xfffull) == (pa & ~0xfffull))
      return 1;
  return 0;
}

/* What the vector can do here: long mode, the CR4 controls and NXE that
 * KVM_SET_SREGS accepted (probe_features). */
static int plan(struct kvm_cap_priv *p, const vec_vector *v, capture_vmem *m) {
  capture_limits lim =
      capture_limits_of(&p->offer, p->ram_size, capture_kvm.modes);
  return capture_plan_vector(&lim, v, m, p->err, sizeof p->err);
}

/* The outcome of access st from what the guest recorded; -1 if the
 * exception makes no sense for it. */
static int classify(const struct kvm_cap_priv *p, const vec_step *st,
                    int la57, uint64_t vec, uint64_t ec, uint64_t cr2,
                    uint64_t rip, vec_outcome *o) {
  capture_exc e = {vec, ec, cr2, rip};
  return capture_decode(&p->img, la57, CAPTURE_FETCH_RUNS, st, &e, o);
}

/* KVM cannot emulate an instruction fetched from MMIO: KVM_RUN fails with
 * an emulation error, RIP at the fetched address. The walk succeeded (a
 * failed one would have injected #PF), so record the translation and send
 * the guest to its recovery point as if an exception had been taken. */
static int fetch_from_mmio(struct kvm_cap_priv *p, capvm *vm,
                           const vec_vector *v, uint64_t cur) {
  uint8_t *mem = vm->mem;
  struct kvm_run *run = vm->run;
  if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
      cur >= v->step_count || v->step[cur].op != VEC_ACCESS ||
      (v->step[cur].access & 3) != MMU_FETCH ||
      cap_rd64(mem, H_RES + R_ARMED) != 1)
    return -EIO;
  struct kvm_regs regs;
  if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0)
    return -EIO;
  if (regs.rip != v->step[cur].a)
    return -EIO;
  struct kvm_translation tr;
  memset(&tr, 0, sizeof tr);
  tr.linear_address = regs.rip;
  if (ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) < 0)
    return -EIO;
  if (!tr.valid) { /* SMAP and a user page: as in run_vm */
    uint64_t fl = regs.rflags;
    regs.rflags |= 1ull << 18;
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0 ||
        ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) < 0)
      return -EIO;
    regs.rflags = fl;
  }
  if (tr.valid) {
    p->sc[cur].have_pa = 1;
    p->sc[cur].pa = tr.physical_address;
  }
  p->st.fetch_mmio++;
  cap_wr64(mem, H_RES + R_EVEC, EXC_FETCH_MMIO);
  cap_wr64(mem, H_RES + R_EEC, 0);
  cap_wr64(mem, H_RES + R_ECR2, 0);
  cap_wr64(mem, H_RES + R_ERIP, regs.rip);
  cap_wr64(mem, H_RES + R_ARMED, 0);
  cap_wr64(mem, H_MBOX + MB_MMIO_SEEN + 8 * cur, 1);
  regs.rip = cap_rd64(mem, H_RES + R_RIP);
  regs.rsp = cap_rd64(mem, H_RES + R_RSP);
  regs.rflags = 2;
  struct kvm_sregs s;
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0)
    return -EIO;
  if (s.cs.dpl != 0) { /* the fetch was at CPL 3 */
    int ia32e = (s.efer & MMU_EFER_LMA) != 0;
    set_seg(&s.cs, ia32e ? SEL_KCODE : SEL_KCODE32, 11, ia32e);
    if (!ia32e)
      set_seg(&s.ds, SEL_KDATA, 3, 0), s.es = s.ds;
    set_seg(&s.ss, SEL_KDATA, 3, 0);
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &s) < 0)
      return -EIO;
  }
  if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
    return -EIO;
  return 0;
}

static int run_vm(struct kvm_cap_priv *p, capvm *vm, vec_vector *v,
                  int la57) {
  uint8_t *mem = vm->mem;
  struct kvm_run *run = vm->run;
  unsigned max_exits = 64 + 8 * v->step_count;
  int64_t deadline = now_ns() + RUN_DEADLINE_NS;
  for (unsigned n = 0; n < max_exits;) {
    if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        if (now_ns() > deadline) {
          set_err(p, "timeout (guest stuck at step %llu)",
                  (unsigned long long)cap_rd64(mem, H_RES + R_CUR));
          return -ETIMEDOUT;
        }
        continue;
      }
      set_err(p, "KVM_RUN: %s", strerror(errno));
      return -EIO;
    }
    n++;
    p->st.runs++;
    uint64_t cur = cap_rd64(mem, H_RES + R_CUR);
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      if (run->io.port != EXIT_PORT || run->io.direction != KVM_EXIT_IO_OUT ||
          run->io.size != 1) {
        set_err(p, "unexpected I/O exit, port %#x", run->io.port);
        return -EPROTO;
      }
      uint8_t code = *((uint8_t *)run + run->io.data_offset);
      if (code == EXIT_DONE)
        return 0;
      if (code == EXIT_BADPKRU) {
        set_err(p, "WRPKRU %#x faulted (vector %llu)", v->pkru,
                (unsigned long long)cap_rd64(mem, H_RES + R_EVEC));
        continue;
      }
      if (code == EXIT_BADCR3) {
        set_err(p, "MOV to CR3 %#llx faulted (vector %llu, error %#llx)",
                (unsigned long long)v->cr3,
                (unsigned long long)cap_rd64(mem, H_RES + R_EVEC),
                (unsigned long long)cap_rd64(mem, H_RES + R_EEC));
        /* the guest goes on to tear down and exits DONE; report after */
        continue;
      }
      if (code == EXIT_PANIC) {
        set_err(p, "guest exception %llu error %#llx cr2 %#llx rip %#llx "
                "at step %llu with no recovery",
                (unsigned long long)cap_rd64(mem, H_RES + R_EVEC),
                (unsigned long long)cap_rd64(mem, H_RES + R_EEC),
                (unsigned long long)cap_rd64(mem, H_RES + R_ECR2),
                (unsigned long long)cap_rd64(mem, H_RES + R_ERIP),
                (unsigned long long)cur);
        return -EPROTO;
      }
      if (code != EXIT_STEP || cur >= v->step_count) {
        set_err(p, "bad exit code %u at step %llu", code,
                (unsigned long long)cur);
        return -EPROTO;
      }
      p->st.exits_step++;
      vec_step *st = &v->step[cur];
      vec_outcome o;
      if (classify(p, st, la57, cap_rd64(mem, H_RES + R_EVEC),
                   cap_rd64(mem, H_RES + R_EEC), cap_rd64(mem, H_RES + R_ECR2),
                   cap_rd64(mem, H_RES + R_ERIP), &o) < 0 ||
          o.kind != VEC_OUT_OK)
        break;
      struct kvm_translation tr;
      memset(&tr, 0, sizeof tr);
      tr.linear_address = st->a;
      if (ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) < 0) {
        set_err(p, "KVM_TRANSLATE: %s", strerror(errno));
        return -EIO;
      }
      if (!tr.valid) {
        /* KVM_TRANSLATE is a supervisor read with the current RFLAGS.AC:
         * retry with AC = 1 so that SMAP does not refuse user pages */
        struct kvm_regs regs;
        if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) {
          set_err(p, "KVM_GET_REGS: %s", strerror(errno));
          return -EIO;
        }
        uint64_t fl = regs.rflags;
        regs.rflags |= 1ull << 18;
        if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0 ||
            ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) < 0) {
          set_err(p, "KVM_TRANSLATE (AC): %s", strerror(errno));
          return -EIO;
        }
        regs.rflags = fl;
        if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
          set_err(p, "KVM_SET_REGS: %s", strerror(errno));
          return -EIO;
        }
      }
      if (tr.valid) {
        p->sc[cur].have_pa = 1;
        p->sc[cur].pa = tr.physical_address;
      }
      break;
    }
    case KVM_EXIT_MMIO:
      p->st.exits_mmio++;
      if (cur < v->step_count && v->step[cur].op == VEC_ACCESS &&
          !p->sc[cur].have_pa) {
        p->sc[cur].have_pa = 1;
        p->sc[cur].pa = run->mmio.phys_addr;
        cap_wr64(mem, H_MBOX + MB_MMIO_SEEN + 8 * cur, 1);
      }
      if (!run->mmio.is_write)
        memset(run->mmio.data, 0, sizeof run->mmio.data);
      break;
    case KVM_EXIT_SHUTDOWN:
      set_err(p, "guest shutdown (triple fault) at step %llu",
              (unsigned long long)cur);
      return -EIO;
    case KVM_EXIT_INTERNAL_ERROR: {
      int rr = fetch_from_mmio(p, vm, v, cur);
      if (rr < 0) {
        if (!p->err[0])
          set_err(p, "KVM internal error, suberror %u, at step %llu",
                  run->internal.suberror, (unsigned long long)cur);
        return rr;
      }
      break;
    }
    case KVM_EXIT_FAIL_ENTRY:
      set_err(p, "VM entry failed, reason %#llx",
              (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
      return -EIO;
    case KVM_EXIT_HLT:
      set_err(p, "guest halted at step %llu", (unsigned long long)cur);
      return -EIO;
    default:
      set_err(p, "unexpected exit reason %u at step %llu", run->exit_reason,
              (unsigned long long)cur);
      return -EIO;
    }
  }
  set_err(p, "too many exits");
  return -ETIMEDOUT;
}


static void make_sregs(const capvm *vm, int la57, uint64_t cr0, uint64_t cr4,
                       uint64_t efer, struct kvm_sregs *s) {
  uint64_t hb = cap_hb(la57);
  *s = vm->sregs0;
  set_seg(&s->cs, SEL_KCODE, 11, 1);
  set_seg(&s->ds, SEL_KDATA, 3, 0);
  s->es = s->fs = s->gs = s->ss = s->ds;
  memset(&s->tr, 0, sizeof s->tr);
  s->tr.selector = la57 ? SEL_TSS5 : SEL_TSS4;
  s->tr.base = hb + (la57 ? H_TSS5 : H_TSS4);
  s->tr.limit = 0x67;
  s->tr.type = 11;
  s->tr.present = 1;
  memset(&s->ldt, 0, sizeof s->ldt);
  s->ldt.type = 2;
  s->ldt.unusable = 1;
  s->gdt.base = hb + H_GDT;
  s->gdt.limit = SEL_LDT + 15;
  s->idt.base = hb + (la57 ? H_IDT5 : H_IDT4);
  s->idt.limit = 32 * 16 - 1;
  s->cr0 = cr0;
  s->cr3 = la57 ? H_PML5 : H_PML4;
  s->cr4 = cr4;
  s->efer = efer | MMU_EFER_LMA;
  memset(s->interrupt_bitmap, 0, sizeof s->interrupt_bitmap);
}

/* The state a vector outside IA-32e starts its steps in: 32-bit protected
 * mode at CPL 0 with the harness's 32-bit GDT entries, IDT and TSS, and the
 * vector's CR0/CR4/EFER (paging off: the only such mode kvm_pvm runs). */
static void make_sregs32(const capvm *vm, const vec_vector *v,
                         struct kvm_sregs *s) {
  *s = vm->sregs0;
  set_seg(&s->cs, SEL_KCODE32, 11, 0);
  set_seg(&s->ds, SEL_KDATA, 3, 0);
  s->es = s->fs = s->gs = s->ss = s->ds;
  memset(&s->tr, 0, sizeof s->tr);
  s->tr.selector = SEL_TSS32;
  s->tr.base = H_TSS32;
  s->tr.limit = 0x67;
  s->tr.type = 11;
  s->tr.present = 1;
  memset(&s->ldt, 0, sizeof s->ldt);
  s->ldt.type = 2;
  s->ldt.unusable = 1;
  s->gdt.base = H_GDT;
  s->gdt.limit = GDT_END - 1;
  s->idt.base = H_IDT32;
  s->idt.limit = 32 * 8 - 1;
  s->cr0 = v->cr0;
  s->cr3 = v->cr3 & 0xffffffffull;
  s->cr4 = v->cr4;
  s->efer = v->efer;
  memset(s->interrupt_bitmap, 0, sizeof s->interrupt_bitmap);
}

/* Does an access of v run at CPL 3? */
static int user_steps(const vec_vector *v) {
  unsigned cpl = v->cpl;
  for (uint32_t i = 0; i < v->step_count; i++) {
    if (v->step[i].op == VEC_CPL)
      cpl = (unsigned)v->step[i].a;
    if (v->step[i].op == VEC_ACCESS && (cpl & 3) == 3)
      return 1;
  }
  return 0;
}

/* Runs one vector in the VM of its MAXPHYADDR; its status (source.h), with
 * p->err saying why it was not captured. */
static int run_vector(struct kvm_cap_priv *p, vec_vector *v) {
  p->err[0] = 0;
  capture_vmem pl;
  int r = plan(p, v, &pl);
  if (r < 0) {
    p->st.rejected++;
    return r;
  }
  if (capture_vector_mode(v) < CAPTURE_MODE_LONG4 && user_steps(v)) {
    /* kvm_pvm fails to emulate an IRET to CPL 3 outside IA-32e
     * (KVM_EXIT_INTERNAL_ERROR, measured) */
    set_err(p, "CPL 3 outside IA-32e: kvm_pvm cannot enter it");
    p->st.rejected++;
    return -ENOTSUP;
  }
  uint32_t mp = v->maxphyaddr ? v->maxphyaddr : 52;
  capvm *vm = &p->vm[mp - MAXPHY_MIN];
  if (!vm->live && vm_create(p, vm, mp) < 0) {
    p->st.failures++;
    return -EIO;
  }
  int la57 = (v->cr4 & MMU_CR4_LA57) != 0;
  uint64_t hb = cap_hb(la57);
  uint8_t *mem = vm->mem;

  /* reuse the vCPU state when the previous vector left it as this one
   * needs it; MOV to CR3 in the guest then flushes as between vectors */
  int ia32e = capture_vector_mode(v) >= CAPTURE_MODE_LONG4;
  int carry = ia32e && vm->carry && vm->last_la57 == la57 && vm->last_cr0 == v->cr0 &&
              vm->last_cr4 == v->cr4 && vm->last_efer == v->efer;
  if (!carry)
    vm->nlive_top = 0; /* the harness CR3 will be current: nothing to spare */

  /* paging entries: write only what differs from what is in memory (the
   * previous vector's entries, A/D bits included, are still there) */
  static uint64_t pend_gpa[MB_MAX_WRITES], pend_val[MB_MAX_WRITES];
  unsigned npend = 0, npost = 0, nwr = 0;
  for (unsigned i = 0; i < pl.n; i++)
    if (cap_rd64(mem, pl.gpa[i]) != pl.val[i]) {
      pend_gpa[npend] = pl.gpa[i];
      pend_val[npend++] = pl.val[i];
    }
  for (unsigned i = 0; i < pl.ntouched; i++) { /* SET_PTE targets start at 0 */
    int listed = 0;
    for (unsigned j = 0; j < pl.n && !listed; j++)
      listed = pl.gpa[j] == pl.touched[i];
    if (!listed && cap_rd64(mem, pl.touched[i]) != 0) {
      pend_gpa[npend] = pl.touched[i];
      pend_val[npend++] = 0;
    }
  }
  for (unsigned i = 0; i < vm->ndirty; i++) {
    int kept = 0;
    for (unsigned j = 0; j < pl.ntouched && !kept; j++)
      kept = pl.touched[j] == vm->dirty[i];
    if (!kept && cap_rd64(mem, vm->dirty[i]) != 0) {
      if (npend >= MB_MAX_WRITES)
        goto too_many;
      pend_gpa[npend] = vm->dirty[i];
      pend_val[npend++] = 0;
    }
  }
  /* entries in a page the current CR3 points to are written after the
   * MOV to CR3 (one of them maps the harness); in other pages that take
   * two writes or more, a one-byte rewrite first makes KVM drop the
   * shadow page so that the other writes do not trap */
  for (unsigned i = 0; i < npend; i++) {
    uint64_t pg = pend_gpa[i] & ~0xfffull;
    int on_top = 0, seen = 0, count = 0;
    for (unsigned j = 0; j < vm->nlive_top; j++)
      on_top |= vm->live_top[j] == pg;
    if (on_top) {
      if (npost >= MB_MAX_POST)
        goto too_many;
      cap_wr64(mem, H_MBOX + MB_POST + 16 * npost, pend_gpa[i]);
      cap_wr64(mem, H_MBOX + MB_POST + 16 * npost + 8, pend_val[i]);
      npost++;
      continue;
    }
    for (unsigned j = 0; j < npend; j++) {
      if ((pend_gpa[j] & ~0xfffull) != pg)
        continue;
      count++;
      seen |= j < i;
    }
    if (nwr + 2 > MB_MAX_WRITES)
      goto too_many;
    if (count >= 2 && !seen) {
      cap_wr64(mem, H_MBOX + MB_WRITES + 16 * nwr, pend_gpa[i] + 1);
      cap_wr64(mem, H_MBOX + MB_WRITES + 16 * nwr + 8, 0);
      nwr++;
    }
    cap_wr64(mem, H_MBOX + MB_WRITES + 16 * nwr, pend_gpa[i]);
    cap_wr64(mem, H_MBOX + MB_WRITES + 16 * nwr + 8, pend_val[i]);
    nwr++;
  }
  if (0) {
  too_many:
    set_err(p, "too many entries to write");
    p->st.rejected++;
    return -EINVAL;
  }
  /* from here on, whatever happens, memory may hold this vector's entries */
  int tainted = 0; /* cannot track what is in memory: drop the VM after */
  for (unsigned i = 0; i < pl.ntouched; i++)
    if (cap_add_unique(vm->dirty, &vm->ndirty, 2 * MB_MAX_ZERO, pl.touched[i]) < 0)
      tainted = 1;
  vm->carry = 0;

  /* mailbox */
  cap_wr64(mem, H_MBOX + MB_VEC_CR3, v->cr3);
  cap_wr64(mem, H_MBOX + MB_NWRITES, nwr);
  cap_wr64(mem, H_MBOX + MB_NPOST, npost);
  cap_wr64(mem, H_MBOX + MB_NMON, pl.nwatch);
  cap_wr64(mem, H_MBOX + MB_NSTEPS, v->step_count);
  cap_wr64(mem, H_MBOX + MB_CPL, v->cpl == 3 ? 3 : 0);
  cap_wr64(mem, H_MBOX + MB_AC, v->ac ? 1 : 0);
  /* PKRU only means something (and WRPKRU only works) with CR4.PKE */
  cap_wr64(mem, H_MBOX + MB_PKRU_SET, (v->cr4 & MMU_CR4_PKE) ? 1 : 0);
  cap_wr64(mem, H_MBOX + MB_PKRU, v->pkru);
  for (unsigned i = 0; i < VEC_MAX_STEPS; i++)
    cap_wr64(mem, H_MBOX + MB_MMIO_SEEN + 8 * i, 0);
  for (unsigned i = 0; i < v->step_count; i++) {
    const vec_step *st = &v->step[i];
    /* a write stores the byte found at the predicted physical address */
    uint64_t pa, q[STEP_SIZE / 8];
    p->pred[i] = UINT64_MAX;
    if (st->op == VEC_ACCESS && (st->access & 7) == MMU_WRITE &&
        pred_walk(v, i, st->a, &pa) == 0 && pa < p->ram_size)
      p->pred[i] = pa;
    capture_encode_step(st, p->pred[i], q);
    memcpy(mem + H_MBOX + MB_STEPS + STEP_SIZE * i, q, STEP_SIZE);
  }
  for (unsigned i = 0; i < pl.nwatch; i++)
    cap_wr64(mem, H_MBOX + MB_MON + 8 * i, pl.watch[i]);
  cap_wr64(mem, H_RES + R_CUR, 0);
  memset(mem + H_RES + R_EXC, 0xff, 32 * VEC_MAX_STEPS);
  memset(p->sc, 0, sizeof p->sc);

  /* fetch targets in ordinary RAM get an int3, so that the fetched bytes
   * have no side effects (a zero sled would run on) */
  p->nplanted = 0;
  for (unsigned i = 0; i < v->step_count; i++) {
    const vec_step *st = &v->step[i];
    uint64_t pa;
    if (st->op != VEC_ACCESS || (st->access & 3) != MMU_FETCH)
      continue;
    if (pred_walk(v, i, st->a, &pa) < 0 || pa < H_END ||
        pa >= p->ram_size || page_is_table(&pl, pa))
      continue;
    mem[pa] = 0xcc;
    p->planted[p->nplanted++] = pa;
  }

  /* registers */
  if (!ia32e) {
    struct kvm_sregs s;
    make_sregs32(vm, v, &s);
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = H_CODE + (uint64_t)(kvm_guest_entry32 - kvm_guest_image);
    regs.rsp = H_KSTACK_TOP;
    regs.rflags = 2;
    vm->regs_ok = 0;
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &s) < 0 ||
        ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
      int e = errno;
      set_err(p, "KVM_SET_SREGS/REGS (cr0 %#llx cr4 %#llx efer %#llx): %s",
              (unsigned long long)s.cr0, (unsigned long long)s.cr4,
              (unsigned long long)s.efer, strerror(e));
      r = e == EINVAL ? -ENOTSUP : -EIO;
      goto out;
    }
  } else if (!carry) {
    struct kvm_sregs s;
    make_sregs(vm, la57, v->cr0, v->cr4, v->efer, &s);
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &s) < 0) {
      int e = errno;
      set_err(p, "KVM_SET_SREGS (cr0 %#llx cr4 %#llx efer %#llx): %s",
              (unsigned long long)s.cr0, (unsigned long long)s.cr4,
              (unsigned long long)s.efer, strerror(e));
      r = e == EINVAL ? -ENOTSUP : -EIO;
      goto out;
    }
    if (!vm->regs_ok || vm->last_la57 != la57) {
      struct kvm_regs regs;
      memset(&regs, 0, sizeof regs);
      regs.rip = hb + H_CODE;
      regs.rsp = hb + H_KSTACK_TOP;
      regs.rflags = 2;
      if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
        set_err(p, "KVM_SET_REGS: %s", strerror(errno));
        r = -EIO;
        goto out;
      }
      vm->regs_ok = 1;
      vm->last_la57 = la57;
    }
  }

  watchdog(1);
  r = run_vm(p, vm, v, la57);
  watchdog(0);
  if (r < 0)
    goto out;
  if (p->err[0]) { /* BADCR3, BADPKRU: the guest refused the state */
    r = -ENOTSUP;
    goto out;
  }

  /* outcomes and A/D changes */
  for (unsigned i = 0; i < v->step_count; i++) {
    vec_step *st = &v->step[i];
    if (st->op != VEC_ACCESS)
      continue;
    uint64_t ex = H_RES + R_EXC + 32 * i;
    vec_outcome o;
    if (classify(p, st, la57, cap_rd64(mem, ex), cap_rd64(mem, ex + 8),
                 cap_rd64(mem, ex + 16), cap_rd64(mem, ex + 24), &o) < 0) {
      set_err(p, "step %u: unexpected exception %llu error %#llx rip %#llx",
              i, (unsigned long long)cap_rd64(mem, ex),
              (unsigned long long)cap_rd64(mem, ex + 8),
              (unsigned long long)cap_rd64(mem, ex + 24));
      r = -EPROTO;
      goto out;
    }
    if (o.kind == VEC_OUT_OK) {
      if (!p->sc[i].have_pa) {
        set_err(p, "step %u: access succeeded but no physical address", i);
        r = -EPROTO;
        goto out;
      }
      o.pa_or_cr2 = p->sc[i].pa;
      if ((st->access & 7) == MMU_WRITE && o.pa_or_cr2 < p->ram_size &&
          o.pa_or_cr2 != p->pred[i])
        p->st.writes_unpredicted++; /* the store may have changed a byte */
    }
    st->expect = o;
    st->ad_count = 0;
    uint64_t before = H_RES + R_SNAP + 8ull * MAX_WATCH * i;
    uint64_t after = before + 8ull * MAX_WATCH;
    for (unsigned j = 0; j < pl.nwatch; j++) {
      uint64_t b = cap_rd64(mem, before + 8 * j), a = cap_rd64(mem, after + 8 * j);
      if (a == b)
        continue;
      if (st->ad_count >= VEC_MAX_AD) {
        set_err(p, "step %u: more than %d entries changed", i, VEC_MAX_AD);
        r = -EPROTO;
        goto out;
      }
      st->ad[st->ad_count].gpa = pl.watch[j];
      st->ad[st->ad_count].value = a;
      st->ad_count++;
    }
  }
  r = 0;
  /* what this vector leaves behind, for the next one */
  memcpy(vm->dirty, pl.touched, pl.ntouched * sizeof pl.touched[0]);
  vm->ndirty = pl.ntouched;
  vm->nlive_top = 0;
  for (unsigned i = 0; i < pl.ntop; i++)
    vm->live_top[vm->nlive_top++] = pl.top[i];
  vm->last_cr0 = v->cr0;
  vm->last_cr4 = v->cr4;
  vm->last_efer = v->efer;
  vm->carry = ia32e;
  for (unsigned i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_CR0 || v->step[i].op == VEC_CR4 ||
        v->step[i].op == VEC_EFER)
      vm->carry = 0;
out:
  for (unsigned i = 0; i < p->nplanted; i++)
    mem[p->planted[i]] = 0;
  p->nplanted = 0;
  if (tainted || (r < 0 && r != -EINVAL && r != -ENOTSUP && r != -ERANGE)) {
    p->st.failures++;
    vm_destroy(p, vm); /* re-created on the next run */
  } else if (r < 0) {
    p->st.rejected++;
  } else {
    p->st.vectors++;
  }
  return r;
}

static int kvm_run(capture_source *s, vec_vector *v, size_t n, int *status) {
  struct kvm_cap_priv *p = s->priv;
  int captured = 0;
  if (!p)
    return -EINVAL;
  capture_reasons_reset(&p->reasons, n);
  for (size_t i = 0; i < n; i++) {
    status[i] = run_vector(p, &v[i]);
    if (status[i] == 0)
      captured++;
    else
      capture_reason(&p->reasons, i, "%s", p->err);
  }
  return captured;
}

static const capture_departure *const kvm_departures[] = {
    &capture_smap_fetch, &capture_pml4_slot256, NULL};

capture_source capture_kvm = {
    .name = "kvm",
    .needs = "KVM device",
    .caps = GEN_CAP_SMAP | GEN_CAP_IMPLICIT | GEN_CAP_MAXPHY | GEN_CAP_MMIO |
            GEN_CAP_NOPAGING,
    /* kvm_pvm pages only in IA-32e: it shuts a vCPU down that sets CR0.PG
     * with EFER.LME clear, so no 32-bit or PAE paging */
    .modes = CAPTURE_MODES_LONG | CAPTURE_MODE_BIT(CAPTURE_MODE_OFF),
    .departures = kvm_departures,
    .open = kvm_open,
    .describe = kvm_describe,
    .run = kvm_run,
    .why = kvm_why,
    .close = kvm_close,
};
