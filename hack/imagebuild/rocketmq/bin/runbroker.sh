#!/bin/sh
# Runs a RocketMQ broker JVM (or a proxy in local mode) of the image built by hack/images.py:
#   sh runbroker.sh [JVM options] MAIN_CLASS [arguments]
#
# Environment (as RocketMQ's own runbroker.sh and the official image read it):
#   JAVA_OPT      options put first
#   HEAP_OPTS     replaces the default heap options; the default is sized from the container's
#                 memory (the cgroup limit, else the machine's): -Xms=-Xmx=min(2g, memory/4),
#                 -Xmn and -XX:MaxDirectMemorySize half of that (the official image's default is a
#                 fixed -Xms2g -Xmx2g -Xmn1g -XX:MaxDirectMemorySize=1g). Not pre-touched: add
#                 -XX:+AlwaysPreTouch to JAVA_OPT_EXT for that.
#   JAVA_OPT_EXT  options put last (after the defaults, so they win), before -cp
#   RMQ_NUMA_NODE with numactl installed: bind to that NUMA node (else memory is interleaved)
#   JAVA_HOME, GC_LOG_DIR: see rocketmq-env.sh
bin_dir=$(cd "$(dirname "$0")" && pwd)
. "$bin_dir/rocketmq-env.sh"

if [ -z "${HEAP_OPTS:-}" ]; then
    heap=$(rmq_heap_mb 2048 4)
    HEAP_OPTS="-Xms${heap}m -Xmx${heap}m -Xmn$((heap / 2))m -XX:MaxDirectMemorySize=$((heap / 2))m"
    [ "$heap" -lt 1024 ] || HEAP_OPTS="$HEAP_OPTS -XX:G1HeapRegionSize=16m"
fi
JAVA_OPT="${JAVA_OPT:-} -server $HEAP_OPTS"
JAVA_OPT="$JAVA_OPT $(rmq_gc_opts rmq_srv_gc)"
JAVA_OPT="$JAVA_OPT -XX:-OmitStackTraceInFastThrow -XX:-UseLargePages -XX:+IgnoreUnrecognizedVMOptions"
JAVA_OPT="$JAVA_OPT $(rmq_module_opts) -Drocketmq.home.dir=$ROCKETMQ_HOME"
JAVA_OPT="$JAVA_OPT ${JAVA_OPT_EXT:-}"
JAVA_OPT="$JAVA_OPT -cp $CLASSPATH"

# shellcheck disable=SC2086 # the options are words, as in RocketMQ's scripts
if command -v numactl >/dev/null 2>&1 && numactl --interleave=all true >/dev/null 2>&1; then
    if [ -n "${RMQ_NUMA_NODE:-}" ]; then
        exec numactl --cpunodebind="$RMQ_NUMA_NODE" --membind="$RMQ_NUMA_NODE" "$JAVA" $JAVA_OPT "$@"
    fi
    exec numactl --interleave=all "$JAVA" $JAVA_OPT "$@"
fi
exec "$JAVA" $JAVA_OPT "$@"
