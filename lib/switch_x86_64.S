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
	pushq	$0		/* zero the padding between fcw and mxcsr */
	.cfi_adjust_cfa_offset 8
	/* FP control words are callee-saved: a fiber that changes its rounding
	 * mode must not change it for the next fiber on this thread. Saving
	 * them costs ~5 ns on the EPYC here (fnstcw/stmxcsr are microcoded);
	 * -DWEFT_SWITCH_NO_FPCW drops that (Go's gogo does not save them
	 * either) at the price of rounding modes leaking between fibers. */
#ifndef WEFT_SWITCH_NO_FPCW
	fnstcw	(%rsp)
	stmxcsr	4(%rsp)
#endif
	movq	%rsp, (%rdi)
	movq	%rsp, %rdx
	/* The new stack has the same frame layout, so the CFI above stays true. */
	movq	%rsi, %rsp
	/* Loading the control words is slow (serialising): skip it when the
	 * two contexts agree, the common case. */
#ifndef WEFT_SWITCH_NO_FPCW
	movq	(%rsp), %rax
	cmpq	%rax, (%rdx)
	je	1f
	fldcw	(%rsp)
	ldmxcsr	4(%rsp)
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
	/* pop+jmp, not ret: the return-stack predictor is always wrong after a
	 * stack switch, and on the AMD EPYC here a mispredicted ret costs ~6 ns
	 * while the indirect jump predicts well (10 ns -> 4 ns per switch). */
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq	*%rcx
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
