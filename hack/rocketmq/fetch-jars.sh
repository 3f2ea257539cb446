#!/usr/bin/env bash
# Fetch the jars of the pinned Apache RocketMQ release (name server, broker, mqadmin tools and their
# dependencies) from Maven Central into a cache outside the repository, and print the lib directory.
#
#   hack/rocketmq/fetch-jars.sh            # version from $ROCKETMQ_VERSION or hack/versions.env
#   ROCKETMQ_VERSION=5.3.3 hack/rocketmq/fetch-jars.sh
#   ROCKETMQ_JARS_PROFILE=image hack/rocketmq/fetch-jars.sh   # also the proxy and the controller
#
# The cache is ${XDG_CACHE_HOME:-~/.cache}/rocketmq-operator/rocketmq-<version>/lib and is reused when
# complete (a .complete marker is written last, so an interrupted download is never reused).
#
# Fallback: rocketmq-namesrv and rocketmq-tools 5.3.2 are not published on Maven Central (the broker
# is), so when the pinned version cannot be fetched the nearest release whose three artifacts all
# resolve is used instead and a warning says so. The last line of stdout is always "<version> <lib dir>".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${ROCKETMQ_VERSION:-}" ]]; then
  # shellcheck source=../versions.env
  source "$here/../versions.env"
fi
pinned="${ROCKETMQ_VERSION:?ROCKETMQ_VERSION is not set}"
fallbacks="${ROCKETMQ_FALLBACK_VERSIONS:-5.3.3}"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/rocketmq-operator"
profile="${ROCKETMQ_JARS_PROFILE:-}"
suffix="${profile:+-$profile}"
mvn_profile=()
[[ -n "$profile" ]] && mvn_profile=("-P$profile")

candidates=("$pinned")
for v in $fallbacks; do [[ "$v" != "$pinned" ]] && candidates+=("$v"); done

lib_dir() { echo "$cache_root/rocketmq-$1$suffix/lib"; }

for v in "${candidates[@]}"; do
  if [[ -f "$(lib_dir "$v")/.complete" ]]; then
    [[ "$v" != "$pinned" ]] && echo "warning: using cached RocketMQ $v instead of the pinned $pinned" >&2
    echo "$v $(lib_dir "$v")"
    exit 0
  fi
done

for v in "${candidates[@]}"; do
  dest="$(lib_dir "$v")"
  staging="$dest.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  echo "fetching RocketMQ $v jars into $dest" >&2
  if mvn -q -B -f "$here/pom.xml" "${mvn_profile[@]}" -Drocketmq.version="$v" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$staging" >&2; then
    touch "$staging/.complete"
    rm -rf "$dest"
    mv "$staging" "$dest"
    [[ "$v" != "$pinned" ]] && echo "warning: RocketMQ $pinned is not on Maven Central; using $v" >&2
    echo "$v $dest"
    exit 0
  fi
  rm -rf "$staging"
  echo "RocketMQ $v could not be fetched" >&2
done
echo "error: no RocketMQ version among: ${candidates[*]} could be fetched" >&2
exit 1
