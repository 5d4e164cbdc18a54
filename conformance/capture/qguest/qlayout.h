/* SPDX-License-Identifier: MIT */
/* qlayout.h - guest-physical layout and command format of the QEMU TCG
 * capture harness, shared by the guest (qharness.S, through cpp) and the
 * host (qemu.c). Plain #defines only: included from assembly.
 *
 * The harness pages, selectors, step encoding and image header are those
 * of every capture harness (guest/layout.h).
 *
 * Boot: QEMU runs with a 64 KiB -bios whose reset vector jumps to H_CODE,
 * where the host already copied this image and built the GDT, IDTs, TSSs
 * and page tables (guest RAM is a file the host maps too). The guest goes
 * to long mode (4- or 5-level), reports CPUID, then waits for the host:
 * the host writes a command list at H_CMD and bumps MB_SEQ; the guest runs
 * it, writes results at H_RES, sets MB_DONE = MB_SEQ and prints 'D' on the
 * isa-debugcon port (the host's doorbell). */
#ifndef QEMU_CAP_GUEST_LAYOUT_H
#define QEMU_CAP_GUEST_LAYOUT_H

#include "../guest/layout.h"

#define H_RT 0x6000     /* guest run-time state (host reads after a crash) */
#define H_STATE H_RT    /* the step library's run-time record */
#define H_MONVAL 0x7000 /* [MAX_WATCH] last seen values of watched entries */
#define H_SYM16 0x7800  /* pattern: nibble -> byte (16) */
#define H_SYM8 0x7810   /* pattern byte 5: 3 bits -> byte (8) */
#define H_INV16 0x7900  /* byte -> nibble, 0xff: not a pattern byte */
#define H_INV8 0x7a00   /* byte -> 3 bits (byte 5), 0xff: invalid */
/* identity map of [0, 2 MiB), for boot and mode switches: harness CR3
 * only, H_PML4[0] -> H_PDPT_ID -> H_PD_ID -> H_PT0, H_PML5[0] -> H_PML4 */
#define H_PDPT_ID 0x45000
#define H_PD_ID 0x46000
#define H_CMD 0x100000   /* host -> guest command list */
#define H_CMD_SIZE 0x80000
#define H_RES 0x180000   /* guest -> host results */
#define H_RES_SIZE 0x80000

#define GDT_LIMIT (GDT_END - 1)

#define DEBUGCON_PORT 0xe9

/* mailbox (offsets from H_MBOX) */
#define MB_SEQ 0x00       /* host: bumped to start a command list */
#define MB_DONE 0x08      /* guest: = MB_SEQ when the list is done */
#define MB_BOOT_LA57 0x10 /* host: paging mode to boot into */
#define MB_CUR_LA57 0x18  /* guest: current paging mode */
#define MB_CURSOR 0x20    /* guest: command offset across mode switches */
#define MB_RESUME 0x28
#define MB_READY 0x30     /* guest: 1 once booted */
#define MB_PANIC 0x40     /* guest: vec, ec, cr2, rip of an unexpected exception */
#define MB_CPUID 0x100    /* guest: [CPUID_N] x (eax, ebx, ecx, edx) */
/* guest: VMX capability MSRs, read at boot where CPUID.1:ECX.VMX = 1 (RDMSR
 * of them #GPs otherwise); quads at MB_VMX + 8 * MBV_* */
#define MB_VMX 0x1c0
#define MBV_READ 0     /* bit 0: VMX (MSRs below read), 1: PROC2, 2: EPT_VPID */
#define MBV_FEATCTL 1  /* IA32_FEATURE_CONTROL (0x3a) */
#define MBV_PROC 2     /* IA32_VMX_PROCBASED_CTLS (0x482) */
#define MBV_PROC2 3    /* IA32_VMX_PROCBASED_CTLS2 (0x48b), if PROC[63] */
#define MBV_EPTVPID 4  /* IA32_VMX_EPT_VPID_CAP (0x48c), if PROC2[33] or [37] */
#define MBV_N 5

/* run-time state (offsets from H_RT), after the step library's record */
/* (R_CUR ... R_AC: guest/layout.h) */
#define R_SEQ 0x50
#define R_RESOFF 0x58 /* the vector's results: H_RES + R_RESOFF */
#define R_RECCAP 0x60 /* records it may write */
#define R_RECOFF 0x68 /* offset of its records in its results */
#define R_NMON 0x70
#define R_MONOFF 0x78 /* watched gpas: H_CMD + R_MONOFF */
#define R_RUNOFF 0x80
#define R_STAGE 0x88
#define R_PKRU 0x90
#define R_PKSAVED 0x98
#define R_HEART 0xa0 /* incremented per vector */
#define R_STEP32 0xa8 /* outside IA-32e: the step being run */

/* commands: quads; the first is the opcode */
#define C_END 0  /* end of the list */
#define C_MODE 1 /* la57: switch paging mode (between vectors) */
#define C_VEC 2  /* index, result offset, record capacity */
#define C_ZERO 3 /* gpa: zero a 4 KiB page */
#define C_FILL 4 /* gpa: fill a 4 KiB page with the pattern */
#define C_WR 5   /* n, then n x (gpa, value) */
#define C_MON 6  /* n, then n gpas to watch (snapshot taken) */
#define C_RUN 7  /* cr0 cr4 efer cr3 pkru_set pkru cpl ac nsteps, steps */
#define RUN_HDR 80  /* bytes before the steps */
/* then nsteps steps of STEP_SIZE bytes (guest/layout.h) */

/* C_SVM (qguest/svm.inc): one guest access under AMD SVM with nested
 * paging; 9 beside C_VMX (8, bguest/blayout.h). The command's quads
 * (offsets from the command; VS_SIZE below is a step's result size): */
#define C_SVM 9
#define VS_RESOFF 8   /* results at H_RES + this */
#define VS_HSAVE 16   /* VM_HSAVE_PA: the host save area (4 KiB) */
#define VS_VMCB 24    /* physical address of the VMCB (4 KiB, zeroed here) */
#define VS_NCR3 32    /* nCR3: the nested tables (host long-mode format) */
#define VS_RIP 40     /* guest EIP: a 32-bit stub the host wrote */
#define VS_RSI 48     /* guest ESI (VMRUN leaves it as the host's), EAX */
#define VS_RAX 56
#define VS_PEEK 64    /* VS_NPEEK physical quads read after the exit */
#define VS_NPEEK 6
#define VS_CR0 112    /* the guest's CR0 (0: PE, paging off), CR3, CR4 */
#define VS_CR3 120
#define VS_CR4 128
#define VS_EFER 136   /* the guest's EFER: NXE (SVME is always set) */
#define VS_NLIST 144  /* n: quads read after the exit into SR_SIZE + 8 * i */
#define VS_LEN 152    /* then n physical addresses: the command is */
                      /* VS_LEN + 8 * n bytes */
/* its results (offsets from H_RES + VS_RESOFF) */
#define SR_STATUS 0    /* 1 started, 2 #VMEXIT, 4 exception in the host */
#define SR_STAGE 8     /* 1 EFER, 2 VM_HSAVE_PA, 3 VMCB, 4 VMRUN */
#define SR_EXC 16      /* the host exception's vector, error code */
#define SR_EXCEC 24
#define SR_EXITCODE 32 /* VMCB 0x70 */
#define SR_INFO1 40    /* EXITINFO1 (0x78) */
#define SR_INFO2 48    /* EXITINFO2 (0x80) */
#define SR_INTINFO 56  /* EXITINTINFO (0x88) */
#define SR_GRAX 64     /* guest RAX (0x5f8), RIP (0x578) at the exit */
#define SR_GRIP 72
#define SR_EFER 80     /* the host's EFER as found */
#define SR_PEEK 88     /* the VS_NPEEK quads at VS_PEEK after the exit */
#define SR_GRDX 136    /* the guest's RDX at the exit */
#define SR_SIZE 144    /* then the VS_NLIST quads */

/* results of one vector (offsets from H_RES + result offset) */
#define V_STATUS 0  /* 1 started, 2 done */
#define V_SETUP 8   /* 0, or stage | vector << 8: a register load faulted */
#define V_NREC 16
#define V_FLAGS 24  /* 1: records overflowed */
#define V_STEPS 32  /* per step: vec, ec, cr2, rip, fu_val, fu_vec */
#define VS_SIZE 48
/* records: (step | type << 8 | index << 16, value); type 0: the access
 * changed the entry, 1: the follow-up read did */

#endif
