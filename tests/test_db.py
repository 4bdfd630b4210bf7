"""`portal.db.commit_or_conflict`: which failures at commit are another person's change."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from portal.db import commit_or_conflict


class DriverError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class FailingSession:
    """Only what commit_or_conflict touches: a commit that fails as PostgreSQL's would."""

    def __init__(self, sqlstate: str):
        self.error = OperationalError("COMMIT", {}, DriverError(sqlstate))
        self.rolled_back = False

    def commit(self):
        raise self.error

    def rollback(self):
        self.rolled_back = True


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])  # deadlock, serialization failure
def test_a_deadlock_or_serialization_failure_is_a_conflict(sqlstate):
    session = FailingSession(sqlstate)
    assert commit_or_conflict(session) is False
    assert session.rolled_back


def test_any_other_database_failure_is_raised_after_the_rollback():
    session = FailingSession("08006")  # the connection went away
    with pytest.raises(OperationalError):
        commit_or_conflict(session)
    assert session.rolled_back
