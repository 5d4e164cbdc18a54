/* SPDX-License-Identifier: MIT */
/* harness.S - 64-bit guest code of the KVM capture back end (kvm.c).
 *
 * Assembled into the host program's .rodata and copied by the host to
 * guest-physical H_CODE. Position independent: it runs at HB + H_CODE where
 * HB is 1 << 39 (4-level) or 1 << 48 (5-level); r15 always holds HB.
 *
 * One KVM_RUN per vector, from entry with CPL 0 and the harness CR3:
 *   1. write the vector's paging entries (mailbox list) through the window
 *   2. MOV to CR3 the vector's CR3
 *   3. snapshot the monitored entries, then for each step: do it, record
 *      the exception (if any), snapshot again
 *   4. back to the harness CR3, zero every entry written, out EXIT_DONE.
 * Accesses that may have succeeded end with out EXIT_STEP so the host can
 * KVM_TRANSLATE them while the vector's CR3 is live (skipped when an MMIO
 * exit already gave the physical address). Faults are caught by arming a
 * recovery point (rsp, rip) that the exception handler jumps to. */
#include "layout.h"

	.intel_syntax noprefix
	.section .rodata.kvm_guest, "a"
	.balign 4096
	.globl kvm_guest_image
	.globl kvm_guest_image_end
	.code64

.macro ARM label
	mov [r15 + H_RES + R_RSP], rsp
	lea rax, [rip + \label]
	mov [r15 + H_RES + R_RIP], rax
	mov qword ptr [r15 + H_RES + R_EVEC], -1
	mov qword ptr [r15 + H_RES + R_ARMED], 1
.endm

.macro DISARM
	mov qword ptr [r15 + H_RES + R_ARMED], 0
.endm

.macro EXIT code
	mov al, \code
	out EXIT_PORT, al
.endm

kvm_guest_image:
	jmp entry
	.balign 8
	.quad stubs - kvm_guest_image     /* HDR_STUBS */
	.quad lldt_insn - kvm_guest_image /* HDR_LLDT */
	.quad user_page - kvm_guest_image /* HDR_USER */

entry:
	lea r15, [rip + kvm_guest_image]
	sub r15, H_CODE
	lea rsp, [r15 + H_KSTACK_TOP]
	push 2
	popfq
	mov qword ptr [r15 + H_RES + R_ARMED], 0

	/* 1. the vector's paging entries (only those that differ) */
	mov rcx, [r15 + H_MBOX + MB_NWRITES]
	lea rsi, [r15 + H_MBOX + MB_WRITES]
	call write_list
	mov rax, [r15 + H_MBOX + MB_CPL]
	mov [r15 + H_RES + R_CPL], rax
	mov rax, [r15 + H_MBOX + MB_AC]
	mov [r15 + H_RES + R_AC], rax

	cmp qword ptr [r15 + H_MBOX + MB_PKRU_SET], 0
	je 3f
	ARM pkru_bad
	xor ecx, ecx
	xor edx, edx
	mov eax, [r15 + H_MBOX + MB_PKRU]
	wrpkru
	DISARM
3:
	/* a full TLB flush (CR4.PGE toggled: SDM 4.10.4.1) so that no
	 * translation of the previous vector survives, even where the new
	 * CR3 equals the old one and the shadow pages were out of sync */
	mov rax, cr4
	mov rcx, rax
	xor rax, 0x80
	mov cr4, rax
	mov cr4, rcx

	/* 2. the vector's CR3 */
	ARM cr3_bad
	mov rax, [r15 + H_MBOX + MB_VEC_CR3]
	mov cr3, rax
	DISARM

	/* the previous vector's harness entries, now that its CR3 is gone */
	mov rcx, [r15 + H_MBOX + MB_NPOST]
	lea rsi, [r15 + H_MBOX + MB_POST]
	call write_list

	/* INVLPG every address the steps access: KVM keeps a per-vCPU cache
	 * of the last MMIO translation that survives CR3 and CR4.PGE writes
	 * (a departure: SDM 4.10.4.1 lets no translation survive them) and
	 * INVLPG of the address clears it */
	xor ecx, ecx
1:
	cmp rcx, [r15 + H_MBOX + MB_NSTEPS]
	jae 2f
	imul rdx, rcx, STEP_SIZE
	lea rdx, [r15 + rdx + H_MBOX + MB_STEPS]
	cmp qword ptr [rdx + S_OP], 1
	jne 4f
	mov rax, [rdx + S_A]
	invlpg [rax]
4:
	inc rcx
	jmp 1b
2:

	/* 3. steps */
	xor ebx, ebx
	call snapshot
	xor r12d, r12d
step_loop:
	cmp r12, [r15 + H_MBOX + MB_NSTEPS]
	jae teardown
	mov [r15 + H_RES + R_CUR], r12
	imul r13, r12, STEP_SIZE
	lea r13, [r15 + r13 + H_MBOX + MB_STEPS]
	mov qword ptr [r15 + H_RES + R_EVEC], -1
	mov rax, [r13 + S_OP]
	cmp rax, 1
	je op_access
	cmp rax, 2
	je op_set_pte
	cmp rax, 3
	je op_invlpg
	cmp rax, 4
	je op_invpcid
	cmp rax, 5
	je op_cr0
	cmp rax, 6
	je op_cr3
	cmp rax, 7
	je op_cr4
	cmp rax, 8
	je op_efer
	cmp rax, 9
	je op_pkru
	cmp rax, 10
	je op_cpl
	cmp rax, 11
	je op_ac
	/* unknown op: nothing */
step_next:
	mov rax, r12
	shl rax, 5
	lea rdi, [r15 + rax + H_RES + R_EXC]
	mov rax, [r15 + H_RES + R_EVEC]
	mov [rdi], rax
	mov rax, [r15 + H_RES + R_EEC]
	mov [rdi + 8], rax
	mov rax, [r15 + H_RES + R_ECR2]
	mov [rdi + 16], rax
	mov rax, [r15 + H_RES + R_ERIP]
	mov [rdi + 24], rax
	lea rbx, [r12 + 1]
	call snapshot
	inc r12
	jmp step_loop

pkru_bad:
	EXIT EXIT_BADPKRU
	jmp teardown

cr3_bad:
	EXIT EXIT_BADCR3
	jmp teardown

	/* 4. done: the next vector cleans up what differs. The next KVM_RUN
	 * starts over at entry. */
teardown:
	EXIT EXIT_DONE
	jmp entry

/* rcx = count, rsi = (gpa, value) pairs; see MB_WRITES */
write_list:
1:	test rcx, rcx
	jz 3f
	mov rax, [rsi]
	test eax, 7
	jnz 2f
	mov rdx, [rsi + 8]
	mov [r15 + rax], rdx
	add rsi, 16
	dec rcx
	jmp 1b
2:	mov dl, [r15 + rax]
	mov [r15 + rax], dl
	add rsi, 16
	dec rcx
	jmp 1b
3:	ret

/* rbx = snapshot index: copy the monitored entries to R_SNAP[rbx] */
snapshot:
	mov rcx, [r15 + H_MBOX + MB_NMON]
	lea rsi, [r15 + H_MBOX + MB_MON]
	imul rdi, rbx, MB_MAX_MON * 8
	lea rdi, [r15 + rdi + H_RES + R_SNAP]
1:	test rcx, rcx
	jz 2f
	mov rax, [rsi]
	mov rax, [r15 + rax]
	mov [rdi], rax
	add rsi, 8
	add rdi, 8
	dec rcx
	jmp 1b
2:	ret

/* ---- steps ---------------------------------------------------------- */
#define STEP_RESULTS H_RES
#include "steps.inc"

/* ---- accesses ------------------------------------------------------- */
op_access:
	mov rdi, [r13 + S_A]
	mov rsi, [r13 + S_KIND]
	and esi, 7
	/* a write stores the byte already there (bl), read through the window
	 * at the physical address the host predicted (S_B; -1: none, store 0).
	 * An RMW instruction would not do: KVM sees its read half first and
	 * sets A bits on a write that then faults. */
	xor ebx, ebx
	mov rax, [r13 + S_B]
	cmp rax, -1
	je 5f
	movzx ebx, byte ptr [r15 + rax]
5:
	ARM acc_recover
	test esi, 4
	jz 1f
	/* implicit: an LDT based at the address; the segment load below
	 * reads descriptor 0 from it (a supervisor-mode implicit access) */
	mov rax, rdi
	shl rax, 40
	shr rax, 24                 /* base[23:0] << 16 */
	or rax, 0xffff              /* limit */
	mov rdx, 0x82
	shl rdx, 40                 /* P=1, DPL 0, type 2 (LDT) */
	or rax, rdx
	mov rdx, rdi
	shr rdx, 24
	and rdx, 0xff
	shl rdx, 56                 /* base[31:24] */
	or rax, rdx
	mov [r15 + H_GDT + SEL_LDT], rax
	mov rax, rdi
	shr rax, 32
	mov [r15 + H_GDT + SEL_LDT + 8], rax
	mov ax, SEL_LDT
lldt_insn:
	lldt ax
1:
	cmp qword ptr [r15 + H_RES + R_CPL], 3
	je acc_user
	cmp qword ptr [r15 + H_RES + R_AC], 0
	je 2f
	pushfq
	or qword ptr [rsp], 0x40000
	popfq
2:	cmp esi, 0
	je k_read
	cmp esi, 1
	je k_write
	cmp esi, 2
	je k_fetch
k_implicit:
	mov ax, 4
	mov fs, ax
	jmp acc_noexc
k_read:
	mov al, [rdi]
	jmp acc_noexc
k_write:
	mov [rdi], bl
	jmp acc_noexc
k_fetch:
	lea rax, [r15 + H_KSCRATCH]  /* a zero sled adds to [rax] */
	jmp rdi

acc_user:
	/* iretq to the user stub for this kind: H_USER + kind * 32 */
	mov rcx, rsi
	shl rcx, 5
	lea rcx, [r15 + rcx + H_USER]
	push SEL_UDATA | 3
	lea rax, [r15 + H_USTACK]
	push rax
	mov eax, 2
	cmp qword ptr [r15 + H_RES + R_AC], 0
	je 3f
	or eax, 0x40000
3:	push rax
	push SEL_UCODE | 3
	push rcx
	lea rax, [r15 + H_USCRATCH]
	iretq

acc_noexc:
	DISARM
acc_recover:
	push 2
	popfq
	xor eax, eax
	mov fs, ax
	/* exit for a translation unless it surely faulted or MMIO told */
	cmp qword ptr [r15 + r12 * 8 + H_MBOX + MB_MMIO_SEEN], 0
	jne step_next
	cmp qword ptr [r15 + H_RES + R_EVEC], 14
	jne 4f
	mov rax, [r13 + S_KIND]
	and eax, 3
	cmp eax, 2
	jne step_next
	mov rax, [r15 + H_RES + R_ECR2]
	cmp rax, [r13 + S_A]
	je step_next
4:	EXIT EXIT_STEP
	jmp step_next

/* ---- exceptions: 32 stubs of 16 bytes, then the common part ----------- */
	.balign 16
stubs:
	.set vecno, 0
	.rept 32
	.balign 16
	.if (vecno == 8) || ((vecno >= 10) && (vecno <= 14)) || (vecno == 17) || (vecno == 21) || (vecno == 29) || (vecno == 30)
	.byte 0x6a, vecno           /* push vecno */
	.else
	.byte 0x6a, 0               /* push 0 (error code) */
	.byte 0x6a, vecno
	.endif
	jmp exc_common
	.set vecno, vecno + 1
	.endr

exc_common:
	lea r15, [rip + kvm_guest_image]
	sub r15, H_CODE
	pop rax
	pop rbx
	mov rcx, cr2
	mov rdx, [rsp]
	mov [r15 + H_RES + R_EVEC], rax
	mov [r15 + H_RES + R_EEC], rbx
	mov [r15 + H_RES + R_ECR2], rcx
	mov [r15 + H_RES + R_ERIP], rdx
	cmp qword ptr [r15 + H_RES + R_ARMED], 0
	je exc_panic
	mov qword ptr [r15 + H_RES + R_ARMED], 0
	mov rsp, [r15 + H_RES + R_RSP]
	push 2
	popfq
	jmp [r15 + H_RES + R_RIP]
exc_panic:
	EXIT EXIT_PANIC
	hlt
	jmp exc_panic

/* ---- user page (U=1): one stub per access kind, 32 bytes apart ------- */
	.org H_USER - H_CODE
user_page:
	mov al, [rdi]                /* kind 0: read */
	ud2
	.org user_page + 0x20
	mov [rdi], bl                /* kind 1: write (bl: see op_access) */
	ud2
	.org user_page + 0x40
	jmp rdi                      /* kind 2: fetch (rax = user scratch) */
	.org user_page + 0x80
	mov ax, 7                    /* kind 4: implicit read (LDT, RPL 3) */
	mov fs, ax
	ud2
	.org user_page + 0x1000
kvm_guest_image_end:

	.section .note.GNU-stack, "", @progbits
