"""OCI pieces: deterministic layer tars, image config, manifest, index, and the image-layout archive.

A layer is written from a list of :class:`Entry` values (each with its own uid, gid and mode, so a
tree owned by the image's user comes out right although the build runs as root) or from a directory
tree (ownership and modes as on disk). Entries are sorted by path, every mtime is :data:`EPOCH`, user
and group names are left empty, and the gzip header carries no name and no time, so the same inputs
give the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import stat
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = 0  # every mtime in every layer, and the image's "created"
CREATED = "1970-01-01T00:00:00Z"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
# containerd names an imported image after this annotation (ctr import drops a full reference given
# only as org.opencontainers.image.ref.name unless --base-name matches it); it holds the normalized
# reference, the one a pod's image field resolves to. The OCI annotation holds the tag.
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
GZIP_LEVEL = 6


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class Entry:
    """One path in a layer. ``kind`` is ``dir``, ``file`` (``source`` or ``data``), ``symlink`` or
    ``link``."""

    path: str  # inside the image, without the leading slash
    kind: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = None
    target: str = ""  # symlink target, or the path a hard link points at


def directory(path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path.strip("/"), "dir", mode, uid, gid)


def file(path: str, *, mode: int = 0o644, uid: int = 0, gid: int = 0, source: Path | None = None,
         data: bytes | str | None = None) -> Entry:
    if isinstance(data, str):
        data = data.encode()
    return Entry(path.strip("/"), "file", mode, uid, gid, source=source, data=data)


def symlink(path: str, target: str, *, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path.strip("/"), "symlink", 0o777, uid, gid, target=target)


def tree(root: Path, *, prefix: str = "", exclude: Sequence[str] = (), owner: tuple[int, int] | None = None,
         dir_mode: int | None = None) -> list[Entry]:
    """Entries for every path under ``root`` (``prefix`` is its path in the image).

    ``exclude``: image paths whose contents are left out (the directory itself stays). ``owner``
    overrides the on-disk uid/gid. Hard links become link entries to the first path (in sorted order)
    with the same inode; device nodes, sockets and FIFOs are skipped (the runtime provides /dev).
    """
    prefix = prefix.strip("/")
    excluded = {e.strip("/") for e in exclude}
    entries: list[Entry] = []
    seen: dict[tuple[int, int], str] = {}

    def walk(directory_path: Path, image_dir: str) -> None:
        for name in sorted(os.listdir(directory_path)):
            disk = directory_path / name
            image_path = f"{image_dir}/{name}" if image_dir else name
            st = disk.lstat()
            uid, gid = owner if owner else (st.st_uid, st.st_gid)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                entries.append(Entry(image_path, "dir", dir_mode if dir_mode is not None else mode, uid, gid))
                if image_path not in excluded:
                    walk(disk, image_path)
            elif stat.S_ISLNK(st.st_mode):
                entries.append(Entry(image_path, "symlink", 0o777, uid, gid, target=os.readlink(disk)))
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    entries.append(Entry(image_path, "link", mode, uid, gid, target=seen[key]))
                else:
                    seen[key] = image_path
                    entries.append(Entry(image_path, "file", mode, uid, gid, source=disk))

    walk(root, prefix)
    return entries


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``out``."""

    def __init__(self, out) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.size += len(b)
        if self.out is not None:
            self.out.write(b)
        return len(b)


@dataclass(frozen=True)
class Blob:
    digest: str  # "sha256:..."
    size: int
    media_type: str
    diff_id: str = ""  # layers: digest of the uncompressed tar

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path + ("/" if entry.kind == "dir" else ""))
    info.mtime = EPOCH
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    elif entry.kind == "link":
        info.type, info.linkname = tarfile.LNKTYPE, entry.target
    elif entry.kind == "file":
        info.type = tarfile.REGTYPE
        info.size = len(entry.data) if entry.data is not None else entry.source.stat().st_size
    else:
        raise ValueError(f"unknown entry kind {entry.kind!r} for {entry.path}")
    return info


def _dedupe(entries: Iterable[Entry]) -> list[Entry]:
    """Sorted by path; a later entry for the same path replaces an earlier one."""
    by_path: dict[str, Entry] = {}
    for entry in entries:
        by_path[entry.path] = entry
    return [by_path[p] for p in sorted(by_path)]


def write_layer(entries: Iterable[Entry], blobs_dir: Path) -> Blob:
    """Write a gzip layer into ``blobs_dir/<hex digest>`` and return its descriptor."""
    blobs_dir.mkdir(parents=True, exist_ok=True)
    tmp = blobs_dir / f".layer.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        compressed = _Hashing(out)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0,
                           compresslevel=GZIP_LEVEL) as gz:
            raw = _Hashing(gz)
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for entry in _dedupe(entries):
                    info = _tarinfo(entry)
                    if entry.kind != "file":
                        tar.addfile(info)
                    elif entry.data is not None:
                        tar.addfile(info, io.BytesIO(entry.data))
                    else:
                        with open(entry.source, "rb") as fh:
                            tar.addfile(info, fh)
    digest = "sha256:" + compressed.sha.hexdigest()
    os.replace(tmp, blobs_dir / digest.split(":")[1])
    return Blob(digest, compressed.size, MEDIA_LAYER, diff_id="sha256:" + raw.sha.hexdigest())


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_json_blob(obj, media_type: str, blobs_dir: Path) -> Blob:
    data = _json_bytes(obj)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blobs_dir / digest.split(":")[1]
    if not path.exists():
        path.write_bytes(data)
    return Blob(digest, len(data), media_type)


def descriptor(blob: Blob, **extra) -> dict:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size, **extra}


@dataclass
class ImageConfig:
    """The runtime part of the image config (what a Dockerfile's ENV/USER/WORKDIR/... would set)."""

    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""


def split_ref(ref: str) -> tuple[str, str]:
    """("docker.io/apache/rocketmq", "5.3.3") from "docker.io/apache/rocketmq:5.3.3"."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


def normalized_ref(ref: str) -> str:
    """The name containerd's CRI resolves ``ref`` to: "rocketmq-operator:dev" is
    "docker.io/library/rocketmq-operator:dev", "apache/rocketmq:5.3.3" is
    "docker.io/apache/rocketmq:5.3.3"."""
    first, sep, _ = ref.partition("/")
    if not sep:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def write_archive(ref: str, layers: Sequence[Blob], config: ImageConfig, blobs_dir: Path,
                  archive: Path, *, history: Sequence[str] = ()) -> Blob:
    """Write config, manifest and index, then the OCI image-layout tar ``archive``; return the manifest."""
    cfg: dict = {"Env": [f"{k}={v}" for k, v in config.env.items()]}
    if config.entrypoint:
        cfg["Entrypoint"] = config.entrypoint
    if config.cmd:
        cfg["Cmd"] = config.cmd
    if config.user:
        cfg["User"] = config.user
    if config.working_dir:
        cfg["WorkingDir"] = config.working_dir
    if config.exposed_ports:
        cfg["ExposedPorts"] = {p: {} for p in config.exposed_ports}
    if config.labels:
        cfg["Labels"] = config.labels
    if config.stop_signal:
        cfg["StopSignal"] = config.stop_signal
    image_config = {
        "architecture": go_arch(),
        "os": "linux",
        "created": CREATED,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": line} for line in history],
    }
    config_blob = write_json_blob(image_config, MEDIA_CONFIG, blobs_dir)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": descriptor(config_blob),
        "layers": [descriptor(layer) for layer in layers],
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    manifest_blob = write_json_blob(manifest, MEDIA_MANIFEST, blobs_dir)
    _, tag = split_ref(ref)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            descriptor(
                manifest_blob,
                platform={"architecture": go_arch(), "os": "linux"},
                annotations={ANNOTATION_CONTAINERD_NAME: normalized_ref(ref), ANNOTATION_REF_NAME: tag},
            )
        ],
    }
    members: list[tuple[str, bytes | Path]] = [
        ("oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"})),
        ("index.json", _json_bytes(index)),
    ]
    for blob in sorted({b.hex: b for b in (*layers, config_blob, manifest_blob)}.values(),
                       key=lambda b: b.hex):
        members.append((f"blobs/sha256/{blob.hex}", blobs_dir / blob.hex))
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirname in ("blobs/", "blobs/sha256/"):
            tar.addfile(_tarinfo(directory(dirname)))
        for name, content in members:
            data = content if isinstance(content, bytes) else None
            info = _tarinfo(file(name, source=None if data is not None else content, data=data))
            if data is not None:
                tar.addfile(info, io.BytesIO(data))
            else:
                with open(content, "rb") as fh:
                    tar.addfile(info, fh)
    os.replace(tmp, archive)
    return manifest_blob


def read_archive(archive: Path) -> tuple[dict, dict, list[str]]:
    """(manifest, config, layer blob names) of the single image in an archive written here."""
    with tarfile.open(archive) as tar:
        def load(name: str) -> dict:
            return json.load(tar.extractfile(name))

        index = load("index.json")
        manifest = load("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1])
        config = load("blobs/sha256/" + manifest["config"]["digest"].split(":")[1])
        layers = ["blobs/sha256/" + layer["digest"].split(":")[1] for layer in manifest["layers"]]
    return manifest, config, layers


# Python >= 3.11.4 warns unless told that these (own) archives are trusted; older ones take no filter.
_TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def unpack(archive: Path, dest: Path) -> dict:
    """Unpack the image's layers in order into ``dest`` (as root: owners kept); return its config.

    Whiteouts are not needed (the layers written here never delete), so they are not handled.
    """
    _, config, layers = read_archive(archive)
    with tarfile.open(archive) as outer:
        for name in layers:
            with tarfile.open(fileobj=outer.extractfile(name), mode="r|gz") as layer:
                layer.extractall(dest, numeric_owner=True, **_TRUSTED)
    return config


def iter_layer_names(archive: Path) -> Iterator[str]:
    """Every path in every layer of ``archive`` (for tests)."""
    _, _, layers = read_archive(archive)
    with tarfile.open(archive) as outer:
        for name in layers:
            with tarfile.open(fileobj=outer.extractfile(name), mode="r|gz") as layer:
                for member in layer:
                    yield member.name
