"""Languages: Vietnamese first, English second. The choice is kept in the session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, redirect, request, session
from flask_babel import get_locale
from flask_babel.speaklater import LazyString
from markupsafe import escape

from portal.extensions import babel
from portal.models import Agency

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}
K = TypeVar("K")


def _escaped_html(self: LazyString) -> str:
    return str(escape(str(self)))


# Flask-Babel's lazy strings declare themselves safe HTML (`__html__` returns the text as is),
# so a message formatted with what a person typed, such as a form error quoting their text or
# a file name, would reach the page unescaped. No message of the portal carries markup: every
# lazy string is escaped like any other text.
LazyString.__html__ = _escaped_html


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


_translated: dict[tuple[int, str], dict] = {}


def translated(labels: Mapping[K, Any]) -> dict[K, str]:
    """A vocabulary's labels read in the language of the page, once per language and process.

    For the module-level vocabularies of `portal.vocab` and their like, which live as long as
    the process: a queue page shows hundreds of labels, and each lazy string read asks Babel
    for the translations again.
    """
    key = (id(labels), str(get_locale()))
    found = _translated.get(key)
    if found is None:
        found = _translated[key] = {value: str(label) for value, label in labels.items()}
    return found


class Labels:
    """`labels.<name>` in templates: the named vocabulary, `translated`."""

    def __init__(self, **vocabularies: Mapping) -> None:
        self._vocabularies = vocabularies

    def __getattr__(self, name: str) -> dict:
        try:
            return translated(self._vocabularies[name])
        except KeyError:
            raise AttributeError(name) from None


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

    from portal import quarantine, vocab
    from portal.deadlines import today

    app.jinja_env.globals.update(
        format_date=format_date,
        format_datetime=format_datetime,
        today=today,
        labels=Labels(
            status=vocab.STATUS_LABELS,
            conduct=vocab.CONDUCT_LABELS,
            sector=vocab.SECTOR_LABELS,
            stage=vocab.DEADLINE_STAGE_LABELS,
            outcome=vocab.OUTCOME_LABELS,
            reject_reason=vocab.REJECT_REASON_LABELS,
            event=vocab.EVENT_LABELS,
            deadline_state=vocab.DEADLINE_STATE_LABELS,
            action=vocab.ACTION_LABELS,
            agency_action=vocab.AGENCY_ACTION_LABELS,
            status_short=vocab.STATUS_SHORT_LABELS,
            decision=vocab.DECISION_LABELS,
            actor_kind=vocab.ACTOR_KIND_LABELS,
            reporter_kind=vocab.REPORTER_KIND_LABELS,
            refusal=quarantine.REFUSAL_LABELS,
        ),
    )
