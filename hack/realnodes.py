"""Real nodes for the local control plane: kubelet, containerd, runc and CNI joined to it, on a bridge the
scripts own, with CoreDNS for cluster names and kube-proxy for ClusterIP services.

Imported by ``hack/localcluster.py`` (standard library only). One set of real nodes per machine: the
bridge, the kubepods cgroups, the KUBE-* iptables chains and the kernel settings are machine-wide, so the
cluster directory that owns them is written to ``OWNER_FILE`` and a second cluster runs KWOK nodes only.

Layout on the machine, all removed by ``teardown``:
- bridge ``BRIDGE`` with ``HOST_IP``/16 (the node IP, CoreDNS, the API server's advertised address);
  pods get addresses of ``POD_RANGE`` from the CNI bridge plugin (host-local IPAM).
- ``<cluster dir>/realnodes/``: kubelet root, containerd root, CNI and CoreDNS configuration, pod logs.
- ``RUN_DIR``: containerd's socket and state (runc state, task bundles, pod network namespaces), short
  paths because unix sockets are limited to 108 bytes.
- cgroups ``/<CGROUP_ROOT>`` in every v1 hierarchy (the kubelet's ``cgroupRoot``).
- iptables chains KUBE-* (kubelet, kube-proxy), CNI-* (CNI plugins) and ``GUARD_CHAIN`` (keeps the API
  server, which listens on every address so that pods reach it, to loopback and the bridge).
- kernel settings the kubelet requires (``KUBELET_SYSCTLS``) and the ones the bridge plugin and
  kube-proxy flip, saved before and restored after.

Decisions: kube-proxy runs (iptables mode), so ClusterIP services work — the in-cluster operator reaches
``kubernetes.default`` (10.96.0.1) through it, and the API server's lease endpoint reconciler publishes
``HOST_IP`` as its endpoint. Name servers and brokers use headless names that CoreDNS answers from
EndpointSlices. CoreDNS answers the cluster domain and its reverse zones and NXDOMAIN for anything else:
nothing is forwarded off the machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HACK = Path(__file__).resolve().parent
ROOT = HACK.parent
if str(HACK) not in sys.path:  # hack/ is not a package; tests/e2e/realnode.py loads this file by path
    sys.path.insert(0, str(HACK))
import hostutil
from hostutil import cmdline, free_port, kill_all, pid_alive, process_start, write_kubeconfig
from imagebuild.oci import normalized_ref  # the name an image's archive gives it, which pods resolve to

# What tests import (tests/e2e/realnode.py re-exports these): real nodes carry the label and the taint,
# so pods land there only with a matching nodeSelector and toleration.
NODE_LABEL_KEY, NODE_LABEL_VALUE = "rocketmq-operator.dev/node", "real"
NODE_TAINT_KEY, NODE_TAINT_VALUE, NODE_TAINT_EFFECT = "rocketmq-operator.dev/real-node", "true", "NoSchedule"
NODE_NAMES = ("real-node-0",)  # one kubelet per machine (ports, cgroups and kubepods are per host)
NODE_ZONE = "zone-a"

BRIDGE = "rmqbr0"
NETWORK = "172.30.0.0/16"
HOST_IP = "172.30.0.1"
POD_RANGE = ("172.30.1.2", "172.30.1.254")
CLUSTER_DOMAIN = "cluster.local"
CNI_NETWORK = "rocketmq-operator-realnodes"
CGROUP_ROOT = "rocketmq-operator-realnodes"
GUARD_CHAIN = "ROCKETMQ-OPERATOR-APISERVER"
RUN_DIR = Path("/run/rocketmq-operator-realnodes")
OWNER_FILE = Path("/run/rocketmq-operator-realnodes.owner")
# Paths the components use whatever their configuration says; teardown removes what is ours in them, and
# the directories themselves when they did not exist before ``prepare`` (listed in created-dirs.json).
SHIM_SOCKET_DIR = Path("/run/containerd/s")  # containerd 1.7's shim sockets
CNI_CACHE_DIR = Path("/var/lib/cni/results")  # libcni's cache (containerd's CRI does not expose it)
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # the kubelet's symlinks to pod logs
DEVICE_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")  # the kubelet's device-plugin socket
FIXED_DIRS = (SHIM_SOCKET_DIR, CNI_CACHE_DIR, CONTAINER_LOG_LINKS, DEVICE_PLUGIN_DIR)
# The kubelet's protectKernelDefaults values (pkg/kubelet/cm/container_manager_linux.go); set up front so
# the kubelet changes nothing itself.
KUBELET_SYSCTLS = {"vm.overcommit_memory": "1", "vm.panic_on_oom": "0", "kernel.panic": "10",
                   "kernel.panic_on_oops": "1", "kernel.keys.root_maxkeys": "1000000",
                   "kernel.keys.root_maxbytes": "25000000"}
# Flipped by the CNI bridge plugin (ip_forward) and kube-proxy; saved and restored, not set.
WATCHED_SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables",
                   "net.ipv4.conf.all.route_localnet", "net.ipv6.conf.all.forwarding")
START_TIMEOUT = 120.0


class RealNodeError(RuntimeError):
    pass


log = hostutil.logger("realnodes")
# run(*args, check=True, timeout=300, **kw): output captured as text; a failure raises RealNodeError with
# the last 2000 characters of what the command printed.
run = functools.partial(hostutil.run, error=RealNodeError, words=4, tail=2000, timeout=300)


# ---------------------------------------------------------------- whether to run them

def unavailable_reason() -> tuple[str, bool] | None:
    """Why real nodes will not run here — (reason, whether they should have: then CI fails) — or None.

    Under ``CI=true`` every missing prerequisite is expected to be there (this project's machines have them
    all), so it fails the real-node tests with what to install; only ``REAL_NODES=0`` opts out."""
    if os.environ.get("REAL_NODES", "1").strip().lower() in ("0", "false", "no", "off"):
        return "REAL_NODES=0", False
    ci = os.environ.get("CI") == "true"
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})", ci
    if os.geteuid() != 0:
        return "not root (kubelet, containerd and the bridge need it): run the tests as root", ci
    if not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup: mount the cgroup filesystem", ci
    if not shutil.which("ip"):
        return "no 'ip' command: install iproute2 (apt-get install iproute2)", ci
    if not images_script().exists():
        return f"no {images_script()} to build the pause and RocketMQ images", True
    owner = owner_dir()
    if owner is not None and owner_alive(owner):
        return f"the real nodes of this machine belong to the running cluster in {owner}", True
    return None


def images_script() -> Path:
    return Path(os.environ.get("REAL_NODES_IMAGES_SCRIPT") or HACK / "images.py")


def owner_dir() -> Path | None:
    """The cluster directory that owns this machine's real nodes (written by ``prepare``)."""
    try:
        return Path(hostutil.read_json(OWNER_FILE)["dir"])
    except (KeyError, TypeError):  # no owner file (None), or not one ``prepare`` wrote
        return None


def owner_alive(d: Path) -> bool:
    """Whether the owner's ``up`` is still running or its cluster is: then nobody else touches them."""
    try:
        owner = json.loads(OWNER_FILE.read_text())
        if pid_alive(int(owner["pid"])) and process_start(int(owner["pid"])) == owner.get("start"):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return hostutil.any_pid_alive(hostutil.read_json(d / "state.json"))


def build_binaries() -> Path:
    return hostutil.built_path(HACK / "build-node.sh",
                               RealNodeError("building the node binaries failed (see the step named above)"))


def build_images() -> list[tuple[str, str]]:
    """(archive, image reference) pairs from hack/images.py, which builds them or reuses its cache."""
    script = images_script()
    proc = subprocess.run([sys.executable, str(script), "build"], check=False, stdout=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        raise RealNodeError("building the images failed (hack/images.py build; see above)")
    pairs = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and Path(parts[0]).is_file():
            pairs.append((parts[0], parts[1]))
    if not pairs:
        raise RealNodeError("hack/images.py build printed no '<archive> <image>' lines")
    return pairs


def pause_image(images: list[tuple[str, str]]) -> str:
    for _, ref in images:
        if "/pause:" in ref or ref.startswith("pause:"):
            return ref
    raise RealNodeError(f"no pause image among {[r for _, r in images]}")


# ---------------------------------------------------------------- certificates

def make_certs(pki: Path) -> None:
    """The API server's client certificate for kubelets, and each kubelet's identity and serving cert."""
    def o(*a):
        run("openssl", *a, cwd=pki)

    (pki / "kubelet-serving.ext").write_text(f"subjectAltName=IP:{HOST_IP}\nextendedKeyUsage=serverAuth\n")
    certs = [("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "client.ext")]
    for node in NODE_NAMES:
        certs += [(f"kubelet-{node}", f"/O=system:nodes/CN=system:node:{node}", "client.ext"),
                  (f"kubelet-serving-{node}", f"/CN={node}", "kubelet-serving.ext")]
    hostutil.sign_certs(o, certs)


def apiserver_args(pki: Path) -> list[str]:
    """Flags for kube-apiserver when real nodes join (given after the defaults: the last one wins)."""
    return ["--bind-address=0.0.0.0", f"--advertise-address={HOST_IP}", "--endpoint-reconciler-type=lease",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}"]


def server_sans() -> list[str]:
    return [f"IP:{HOST_IP}"]


# ---------------------------------------------------------------- network

def _addr_in_use(ip: str) -> str | None:
    out = run("ip", "-o", "-4", "addr", "show", check=False).stdout
    for line in out.splitlines():
        fields = line.split()
        if BRIDGE in fields[1]:
            continue
        if "inet" in fields and fields[fields.index("inet") + 1].startswith("172.30."):
            return line.strip()
    routes = run("ip", "-4", "route", "show", check=False).stdout
    for line in routes.splitlines():
        if line.startswith("172.30.") and f"dev {BRIDGE}" not in line:
            return line.strip()
    return None


def setup_network(apiserver_port: int) -> None:
    clash = _addr_in_use(HOST_IP)
    if clash:
        raise RealNodeError(f"{NETWORK} is already used on this machine: {clash}")
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{HOST_IP}/16", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    guard_apiserver(apiserver_port)


def guard_apiserver(port: int) -> None:
    """The API server listens on every address (pods reach it on HOST_IP); only loopback and the bridge
    may connect."""
    for ipt in ("iptables", "ip6tables"):
        if not shutil.which(ipt):
            raise RealNodeError(f"no {ipt} (hack/build-node.sh installs it)")
        run(ipt, "-w", "-N", GUARD_CHAIN)
        run(ipt, "-w", "-A", GUARD_CHAIN, "-i", "lo", "-j", "RETURN")
        run(ipt, "-w", "-A", GUARD_CHAIN, "-i", BRIDGE, "-j", "RETURN")
        run(ipt, "-w", "-A", GUARD_CHAIN, "-j", "DROP")
        run(ipt, "-w", "-I", "INPUT", "-p", "tcp", "--dport", str(port), "-j", GUARD_CHAIN)


def remove_iptables_chains() -> None:
    """Drops every KUBE-*, CNI-* and GUARD_CHAIN chain and each rule that mentions one, in every table."""
    def ours(text: str) -> bool:
        return any(w.startswith(("KUBE-", "CNI-")) or w == GUARD_CHAIN
                   for w in text.replace('"', " ").split())

    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        if not shutil.which(save):
            continue
        dump = run(save, check=False).stdout
        if not ours(dump):
            continue
        kept = []
        for line in dump.splitlines():
            if line.startswith(":") and ours(line.split()[0][1:]):
                continue
            if line.startswith("-A") and ours(line):
                continue
            kept.append(line)
        run(restore, "-w", input="\n".join(kept) + "\n")


def read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    try:
        Path("/proc/sys", key.replace(".", "/")).write_text(value + "\n")
    except OSError as e:
        raise RealNodeError(f"cannot set {key}={value}: {e}") from e


# ---------------------------------------------------------------- configuration files

def containerd_config(base: Path, bin_dir: Path, sandbox_image: str) -> str:
    run_dir = RUN_DIR
    return f"""version = 2
root = "{base / 'containerd'}"
state = "{run_dir / 'state'}"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
oom_score = 0

[grpc]
  address = "{run_dir / 'containerd.sock'}"

[ttrpc]
  address = "{run_dir / 'containerd.sock.ttrpc'}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / 'containerd-opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # The sandbox lacks CAP_SYS_RESOURCE: without this runc cannot write a lower oom_score_adj and fails
  # with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_cdi = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{bin_dir / 'runc'}"
        Root = "{run_dir / 'runc'}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin_dir / 'cni'}"
    conf_dir = "{base / 'cni'}"
    max_conf_num = 1
"""


def cni_config(base: Path) -> dict:
    return {
        "cniVersion": "1.0.0", "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(base / "ipam"),
                      "ranges": [[{"subnet": NETWORK, "rangeStart": POD_RANGE[0], "rangeEnd": POD_RANGE[1],
                                   "gateway": HOST_IP}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def corefile(kubeconfig: Path) -> str:
    # Two server blocks: the plugin order is CoreDNS's, not the Corefile's (template would run before
    # kubernetes in one block).
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {HOST_IP}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} local
        pods insecure
        ttl 5
    }}
    cache 5
}}
.:53 {{
    bind {HOST_IP}
    errors
    # No forwarding: anything outside the cluster domain is NXDOMAIN (nothing leaves the machine).
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def kubelet_config(base: Path, node: str, pki: Path, ports: dict, sock: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": HOST_IP, "port": ports["kubelet"], "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": ports["kubelet-healthz"],
        "tlsCertFile": str(pki / f"kubelet-serving-{node}.crt"),
        "tlsPrivateKeyFile": str(pki / f"kubelet-serving-{node}.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{sock}",
        "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP_ROOT}", "cgroupsPerQOS": True,
        "failCgroupV1": False, "failSwapOn": False,
        "protectKernelDefaults": True, "makeIPTablesUtilChains": True,
        "oomScoreAdj": 0,
        "clusterDNS": [HOST_IP], "clusterDomain": CLUSTER_DOMAIN, "resolvConf": str(base / "resolv.conf"),
        "podLogsDir": str(base / "pod-logs"),
        "registerWithTaints": [{"key": NODE_TAINT_KEY, "value": NODE_TAINT_VALUE,
                                "effect": NODE_TAINT_EFFECT}],
        # Images cannot be pulled again (no registry): never collect them.
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "kernelMemcgNotification": False,
        "serializeImagePulls": False,
        "maxPods": 110,
        "nodeStatusReportFrequency": "10s", "nodeStatusUpdateFrequency": "5s",
        "runtimeRequestTimeout": "5m",
        "shutdownGracePeriod": "0s",
        "localStorageCapacityIsolation": True,
    }


def kube_proxy_config(kubeconfig: Path, node: str, ports: dict) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables", "hostnameOverride": node, "bindAddress": HOST_IP,
        "clusterCIDR": NETWORK, "detectLocalMode": "ClusterCIDR",
        "healthzBindAddress": f"127.0.0.1:{ports['kube-proxy-healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['kube-proxy-metrics']}",
        "nodePortAddresses": [f"{HOST_IP}/32"],
        # 0 leaves the machine's conntrack settings alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "oomScoreAdj": 0,
    }


# ---------------------------------------------------------------- checks

def dns_query(name: str, server: str = HOST_IP, timeout: float = 1.0) -> tuple[int, list[str]]:
    """(rcode, A records) for one UDP query, standard library only."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, 53))
        data = s.recv(4096)
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    pos = 12
    for _ in range(qd):
        while data[pos]:
            pos += data[pos] + 1
        pos += 5
    addrs = []
    for _ in range(an):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(data[pos:pos + 4]))
        pos += rdlen
    return flags & 0xF, addrs


def http_ok(url: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- bring-up

class RealNodes:
    """Brings up (``start``) and removes (``teardown``) the real nodes of the cluster in ``d``."""

    def __init__(self, d: Path, start_process, wait_for, kubectl):
        self.d = d
        self.base = d / "realnodes"
        self.pki = d / "pki"
        self._start_process = start_process  # localcluster.start(name, args, d) -> pid
        self._wait_for = wait_for
        self._kubectl = kubectl
        self.timings: list[tuple[str, float]] = []

    def _step(self, name: str, fn, *a):
        t = time.monotonic()
        try:
            return fn(*a)
        finally:
            self.timings.append((name, time.monotonic() - t))

    def timing_line(self) -> str:
        return ", ".join(f"{n} {s:.1f}s" for n, s in self.timings)

    # -- phases, called by localcluster.up in this order

    def prepare(self, state: dict) -> tuple[Path, list[tuple[str, str]]]:
        """Before the control plane starts: binaries, images, certificates, bridge, guard. Returns the node
        bin dir and the images."""
        bin_dir = self._step("node binaries", build_binaries)
        images = self._step("images", build_images)
        pause_image(images)
        teardown(self.d, quiet=True, leftovers=True)  # whatever a crashed run left on the machine
        self.base.mkdir(parents=True, exist_ok=True)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        OWNER_FILE.write_text(json.dumps({"dir": str(self.d), "pid": os.getpid(),
                                          "start": process_start(os.getpid())}))
        created = []
        for fixed in FIXED_DIRS:
            for p in (fixed, *fixed.parents):
                if not p.exists():
                    created.append(str(p))
        (self.base / "created-dirs.json").write_text(json.dumps(sorted(set(created)), indent=2))
        saved = {k: read_sysctl(k) for k in (*KUBELET_SYSCTLS, *WATCHED_SYSCTLS)}
        (self.base / "sysctl.saved.json").write_text(json.dumps(saved, indent=2))
        state["realnodes"] = {"bin": str(bin_dir), "images": images, "pids": {}}
        self._step("certificates", make_certs, self.pki)
        self._step("bridge", setup_network, state["ports"]["apiserver"])
        return bin_dir, images

    def start(self, state: dict, save_state) -> None:
        """After the API server is ready: containerd, images, CoreDNS, kubelet, kube-proxy."""
        rn = state["realnodes"]
        bin_dir = Path(rn["bin"])
        ports = {k: free_port() for k in ("kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics")}
        ports["kubelet"] = free_port(HOST_IP)
        rn["ports"] = ports
        if not (self.base / "sysctl.saved.json").exists():  # never change what teardown could not restore
            raise RealNodeError(f"{self.base / 'sysctl.saved.json'} is gone: something removed {self.base}")
        for k, v in KUBELET_SYSCTLS.items():
            write_sysctl(k, v)
        env_path = f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        sock = RUN_DIR / "containerd.sock"

        def spawn(name: str, args: list[str]) -> int:
            pid = self._start_process(name, args, self.d, env=dict(os.environ, PATH=env_path))
            rn["pids"][name] = pid
            save_state()
            return pid

        # containerd
        cfg = self.base / "containerd.toml"
        cfg.write_text(containerd_config(self.base, bin_dir, pause_image(rn["images"])))
        (self.base / "cni").mkdir(exist_ok=True)
        (self.base / "cni" / "10-rocketmq-operator.conflist").write_text(
            json.dumps(cni_config(self.base), indent=2))
        t = time.monotonic()
        pid = spawn("containerd", [str(bin_dir / "containerd"), "--config", str(cfg), "--log-level", "warn"])
        ctr = [str(bin_dir / "ctr"), "--address", str(sock)]
        self._wait_for("containerd",
                       lambda: sock.exists() and run(*ctr, "version", check=False).returncode == 0,
                       timeout=60, d=self.d, component="containerd", pid=pid)
        self.timings.append(("containerd", time.monotonic() - t))

        self._step("image import", import_images, ctr, rn["images"])

        # CoreDNS
        t = time.monotonic()
        (self.base / "Corefile").write_text(corefile(self.d / "kubeconfig"))
        pid = spawn("coredns", [str(bin_dir / "coredns"), "-conf", str(self.base / "Corefile"),
                                "-dns.port", "53"])

        def dns_answers() -> bool:
            try:
                return dns_query(f"kubernetes.default.svc.{CLUSTER_DOMAIN}")[1] != []
            except OSError:
                return False
        self._wait_for("CoreDNS to answer", dns_answers, timeout=60, d=self.d, component="coredns", pid=pid)
        self.timings.append(("coredns", time.monotonic() - t))

        # kubelets
        t = time.monotonic()
        server = json.loads((self.d / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
        (self.base / "resolv.conf").write_text(f"nameserver {HOST_IP}\n")
        make_cgroup_root()
        for node in NODE_NAMES:
            nd = self.base / node
            nd.mkdir(parents=True, exist_ok=True)
            write_kubeconfig(nd / "kubeconfig", self.pki, server, f"kubelet-{node}")
            (nd / "kubelet.json").write_text(
                json.dumps(kubelet_config(self.base, node, self.pki, ports, sock), indent=2))
            labels = f"{NODE_LABEL_KEY}={NODE_LABEL_VALUE},topology.kubernetes.io/zone={NODE_ZONE}"
            pid = spawn(f"kubelet-{node}", [
                str(bin_dir / "kubelet"), f"--config={nd / 'kubelet.json'}",
                f"--kubeconfig={nd / 'kubeconfig'}", f"--root-dir={nd / 'kubelet'}",
                f"--cert-dir={nd / 'kubelet' / 'pki'}",
                f"--hostname-override={node}", f"--node-ip={HOST_IP}", f"--node-labels={labels}", "--v=1"])
            self._wait_for(f"node {node} Ready", lambda n=node: node_ready(self._kubectl, self.d, n),
                           timeout=START_TIMEOUT, d=self.d, component=f"kubelet-{node}", pid=pid)
        self.timings.append(("kubelet", time.monotonic() - t))

        # kube-proxy
        t = time.monotonic()
        kp = self.base / "kube-proxy.json"
        kp.write_text(json.dumps(kube_proxy_config(self.d / "kubeconfig", NODE_NAMES[0], ports), indent=2))
        pid = spawn("kube-proxy", [str(bin_dir / "kube-proxy"), f"--config={kp}", "--v=1"])
        self._wait_for("kube-proxy healthz", lambda: http_ok(f"http://127.0.0.1:{ports['kube-proxy-healthz']}/healthz"),
                       timeout=60, d=self.d, component="kube-proxy", pid=pid)
        self.timings.append(("kube-proxy", time.monotonic() - t))
        rn["nodes"] = list(NODE_NAMES)
        save_state()


def import_images(ctr: list[str], images: list[tuple[str, str]]) -> None:
    """Imports each archive into containerd's k8s.io namespace (unpacked for the overlayfs snapshotter)
    and makes sure it is known by its normalized name, which is what pods' image fields resolve to."""
    for archive, ref in images:
        run(*ctr, "-n", "k8s.io", "images", "import", archive, timeout=600)
        names = run(*ctr, "-n", "k8s.io", "images", "ls", "-q").stdout.split()
        want = normalized_ref(ref)
        if want not in names:
            if ref not in names:
                raise RealNodeError(f"importing {archive} did not create {ref} (images: {', '.join(names)})")
            run(*ctr, "-n", "k8s.io", "images", "tag", ref, want)


def node_ready(kubectl, d: Path, node: str) -> bool:
    out = kubectl(d, "get", "node", node, "-o", "json", check=False)
    if out.returncode != 0:
        return False
    conds = json.loads(out.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


# ---------------------------------------------------------------- cgroups

def cgroup_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: one hierarchy
        return [root]
    return [p for p in sorted(root.iterdir())
            if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists()]


def make_cgroup_root() -> None:
    for h in cgroup_hierarchies():
        c = h / CGROUP_ROOT
        c.mkdir(exist_ok=True)
        for f in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset cgroup starts empty
            if (c / f).exists() and not (c / f).read_text().strip():
                (c / f).write_text((h / f).read_text())


def cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for h in cgroup_hierarchies():
        top = h / CGROUP_ROOT
        if not top.is_dir():
            continue
        for dirpath, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    pids.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
                except OSError:
                    pass
    return pids


def remove_cgroups() -> list[str]:
    left = []
    for h in cgroup_hierarchies():
        top = h / CGROUP_ROOT
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                left.append(dirpath)
    return left


# ---------------------------------------------------------------- teardown

def _our_processes(d: Path) -> list[int]:
    """kubelet, containerd, shims, CoreDNS and kube-proxy of this cluster's real nodes, found by the paths
    on their command lines (so a crashed run with no state file is cleaned up too)."""
    marks = (str(RUN_DIR), str(d / "realnodes"))
    me = os.getpid()
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != me:
            cmd = cmdline(int(p.name))
            if any(m in cmd for m in marks):
                pids.append(int(p.name))
    return pids


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        mp = line.split()[4].replace("\\040", " ")
        if any(mp == p or mp.startswith(p + "/") for p in prefixes):
            out.append(mp)
    return sorted(set(out), key=lambda m: -m.count("/"))


def teardown(d: Path, quiet: bool = False, leftovers: bool = False) -> None:
    """Removes the real nodes of the cluster in ``d``: processes, containers, mounts, network namespaces,
    cgroups, veths and the bridge, iptables chains, kernel settings, files. Idempotent. With
    ``leftovers`` (at bring-up) also what a crashed run of another cluster directory left behind; never
    the real nodes of another cluster that is running or coming up."""
    owner = owner_dir()
    base_dirs = _base_dirs_to_remove(d, owner, leftovers)
    if base_dirs is None:  # the machine-wide side is not ours: no mounts in our directory either
        shutil.rmtree(d / "realnodes", ignore_errors=True)
        return
    if not _anything_on_the_machine(base_dirs, owner):
        return
    t = time.monotonic()
    _kill_processes(d, base_dirs)
    _unmount(base_dirs)
    left = remove_cgroups()
    _remove_network()
    _restore_kernel_settings(base_dirs)
    _remove_files_outside_our_dirs(base_dirs)
    _remove_our_dirs(base_dirs)
    if left:
        log(f"warning: cgroups left behind (busy): {', '.join(left[:5])}")
    if not quiet:
        log(f"real nodes removed in {time.monotonic() - t:.1f}s")


def _base_dirs_to_remove(d: Path, owner: Path | None, leftovers: bool) -> list[Path] | None:
    """The real-node directories whose machine-wide side teardown removes: ``d``'s, and with ``leftovers``
    a dead owner's too. None when that side is not ours to remove: another cluster owns it and is alive
    (or ``leftovers`` is not set), or nobody owns it and ``leftovers`` is not set."""
    base = d / "realnodes"
    if owner is not None and owner != d:
        if not leftovers or owner_alive(owner):
            return None
        return [owner / "realnodes", base]
    if owner is None and not leftovers:
        return None
    return [base]


def _anything_on_the_machine(base_dirs: list[Path], owner: Path | None) -> bool:
    """Whether real nodes left anything to remove: their directories, RUN_DIR, the owner file, the bridge."""
    return any(b.exists() for b in base_dirs) or RUN_DIR.exists() or owner is not None or \
        Path(f"/sys/class/net/{BRIDGE}").exists()


def _kill_processes(d: Path, base_dirs: list[Path]) -> None:
    """The kubelet first (it would restart containers), then everything else: containerd, shims,
    containers, CoreDNS, kube-proxy, until none is left (100 rounds, 0.1 s apart)."""
    state_pids = hostutil.read_json(d / "state.json", {}).get("realnodes", {}).get("pids", {})
    for name in sorted(state_pids, key=lambda n: not n.startswith("kubelet")):
        pid = state_pids[name]
        if pid_alive(pid):
            hostutil.signal_group(pid, signal.SIGKILL)
    for _ in range(100):
        pids = set()
        for b in base_dirs:
            pids.update(_our_processes(b.parent))
        pids |= cgroup_pids()
        pids = {p for p in pids if pid_alive(p)}
        if not pids:
            break
        kill_all(pids)
        time.sleep(0.1)


def _unmount(base_dirs: list[Path]) -> None:
    """Container root filesystems, volumes, network namespaces: lazily when busy."""
    prefixes = tuple(str(p) for p in (*base_dirs, RUN_DIR))
    for mp in _mounts_under(prefixes):
        if subprocess.run(["umount", mp], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mp], check=False, capture_output=True)


def _remove_network() -> None:
    """The veths on the bridge, the bridge, the iptables chains."""
    links = run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        run("ip", "link", "del", name, check=False)
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        run("ip", "link", "del", BRIDGE, check=False)
    remove_iptables_chains()


def _restore_kernel_settings(base_dirs: list[Path]) -> None:
    """The values ``prepare`` saved; one that cannot be written back is a warning."""
    for b in base_dirs:
        saved_file = b / "sysctl.saved.json"
        if saved_file.exists():
            for k, v in json.loads(saved_file.read_text()).items():
                if v is not None and read_sysctl(k) != v:
                    try:
                        write_sysctl(k, v)
                    except RealNodeError as e:
                        log(f"warning: {e}")


def _remove_files_outside_our_dirs(base_dirs: list[Path]) -> None:
    """What the components put in the machine's directories: CNI results, the kubelet's device-plugin
    socket, its pod-log symlinks, the shims' sockets."""
    sandboxes = _our_sandbox_ids()
    if CNI_CACHE_DIR.is_dir():
        for f in CNI_CACHE_DIR.iterdir():
            if f.name.startswith(f"{CNI_NETWORK}-") or \
                    (f.name.startswith("cni-loopback-") and f.name.split("-")[2] in sandboxes):
                f.unlink(missing_ok=True)
    (DEVICE_PLUGIN_DIR / "kubelet.sock").unlink(missing_ok=True)
    if CONTAINER_LOG_LINKS.is_dir():
        for f in CONTAINER_LOG_LINKS.iterdir():
            try:
                if f.is_symlink() and any(os.readlink(f).startswith(str(b)) for b in base_dirs):
                    f.unlink()
            except OSError:
                pass
    _remove_shim_sockets()


def _remove_our_dirs(base_dirs: list[Path]) -> None:
    """The fixed directories ``prepare`` created (when empty), the real-node directories, ``RUN_DIR`` and
    ``OWNER_FILE``."""
    for b in base_dirs:
        created = hostutil.read_json(b / "created-dirs.json", [])
        for c in sorted(created, key=lambda p: -p.count("/")):
            try:
                os.rmdir(c)  # only when empty: anything else in it is not ours
            except OSError:
                pass
        shutil.rmtree(b, ignore_errors=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    OWNER_FILE.unlink(missing_ok=True)


def _our_sandbox_ids() -> set[str]:
    ids: set[str] = set()
    bundles = RUN_DIR / "state" / "io.containerd.runtime.v2.task"
    if bundles.is_dir():
        for ns in bundles.iterdir():
            ids.update(c.name for c in ns.iterdir())
    return ids


def _remove_shim_sockets() -> None:
    """containerd 1.7 names a shim's socket sha256(<containerd address>/<namespace>/<id>) under
    /run/containerd/s; a killed shim leaves it behind."""
    if not SHIM_SOCKET_DIR.is_dir():
        return
    bundles = RUN_DIR / "state" / "io.containerd.runtime.v2.task"
    addr = str(RUN_DIR / "containerd.sock")
    names = set()
    if bundles.is_dir():
        for ns in bundles.iterdir():
            for c in ns.iterdir():
                names.add(hashlib.sha256(os.path.join(addr, ns.name, c.name).encode()).hexdigest())
    for f in SHIM_SOCKET_DIR.iterdir():
        if f.name in names:
            f.unlink(missing_ok=True)


def status_line(state: dict) -> list[str]:
    rn = state.get("realnodes") or {}
    return [f"{name:<25} pid {pid:<8} {'running' if pid_alive(pid) else 'STOPPED'}"
            for name, pid in rn.get("pids", {}).items()]
