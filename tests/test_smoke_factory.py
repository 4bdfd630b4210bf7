import pytest

from tests.factories import PATHS


@pytest.mark.parametrize("status", list(PATHS))
def test_factory_reaches_every_state(factory, session, status):
    case = factory.case_in(status)
    session.commit()
    assert case.status == status
