/* SPDX-License-Identifier: MIT */
/* layout.h - guest-physical layout of the KVM capture harness, shared by the
 * guest code (harness.S, through cpp) and the host (kvm.c). Plain #defines
 * only: this file is included from assembly.
 *
 * The harness owns guest-physical [0, 2 MiB). It is reached at the linear
 * address HB + pa, where HB is top-level slot 1: 1 << 39 with 4-level
 * paging, 1 << 48 with 5-level paging. The same slot maps all of guest RAM
 * (HB + gpa -> gpa), so the guest writes any paging entry through it
 * whatever CR3 is current. */
#ifndef KVM_CAP_GUEST_LAYOUT_H
#define KVM_CAP_GUEST_LAYOUT_H

#define H_GDT 0x1000
#define H_IDT4 0x2000 /* IDT used with 4-level paging (handlers at HB4) */
#define H_IDT5 0x3000 /* IDT used with 5-level paging (handlers at HB5) */
#define H_TSS4 0x4000
#define H_TSS5 0x4100
#define H_MBOX 0x5000 /* host -> guest: what to do (0x5000..0x7fff) */
#define H_RES 0x8000  /* guest -> host: what happened (0x8000..0xffff) */
#define H_CODE 0x10000    /* harness.S image (supervisor, U=0) */
#define H_USER 0x20000    /* user-mode probe stubs (U=1), image + 0x10000 */
#define H_USCRATCH 0x21000 /* U=1 scratch page (fetch sleds write here) */
#define H_USTACK 0x23000  /* top of the (unused) user stack, U=1 */
#define H_KSCRATCH 0x24000
#define H_XSTACK_TOP 0x37000 /* TSS.RSP0: exceptions from CPL 3 */
#define H_KSTACK_TOP 0x40000 /* harness stack */
#define H_PML5 0x40000   /* harness CR3, 5-level: [1] -> H_PML4_5 */
#define H_PML4 0x41000   /* harness CR3, 4-level: [1] -> H_PDPT */
#define H_PDPT 0x42000   /* window: [i] -> H_PD + i * 4096 (GiB i) */
#define H_PML4_5 0x43000 /* 5-level: [0] -> H_PDPT */
#define H_PT0 0x44000    /* 4 KiB pages of [0, 2 MiB) */
#define H_PD 0x50000     /* one page per GiB of RAM, up to H_MAX_GIB */
#define H_MAX_GIB 64
#define H_END 0x200000

/* GDT selectors */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18 /* | 3 */
#define SEL_UCODE 0x20 /* | 3 */
#define SEL_TSS 0x28   /* 16 bytes */
#define SEL_LDT 0x38   /* 16 bytes, base rewritten per implicit access */

/* exits: out EXIT_PORT, al */
#define EXIT_PORT 0x10
#define EXIT_DONE 1
#define EXIT_STEP 2   /* an access may have succeeded: translate it */
#define EXIT_PANIC 3  /* exception with no recovery armed */
#define EXIT_BADCR3 4 /* MOV to CR3 of the vector's CR3 faulted */
#define EXIT_BADPKRU 5 /* WRPKRU of the initial PKRU faulted */

/* mailbox (offsets from H_MBOX) */
#define MB_VEC_CR3 0x00
#define MB_NPOST 0x08 /* writes after MOV to CR3 (old harness entries) */
#define MB_NWRITES 0x10
#define MB_NMON 0x20
#define MB_NSTEPS 0x28
#define MB_CPL 0x30
#define MB_AC 0x38
#define MB_PKRU_SET 0x40 /* 1: WRPKRU MB_PKRU before the first step */
#define MB_PKRU 0x48
#define MB_MMIO_SEEN 0x80 /* [16] quads, set by the host on MMIO exits */
#define MB_STEPS 0x100    /* [16] x 48 bytes */
#define STEP_SIZE 48
#define S_OP 0
#define S_KIND 8
#define S_A 16
#define S_B 24
#define S_C 32
#define MB_MON 0xe00 /* [MB_MAX_MON] gpas */
#define MB_MAX_MON 96
/* (gpa, value) pairs; a gpa that is not a multiple of 8 is a one-byte
 * rewrite of the byte there (which makes KVM drop its shadow page: later
 * writes to that page do not trap) */
#define MB_WRITES 0x1200
#define MB_MAX_WRITES 256
#define MB_POST 0x2200
#define MB_MAX_POST 32

/* results (offsets from H_RES) */
#define R_CUR 0x00
#define R_ARMED 0x08
#define R_RSP 0x10
#define R_RIP 0x18
#define R_EVEC 0x20 /* last exception: vector, -1 for none */
#define R_EEC 0x28
#define R_ECR2 0x30
#define R_ERIP 0x38
#define R_CPL 0x40
#define R_AC 0x48
#define R_EXC 0x100 /* [16] x (vec, ec, cr2, rip) */
#define R_SNAP 0x400 /* [17][MB_MAX_MON] quads: monitored entries */

/* image header (offsets from H_CODE), quads written by harness.S */
#define HDR_STUBS 8
#define HDR_LLDT 16
#define HDR_USER 24

#endif
