"""A fake RocketMQ deployment of many small clusters on loopback, for bench_observer.py (bench code only).

One process, one asyncio event loop, one listening socket per endpoint, so its CPU is never counted as
the operator's. Cluster ``i`` has two name servers and two groups of two brokers; every endpoint has its
own loopback address (name servers ``127.2.x.y``, brokers ``127.1.x.y``; nothing outside 127.0.0.0/8,
never 127.0.0.1) and a port the kernel picks, so nothing collides with another process on this machine.

What each endpoint answers, in the remoting protocol's frames (the project's own codec):

* name server: GET_BROKER_CLUSTER_INFO with its cluster's brokers (fastjson's integer keys);
* broker: GET_BROKER_RUNTIME_INFO (a table of the keys a 5.3 broker reports, realistic size),
  GET_BROKER_CONFIG (``key=value`` lines, about the size of a real broker's) and UPDATE_BROKER_CONFIG
  (its ``namesrvAddr`` is kept, so a push is read back);
* anything else: REQUEST_CODE_NOT_SUPPORTED.

A *dead* broker accepts the connection and reads the request but never answers, so a client waits for
its request timeout. Brokers start with a stale ``namesrvAddr``: the first observation pushes the right one.

Control, one line each on stdin: ``dead FRACTION SEED`` (that fraction of brokers, chosen at random,
stop answering; the others answer again), ``stats`` (requests served, CPU seconds of this process),
``quit``. Each is answered by one JSON line on stdout. The first line on stdout is the layout::

    {"clusters": [{"name": "c0", "name_servers": [...], "brokers": [[group, member, addr], ...]}, ...]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time

from rocketmq_operator.rocketmq.protocol import (
    LENGTH_PREFIX,
    FrameError,
    RemotingCommand,
    RequestCode,
    ResponseCode,
    decode_payload,
    encode,
    frame_length,
)

GROUPS, MEMBERS = 2, 2
STALE_NAMESRV = "127.0.0.1:9876"
RUNTIME_KEYS = (
    "msgPutTotalYesterdayMorning", "msgPutTotalTodayMorning", "msgPutTotalTodayNow",
    "msgGetTotalYesterdayMorning", "msgGetTotalTodayMorning", "msgGetTotalTodayNow",
    "sendThreadPoolQueueSize", "sendThreadPoolQueueCapacity",
    "pullThreadPoolQueueSize", "pullThreadPoolQueueCapacity", "litePullThreadPoolQueueSize",
    "litePullThreadPoolQueueCapacity", "queryThreadPoolQueueSize", "queryThreadPoolQueueCapacity",
    "ackThreadPoolQueueSize", "ackThreadPoolQueueCapacity", "dispatchBehindBytes", "pageCacheLockTimeMills",
    "earliestMessageTimeStamp", "startAcceptSendRequestTimeStamp", "remainTransientStoreBufferNumbs",
    "remainHowManyDataToCommit", "remainHowManyDataToFlush", "commitLogDirCapacity", "consumeQueueDiskRatio",
    "commitLogDiskRatio", "commitLogMinOffset", "runtime", "bootTimestamp", "getFoundTps", "getMissTps",
    "getTotalTps", "putMessageDistributeTime", "putMessageSizeTotal", "putMessageTimesTotal",
    "putMessageEntireTimeMax", "putMessageAverageSize", "getMessageEntireTimeMax", "putLatency", "brokerId",
    "timerReadBehind", "timerOffsetBehind", "timerCongestNum", "timerEnqueueTps", "timerDequeueTps",
    "EndTransactionQueueSize", "EndTransactionThreadPoolQueueCapacity",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueHeadWaitTimeMills", "queryThreadPoolQueueHeadWaitTimeMills",
)
CONFIG_LINES = 220  # a 5.3 broker's GET_BROKER_CONFIG lists a little over 200 properties


def addr_of(net: int, index: int, port: int) -> str:
    return f"127.{net}.{index // 254}.{1 + index % 254}" + ("" if port < 0 else f":{port}")


class Endpoint(asyncio.Protocol):
    """One connection to a name server or broker: frames in, precomputed answers out."""

    def __init__(self, server: FakeDeployment, key: tuple[str, int, int]) -> None:
        self.server, self.key, self.buf = server, key, bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= LENGTH_PREFIX:
            try:
                length = frame_length(bytes(self.buf[:LENGTH_PREFIX]))
            except FrameError:
                self.transport.close()
                return
            if len(self.buf) < LENGTH_PREFIX + length:
                return
            payload = bytes(self.buf[LENGTH_PREFIX:LENGTH_PREFIX + length])
            del self.buf[:LENGTH_PREFIX + length]
            answer = self.server.answer(self.key, decode_payload(payload))
            if answer is not None:
                self.transport.write(answer)


class FakeDeployment:
    def __init__(self, clusters: int) -> None:
        self.clusters = clusters
        self.addrs: dict[tuple[str, int, int], str] = {}
        self.namesrv: dict[str, str] = {}  # broker addr → its namesrvAddr
        self.dead: set[str] = set()
        self.served = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for i in range(self.clusters):
            for n in range(2):
                await self._listen(loop, ("ns", i, n), addr_of(2, 2 * i + n, -1))
            for b in range(GROUPS * MEMBERS):
                await self._listen(loop, ("broker", i, b), addr_of(1, GROUPS * MEMBERS * i + b, -1))
        for key, addr in self.addrs.items():
            if key[0] == "broker":
                self.namesrv[addr] = STALE_NAMESRV

    async def _listen(self, loop, key: tuple[str, int, int], host: str) -> None:
        server = await loop.create_server(lambda: Endpoint(self, key), host, 0, backlog=64)
        self.addrs[key] = f"{host}:{server.sockets[0].getsockname()[1]}"

    def layout(self) -> dict:
        clusters = []
        for i in range(self.clusters):
            brokers = [[b // MEMBERS, b % MEMBERS, self.addrs[("broker", i, b)]]
                       for b in range(GROUPS * MEMBERS)]
            clusters.append({"name": f"c{i}", "name_servers": [self.addrs[("ns", i, n)] for n in range(2)],
                             "brokers": brokers})
        return {"clusters": clusters}

    def answer(self, key: tuple[str, int, int], request: RemotingCommand) -> bytes | None:
        addr = self.addrs[key]
        if addr in self.dead:
            return None
        self.served += 1
        code, body, remark = ResponseCode.SUCCESS, b"", None
        if key[0] == "ns" and request.code == RequestCode.GET_BROKER_CLUSTER_INFO:
            body = self._cluster_info(key[1])
        elif key[0] == "broker" and request.code == RequestCode.GET_BROKER_RUNTIME_INFO:
            body = self._runtime_info(key)
        elif key[0] == "broker" and request.code == RequestCode.GET_BROKER_CONFIG:
            body = self._config(key, addr)
        elif key[0] == "broker" and request.code == RequestCode.UPDATE_BROKER_CONFIG:
            for line in request.body.decode("latin-1").splitlines():
                name, _, value = line.partition("=")
                if name == "namesrvAddr":
                    self.namesrv[addr] = value.replace("\\:", ":")
        else:
            code, remark = (ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                            f"request type {request.code} not supported")
        return encode(RemotingCommand(code=code, opaque=request.opaque, flag=1, body=body, remark=remark,
                                      language="JAVA"))

    def _cluster_info(self, i: int) -> bytes:
        groups = []
        for g in range(GROUPS):
            addrs = ",".join(f'{m}:"{self.addrs[("broker", i, g * MEMBERS + m)]}"' for m in range(MEMBERS))
            groups.append(f'"broker-{g}":{{"brokerAddrs":{{{addrs}}},"brokerName":"broker-{g}",'
                          f'"cluster":"c{i}","enableActingMaster":false}}')
        names = ",".join(f'"broker-{g}"' for g in range(GROUPS))
        return (f'{{"brokerAddrTable":{{{",".join(groups)}}},'
                f'"clusterAddrTable":{{"c{i}":[{names}]}}}}').encode()

    def _runtime_info(self, key: tuple[str, int, int]) -> bytes:
        member = key[2] % MEMBERS
        offset = 10_000_000 + int(time.time() * 1000) % 1_000_000 - member * 4096
        table = {k: str(1_000 + n) for n, k in enumerate(RUNTIME_KEYS)}
        table.update(brokerVersionDesc="V5_3_3", brokerVersion="479",
                     brokerActive="true" if member == 0 else "false",
                     commitLogMaxOffset=str(offset), putTps="12.5 10.0 9.75", getTransferredTps="7.0 6.5 6.0")
        return json.dumps({"table": table}, separators=(",", ":")).encode()

    def _config(self, key: tuple[str, int, int], addr: str) -> bytes:
        lines = [f"brokerClusterName=c{key[1]}", f"brokerName=broker-{key[2] // MEMBERS}",
                 f"brokerId={key[2] % MEMBERS}", f"namesrvAddr={self.namesrv[addr]}",
                 f"listenPort={addr.rsplit(':', 1)[1]}", "storePathRootDir=/home/rocketmq/store"]
        lines += [f"brokerProperty{n:03d}={'true' if n % 3 else 1000 * n}"
                  for n in range(CONFIG_LINES - len(lines))]
        return ("\n".join(lines) + "\n").encode()

    def command(self, line: str) -> dict:
        words = line.split()
        if words[:1] == ["dead"]:
            fraction, seed = float(words[1]), int(words[2])
            brokers = sorted(a for k, a in self.addrs.items() if k[0] == "broker")
            self.dead = set(random.Random(seed).sample(brokers, round(fraction * len(brokers))))
            return {"dead": sorted(self.dead)}
        if words[:1] == ["stats"]:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return {"served": self.served, "cpu": usage.ru_utime + usage.ru_stime}
        return {"error": f"unknown command {line!r}"}


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard > soft):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else needed, hard))


async def main(clusters: int) -> None:
    raise_fd_limit(clusters * 12 + 1024)
    deployment = FakeDeployment(clusters)
    await deployment.start()
    print(json.dumps(deployment.layout()), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            break
        print(json.dumps(deployment.command(line)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    asyncio.run(main(parser.parse_args().clusters))
