"""The portal as it runs in production, on loopback, for the browser tests.

A fresh PostgreSQL database (migrated, seeded with Hanoi's agencies), a redis-server of the
tests' own on a free port, an SMTP server (aiosmtpd) that keeps what it is sent, gunicorn
serving `app:app` with PORTAL_ENV=production, and one `rq worker` with the portal's worker
class on every queue, as the README runs it. Every process is ended at the end, whatever
happens; every wait polls with a deadline and says what it waited for.

Production settings over plain http work because Chromium treats http://127.0.0.1 as a
secure origin: it keeps and sends the portal's Secure session cookie there, and ignores
HSTS on an address. BASE_URL (used only in emails) must still be https:// in production.
"""

from __future__ import annotations

import email
import os
import socket
import subprocess
import threading
import urllib.request
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.services import ServiceError, executable, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "e2e-secret-key-that-is-long-enough-0123456789abcdef"


class StackError(ServiceError):
    """A service of the stack did not start or did not answer in time."""


class Inbox:
    """The SMTP server's handler: every message it accepted."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]


class Stack:
    """Starts the services in order and stops them in the reverse order."""

    def __init__(self, folder: Path, database_url: str):
        self.folder = folder
        self.database_url = database_url
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.inbox = Inbox()
        self.smtp: Controller | None = None
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.web_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "PYTHONPATH": str(ROOT),
            "PORTAL_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis_url,
            "MAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "UPLOAD_DIR": str(folder / "uploads"),
            "BASE_URL": "https://portal.example.org",
        }

    # -- processes ------------------------------------------------------------------------

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process, log))
        return process

    def _alive(self, name: str, process: subprocess.Popen) -> None:
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        return "".join(f"\n--- {log.name}\n{log.read_text(errors='replace')[-tail:]}"
                       for _, _, log in self.processes if log.exists())

    def start(self) -> None:
        redis = self._start("redis", [
            executable("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)])

        def redis_up() -> bool:
            self._alive("redis-server", redis)
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    return conn.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(redis_up, f"redis-server on port {self.redis_port}", timeout=10)

        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

        web = self._start("gunicorn", [
            executable("gunicorn"), "--workers", "2", "--threads", "4",
            "--bind", f"127.0.0.1:{self.web_port}", "--graceful-timeout", "5", "app:app"])
        self._start("rq-worker", [
            executable("rq"), "worker", "--worker-class", "portal.jobs.Worker",
            "notifications", "maintenance", "exports", "--url", self.redis_url])

        def web_up() -> bool:
            self._alive("gunicorn", web)
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=2) as response:  # noqa: S310
                    return response.status == 200
            except OSError:
                return False

        wait_for(web_up, f"gunicorn on {self.base_url}", context=self.logs)

    def check_alive(self) -> None:
        for name, process, _ in self.processes:
            self._alive(name, process)

    def stop(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)
        self.processes.clear()
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    # -- jobs -----------------------------------------------------------------------------

    def run_job(self, function: str, queue: str = "maintenance", timeout: float = 60) -> Any:
        """Enqueue a job as `rq cron portal.cron` would, and wait for the worker to finish it."""
        from redis import Redis
        from rq import Queue

        with Redis.from_url(self.redis_url) as connection:
            job = Queue(queue, connection=connection).enqueue(function, job_timeout=300)

            def finished() -> bool:
                status = job.get_status(refresh=True)
                if status in ("failed", "stopped", "canceled"):
                    raise StackError(f"the job {function} {status}{self.logs()}")
                return status == "finished"

            wait_for(finished, f"the worker to run {function}", timeout=timeout,
                     context=self.logs)
            return job.return_value()
