#!/bin/sh
# Runs a RocketMQ command-line tool (mqadmin) of the image built by hack/images.py:
#   sh tools.sh [JVM options] MAIN_CLASS [arguments]
#
# Environment: JAVA_OPT (options put first), JAVA_HOME. HEAP_OPTS and JAVA_OPT_EXT belong to the
# servers and are not read here (as in RocketMQ's own tools.sh), so `kubectl exec` of mqadmin in a
# broker's container does not take the broker's heap. The heap is min(1g, memory/8), young
# generation a quarter of it (RocketMQ's own: -Xms1g -Xmx1g -Xmn256m).
bin_dir=$(cd "$(dirname "$0")" && pwd)
. "$bin_dir/rocketmq-env.sh"

heap=$(rmq_heap_mb 1024 8)
JAVA_OPT="${JAVA_OPT:-} -server -Xms${heap}m -Xmx${heap}m -Xmn$((heap / 4))m"
JAVA_OPT="$JAVA_OPT -XX:MetaspaceSize=128m -XX:MaxMetaspaceSize=128m -XX:TieredStopAtLevel=1"
JAVA_OPT="$JAVA_OPT $(rmq_module_opts) -Drocketmq.home.dir=$ROCKETMQ_HOME"
JAVA_OPT="$JAVA_OPT -cp $CLASSPATH"

# shellcheck disable=SC2086 # the options are words, as in RocketMQ's scripts
exec "$JAVA" $JAVA_OPT "$@"
