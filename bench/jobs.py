"""A job for the `rq` worker that runs one of the portal's periodic jobs and says what it cost.

RQ forks a work horse for every job and the horse exits at the end, so its peak memory can
only be read from inside: `measured` runs the real job (by its dotted path, as `rq cron`
enqueues it) and returns its result with the time it took and the horse's peak RSS.
"""

from __future__ import annotations

import resource
import time
from typing import Any


def measured(path: str) -> dict[str, Any]:
    from portal.jobs import resolve

    started = time.perf_counter()
    result = resolve(path)()
    return {
        "job": path,
        "result": result,
        "seconds": round(time.perf_counter() - started, 3),
        # Linux: kilobytes. The horse is forked from the worker, so this counts the pages it
        # shares with it too: the peak of the process as `ps` would show it.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
