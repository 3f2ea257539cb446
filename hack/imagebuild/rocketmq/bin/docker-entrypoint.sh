#!/bin/sh
# Entrypoint of the RocketMQ image built by hack/images.py. The first argument (or NODE_ROLE) picks a
# role, the rest goes to its launcher; anything else is run as given (e.g. `sh mqbroker -c FILE`,
# `./mqadmin clusterList -n HOST:9876`, `bash`).
#   nameserver | namesrv   ->  mqnamesrv
#   broker                 ->  mqbroker
#   controller             ->  mqcontroller
#   proxy                  ->  mqproxy
bin_dir=$(cd "$(dirname "$0")" && pwd)
role=${1:-}
if [ -n "${NODE_ROLE:-}" ]; then
    role=$NODE_ROLE
elif [ $# -gt 0 ]; then
    case "$1" in
        nameserver | namesrv | broker | controller | proxy) shift ;;
    esac
fi
case "$role" in
    nameserver | namesrv) exec sh "$bin_dir/mqnamesrv" "$@" ;;
    broker) exec sh "$bin_dir/mqbroker" "$@" ;;
    controller) exec sh "$bin_dir/mqcontroller" "$@" ;;
    proxy) exec sh "$bin_dir/mqproxy" "$@" ;;
esac
if [ $# -eq 0 ]; then
    echo "usage: docker-entrypoint.sh nameserver|broker|controller|proxy [ARGS] | COMMAND [ARGS]" >&2
    exit 64
fi
exec "$@"
