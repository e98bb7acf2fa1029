#!/usr/bin/env python3
"""Git HTTP server that accepts only BigAnimal bearer tokens.

A test runs real git against this server with biganimal-credential as git's credential
helper. The server speaks git's smart HTTP protocol by running ``git http-backend`` as a
CGI program for ``info/refs?service=…`` and ``git-upload-pack``, and serves every other
path as a plain file, which is git's dumb HTTP protocol for a bare repository prepared with
``git update-server-info``. Each request must
carry ``Authorization: Bearer <token>``; the server checks the token with
``GET {emulator}/api/v3/user-info`` on the BigAnimal emulator and caches the verdict for
each token for a few seconds. Any other request gets 401 with
``WWW-Authenticate: Bearer realm="biganimal"``, which makes git ask its credential helpers.

Usage::

    python3 tests/support/git_http.py --emulator http://127.0.0.1:PORT --root DIR \\
        [--git /usr/local/bin/git] [--port 0]

``DIR/NAME.git`` is then served at ``http://127.0.0.1:PORT/NAME.git``. After binding, the
server prints ``http://127.0.0.1:PORT`` as its first stdout line and logs each request
(method, path without query, status; never a header) to stderr. ``GET /_stats`` needs no
token and returns the counters ``accepted``, ``rejected``, ``basic`` (requests that sent
Basic credentials) and ``validations`` (calls made to the emulator). SIGTERM or SIGINT
stops it. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VERDICT_CACHE_SECONDS = 5
VALIDATION_TIMEOUT_SECONDS = 5


class Verdicts:
    """Token checks at the emulator, cached per token, and the request counters."""

    def __init__(self, emulator: str) -> None:
        self.user_info = emulator.rstrip("/") + "/api/v3/user-info"
        self.lock = threading.Lock()
        self.cache: dict[str, tuple[bool, float]] = {}
        self.stats = {"accepted": 0, "rejected": 0, "basic": 0, "validations": 0}

    def count(self, name: str) -> None:
        with self.lock:
            self.stats[name] += 1

    def accepts(self, token: str) -> bool:
        now = time.monotonic()
        with self.lock:
            cached = self.cache.get(token)
        if cached and now - cached[1] < VERDICT_CACHE_SECONDS:
            return cached[0]
        verdict = self.ask_emulator(token)
        with self.lock:
            self.cache[token] = (verdict, now)
        return verdict

    def ask_emulator(self, token: str) -> bool:
        self.count("validations")
        request = urllib.request.Request(self.user_info, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=VALIDATION_TIMEOUT_SECONDS) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError as error:
            print(f"git_http: could not reach the emulator: {error}", file=sys.stderr)
            return False


class Handler(SimpleHTTPRequestHandler):
    """Serves repository files after checking the bearer token."""

    verdicts: Verdicts
    git: str
    root: str

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches on)
        url = urlsplit(self.path)
        if url.path == "/_stats":
            self.send_json(200, self.verdicts.stats)
            return
        if not self.authorized():
            return
        if url.path.endswith("/info/refs") and url.query.startswith("service="):
            self.run_backend(b"")
        else:
            super().do_GET()

    def do_POST(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        if not urlsplit(self.path).path.endswith("/git-upload-pack"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        self.run_backend(self.rfile.read(length))

    def run_backend(self, body: bytes) -> None:
        """Runs ``git http-backend`` as a CGI program and relays its response."""
        url = urlsplit(self.path)
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": self.root,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        result = subprocess.run([self.git, "http-backend"], input=body, env=environment,
                                capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_HEAD(self) -> None:  # noqa: N802
        if self.authorized():
            super().do_HEAD()

    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic":
            self.verdicts.count("basic")
        if scheme.lower() == "bearer" and token and self.verdicts.accepts(token.strip()):
            self.verdicts.count("accepted")
            return True
        self.verdicts.count("rejected")
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="biganimal"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def send_json(self, status: int, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base-class signature)
        # The request line may carry a query; log only the method, the path and the status.
        path = urlsplit(self.path).path
        status = args[1] if len(args) > 1 else "-"
        print(f"git_http: {self.command} {path} {status}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", required=True, help="base URL of the BigAnimal emulator")
    parser.add_argument("--root", required=True, help="directory that holds the bare repositories")
    parser.add_argument("--git", default="git", help="git binary that runs http-backend")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    arguments = parser.parse_args()

    Handler.verdicts = Verdicts(arguments.emulator)
    Handler.git = arguments.git
    Handler.root = os.path.abspath(arguments.root)
    handler = partial(Handler, directory=arguments.root)
    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
