# SPDX-License-Identifier: MIT
# lib_broker.sh — shared by the broker integration tests (issue 15): lib.sh, then a real
# redis-server on a temporary Unix socket (and a free TCP port on 127.0.0.1, $RPORT), and
# weftd nodes that share it. Source it, set PIPELINES (the pipelines: section's YAML,
# indented two spaces) and call start_node N [REDIS-URL] for each node.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v redis-server > /dev/null || { skip "redis-server not installed"; exit 0; }
RSOCK=$T/redis.sock
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --unixsocket "$RSOCK" --unixsocketperm 700 --port "$RPORT" --bind 127.0.0.1 --dir "$T" --save '' \
	--daemonize yes --pidfile "$T/redis.pid" --logfile "$T/redis.log" > /dev/null
at_exit 'kill $(cat "$T/redis.pid") 2>/dev/null || true'
wait_for "redis up" redis-cli -s "$RSOCK" ping
R() { redis-cli -s "$RSOCK" "$@"; }

# start_node N [REDIS-URL]: weftd node N on $T/nN.sock (log $T/nN.log), broker "main" at
# REDIS-URL (default: the Unix socket), the pipelines of $PIPELINES, fast heartbeats, and
# the daemon: lines of $NODE_DAEMON (indented two spaces) if any.
declare -A NPID
PIPELINES=${PIPELINES:-}
NODE_DAEMON=${NODE_DAEMON:-}
start_node() {
	local url=${2:-unix://$RSOCK}
	cat > "$T/n$1.yaml" <<EOC
daemon:
  socket: $T/n$1.sock
  procs: 2
  durability: none
  heartbeat_interval: 100ms
  heartbeat_timeout: 1s
  brokers:
    main: {redis: "$url"}
$NODE_DAEMON
pipelines:
$PIPELINES
EOC
	"$WEFTD" --config "$T/n$1.yaml" 2>> "$T/n$1.log" &
	NPID[$1]=$!
	wait_for "node $1 up" env WEFT_SOCKET="$T/n$1.sock" "$WEFTCTL" ping
}
at_exit 'for p in "${NPID[@]}"; do kill -9 $p 2>/dev/null || true; done'

# node N ARGS...: weftctl against node N. ask N LINE: one raw request line, its answer.
node() { local n=$1; shift; WEFT_SOCKET=$T/n$n.sock "$WEFTCTL" "$@"; }
ask() { printf '%s\n' "$2" | socat -t 10 - UNIX-CONNECT:"$T/n$1.sock"; }
