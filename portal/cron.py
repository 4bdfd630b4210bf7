"""RQ's cron configuration: `rq cron portal.cron --url $REDIS_URL` enqueues the periodic jobs.

The jobs and their intervals are those of `portal.jobs.PERIODIC_JOBS`; this file only hands
them to RQ. `PORTAL_CRON_SECONDS` overrides every interval (for trying it out, or tests).
"""

from __future__ import annotations

import os

from rq import cron

from portal.jobs import PERIODIC_JOBS, resolve

_override = os.environ.get("PORTAL_CRON_SECONDS")

for job in PERIODIC_JOBS:
    cron.register(resolve(job.function), queue_name=job.queue, name=job.name,
                  interval=int(_override) if _override else int(job.interval.total_seconds()))
