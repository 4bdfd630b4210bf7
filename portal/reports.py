"""Filing a report: the case, its evidence files and its receipt, all or nothing.

The files go to quarantine as sent; once the case is committed their scan is asked for
(portal.quarantine), and only then may anyone download them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import lifecycle, quarantine, uploads
from portal.lifecycle import NewReport
from portal.models import Case
from portal.vocab import ReporterKind


@dataclass
class Filed:
    case: Case | None = None
    code: str | None = None
    duplicate: Case | None = None  # the same form was sent twice: this is the first case


def _optional(value: str | None) -> str | None:
    return value or None


def new_report_from(form, token: str, locale: str) -> NewReport:
    is_resident = form.reporter_kind.data == ReporterKind.RESIDENT
    return NewReport(
        agency_id=form.agency_id.data,
        conduct=form.conduct.data,
        sector=form.sector.data,
        description=form.description.data,
        occurred_on=form.occurred_on.data,
        ward_code=form.ward_code.data,
        address=form.address.data or "",
        reporter_kind=form.reporter_kind.data,
        reporter_name=_optional(form.reporter_name.data),
        reporter_email=_optional((form.reporter_email.data or "").lower()),
        reporter_phone=_optional(form.reporter_phone.data),
        # A resident has no business name or tax code, whatever the form carried.
        business_name=None if is_resident else _optional(form.business_name.data),
        tax_code=None if is_resident else _optional(form.tax_code.data),
        confidential=bool(form.confidential.data),
        publish_consent=bool(form.publish_consent.data),
        locale=locale,
        submission_token=token,
    )


def create(session: Session, form, files: list[uploads.CheckedFile], token: str, code: str,
           locale: str, upload_dir: Path) -> Filed:
    """Store the case and its files in one transaction; on any failure nothing stays behind."""

    def record() -> tuple[tuple[Case, str], quarantine.Owner]:
        case, filed_code = lifecycle.submit(session, new_report_from(form, token, locale), code)
        return (case, filed_code), quarantine.Owner(case_id=case.id, uploaded_by="reporter")

    try:
        case, code = quarantine.commit_with_files(session, upload_dir, files, record)
    except IntegrityError:
        # Two copies of one form raced: the other one won and holds the token.
        first = session.scalar(select(Case).where(Case.submission_token == token))
        if first is None:
            raise
        return Filed(duplicate=first)
    return Filed(case=case, code=code)
