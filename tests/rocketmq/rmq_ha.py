"""Real RocketMQ 5 high-availability servers for the tests: a Raft group of controllers, brokers in controller
mode, a proxy in cluster mode. Built on rmq_servers (same ports, homes, small heaps, bounded starts).

The controllers' and embedding name servers' conf files are written by the operator's own pod start command
(resources/controllers.py), the brokers get the controller-mode keys the operator writes
(resources/brokerconf.py), the proxy the operator's rmq-proxy.json (resources/proxy.py) — with loopback
addresses and free ports instead of pod names and fixed ports.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rocketmq_operator.resources import naming
from rocketmq_operator.resources.brokerconf import CONTROLLER_MODE_DEFAULTS
from rocketmq_operator.resources.controllers import start_command
from rocketmq_operator.resources.proxy import from_proxy
from tests.rocketmq.rmq_servers import NAMESRV_MAIN, Jars, JavaProcess, free_port, start_broker

CONTROLLER_MAIN = "org.apache.rocketmq.controller.ControllerStartup"
PROXY_MAIN = "org.apache.rocketmq.proxy.ProxyStartup"
CONTROLLER_HEAP = ["-Xms16m", "-Xmx96m"]
PROXY_HEAP = ["-Xms32m", "-Xmx192m"]
CONTROLLER_GROUP = "rmq-controllers"


@dataclass
class Controllers:
    addrs: list[str]
    processes: list[JavaProcess] = field(default_factory=list)

    @property
    def controller_addr(self) -> str:
        return ";".join(self.addrs)


def operator_conf(home: Path, *, script: str, peers: str, self_ordinal: int,
                  extra_lines: tuple[str, ...] = ()) -> Path:
    """The conf file the operator's pod start command writes (resources/controllers.py), made by running that
    very command with a stand-in ``bin/<script>`` that prints the path it was given instead of starting
    Java."""
    conf, store = home / "server.conf", home / "store"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "bin" / script).write_text('echo "$2"\n')
    env = {"PATH": os.environ["PATH"], "ROCKETMQ_HOME": str(home), "POD_NAME": f"pod-{self_ordinal}",
           naming.CONTROLLER_ENV[0]: CONTROLLER_GROUP, naming.CONTROLLER_ENV[1]: peers,
           naming.CONTROLLER_ENV[2]: str(store)}
    out = subprocess.run(["/bin/sh", "-c", start_command(str(conf), script=script, extra_lines=extra_lines)],
                         env=env, capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.strip() == str(conf)
    return conf


def _with(conf: Path, values: dict[str, object]) -> Path:
    """``conf`` with loopback ports added (the pods' fixed ports would clash on one host)."""
    conf.write_text(conf.read_text() + "".join(f"{k}={v}\n" for k, v in values.items()))
    return conf


def start_controllers(jars: Jars, home: Path, *, size: int = 3) -> Controllers:
    """``size`` controllers in one Raft group (each listens for brokers and admins on its peer port)."""
    ports = [free_port() for _ in range(size)]
    peers = ";".join(f"n{i}-127.0.0.1:{port}" for i, port in enumerate(ports))
    group = Controllers([f"127.0.0.1:{port}" for port in ports])
    for i, port in enumerate(ports):
        member_home = home / f"controller-{i}"
        conf = _with(operator_conf(member_home, script="mqcontroller", peers=peers, self_ordinal=i),
                     {"listenPort": free_port(), "scanNotActiveBrokerInterval": 2000})
        group.processes.append(JavaProcess(jars, name=f"controller n{i}:{port}", main=CONTROLLER_MAIN,
                                           heap=CONTROLLER_HEAP, home=member_home, args=["-c", str(conf)],
                                           boot_marker="boot success"))
    return group


def start_embedding_namesrv(jars: Jars, home: Path) -> tuple[JavaProcess, str, str]:
    """A name server that runs a controller inside (enableControllerInNamesrv), as a NameService pod does;
    returns the process, the name-server address and the controller address."""
    ns_port, ctl_port = free_port(), free_port()
    conf = _with(operator_conf(home, script="mqnamesrv", peers=f"n0-127.0.0.1:{ctl_port}", self_ordinal=0,
                               extra_lines=('"enableControllerInNamesrv=true"',)),
                 {"listenPort": ns_port, "bindAddress": "127.0.0.1"})
    proc = JavaProcess(jars, name=f"namesrv+controller:{ns_port}", main=NAMESRV_MAIN, heap=CONTROLLER_HEAP,
                       home=home, args=["-c", str(conf)], boot_marker="The ControllerManager boot success")
    return proc, f"127.0.0.1:{ns_port}", f"127.0.0.1:{ctl_port}"


def start_controller_broker(jars: Jars, home: Path, *, namesrv: str, controller_addr: str, cluster: str,
                            name: str) -> tuple[JavaProcess, str]:
    """A broker whose role the controllers decide (brokerId -1: the controller assigns one)."""
    extra: dict[str, object] = {"enableControllerMode": "true", "controllerAddr": controller_addr,
                                **CONTROLLER_MODE_DEFAULTS, "brokerRole": "SLAVE"}
    return start_broker(jars, home, namesrv=namesrv, cluster=cluster, name=name, broker_id=-1, extra=extra)


def start_proxy(jars: Jars, home: Path, *, namesrv: str, cluster: str) -> tuple[JavaProcess, str]:
    """A proxy with the rmq-proxy.json a Proxy pod gets (resources/proxy.py), on free loopback ports."""
    remoting, grpc = free_port(), free_port()
    home.mkdir(parents=True, exist_ok=True)
    proxy = {"metadata": {"name": "p", "namespace": "t"},
             "spec": {"size": 1, "proxyImage": "x", "clusterName": cluster}}
    config = {**from_proxy(proxy, name_server_address=namesrv).config, "remotingListenPort": remoting,
              "grpcServerPort": grpc, "remotingAccessAddr": "127.0.0.1"}
    conf = home / "rmq-proxy.json"
    conf.write_text(json.dumps(config))
    proc = JavaProcess(jars, name=f"proxy:{remoting}", main=PROXY_MAIN, heap=PROXY_HEAP, home=home,
                       args=["-pc", str(conf), "-pm", "cluster"], boot_marker="startup successfully")
    return proc, f"127.0.0.1:{remoting}"
