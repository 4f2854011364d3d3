/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the config parser on arbitrary bytes. Must never crash, leak or hang;
 * a success must yield a self-consistent config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weftd_config *c = NULL;
	char err[256];

	if (weftd_config_parse((const char *)data, size, "fuzz.yaml", &c, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < c->npipelines; i++) {
			const struct weftd_pipeline *p = &c->pipelines[i];
			if (!weftd_pipeline_equal(p, p) || p->nstages == 0 || !p->name)
				abort();
			for (size_t s = 0; s < p->nstages; s++)
				if (!p->stages[s].name || p->stages[s].workers == 0 || p->stages[s].queue == 0)
					abort();
		}
		if (c->npipelines == 0)
			abort();
		weftd_config_free(c);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	return 0;
}
