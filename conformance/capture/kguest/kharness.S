/* SPDX-License-Identifier: MIT */
/* kharness.S - 64-bit guest code of the KVM capture source (kvm.c).
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
#include "klayout.h"
#define GUEST_IMAGE kvm_guest_image
#define GUEST_IMAGE_END kvm_guest_image_end
#define WRITE_FILL 0 /* no prediction: outside RAM (MMIO) or not present */

	.intel_syntax noprefix
	.section .rodata.kvm_guest, "a"
	.balign 4096
	.globl kvm_guest_image
	.globl kvm_guest_image_end
	.code64

#include "../guest/macros.inc"

.macro EXIT code
	mov al, \code
	out EXIT_PORT, al
.endm

kvm_guest_image:
	jmp entry
	IMAGE_HEADER

entry:
	lea r15, [rip + kvm_guest_image]
	sub r15, H_CODE
	lea rsp, [r15 + H_KSTACK_TOP]
	push 2
	popfq
	mov qword ptr [r15 + H_STATE + R_ARMED], 0

	/* 1. the vector's paging entries (only those that differ) */
	mov rcx, [r15 + H_MBOX + MB_NWRITES]
	lea rsi, [r15 + H_MBOX + MB_WRITES]
	call write_list
	mov rax, [r15 + H_MBOX + MB_CPL]
	mov [r15 + H_STATE + R_CPL], rax
	mov rax, [r15 + H_MBOX + MB_AC]
	mov [r15 + H_STATE + R_AC], rax

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
	cmp qword ptr [rdx + S_OP], OP_ACCESS
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
	mov [r15 + H_STATE + R_CUR], r12
	imul r13, r12, STEP_SIZE
	lea r13, [r15 + r13 + H_MBOX + MB_STEPS]
	STEP_DISPATCH
	/* unknown op: nothing */
step_next:
	mov rax, r12
	shl rax, 5
	lea rdi, [r15 + rax + H_RES + R_EXC]
	STORE_EXC
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
	imul rdi, rbx, MAX_WATCH * 8
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

/* ---- the end of an access ------------------------------------------ */
acc_done:
	/* exit for a translation unless it surely faulted or MMIO told */
	cmp qword ptr [r15 + r12 * 8 + H_MBOX + MB_MMIO_SEEN], 0
	jne step_next
	cmp qword ptr [r15 + H_STATE + R_EVEC], 14
	jne 4f
	mov rax, [r13 + S_KIND]
	and eax, 3
	cmp eax, 2
	jne step_next
	mov rax, [r15 + H_STATE + R_ECR2]
	cmp rax, [r13 + S_A]
	je step_next
4:	EXIT EXIT_STEP
	jmp step_next

exc_panic:
	EXIT EXIT_PANIC
	hlt
	jmp exc_panic

/* ======== outside IA-32e: 32-bit code at identity addresses ========== */
/* The host enters here (KVM_SET_SREGS) in 32-bit protected mode with the
 * vector's CR0/CR4/EFER and paging off; the same steps, through
 * steps32.inc. The next vector's KVM_SET_SREGS ends it. */
	.att_syntax prefix
	.code32
.macro EXIT32 code
	movb $\code, %al
	outb %al, $EXIT_PORT
.endm

entry32:
	movl $H_KSTACK_TOP, %esp
	pushl $2
	popfl
	movl $0, H_STATE + R_ARMED
	movl H_MBOX + MB_NWRITES, %ecx
	movl $H_MBOX + MB_WRITES, %esi
1:	testl %ecx, %ecx
	jz 3f
	movl (%esi), %eax
	testl $7, %eax
	jnz 2f
	movl 8(%esi), %edx
	movl %edx, (%eax)
	movl 12(%esi), %edx
	movl %edx, 4(%eax)
	jmp 4f
2:	movb (%eax), %dl               /* see MB_WRITES */
	movb %dl, (%eax)
4:	addl $16, %esi
	decl %ecx
	jmp 1b
3:	movl H_MBOX + MB_CPL, %eax
	movl %eax, H_STATE + R_CPL
	movl $0, H_STATE + R_CPL + 4
	movl H_MBOX + MB_AC, %eax
	movl %eax, H_STATE + R_AC
	movl $0, H_STATE + R_AC + 4
	/* INVLPG every accessed address (KVM's MMIO cache: see entry) */
	xorl %ecx, %ecx
1:	cmpl H_MBOX + MB_NSTEPS, %ecx
	jae 2f
	imull $STEP_SIZE, %ecx, %edx
	cmpl $OP_ACCESS, H_MBOX + MB_STEPS + S_OP(%edx)
	jne 4f
	movl H_MBOX + MB_STEPS + S_A(%edx), %eax
	invlpg (%eax)
4:	incl %ecx
	jmp 1b
2:	xorl %ebx, %ebx
	call snapshot32
	movl $0, H_STATE + R_CUR
	movl $0, H_STATE + R_CUR + 4
step_loop32:
	movl H_STATE + R_CUR, %eax
	cmpl H_MBOX + MB_NSTEPS, %eax
	jae teardown32
	imull $STEP_SIZE, %eax, %ebp
	addl $H_MBOX + MB_STEPS, %ebp
	STEP_DISPATCH32
step_next32:
	movl H_STATE + R_CUR, %edi
	shll $5, %edi
	addl $H_RES + R_EXC, %edi
	STORE_EXC32
	movl H_STATE + R_CUR, %ebx
	incl %ebx
	call snapshot32
	incl H_STATE + R_CUR
	jmp step_loop32

teardown32:
	EXIT32 EXIT_DONE
1:	hlt
	jmp 1b

/* ebx = snapshot index, as snapshot */
snapshot32:
	movl H_MBOX + MB_NMON, %ecx
	movl $H_MBOX + MB_MON, %esi
	imull $MAX_WATCH * 8, %ebx, %edi
	addl $H_RES + R_SNAP, %edi
1:	testl %ecx, %ecx
	jz 2f
	movl (%esi), %eax
	movl (%eax), %edx
	movl %edx, (%edi)
	movl 4(%eax), %edx
	movl %edx, 4(%edi)
	addl $8, %esi
	addl $8, %edi
	decl %ecx
	jmp 1b
2:	ret

/* the end of an access, as acc_done */
acc_done32:
	movl H_STATE + R_CUR, %eax
	imull $STEP_SIZE, %eax, %ebp    /* the fetched bytes may have run */
	addl $H_MBOX + MB_STEPS, %ebp
	cmpl $0, H_MBOX + MB_MMIO_SEEN(, %eax, 8)
	jne step_next32
	cmpl $14, H_STATE + R_EVEC
	jne 4f
	movl S_KIND(%ebp), %eax
	andl $3, %eax
	cmpl $2, %eax
	jne step_next32
	movl H_STATE + R_ECR2, %eax
	cmpl S_A(%ebp), %eax
	je step_next32
4:	EXIT32 EXIT_STEP
	jmp step_next32

exc_panic32:
	EXIT32 EXIT_PANIC
1:	hlt
	jmp 1b

#include "../guest/steps32.inc"

	.globl kvm_guest_entry32
	.globl kvm_guest_stubs32
	.set kvm_guest_entry32, entry32
	.set kvm_guest_stubs32, stubs32

#include "../guest/steps.inc"

	.section .note.GNU-stack, "", @progbits
