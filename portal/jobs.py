"""Background jobs, and the one list of the jobs that run on a schedule.

A job function takes ids or nothing, never objects: an RQ worker receives it by name in
another process, perhaps after a restart. It opens its own session (and an app context
when it runs outside one), and is safe to run twice.

Where the periodic jobs run:
- with `REDIS_URL` (production), RQ's cron (`rq cron portal.cron`) enqueues each of
  `PERIODIC_JOBS` on its queue at its interval, and `rq` workers run them
  (`rq worker --worker-class portal.jobs.Worker notifications maintenance exports`);
- without it (the embedded default, `make run`), `init_app` starts a daemon thread in one
  process of the host that serves requests and runs them there on their intervals.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

import click
from flask import Flask, current_app, has_app_context
from flask.helpers import get_debug_flag
from rq import Worker as RQWorker
from werkzeug.serving import is_running_from_reloader

log = logging.getLogger(__name__)


# The queues, in the order of urgency a worker takes them:
# `rq worker --worker-class portal.jobs.Worker notifications maintenance exports`.
QUEUES = ("notifications", "maintenance", "exports")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    # A dotted path rather than the function: RQ enqueues by name, workers import it.
    function: str
    interval: timedelta
    queue: str = "maintenance"


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("deadline-sweep", "portal.jobs.run_deadline_sweep", timedelta(minutes=15)),
    # Hands out what changes made outside a request (the sweep) queued, what waited while Redis
    # or the mail server was down, and retries.
    PeriodicJob("outbox-relay", "portal.jobs.relay_outbox", timedelta(minutes=1),
                queue="notifications"),
    PeriodicJob("prune-sign-in-failures", "portal.jobs.prune_sign_in_failures",
                timedelta(hours=1)),
    PeriodicJob("prune-rate-limit-hits", "portal.jobs.prune_rate_limit_hits", timedelta(hours=1)),
    # The scoreboard's monthly aggregates and snapshots (portal.stats): this month and the last.
    PeriodicJob("stats-refresh", "portal.jobs.refresh_stats", timedelta(minutes=10)),
    # Evidence files left in quarantine (Redis was down, a worker died): scanned in batches.
    PeriodicJob("scan-quarantine", "portal.jobs.scan_quarantine", timedelta(minutes=1)),
)


def resolve(path: str) -> Callable[[], Any]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# -- the jobs ---------------------------------------------------------------------------------


# Set in a process that runs jobs for RQ: it never starts the embedded runner of its own.
_job_process = False


@cache
def _worker_app() -> Flask:
    """The app of a process that has none, such as an RQ worker: built once per process."""
    global _job_process
    from portal import create_app

    _job_process = True
    app = create_app()
    app.extensions["built_in_pid"] = os.getpid()
    return app


@contextmanager
def _app_context() -> Iterator[Flask]:
    if has_app_context():
        yield current_app._get_current_object()
        return
    app = _worker_app()
    if app.extensions.get("built_in_pid") != os.getpid():
        # A work horse forked from the worker that built the app: connections are this
        # process's own, never ones inherited from the parent (SQLAlchemy's rule for fork).
        app.extensions["db_engine"].dispose(close=False)
        app.extensions.pop("redis", None)
        app.extensions["built_in_pid"] = os.getpid()
    with app.app_context():
        yield app


class Worker(RQWorker):
    """`rq worker --worker-class portal.jobs.Worker`: the portal is loaded once, before forking.

    RQ forks a work horse for every job. With the plain `rq worker` each horse imports the
    portal and builds the app anew, most of a second a job; this worker builds it once at
    start (no connection is opened) and every horse starts from it. Settings are read at
    start, so restart the workers when they change.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _worker_app()


def run_deadline_sweep() -> dict[str, Any]:
    """Escalate overdue cases and close ended rating windows (moderation.sweep)."""
    from moderation.sweep import sweep
    from portal.db import new_session

    with _app_context():
        session = new_session()
        try:
            return sweep(session).as_dict()
        finally:
            session.close()


def relay_outbox(rounds: int = 20) -> int:
    """Hand out what is due in the outbox: to the workers with Redis, delivered here without."""
    from portal import outbox

    handed = 0
    with _app_context():
        for _ in range(rounds):
            count = outbox.relay()
            handed += count
            if not count:
                break
    return handed


def deliver_outbox_message(message_id: int) -> bool:
    """The job an `rq` worker runs for one outbox row (enqueued by the relay)."""
    from portal import outbox

    with _app_context():
        return outbox.deliver(message_id)


def refresh_stats() -> dict[str, Any]:
    """Recompute the public figures of the current and previous months, and the snapshots."""
    from portal import stats
    from portal.db import new_session

    with _app_context():
        session = new_session()
        try:
            return stats.refresh(session).as_dict()
        finally:
            session.close()


def scan_attachment(attachment_id: int) -> str:
    """Check one quarantined evidence file (portal.quarantine.scan): its status afterwards."""
    from portal import quarantine

    with _app_context():
        return quarantine.scan(attachment_id)


def scan_quarantine(batch: int = 50) -> int:
    """Scan the quarantined files that waited longer than they should have; how many."""
    from portal import quarantine

    with _app_context():
        return quarantine.scan_waiting(batch)


def prune_sign_in_failures() -> int:
    """Forget failed sign-ins once they no longer count towards any throttle."""
    from sqlalchemy import delete

    from portal.auth.service import WINDOW
    from portal.db import session_scope, utcnow
    from portal.models import SignInFailure

    with _app_context(), session_scope() as session:
        return session.execute(delete(SignInFailure).where(
            SignInFailure.created_at < utcnow() - WINDOW)).rowcount


def prune_rate_limit_hits() -> int:
    """Forget the anonymous side's rate-limit hits once they no longer count (portal.abuse)."""
    from portal import abuse
    from portal.db import session_scope

    with _app_context(), session_scope() as session:
        return abuse.prune_hits(session)


# -- where they run ---------------------------------------------------------------------------


class EmbeddedRunner:
    """Runs the periodic jobs on their intervals in a daemon thread of this process."""

    # The first run waits a little, so a server that is starting serves its first pages first.
    FIRST_DELAY = 5.0
    # How often a runner that does not hold the lock checks whether the holder went away.
    LOCK_RETRY = 60.0

    def __init__(self, app: Flask, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS,
                 clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.jobs = jobs
        self.clock = clock
        start = clock() + self.FIRST_DELAY
        self.next_run = {job.name: start for job in jobs}
        self.stopping = threading.Event()
        self._lock_file: IO[str] | None = None
        self.thread = threading.Thread(target=self._loop, name="portal-periodic-jobs",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def run_due(self) -> list[str]:
        """Run each job whose time has come; one failing job does not stop the others."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            if now < self.next_run[job.name]:
                continue
            self.next_run[job.name] = now + job.interval.total_seconds()
            try:
                with self.app.app_context():
                    resolve(job.function)()
            except Exception:
                log.exception("periodic job %s failed; it runs again in %s", job.name, job.interval)
            ran.append(job.name)
        return ran

    def _loop(self) -> None:
        while not self.stopping.is_set():
            if self._hold_lock():
                self.run_due()
                wait = max(0.0, min(self.next_run.values()) - self.clock())
            else:
                wait = self.LOCK_RETRY
            self.stopping.wait(wait)

    def _hold_lock(self) -> bool:
        """Whether this process is the one that runs the jobs (gunicorn starts several).

        A lock on a file of the instance folder, held for the life of the process: when that
        process ends, the lock goes with it and another process takes over. Without POSIX
        locks (Windows) every process runs the jobs, which they survive (each is safe to run
        twice).
        """
        if self._lock_file is not None:
            return True
        try:
            import fcntl
        except ImportError:
            return True
        path = Path(self.app.instance_path) / "periodic-jobs.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True


def serves_requests() -> bool:
    """Whether this process is a server: not a CLI command, nor the reloader's watching parent.

    `flask db upgrade`, `flask seed demo`, `flask deadlines sweep` also build the app; a job
    thread there would race the command (a sweep during a migration). Under `flask run
    --reload`, the parent only watches files and restarts the child that serves.
    """
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return True  # imported by a WSGI server such as gunicorn
    context = click.get_current_context(silent=True)
    if context is None or context.info_name != "run":
        return False
    reload = context.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    return not reload or is_running_from_reloader()


def embedded_jobs_wanted(app: Flask) -> bool:
    settings = app.config["PORTAL_SETTINGS"]
    if settings.environment == "test" or app.testing:
        return False  # tests run jobs themselves, when they want them
    if _job_process:
        return False  # an `rq` worker: it runs the jobs it is given, and only those
    if settings.redis_url:
        return False  # `rq cron portal.cron` enqueues them for the `rq` workers
    return serves_requests()


def init_app(app: Flask) -> None:
    app.extensions["periodic_jobs"] = None
    if not embedded_jobs_wanted(app):
        return
    runner = EmbeddedRunner(app)
    runner.start()
    app.extensions["periodic_jobs"] = runner
