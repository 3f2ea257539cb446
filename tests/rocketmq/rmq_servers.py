"""Real RocketMQ JVMs for the tests: fetch the jars, start name servers and brokers, run mqadmin.

Everything listens on 127.0.0.1 on free ports, keeps its ROCKETMQ_HOME, store and logs (``user.home``)
under a temporary directory, and runs with a small heap and the serial collector so that a name server
and a master/slave pair fit on a two-core machine. Starting waits (bounded) for RocketMQ's
"boot success" line; a failed start raises ``JvmStartError`` with the tail of the process output and
of its log file. Stopping sends SIGTERM, then SIGKILL after a bounded wait.

One exception to "127.0.0.1 only": RocketMQ binds the master's HA (replication) port on the wildcard
address; no setting changes that.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = REPO / "hack" / "rocketmq" / "fetch-jars.sh"

NAMESRV_MAIN = "org.apache.rocketmq.namesrv.NamesrvStartup"
BROKER_MAIN = "org.apache.rocketmq.broker.BrokerStartup"
MQADMIN_MAIN = "org.apache.rocketmq.tools.command.MQAdminStartup"

_COMMON_FLAGS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:MaxDirectMemorySize=64m",
    "-Djava.net.preferIPv4Stack=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
]
HEAPS = {"namesrv": ["-Xms16m", "-Xmx64m"], "broker": ["-Xms32m", "-Xmx128m"], "mqadmin": ["-Xmx64m"]}
CLUSTER = "TestCluster"
BROKER = "broker-a"
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 5.0


class JvmStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class Jars:
    version: str
    lib: Path
    warnings: tuple[str, ...] = ()  # e.g. that a fallback version replaced the pinned one

    @property
    def classpath(self) -> str:
        return str(self.lib / "*")

    @property
    def version_desc(self) -> str:
        return "V" + self.version.replace(".", "_")


def fetch_jars(*, timeout: float = 900.0, profile: str = "") -> Jars:
    """Run hack/rocketmq/fetch-jars.sh (cached after the first run); its last line is "<version> <lib>".

    ``profile="image"`` fetches the image's lib/ (with the proxy and the controller) into its own cache.
    """
    env = {**os.environ, "ROCKETMQ_JARS_PROFILE": profile}
    result = subprocess.run(
        ["bash", str(FETCH_SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"fetching RocketMQ jars failed:\n{result.stderr[-4000:]}")
    version, lib = result.stdout.strip().splitlines()[-1].split(" ", 1)
    warnings = tuple(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    return Jars(version, Path(lib), warnings)


def free_port(*, wildcard: bool = False) -> int:
    with socket.socket() as sock:
        sock.bind(("" if wildcard else "127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_ports() -> tuple[int, int]:
    """A listen port P with P-2 (the broker's fast/VIP port) free too, and a free HA port."""
    for _ in range(100):
        port = free_port()
        if port > 1100 and _bindable(port - 2):
            return port, free_port(wildcard=True)
    raise RuntimeError("no free broker port pair found")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class JavaProcess:
    """One RocketMQ server JVM with its own home directory."""

    def __init__(self, jars: Jars, *, name: str, main: str, heap: list[str], home: Path, args: list[str],
                 boot_marker: str = "boot success"):
        self.name = name
        self.boot_marker = boot_marker
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.output = home / "stdout.log"
        self._command = ["java", *heap, *_COMMON_FLAGS, f"-Duser.home={home}", "-cp", jars.classpath, main,
                         *args]
        self._spawn()

    def _spawn(self) -> None:
        env = {**os.environ, "ROCKETMQ_HOME": str(self.home)}
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                self._command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.home,
                start_new_session=True
            )
        self.started_at = time.monotonic()

    def restart(self) -> None:
        """Stop the JVM and start it again on the same home, configuration and ports (a pod restarting)."""
        self.stop()
        self._spawn()

    def wait_booted(self, *, timeout: float = BOOT_TIMEOUT) -> float:
        """Seconds from start to the boot line ("boot success" unless told); JvmStartError if it exits or
        times out."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.boot_marker in self.output.read_text(errors="replace"):
                return time.monotonic() - self.started_at
            if self.proc.poll() is not None:
                raise JvmStartError(f"{self.name} exited with {self.proc.returncode}\n{self.logs()}")
            time.sleep(0.1)
        self.kill()
        raise JvmStartError(f"{self.name} did not boot within {timeout:g}s\n{self.logs()}")

    def logs(self, *, lines: int = 40) -> str:
        parts = [f"--- {self.output} ---", _tail(self.output, lines)]
        for log in sorted((self.home / "logs").rglob("*.log")):
            if log.name in ("broker.log", "namesrv.log", "broker_default.log"):
                parts += [f"--- {log} ---", _tail(log, lines)]
        return "\n".join(parts)

    def rss_kib(self) -> int:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0
        return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    kept = [line for line in text.splitlines() if "|-INFO in" not in line]  # logback's own chatter
    return "\n".join(kept[-lines:])


def start_namesrv(jars: Jars, home: Path) -> tuple[JavaProcess, str]:
    port = free_port()
    conf = _write_conf(home, "namesrv.conf", {"listenPort": port, "bindAddress": "127.0.0.1"})
    proc = JavaProcess(
        jars,
        name=f"namesrv:{port}",
        main=NAMESRV_MAIN,
        heap=HEAPS["namesrv"],
        home=home,
        args=["-c", str(conf)],
    )
    return proc, f"127.0.0.1:{port}"


def start_broker(
    jars: Jars, home: Path, *, namesrv: str, cluster: str, name: str, broker_id: int,
    extra: dict[str, object] | None = None,
) -> tuple[JavaProcess, str]:
    """A broker on free ports; ``extra`` adds or replaces broker.conf keys (controller mode, for example)."""
    port, ha_port = broker_ports()
    store = home / "store"
    conf = _write_conf(
        home,
        "broker.conf",
        {
            "brokerClusterName": cluster,
            "brokerName": name,
            "brokerId": broker_id,
            "brokerRole": "ASYNC_MASTER" if broker_id == 0 else "SLAVE",
            "flushDiskType": "ASYNC_FLUSH",
            "namesrvAddr": namesrv,
            "listenPort": port,
            "haListenPort": ha_port,
            "bindAddress": "127.0.0.1",
            "brokerIP1": "127.0.0.1",
            "brokerIP2": "127.0.0.1",
            "storePathRootDir": store,
            "storePathCommitLog": store / "commitlog",
            "mappedFileSizeCommitLog": 16 * 1024 * 1024,
            "mappedFileSizeTimerLog": 4 * 1024 * 1024,
            "maxIndexNum": 40000,
            "maxHashSlotNum": 10000,
            "registerNameServerPeriod": 10000,
            "updateNameServerAddrPeriod": 2000,
            **(extra or {}),
        },
    )
    proc = JavaProcess(
        jars,
        name=f"broker {name}/{broker_id}:{port}",
        main=BROKER_MAIN,
        heap=HEAPS["broker"],
        home=home,
        args=["-c", str(conf)],
    )
    return proc, f"127.0.0.1:{port}"


def _write_conf(home: Path, filename: str, values: dict[str, object]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / filename
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def run_mqadmin(jars: Jars, home: Path, *args: str, timeout: float = 60.0) -> str:
    """Run one mqadmin command; return its stdout without logback's status lines."""
    home.mkdir(parents=True, exist_ok=True)
    command = ["java", *HEAPS["mqadmin"], *_COMMON_FLAGS, f"-Duser.home={home}"]
    command += ["-cp", jars.classpath, MQADMIN_MAIN, *args]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
        check=False,
        env={**os.environ, "ROCKETMQ_HOME": str(home)},
    )
    out = "\n".join(line for line in result.stdout.splitlines() if "|-" not in line)
    if result.returncode != 0:
        raise RuntimeError(
            f"mqadmin {' '.join(args)} exited {result.returncode}:\n{out}\n{result.stderr[-2000:]}"
        )
    return out


@dataclass
class RocketMQ:
    """The session's servers and how to reach them."""

    jars: Jars
    home: Path
    namesrv: str
    master: str
    slave: str
    processes: dict[str, JavaProcess] = field(default_factory=dict)
    cluster: str = CLUSTER
    broker_name: str = BROKER

    def mqadmin(self, *args: str) -> str:
        return run_mqadmin(self.jars, self.home / "mqadmin", *args)


def stop_all(processes) -> None:
    """SIGTERM all at once, then wait for each (SIGKILL after STOP_TIMEOUT)."""
    processes = list(processes)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.stop()


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition`` until truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - a server still starting answers with errors
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last error: {last_error!r})")
