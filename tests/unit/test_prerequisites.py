"""Covers what happens when a real test's prerequisite is missing: a skip with what to install on a
developer's machine, a failure under CI=true (java/mvn for the real JVMs, root and the rest for real
nodes); REAL_NODES=0 alone opts out."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.prerequisites import missing_tools

HACK = Path(__file__).resolve().parents[2] / "hack"


def test_with_every_tool_on_path_nothing_is_said():
    assert missing_tools(("java", "mvn"), which=lambda t: f"/usr/bin/{t}", ci=True) is None


def test_a_missing_tool_skips_on_a_developers_machine_saying_what_to_install():
    fail, message = missing_tools(("java", "mvn"), which=lambda t: None if t == "mvn" else "/x", ci=False)
    assert not fail and "need mvn on PATH" in message and "apt-get install maven" in message


def test_a_missing_tool_fails_under_ci():
    fail, message = missing_tools(("java", "mvn"), which=lambda t: None, ci=True)
    assert fail and message.startswith("CI=true and java and mvn not on PATH")
    assert "openjdk-17-jdk-headless" in message and "\n" not in message


@pytest.fixture
def realnodes(monkeypatch):
    monkeypatch.syspath_prepend(str(HACK))
    spec = importlib.util.spec_from_file_location("realnodes_under_test", HACK / "realnodes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("realnodes_under_test", module)
    spec.loader.exec_module(module)
    monkeypatch.delenv("REAL_NODES", raising=False)
    return module


@pytest.mark.parametrize("ci, expected", [("true", True), ("", False)])
def test_real_nodes_without_root_fail_under_ci_and_skip_elsewhere(realnodes, monkeypatch, ci, expected):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(realnodes.os, "geteuid", lambda: 1000)
    reason, should_have = realnodes.unavailable_reason()
    assert reason.startswith("not root") and should_have is expected


def test_real_nodes_without_the_ip_command_say_to_install_iproute2_and_fail_under_ci(realnodes, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(realnodes.os, "geteuid", lambda: 0)
    monkeypatch.setattr(realnodes.shutil, "which", lambda tool: None)
    reason, should_have = realnodes.unavailable_reason()
    assert "install iproute2" in reason and should_have is True


def test_real_nodes_0_opts_out_even_under_ci(realnodes, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("REAL_NODES", "0")
    assert realnodes.unavailable_reason() == ("REAL_NODES=0", False)
