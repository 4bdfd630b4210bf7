"""An agency's answer with its documents: the answer and its files, all or nothing.

The documents wait in quarantine until their scan (portal.quarantine), asked for once the
answer is committed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from portal import lifecycle, quarantine, uploads
from portal.db import commit_or_conflict
from portal.lifecycle import Actor
from portal.models import Answer, Attachment, Case


def submit_answer(session: Session, case: Case, actor: Actor, arguments: dict,
                  files: list[uploads.CheckedFile], upload_dir: Path,
                  expected_version: int | None) -> Answer | None:
    """Store the answer and its documents; None when a colleague changed the case meanwhile.

    Raises TransitionRefused (nothing stored) when the answer is not allowed now.
    """
    stored: list[str] = []
    attachments: list[Attachment] = []
    try:
        answer = lifecycle.answer(session, case, actor, **arguments,
                                  expected_version=expected_version)
        for checked in files:
            name = quarantine.hold(upload_dir, checked)
            stored.append(name)
            attachments.append(Attachment(
                case_id=case.id, answer_id=answer.id, stored_name=name,
                original_name=checked.original_name, content_type=checked.content_type,
                size=checked.size, sha256=checked.sha256, uploaded_by="agency",
                status=quarantine.QUARANTINED))
        session.add_all(attachments)
        committed = commit_or_conflict(session)
    except BaseException:
        session.rollback()
        _remove(upload_dir, stored)
        raise
    if committed:
        quarantine.scan_after_commit(session, attachments)
        return answer
    _remove(upload_dir, stored)
    return None


def _remove(upload_dir: Path, names: list[str]) -> None:
    for name in names:
        quarantine.discard(upload_dir, name)
