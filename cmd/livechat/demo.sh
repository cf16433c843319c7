#!/usr/bin/env bash
# `make demo`: the fake LINE, a livechat server pointed at it, an operator
# "demo", and simulated customers who queue for a human, all on this machine.
# You play the operator over the WebSocket; the transcript of the customers
# runs in this terminal. Ctrl-C stops everything.
#
# Needs only Go (make builds bin/livechat first). Tunable with DEMO_ADDR,
# DEMO_FAKELINE_ADDR, DEMO_DATA_DIR, DEMO_CUSTOMERS, DEMO_SEED, DEMO_DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${LIVECHAT_BIN:-bin/livechat}
addr=${DEMO_ADDR:-127.0.0.1:8081} # not 8080, so a `make run` can keep running
fake_addr=${DEMO_FAKELINE_ADDR:-127.0.0.1:8090}
data=${DEMO_DATA_DIR:-./data/demo} # its own data dir: no fight with `make run` over ./data
customers=${DEMO_CUSTOMERS:-3}
seed=${DEMO_SEED:-$(date +%s)} # new customers every run; set DEMO_SEED to replay the same ones
duration=${DEMO_DURATION:-10m}
password=demo-password

[[ -x $bin ]] || { echo "demo: $bin is missing; run 'make demo' (it builds it)" >&2; exit 1; }

# The embedded defaults (SQLite in the data dir, the in-process bus), LINE
# faked, business hours all week so a handoff gets the normal queue reply.
unset LIVECHAT_DATABASE_URL LIVECHAT_REDIS_URL
export LIVECHAT_DATA_DIR=$data
export LIVECHAT_ADDR=$addr
export LIVECHAT_LINE_API_BASE=http://$fake_addr
export LIVECHAT_LINE_DATA_API_BASE=http://$fake_addr
export LIVECHAT_LINE_CHANNEL_SECRET=demo-channel-secret
export LIVECHAT_LINE_CHANNEL_TOKEN=demo-channel-token
export LIVECHAT_BUSINESS_HOURS='mon-sun 00:00-24:00'
mkdir -p "$data"

pids=()
cleanup() {
	trap - EXIT INT TERM
	if ((${#pids[@]})); then
		echo "demo: stopping the server and the fake LINE" >&2
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# wait_for PID LOG TEXT: until LOG has TEXT (the process is up) or PID died.
wait_for() {
	local pid=$1 log=$2 text=$3 i
	for ((i = 0; i < 300; i++)); do
		grep -q "$text" "$log" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo: $(basename "$log" .log) did not start:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "demo: $(basename "$log" .log) did not start within 30 s; see $log" >&2
	return 1
}

# The operator, created once per data dir and reused.
id_file=$data/demo-operator-id
if [[ -s $id_file ]]; then
	op_id=$(<"$id_file")
elif op_id=$("$bin" operator create --username demo --display-name "Demo Operator" --role admin --password "$password" 2>"$data/operator.log"); then
	echo "$op_id" >"$id_file"
else
	cat "$data/operator.log" >&2
	echo "demo: could not create the operator 'demo' (if it exists but $id_file is gone, remove $data to start afresh)" >&2
	exit 1
fi
token=$("$bin" token --operator-id "$op_id" --ttl 12h 2>>"$data/operator.log") || {
	cat "$data/operator.log" >&2
	exit 1
}

"$bin" fakeline --addr "$fake_addr" >"$data/fakeline.log" 2>&1 &
pids+=($!)
wait_for $! "$data/fakeline.log" "fake LINE serving on"
"$bin" serve >"$data/server.log" 2>&1 &
pids+=($!)
wait_for $! "$data/server.log" "livechat is serving on"

# simulate queues its customers in list order: the first listed queues first.
mapfile -t people < <("$bin" simulate --list --customers "$customers" --seed "$seed")
first=${people[0]%%$'\t'*}
first_name=${people[0]#*$'\t'}
ws=ws://$addr/api/v1/ws/live-chat

cat <<EOF

================================================================================
 livechat demo
   server     http://$addr          logs: $data/server.log
   fake LINE  http://$fake_addr          logs: $data/fakeline.log
              what the customers received: http://$fake_addr/_fake/requests
   operator   demo / $password (id $op_id, admin)
   token      $token

 Be the operator: open a WebSocket to $ws, e.g.
   websocat $ws
   npx wscat -c $ws
 and send these frames, one per line (the join_room is for $first_name, the first of them to queue):
   {"type":"auth","payload":{"token":"$token"}}
   {"type":"join_room","payload":{"line_user_id":"$first"}}
   {"type":"claim_session","payload":{}}
   {"type":"send_message","payload":{"text":"Hello! How can I help you?","temp_id":"t1"}}
   {"type":"close_session","payload":{}}
 The customer answers each message you send; after the close it rates the chat.
 The customers, in queue order (join_room with their id; session_queued frames show them too):
EOF
for p in "${people[@]}"; do
	printf '   %s  %s\n' "${p#*$'\t'}" "${p%%$'\t'*}"
done
cat <<EOF
 Their transcript follows (simulator: seed $seed, gives up after $duration).
 Ctrl-C stops everything.
================================================================================

EOF

rc=0
"$bin" simulate --server "http://$addr" --fakeline "http://$fake_addr" \
	--customers "$customers" --seed "$seed" --duration "$duration" || rc=$?
if ((rc == 0)); then
	echo "demo: every customer rated the chat. The server and the fake LINE keep running; Ctrl-C to stop." >&2
else
	echo "demo: the simulator stopped (exit $rc). The server and the fake LINE keep running; Ctrl-C to stop." >&2
fi
wait "${pids[@]}"
