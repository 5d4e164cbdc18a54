/* SPDX-License-Identifier: MIT */
/* layout.h - what every capture guest harness shares with its host
 * (guest.c): the guest-physical layout of the harness's own pages, its
 * GDT selectors, the run-time record the step library keeps, the step
 * encoding and the image header. A source's own layout (kguest/klayout.h,
 * qguest/qlayout.h) adds its mailbox and results and defines H_STATE.
 * Plain #defines only: this file is included from assembly.
 *
 * The harness owns guest-physical [0, H_END). It runs at the linear
 * address HB + pa, where HB is top-level slot CAPTURE_HARNESS_SLOT: 1 << 39
 * with 4-level paging, 1 << 48 with 5-level paging. The same slot maps all
 * of guest RAM (HB + gpa -> gpa), so the guest writes any paging entry
 * through it whatever CR3 is current; the host adds that one entry to
 * every top-level table a vector's CR3 points to. Harness pages are
 * supervisor (U=0) except the user stub, user scratch and user stack pages
 * (U=1, pkey 0); XD=0. */
#ifndef CAPTURE_GUEST_LAYOUT_H
#define CAPTURE_GUEST_LAYOUT_H

#define CAPTURE_HARNESS_SLOT 1

#define H_GDT 0x1000
#define H_IDT4 0x2000 /* IDT used with 4-level paging (handlers at HB4) */
#define H_IDT5 0x3000 /* IDT used with 5-level paging (handlers at HB5) */
#define H_TSS4 0x4000
#define H_TSS5 0x4100
#define H_MBOX 0x5000 /* [H_MBOX, H_CODE): the source's own (its layout) */
#define H_CODE 0x10000    /* the image (supervisor, U=0) */
#define H_USER 0x18000    /* user-mode probe stubs (U=1), image + 0x8000 */
#define H_USCRATCH 0x19000 /* U=1 scratch page; also the image's end */
#define H_USTACK 0x1b000  /* top of the (unused) user stack page, U=1 */
#define H_KSCRATCH 0x1c000 /* a kernel fetch's zero sled adds to it */
#define H_XSTACK_TOP 0x30000 /* TSS.RSP0: exceptions from CPL 3 */
#define H_KSTACK_TOP 0x40000 /* harness stack */
#define H_PML5 0x40000   /* harness CR3, 5-level: [1] -> H_PML4_5 */
#define H_PML4 0x41000   /* harness CR3, 4-level: [1] -> H_PDPT */
#define H_PDPT 0x42000   /* window: [i] -> H_PD + i * 4096 (GiB i) */
#define H_PML4_5 0x43000 /* 5-level: [0] -> H_PDPT */
#define H_PT0 0x44000    /* 4 KiB pages of [0, 2 MiB) */
#define H_PD 0x50000     /* one page per GiB of RAM, up to H_MAX_GIB */
#define H_MAX_GIB 32
#define H_IDT32 0x82000 /* IDT used outside IA-32e (8-byte gates) */
#define H_TSS32 0x82800 /* its TSS: ESP0 = H_XSTACK_TOP, SS0 = SEL_KDATA */
/* Outside IA-32e the harness runs at linear = physical: the host puts in
 * each of a vector's top-level tables the entries mapping [0, 64 MiB)
 * (H_LEGACY_MAP): 32-bit paging PDEs 0..15 -> H_LPT32 + 4 KiB * i (4-byte
 * PTEs), PAE paging PDPTE 0 -> H_LPD_PAE (PDE 0 -> H_LPT_PAE, then 2 MiB
 * pages). User pages as in the window. */
#define H_LEGACY_MAP 0x4000000
#define H_LPT32 0x70000   /* 16 pages */
#define H_LPD_PAE 0x80000
#define H_LPT_PAE 0x81000
/* a fetch's stack, [0x83000, H_FSTACK_TOP): the bytes fetched may push.
 * Below 0xa0000, where a PC has its VGA window and then its BIOS ROM. */
#define H_FSTACK_TOP 0xa0000
#define H_END 0x200000

/* GDT selectors */
#define SEL_KCODE 0x08 /* 64-bit */
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18 /* | 3 */
#define SEL_UCODE 0x20 /* | 3, 64-bit */
#define SEL_TSS4 0x28  /* 16 bytes */
#define SEL_TSS5 0x38  /* 16 bytes */
#define SEL_LDT 0x48   /* 16 bytes, base rewritten per implicit access */
#define SEL_KCODE32 0x58 /* 32-bit: outside IA-32e and for mode switches */
#define SEL_UCODE32 0x60 /* | 3, 32-bit */
#define SEL_TSS32 0x68   /* 8 bytes */
#define GDT_END 0x70     /* the GDT's limit is GDT_END - 1 */

/* The step library's run-time record (offsets from H_STATE, which the
 * source's layout places): the step being run, the armed recovery point
 * and the last exception. */
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

/* A step as the guest reads it: five quads (guest.c writes them). S_OP is
 * the vec_op (conformance/vector.h), numbered as below; S_B of an access is
 * the physical address whose byte a write stores, or -1. */
#define STEP_SIZE 40
#define S_OP 0
#define S_KIND 8
#define S_A 16
#define S_B 24
#define S_C 32
#define OP_ACCESS 1
#define OP_SET_PTE 2
#define OP_INVLPG 3
#define OP_INVPCID 4
#define OP_CR0 5
#define OP_CR3 6
#define OP_CR4 7
#define OP_EFER 8
#define OP_PKRU 9
#define OP_CPL 10
#define OP_AC 11

#define MAX_WATCH 96 /* entries whose changes one vector records */

/* image header (offsets from H_CODE), quads written by macros.inc */
#define HDR_STUBS 8
#define HDR_LLDT 16
#define HDR_USER 24
#define HDR_MAGIC 32
#define IMAGE_MAGIC 0x31475043 /* "CPG1" */

/* CPUID leaves a source describes its CPU by (guest.c decodes them) */
#define CPUID_N 10 /* 0, 1, 7, 0x80000000, 0x80000001..4, 0x80000008,
                      0x8000000a */

#endif
