#!/usr/bin/env python3
"""HTTPS stand-in for a Kubernetes API server that accepts BigAnimal tokens.

A test points kubectl at this server and sets biganimal-credential as the kubeconfig's
exec plugin. Each request must carry ``Authorization: Bearer <token>``. The server checks
the token with ``GET {emulator}/api/v3/user-info`` on the BigAnimal emulator and caches
the result for each token for a few seconds. Other requests get 401 with a Kubernetes
Status object.

Usage::

    python3 tests/support/kube_api.py --emulator http://127.0.0.1:PORT \\
        --cert cert.pem --key key.pem [--port 0]

After binding, it prints ``https://127.0.0.1:PORT`` as its first stdout line and logs
requests (method, path, status, never a token) to stderr. SIGTERM or SIGINT stops it.

Routes: ``GET /version``, ``/api``, ``/apis``, ``/api/v1`` (discovery, which kubectl
reads before ``get namespaces``), ``/api/v1/namespaces`` (one namespace, ``default``) and
``/api/v1/namespaces/default``. ``GET /_stats`` needs no token and returns the counters
``accepted``, ``rejected`` and ``validations`` (calls made to the emulator).

The test makes the certificate. This openssl command writes a self-signed one for
127.0.0.1, valid for one day, that kubectl and curl accept as their CA file::

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
        -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 \\
        -addext subjectAltName=IP:127.0.0.1

Give cert.pem to the client as ``certificate-authority`` in the kubeconfig, or as
``curl --cacert cert.pem``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

log = logging.getLogger("kube-api-stub")

VERDICT_CACHE_SECONDS = 5
VALIDATION_TIMEOUT_SECONDS = 5
# How often serve_forever() checks for shutdown, in seconds. It bounds the stop time.
SHUTDOWN_POLL_SECONDS = 0.1
CREATION_TIMESTAMP = "2025-01-01T00:00:00Z"


def version_document() -> dict:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-stub",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": CREATION_TIMESTAMP,
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions_document(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list_document() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def core_resource_list_document() -> dict:
    namespaces = {
        "name": "namespaces",
        "singularName": "namespace",
        "namespaced": False,
        "kind": "Namespace",
        "verbs": ["get", "list"],
        "shortNames": ["ns"],
    }
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [namespaces]}


def default_namespace_document() -> dict:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": "default",
            "uid": "00000000-0000-4000-8000-000000000001",
            "resourceVersion": "1",
            "creationTimestamp": CREATION_TIMESTAMP,
            "labels": {"kubernetes.io/metadata.name": "default"},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def namespace_list_document() -> dict:
    item = default_namespace_document()
    del item["kind"], item["apiVersion"]
    return {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": [item]}


def status_document(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class TokenValidator:
    """Bearer-token checker that asks the emulator's user-info endpoint and caches each verdict."""

    def __init__(self, emulator_url: str) -> None:
        self.user_info_url = emulator_url.rstrip("/") + "/api/v3/user-info"
        # No proxy: the emulator is on loopback, and a proxy from the environment must not see tokens.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.lock = threading.Lock()
        self.verdicts: dict[str, tuple[bool, float]] = {}
        self.validations = 0

    def is_valid(self, token: str) -> bool:
        now = time.monotonic()
        with self.lock:
            cached = self.verdicts.get(token)
        if cached and cached[1] > now:
            return cached[0]
        verdict = self.ask_emulator(token)
        if verdict is not None:
            with self.lock:
                self.verdicts[token] = (verdict, now + VERDICT_CACHE_SECONDS)
        return bool(verdict)

    def ask_emulator(self, token: str) -> bool | None:
        """Return the emulator's verdict, or None when it could not be reached (not cached)."""
        with self.lock:
            self.validations += 1
        request = urllib.request.Request(self.user_info_url, headers={"Authorization": "Bearer " + token})
        try:
            with self.opener.open(request, timeout=VALIDATION_TIMEOUT_SECONDS) as response:
                response.read()
                return True
        except urllib.error.HTTPError as error:
            error.read()
            if error.code == 401:
                return False
            log.warning("token validation failed: user-info returned HTTP %d", error.code)
            return None
        except OSError as error:
            log.warning("token validation failed: cannot reach %s: %s", self.user_info_url, error)
            return None


class KubeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, validator: TokenValidator, tls: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", port), KubeApiHandler)
        # The TLS handshake runs on the first read, in the request's own thread.
        self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.validator = validator
        self.base_url = f"https://127.0.0.1:{self.server_address[1]}"
        self.counter_lock = threading.Lock()
        self.counters = {"accepted": 0, "rejected": 0}

    def count(self, name: str) -> None:
        with self.counter_lock:
            self.counters[name] += 1

    def stats(self) -> dict:
        with self.counter_lock:
            return dict(self.counters, validations=self.validator.validations)

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        log.warning("connection from %s failed: %s", client_address[0], error)


class KubeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: KubeApiServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_stats":
            self.send_json(200, self.server.stats())
            return
        if not self.is_authenticated():
            self.server.count("rejected")
            self.send_json(401, status_document(401, "Unauthorized", "Unauthorized"))
            return
        self.server.count("accepted")
        document = self.document_for(path)
        if document is None:
            self.send_json(404, status_document(404, "NotFound", f"the server could not find {path}"))
        else:
            self.send_json(200, document)

    def is_authenticated(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.server.validator.is_valid(token)

    def document_for(self, path: str) -> dict | None:
        documents = {
            "/version": version_document,
            "/api": lambda: api_versions_document(self.server.base_url.removeprefix("https://")),
            "/apis": api_group_list_document,
            "/api/v1": core_resource_list_document,
            "/api/v1/namespaces": namespace_list_document,
            "/api/v1/namespaces/default": default_namespace_document,
        }
        build = documents.get(path.rstrip("/") or "/")
        return build() if build else None

    def send_json(self, status: int, document: dict) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if self.command else "-"
        log.info("%s %s %s", self.command or "-", path, code)

    def log_error(self, format: str, *args: object) -> None:
        # The stock messages quote the raw request line, so only their kind is logged.
        log.warning("rejected a malformed or timed-out request from %s", self.client_address[0])


def validate_emulator_url(url: str) -> str:
    """Return the URL if it is plain http on a loopback address. Raises ValueError otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ValueError(f"invalid --emulator {url!r}: expected http:// on a loopback address")
    return url


def serve_until_signal(server: KubeApiServer) -> None:
    """Print the base URL and serve on a background thread until SIGTERM or SIGINT."""
    # The handler only records the signal, because taking a lock there could deadlock
    # with the main thread that it interrupts.
    received: list[str] = []

    def request_stop(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="serve", daemon=True).start()
    print(server.base_url, flush=True)
    log.info("Kubernetes API stub listening on %s", server.base_url)
    while not received:
        time.sleep(SHUTDOWN_POLL_SECONDS)
    log.info("received %s, stopping", received[0])
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTPS Kubernetes API stub that checks tokens with the emulator.")
    parser.add_argument("--emulator", required=True, help="base URL of the BigAnimal emulator")
    parser.add_argument("--cert", required=True, help="PEM server certificate")
    parser.add_argument("--key", required=True, help="PEM private key of the certificate")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one")
    arguments = parser.parse_args(argv)
    try:
        emulator_url = validate_emulator_url(arguments.emulator)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(arguments.cert, arguments.key)
    tls.set_alpn_protocols(["http/1.1"])
    server = KubeApiServer(arguments.port, TokenValidator(emulator_url), tls)
    serve_until_signal(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
