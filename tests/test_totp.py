"""The staff second factor: RFC 6238 codes used once, recovery codes, the two-step sign-in,
and supervisors and administrators who can do nothing before they set it up."""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text

from portal import keyed
from portal.auth import service, totp
from portal.auth.views import PENDING, SETUP
from portal.db import new_session, utcnow
from portal.models import RecoveryCode, SignInFailure, User
from tests.factories import PASSWORD, TOTP_SECRET
from tests.helpers import AuthActions, csrf_of

SECRET_SHOWN = re.compile(r'<code id="totp-secret" lang="en">([A-Z2-7 ]+)</code>')
RECOVERY_SHOWN = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


# -- RFC 6238 ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "code"), [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
])
def test_the_rfc_6238_test_vectors_for_sha1(when, code):
    assert totp.code_at(b"12345678901234567890", when, digits=8) == code


def test_six_digit_codes_are_the_last_six_of_the_rfc_codes():
    assert totp.code_at(b"12345678901234567890", 59) == "287082"
    assert totp.hotp(b"12345678901234567890", 0) == "755224"  # RFC 4226, appendix D


def test_the_key_a_person_types_is_the_key_the_app_uses():
    key = totp.new_secret()
    typed = totp.grouped(totp.to_base32(key)).lower()
    assert totp.from_base32(typed) == key
    uri = totp.provisioning_uri(key, "mod@example.org")
    assert uri.startswith("otpauth://totp/") and f"secret={totp.to_base32(key)}" in uri
    assert "period=30" in uri and "digits=6" in uri and "algorithm=SHA1" in uri


# -- helpers ----------------------------------------------------------------------------------

def enrol(client) -> tuple[bytes, list[str]]:
    """Set up the second factor through the page, as a person with a phone does."""
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<svg" in body  # the QR code, drawn in the page itself
    key = totp.from_base32(SECRET_SHOWN.search(body).group(1))
    response = client.post("/account/two-factor", data={
        "csrf_token": csrf_of(body), "code": totp.code_at(key, time.time())})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = RECOVERY_SHOWN.findall(response.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_COUNT
    return key, codes


def wrong_code(key: bytes) -> str:
    now = totp.current_step()
    valid = {totp.code_for_step(key, step) for step in range(now - 2, now + 3)}
    return next(c for c in ("123456", "654321", "111111") if c not in valid)


def password_step(auth, email: str, password: str = PASSWORD):
    html_ = auth.client.get("/login").get_data(as_text=True)
    return auth.client.post("/login", data={"csrf_token": csrf_of(html_), "email": email,
                                            "password": password})


def manage(auth, code: str, action: str):
    return auth.post("/account/two-factor/manage", {"code": code, action: "1"},
                     page="/account/two-factor")


def failures(session) -> int:
    return session.scalar(select(func.count()).select_from(SignInFailure))


@pytest.fixture
def supervisor(factory, session):
    user = factory.user("supervisor", "MTTQ-HN")  # set up with TOTP_SECRET by the factory
    session.commit()
    return user


@pytest.fixture
def moderator(factory, session):
    user = factory.moderator()
    session.commit()
    return user


# -- signing in with a code --------------------------------------------------------------------

def test_the_password_alone_signs_nobody_in_who_has_a_second_factor(auth, client, supervisor):
    response = password_step(auth, supervisor.email)
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    assert client.get("/moderation/").status_code == 302
    with client.session_transaction() as stored:
        assert "_user_id" not in stored
    response = auth.give_code(totp.code_at(TOTP_SECRET, time.time()))
    assert response.status_code == 303 and response.headers["Location"].endswith("/moderation/")
    assert client.get("/moderation/").status_code == 200


def test_the_next_address_survives_the_code_step(auth, client, supervisor):
    html_ = client.get("/login?next=/admin/rules").get_data(as_text=True)
    response = client.post("/login?next=/admin/rules", data={
        "csrf_token": csrf_of(html_), "email": supervisor.email, "password": PASSWORD})
    assert response.headers["Location"] == "/login/code?next=/admin/rules"
    response = auth.give_code(auth.code_for(supervisor.email), response.headers["Location"])
    assert response.headers["Location"] == "/admin/rules"


def test_a_code_works_only_once(app, auth, client, supervisor, session):
    code = auth.code_for(supervisor.email)
    password_step(auth, supervisor.email)
    assert auth.give_code(code).status_code == 303
    session.refresh(supervisor)
    assert supervisor.totp_last_step is not None

    # Someone who watched the code being typed, with the password, one second later.
    thief = AuthActions(app.test_client())
    thief.client.get("/lang/en")
    password_step(thief, supervisor.email)
    replay = thief.give_code(code)
    assert replay.status_code == 400
    assert "already used" in html.unescape(replay.get_data(as_text=True))
    assert thief.client.get("/moderation/").status_code == 302
    # Nor does any earlier step come back.
    password_step(thief, supervisor.email)
    earlier = totp.code_for_step(TOTP_SECRET, supervisor.totp_last_step - 1)
    assert thief.give_code(earlier).status_code == 400


def test_a_wrong_code_is_refused_and_counts_toward_the_throttle(app, auth, client, supervisor,
                                                                 session):
    password_step(auth, supervisor.email)
    response = auth.give_code(wrong_code(TOTP_SECRET))
    assert response.status_code == 400
    assert client.get("/moderation/").status_code == 302
    assert failures(session) == 1
    # Counted as a wrong code, not as a wrong password: under the account's code key.
    keys = session.execute(select(SignInFailure.account_key, SignInFailure.client_key)).one()
    assert keys == code_keys(app, supervisor)

    # Typing the password again does not wipe the count: the code step stays throttled here.
    auth.give_code(wrong_code(TOTP_SECRET))
    assert auth.give_code(wrong_code(TOTP_SECRET)).status_code == 303  # the third: start over
    for _ in range(service.PAIR_LIMIT - 3):
        password_step(auth, supervisor.email)
        assert auth.give_code(wrong_code(TOTP_SECRET)).status_code == 400
    assert failures(session) == service.PAIR_LIMIT
    password_step(auth, supervisor.email)
    right = auth.give_code(auth.code_for(supervisor.email))
    assert right.status_code == 429
    assert client.get("/moderation/").status_code == 302
    # Wrong codes are not wrong passwords: the password step still answers, from here too.
    assert password_step(auth, supervisor.email).headers["Location"] == "/login/code"
    # And the owner, elsewhere, signs in.
    elsewhere = AuthActions(from_address(app.test_client(), "198.51.100.40"))
    password_step(elsewhere, supervisor.email)
    assert elsewhere.give_code(auth.code_for(supervisor.email)).status_code == 303


def service_keys(app, email: str) -> tuple[str, str]:
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        return service.account_key(email), keyed.client_key()


def code_keys(app, user, address: str = "127.0.0.1") -> tuple[str, str]:
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return service.code_key(user), keyed.client_key()


def from_address(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def age_failures(session, by: timedelta) -> None:
    for failure in session.scalars(select(SignInFailure)):
        failure.created_at -= by
    session.commit()


def test_three_wrong_codes_void_the_waiting_sign_in(auth, client, supervisor, session):
    client.get("/lang/en")
    password_step(auth, supervisor.email)
    with client.session_transaction() as stored:
        waiting = dict(stored[PENDING])
    for _ in range(service.PENDING_WRONG_LIMIT - 1):
        assert auth.give_code(wrong_code(TOTP_SECRET)).status_code == 400
    third = auth.give_code(wrong_code(TOTP_SECRET))
    assert third.status_code == 303 and third.headers["Location"].startswith("/login")
    assert "Too many wrong codes. Please sign in again" in html.unescape(
        client.get("/login").get_data(as_text=True))
    with client.session_transaction() as stored:
        assert PENDING not in stored
    assert client.get("/login/code").status_code == 303

    # The browser sending its old cookie back does not bring the sign-in back: the count is
    # the server's, and even the right code starts over.
    with client.session_transaction() as stored:
        stored[PENDING] = waiting
    replayed = auth.give_code(auth.code_for(supervisor.email))
    assert replayed.status_code == 303 and replayed.headers["Location"].startswith("/login")
    assert client.get("/moderation/").status_code == 302
    session.refresh(supervisor)
    assert supervisor.totp_last_step is None  # the right code was not even looked at

    # The password again, and the right code: signed in.
    password_step(auth, supervisor.email)
    assert auth.give_code(auth.code_for(supervisor.email)).status_code == 303
    assert client.get("/moderation/").status_code == 200


def test_wrong_codes_from_anywhere_stop_app_codes_for_the_account(app, auth, supervisor, session):
    with app.app_context():
        recovery = totp.new_recovery_codes(session, supervisor)
    session.commit()
    # A stolen password, and a new address for every guess.
    for i in range(service.CODE_LIMIT):
        thief = AuthActions(from_address(app.test_client(), f"198.51.100.{10 + i}"))
        assert password_step(thief, supervisor.email).headers["Location"] == "/login/code"
        assert thief.give_code(wrong_code(TOTP_SECRET)).status_code == 400
    assert failures(session) == service.CODE_LIMIT

    # From a new address, the password step still answers: the owner is not kept out of it.
    owner = AuthActions(from_address(app.test_client(), "203.0.113.50"))
    owner.client.get("/lang/en")
    assert password_step(owner, supervisor.email).headers["Location"] == "/login/code"
    # But no code from the app is taken now, not even the right one.
    refused = owner.give_code(auth.code_for(supervisor.email))
    assert refused.status_code == 429
    message = html.unescape(refused.get_data(as_text=True))
    assert "codes from the app are not taken for now" in message
    assert "recovery codes" in message
    assert owner.client.get("/moderation/").status_code == 302
    session.refresh(supervisor)
    assert supervisor.totp_last_step is None
    assert failures(session) == service.CODE_LIMIT  # refused unchecked: not counted

    # A recovery code, which cannot be guessed in a few tries, still lets the owner in.
    assert owner.give_code(recovery[0]).status_code == 303
    assert owner.client.get("/moderation/").status_code == 200

    # Once the window has passed, app codes are taken again.
    age_failures(session, service.WINDOW + timedelta(minutes=1))
    later = AuthActions(from_address(app.test_client(), "203.0.113.51"))
    password_step(later, supervisor.email)
    assert later.give_code(auth.code_for(supervisor.email)).status_code == 303


def run_together(*calls):
    """Each call in a thread of its own, all started at the same moment; their results."""
    start = threading.Barrier(len(calls), timeout=10)
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            start.wait()
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - raised again in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs"
    if errors:
        raise errors[0]
    return results


def meet_after_first_commit(*sessions) -> None:
    """Each session, once it has committed for the first time, waits for all the others to have
    done so too: the worst interleaving for a limit that is counted, forced."""
    barrier = threading.Barrier(len(sessions), timeout=10)
    for db in sessions:
        def wait(_db, done=[]):  # noqa: B006 - one flag per session, on purpose
            if not done:
                done.append(True)
                barrier.wait()
        event.listen(db, "after_commit", wait)


def in_request(app, address: str, call):
    def run():
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            return call()
    return run


def test_code_guesses_sent_at_once_are_held_to_the_limit(app, supervisor, session):
    """Each attempt is counted, and committed, before its code is checked: of two guesses sent
    at once with one try left under the cap, never both get checked."""
    with app.app_context():
        for _ in range(service.CODE_LIMIT - 1):
            session.add(SignInFailure(account_key=service.code_key(supervisor),
                                      client_key="f" * 64))
        session.commit()
        first, second = new_session(), new_session()
    try:
        user_a, user_b = first.get(User, supervisor.id), second.get(User, supervisor.id)
        meet_after_first_commit(first, second)
        results = run_together(
            in_request(app, "198.51.100.61", lambda: service.check_code(
                first, user_a, wrong_code(TOTP_SECRET))),
            in_request(app, "198.51.100.62", lambda: service.check_code(
                second, user_b, wrong_code(TOTP_SECRET))))
    finally:
        first.close()
        second.close()
    # Both were counted before either looked: the first to look saw the cap passed and was
    # refused unchecked (and taken back, so the second may have found one try left).
    assert not any(r.ok for r in results)
    assert sum(not r.locked for r in results) <= 1
    assert failures(session) <= service.CODE_LIMIT


def test_a_right_code_clears_the_failures_of_this_client(auth, supervisor, session):
    password_step(auth, supervisor.email)
    auth.give_code(wrong_code(TOTP_SECRET))
    assert failures(session) == 1
    assert auth.give_code(auth.code_for(supervisor.email)).status_code == 303
    assert failures(session) == 0


def test_the_code_step_expires(auth, client, supervisor):
    client.get("/lang/en")
    password_step(auth, supervisor.email)
    page = client.get("/login/code").get_data(as_text=True)  # then the phone takes too long
    with client.session_transaction() as stored:
        until = datetime.fromisoformat(stored[PENDING]["until"])
        assert timedelta(minutes=4) < until - utcnow() <= timedelta(minutes=5)
        stored[PENDING] = {**stored[PENDING], "until": (until - timedelta(minutes=6)).isoformat()}
    response = client.post("/login/code", data={"csrf_token": csrf_of(page),
                                                 "code": auth.code_for(supervisor.email)})
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert "waited too long" in html.unescape(client.get("/login").get_data(as_text=True))
    assert client.get("/moderation/").status_code == 302
    with client.session_transaction() as stored:
        assert PENDING not in stored and "_user_id" not in stored


def test_ending_the_sessions_voids_a_waiting_sign_in(auth, client, supervisor, session):
    password_step(auth, supervisor.email)
    page = client.get("/login/code").get_data(as_text=True)
    service.end_sessions(supervisor)  # a password change, a deactivation, a reset
    session.commit()
    response = client.post("/login/code", data={"csrf_token": csrf_of(page),
                                                 "code": auth.code_for(supervisor.email)})
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert client.get("/moderation/").status_code == 302


def test_the_code_page_without_a_password_sends_to_sign_in(client):
    response = client.get("/login/code")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


# -- recovery codes ----------------------------------------------------------------------------

def test_a_recovery_code_works_once(app, auth, client, moderator, session):
    assert auth.login(moderator.email, PASSWORD).status_code == 303
    _, codes = enrol(client)
    auth.logout()

    client.get("/lang/en")
    password_step(auth, moderator.email)
    typed = codes[0].upper().replace("-", " ")  # as read aloud or copied from paper
    response = auth.give_code(typed)
    assert response.status_code == 303
    page = client.get("/moderation/")
    assert page.status_code == 200
    assert "9 recovery codes are left" in html.unescape(page.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.used_at.is_(None))) == totp.RECOVERY_COUNT - 1
    auth.logout()

    again = AuthActions(app.test_client())
    password_step(again, moderator.email)
    assert again.give_code(codes[0]).status_code == 400
    assert again.give_code(codes[1]).status_code == 303


def test_regenerating_recovery_codes_invalidates_the_old_ones(app, auth, client, moderator, session):
    auth.login(moderator.email, PASSWORD)
    _, old = enrol(client)
    response = manage(auth, auth.code_for(moderator.email), "new_codes")
    assert response.status_code == 200
    new = RECOVERY_SHOWN.findall(response.get_data(as_text=True))
    assert len(new) == totp.RECOVERY_COUNT and not set(new) & set(old)
    assert session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == moderator.id)) == totp.RECOVERY_COUNT

    other = AuthActions(app.test_client())
    password_step(other, moderator.email)
    assert other.give_code(old[0]).status_code == 400
    assert other.give_code(new[0]).status_code == 303


def test_regenerating_needs_a_current_code(auth, client, moderator, session):
    auth.login(moderator.email, PASSWORD)
    key, old = enrol(client)
    response = manage(auth, wrong_code(key), "new_codes")
    assert response.status_code == 400
    assert failures(session) == 1
    hashes = {totp.recovery_hash(moderator.id, code, service_secret(auth)) for code in old}
    assert set(session.scalars(select(RecoveryCode.code_hash))) == hashes


def service_secret(auth) -> str:
    return auth.client.application.config["SECRET_KEY"]


# -- at rest -------------------------------------------------------------------------------------

def test_the_secret_and_the_recovery_codes_are_not_stored_in_the_clear(auth, client, moderator, session,
                                                                       app):
    auth.login(moderator.email, PASSWORD)
    key, codes = enrol(client)
    b32 = totp.to_base32(key)
    stored = session.execute(text("SELECT totp_secret FROM users WHERE id = :id"),
                             {"id": moderator.id}).scalar_one()
    assert stored and b32 not in stored and b32.lower() not in stored
    assert key.hex() not in stored and key not in stored.encode()
    # What is stored opens only with the portal's key, and only for this user.
    assert totp.unseal(stored, moderator.id, service_secret(auth)) == key
    assert totp.unseal(stored, moderator.id + 1, service_secret(auth)) is None
    assert totp.unseal(stored, moderator.id, "another-secret-key-of-forty-characters-xx") is None
    hashes = session.scalars(select(RecoveryCode.code_hash)).all()
    assert all(len(h) == 64 for h in hashes)
    assert not {c.replace("-", "") for c in codes} & {h for h in hashes}
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)


# -- who must set it up ------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "org", "home"), [
    ("supervisor", "MTTQ-HN", "/moderation/"),
    ("admin", None, "/admin/"),
])
def test_supervisors_and_administrators_can_do_nothing_before_setting_it_up(
        auth, client, factory, session, role, org, home):
    user = factory.user(role, org, email=f"new.{role}@example.org", two_factor=False)
    session.commit()
    response = auth.login(user.email, PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/account/two-factor"
    for path in ("/moderation/", "/admin/", "/admin/users", "/account/password", "/agency/", "/"):
        refused = client.get(path)
        assert refused.status_code == 302, path
        assert refused.headers["Location"] == "/account/two-factor"
    # Nor can it act: a POST goes the same way, and changes nothing.
    refused = auth.post("/account/password", {"current": PASSWORD, "new": "x" * 20, "confirm": "x" * 20},
                        page="/account/two-factor")
    assert refused.status_code == 302
    session.refresh(user)
    assert totp.must_enrol(user)
    # Turning it off is not offered to them once it is on.
    key, _ = enrol(client)
    assert client.get(home).status_code == 200
    assert "turn_off" not in client.get("/account/two-factor").get_data(as_text=True)
    refused = manage(auth, auth.code_for(user.email), "turn_off")
    assert refused.status_code == 400
    session.refresh(user)
    assert totp.is_enabled(user)

    # Next time, a code is asked for.
    auth.logout()
    assert password_step(auth, user.email).headers["Location"] == "/login/code"


def test_a_moderator_may_choose_the_second_step_and_then_needs_it(auth, client, moderator, session):
    assert auth.login(moderator.email, PASSWORD).headers["Location"].endswith("/moderation/")
    assert client.get("/moderation/").status_code == 200  # not required of a moderator
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page and 'src="http' not in page and "<script" not in page.split("<main")[-1]
    enrol(client)
    auth.logout()

    response = password_step(auth, moderator.email)
    assert response.headers["Location"] == "/login/code"
    assert client.get("/moderation/").status_code == 302
    assert auth.give_code(auth.code_for(moderator.email)).status_code == 303
    assert client.get("/moderation/").status_code == 200

    # A moderator may turn it off again, with a current code.
    response = manage(auth, auth.code_for(moderator.email), "turn_off")
    assert response.status_code == 303
    session.refresh(moderator)
    assert moderator.totp_secret is None and not totp.is_enabled(moderator)
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    auth.logout()
    assert password_step(auth, moderator.email).headers["Location"].endswith("/moderation/")


def test_setting_it_up_ends_every_other_session(app, auth, client, moderator):
    auth.login(moderator.email, PASSWORD)
    other = app.test_client()
    AuthActions(other).login(moderator.email, PASSWORD)
    assert other.get("/moderation/").status_code == 200
    enrol(client)
    assert client.get("/moderation/").status_code == 200  # this browser stays signed in
    assert other.get("/moderation/").status_code == 302


def test_a_wrong_first_code_sets_nothing_up(auth, client, moderator, session):
    auth.login(moderator.email, PASSWORD)
    body = client.get("/account/two-factor").get_data(as_text=True)
    key = totp.from_base32(SECRET_SHOWN.search(body).group(1))
    # A reload shows the same key: the app may already hold it.
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert SECRET_SHOWN.search(again).group(1) == SECRET_SHOWN.search(body).group(1)
    response = client.post("/account/two-factor", data={"csrf_token": csrf_of(body),
                                                        "code": wrong_code(key)})
    assert response.status_code == 400
    session.refresh(moderator)
    assert not totp.is_enabled(moderator)
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0


def test_moving_to_a_new_phone_asks_for_a_new_set_up(auth, client, supervisor, session):
    assert auth.login(supervisor.email, PASSWORD).status_code == 303
    response = manage(auth, auth.code_for(supervisor.email), "replace")
    assert response.status_code == 303
    # A supervisor must confirm the new phone before anything else.
    assert client.get("/moderation/").headers["Location"] == "/account/two-factor"
    key, _ = enrol(client)
    assert key != TOTP_SECRET
    assert client.get("/moderation/").status_code == 200


# -- one set-up, one browser -----------------------------------------------------------------

def shown_key(client) -> tuple[bytes, str]:
    body = client.get("/account/two-factor").get_data(as_text=True)
    return totp.from_base32(SECRET_SHOWN.search(body).group(1)), body


def test_two_browsers_setting_up_get_different_keys_and_only_the_confirmed_one_works(
        app, auth, client, factory, session):
    user = factory.user("supervisor", "MTTQ-HN", email="new.supervisor@example.org",
                        two_factor=False)
    session.commit()
    # The owner signs in; so does someone who has only the password.
    assert auth.login(user.email, PASSWORD).headers["Location"] == "/account/two-factor"
    thief = AuthActions(app.test_client())
    assert thief.login(user.email, PASSWORD).headers["Location"] == "/account/two-factor"
    owners_key, owners_page = shown_key(client)
    thiefs_key, _ = shown_key(thief.client)
    assert owners_key != thiefs_key
    assert shown_key(client)[0] == owners_key  # a reload keeps this browser's key
    # Nothing is written to the account before a right first code.
    session.refresh(user)
    assert user.totp_secret is None and user.totp_confirmed_at is None

    response = client.post("/account/two-factor", data={
        "csrf_token": csrf_of(owners_page), "code": totp.code_at(owners_key, time.time())})
    assert response.status_code == 200 and RECOVERY_SHOWN.search(response.get_data(as_text=True))
    session.refresh(user)
    assert totp.unseal(user.totp_secret, user.id, service_secret(auth)) == owners_key
    with client.session_transaction() as stored:
        assert SETUP not in stored

    # The other browser's set-up ended with its session; its key opens nothing.
    assert thief.client.get("/account/two-factor").status_code == 302
    password_step(thief, user.email)
    refused = thief.give_code(totp.code_at(thiefs_key, time.time()))
    assert refused.status_code == 400
    assert thief.client.get("/moderation/").status_code == 302


def test_the_key_being_set_up_is_sealed_in_the_session(app, auth, client, factory, moderator,
                                                       session):
    auth.login(moderator.email, PASSWORD)
    key, _ = shown_key(client)
    with client.session_transaction() as stored:
        held = stored[SETUP]
        everything = repr(dict(stored))
    for spelling in (totp.to_base32(key), totp.to_base32(key).lower(), key.hex()):
        assert spelling not in everything
    secret_key = service_secret(auth)
    assert totp.unseal_setup(held, moderator, secret_key) == key
    # It opens for this user and these sessions only: not as another's, nor as a stored secret.
    other = factory.user("moderator", "MTTQ-HN", email="other.moderator@example.org")
    session.commit()
    assert totp.unseal_setup(held, other, secret_key) is None
    assert totp.unseal(held, moderator.id, secret_key) is None
    service.end_sessions(moderator)
    assert totp.unseal_setup(held, moderator, secret_key) is None


def test_two_set_ups_confirmed_at_once_leave_exactly_one_key(app, factory, session):
    user = factory.user("supervisor", "MTTQ-HN", email="new.supervisor@example.org",
                        two_factor=False)
    session.commit()
    keys = [totp.new_secret(), totp.new_secret()]
    with app.app_context():
        sessions = [new_session(), new_session()]
    try:
        users = [db.get(User, user.id) for db in sessions]

        def confirm(i):
            def run():
                with app.app_context():
                    done = totp.confirm(sessions[i], users[i], keys[i],
                                        totp.code_at(keys[i], time.time()))
                    sessions[i].commit()
                    return done
            return run

        results = run_together(confirm(0), confirm(1))
    finally:
        for db in sessions:
            db.close()
    assert sorted(results) == [False, True]
    winner = keys[results.index(True)]
    session.refresh(user)
    with app.app_context():
        assert totp.unseal(user.totp_secret, user.id) == winner
        loser = keys[results.index(False)]
        assert not totp.verify(session, user, totp.code_at(loser, time.time()))


# -- replays at the same moment ------------------------------------------------------------------

def two_sessions_of(app, user) -> tuple[list, list]:
    with app.app_context():
        sessions = [new_session(), new_session()]
    # Both read the user before either tries: neither can know of the other's claim.
    return sessions, [db.get(User, user.id) for db in sessions]


def test_one_app_code_sent_twice_at_once_works_once(app, supervisor, session):
    sessions, users = two_sessions_of(app, supervisor)
    code = totp.code_at(TOTP_SECRET, time.time())

    def attempt(i):
        def run():
            with app.app_context():
                ok = totp.verify(sessions[i], users[i], code)
                sessions[i].commit()
                return ok
        return run

    try:
        assert all(u.totp_last_step is None for u in users)
        results = run_together(attempt(0), attempt(1))
    finally:
        for db in sessions:
            db.close()
    assert sorted(results) == [False, True]
    session.refresh(supervisor)
    assert supervisor.totp_last_step is not None


def test_one_recovery_code_sent_twice_at_once_works_once(app, supervisor, session):
    with app.app_context():
        code = totp.new_recovery_codes(session, supervisor)[0]
    session.commit()
    sessions, users = two_sessions_of(app, supervisor)

    def attempt(i):
        def run():
            with app.app_context():
                ok = totp.use_recovery_code(sessions[i], users[i], code)
                sessions[i].commit()
                return ok
        return run

    try:
        results = run_together(attempt(0), attempt(1))
    finally:
        for db in sessions:
            db.close()
    assert sorted(results) == [False, True]
    assert session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.used_at.is_not(None))) == 1


# -- the administrator's reset -----------------------------------------------------------------

def test_an_administrator_resets_a_locked_out_supervisor(app, auth, client, runner, supervisor, session):
    assert auth.login(supervisor.email, PASSWORD).status_code == 303
    result = runner.invoke(args=["user", "reset-two-factor", supervisor.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"id {supervisor.id}" in result.output
    session.expire_all()
    assert supervisor.totp_secret is None and supervisor.totp_confirmed_at is None
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert client.get("/moderation/").status_code == 302  # their session ended
    response = AuthActions(app.test_client()).login(supervisor.email, PASSWORD)
    assert response.headers["Location"] == "/account/two-factor"

    missing = runner.invoke(args=["user", "reset-two-factor", "nobody@example.org"])
    assert missing.exit_code != 0 and "no account" in missing.output


# -- what the log keeps ------------------------------------------------------------------------

def test_the_sign_in_log_names_the_user_only_by_id(auth, caplog, supervisor):
    wrong_password = "not the password at all"
    bad = wrong_code(TOTP_SECRET)
    right = auth.code_for(supervisor.email)
    with caplog.at_level(logging.INFO):
        html_ = auth.client.get("/login").get_data(as_text=True)
        auth.client.post("/login", data={"csrf_token": csrf_of(html_), "email": supervisor.email,
                                         "password": wrong_password})
        password_step(auth, supervisor.email)
        auth.give_code(bad)
        auth.give_code(right)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"user {supervisor.id}" in logged
    assert "wrong code" in logged and "staff sign-in succeeded" in logged
    assert "staff sign-in failed (account" in logged
    secret = totp.to_base32(TOTP_SECRET)
    for leak in (supervisor.email, PASSWORD, wrong_password, bad, right, secret, "127.0.0.1"):
        assert leak not in logged, leak


# -- the demo --------------------------------------------------------------------------------

def test_the_demo_supervisor_signs_in_with_the_printed_key(app, runner):
    from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_TOTP_SECRET in result.output
    demo = AuthActions(app.test_client())
    response = password_step(demo, "supervisor@demo.phananh.local", DEMO_PASSWORD)
    assert response.headers["Location"] == "/login/code"
    code = totp.code_at(totp.from_base32(DEMO_TOTP_SECRET), time.time())
    assert demo.give_code(code).status_code == 303
    assert demo.client.get("/moderation/").status_code == 200

