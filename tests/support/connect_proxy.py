#!/usr/bin/env python3
"""A small HTTP CONNECT proxy for tests, listening on 127.0.0.1 only.

It tunnels ``CONNECT host:port`` requests to a loopback port and counts them, so a
test can tell whether the helper went through the proxy. Targets other than
``127.0.0.1``, ``localhost`` and ``::1`` get 403: the proxy never connects
anywhere else. ``GET /_stats`` (origin form, sent to the proxy itself) returns::

    {"connect": N, "targets": ["127.0.0.1:PORT", ...], "proxy_authorization": [...]}

where ``proxy_authorization`` lists the ``Proxy-Authorization`` header of each
CONNECT (empty string when absent). Any other request gets 405.

With ``--require-auth``, a CONNECT without any ``Proxy-Authorization``
header gets 407, as from a proxy that needs credentials; it is counted
in ``rejected``.

Usage: connect_proxy.py [--port N] [--require-auth]

Prints ``http://127.0.0.1:PORT`` as its first stdout line, then serves until
SIGTERM or SIGINT. Uses only the standard library.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import socketserver
import sys
import threading

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Longest time a tunnel may sit idle before it is closed, in seconds.
IDLE_SECONDS = 60
# Largest request head the proxy reads, in bytes.
MAX_HEAD = 64 * 1024


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.targets: list[str] = []
        self.authorizations: list[str] = []
        self.rejected = 0

    def record(self, target: str, authorization: str) -> None:
        with self.lock:
            self.targets.append(target)
            self.authorizations.append(authorization)

    def reject(self) -> None:
        with self.lock:
            self.rejected += 1

    def as_json(self) -> bytes:
        with self.lock:
            return json.dumps({
                "rejected": self.rejected,
                "connect": len(self.targets),
                "targets": list(self.targets),
                "proxy_authorization": list(self.authorizations),
            }).encode()


class ProxyHandler(socketserver.BaseRequestHandler):
    server: "ProxyServer"

    def handle(self) -> None:
        head = self.read_head()
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(parts) == 3 and parts[0] == "CONNECT":
            self.tunnel(parts[1], headers.get("proxy-authorization", ""))
        elif len(parts) == 3 and parts[0] == "GET" and parts[1] == "/_stats":
            self.reply(200, self.server.stats.as_json(), "application/json")
        else:
            self.reply(405, b"only CONNECT is supported\n", "text/plain")

    def read_head(self) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk or len(data) > MAX_HEAD:
                return None
            data += chunk
        return data.split(b"\r\n\r\n", 1)[0]

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        reason = {
            200: "OK",
            403: "Forbidden",
            405: "Method Not Allowed",
            407: "Proxy Authentication Required",
            502: "Bad Gateway",
        }[status]
        self.request.sendall(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )

    def tunnel(self, target: str, authorization: str) -> None:
        if self.server.require_auth and not authorization:
            self.server.stats.reject()
            self.reply(407, b"proxy credentials required\n", "text/plain")
            return
        host, _, port = target.rpartition(":")
        if host not in LOOPBACK_HOSTS or not port.isdigit():
            self.reply(403, b"only loopback targets\n", "text/plain")
            return
        self.server.stats.record(target, authorization)
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        except OSError:
            self.reply(502, b"cannot connect\n", "text/plain")
            return
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with upstream:
            self.relay(upstream)

    def relay(self, upstream: socket.socket) -> None:
        sockets = [self.request, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], IDLE_SECONDS)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is self.request else self.request).sendall(data)


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, require_auth: bool) -> None:
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.stats = Stats()
        self.require_auth = require_auth


def main() -> int:
    parser = argparse.ArgumentParser(description="HTTP CONNECT proxy on 127.0.0.1 that counts tunnels")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument("--require-auth", action="store_true",
                        help="answer 407 to a CONNECT without a Proxy-Authorization header")
    arguments = parser.parse_args()
    server = ProxyServer(arguments.port, arguments.require_auth)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
