"""Background work on RQ, shown with real services: nothing is lost and nothing is done twice.

Each test starts its own `redis-server` on a free port (so it can stop and restart it), a
real SMTP server on loopback (aiosmtpd), and real `rq worker` / `rq cron` processes, which
build the portal from the same environment as the test's app (conftest `_environ`) and share
its database. The test's own app is pointed at the same Redis and SMTP server, so the relay
it runs hands rows to those workers.

Every process is killed at the end of its test, whatever happens; every wait polls with a
deadline. Without `redis-server` (or aiosmtpd) these tests fail: they are never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import io
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from rq import Queue
from rq.cron import get_cron_job_ids
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from portal import create_app, jobs, outbox
from portal.db import utcnow
from portal.deadlines import today
from portal.models import Case, CaseEvent, OutboxMessage
from portal.vocab import CaseStatus
from tests.conftest import _environ
from tests.services import DEADLINE, executable, free_port, wait_for
from tests.test_citizen import CODE, ReportPage

pytestmark = pytest.mark.real_services

ROOT = Path(__file__).resolve().parent.parent
# Short, so that a test sees a lease end and a retry come due; the lease is also each
# delivery job's RQ timeout, so it leaves time for a work horse to build the app.
LEASE = 5
RETRY = 2


def stays(check: Callable[[], bool], what: str, seconds: float = 1.0) -> None:
    """`check` holds now and for the next `seconds`: nothing late changes the outcome."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.1)


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (Linux: read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            children.append(int(stat.parent.name))
    return children + [grandchild for child in children for grandchild in descendants(child)]


# -- the services -------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own, without persistence, that the test stops and restarts."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = folder / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self._client: Redis | None = None

    def ping(self) -> bool:
        """Whether it answers, asked over a plain socket (redis-py retries for seconds)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [executable("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}:\n"
                            + self.log.read_text(errors="replace")[-2000:])
            return self.ping()

        wait_for(up, f"redis-server on port {self.port}", timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._client is not None:
            self._client.close()
        assert not self.ping()

    def client(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        return self._client


class Inbox:
    """What the SMTP server accepted. It can hold the first message's DATA until released,
    then refuse it, as a server that hangs in the middle of a delivery and then drops it."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.hold_first = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.hold_first and not self.holding.is_set():
            self.holding.set()
            deadline = time.monotonic() + DEADLINE
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return "451 4.3.0 Held, then refused: nothing was accepted"
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


class MailServer:
    """An SMTP server on loopback (aiosmtpd), on a port fixed up front: down until started."""

    def __init__(self):
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.inbox.release.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Processes:
    """`rq worker` and `rq cron` processes, each in a process group of its own."""

    def __init__(self, folder: Path, env: dict[str, str], redis_url: str):
        self.folder, self.env, self.redis_url = folder, env, redis_url
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def rq(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.folder / f"rq-{len(self.started)}-{args[0]}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [executable("rq"), *args, "--url", self.redis_url],
                env={**self.env, **(env or {})}, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((process, log))
        return process

    def worker(self, *queues: str, burst: bool = True, plain: bool = False) -> subprocess.Popen:
        """`rq worker` as the README runs it: with the portal's worker class (which loads the
        portal once rather than in every work horse), or `plain`, RQ's own."""
        return self.rq("worker", *(queues or ("notifications", "maintenance")),
                       *([] if plain else ["--worker-class", "portal.jobs.Worker"]),
                       *(["--burst"] if burst else []))

    def finish(self, process: subprocess.Popen) -> None:
        """Wait for a burst worker to empty its queues and stop."""
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the rq worker did not finish within {DEADLINE:.0f} s{self.logs()}")
        assert process.returncode == 0, self.logs()

    def kill(self, process: subprocess.Popen) -> list[int]:
        """SIGKILL a worker and the work horse it forked (which RQ puts in a process group of
        its own), the worker first so that it cannot react: both die cleaning up nothing."""
        family = [process.pid, *descendants(process.pid)]
        for pid in family:
            with contextlib.suppress(ProcessLookupError):  # exited already
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        return family

    def kill_all(self) -> None:
        for process, _ in self.started:
            self.kill(process)

    def logs(self) -> str:
        return "".join(f"\n--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                       for _, log in self.started if log.exists())


@dataclasses.dataclass
class Stack:
    app: Any
    session: Any
    redis: RedisServer
    mail: MailServer
    processes: Processes

    def relay(self) -> int:
        """The periodic relay, run here as `rq cron` would have a worker run it."""
        with self.app.app_context():
            return jobs.relay_outbox()

    def rows(self) -> list[OutboxMessage]:
        # A fresh snapshot, and no stale copy of a row: other processes changed them.
        self.session.rollback()
        self.session.expire_all()
        return list(self.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def queue(self, name: str = "notifications") -> Queue:
        return Queue(name, connection=self.redis.client())

    def mails(self, count: int) -> list[EmailMessage]:
        """Wait until the SMTP server has accepted `count` messages; fail on more."""
        wait_for(lambda: self.mail.inbox.count() >= count, f"{count} email(s) at the SMTP server",
                 context=self.processes.logs)
        stays(lambda: self.mail.inbox.count() == count, f"exactly {count} email(s), no more")
        return list(self.mail.inbox.messages)

    def context(self) -> str:
        return self.processes.logs()


@pytest.fixture
def stack(app, session, database_url, tmp_path):
    """Redis and an SMTP server of the test's own; the app and any rq process use both."""
    redis, mail = RedisServer(tmp_path), MailServer()
    env = {
        "PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "PYTHONPATH": str(ROOT),
        **_environ(database_url, tmp_path),
        "REDIS_URL": redis.url, "MAIL_URL": mail.url,
        "OUTBOX_LEASE_SECONDS": str(LEASE), "OUTBOX_RETRY_SECONDS": str(RETRY),
    }
    app.config["PORTAL_SETTINGS"] = dataclasses.replace(
        app.config["PORTAL_SETTINGS"], redis_url=redis.url, mail_url=mail.url,
        outbox_lease_seconds=LEASE, outbox_retry_seconds=RETRY)
    app.config.update(OUTBOX_LEASE_SECONDS=LEASE, OUTBOX_RETRY_SECONDS=RETRY)
    processes = Processes(tmp_path, env, redis.url)
    try:
        redis.start()
        mail.start()
        yield Stack(app, session, redis, mail, processes)
    finally:
        processes.kill_all()
        mail.stop()
        redis.stop()
        client = app.extensions.pop("redis", None)
        if client is not None:
            client.close()


def body(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


# -- a. Redis down while a report is made --------------------------------------------------------


def test_a_report_made_while_redis_is_down_is_received_and_mailed_once_redis_is_back(
        stack, client, factory, session):
    stack.redis.stop()

    page = ReportPage(client, factory)
    response = page.send(reporter_kind="resident", business_name=None, tax_code=None,
                         reporter_email="an.resident@example.org")
    assert response.status_code == 303
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    code = CODE.search(receipt).group(1)  # the reporter has the receipt and the code

    session.rollback()
    case = session.scalars(select(Case)).one()
    assert case.status == CaseStatus.SUBMITTED and case.reporter_email == "an.resident@example.org"
    [row] = stack.rows()
    assert (row.kind, row.status, row.attempts) == ("receipt", "pending", 0)
    assert row.payload == {"case_id": case.id}
    assert stack.relay() == 0  # Redis still down: the relay leaves the row as it was
    assert stack.rows()[0].status == "pending"

    stack.redis.start()
    assert stack.relay() == 1
    [row] = stack.rows()
    assert row.status == "queued"
    assert stack.queue().job_ids == [f"outbox-{row.id}-0"]
    stack.processes.finish(stack.processes.worker(plain=True))  # RQ's own worker does it too

    [message] = stack.mails(1)
    assert message["To"] == "an.resident@example.org"
    assert case.reference in message["Subject"] and code in body(message)
    [row] = stack.rows()
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 0

    # Asking again changes nothing: the row is sent, the relay finds nothing, no second email.
    assert stack.relay() == 0
    with stack.app.app_context():
        assert outbox.hand_out([row.id]) == 0
    stack.processes.finish(stack.processes.worker())
    assert len(stack.mails(1)) == 1


# -- b. a worker killed in the middle of a job ---------------------------------------------------


def test_a_worker_killed_in_the_middle_of_a_delivery_is_replaced_and_one_email_arrives(
        stack, factory, session):
    stack.mail.inbox.hold_first = True
    case, _ = factory.report(reporter_email="killed@example.org")
    session.commit()
    assert stack.relay() == 1

    worker = stack.processes.worker(burst=False)
    wait_for(stack.mail.inbox.holding.is_set, "the worker to reach the mail server's DATA",
             context=stack.context)
    [row] = stack.rows()
    assert row.status == "sending" and row.attempts == 0  # claimed by the worker, mid-job
    killed = stack.processes.kill(worker)
    assert len(killed) == 2, killed  # the worker and its work horse, which held the job
    assert worker.returncode == -signal.SIGKILL
    stack.mail.inbox.release.set()  # the held connection is refused: nothing was delivered
    assert stack.mail.inbox.count() == 0

    # The dead worker's claim holds until its lease ends; then the relay hands the row out again.
    assert stack.relay() == 0
    assert stack.rows()[0].status == "sending"
    wait_for(lambda: stack.relay() == 1, "the relay to hand the row out once the lease ended",
             timeout=LEASE + DEADLINE)
    job_id = f"outbox-{row.id}-0"
    assert stack.queue().job_ids == [job_id]
    assert stack.queue().fetch_job(job_id).get_status() == "queued"  # a fresh job, not the dead one

    stack.processes.finish(stack.processes.worker())
    [message] = stack.mails(1)
    assert message["To"] == "killed@example.org" and case.reference in message["Subject"]
    [row] = stack.rows()
    assert row.status == "sent" and row.attempts == 0
    assert stack.relay() == 0
    # RQ keeps no trace of the killed run that its cleanup could later blame on the new job.
    assert FailedJobRegistry("notifications", connection=stack.redis.client()).count == 0


# -- c. the mail server down ---------------------------------------------------------------------


def test_a_mail_server_that_is_down_means_retries_then_one_email(stack, factory, session):
    stack.mail.stop()
    case, _ = factory.report(reporter_email="patient@example.org")
    session.commit()
    assert stack.relay() == 1

    before = utcnow()
    stack.processes.finish(stack.processes.worker())
    after = utcnow()
    [row] = stack.rows()
    assert row.status == "pending" and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    # Retried after the backoff (OUTBOX_RETRY_SECONDS for a first failure), not at once.
    assert before + timedelta(seconds=RETRY) <= row.next_attempt_at <= after + timedelta(seconds=RETRY)
    if utcnow() < row.next_attempt_at - timedelta(seconds=0.5):
        assert stack.relay() == 0
    assert stack.mail.inbox.count() == 0

    stack.mail.start()
    wait_for(lambda: stack.relay() == 1, "the relay to hand the row out after the backoff")
    assert stack.queue().job_ids == [f"outbox-{row.id}-1"]  # the job id names the attempt
    stack.processes.finish(stack.processes.worker())

    [message] = stack.mails(1)
    assert message["To"] == "patient@example.org" and case.reference in message["Subject"]
    [row] = stack.rows()
    assert row.status == "sent" and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error  # kept: what the row went through


# -- d. two relays at once -----------------------------------------------------------------------


def test_two_relays_at_once_enqueue_each_row_once_and_one_email_per_row(stack, factory, session):
    addresses = [f"reporter{i}@example.org" for i in range(4)]
    for address in addresses:
        factory.report(reporter_email=address)
    session.commit()
    ids = [row.id for row in stack.rows()]
    assert len(ids) == len(addresses)

    start = threading.Barrier(2, timeout=DEADLINE)
    handed: list[int] = []
    errors: list[BaseException] = []

    def relay(both_ways: bool) -> None:
        try:
            with stack.app.app_context():
                start.wait()
                # One relay selects what is due, the other is handed the very same rows.
                handed.append(outbox.hand_out(ids) if both_ways else jobs.relay_outbox())
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=relay, args=(i == 0,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE)
    assert not any(thread.is_alive() for thread in threads) and not errors, errors
    assert sum(handed) == len(ids)  # between them, each row was handed out once

    queue = stack.queue()
    assert sorted(queue.job_ids) == sorted(f"outbox-{i}-0" for i in ids)
    assert queue.count == len(ids)
    assert {row.status for row in stack.rows()} == {"queued"}
    assert stack.relay() == 0

    stack.processes.finish(stack.processes.worker())
    messages = stack.mails(len(addresses))
    assert sorted(m["To"] for m in messages) == sorted(addresses)
    assert {row.status for row in stack.rows()} == {"sent"}


# -- e. the deadline sweep on schedule -----------------------------------------------------------


def test_the_deadline_sweep_runs_on_schedule_with_nobody_starting_it(stack, factory, session):
    case = factory.case_in(CaseStatus.FORWARDED)
    case.due_on = today() - timedelta(days=30)  # weeks past the agency's deadline
    session.commit()
    assert case.escalation_level == 0

    stack.processes.rq("cron", "portal.cron", env={"PORTAL_CRON_SECONDS": "1"})
    stack.processes.worker("notifications", "maintenance", burst=False)

    def escalated() -> bool:
        session.rollback()
        session.refresh(case)
        return case.escalation_level > 0

    wait_for(escalated, "the scheduled sweep to escalate the overdue case", context=stack.context)
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.action == "escalate")).all()
    assert events and all(e.actor_kind == "system" for e in events)

    # On schedule, again and again: RQ's cron keeps enqueuing the sweep at its interval.
    redis = stack.redis.client()
    wait_for(lambda: len(get_cron_job_ids("deadline-sweep", redis)) >= 3,
             "the sweep to be enqueued at each interval", context=stack.context)
    # And the relay on the same schedule delivers what the sweep wrote to the outbox.
    def escalations_sent() -> bool:
        rows = [row for row in stack.rows() if row.kind == "escalation"]
        return bool(rows) and all(row.status == "sent" for row in rows)

    wait_for(escalations_sent, "the escalation emails to be sent", context=stack.context)
    assert stack.mail.inbox.count() >= 1


# -- f. evidence files scanned by a worker -------------------------------------------------------


def test_evidence_waits_in_quarantine_until_a_worker_scans_it_even_after_redis_was_down(
        stack, client, factory, session):
    from portal.models import Attachment
    from tests.test_citizen import photo_with_location

    def report() -> Attachment:
        response = ReportPage(client, factory).send(
            files=[(io.BytesIO(photo_with_location()), "ảnh hiện trường.jpg")])
        assert response.status_code == 303
        client.get(response.headers["Location"])  # the receipt: this browser follows the case
        session.rollback()
        return session.scalars(select(Attachment).order_by(Attachment.id.desc())).first()

    def url(item: Attachment) -> str:
        return f"/track/{session.get(Case, item.case_id).reference}/files/{item.id}"

    # Redis down: the report is filed all the same, and its photo waits in quarantine.
    stack.redis.stop()
    left = report()
    assert left.status == "quarantined"
    stack.redis.start()
    # Redis up: the scan is queued once the response has gone out, named after the attachment.
    queued = report()
    assert queued.status == "quarantined"
    maintenance = stack.queue("maintenance")
    assert maintenance.job_ids == [f"scan-attachment-{queued.id}"]
    assert client.get(url(queued)).status_code == 404  # not served before the scan
    assert client.get(url(left)).status_code == 404

    # `rq cron` enqueues the catch-up, which takes what waited longer than its grace period.
    left.created_at -= timedelta(minutes=5)
    session.commit()
    maintenance.enqueue("portal.jobs.scan_quarantine")
    stack.processes.finish(stack.processes.worker("maintenance"))

    session.rollback()
    session.expire_all()
    for item in (left, queued):
        assert (item.status, item.refusal) == ("clean", None), stack.context()
        served = client.get(url(item))
        assert served.status_code == 200 and served.data.startswith(b"\xff\xd8\xff")
        assert b"PhoneMaker" not in served.data
    assert FailedJobRegistry("maintenance", connection=stack.redis.client()).count == 0


def test_no_job_thread_in_the_web_process_when_redis_is_configured(tmp_path, monkeypatch,
                                                                   database_url):
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # as gunicorn imports the app
    monkeypatch.setattr(jobs, "_job_process", False)
    environ = {**_environ(database_url, tmp_path), "PORTAL_ENV": "development",
               "REDIS_URL": "redis://127.0.0.1:1/0"}
    runners = sum(t.name == "portal-periodic-jobs" for t in threading.enumerate())
    app = create_app(environ, instance_path=tmp_path / "instance")
    try:
        assert not jobs.embedded_jobs_wanted(app)
        assert app.extensions["periodic_jobs"] is None
        assert sum(t.name == "portal-periodic-jobs" for t in threading.enumerate()) == runners
        # The same app without Redis would run them itself: REDIS_URL is what decides.
        app.config["PORTAL_SETTINGS"] = dataclasses.replace(app.config["PORTAL_SETTINGS"],
                                                            redis_url=None)
        assert jobs.embedded_jobs_wanted(app)
        # Nor in an `rq` worker, whatever its settings: it runs the jobs it is given.
        monkeypatch.setattr(jobs, "_job_process", True)
        assert not jobs.embedded_jobs_wanted(app)
    finally:
        app.extensions["db_engine"].dispose()
