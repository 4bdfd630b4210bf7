"""The tamper-evident record: each case's events form a hash chain.

Each event's hash covers its own fields and the hash of the event before it; the
case keeps the head of the chain and the number of events, so an edited, inserted
or deleted event (the last one included) breaks the chain. A case whose status was
changed behind the lifecycle's back no longer matches its last event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent

GENESIS = "0" * 64


def event_hash(event: CaseEvent) -> str:
    body = {
        "case_id": event.case_id,
        "seq": event.seq,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    case_id: int
    seq: int | None
    problem: str


def verify_case(case: Case, events: list[CaseEvent]) -> list[ChainBreak]:
    breaks = []
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            breaks.append(ChainBreak(case.id, event.seq, f"expected event {expected_seq}"))
            break
        if event.prev_hash != previous:
            breaks.append(ChainBreak(case.id, event.seq, "does not follow the previous event"))
            break
        if event_hash(event) != event.hash:
            breaks.append(ChainBreak(case.id, event.seq, "content does not match its hash"))
            break
        previous = event.hash
    else:
        if len(events) != case.event_count or previous != (case.event_head_hash or GENESIS):
            breaks.append(ChainBreak(case.id, None,
                                     f"the case records {case.event_count} events, "
                                     f"{len(events)} found, or the last one was replaced"))
        elif events and case.status != events[-1].to_status:
            # The row is what pages and queues read: it must say what the intact chain says.
            breaks.append(ChainBreak(case.id, None,
                                     f"the case says {case.status!r}, its last event "
                                     f"{events[-1].to_status!r}"))
    return breaks


def verify_all(session: Session, batch: int = 500) -> Iterator[ChainBreak]:
    """Walk every case in id order, a batch at a time, and yield each broken chain."""
    last_id = 0
    while True:
        # populate_existing: check what the database holds, not what the session loaded before.
        cases = session.scalars(
            select(Case).where(Case.id > last_id).order_by(Case.id).limit(batch)
            .execution_options(populate_existing=True)
        ).all()
        if not cases:
            return
        ids = [c.id for c in cases]
        events: dict[int, list[CaseEvent]] = {i: [] for i in ids}
        for event in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id.in_(ids))
            .order_by(CaseEvent.case_id, CaseEvent.seq)
            .execution_options(populate_existing=True)
        ):
            events[event.case_id].append(event)
        for case in cases:
            yield from verify_case(case, events[case.id])
        last_id = ids[-1]
        session.expunge_all()
