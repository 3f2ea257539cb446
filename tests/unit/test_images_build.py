"""hack/imagebuild without root: deterministic layers and archives, and the RocketMQ launchers' options.

The launchers run with a stand-in ``java`` that prints its arguments, so what JAVA_OPT, HEAP_OPTS and
JAVA_OPT_EXT become is checked on any machine; tests/rocketmq/test_images_real.py runs the real image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from imagebuild import oci

BIN = REPO / "hack" / "imagebuild" / "rocketmq" / "bin"


def _entries(tmp_path: Path) -> list[oci.Entry]:
    source = tmp_path / "source.jar"
    source.write_bytes(b"jar bytes")
    return [
        oci.file("home/rocketmq/rocketmq-5.3.3/lib/b.jar", source=source, uid=3000, gid=3000),
        oci.directory("home/rocketmq", uid=3000, gid=3000),
        oci.file("home/rocketmq/rocketmq-5.3.3/bin/mqnamesrv", data="#!/bin/sh\n", mode=0o755,
                 uid=3000, gid=3000),
        oci.symlink("usr/bin/java", "/usr/lib/jvm/bin/java"),
    ]


def test_layers_of_the_same_entries_have_the_same_digest_whatever_their_order(tmp_path: Path):
    entries = _entries(tmp_path)
    first = oci.write_layer(entries, tmp_path / "a")
    os.utime(tmp_path / "source.jar", (1, 1))  # on-disk times never reach the layer
    second = oci.write_layer(list(reversed(entries)), tmp_path / "b")
    assert first == second
    data = (tmp_path / "a" / first.hex).read_bytes()
    assert first.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert first.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()


def test_layer_entries_are_sorted_with_fixed_times_and_the_owners_given(tmp_path: Path):
    blob = oci.write_layer(_entries(tmp_path), tmp_path)
    with tarfile.open(tmp_path / blob.hex) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {m.mtime for m in members} == {0}
    assert {(m.uname, m.gname) for m in members} == {("", "")}
    by_name = {m.name: m for m in members}
    launcher = by_name["home/rocketmq/rocketmq-5.3.3/bin/mqnamesrv"]
    assert (launcher.uid, launcher.gid, launcher.mode) == (3000, 3000, 0o755)
    assert by_name["usr/bin/java"].issym() and by_name["usr/bin/java"].linkname == "/usr/lib/jvm/bin/java"


def test_a_tree_keeps_hard_links_and_leaves_excluded_directories_empty(tmp_path: Path):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/perl").write_text("x")
    os.link(root / "usr/bin/perl", root / "usr/bin/perl5")
    (root / "var/log/apt").mkdir(parents=True)
    (root / "var/log/apt/history.log").write_text("log")
    entries = {e.path: e for e in oci.tree(root, exclude=["var/log"])}
    assert entries["usr/bin/perl"].kind == "file"
    assert entries["usr/bin/perl5"].kind == "link" and entries["usr/bin/perl5"].target == "usr/bin/perl"
    assert entries["var/log"].kind == "dir"
    assert not any(path.startswith("var/log/") for path in entries)


@pytest.mark.parametrize(
    ("ref", "normalized"),
    [
        ("rocketmq-operator:dev", "docker.io/library/rocketmq-operator:dev"),
        ("apache/rocketmq:5.3.3", "docker.io/apache/rocketmq:5.3.3"),
        ("docker.io/apache/rocketmq:5.3.3", "docker.io/apache/rocketmq:5.3.3"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("localhost:5000/x:1", "localhost:5000/x:1"),
    ],
)
def test_references_are_normalized_the_way_cri_resolves_pod_images(ref: str, normalized: str):
    assert oci.normalized_ref(ref) == normalized


def test_the_archive_is_an_oci_layout_that_ctr_import_names_and_tags(tmp_path: Path):
    layer = oci.write_layer(_entries(tmp_path), tmp_path / "blobs")
    config = oci.ImageConfig(env={"A": "1"}, entrypoint=["/x"], user="3000:3000", working_dir="/w")
    archive = tmp_path / "image.tar"
    manifest = oci.write_archive("rocketmq-operator:dev", [layer], config, tmp_path / "blobs", archive)
    again = oci.write_archive("rocketmq-operator:dev", [layer], config, tmp_path / "blobs",
                              tmp_path / "2.tar")
    assert archive.read_bytes() == (tmp_path / "2.tar").read_bytes() and manifest == again
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {0}
        layout = json.load(tar.extractfile("oci-layout"))
        index = json.load(tar.extractfile("index.json"))
        for name in names:
            if name.startswith("blobs/sha256/") and name.count("/") == 2 and not name.endswith("/"):
                data = tar.extractfile(name).read()
                assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    assert layout == {"imageLayoutVersion": "1.0.0"}
    [entry] = index["manifests"]
    assert entry["digest"] == manifest.digest
    assert entry["annotations"] == {
        "io.containerd.image.name": "docker.io/library/rocketmq-operator:dev",
        "org.opencontainers.image.ref.name": "dev",
    }
    assert entry["platform"]["os"] == "linux"
    parsed_manifest, parsed_config, layers = oci.read_archive(archive)
    assert parsed_config["rootfs"]["diff_ids"] == [layer.diff_id]
    assert parsed_config["config"] == {"Env": ["A=1"], "Entrypoint": ["/x"], "User": "3000:3000",
                                       "WorkingDir": "/w"}
    assert layers == [f"blobs/sha256/{layer.hex}"]
    assert parsed_manifest["layers"][0]["mediaType"] == oci.MEDIA_LAYER


# -- the launchers, with a java that prints its arguments ---------------------------------------------

FAKE_JAVA = """#!/bin/sh
if [ "$1" = -version ]; then echo 'openjdk version "17.0.19" 2026-04-21' >&2; exit 0; fi
for a in "$@"; do printf '%s\\n' "$a"; done
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    if shutil.which("sh") is None:
        pytest.skip("no sh")
    rocketmq_home = tmp_path / "rocketmq-5.3.3"
    shutil.copytree(BIN, rocketmq_home / "bin")
    java_home = tmp_path / "jre"
    (java_home / "bin").mkdir(parents=True)
    (java_home / "bin" / "java").write_text(FAKE_JAVA)
    (java_home / "bin" / "java").chmod(0o755)
    return rocketmq_home


def _launch(home: Path, *args: str, **env: str) -> list[str]:
    environ = {"PATH": os.environ["PATH"], "HOME": str(home.parent), "JAVA_HOME": str(home.parent / "jre"),
               "ROCKETMQ_HOME": str(home), "GC_LOG_DIR": str(home.parent), **env}
    result = subprocess.run(["sh", *args], cwd=home / "bin", env=environ, capture_output=True, text=True,
                            check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _memory_mb() -> int:
    out = subprocess.run(["sh", "-c", f". {BIN}/rocketmq-env.sh >/dev/null 2>&1; rmq_memory_mb"],
                         capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"], "JAVA_HOME": "/nonexistent", "HOME": "/tmp"})
    return int(out.stdout.split()[-1])


def test_name_server_default_heap_is_a_quarter_of_the_memory_up_to_1g(home: Path):
    args = _launch(home, "mqnamesrv", "-c", "/x/namesrv.conf")
    heap = max(64, min(1024, _memory_mb() // 4))
    assert f"-Xmx{heap}m" in args and f"-Xms{heap}m" in args and f"-Xmn{heap // 2}m" in args
    assert f"-Drmq.logback.configurationFile={home}/conf/rmq.namesrv.logback.xml" in args
    assert f"-Drocketmq.home.dir={home}" in args
    assert args[args.index("-cp") + 1] == f".:{home}/conf:{home}/lib/*"
    assert args[-3:] == ["org.apache.rocketmq.namesrv.NamesrvStartup", "-c", "/x/namesrv.conf"]


def test_heap_opts_replaces_the_heap_and_java_opt_ext_comes_last_before_the_classpath(home: Path):
    args = _launch(home, "mqbroker", "-c", "/etc/b.conf", HEAP_OPTS="-Xms300m -Xmx300m",
                   JAVA_OPT_EXT="-Dext=1 -Xmx400m", JAVA_OPT="-Dfirst=1")
    assert args.index("-Dfirst=1") < args.index("-Xmx300m") < args.index("-Dext=1") < args.index("-cp")
    assert args.index("-Xmx400m") > args.index("-Xmx300m")  # the JVM takes the last one
    assert not any(a.startswith(("-Xmn", "-XX:MaxDirectMemorySize")) for a in args)
    assert args[-3:] == ["org.apache.rocketmq.broker.BrokerStartup", "-c", "/etc/b.conf"]


def test_broker_default_heap_and_direct_memory(home: Path):
    args = _launch(home, "mqbroker")
    heap = max(64, min(2048, _memory_mb() // 4))
    assert f"-Xmx{heap}m" in args and f"-XX:MaxDirectMemorySize={heap // 2}m" in args
    assert "-XX:+UseG1GC" in args and not any("AlwaysPreTouch" in a for a in args)


def test_mqbroker_keeps_argument_quoting_and_enables_the_local_proxy(home: Path):
    args = _launch(home, "mqbroker", "-n", "a:9876;b:9876", "--enable-proxy", "--configFile", "/c f.conf",
                   "-p", "x y")
    tail = args[args.index("org.apache.rocketmq.proxy.ProxyStartup"):]
    assert tail == ["org.apache.rocketmq.proxy.ProxyStartup", "-n", "a:9876;b:9876", "-p", "x y",
                    "-bc", "/c f.conf", "-pm", "local"]
    assert f"-Drmq.logback.configurationFile={home}/conf/rmq.proxy.logback.xml" in args


def test_mqadmin_ignores_the_servers_heap_options(home: Path):
    args = _launch(home, "mqadmin", "clusterList", "-n", "h:9876", HEAP_OPTS="-Xmx9g", JAVA_OPT_EXT="-Dx=1")
    assert "-Xmx9g" not in args and "-Dx=1" not in args
    assert args[-4:] == ["org.apache.rocketmq.tools.command.MQAdminStartup", "clusterList", "-n", "h:9876"]


def test_the_entrypoint_maps_roles_and_runs_other_commands(home: Path):
    assert _launch(home, "docker-entrypoint.sh", "echo", "hi") == ["hi"]
    args = _launch(home, "docker-entrypoint.sh", "nameserver", "-c", "f")
    assert args[-3:] == ["org.apache.rocketmq.namesrv.NamesrvStartup", "-c", "f"]
    args = _launch(home, "docker-entrypoint.sh", "-c", "f", NODE_ROLE="controller")
    assert args[-3:] == ["org.apache.rocketmq.controller.ControllerStartup", "-c", "f"]


def test_gzip_members_carry_no_name_or_time(tmp_path: Path):
    blob = oci.write_layer(_entries(tmp_path), tmp_path)
    header = (tmp_path / blob.hex).read_bytes()[:10]
    assert header[3] & 0x08 == 0  # no FNAME
    assert header[4:8] == b"\0\0\0\0"  # MTIME 0
    assert io.BytesIO(header).read(2) == b"\x1f\x8b"
