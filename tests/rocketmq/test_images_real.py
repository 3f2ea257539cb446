"""The images of hack/images.py really run: each image's selftest, unpacked and started under
unshare + chroot as the image's user (see hack/imagebuild/selftest.py for what each one checks).

Builds the images first when they are not cached (a few minutes cold, seconds warm). Needs root on
Linux (debootstrap, chroot, mount namespaces); elsewhere the module skips with one line. On such a
machine nothing else is skipped, so under CI a failure to build or run an image fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "hack" / "images.py"

pytestmark = pytest.mark.rocketmq


def _cannot_run() -> str:
    if sys.platform != "linux":
        return "the image selftests need Linux"
    if os.geteuid() != 0:
        return "the image selftests need root (debootstrap, chroot, mount namespaces)"
    missing = [tool for tool in ("unshare", "chroot", "mount") if shutil.which(tool) is None]
    if missing:
        return f"the image selftests need {', '.join(missing)}"
    return ""


_REASON = _cannot_run()
if _REASON:
    pytest.skip(_REASON, allow_module_level=True)


def _selftest(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(IMAGES), "selftest", name],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=REPO,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"hack/images.py selftest {name} failed:\n{output[-6000:]}"
    return output


@pytest.mark.timeout(1800)
def test_pause_image_sleeps_as_pid_1_and_exits_0_on_sigterm():
    _selftest("pause")


@pytest.mark.timeout(1800)
def test_rocketmq_image_runs_a_name_server_and_a_broker_that_mqadmin_lists():
    if shutil.which("mvn") is None and os.environ.get("CI") != "true":
        pytest.skip("the RocketMQ image needs Maven to fetch the jars")
    output = _selftest("rocketmq")
    assert "#Cluster Name" in output and "selftest-broker" in output


@pytest.mark.timeout(1800)
def test_operator_image_runs_on_a_read_only_root_as_65532():
    _selftest("operator")
