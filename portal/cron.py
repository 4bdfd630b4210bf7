"""RQ's cron configuration: `rq cron portal.cron --url $REDIS_URL` enqueues the periodic jobs.

The jobs and their intervals are those of `portal.jobs.PERIODIC_JOBS`; this file only hands
them to RQ. `PORTAL_CRON_SECONDS` overrides every interval (for trying it out, or tests).

Run one `rq cron` process (under systemd or supervisor, restarted when it dies). Each job is
safe to run twice, so a second scheduler, or a run that overlaps the next, costs only work.
"""

from __future__ import annotations

import os

from rq import cron

from portal.jobs import PERIODIC_JOBS, resolve

_override = os.environ.get("PORTAL_CRON_SECONDS")

for job in PERIODIC_JOBS:
    seconds = int(job.interval.total_seconds())
    every = int(_override) if _override else seconds
    cron.register(
        resolve(job.function), queue_name=job.queue, name=job.name, interval=every,
        # A run may take its whole interval, and at least 5 minutes (a sweep of a big city).
        job_timeout=max(seconds, 300),
        # A run no worker has started within its interval is dropped: the next one does the
        # same work, so while the workers are down the runs do not pile up in Redis.
        ttl=max(every, 60),
    )
