#!/bin/bash
# Probes of one broker managed by rocketmq-operator, speaking RocketMQ's remoting protocol from bash.
#
# broker-probe.sh ready — readiness: ready once a name server lists this broker, not merely once its port
#   is open (a broker serves its port a moment before it registers, and a broker cut off from every name
#   server is not reachable by clients). Asks each name server of the member's broker.conf (the
#   ConfigMap's copy, which follows name-server changes, and the copy the broker started with) for the
#   cluster info (request code 106) and looks for "<POD_IP>:<listen port>" in the answer. The name
#   servers are asked at once, each within 3 s from connect to answer (a hung or unreachable one costs
#   its 3 s, never more, and never delays the answer of a healthy one). Exit 0 as soon as one lists
#   the broker; 1 when none does.
# broker-probe.sh alive — liveness: the broker answers a request of its own (code 26, its config) within
#   4 s. A frozen or wedged JVM keeps its port open (the kernel still accepts connections), so a TCP
#   probe never notices it; this does.
#
# Environment: POD_NAME (or HOSTNAME), POD_IP, BROKER_CONF_DIR, BROKER_RUN_DIR, as start-broker.sh.
set -u

pod="${POD_NAME:-${HOSTNAME:-}}"
ordinal="${pod##*-}"
conf_dir="${BROKER_CONF_DIR:-/etc/rocketmq-operator}"
run_dir="${BROKER_RUN_DIR:-/tmp/rocketmq-operator}"
files=("$conf_dir/broker-$ordinal.conf" "$run_dir/broker.conf")

value() { # value KEY: the last KEY=... of the member's files
    sed -n "s/^$1=//p" "${files[@]}" 2>/dev/null | tail -n 1
}

port="$(value listenPort)"
me="${POD_IP:?POD_IP is not set}:${port:-10911}"
name_servers="$(sed -n 's/^namesrvAddr=//p' "${files[@]}" 2>/dev/null | tr ';' '\n' | sort -u)"

be32() { # be32 N: N as four big-endian bytes, as printf escapes
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255))
}

reply_len=0
request() { # request HOST:PORT CODE: opens fd 3, sends the request, sets reply_len (fails after 4 s)
    local host="${1%:*}" to_port="${1##*:}" frame
    local header='{"code":'"$2"',"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":0}'
    exec 3<>"/dev/tcp/$host/$to_port" || return 1
    # frame: total length (4 + header), serialize type JSON (0) with the header length, then the header
    frame="$(be32 $((4 + ${#header})))$(be32 ${#header})"
    printf "$frame%s" "$header" >&3
    set -- $(timeout 4 head -c 4 <&3 | od -An -tu1)
    [ $# -eq 4 ] || { exec 3<&-; return 1; }
    reply_len=$(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 ))
}

registered_on() { # registered_on HOST:PORT
    request "$1" 106 || return 1
    if timeout 4 head -c "$reply_len" <&3 | grep -qF "\"$me\""; then
        exec 3<&-
        return 0
    fi
    exec 3<&-
    return 1
}

if [ "${1:-ready}" = registered ]; then # registered HOST:PORT: one name server (the readiness check runs it)
    registered_on "$2" 2>/dev/null
    exit $?
fi

if [ "${1:-ready}" = alive ]; then
    request "127.0.0.1:${port:-10911}" 26 >/dev/null 2>&1 && { exec 3<&-; exit 0; }
    echo "broker-probe: the broker on port ${port:-10911} did not answer within 4 s" >&2
    exit 1
fi

NAME_SERVER_TIMEOUT="${NAME_SERVER_TIMEOUT:-3}"
pids=()
for ns in $name_servers; do
    # its output goes nowhere: a check left running must not hold the probe's output (and so the probe) open
    timeout -k 1 "$NAME_SERVER_TIMEOUT" bash "$0" registered "$ns" </dev/null >/dev/null 2>&1 &
    pids+=("$!")
done
while [ "${#pids[@]}" -gt 0 ]; do
    running=()
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            running+=("$pid")
        elif wait "$pid"; then
            kill -TERM "${running[@]}" "${pids[@]}" 2>/dev/null  # timeout passes it on to its check
            exit 0
        fi
    done
    pids=("${running[@]}")
    [ "${#pids[@]}" -eq 0 ] || sleep 0.05
done
echo "broker-probe: $me is not registered on any of: $(echo $name_servers)" >&2
exit 1
