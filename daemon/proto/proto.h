/* weftd wire protocol: newline-delimited JSON over a Unix stream socket (see PROTOCOL.md).
 * The protocol layer is one module per concern; include the one you use:
 *   wire.h     ops, error codes, job states, their names, the request limits
 *   request.h  parsing one request line (over jscan.h, the JSON scanner)
 *   buf.h      the output buffer
 *   json.h     writing JSON values into it
 *   reply.h    response lines and the job object
 *   text.h     UTF-8 and base64
 * This umbrella is only for code written before the split (other branches in flight);
 * delete it once nothing includes it. */
#ifndef WEFTD_PROTO_H
#define WEFTD_PROTO_H

#include "proto/buf.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "proto/text.h"
#include "proto/wire.h"

#endif
