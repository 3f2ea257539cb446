#!/bin/sh
# Runs a RocketMQ server JVM (name server, controller, proxy) of the image built by hack/images.py:
#   sh runserver.sh [JVM options] MAIN_CLASS [arguments]
#
# Environment (as RocketMQ's own runserver.sh and the official image read it):
#   JAVA_OPT      options put first
#   HEAP_OPTS     replaces the default heap options; the default is sized from the container's
#                 memory (the cgroup limit, else the machine's): -Xms=-Xmx=min(1g, memory/4),
#                 -Xmn=half of that (RocketMQ's own default is a fixed -Xms1g -Xmx1g -Xmn512m)
#   JAVA_OPT_EXT  options put last (after the defaults, so they win), before -cp
#   JAVA_HOME, GC_LOG_DIR: see rocketmq-env.sh
bin_dir=$(cd "$(dirname "$0")" && pwd)
. "$bin_dir/rocketmq-env.sh"

if [ -z "${HEAP_OPTS:-}" ]; then
    heap=$(rmq_heap_mb 1024 4)
    HEAP_OPTS="-Xms${heap}m -Xmx${heap}m -Xmn$((heap / 2))m"
    [ "$heap" -lt 1024 ] || HEAP_OPTS="$HEAP_OPTS -XX:G1HeapRegionSize=16m"
fi
JAVA_OPT="${JAVA_OPT:-} -server $HEAP_OPTS -XX:MetaspaceSize=128m -XX:MaxMetaspaceSize=320m"
JAVA_OPT="$JAVA_OPT $(rmq_gc_opts rmq_srv_gc)"
JAVA_OPT="$JAVA_OPT -XX:-OmitStackTraceInFastThrow -XX:-UseLargePages"
JAVA_OPT="$JAVA_OPT $(rmq_module_opts) -Drocketmq.home.dir=$ROCKETMQ_HOME"
JAVA_OPT="$JAVA_OPT ${JAVA_OPT_EXT:-}"
JAVA_OPT="$JAVA_OPT -cp $CLASSPATH"

# shellcheck disable=SC2086 # the options are words, as in RocketMQ's scripts
exec "$JAVA" $JAVA_OPT "$@"
