"""Debian root filesystems for the images: debootstrap --variant=minbase, cached by recipe.

A root filesystem is made once per recipe (suite, packages, users, post-install steps, and
``ROOTFS_REVISION``) under ``<cache>/rootfs/<name>-<key>`` and reused after that; downloaded .deb
files are shared between recipes in ``<cache>/debs``. The cached tree keeps its /dev nodes so that
later chroot steps work; :func:`layer_entries` leaves /dev, /proc, /sys, /run and /tmp empty in the
layer (the container runtime provides them) and drops what an image does not need: apt's lists and
archives, documentation except the copyright files, manual pages, translations, logs.

The mirror is the machine's own (the first Debian URI in /etc/apt/sources.list{,.d}), or
``DEBIAN_MIRROR``. debootstrap, when missing, is installed with apt-get.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imagebuild import oci

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ROOTFS_REVISION = 2  # bump when the steps below change what a cached root filesystem holds
# Emptied in every layer made from a root filesystem (the directories themselves stay).
EMPTIED = (
    "dev", "proc", "sys", "run", "tmp", "var/tmp", "var/cache/apt", "var/lib/apt/lists", "var/log",
    "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian", "usr/share/linda",
    "var/cache/ldconfig",
)


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    home: str
    shell: str = "/usr/sbin/nologin"


@dataclass(frozen=True)
class RootfsRecipe:
    name: str
    packages: tuple[str, ...]
    users: tuple[User, ...] = ()
    # Commands run with chroot after debootstrap, as argument lists (part of the cache key).
    chroot_steps: tuple[tuple[str, ...], ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # image path -> content, written last

    def key(self) -> str:
        recipe = {
            "suite": SUITE,
            "revision": ROOTFS_REVISION,
            "packages": sorted(self.packages),
            "users": [u.__dict__ for u in self.users],
            "steps": [list(s) for s in self.chroot_steps],
            "files": self.files,
            "arch": oci.go_arch(),
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


def mirror() -> str:
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list")]
    sources_d = Path("/etc/apt/sources.list.d")
    if sources_d.is_dir():
        sources += sorted(sources_d.iterdir())
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822 (.sources): "URIs: http://.../debian" in a stanza whose Suites include the suite.
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
        # one-line format: "deb [opts] URI bookworm main"
        for line in text.splitlines():
            match = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s", line.strip() + " ")
            if match and match.group(2) == SUITE:
                return match.group(1)
    return DEFAULT_MIRROR


def apt_install(package: str) -> None:
    """apt-get install ``package`` on this machine (root only; apt-get update first if that fails)."""
    if os.geteuid() != 0:
        raise SystemExit(f"images: {package} is missing (apt-get install {package}, as root)")
    log(f"installing {package} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", package], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", package], env=env, check=True, stdout=sys.stderr)


def ensure_command(command: str, package: str) -> str:
    """The path of ``command``; installs ``package`` with apt-get first when it is missing (root only)."""
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found:
        return found
    apt_install(package)
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise SystemExit(f"images: {package} installed but {command} is still missing")
    return found


def _passwd_lines(root: Path, users: Sequence[User]) -> None:
    """Add each user (and a group of the same name and id) the way useradd would, minus its logs."""
    etc = root / "etc"

    def append(name: str, line: str) -> None:
        path = etc / name
        lines = [x for x in path.read_text().splitlines() if x and not x.startswith(line.split(":")[0] + ":")]
        path.write_text("\n".join([*lines, line]) + "\n")

    for user in users:
        append("passwd", f"{user.name}:x:{user.uid}:{user.uid}::{user.home}:{user.shell}")
        append("group", f"{user.name}:x:{user.uid}:")
        append("shadow", f"{user.name}:!::0:99999:7:::")
        append("gshadow", f"{user.name}:!::")


def _trim_docs(root: Path) -> None:
    """Keep /usr/share/doc/<package>/copyright only."""
    doc = root / "usr/share/doc"
    if not doc.is_dir():
        return
    for package in doc.iterdir():
        if package.is_dir() and not package.is_symlink():
            for item in package.iterdir():
                if item.name != "copyright":
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()


def rootfs(recipe: RootfsRecipe, cache: Path) -> Path:
    """The cached root filesystem of ``recipe`` (built when missing). Needs root."""
    dest = cache / "rootfs" / f"{recipe.name}-{recipe.key()}"
    marker = dest.with_name(dest.name + ".complete")
    if marker.exists() and dest.is_dir():
        return dest
    if os.geteuid() != 0:
        raise SystemExit("images: building a Debian root filesystem needs root (debootstrap, chroot)")
    debootstrap = ensure_command("debootstrap", "debootstrap")
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for old in dest.parent.glob(f"{recipe.name}-*"):  # an older recipe's tree: replaced by this one
        if old != dest:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    source = mirror()
    log(f"debootstrap {SUITE} ({recipe.name}: {', '.join(recipe.packages)}) from {source}")
    command = [
        debootstrap, "--variant=minbase", f"--include={','.join(recipe.packages)}",
        f"--cache-dir={debs}", SUITE, str(staging), source,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log_file = staging / "debootstrap/debootstrap.log"
        detail = log_file.read_text()[-3000:] if log_file.exists() else ""
        raise SystemExit(f"images: debootstrap failed ({result.returncode}):\n{result.stderr[-3000:]}\n"
                         f"{detail}")
    _passwd_lines(staging, recipe.users)
    for step in recipe.chroot_steps:
        subprocess.run(["chroot", str(staging), *step], check=True, stdout=sys.stderr,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"})
    for path, content in recipe.files.items():
        target = staging / path.strip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    _trim_docs(staging)
    for name in ("etc/machine-id", "etc/hostname", "etc/resolv.conf"):
        path = staging / name
        if path.exists() or path.is_symlink():
            path.unlink()
        path.write_text("")  # the runtime bind-mounts its own over these
    (staging / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    os.replace(staging, dest)
    marker.write_text(recipe.key() + "\n")
    return dest


def layer_entries(root: Path) -> list[oci.Entry]:
    """The layer of a whole root filesystem (owners and modes as debootstrap left them)."""
    return oci.tree(root, exclude=EMPTIED)


def chroot(root: Path, *command: str, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": "/root"}
    return subprocess.run(["chroot", str(root), *command], env={**base, **(env or {})}, check=check,
                          stdout=sys.stderr)


def copy_tree(source: Path, dest: Path) -> None:
    """cp -a (device nodes included) ``source`` to a new ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)], check=True)
