"""CPU per request of the API client's direct HTTP road (kube/transport.py's DirectHttp), against a raw
HTTP/1.1 server in another process on 127.0.0.1 answering every GET with the same JSON object (Content-Length
or chunked). Prints microseconds of this process's CPU per request (user + system), and requests per second.

    .venv/bin/python bench/bench_http.py [--requests 20000] [--body-bytes 2048]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import time


def serve(port_queue, body: bytes, chunked: bool) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port_queue.put(listener.getsockname()[1])
    if chunked:
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    else:
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
    conn, _ = listener.accept()
    stream = conn.makefile("rb")
    while True:
        line = stream.readline()
        if not line:
            return
        if line == b"\r\n":
            conn.sendall(answer)


def main() -> None:
    from kubernetes.client import ApiClient, Configuration

    from rocketmq_operator.kube import Transport

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--body-bytes", type=int, default=2048)
    args = parser.parse_args()
    body = json.dumps({"kind": "ConfigMap", "data": {"k": "v" * max(0, args.body_bytes - 40)}}).encode()
    for chunked in (False, True):
        ports: multiprocessing.Queue = multiprocessing.Queue()
        server = multiprocessing.Process(target=serve, args=(ports, body, chunked), daemon=True)
        server.start()
        configuration = Configuration(host=f"http://127.0.0.1:{ports.get(timeout=10)}")
        configuration.api_key = {"authorization": "Bearer t0ken"}
        direct = Transport(ApiClient(configuration))._direct
        assert direct is not None
        for _ in range(500):  # warm up
            direct.exchange("GET", "/api/v1/namespaces/ns/configmaps/cm", timeout=(10.0, 60.0))
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.requests):
            direct.exchange("GET", "/api/v1/namespaces/ns/configmaps/cm", timeout=(10.0, 60.0))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server.kill()
        framing = "chunked" if chunked else "Content-Length"
        print(f"direct HTTP GET, {len(body)}-byte body ({framing}): "
              f"{cpu / args.requests * 1e6:.1f} µs CPU per request, {args.requests / wall:.0f} requests/s")


if __name__ == "__main__":
    main()
