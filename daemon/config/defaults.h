/* SPDX-License-Identifier: MIT */
/* Every default of the config in one place (config.h documents them per field), private
 * to daemon/config/. */
#ifndef WEFTD_CONFIG_DEFAULTS_H
#define WEFTD_CONFIG_DEFAULTS_H

#include "config/config.h"

/* Fill d with the defaults of the daemon: section, before it is walked. */
void cfg_daemon_defaults(struct weftd_daemon_config *d);

/* Fill s with a stage's defaults, before it is walked. */
void cfg_stage_defaults(struct weftd_stage *s);

/* After a stage was walked and validated: the defaults that depend on other keys (the
 * plugin symbol of a plugin stage, a rate limit's burst). */
void cfg_stage_derived_defaults(struct weftd_stage *s);

#endif
