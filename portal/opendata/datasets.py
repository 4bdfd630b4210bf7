"""The open datasets: what each download holds, documented field by field, and its rows.

Each dataset is a tuple of `Field`s. The same tuple names the CSV columns, the JSON keys and
the rows of the documentation table on /open-data, so the three cannot drift apart.

The cases dataset is anonymised by construction: it is built from codes, counts, flags and
the month a case came in, and from nothing else. No column reads a free-text field (not even
the Front-reviewed text), a reporter's or business's identity, an address, an exact time,
the date of the events reported, or a member of staff. Nor a reporter's rating: one rating is
one person's verdict, published only within a count of at least `MIN_RATINGS` (10), on the
scoreboard. Nor, for a case the Front has not forwarded, the agency it accuses.

Rows are produced a batch at a time, continued from the last row of the previous batch
(never OFFSET), and the database connection is handed back between batches: a download of a
million cases holds one batch in memory and no connection while the client reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal import stats
from portal.agency.figures import MIN_RATINGS
from portal.deadlines import hanoi_date
from portal.models import Agency, Answer, Case, CaseEvent
from portal.stats import Period
from portal.vocab import DeadlineStage

BATCH_SIZE = 1000

# What a person reads in the "type" column of the documentation.
TEXT = _l("text")
CODE = _l("code")
INTEGER = _l("integer")
NUMBER = _l("number")
MONTH = _l("month (YYYY-MM)")
YES_NO = _l("yes / no (true / false in JSON)")


@dataclass(frozen=True)
class Field:
    name: str  # the CSV column and the JSON key
    type: Any  # a lazy string from above
    meaning: Any  # a lazy string: what the value says, and how it is counted


# -- anonymised cases ---------------------------------------------------------------------------


CASE_FIELDS: tuple[Field, ...] = (
    Field("reference", CODE, _l("The case number, as in PA26-0000123. A published case has its "
                                "answer at /answers/ followed by its number.")),
    Field("month_received", MONTH, _l("The month the report came in, Hanoi time.")),
    Field("agency_code", CODE, _l("The agency that holds the case or held it last; empty while "
                                  "the Front has not forwarded the case to an agency.")),
    Field("agency_name", TEXT, _l("That agency's official name, in Vietnamese.")),
    Field("agency_kind", CODE, _l("That agency's kind: city_committee, department, city_body, "
                                  "commune_committee or commune_body.")),
    Field("reported_agency_code", CODE, _l("The agency named in the report (it differs from "
                                           "agency_code when the case was transferred); empty "
                                           "while the Front has not forwarded the case.")),
    Field("conduct", CODE, _l("The conduct reported: shirking, buck_passing, slow_handling, "
                              "overlap, omission, harassment, attitude or other.")),
    Field("sector", CODE, _l("The sector: land, investment, construction, justice, health, "
                             "education, transport, environment, social_welfare, "
                             "business_registration, tax_finance, culture or other.")),
    Field("ward_code", INTEGER, _l("The code of the commune or ward where the problem arose "
                                   "(2025 codes); empty when not given or outside Hanoi.")),
    Field("status", CODE, _l("The case's state now: submitted, needs_info, rejected, merged, "
                             "forwarded, in_progress, transfer_requested, answered, disputed, "
                             "resolved or closed.")),
    Field("forwarded_on_time", YES_NO, _l("Whether the Front forwarded the report to an agency "
                                          "within its review deadline; empty if never "
                                          "forwarded.")),
    Field("acknowledged_on_time", YES_NO, _l("Whether every agency that received the case "
                                             "acknowledged it by its deadline; empty if none "
                                             "has.")),
    Field("answered_on_time", YES_NO, _l("Whether every answer of the agencies came by the "
                                         "deadline it was due (working days, Vietnamese "
                                         "public holidays excluded); empty if none has.")),
    Field("transfer_requests", INTEGER, _l("How many times an agency asked to transfer the case "
                                           "to another agency.")),
    Field("transfers", INTEGER, _l("How many of those requests the Front approved.")),
    Field("ping_pong", YES_NO, _l("Whether the case came back to an agency that had already "
                                  "held it (A → B → A).")),
    Field("outcome", CODE, _l("The outcome of the answer the Front accepted: substantiated, "
                              "partly or not_substantiated; empty without one.")),
    Field("published", YES_NO, _l("Whether the answer is among the published answers.")),
)

# The actions that do the work of a stage, and the stage whose deadline they meet or miss.
_COMPLETIONS = {"forward": DeadlineStage.TRIAGE, "acknowledge": DeadlineStage.ACKNOWLEDGE,
                "answer": DeadlineStage.ANSWER}
_FLAG_OF = {"forward": "forwarded_on_time", "acknowledge": "acknowledged_on_time",
            "answer": "answered_on_time"}


def deadline_flags(events: list[tuple[str, datetime, dict]]) -> dict[str, Any]:
    """The on-time flags and transfer counts of one case, from its events in order.

    Each deadline an event set (`due_stage`, `due_on` in its data) is the one in force until
    another of its stage replaces it; an action of the stage (forward, acknowledge, answer) on
    or before that Hanoi day met it, after it missed it. A flag is yes when every such action
    met its deadline, no when any missed it, and empty when none happened. The clock stops
    while the Front waits for the reporter: the reporter's answer sets a later deadline.
    """
    due: dict[str, date] = {}
    flags: dict[str, Any] = dict.fromkeys(_FLAG_OF.values())
    requests = transfers = 0
    for action, created_at, data in events:
        stage = _COMPLETIONS.get(action)
        if stage is not None and stage in due:
            met = hanoi_date(created_at) <= due[stage]
            name = _FLAG_OF[action]
            flags[name] = met if flags[name] is None else flags[name] and met
        if action == "request_transfer":
            requests += 1
        elif action == "approve_transfer":
            transfers += 1
        if data and data.get("due_on") and data.get("due_stage"):
            due[data["due_stage"]] = date.fromisoformat(data["due_on"])
    return {**flags, "transfer_requests": requests, "transfers": transfers}


def _agencies(session: Session) -> dict[int, tuple[str, str, str]]:
    """Every agency's code, name and kind: a few hundred rows, loaded once per download."""
    return {row.id: (row.code, row.name, row.kind)
            for row in session.execute(select(Agency.id, Agency.code, Agency.name, Agency.kind))}


def _case_batch(session: Session, period: Period, sector: str | None,
                after: tuple[datetime, int] | None, size: int) -> list:
    conditions = [Case.created_at >= period.starts, Case.created_at < period.ends]
    if sector:
        conditions.append(Case.sector == sector)
    if after is not None:
        moment, last_id = after
        # The first condition alone lets the index on created_at find where to continue.
        conditions += [Case.created_at >= moment,
                       or_(Case.created_at > moment, and_(Case.created_at == moment,
                                                          Case.id > last_id))]
    # Columns, not entities: nothing collects in the session's identity map.
    return session.execute(
        select(Case.id, Case.created_at, Case.agency_id, Case.assigned_agency_id, Case.conduct,
               Case.sector, Case.ward_code, Case.status, Case.ping_pong,
               Case.published_at.is_not(None).label("published"))
        .where(*conditions).order_by(Case.created_at, Case.id).limit(size)
    ).all()


def case_records(session: Session, period: Period, sector: str | None = None,
                 size: int = BATCH_SIZE) -> Iterator[dict[str, Any]]:
    """One dict per case received in the period, keys as `CASE_FIELDS`, oldest first."""
    agencies = _agencies(session)
    after = None
    while True:
        cases = _case_batch(session, period, sector, after, size)
        if not cases:
            return
        ids = [row.id for row in cases]
        events: dict[int, list] = {}
        for row in session.execute(
                select(CaseEvent.case_id, CaseEvent.action, CaseEvent.created_at, CaseEvent.data)
                .where(CaseEvent.case_id.in_(ids)).order_by(CaseEvent.case_id, CaseEvent.seq)):
            events.setdefault(row.case_id, []).append((row.action, row.created_at, row.data))
        outcomes = dict(session.execute(
            select(Answer.case_id, Answer.outcome)
            .where(Answer.case_id.in_(ids), Answer.review == "accepted").order_by(Answer.id)
        ).all())
        after = (cases[-1].created_at, cases[-1].id)
        # Hand the connection back while the client reads this batch.
        session.close()
        for row in cases:
            # Until the Front forwards a case, the agency it names is only an accusation (the
            # Front may reject it): no agency is published for it, not even the one reported.
            forwarded = row.assigned_agency_id is not None
            code, name, kind = (agencies.get(row.assigned_agency_id, (None,) * 3) if forwarded
                                else (None,) * 3)
            yield {
                "reference": f"PA{row.created_at:%y}-{row.id:07d}",
                "month_received": f"{hanoi_date(row.created_at):%Y-%m}",
                "agency_code": code,
                "agency_name": name,
                "agency_kind": kind,
                "reported_agency_code": (agencies.get(row.agency_id, (None,))[0] if forwarded
                                         else None),
                "conduct": row.conduct,
                "sector": row.sector,
                "ward_code": row.ward_code,
                "status": row.status,
                **deadline_flags(events.get(row.id, [])),
                "ping_pong": bool(row.ping_pong),
                "outcome": outcomes.get(row.id),
                "published": bool(row.published),
            }
        if len(cases) < size:
            return


# -- the scoreboard -----------------------------------------------------------------------------


SCOREBOARD_FIELDS: tuple[Field, ...] = (
    Field("period_from", MONTH, _l("The first month of the period.")),
    Field("period_to", MONTH, _l("The last month of the period.")),
    Field("sector", CODE, _l("The one sector the figures count (codes as in the cases file); "
                             "empty for every sector.")),
    Field("agency_code", CODE, _l("The agency's code.")),
    Field("agency_name", TEXT, _l("The agency's official name, in Vietnamese.")),
    Field("agency_name_en", TEXT, _l("The agency's name in English; empty where it has none.")),
    Field("agency_kind", CODE, _l("The agency's kind: city_committee, department, city_body, "
                                  "commune_committee or commune_body.")),
    Field("rank", INTEGER, _l("1 for the best among the agencies of the same kind, by the share "
                              "of answers on time, then satisfaction; equal records share a "
                              "rank (1, 1, 3); empty for an agency with fewer than %(n)d "
                              "answers in the period.", n=stats.MIN_ANSWERS)),
    Field("ranked", INTEGER, _l("How many agencies of the same kind have a rank.")),
    Field("received", INTEGER, _l("Times a case was given to the agency in the period: "
                                  "forwarded by the Front or transferred from another agency.")),
    Field("open_now", INTEGER, _l("Cases the agency holds now, in every sector, whatever the "
                                  "period.")),
    Field("overdue_now", INTEGER, _l("Of those, the cases waiting past their deadline for the "
                                     "agency to acknowledge or answer them.")),
    Field("answered", INTEGER, _l("Answers the agency gave in the period.")),
    Field("answered_on_time", INTEGER, _l("Of those, the answers given by the deadline each was "
                                          "due, in working days.")),
    Field("on_time_percent", NUMBER, _l("answered_on_time as a share of answered, in %, to one "
                                        "decimal; empty without answers.")),
    Field("median_days", INTEGER, _l("The median number of working days from the day the agency "
                                     "received a case to its answer (60 means 60 or more); "
                                     "empty without answers.")),
    Field("p90_days", INTEGER, _l("The 90th percentile of those working days: nine answers in "
                                  "ten came within it (60 means 60 or more); empty without "
                                  "answers.")),
    Field("transfers_requested", INTEGER, _l("Times the agency asked to pass a case to another "
                                             "agency, saying it was not competent.")),
    Field("transfers_refused", INTEGER, _l("Of those requests, the ones the Front refused.")),
    Field("ping_pong", INTEGER, _l("Times a case came back to the agency after it had been passed "
                                   "on (A → B → A).")),
    Field("answers_returned", INTEGER, _l("Answers of the agency the Front sent back as "
                                          "insufficient.")),
    Field("disputes", INTEGER, _l("Times a reporter disputed an answer of the agency the Front "
                                  "had accepted.")),
    Field("reopened", INTEGER, _l("Of the answers returned, those returned after a reporter's "
                                  "dispute.")),
    Field("ratings", INTEGER, _l("Reporters' ratings of the agency's closed cases.")),
    Field("satisfied", INTEGER, _l("Of those, the ratings of 4 or 5 out of 5 overall; empty "
                                   "below %(n)d ratings.", n=MIN_RATINGS)),
    Field("satisfaction_percent", NUMBER, _l("satisfied as a share of ratings, in %%, to one "
                                             "decimal; empty below %(n)d ratings.",
                                             n=MIN_RATINGS)),
    Field("satisfaction_low", NUMBER, _l("The lower end of the 95 %% Wilson interval of that "
                                         "share, in %%; empty below %(n)d ratings.",
                                         n=MIN_RATINGS)),
    Field("satisfaction_high", NUMBER, _l("The upper end of that interval, in %%; empty below "
                                          "%(n)d ratings.", n=MIN_RATINGS)),
)

_SCOREBOARD_COUNTS = ("received", "open_now", "overdue_now", "answered", "answered_on_time",
                      "median_days", "p90_days", "transfers_requested", "transfers_refused",
                      "ping_pong", "answers_returned", "disputes", "reopened", "ratings")


def _one_decimal(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def scoreboard_records(session: Session, period: Period,
                       sector: str | None = None) -> Iterator[dict[str, Any]]:
    """One dict per agency, keys as `SCOREBOARD_FIELDS`, in the scoreboard's order.

    Read from the aggregates that the stats-refresh job keeps current (`portal.stats`): two
    queries, whatever the number of cases.
    """
    rows = stats.scoreboard(session, period.since, period.until, sector)
    session.close()
    for row in rows:
        yield {
            "period_from": f"{period.since:%Y-%m}",
            "period_to": f"{period.until:%Y-%m}",
            "sector": sector,
            "agency_code": row.code,
            "agency_name": row.name,
            "agency_name_en": row.name_en,
            "agency_kind": row.kind,
            "rank": row.rank,
            "ranked": row.ranked,
            **{name: getattr(row, name) for name in _SCOREBOARD_COUNTS},
            # Below MIN_RATINGS, as satisfaction itself: with one rating, it would be that rating.
            "satisfied": row.satisfied if row.ratings >= MIN_RATINGS else None,
            "on_time_percent": _one_decimal(row.on_time),
            "satisfaction_percent": _one_decimal(row.satisfaction),
            "satisfaction_low": _one_decimal(row.satisfaction_low),
            "satisfaction_high": _one_decimal(row.satisfaction_high),
        }


# -- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str  # the file name without its extension
    title: Any
    description: Any
    fields: tuple[Field, ...]
    records: Callable[[Session, Period, str | None], Iterator[dict[str, Any]]]


DATASETS: dict[str, Dataset] = {
    "scoreboard": Dataset(
        "scoreboard", _l("The agency scoreboard"),
        _l("One row per agency: its figures over the period, as on the scoreboard."),
        SCOREBOARD_FIELDS, scoreboard_records),
    "cases": Dataset(
        "cases", _l("Anonymised cases"),
        _l("One row per report received in the period, oldest first: where it went, how it "
           "was handled and how it ended. No text of the report or the answer, no personal "
           "details, no exact dates."),
        CASE_FIELDS, case_records),
}
