"""Real RocketMQ 5 high-availability servers for the tests: a Raft group of controllers, brokers in controller
mode, a proxy in cluster mode. Built on rmq_servers (same ports, homes, small heaps, bounded starts).

The controllers' keys, the brokers' controller-mode keys and the proxy's configuration are the ones the
operator writes in the pods (resources/controllers.py, resources/brokerconf.py, resources/proxy.py), with
loopback addresses instead of pod names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rmq_servers import Jars, JavaProcess, _write_conf, free_port, start_broker

from rocketmq_operator.resources.brokerconf import CONTROLLER_MODE_DEFAULTS

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


def start_controllers(jars: Jars, home: Path, *, size: int = 3) -> Controllers:
    """``size`` controllers in one Raft group (each listens for brokers and admins on its peer port)."""
    ports = [free_port() for _ in range(size)]
    peers = ";".join(f"n{i}-127.0.0.1:{port}" for i, port in enumerate(ports))
    group = Controllers([f"127.0.0.1:{port}" for port in ports])
    for i, port in enumerate(ports):
        member_home = home / f"controller-{i}"
        conf = _write_conf(member_home, "controller.conf", {
            "controllerDLegerGroup": CONTROLLER_GROUP,
            "controllerDLegerPeers": peers,
            "controllerDLegerSelfId": f"n{i}",
            "controllerStorePath": member_home / "store",
            "mappedFileSize": 4 * 1024 * 1024,
            "listenPort": free_port(),
            "scanNotActiveBrokerInterval": 2000,
        })
        group.processes.append(JavaProcess(jars, name=f"controller n{i}:{port}", main=CONTROLLER_MAIN,
                                           heap=CONTROLLER_HEAP, home=member_home, args=["-c", str(conf)],
                                           boot_marker="boot success"))
    return group


def start_controller_broker(jars: Jars, home: Path, *, namesrv: str, controller_addr: str, cluster: str,
                            name: str) -> tuple[JavaProcess, str]:
    """A broker whose role the controllers decide (brokerId -1: the controller assigns one)."""
    extra: dict[str, object] = {"enableControllerMode": "true", "controllerAddr": controller_addr,
                                **CONTROLLER_MODE_DEFAULTS, "brokerRole": "SLAVE"}
    return start_broker(jars, home, namesrv=namesrv, cluster=cluster, name=name, broker_id=-1, extra=extra)


def start_proxy(jars: Jars, home: Path, *, namesrv: str, cluster: str) -> tuple[JavaProcess, str]:
    """A proxy in cluster mode serving remoting on a free port (its gRPC port on another)."""
    remoting, grpc = free_port(), free_port()
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "rmq-proxy.json"
    conf.write_text(json.dumps({"rocketMQClusterName": cluster, "namesrvAddr": namesrv,
                                "remotingListenPort": remoting, "grpcServerPort": grpc,
                                "remotingAccessAddr": "127.0.0.1"}))
    proc = JavaProcess(jars, name=f"proxy:{remoting}", main=PROXY_MAIN, heap=PROXY_HEAP, home=home,
                       args=["-pc", str(conf), "-pm", "cluster"], boot_marker="startup successfully")
    return proc, f"127.0.0.1:{remoting}"
