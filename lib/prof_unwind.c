/* SPDX-License-Identifier: MIT */
/* prof_unwind.c — frame-pointer walks and fiber labels (weft/prof.h). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Frames are read only inside [lo, hi), each strictly above the last and 8-aligned: a
 * frame pointer that is not one (code built without them uses rbp as a plain register)
 * ends the walk instead of faulting. */
WEFT__NO_SAN int weft__unwind(uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi,
			      uintptr_t *pcs, int max)
{
	int n = 0;

	if (max <= 0)
		return 0;
	pcs[n++] = pc;
	while (n < max && fp >= lo && fp + 2 * sizeof(uintptr_t) <= hi && !(fp & 7)) {
		const uintptr_t *frame = (const uintptr_t *)fp;
		uintptr_t next = frame[0], ret = frame[1];
		if (ret < 4096)
			break;
		pcs[n++] = ret;
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

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
