/* SPDX-License-Identifier: MIT */
/* switch_x86_64.S — raw context switch for x86-64 (System V ABI).
 *
 * A suspended context is its stack pointer; the frame below it holds, low to
 * high: x87 control word (2 bytes) and MXCSR (at +4), r15, r14, r13, r12,
 * rbx, rbp, return address. These are exactly what the ABI asks a callee to
 * preserve, so the C caller sees an ordinary function call.
 * weft__ctx_init (switch.c) builds the same frame by hand for a new context,
 * with the trampoline as return address and entry/arg in r12/r13.
 */
#if defined(__x86_64__)

	.text

/* void weft__switch(void **save_sp, void *new_sp)  — rdi, rsi */
	.globl	weft__switch
	.hidden	weft__switch
	.type	weft__switch, @function
	.p2align 4
weft__switch:
	.cfi_startproc
	/* FP control words are callee-saved: a fiber that changes its rounding
	 * mode must not change it for the next fiber on this thread. They go
	 * to the red zone first, below where the pushes land (the frame's
	 * bottom slot), so that the slow stmxcsr overlaps the pushes.
	 * -DWEFT_SWITCH_NO_FPCW drops them (Go's gogo does not save them
	 * either) at the price of rounding modes leaking between fibers. */
#ifndef WEFT_SWITCH_NO_FPCW
	stmxcsr	-52(%rsp)
	fnstcw	-56(%rsp)
#endif
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	subq	$8, %rsp	/* the FP control words' slot, already written */
	.cfi_adjust_cfa_offset 8
	movq	%rsp, (%rdi)
	movq	%rsp, %rdx
	/* The new stack has the same frame layout, so the CFI above stays true. */
	movq	%rsi, %rsp
	/* MXCSR is loaded every time: ldmxcsr is cheap, but stmxcsr's store
	 * does not forward, so reading it back to skip the load stalls until
	 * it commits (1.5-2 ns more per switch on the EPYC here). fldcw is the
	 * slow one of the x87 pair and fnstcw's store does forward: load the
	 * control word only when the two contexts differ. Restoring MXCSR's
	 * flags along with its control bits is allowed: they are caller-saved. */
#ifndef WEFT_SWITCH_NO_FPCW
	ldmxcsr	4(%rsp)
	movzwl	(%rdx), %eax
	cmpw	%ax, (%rsp)
	je	1f
	fldcw	(%rsp)
1:
#endif
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	/* A plain ret: fibers switch from the same few call sites (yield,
	 * park), so the return-stack predictor's guess, the address this
	 * context called from, is usually where the other one resumes too.
	 * (pop+jmp measured 19 ns against 14 ns per yield on the EPYC here.) */
	ret
	.cfi_endproc
	.size	weft__switch, .-weft__switch

/* First "return" of a new context lands here with rsp 16-byte aligned,
 * r12 = entry, r13 = arg. rip is marked undefined so that debuggers and
 * unwinders stop here instead of walking into garbage above the stack top. */
	.globl	weft__ctx_trampoline
	.hidden	weft__ctx_trampoline
	.type	weft__ctx_trampoline, @function
	.p2align 4
weft__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r12, %rdi
	movq	%r13, %rsi
	call	weft__ctx_first@PLT
	ud2	/* weft__ctx_first never returns */
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

#endif
	.section .note.GNU-stack,"",@progbits
