/* SPDX-License-Identifier: MIT */
/* broker_list.h — list over local and broker jobs together (broker_ops.c's helper). */
#ifndef WEFTD_SERVER_BROKER_LIST_H
#define WEFTD_SERVER_BROKER_LIST_H

#include "proto/request.h"
#include "server/server_impl.h"

/* list with pipeline naming a broker pipeline (its jobs), or without pipeline (every
 * local job and every broker pipeline's, merged newest first, limit in all). Answers
 * into b (errors too); parks for the Redis calls. */
void srv_broker_list(struct conn *c, struct weftd_buf *b, const struct weftd_request *req);

#endif
