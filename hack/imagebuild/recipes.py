"""The three images, their cache keys and the build driver (see the package docstring)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from imagebuild import debian, oci
from imagebuild.debian import RootfsRecipe, User, log

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rocketmq-operator" / "images"

PAUSE_REF = "registry.k8s.io/pause:3.10"
OPERATOR_REF = "rocketmq-operator:dev"
ROCKETMQ_UID = 3000
OPERATOR_UID = 65532
PAUSE_UID = 65535
OPERATOR_VENV = "/opt/rocketmq-operator"
PIP_FOR_INSTALL = "pip==24.2"  # runs from its wheel inside the operator's root filesystem
LOGBACK_CONFIGS = {  # conf/<file> the launchers name, and the jar that ships it
    "rmq.broker.logback.xml": "rocketmq-broker",
    "rmq.namesrv.logback.xml": "rocketmq-namesrv",
    "rmq.controller.logback.xml": "rocketmq-controller",
    "rmq.proxy.logback.xml": "rocketmq-proxy",
    "rmq.tools.logback.xml": "rocketmq-tools",
    "rmq.client.logback.xml": "rocketmq-client",
}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def rocketmq_version() -> str:
    if os.environ.get("ROCKETMQ_VERSION"):
        return os.environ["ROCKETMQ_VERSION"]
    text = (REPO / "hack" / "versions.env").read_text()
    match = re.search(r"^ROCKETMQ_VERSION=(\S+)", text, re.MULTILINE)
    if not match:
        raise SystemExit("images: ROCKETMQ_VERSION is missing from hack/versions.env")
    return match.group(1)


def rocketmq_ref() -> str:
    return f"docker.io/apache/rocketmq:{rocketmq_version()}"


def _hash(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(len(data).to_bytes(8, "big"))
        sha.update(data)
    return sha.hexdigest()


def hash_files(paths: Iterable[Path], *, root: Path | None = None) -> str:
    """One digest of the relative names and contents of ``paths`` (sorted)."""
    parts: list[str | bytes] = []
    for path in sorted(set(paths)):
        parts += [str(path.relative_to(root or REPO)), path.read_bytes(), str(os.stat(path).st_mode & 0o111)]
    return _hash(*parts)


def _sources(directory: Path, pattern: str = "*") -> list[Path]:
    return [p for p in directory.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts]


def builder_hash() -> str:
    """The builder's own code: a change to how layers or archives are written rebuilds every image."""
    return hash_files([HERE / "oci.py", HERE / "debian.py", HERE / "recipes.py"])


# -- cached layers -------------------------------------------------------------------------------


class Cache:
    def __init__(self, root: Path = CACHE) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.layers = root / "layers"
        self.work = root / "work"
        for path in (self.blobs, self.layers, self.work):
            path.mkdir(parents=True, exist_ok=True)

    def layer(self, slot: str, key: str, make: Callable[[], list[oci.Entry]]) -> tuple[oci.Blob, bool]:
        """The layer of ``slot`` for ``key``: reused when cached, else written from ``make()``."""
        meta = self.layers / f"{slot}.json"
        if meta.exists():
            saved = json.loads(meta.read_text())
            blob = oci.Blob(saved["digest"], saved["size"], saved["media_type"], saved["diff_id"])
            if saved["key"] == key and (self.blobs / blob.hex).exists():
                return blob, True
        started = time.monotonic()
        blob = oci.write_layer(make(), self.blobs)
        meta.write_text(json.dumps({"key": key, **blob.__dict__}, indent=1) + "\n")
        log(f"layer {slot}: {blob.size / 2**20:.1f} MiB compressed in {time.monotonic() - started:.1f}s")
        return blob, False

    def collect(self) -> None:
        """Remove blobs no layer slot refers to (older layers, configs and manifests already archived)."""
        keep = {json.loads(m.read_text())["digest"].split(":")[1] for m in self.layers.glob("*.json")}
        for blob in self.blobs.iterdir():
            if blob.name not in keep:
                blob.unlink()


@dataclass(frozen=True)
class Built:
    name: str
    ref: str
    archive: Path
    manifest: str
    reused: bool
    seconds: float

    @property
    def size(self) -> int:
        return self.archive.stat().st_size


@dataclass
class Image:
    name: str
    ref: str
    key: Callable[[], str]
    layers: Callable[[Cache], list[oci.Blob]]
    config: Callable[[], oci.ImageConfig]
    history: Sequence[str] = ()

    @property
    def archive(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.ref)
        return CACHE / f"{slug}.oci.tar"


def build(image: Image, cache: Cache) -> Built:
    started = time.monotonic()
    key = _hash(image.key(), builder_hash(), image.ref)
    meta = image.archive.with_suffix(".json")
    if image.archive.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if saved.get("key") == key:
            return Built(image.name, image.ref, image.archive, saved["manifest"], True,
                         time.monotonic() - started)
    layers = image.layers(cache)
    manifest = oci.write_archive(image.ref, layers, image.config(), cache.blobs, image.archive,
                                 history=image.history)
    meta.write_text(json.dumps({"key": key, "ref": image.ref, "manifest": manifest.digest,
                                "layers": [layer.digest for layer in layers]}, indent=1) + "\n")
    return Built(image.name, image.ref, image.archive, manifest.digest, False, time.monotonic() - started)


# -- pause -----------------------------------------------------------------------------------------

PAUSE_SOURCE = HERE / "pause.c"


def _gcc_version() -> str:
    gcc = debian.ensure_command("gcc", "gcc")
    if not list(Path("/usr/lib").glob("*/libc.a")) and not Path("/usr/lib/libc.a").exists():
        debian.apt_install("libc6-dev")  # the static C library
    return subprocess.run([gcc, "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]


def _pause_key() -> str:
    return _hash(PAUSE_SOURCE.read_bytes(), _gcc_version())


def _pause_layers(cache: Cache) -> list[oci.Blob]:
    def make() -> list[oci.Entry]:
        binary = cache.work / "pause"
        subprocess.run(["gcc", "-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o", str(binary),
                        str(PAUSE_SOURCE)], check=True)
        return [oci.file("pause", mode=0o755, source=binary)]

    blob, _ = cache.layer("pause", _hash(_pause_key(), builder_hash()), make)
    return [blob]


PAUSE = Image(
    name="pause",
    ref=PAUSE_REF,
    key=_pause_key,
    layers=_pause_layers,
    config=lambda: oci.ImageConfig(
        env={"PATH": SYSTEM_PATH}, entrypoint=["/pause"], user=f"{PAUSE_UID}:{PAUSE_UID}"
    ),
    history=["gcc -static hack/imagebuild/pause.c -> /pause"],
)


# -- RocketMQ ----------------------------------------------------------------------------------------

ROCKETMQ_FILES = HERE / "rocketmq"
POM = REPO / "hack" / "rocketmq" / "pom.xml"
ROCKETMQ_ROOTFS = RootfsRecipe(
    name="rocketmq",
    packages=("openjdk-17-jre-headless", "procps"),
    users=(User("rocketmq", ROCKETMQ_UID, "/home/rocketmq", "/bin/bash"),),
)


def rocketmq_home() -> str:
    return f"/home/rocketmq/rocketmq-{rocketmq_version()}"


def java_home() -> str:
    return f"/usr/lib/jvm/java-17-openjdk-{oci.go_arch()}"


def fetch_jars(cache: Cache) -> Path:
    """lib/ of the image: the pinned release's servers, tools and their dependencies from Maven Central."""
    version = rocketmq_version()
    dest = cache.root / "jars" / f"rocketmq-{version}-{hash_files([POM])[:12]}"
    if (dest / ".complete").exists():
        return dest
    if not shutil.which("mvn"):
        raise SystemExit("images: the RocketMQ image needs Maven (mvn) to fetch the jars")
    for old in dest.parent.glob(f"rocketmq-{version}-*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log(f"fetching RocketMQ {version} jars (with proxy and controller) from Maven Central")
    subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(POM), "-Pimage",
                    f"-Drocketmq.version={version}", "dependency:copy-dependencies", "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}"], check=True, stdout=sys.stderr)
    (staging / ".complete").touch()
    os.replace(staging, dest)
    return dest


def _rocketmq_key() -> str:
    return _hash(ROCKETMQ_ROOTFS.key(), rocketmq_version(), hash_files([POM]),
                 hash_files(_sources(ROCKETMQ_FILES)))


def _rocketmq_app_entries(lib: Path) -> list[oci.Entry]:
    owner = {"uid": ROCKETMQ_UID, "gid": ROCKETMQ_UID}
    home = rocketmq_home().strip("/")
    entries = [
        oci.directory("home/rocketmq", **owner),
        oci.directory("home/rocketmq/logs", **owner),
        oci.directory("home/rocketmq/store", **owner),
        oci.directory(home, **owner),
        oci.directory(f"{home}/bin", **owner),
        oci.directory(f"{home}/conf", **owner),
        oci.directory(f"{home}/lib", **owner),
    ]
    for script in sorted((ROCKETMQ_FILES / "bin").iterdir()):
        mode = 0o644 if script.name == "rocketmq-env.sh" else 0o755
        entries.append(oci.file(f"{home}/bin/{script.name}", mode=mode, source=script, **owner))
    for conf in sorted((ROCKETMQ_FILES / "conf").iterdir()):
        entries.append(oci.file(f"{home}/conf/{conf.name}", source=conf, **owner))
    jars = sorted(p for p in lib.iterdir() if p.suffix == ".jar")
    for jar in jars:
        entries.append(oci.file(f"{home}/lib/{jar.name}", source=jar, **owner))
    version = rocketmq_version()
    for name, artifact in LOGBACK_CONFIGS.items():
        with zipfile.ZipFile(lib / f"{artifact}-{version}.jar") as archive:
            entries.append(oci.file(f"{home}/conf/{name}", data=archive.read(name), **owner))
    return entries


def _rocketmq_layers(cache: Cache) -> list[oci.Blob]:
    root = debian.rootfs(ROCKETMQ_ROOTFS, cache.root)
    base, _ = cache.layer("rocketmq-base", _hash(ROCKETMQ_ROOTFS.key(), builder_hash()),
                          lambda: debian.layer_entries(root))
    lib = fetch_jars(cache)
    app, _ = cache.layer("rocketmq-app", _hash(_rocketmq_key(), builder_hash()),
                         lambda: _rocketmq_app_entries(lib))
    return [base, app]


def _rocketmq_config() -> oci.ImageConfig:
    home = rocketmq_home()
    return oci.ImageConfig(
        env={
            "PATH": f"{java_home()}/bin:{SYSTEM_PATH}:{home}/bin",
            "JAVA_HOME": java_home(),
            "LANG": "C.UTF-8",
            "ROCKETMQ_VERSION": rocketmq_version(),
            "ROCKETMQ_HOME": home,
        },
        entrypoint=[f"{home}/bin/docker-entrypoint.sh"],
        cmd=["sh", "mqnamesrv"],
        user=f"{ROCKETMQ_UID}:{ROCKETMQ_UID}",
        working_dir=f"{home}/bin",
        exposed_ports=["9876/tcp", "10909/tcp", "10911/tcp", "10912/tcp", "8080/tcp", "8081/tcp"],
        labels={
            "org.opencontainers.image.title": "rocketmq",
            "org.opencontainers.image.version": rocketmq_version(),
            "org.opencontainers.image.description":
                "Apache RocketMQ servers and tools, built by hack/images.py",
        },
    )


ROCKETMQ = Image(
    name="rocketmq",
    ref="",  # set at run time from hack/versions.env (see images())
    key=_rocketmq_key,
    layers=_rocketmq_layers,
    config=_rocketmq_config,
    history=[
        (f"debootstrap --variant=minbase bookworm + {' '.join(ROCKETMQ_ROOTFS.packages)}; "
         "user rocketmq (3000)"),
        "RocketMQ lib/ (Maven Central), bin/ launchers and conf/ under $ROCKETMQ_HOME, owned by 3000",
    ],
)


# -- the operator --------------------------------------------------------------------------------------

OPERATOR_ROOTFS = RootfsRecipe(
    name="operator",
    packages=("python3",),
    users=(User("rocketmq-operator", OPERATOR_UID, "/nonexistent"),),
    # Debian compiles the standard library with timestamps; the layers' fixed mtimes would make every
    # .pyc stale (and a read-only root filesystem cannot hold new ones), so they are checked by hash-less
    # PEP 552 "unchecked" headers instead.
    chroot_steps=(("python3", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                   "/usr/lib/python3.11"),),
)


def _operator_inputs() -> list[Path]:
    return [REPO / "requirements.lock", REPO / "setup.cfg", REPO / "pyproject.toml", REPO / "README.md",
            *_sources(REPO / "rocketmq_operator")]


def _operator_key() -> str:
    return _hash(OPERATOR_ROOTFS.key(), PIP_FOR_INSTALL, hash_files(_operator_inputs()))


def _host_pip(cache: Cache) -> list[str]:
    """A pip for downloading and building wheels on the host (Python 3.11, like the image's)."""
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False)
    if probe.returncode == 0 and sys.version_info[:2] == (3, 11):
        return [sys.executable, "-m", "pip"]
    venv = cache.root / "pip-venv"
    if not (venv / "bin" / "pip").exists():
        python = shutil.which("python3.11") or (sys.executable if sys.version_info[:2] == (3, 11) else None)
        if python is None:  # wheels built by another Python would not load in the image's 3.11
            raise SystemExit("images: the operator image needs Python 3.11 on this machine to build its "
                             "wheels")
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    return [str(venv / "bin" / "python"), "-m", "pip"]


def _wheelhouse(cache: Cache) -> Path:
    """Wheels of requirements.lock and the installer pip, cached by the lock's content."""
    lock = REPO / "requirements.lock"
    dest = cache.root / "wheels" / hash_files([lock])[:16]
    if (dest / ".complete").exists():
        return dest
    for old in dest.parent.glob("*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pip = _host_pip(cache)
    log("wheels of requirements.lock from PyPI")
    quiet = ["-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", *quiet, "-r", str(lock), "-w", str(staging)], check=True,
                   stdout=sys.stderr)
    subprocess.run([*pip, "download", *quiet, "--no-deps", "--only-binary=:all:", PIP_FOR_INSTALL,
                    "-d", str(staging)], check=True, stdout=sys.stderr)
    shutil.copy(lock, staging / "requirements.lock")
    (staging / ".complete").touch()
    os.replace(staging, dest)
    return dest


def _operator_wheel(cache: Cache, out: Path) -> Path:
    """The operator's wheel, built from a copy of the sources the Dockerfile copies (never in-tree)."""
    with tempfile.TemporaryDirectory(dir=cache.work) as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "setup.cfg", "README.md"):
            shutil.copy(REPO / name, src / name)
        shutil.copytree(REPO / "rocketmq_operator", src / "rocketmq_operator",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # SOURCE_DATE_EPOCH: the wheel's zip timestamps, so the wheel (and the hash pip records) repeats
        subprocess.run([*_host_pip(cache), "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                        "-w", str(out), str(src)], check=True, stdout=sys.stderr,
                       env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"})
    wheels = sorted(out.glob("rocketmq_operator-*.whl"))
    if not wheels:
        raise SystemExit("images: building the operator's wheel gave no wheel")
    return wheels[-1]


def _operator_venv_entries(cache: Cache) -> list[oci.Entry]:
    base = debian.rootfs(OPERATOR_ROOTFS, cache.root)
    wheels = _wheelhouse(cache)
    stage = cache.work / "operator-rootfs"
    debian.copy_tree(base, stage)
    try:
        inside = stage / "tmp" / "wheels"
        shutil.copytree(wheels, inside)
        wheel = _operator_wheel(cache, inside)
        pip_wheel = next(inside.glob("pip-*.whl"))
        python = f"{OPERATOR_VENV}/bin/python"
        pip = [python, f"/tmp/wheels/{pip_wheel.name}/pip", "--disable-pip-version-check", "--no-cache-dir"]
        install = [*pip, "install", "-q", "--no-index", "--find-links", "/tmp/wheels", "--no-compile"]
        env = {"PYTHONDONTWRITEBYTECODE": "1"}
        debian.chroot(stage, "python3", "-m", "venv", "--without-pip", OPERATOR_VENV)
        debian.chroot(stage, *install, "-r", "/tmp/wheels/requirements.lock", env=env)
        debian.chroot(stage, *install, "--no-deps", f"/tmp/wheels/{wheel.name}", env=env)
        debian.chroot(stage, *pip, "check", env=env)
        debian.chroot(stage, python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                      f"{OPERATOR_VENV}/lib")
        venv = stage / OPERATOR_VENV.strip("/")
        # Root-owned and read-only to the operator's user: nothing in the image is written at run time.
        return [oci.directory(OPERATOR_VENV), *oci.tree(venv, prefix=OPERATOR_VENV, owner=(0, 0))]
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _operator_layers(cache: Cache) -> list[oci.Blob]:
    root = debian.rootfs(OPERATOR_ROOTFS, cache.root)
    base, _ = cache.layer("operator-base", _hash(OPERATOR_ROOTFS.key(), builder_hash()),
                          lambda: debian.layer_entries(root))
    try:
        venv, _ = cache.layer("operator-venv", _hash(_operator_key(), builder_hash()),
                              lambda: _operator_venv_entries(cache))
    finally:
        shutil.rmtree(cache.work / "operator-rootfs", ignore_errors=True)
    return [base, venv]


OPERATOR = Image(
    name="operator",
    ref=OPERATOR_REF,
    key=_operator_key,
    layers=_operator_layers,
    config=lambda: oci.ImageConfig(
        env={
            "PATH": f"{OPERATOR_VENV}/bin:{SYSTEM_PATH}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "HOME": "/tmp",
            "LOG_FORMAT": "json",
            "LANG": "C.UTF-8",
        },
        entrypoint=["rocketmq-operator", "run"],
        user=f"{OPERATOR_UID}:{OPERATOR_UID}",
        working_dir="/tmp",
        exposed_ports=["8383/tcp"],
        labels={
            "org.opencontainers.image.title": "rocketmq-operator",
            "org.opencontainers.image.description": "Kubernetes operator for Apache RocketMQ",
            "org.opencontainers.image.licenses": "Apache-2.0",
        },
    ),
    history=[
        f"debootstrap --variant=minbase bookworm + python3; user rocketmq-operator ({OPERATOR_UID})",
        f"{OPERATOR_VENV}: requirements.lock + the operator's wheel",
    ],
)


def images() -> dict[str, Image]:
    ROCKETMQ.ref = rocketmq_ref()
    return {"pause": PAUSE, "rocketmq": ROCKETMQ, "operator": OPERATOR}


def select(names: Sequence[str]) -> list[Image]:
    known = images()
    chosen = []
    for name in names or list(known):
        match = known.get(name) or next((i for i in known.values() if i.ref == name), None)
        if match is None:
            raise SystemExit(f"images: unknown image {name!r} (one of: {', '.join(known)})")
        chosen.append(match)
    return chosen


class Lock:
    """One build at a time per cache (the node scripts and the tests may both ask for images)."""

    def __enter__(self) -> Self:
        CACHE.mkdir(parents=True, exist_ok=True)
        self.handle = open(CACHE / ".lock", "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def build_images(names: Sequence[str]) -> list[Built]:
    with Lock():
        cache = Cache()
        built = []
        for image in select(names):
            result = build(image, cache)
            how = "reused" if result.reused else "built"
            log(f"{result.ref}: {how} in {result.seconds:.1f}s, {result.size / 2**20:.1f} MiB "
                f"({result.archive}, manifest {result.manifest})")
            built.append(result)
        cache.collect()
        return built
