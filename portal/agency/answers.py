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
from portal.models import Answer, Case


def submit_answer(session: Session, case: Case, actor: Actor, arguments: dict,
                  files: list[uploads.CheckedFile], upload_dir: Path,
                  expected_version: int | None) -> Answer | None:
    """Store the answer and its documents; None when a colleague changed the case meanwhile.

    Raises TransitionRefused (nothing stored) when the answer is not allowed now.
    """

    def record() -> tuple[Answer, quarantine.Owner]:
        answer = lifecycle.answer(session, case, actor, **arguments,
                                  expected_version=expected_version)
        return answer, quarantine.Owner(case_id=case.id, answer_id=answer.id,
                                        uploaded_by="agency")

    return quarantine.commit_with_files(session, upload_dir, files, record,
                                        commit=commit_or_conflict)
