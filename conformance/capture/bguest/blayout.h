/* SPDX-License-Identifier: MIT */
/* blayout.h - what the Bochs harness (bharness.S) adds to the QEMU
 * harness's layout and commands (qguest/qlayout.h): how it sends its
 * results out. Plain #defines only: included from assembly. */
#ifndef BOCHS_CAP_GUEST_LAYOUT_H
#define BOCHS_CAP_GUEST_LAYOUT_H

#define MB_DUMPLEN 0x38         /* host: bytes of H_RES to send out */
#define BX_DUMP_MBOX 0x200      /* mailbox bytes sent out (CPUID, panic) */
#define BX_DUMP_RT 0x100        /* run-time state bytes sent out */
#define BX_DUMP_MAGIC 0x21504d5544554d4d /* "MMUDUMP!" */
#define BX_SHUTDOWN_PORT 0x8900 /* Bochs quits on "Shutdown" written here */
#define BX_SHUTDOWN 0x6e776f6474756853 /* "Shutdown" */


/* C_VMX (bguest/vmx.inc): one guest access under EPT. The command's
 * quads (offsets from the command): */
#define C_VMX 8
#define VX_RESOFF 8  /* results at H_RES + this */
#define VX_VMXON 16  /* physical address of the VMXON region (4 KiB) */
#define VX_VMCS 24   /* physical address of the VMCS (4 KiB) */
#define VX_EPTP 32
#define VX_RIP 40    /* guest RIP: a 32-bit stub the host wrote */
#define VX_RSI 48    /* guest ESI, EAX */
#define VX_RAX 56
#define VX_PEEK 64   /* 3 physical addresses read after the exit (8-aligned) */
#define VX_CR0 88    /* the guest's CR0 (0: PE, paging off), CR3, CR4 (the */
#define VX_CR3 96    /* VMX fixed bits are added: NE, VMXE) */
#define VX_CR4 104
#define VX_EFER 112  /* the guest's IA32_EFER (loaded by VM entry: NXE) */
#define VX_PDPTE 120 /* 4 quads: GUEST_PDPTE0..3, what VM entry loads into */
                     /* the PDPTE registers of a PAE guest under EPT */
#define VX_NPEEK 152 /* n: quads read after the exit into VR_SIZE + 8 * i */
#define VX_SIZE 160  /* then n physical addresses: the command is */
                     /* VX_SIZE + 8 * n bytes */
/* its results (offsets from H_RES + VX_RESOFF) */
#define VR_STATUS 0   /* 1 started, 2 VM exit, 3 VMfail, 4 exception */
#define VR_STAGE 8    /* 1 FEATURE_CONTROL, 2 VMXON, 3 VMCLEAR, 4 VMPTRLD,
                         5 VMWRITEs, 6 VMLAUNCH */
#define VR_FLAGS 16   /* RFLAGS after a VMfail; the exception's vector */
#define VR_VMERR 24   /* VM-instruction error (0x4400); exception's code */
#define VR_REASON 32  /* exit reason (0x4402) */
#define VR_QUAL 40    /* exit qualification (0x6400) */
#define VR_GPA 48     /* guest-physical address (0x2400) */
#define VR_GLA 56     /* guest linear address (0x640a) */
#define VR_GRAX 64    /* the guest's RAX at the exit */
#define VR_FEATCTL 72 /* IA32_FEATURE_CONTROL as found */
#define VR_BASIC 80   /* IA32_VMX_BASIC */
#define VR_INTINFO 88 /* VM-exit interruption information (0x4404) */
#define VR_GRIP 96    /* guest RIP (0x681e) at the exit */
#define VR_FIELD 104  /* the field a failed VMWRITE wrote */
#define VR_PEEK 112   /* the 3 quads at VX_PEEK after the exit */
#define VR_GRDX 136   /* the guest's RDX at the exit */
#define VR_ERRC 144   /* VM-exit interruption error code (0x4406) */
#define VR_GCR0 152   /* the guest's CR0 (0x6800) and CR3 (0x6802) at the */
#define VR_GCR3 160   /* exit */
#define VR_GPDPTE 168 /* 4 quads: GUEST_PDPTE0..3 at the exit (a PAE guest */
                      /* under EPT: its PDPTE registers, SDM 3C 27.3.4) */
#define VR_SIZE 200   /* then the VX_NPEEK quads */

#endif
