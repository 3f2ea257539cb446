# Shared by runserver.sh, runbroker.sh and tools.sh of the RocketMQ image built by hack/images.py
# (sourced, not run). Sets JAVA, ROCKETMQ_HOME, CLASSPATH and the functions below.
#
#   JAVA_HOME      the Java runtime (default: the one `java` on PATH belongs to)
#   ROCKETMQ_HOME  the RocketMQ install (default: the parent of this directory)
#   GC_LOG_DIR     where GC logs go (default: /dev/shm when writable, else $HOME/logs, else /tmp)

rmq_die() {
    echo "ERROR: $1 !!" >&2
    exit 1
}

rmq_find_java() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        return
    fi
    java_on_path=$(command -v java 2>/dev/null || true)
    if [ -n "$java_on_path" ]; then
        JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java_on_path")")")
    fi
    [ -x "${JAVA_HOME:-}/bin/java" ] || JAVA_HOME=$HOME/jdk/java
    [ -x "$JAVA_HOME/bin/java" ] || JAVA_HOME=/usr/java
    [ -x "$JAVA_HOME/bin/java" ] || rmq_die "Please set the JAVA_HOME variable in your environment, We need java(x64)!"
}

# The memory this container may use, in MiB: the cgroup limit (v2, else v1) when it is below the
# machine's memory, else the machine's memory.
rmq_memory_mb() {
    total_kb=0
    while read -r key value _; do
        if [ "$key" = "MemTotal:" ]; then
            total_kb=$value
            break
        fi
    done 2>/dev/null </proc/meminfo
    memory_mb=$((total_kb / 1024))
    [ "$memory_mb" -gt 0 ] || memory_mb=2048
    limit=
    if [ -r /sys/fs/cgroup/memory.max ]; then
        limit=$(cat /sys/fs/cgroup/memory.max)
    elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
    fi
    case "$limit" in
        '' | *[!0-9]*) ;;
        *)
            if [ ${#limit} -lt 19 ] && [ $((limit / 1048576)) -lt "$memory_mb" ]; then
                memory_mb=$((limit / 1048576))
            fi
            ;;
    esac
    echo "$memory_mb"
}

# rmq_heap_mb CAP DIVISOR: min(CAP, memory / DIVISOR), at least 64 MiB.
rmq_heap_mb() {
    heap=$(($(rmq_memory_mb) / $2))
    [ "$heap" -le "$1" ] || heap=$1
    [ "$heap" -ge 64 ] || heap=64
    echo "$heap"
}

rmq_java_major() {
    "$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | sed 's/^1\.//; s/\..*//; q'
}

rmq_gc_log_dir() {
    if [ -n "${GC_LOG_DIR:-}" ]; then
        echo "$GC_LOG_DIR"
    elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
        echo /dev/shm
    elif mkdir -p "$HOME/logs" 2>/dev/null && [ -w "$HOME/logs" ]; then
        echo "$HOME/logs"
    else
        echo /tmp
    fi
}

# rmq_gc_opts FILE_PREFIX: G1 as RocketMQ's own scripts tune it, with a bounded GC log.
rmq_gc_opts() {
    gc="-XX:+UseG1GC -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30 -XX:SoftRefLRUPolicyMSPerMB=0"
    log_dir=$(rmq_gc_log_dir)
    if [ "$JAVA_MAJOR" -lt 9 ]; then
        gc="$gc -verbose:gc -Xloggc:$log_dir/$1_%p.log -XX:+PrintGCDetails -XX:+PrintGCDateStamps"
        gc="$gc -XX:+UseGCLogFileRotation -XX:NumberOfGCLogFiles=3 -XX:GCLogFileSize=10m"
    else
        gc="$gc -Xlog:gc*:file=$log_dir/$1_%p_%t.log:time,tags:filecount=3,filesize=10M"
    fi
    echo "$gc"
}

# Module access RocketMQ's store and remoting need on Java 9 and later (mmap cleaning, direct buffers).
rmq_module_opts() {
    if [ "$JAVA_MAJOR" -ge 9 ]; then
        echo "--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED" \
            "--add-opens=java.base/java.lang=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED"
    fi
}

rmq_find_java
export JAVA_HOME
export JAVA="$JAVA_HOME/bin/java"
if [ -z "${ROCKETMQ_HOME:-}" ]; then
    ROCKETMQ_HOME=$(cd "$(dirname "$0")/.." && pwd)
fi
export ROCKETMQ_HOME
export BASE_DIR="$ROCKETMQ_HOME"
export CLASSPATH=".:$ROCKETMQ_HOME/conf:$ROCKETMQ_HOME/lib/*${CLASSPATH:+:$CLASSPATH}"
JAVA_MAJOR=$(rmq_java_major)
[ -n "$JAVA_MAJOR" ] || JAVA_MAJOR=17
