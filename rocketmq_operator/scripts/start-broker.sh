#!/bin/sh
# Starts one RocketMQ broker of a broker group managed by rocketmq-operator.
#
# The group's ConfigMap holds one broker.conf per member (broker-<m>.conf). This script finds the
# member ordinal m at the end of the pod name (<cluster>-<group>-<m>), copies that member's file
# into a writable directory with brokerIP1 set to the pod IP, and replaces itself with mqbroker.
#
# Environment:
#   POD_NAME          pod name (falls back to $HOSTNAME, then `hostname`; hostNetwork pods need it)
#   POD_IP            the pod IP, written as brokerIP1 (required)
#   BROKER_CONF_DIR   where the ConfigMap is mounted         (default /etc/rocketmq-operator)
#   BROKER_RUN_DIR    writable directory for the final file  (default /tmp/rocketmq-operator)
#   ROCKETMQ_HOME     RocketMQ install; $ROCKETMQ_HOME/bin/mqbroker is preferred over mqbroker on PATH
# Extra arguments are passed on to mqbroker.
set -eu

log() {
    echo "start-broker: $*" >&2
}

pod="${POD_NAME:-${HOSTNAME:-$(hostname)}}"
ordinal="${pod##*-}"
case "$ordinal" in
    '' | *[!0-9]*)
        log "cannot read the member ordinal from pod name '$pod'"
        exit 64
        ;;
esac

conf_dir="${BROKER_CONF_DIR:-/etc/rocketmq-operator}"
run_dir="${BROKER_RUN_DIR:-/tmp/rocketmq-operator}"
source_conf="$conf_dir/broker-$ordinal.conf"
if [ ! -r "$source_conf" ]; then
    log "no configuration for member $ordinal: $source_conf is missing"
    exit 66
fi
if [ -z "${POD_IP:-}" ]; then
    log "POD_IP is not set"
    exit 64
fi

mkdir -p "$run_dir"
conf="$run_dir/broker.conf"
sed "s|^brokerIP1=.*|brokerIP1=$POD_IP|" "$source_conf" >"$conf.tmp"
mv "$conf.tmp" "$conf"
log "pod $pod runs member $ordinal with $conf (brokerIP1=$POD_IP)"

if [ -n "${ROCKETMQ_HOME:-}" ] && [ -x "$ROCKETMQ_HOME/bin/mqbroker" ]; then
    exec "$ROCKETMQ_HOME/bin/mqbroker" -c "$conf" "$@"
fi
if [ -n "${ROCKETMQ_HOME:-}" ] && [ -f "$ROCKETMQ_HOME/bin/mqbroker" ]; then
    exec sh "$ROCKETMQ_HOME/bin/mqbroker" -c "$conf" "$@"
fi
exec mqbroker -c "$conf" "$@"
