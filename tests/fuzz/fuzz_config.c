/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the config parser on arbitrary bytes. Must never crash, leak or hang;
 * a success must yield a self-consistent config. The same bytes as a broker's redis URL
 * (config/brokers.c) too: never past its buffer, a success always a path or a host. */
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
		for (size_t i = 0; i < c->npipelines; i++) { /* every broker: named in brokers */
			bool found = !c->pipelines[i].broker;
			for (size_t k = 0; k < c->daemon.nbrokers && !found; k++)
				found = strcmp(c->daemon.brokers[k].name, c->pipelines[i].broker) == 0;
			if (!found)
				abort();
		}
		weftd_config_free(c);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	char *url = malloc(size + 1), out[16];
	bool ux;
	unsigned port, db;
	if (url) {
		memcpy(url, data, size);
		url[size] = 0;
		if (weftd_broker_url_parse(url, out, sizeof(out), &ux, &port, &db) == 0 &&
		    (!out[0] || strlen(out) >= sizeof(out) || (ux && out[0] != '/') || (!ux && port == 0)))
			abort();
		free(url);
	}
	return 0;
}
