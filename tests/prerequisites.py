"""What a test session does when a tool its real tests need is missing: skip on a developer's machine, fail
under ``CI=true`` (this project's machines have every tool, so a missing one is a broken machine, and the
proofs must not silently not run), in one line saying what to install."""

from __future__ import annotations

from collections.abc import Callable, Iterable

INSTALL = {  # tool → how to get it on Debian, the project's machines
    "java": "apt-get install openjdk-17-jdk-headless",
    "mvn": "apt-get install maven",
}


def missing_tools(tools: Iterable[str], *, which: Callable[[str], str | None],
                  ci: bool) -> tuple[bool, str] | None:
    """None when every tool is on PATH; else (fail?, the one line to say)."""
    missing = [tool for tool in tools if which(tool) is None]
    if not missing:
        return None
    how = "; ".join(f"{tool}: {INSTALL.get(tool, 'install it')}" for tool in missing)
    if ci:
        return True, (f"CI=true and {' and '.join(missing)} not on PATH: the real RocketMQ tests must run "
                      f"({how})")
    return False, f"real RocketMQ tests need {' and '.join(missing)} on PATH ({how})"
