"""Host helpers of the local control plane (``localcluster.py``) and its real nodes (``realnodes.py``):
commands, ports, processes, state and kubeconfig files, certificates.

Standard library only, like its importers, which put ``hack/`` on ``sys.path`` (it is not a package).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def logger(prefix: str) -> Callable[[str], None]:
    """A ``log(msg)`` that writes ``[prefix] msg`` to stderr."""
    def log(msg: str) -> None:
        print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)
    return log


# ---------------------------------------------------------------- commands

def run(*args: str, check: bool = True, error: type[Exception] = RuntimeError, words: int = 3,
        tail: int | None = None, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    """Runs ``args`` with its output captured as text. When ``check`` and it fails, raises ``error`` with
    the first ``words`` arguments and what the command printed: with ``tail``, the last ``tail`` characters
    of its stderr (its stdout when stderr is empty); without, its stderr (its stdout when stderr is blank)."""
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        if tail:
            said = (proc.stderr or proc.stdout).strip()[-tail:]
        else:
            said = proc.stderr.strip() or proc.stdout.strip()
        raise error(f"{' '.join(args[:words])} failed: {said}")
    return proc


def built_path(script: Path, failure: Exception) -> Path:
    """Runs the build script ``script`` (its stderr passes through) and returns the path on the last line
    of its stdout; raises ``failure`` when the script fails."""
    proc = subprocess.run(["bash", str(script)], check=False, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise failure
    return Path(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- ports

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------- processes

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def process_start(pid: int) -> str | None:
    """The start time of a process (in clock ticks since boot), so that a reused pid is not mistaken."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> str:
    """The command line of a process, arguments joined by spaces; empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def signal_group(pid: int, sig: int) -> bool:
    """Sends ``sig`` to the process group ``pid``; False when the group is gone or not ours to signal."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM to the process group ``pid``, then SIGKILL when ``pid`` is still alive after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not signal_group(pid, sig):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if not pid_alive(pid):
            return


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Sends ``sig`` to each process, skipping those gone or not ours to signal."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------- files

def read_json(path: Path, default=None):
    """The JSON in ``path``, or ``default`` when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def any_pid_alive(state: dict | None) -> bool:
    """Whether a process of a cluster's state (``state.json``: ``{"pids": {name: pid}}``) is alive."""
    return bool(state) and any(pid_alive(p) for p in state.get("pids", {}).values())


def write_kubeconfig(path: Path, pki: Path, server: str, user: str = "admin") -> None:
    """A kubeconfig for ``server`` as ``user`` (``<pki>/<user>.crt`` and ``.key``), trusting
    ``<pki>/ca.crt``."""
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": server,
                                                   "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate": str(pki / f"{user}.crt"),
                                          "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
    }
    path.write_text(json.dumps(cfg, indent=2))  # JSON is valid YAML


def sign_certs(openssl: Callable[..., object], certs: Iterable[tuple[str, str, str]]) -> None:
    """For each (name, subject, extension file): ``<name>.key`` and ``<name>.crt`` signed by ``ca.crt``
    and ``ca.key``, by ``openssl(*args)`` (which runs openssl in the pki directory)."""
    for name, subj, ext in certs:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subj)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "3650", "-extfile", ext)
