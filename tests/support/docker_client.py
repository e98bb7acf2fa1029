#!/usr/bin/env python3
"""Drives docker-credential-biganimal through the ``docker`` package from PyPI.

The ``docker`` package (docker-py) runs credential helpers with its own client code:
``docker.credentials.Store`` starts ``docker-credential-NAME`` from PATH, and
``docker.auth.AuthConfig`` resolves a registry through ``credHelpers`` the way the SDK
does before a pull. This script performs one operation and prints one JSON object on
stdout, so a test can check what that client received.

Usage::

    python3 tests/support/docker_client.py version
    python3 tests/support/docker_client.py get SERVER
    python3 tests/support/docker_client.py list
    python3 tests/support/docker_client.py erase SERVER
    python3 tests/support/docker_client.py resolve REGISTRY CONFIG_JSON

Output: ``{"result": ...}`` on success, ``{"error": CLASS, "message": TEXT}`` when the
client raised one of its credential errors. Exit status 0 in both cases; any other
exception is a failure of this script.
"""

from __future__ import annotations

import json
import sys

import docker
from docker import auth, credentials

HELPER = "biganimal"


def run(arguments: list[str]) -> object:
    operation, *rest = arguments
    store = credentials.Store(HELPER)
    if operation == "version":
        return docker.__version__
    if operation == "get":
        return store.get(rest[0])
    if operation == "list":
        return store.list()
    if operation == "erase":
        store.erase(rest[0])
        return None
    if operation == "resolve":
        config = auth.load_config(config_dict=json.loads(rest[1]))
        return config.resolve_authconfig(rest[0])
    raise SystemExit(f"unknown operation {operation!r}")


def main() -> int:
    try:
        result = {"result": run(sys.argv[1:])}
    except credentials.StoreError as error:
        result = {"error": type(error).__name__, "message": str(error)}
    except docker.errors.DockerException as error:
        result = {"error": type(error).__name__, "message": str(error)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
