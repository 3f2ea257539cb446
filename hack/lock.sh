#!/usr/bin/env bash
# Regenerates the two pin files from setup.cfg, each in a fresh virtualenv with the newest versions in range:
#   requirements.lock      the runtime closure (install_requires): what the image installs
#   requirements-dev.lock  the same plus the test and lint extras: what `make install` installs and the tests run
# The runtime pins are then taken from the dev resolution, so the image runs exactly what the tests ran.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
cd "$REPO_ROOT"
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

freeze() {  # freeze <venv>: the venv's distributions as name==version, the project itself left out
    "$1/bin/pip" freeze --exclude-editable --all | grep -v -i -E '^(pip|setuptools|wheel|rocketmq[-_]operator)( @|==)' \
        | awk -F'==' '{ name = tolower($1); gsub(/[_.]/, "-", name); print name "==" $2 }' | LC_ALL=C sort
}

"$PYTHON" -m venv "$work/dev"
"$work/dev/bin/pip" install -q --upgrade pip
"$work/dev/bin/pip" install -q '.[test,lint]'
"$PYTHON" -m venv "$work/run"
"$work/run/bin/pip" install -q --upgrade pip
"$work/run/bin/pip" install -q .

dev="$(freeze "$work/dev")"
runtime_names="$(freeze "$work/run" | cut -d= -f1)"
{
    echo "# Exact versions of everything \`make install\` puts in .venv: the operator's runtime closure and the"
    echo "# test and lint extras of setup.cfg. Regenerate with \`make lock\` (hack/lock.sh); do not edit by hand."
    echo "$dev"
} > requirements-dev.lock
{
    echo "# Exact versions of the operator's runtime dependencies (setup.cfg install_requires and everything they"
    echo "# pull in) for the image; the Dockerfile installs these, then the operator's wheel with --no-deps."
    echo "# Taken from requirements-dev.lock, so the image runs the versions the tests ran. Regenerate with"
    echo "# \`make lock\` (hack/lock.sh); tests/e2e/test_manifests.py checks both files."
    while IFS= read -r line; do
        name="${line%%==*}"
        if grep -qx "$name" <<<"$runtime_names"; then echo "$line"; fi
    done <<<"$dev"
} > requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) pins; requirements-dev.lock: $(grep -vc '^#' requirements-dev.lock) pins"
