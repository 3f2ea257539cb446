#!/bin/bash
# Readiness of one broker managed by rocketmq-operator: ready once a name server lists this broker,
# not merely once its port is open (a broker serves its port a moment before it registers, and a broker
# cut off from every name server is not reachable by clients).
#
# Asks each name server of the member's broker.conf (the ConfigMap's copy, which follows name-server
# changes, and the copy the broker started with) for the cluster info (request code 106 of RocketMQ's
# remoting protocol) and looks for "<POD_IP>:<listen port>" in the answer. Exit 0: registered on at least
# one name server; 1: on none.
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
header='{"code":106,"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":0}'

registered_on() { # registered_on HOST:PORT
    local host="${1%:*}" ns_port="${1##*:}" len
    exec 3<>"/dev/tcp/$host/$ns_port" || return 1
    # frame: total length (4 + 95), then serialize type JSON (0) and header length (95), then the header
    printf '\x00\x00\x00\x63\x00\x00\x00\x5f%s' "$header" >&3
    set -- $(head -c 4 <&3 | od -An -tu1)
    [ $# -eq 4 ] || { exec 3<&-; return 1; }
    len=$(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 ))
    if head -c "$len" <&3 | grep -qF "\"$me\""; then
        exec 3<&-
        return 0
    fi
    exec 3<&-
    return 1
}

for ns in $name_servers; do
    if registered_on "$ns" 2>/dev/null; then
        exit 0
    fi
done
echo "broker-ready: $me is not registered on any of: $(echo $name_servers)" >&2
exit 1
