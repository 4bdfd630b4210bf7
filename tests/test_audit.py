"""The tamper-evident record: every case's events form a hash chain that `audit verify` checks.

Tampering is done the way an intruder with database access would do it: raw SQL, behind the
portal's back.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, text

from portal import audit
from portal.audit import GENESIS, event_hash
from portal.models import Case, CaseEvent
from portal.vocab import CaseStatus

S = CaseStatus


@pytest.fixture
def cases(factory, session) -> list[Case]:
    """Cases with chains of 1 to 6 events, committed."""
    built = [factory.case_in(status) for status in
             (S.SUBMITTED, S.NEEDS_INFO, S.IN_PROGRESS, S.ANSWERED, S.DISPUTED, S.CLOSED)]
    session.commit()
    assert [c.event_count for c in built] == [1, 2, 3, 4, 6, 6]
    return built


def broken(session, **options) -> list[audit.ChainBreak]:
    return list(audit.verify_all(session, **options))


def raw(session, sql: str, **params) -> None:
    result = session.execute(text(sql), params)
    assert result.rowcount == 1
    session.commit()


def test_healthy_chains_verify(session, cases):
    assert broken(session) == []
    assert broken(session, batch=2) == []


def test_every_event_is_chained_to_the_one_before(session, cases):
    case = cases[-1]
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                             .order_by(CaseEvent.seq)).all()
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    assert all(event_hash(e) == e.hash for e in events)
    assert case.event_head_hash == events[-1].hash


@pytest.mark.parametrize("edit", [
    "reason = 'Không có gì xảy ra.'",
    "action = 'escalate'",
    "to_status = 'closed'",
    "actor_kind = 'system'",
    "data = '{\"agency_id\": 1}'",
])
def test_an_edited_event_breaks_its_case(session, cases, edit):
    victim = cases[3]
    raw(session, "UPDATE case_events SET " + edit + " WHERE case_id = :c AND seq = 2",  # noqa: S608
        c=victim.id)
    found = broken(session)
    assert [(b.case_id, b.seq) for b in found] == [(victim.id, 2)]
    assert "hash" in found[0].problem


def test_an_edited_time_breaks_its_case(session, cases):
    victim = cases[2]
    raw(session, "UPDATE case_events SET created_at = :t WHERE case_id = :c AND seq = 3",
        t=datetime(2020, 1, 1, 8, 0), c=victim.id)
    assert [(b.case_id, b.seq) for b in broken(session)] == [(victim.id, 3)]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(session, cases):
    """An intruder who knows the formula rehashes the edited event: the next one no longer follows."""
    victim = cases[3]
    event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == victim.id,
                                                    CaseEvent.seq == 2)).one()
    event.reason = "Đã sửa."
    forged = event_hash(event)
    session.rollback()
    raw(session, "UPDATE case_events SET reason = 'Đã sửa.', hash = :h WHERE case_id = :c AND seq = 2",
        h=forged, c=victim.id)
    assert [(b.case_id, b.seq) for b in broken(session)] == [(victim.id, 3)]


def test_a_deleted_middle_event_breaks_its_case(session, cases):
    victim = cases[4]
    raw(session, "DELETE FROM case_events WHERE case_id = :c AND seq = 3", c=victim.id)
    found = broken(session)
    assert [b.case_id for b in found] == [victim.id]
    assert found[0].seq == 4  # the event found where the third was expected


def test_a_deleted_last_event_breaks_its_case(session, cases):
    victim = cases[1]
    raw(session, "DELETE FROM case_events WHERE case_id = :c AND seq = 2", c=victim.id)
    found = broken(session)
    assert [(b.case_id, b.seq) for b in found] == [(victim.id, None)]


def test_a_deleted_only_event_breaks_its_case(session, cases):
    victim = cases[0]
    raw(session, "DELETE FROM case_events WHERE case_id = :c", c=victim.id)
    assert [b.case_id for b in broken(session)] == [victim.id]


def _insert(session, case: Case, seq: int, prev_hash: str, hash_: str | None) -> None:
    event = CaseEvent(case_id=case.id, seq=seq, created_at=datetime(2026, 11, 30, 9, 0),
                      actor_kind="system", actor_id=None, action="escalate",
                      from_status=case.status, to_status=case.status, reason=None,
                      data={"step": "head"}, prev_hash=prev_hash)
    hash_ = hash_ or event_hash(event)
    session.execute(text(
        "INSERT INTO case_events (case_id, seq, created_at, actor_kind, actor_id, action, "
        "from_status, to_status, reason, data, prev_hash, hash) VALUES "
        "(:case_id, :seq, :created_at, 'system', NULL, 'escalate', :status, :status, NULL, "
        "'{\"step\": \"head\"}', :prev_hash, :hash)"),
        {"case_id": case.id, "seq": seq, "created_at": event.created_at, "status": case.status,
         "prev_hash": prev_hash, "hash": hash_})
    session.commit()


def test_an_inserted_event_with_a_forged_hash_breaks_its_case(session, cases):
    victim = cases[2]
    _insert(session, victim, victim.event_count + 1, victim.event_head_hash, "f" * 64)
    assert [(b.case_id, b.seq) for b in broken(session)] == [(victim.id, victim.event_count + 1)]


def test_an_appended_event_with_a_correct_hash_still_breaks_the_head(session, cases):
    """Chained properly to the last event, but the case's head does not know it."""
    victim = cases[2]
    _insert(session, victim, victim.event_count + 1, victim.event_head_hash, None)
    assert [(b.case_id, b.seq) for b in broken(session)] == [(victim.id, None)]


def test_a_broken_case_is_found_in_any_batch(session, cases):
    victim = cases[4]
    raw(session, "UPDATE case_events SET reason = 'x' WHERE case_id = :c AND seq = 1", c=victim.id)
    for batch in (1, 2, 4, 500):
        assert [b.case_id for b in broken(session, batch=batch)] == [victim.id]


def test_every_broken_case_is_reported(session, cases):
    first, second = cases[1], cases[5]
    raw(session, "UPDATE case_events SET reason = 'x' WHERE case_id = :c AND seq = 1", c=first.id)
    raw(session, "DELETE FROM case_events WHERE case_id = :c AND seq = 6", c=second.id)
    assert [b.case_id for b in broken(session, batch=2)] == [first.id, second.id]


# -- the command ------------------------------------------------------------------------------------

def test_the_command_passes_a_healthy_database(runner, session, cases):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_the_command_fails_and_names_the_tampered_case(runner, session, cases):
    victim = cases[3]
    raw(session, "UPDATE case_events SET reason = 'Không có gì.' WHERE case_id = :c AND seq = 2",
        c=victim.id)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert f"case {victim.id}, event 2" in result.output
    assert "1 broken event chain" in result.output
    for other in cases:
        if other is not victim:
            assert f"case {other.id}," not in result.output


def test_the_check_reads_the_database_not_what_the_session_holds(session, cases):
    victim = cases[3]
    held = session.scalars(select(CaseEvent).where(CaseEvent.case_id == victim.id)).all()
    assert session.get(Case, victim.id) is victim
    raw(session, "UPDATE case_events SET reason = 'x' WHERE case_id = :c AND seq = 2", c=victim.id)
    raw(session, "UPDATE cases SET event_count = 9 WHERE id = :c", c=cases[0].id)
    assert len(held) == 4 and held[1].reason != "x"  # the session still holds the old rows
    assert [(b.case_id, b.seq) for b in broken(session)] == [(cases[0].id, None), (victim.id, 2)]


def test_a_status_changed_behind_the_chain_is_reported(runner, session, cases):
    """The events are untouched, but the row everyone reads says something the record never did."""
    victim = cases[2]  # in progress
    raw(session, "UPDATE cases SET status = 'closed' WHERE id = :c", c=victim.id)
    found = broken(session)
    assert [(b.case_id, b.seq) for b in found] == [(victim.id, None)]
    assert "'closed'" in found[0].problem and "'in_progress'" in found[0].problem
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert f"case {victim.id}," in result.output
    assert "1 broken event chain" in result.output
