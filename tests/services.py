"""What the tests that start real processes share (tests/test_rq.py, tests/e2e/stack.py)."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEADLINE = 30.0


class ServiceError(RuntimeError):
    """A service the test needs is missing, did not start, or did not do what was awaited."""


def executable(name: str) -> str:
    """A program the tests need: next to this Python (the virtualenv), or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ServiceError(f"{name} is not installed: these tests need a real {name} "
                           "(`make install` brings gunicorn and rq; redis-server comes from the "
                           "system's packages)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE,
             context: Callable[[], str] = lambda: "") -> Any:
    """Poll `check` until it returns something true; raise, saying what, at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ServiceError(f"waited {timeout:.0f} s for {what}{context()}")
        time.sleep(0.05)
