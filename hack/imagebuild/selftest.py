"""``hack/images.py selftest``: each image, unpacked, really runs.

The archive's layers are unpacked into a temporary directory and its processes run there under
``unshare`` (private mount and PID namespaces, the image's process as PID 1, /dev bound from the host,
/proc of the new PID namespace) and ``chroot --userspec`` as the image's user, with the image's Env and
WorkingDir. The host network is shared, so servers listen on 127.0.0.1 ports picked here.

  pause     runs as 65535, is still running after a while, exits 0 on SIGTERM
  rocketmq  as 3000:3000 in $ROCKETMQ_HOME/bin: id, hostname, sed, ps; ``java -version``; a name
            server (``sh mqnamesrv -c FILE``, HEAP_OPTS and JAVA_OPT_EXT checked on its command line)
            and a broker (``sh mqbroker -c FILE``) on loopback ports; ``sh mqadmin clusterList -n``
            lists the broker; logs and store written under /home/rocketmq; SIGTERM stops both
  operator  as 65532 on a read-only root filesystem with a tmpfs /tmp: ``rocketmq-operator --help``
            and the operator's modules import

Needs root on Linux. Exit status 0 when every check passed.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from imagebuild import oci, recipes
from imagebuild.debian import log

BOOT_TIMEOUT = 120.0


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str, detail: str = "") -> None:
    if not condition:
        raise CheckFailed(message + (f"\n{detail[-4000:]}" if detail else ""))
    log(f"  ok: {message}")


def free_port(*, wildcard: bool = False) -> int:
    with socket.socket() as sock:
        sock.bind(("" if wildcard else "127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Rootfs:
    """An unpacked image and the processes started in it."""

    def __init__(self, archive: Path, work: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="selftest-", dir=work))
        self.root = self.dir / "rootfs"
        self.root.mkdir()
        self.config = oci.unpack(archive, self.root)["config"]
        for mount_point in ("dev", "proc", "tmp"):  # a runtime creates these; chroot needs them
            (self.root / mount_point).mkdir(mode=0o1777 if mount_point == "tmp" else 0o755, exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config.get("Env", []))

    @property
    def user(self) -> str:
        return self.config.get("User", "0:0")

    def command(self, argv: Sequence[str], *, env: dict[str, str] | None = None, read_only: bool = False,
                user: str | None = None) -> list[str]:
        r = shlex.quote(str(self.root))
        user = user or self.user
        uid, _, gid = user.partition(":")
        env = {**self.env, **(env or {})}
        env.setdefault("HOME", "/home/rocketmq" if uid == "3000" else "/tmp")
        script = [f"mount --bind {r} {r}"] if read_only else []
        script += [f"mount --rbind /dev {r}/dev", f"mount -t proc proc {r}/proc"]
        if read_only:
            script += [f"mount -o remount,bind,ro {r}", f"mount -t tmpfs -o mode=1777,size=64m tmpfs {r}/tmp"]
        inner = list(argv)
        workdir = self.config.get("WorkingDir", "")
        if workdir and (self.root / "bin/sh").exists():
            inner = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', workdir, *inner]
        env_words = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        script.append(
            f"exec env -i {env_words} chroot --userspec={uid}:{gid or uid} {r} "
            + " ".join(shlex.quote(a) for a in inner)
        )
        return ["unshare", "--mount", "--pid", "--fork", "--kill-child=SIGKILL", "--propagation", "private",
                "/bin/sh", "-ec", "; ".join(script)]

    def run(self, argv: Sequence[str], *, timeout: float = 120.0, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(argv, **kwargs), capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, argv: Sequence[str], output: Path, **kwargs) -> subprocess.Popen:
        with open(output, "wb") as out:
            proc = subprocess.Popen(self.command(argv, **kwargs), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def pids(self, needle: str = "") -> list[int]:
        """Host PIDs of the processes whose root is this image and whose command line holds ``needle``."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") != str(self.root):
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def close(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.dir)], check=False)


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def wait_for(output: Path, text: str, proc: subprocess.Popen, what: str,
             timeout: float = BOOT_TIMEOUT) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if text in output.read_text(errors="replace"):
            return time.monotonic() - started
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise CheckFailed(f"{what}: no {text!r} (exit {proc.poll()})", output.read_text(errors="replace")[-4000:])


def stop(rootfs: Rootfs, proc: subprocess.Popen, needle: str, what: str, timeout: float = 30.0) -> float:
    """SIGTERM the image's process (PID 1 of its namespace); seconds until it exited."""
    pids = rootfs.pids(needle)
    check(bool(pids), f"{what} is running")
    started = time.monotonic()
    os.kill(pids[0], signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{what} did not stop within {timeout:g}s of SIGTERM") from None
    seconds = time.monotonic() - started
    check(code in (0, 143), f"{what} stopped on SIGTERM in {seconds:.1f}s (exit {code})")
    return seconds


# -- the checks ------------------------------------------------------------------------------------


def check_pause(rootfs: Rootfs) -> None:
    check(rootfs.config.get("Entrypoint") == ["/pause"], "entrypoint is /pause")
    out = rootfs.dir / "pause.out"
    proc = rootfs.start(["/pause"], out)
    time.sleep(1.0)
    check(proc.poll() is None, "pause keeps running", out.read_text())
    pid = rootfs.pids("/pause")[0]
    check(_status(pid)["Uid"].split()[0] == "65535", "pause runs as uid 65535")
    check(_status(pid)["NSpid"].split()[-1] == "1", "pause is PID 1 of its namespace")
    stop(rootfs, proc, "/pause", "pause", timeout=5)


def check_rocketmq(rootfs: Rootfs) -> None:
    home = recipes.rocketmq_home()
    config = rootfs.config
    check(config.get("User") == "3000:3000", "user is 3000:3000")
    check(config.get("WorkingDir") == f"{home}/bin", f"working directory is {home}/bin")
    check(rootfs.env.get("ROCKETMQ_HOME") == home, f"ROCKETMQ_HOME={home}")
    for path, uid in ((home, 3000), ("home/rocketmq/store", 3000), ("home/rocketmq/logs", 3000),
                      (f"{home}/lib", 3000), ("usr/bin", 0)):
        st = (rootfs.root / path.strip("/")).stat()
        check(st.st_uid == uid and st.st_gid == uid, f"/{path.strip('/')} is owned by {uid}:{uid}")

    script = (
        "id -u; id -g; pwd; hostname >/dev/null && echo hostname-ok; "
        "echo a | sed s/a/sed-ok/; ps -o pid= -p $$ >/dev/null && echo ps-ok; cat /etc/debian_version"
    )
    basics = rootfs.run(["sh", "-c", script])
    lines = basics.stdout.split()
    check(basics.returncode == 0 and lines[:3] == ["3000", "3000", f"{home}/bin"]
          and {"hostname-ok", "sed-ok", "ps-ok"} <= set(lines),
          "sh, id, hostname, sed, ps work as 3000:3000 in bin/", basics.stdout + basics.stderr)
    entry = rootfs.run([*config["Entrypoint"], "sh", "-c", "echo entrypoint-ran-$0 $(id -u)", "given"])
    check(entry.stdout.split() == ["entrypoint-ran-given", "3000"], "the entrypoint runs a given command",
          entry.stdout + entry.stderr)
    java = rootfs.run(["java", "-version"])
    check(java.returncode == 0 and 'version "17' in java.stderr,
          "java -version: " + java.stderr.splitlines()[0] if java.stderr else "java -version",
          java.stdout + java.stderr)

    selftest_dir = rootfs.root / "tmp" / "selftest"
    selftest_dir.mkdir()
    os.chown(selftest_dir, 3000, 3000)
    ns_port = free_port()
    (selftest_dir / "namesrv.conf").write_text(f"listenPort={ns_port}\nbindAddress=127.0.0.1\n")
    namesrv = f"127.0.0.1:{ns_port}"
    ns_out = rootfs.dir / "namesrv.out"
    heap = "-Xms64m -Xmx96m -Xmn32m"
    ns_proc = rootfs.start(["sh", "mqnamesrv", "-c", "/tmp/selftest/namesrv.conf"], ns_out,
                           env={"HEAP_OPTS": heap, "JAVA_OPT_EXT": "-Dimages.selftest=namesrv"})
    seconds = wait_for(ns_out, "boot success", ns_proc, "name server")
    check(True, f"name server booted on {namesrv} in {seconds:.1f}s")
    pid = rootfs.pids("NamesrvStartup")[0]
    args = _cmdline(pid)
    status = _status(pid)
    check(status["Uid"].split()[0] == "3000" and status["NSpid"].split()[-1] == "1",
          "the name server JVM runs as 3000 and is PID 1 of its namespace (the launchers exec)")
    check(args.index("-Xmx96m") < args.index("-Dimages.selftest=namesrv") < args.index("-cp"),
          "HEAP_OPTS replaces the heap, JAVA_OPT_EXT comes after it and before -cp", " ".join(args))
    check(f"-Drocketmq.home.dir={home}" in args
          and f"-Drmq.logback.configurationFile={home}/conf/rmq.namesrv.logback.xml" in args,
          "rocketmq.home.dir and the namesrv logback file are set", " ".join(args))

    for _ in range(100):
        port = free_port()
        if port > 1100 and _bindable(port - 2):
            break
    ha_port = free_port(wildcard=True)
    (selftest_dir / "broker.conf").write_text(
        "brokerClusterName=SelftestCluster\nbrokerName=selftest-broker\nbrokerId=0\nbrokerRole=ASYNC_MASTER\n"
        f"flushDiskType=ASYNC_FLUSH\nnamesrvAddr={namesrv}\nbrokerIP1=127.0.0.1\nlistenPort={port}\n"
        f"haListenPort={ha_port}\n"
    )
    broker_out = rootfs.dir / "broker.out"
    broker_proc = rootfs.start(["sh", "mqbroker", "-c", "/tmp/selftest/broker.conf"], broker_out,
                               env={"HEAP_OPTS": "-Xms128m -Xmx128m -Xmn64m -XX:MaxDirectMemorySize=128m"})
    seconds = wait_for(broker_out, "boot success", broker_proc, "broker")
    check(True, f"broker booted on 127.0.0.1:{port} in {seconds:.1f}s")

    deadline = time.monotonic() + 60
    while True:
        # -XX:-UsePerfData: this mqadmin is PID 1 of its own namespace too, like the name server, and
        # /tmp/hsperfdata_rocketmq/1 is taken (in a pod it shares the PID namespace: no clash)
        listed = rootfs.run(["sh", "mqadmin", "clusterList", "-n", namesrv],
                            env={"JAVA_OPT": "-XX:-UsePerfData"})
        if listed.returncode == 0 and "selftest-broker" in listed.stdout or time.monotonic() > deadline:
            break
        time.sleep(2)
    check(listed.returncode == 0 and "#Cluster Name" in listed.stdout and "selftest-broker" in listed.stdout,
          "sh mqadmin clusterList -n lists the broker", listed.stdout + listed.stderr)
    for line in listed.stdout.strip().splitlines():
        log(f"    {line}")
    logs = rootfs.root / "home/rocketmq/logs/rocketmqlogs"
    check((logs / "namesrv.log").exists() and (logs / "namesrv.log").stat().st_uid == 3000,
          "the name server logs to /home/rocketmq/logs/rocketmqlogs/namesrv.log")
    store = rootfs.root / "home/rocketmq/store"
    check((store / "commitlog").is_dir() and store.joinpath("commitlog").stat().st_uid == 3000,
          "the broker stores under /home/rocketmq/store")
    stop(rootfs, broker_proc, "BrokerStartup", "broker")
    stop(rootfs, ns_proc, "NamesrvStartup", "name server")


def check_operator(rootfs: Rootfs) -> None:
    config = rootfs.config
    check(config.get("User") == "65532:65532", "user is 65532:65532")
    check(config.get("Entrypoint") == ["rocketmq-operator", "run"], "entrypoint is rocketmq-operator run")
    started = time.monotonic()
    helped = rootfs.run(["rocketmq-operator", "run", "--help"], read_only=True)
    check(helped.returncode == 0 and "--kubeconfig" in helped.stdout,
          f"rocketmq-operator run --help on a read-only root as 65532 ({time.monotonic() - started:.1f}s)",
          helped.stdout + helped.stderr)
    probe = ("import sys, rocketmq_operator.cli, rocketmq_operator.manager, kubernetes; "
             "print(sys.version.split()[0], sys.prefix)")
    imported = rootfs.run(["python3", "-c", probe], read_only=True)
    check(imported.returncode == 0 and imported.stdout.startswith("3.11")
          and recipes.OPERATOR_VENV in imported.stdout,
          f"the operator's modules import from the virtualenv ({imported.stdout.strip()})",
          imported.stdout + imported.stderr)


CHECKS = {"pause": check_pause, "rocketmq": check_rocketmq, "operator": check_operator}


def run(names: Sequence[str]) -> int:
    if sys.platform != "linux" or os.geteuid() != 0:
        print("images: selftest needs root on Linux", file=sys.stderr)
        return 2
    built = recipes.build_images(names)
    work = recipes.CACHE / "work"
    for stale in work.glob("selftest-*"):  # left by a run that was killed (not one running now)
        if time.time() - stale.stat().st_mtime > 3600:
            subprocess.run(["rm", "-rf", "--one-file-system", str(stale)], check=False)
    failed = []
    for image in built:
        log(f"selftest {image.name} ({image.ref})")
        started = time.monotonic()
        rootfs = Rootfs(image.archive, work)
        try:
            CHECKS[image.name](rootfs)
            log(f"selftest {image.name}: passed in {time.monotonic() - started:.1f}s")
        except (CheckFailed, subprocess.SubprocessError, OSError) as exc:
            log(f"selftest {image.name}: FAILED: {exc}")
            failed.append(image.name)
        finally:
            rootfs.close()
    print(f"selftest: {len(built) - len(failed)} passed, {len(failed)} failed" +
          (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0
