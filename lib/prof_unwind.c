/* SPDX-License-Identifier: MIT */
/* prof_unwind.c — stacks unwound by DWARF call-frame information (the .eh_frame every
 * object carries; no frame pointers needed), and fiber labels (weft/prof.h).
 *
 * The unwinder is libunwind's (nongnu libunwind, libunwind-generic), driven through an
 * address space of our own rather than unw_local_addr_space, for three reasons:
 *  - Locks. The local address space finds an address's unwind table with
 *    dl_iterate_phdr, which holds the loader's lock while its callback runs. A SIGPROF
 *    landing on a thread that is inside malloc, while another thread dlopens a plugin
 *    (the loader allocates under that lock), deadlocks both: gperftools#1210,
 *    #1188, #775 and DataDog's profiler hit exactly this. Here find_proc_info asks
 *    glibc's _dl_find_object (2.35+), which takes no lock and is async-signal-safe,
 *    for the object's PT_GNU_EH_FRAME, and searches its sorted table with libunwind's
 *    own dwarf_search_unwind_table.
 *  - Bounds. Every memory read of the unwinder comes through access_mem, which allows
 *    only the stack being walked ([lo, hi), known exactly: a fiber's slot or the proc
 *    thread's stack) and the mappings of loaded objects (their unwind tables). A CFI
 *    rule pointing anywhere else ends the walk instead of faulting; so does a frame
 *    without unwind information (no frame-pointer guess: without frame pointers rbp
 *    is an ordinary register). The walk stops at a fiber's first frame: the switch
 *    trampoline marks its return address undefined (switch_*.S).
 *  - Other stacks. A parked fiber is unwound from the registers weft__switch saved on
 *    its stack, a sample from the signal's ucontext. libgcc's _Unwind_Backtrace (also
 *    lock-free on glibc 2.35+) can only walk the stack it runs on, and does not bound
 *    its reads.
 * Caching: libunwind keeps decoded frame states per address (UNW_CACHE_GLOBAL: Debian's
 * build has no per-thread cache, and UNW_CACHE_PER_THREAD there means the global cache
 * without its lock). That lock and its memory pool's are taken with every signal
 * blocked, so a handler never meets its own thread holding one, and the holders wait
 * for nothing else (find_proc_info takes no lock); the pool allocates with mmap. Its
 * price: two rt_sigprocmask per frame; a 14-frame walk took 4 us here (10 us when its
 * frames were not cached yet), so 100 Hz on 2 procs costs about 0.1% of a CPU.
 * weft__unwind_prepare flushes the cache, so a plugin reloaded at the same address is
 * not unwound with its predecessor's rules. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "internal.h"

#if __has_include(<libunwind.h>) && (defined(__x86_64__) || defined(__aarch64__))
#include <libunwind.h>

/* Exported by libunwind-generic (libunwind-ptrace and -coredump call it for their own
 * find_proc_info, as we do) but declared only in its private headers. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

#if defined(__x86_64__)
#define NREGS (UNW_X86_64_RIP + 1)
#define REG_PC UNW_X86_64_RIP
#define REG_SP UNW_X86_64_RSP
#else
#define NREGS (UNW_AARCH64_PC + 1)
#define REG_PC UNW_AARCH64_PC
#define REG_SP UNW_AARCH64_SP
#endif

/* One walk: the registers of its first frame (libunwind's numbering; the others read
 * as 0), the stack it may read, and the last object a read fell in. */
struct walk {
	unw_word_t regs[NREGS];
	uintptr_t lo, hi;
	uintptr_t obj_lo, obj_hi;
};

static unw_addr_space_t as;
static pthread_once_t as_once = PTHREAD_ONCE_INIT;

/* Is [a, a + 8) inside a loaded object's mapping? */
WEFT__NO_SAN static bool in_object(struct walk *w, uintptr_t a)
{
	struct dl_find_object o;

	if (a >= w->obj_lo && a + sizeof(unw_word_t) <= w->obj_hi)
		return true;
	if (_dl_find_object((void *)a, &o) != 0)
		return false;
	w->obj_lo = (uintptr_t)o.dlfo_map_start;
	w->obj_hi = (uintptr_t)o.dlfo_map_end;
	return a + sizeof(unw_word_t) <= w->obj_hi;
}

WEFT__NO_SAN static int access_mem(unw_addr_space_t a, unw_word_t addr, unw_word_t *val,
				   int write, void *arg)
{
	struct walk *w = arg;

	if (write)
		return -UNW_EREADONLYREG;
	if (!(addr >= w->lo && addr + sizeof(*val) <= w->hi) && !in_object(w, addr))
		return -UNW_EINVAL;
	memcpy(val, (const void *)addr, sizeof(*val));
	return 0;
}

static int access_reg(unw_addr_space_t a, unw_regnum_t reg, unw_word_t *val, int write,
		      void *arg)
{
	struct walk *w = arg;

	if (write || reg < 0 || reg >= NREGS)
		return -UNW_EBADREG;
	*val = w->regs[reg];
	return 0;
}

static int access_fpreg(unw_addr_space_t a, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t a, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int get_dyn_info_list_addr(unw_addr_space_t a, unw_word_t *ret, void *arg)
{
	return -UNW_ENOINFO; /* no JIT registers code with libunwind here */
}

static void put_unwind_info(unw_addr_space_t a, unw_proc_info_t *pi, void *arg)
{
	/* libunwind frees the table-format info it allocated itself */
}

/* The unwind entry of ip: the object's .eh_frame_hdr (PT_GNU_EH_FRAME) holds a table of
 * (start, FDE) pairs sorted by start, relative to the header. Only the layout every
 * linker writes is read (table datarel|sdata4, count udata4, a 4-byte eh_frame
 * pointer); anything else, or an address in no object, ends the walk there: an error
 * other than -UNW_ENOINFO, so libunwind does not fall back to guessing by rbp. */
WEFT__NO_SAN static int find_proc_info(unw_addr_space_t a, unw_word_t ip, unw_proc_info_t *pi,
				       int need_unwind_info, void *arg)
{
	struct dl_find_object o;
	const uint8_t *h;
	uint32_t count;

	if (_dl_find_object((void *)ip, &o) != 0 || !o.dlfo_eh_frame)
		return -UNW_EINVALIDIP;
	h = o.dlfo_eh_frame;
	if (h[0] != 1 || (h[1] & 0x0f) == 0x0f || (h[1] & 0x07) != 0x03 || h[2] != 0x03 ||
	    h[3] != 0x3b)
		return -UNW_EINVALIDIP;
	memcpy(&count, h + 8, sizeof(count));
	unw_dyn_info_t di = {
		.start_ip = (unw_word_t)o.dlfo_map_start,
		.end_ip = (unw_word_t)o.dlfo_map_end,
		.format = UNW_INFO_FORMAT_REMOTE_TABLE,
		.u.rti = { .segbase = (unw_word_t)h, .table_data = (unw_word_t)(h + 12),
			   .table_len = count * 2 * sizeof(int32_t) / sizeof(unw_word_t) },
	};
	int r = UNW_OBJ(dwarf_search_unwind_table)(a, ip, &di, pi, need_unwind_info, arg);
	return r == -UNW_ENOINFO ? -UNW_EINVALIDIP : r;
}

static void as_init(void)
{
	static unw_accessors_t acc = {
		.find_proc_info = find_proc_info, .put_unwind_info = put_unwind_info,
		.get_dyn_info_list_addr = get_dyn_info_list_addr, .access_mem = access_mem,
		.access_reg = access_reg, .access_fpreg = access_fpreg, .resume = resume,
	};
	unw_addr_space_t s = unw_create_addr_space(&acc, 0);

	if (s && unw_set_caching_policy(s, UNW_CACHE_GLOBAL) < 0) {
		unw_destroy_addr_space(s);
		s = NULL;
	}
	as = s;
}

int weft__unwind_prepare(void)
{
	pthread_once(&as_once, as_init); /* unw_set_caching_policy initializes libunwind */
	if (!as)
		return -ENOMEM;
	unw_flush_cache(as, 0, 0);
	return 0;
}

/* Walk from w's registers. leaf_back: w's pc was moved one byte back into the call it
 * returns from (a saved context), give the real address back. */
WEFT__NO_SAN static int walk(struct walk *w, int skip, bool leaf_back, uintptr_t *pcs, int max)
{
	unw_cursor_t c;
	int n = 0;

	if (!as || max <= 0 || unw_init_remote(&c, as, w) < 0)
		return 0;
	do {
		unw_word_t ip;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip < 4096)
			break;
		if (leaf_back) {
			ip++;
			leaf_back = false;
		}
		if (skip > 0)
			skip--;
		else
			pcs[n++] = (uintptr_t)ip;
	} while (n < max && unw_step(&c) > 0);
	return n;
}

/* The first frame's registers from a ucontext (a signal's, or unw_getcontext's). */
WEFT__NO_SAN static void regs_from(struct walk *w, const ucontext_t *uc)
{
#if defined(__x86_64__)
	static const uint8_t map[NREGS] = {
		[UNW_X86_64_RAX] = REG_RAX, [UNW_X86_64_RDX] = REG_RDX, [UNW_X86_64_RCX] = REG_RCX,
		[UNW_X86_64_RBX] = REG_RBX, [UNW_X86_64_RSI] = REG_RSI, [UNW_X86_64_RDI] = REG_RDI,
		[UNW_X86_64_RBP] = REG_RBP, [UNW_X86_64_RSP] = REG_RSP, [UNW_X86_64_R8] = REG_R8,
		[UNW_X86_64_R9] = REG_R9, [UNW_X86_64_R10] = REG_R10, [UNW_X86_64_R11] = REG_R11,
		[UNW_X86_64_R12] = REG_R12, [UNW_X86_64_R13] = REG_R13, [UNW_X86_64_R14] = REG_R14,
		[UNW_X86_64_R15] = REG_R15, [UNW_X86_64_RIP] = REG_RIP,
	};
	for (int i = 0; i < NREGS; i++)
		w->regs[i] = (unw_word_t)uc->uc_mcontext.gregs[map[i]];
#else
	for (int i = 0; i <= 30; i++)
		w->regs[i] = uc->uc_mcontext.regs[i];
	w->regs[UNW_AARCH64_SP] = uc->uc_mcontext.sp;
	w->regs[UNW_AARCH64_PC] = uc->uc_mcontext.pc;
#endif
}

WEFT__NO_SAN int weft__unwind_signal(const void *ucontext, uintptr_t lo, uintptr_t hi,
				     uintptr_t *pcs, int max)
{
	struct walk w = { .lo = lo, .hi = hi };

	regs_from(&w, ucontext);
	if (max <= 0 || w.regs[REG_PC] < 4096)
		return 0;
	if (!(w.regs[REG_SP] >= lo && w.regs[REG_SP] < hi)) { /* no stack to read: the pc */
		pcs[0] = (uintptr_t)w.regs[REG_PC];
		return 1;
	}
	return walk(&w, 0, false, pcs, max);
}

/* The frame weft__switch leaves at a suspended context's sp (switch_*.S): the callee-saved
 * registers and the return address. Resuming pops it; the walk starts as if it had. */
WEFT__NO_SAN int weft__unwind_saved(const void *sp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
				    int max)
{
	const uint64_t *f = sp;
	struct walk w = { .lo = lo, .hi = hi };

#if defined(__x86_64__)
	if ((uintptr_t)sp < lo || (uintptr_t)sp + 8 * sizeof(uint64_t) > hi)
		return 0;
	w.regs[UNW_X86_64_R15] = f[1];
	w.regs[UNW_X86_64_R14] = f[2];
	w.regs[UNW_X86_64_R13] = f[3];
	w.regs[UNW_X86_64_R12] = f[4];
	w.regs[UNW_X86_64_RBX] = f[5];
	w.regs[UNW_X86_64_RBP] = f[6];
	w.regs[UNW_X86_64_RIP] = f[7];
	w.regs[UNW_X86_64_RSP] = (uintptr_t)(f + 8);
#else
	if ((uintptr_t)sp < lo || (uintptr_t)sp + 176 > hi)
		return 0;
	for (int i = 0; i < 10; i++)
		w.regs[UNW_AARCH64_X19 + i] = f[i];
	w.regs[UNW_AARCH64_X29] = f[10];
	w.regs[UNW_AARCH64_X30] = f[11];
	w.regs[UNW_AARCH64_PC] = f[11];
	w.regs[UNW_AARCH64_SP] = (uintptr_t)sp + 176;
#endif
	if (w.regs[REG_PC] < 4096)
		return 0;
	/* The pc is a return address: look its frame up from inside the call (a call
	 * that ends its function would otherwise be taken for the next function). */
	w.regs[REG_PC]--;
	return walk(&w, 0, true, pcs, max);
}

__attribute__((noinline)) WEFT__NO_SAN int weft__unwind_here(int skip, uintptr_t lo, uintptr_t hi,
							   uintptr_t *pcs, int max)
{
	unw_context_t uc;
	struct walk w = { .lo = lo, .hi = hi };

	if (unw_getcontext(&uc) != 0)
		return 0;
	/* unw_context_t is a ucontext_t on x86-64, and laid out as one on aarch64 */
	regs_from(&w, (const ucontext_t *)(const void *)&uc);
	if (!(w.regs[REG_SP] >= lo && w.regs[REG_SP] < hi))
		return 0;
	return walk(&w, skip + 1, false, pcs, max); /* its pc is in this function */
}

#else /* no libunwind (the aarch64 cross build has no libunwind:arm64 headers) */

int weft__unwind_prepare(void)
{
	return 0;
}

int weft__unwind_signal(const void *ucontext, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
			int max)
{
	const ucontext_t *uc = ucontext;
	if (max <= 0)
		return 0;
#if defined(__x86_64__)
	pcs[0] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	pcs[0] = (uintptr_t)uc->uc_mcontext.pc;
#else
	return 0;
#endif
	return 1;
}

int weft__unwind_saved(const void *sp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int max)
{
	return 0;
}

int weft__unwind_here(int skip, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int max)
{
	return 0;
}

#endif

/* ---- labels ------------------------------------------------------------------------- */

static int label_find(const struct weft__labels *l, const char *key)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->key[i], key) == 0)
			return i;
	return -1;
}

int weft_label_set(const char *key, const char *value)
{
	struct weft_fiber *f = weft__self();
	struct weft__labels *l;
	size_t klen;
	int i;

	if (!f)
		return -EPERM;
	if (!key || !(klen = strlen(key)) || klen > WEFT_LABEL_KEY_MAX)
		return -EINVAL;
	l = &f->labels;
	i = label_find(l, key);
	if (i < 0 && !value)
		return 0;
	if (i < 0 && l->n == WEFT_LABELS_MAX)
		return -ENOSPC;
	l->busy = 1;
	atomic_signal_fence(memory_order_seq_cst); /* a SIGPROF on this thread sees busy first */
	if (!value) {
		l->n--;
		memmove(l->key[i], l->key[l->n], sizeof(l->key[0]));
		memmove(l->val[i], l->val[l->n], sizeof(l->val[0]));
	} else {
		if (i < 0) {
			i = l->n++;
			memcpy(l->key[i], key, klen + 1);
		}
		snprintf(l->val[i], sizeof(l->val[i]), "%s", value);
	}
	atomic_signal_fence(memory_order_seq_cst);
	l->busy = 0;
	return 0;
}

void weft_labels_clear(void)
{
	struct weft_fiber *f = weft__self();

	if (f)
		f->labels.n = 0;
}

const char *weft_label_get(const char *key)
{
	struct weft_fiber *f = weft__self();
	int i;

	if (!f || !key || (i = label_find(&f->labels, key)) < 0)
		return NULL;
	return f->labels.val[i];
}
