"""Redis and RQ: the connection and the queues the portal's jobs go to.

The queue names and the periodic jobs are named once, in `portal.jobs`.
"""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from portal.jobs import QUEUES

# A job still waiting in its queue needs no second copy.
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def configured() -> bool:
    """Whether jobs go to RQ workers (REDIS_URL set) or run in this process (the embedded default)."""
    return bool(current_app.config["PORTAL_SETTINGS"].redis_url)


def connection() -> Redis:
    """One client (and connection pool) per app; short timeouts, so a dead Redis fails fast."""
    redis = current_app.extensions.get("redis")
    if redis is None:
        redis = Redis.from_url(current_app.config["PORTAL_SETTINGS"].redis_url,
                               socket_connect_timeout=2, socket_timeout=5)
        current_app.extensions["redis"] = redis
    return redis


def enqueue(queue: str, function: str, *args, job_id: str, timeout: int = 120) -> Job:
    """Enqueue `function` (a dotted path) by id; a job of that id still waiting is kept as is.

    A job of that id whose run is over, or whose worker died (SIGKILL leaves it "started"
    for ever), is deleted first: the caller asks again because the work is still to do, and
    a fresh job must not inherit the old one's record and registry entries (RQ's cleanup of
    the dead run would later mark the new job failed).
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    redis = connection()
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        pass
    else:
        if job.get_status(refresh=False) in WAITING:
            return job
        job.delete(remove_from_queue=True)
    return Queue(queue, connection=redis).enqueue(
        function, *args, job_id=job_id, job_timeout=timeout, result_ttl=3600,
        failure_ttl=7 * 24 * 3600)
