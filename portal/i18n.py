"""Languages: Vietnamese first, English second. The choice is kept in the session."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, redirect, request, session
from flask_babel import get_locale

from portal.extensions import babel
from portal.models import Agency

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "vi"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def agency_name(agency: Agency) -> str:
    """The agency's name in the language of the page: its English name where it has one."""
    if agency.name_en and str(get_locale()) == "en":
        return agency.name_en
    return agency.name


def switch_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(app.root_path + "/translations"))
    app.add_url_rule("/lang/<code>", "switch_language", switch_language)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = select_locale
    app.jinja_env.globals["agency_name"] = agency_name
    from flask_babel import format_date, format_datetime

    from portal import vocab
    from portal.deadlines import today

    app.jinja_env.globals.update(
        format_date=format_date,
        format_datetime=format_datetime,
        today=today,
        labels={
            "status": vocab.STATUS_LABELS,
            "conduct": vocab.CONDUCT_LABELS,
            "sector": vocab.SECTOR_LABELS,
            "stage": vocab.DEADLINE_STAGE_LABELS,
            "outcome": vocab.OUTCOME_LABELS,
            "reject_reason": vocab.REJECT_REASON_LABELS,
            "event": vocab.EVENT_LABELS,
            "deadline_state": vocab.DEADLINE_STATE_LABELS,
            "action": vocab.ACTION_LABELS,
            "agency_action": vocab.AGENCY_ACTION_LABELS,
            "status_short": vocab.STATUS_SHORT_LABELS,
            "decision": vocab.DECISION_LABELS,
            "actor_kind": vocab.ACTOR_KIND_LABELS,
            "reporter_kind": vocab.REPORTER_KIND_LABELS,
        },
    )
