/* weftd wire protocol: newline-delimited JSON over a Unix stream socket (see PROTOCOL.md).
 * An umbrella over the protocol layer's modules, for code written before the split;
 * new code includes what it uses:
 *   wire.h     ops, error codes, job states, their names, the request limits
 *   request.h  parsing one request line
 *   buf.h      the output buffer
 *   json.h     writing JSON values into it
 *   reply.h    response lines and the job object
 *   text.h     UTF-8 and base64 */
#ifndef WEFTD_PROTO_H
#define WEFTD_PROTO_H

#include "proto/buf.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "proto/text.h"
#include "proto/wire.h"

#endif
