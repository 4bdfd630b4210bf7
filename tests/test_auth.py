"""Staff sign-in: same answer for unknown and wrong, throttling that spares others, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import keyed
from portal.auth import service
from portal.auth.views import LAST_SEEN
from portal.models import SignInFailure
from tests.factories import PASSWORD
from tests.helpers import AuthActions, csrf_of


@pytest.fixture
def moderator(factory, session):
    user = factory.moderator()
    session.commit()
    return user


def test_a_moderator_signs_in_and_lands_on_the_queue(auth, client, moderator):
    response = auth.login(moderator.email, PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/moderation/")
    assert client.get("/moderation/").status_code == 200


def test_unknown_account_and_wrong_password_get_the_same_answer(auth, moderator):
    unknown = auth.login("nobody@example.org", PASSWORD)
    wrong = auth.login(moderator.email, "not the password at all")
    too_long = auth.login(moderator.email, "x" * 5000)
    for response in (unknown, wrong, too_long):
        assert response.status_code == 400
        assert 'id="password-error"' in response.get_data(as_text=True)
    message = lambda r: r.get_data(as_text=True).split('id="password-error">')[1].split("</ul>")[0]  # noqa: E731
    assert message(unknown) == message(wrong) == message(too_long)


def test_the_session_is_renewed_at_sign_in(auth, client, moderator):
    client.get("/report")  # a visitor's session, with a one-time form token in it
    with client.session_transaction() as before:
        before["planted"] = "by someone else"
    auth.login(moderator.email, PASSWORD)
    with client.session_transaction() as after:
        assert "planted" not in after and "report_tokens" not in after
        assert after["_user_id"].startswith(f"{moderator.id}:")


def test_failures_from_one_client_throttle_that_client_only(app, auth, moderator, session):
    for _ in range(service.PAIR_LIMIT):
        assert auth.login(moderator.email, "wrong password here").status_code == 400
    # Even the right password waits now, from this client.
    throttled = auth.login(moderator.email, PASSWORD)
    assert throttled.status_code == 429
    # The moderator, from another place, still signs in.
    elsewhere = AuthActions(app.test_client())
    other_client = {"REMOTE_ADDR": "198.51.100.7"}
    html = elsewhere.client.get("/login", environ_base=other_client).get_data(as_text=True)
    response = elsewhere.client.post("/login", environ_base=other_client, data={
        "csrf_token": csrf_of(html), "email": moderator.email, "password": PASSWORD})
    assert response.status_code == 303
    # No address or email is stored: only keyed hashes.
    keys = session.scalars(select(SignInFailure.client_key)).all()
    assert keys and all(len(k) == 64 and "127.0.0.1" not in k for k in keys)


def test_a_client_trying_many_accounts_is_throttled(auth, factory, session):
    users = [factory.user("moderator", "MTTQ-HN", email=f"m{i}@example.org") for i in range(5)]
    session.commit()
    for i in range(service.CLIENT_LIMIT):
        auth.login(users[i % 5].email, f"wrong password {i}")
    assert session.scalar(select(func.count()).select_from(SignInFailure)) == service.CLIENT_LIMIT
    assert auth.login(users[0].email, PASSWORD).status_code == 429


def test_a_password_change_ends_every_other_session(app, auth, client, moderator):
    assert auth.login(moderator.email, PASSWORD).status_code == 303
    other = app.test_client()
    AuthActions(other).login(moderator.email, PASSWORD)
    assert other.get("/moderation/").status_code == 200

    new_password = "a brand new long passphrase"
    response = auth.post("/account/password", {"current": PASSWORD, "new": new_password,
                                                "confirm": new_password},
                         page="/account/password")
    assert response.status_code == 303
    assert client.get("/moderation/").status_code == 200  # this browser stays signed in
    assert other.get("/moderation/").status_code == 302  # the other one is signed out
    assert auth.login(moderator.email, new_password).status_code == 303


def test_a_wrong_current_password_changes_nothing(auth, moderator, session):
    auth.login(moderator.email, PASSWORD)
    token = moderator.session_token
    response = auth.post("/account/password", {"current": "not it at all", "new": "x" * 20,
                                                "confirm": "x" * 20}, page="/account/password")
    assert response.status_code == 400
    session.refresh(moderator)
    assert moderator.session_token == token


def test_an_idle_session_ends(auth, client, moderator):
    auth.login(moderator.email, PASSWORD)
    with client.session_transaction() as stored:
        seen = stored[LAST_SEEN]
        from datetime import datetime

        stored[LAST_SEEN] = (datetime.fromisoformat(seen) - service.IDLE_TIMEOUT
                             - timedelta(minutes=1)).isoformat()
    response = client.get("/moderation/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/moderation/").status_code == 302


def test_sign_out_needs_the_csrf_token(auth, client, moderator):
    auth.login(moderator.email, PASSWORD)
    assert client.post("/logout").status_code == 400
    assert client.get("/moderation/").status_code == 200
    assert auth.logout().status_code == 303
    assert client.get("/moderation/").status_code == 302


def test_staff_pages_redirect_anonymous_visitors_to_sign_in(client):
    response = client.get("/moderation/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_next_address_stays_on_this_site(auth, client, moderator):
    html = client.get("/login?next=https://evil.example/").get_data(as_text=True)
    response = client.post("/login?next=https://evil.example/", data={
        "csrf_token": csrf_of(html), "email": moderator.email, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_behind_a_proxy_each_resident_has_a_throttle_of_their_own(tmp_path, database_url, factory,
                                                                   session):
    from portal import create_app
    from tests.conftest import _environ

    user = factory.moderator()
    session.commit()
    proxied = create_app({**_environ(database_url, tmp_path), "TRUSTED_PROXIES": "1"},
                         instance_path=tmp_path / "proxied")

    def attempt(forwarded_for: str, password: str) -> int:
        client = proxied.test_client()
        headers = {"X-Forwarded-For": forwarded_for}
        html = client.get("/login", headers=headers).get_data(as_text=True)
        return client.post("/login", headers=headers, data={
            "csrf_token": csrf_of(html), "email": user.email, "password": password}).status_code

    for _ in range(service.PAIR_LIMIT):
        assert attempt("203.0.113.9", "wrong password here") == 400
    assert attempt("203.0.113.9", PASSWORD) == 429
    assert attempt("198.51.100.20", PASSWORD) == 303  # another resident behind the same proxy


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_throttle(app, moderator):
    def attempt(forwarded_for: str, password: str) -> int:
        client = app.test_client()
        headers = {"X-Forwarded-For": forwarded_for}
        html = client.get("/login", headers=headers).get_data(as_text=True)
        return client.post("/login", headers=headers, data={
            "csrf_token": csrf_of(html), "email": moderator.email, "password": password}).status_code

    for i in range(service.PAIR_LIMIT):
        attempt(f"192.0.2.{i}", "wrong password here")
    assert attempt("192.0.2.200", PASSWORD) == 429


def test_an_inactive_account_gets_the_same_answer_as_an_unknown_one(auth, moderator, session):
    moderator.active = False
    session.commit()
    response = auth.login(moderator.email, PASSWORD)
    assert response.status_code == 400
    assert 'id="password-error"' in response.get_data(as_text=True)


# -- what counts as one client ------------------------------------------------------------------


@pytest.mark.parametrize(("address", "client"), [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),  # an IPv4 client seen through an IPv6 socket
    ("fe80::1%eth0", "fe80::/64"),
    ("", "unknown"),
    (None, "unknown"),
    ("not an address", "not an address"),
])
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address, client):
    assert keyed.client_address(address) == client


def test_ipv4_neighbours_are_two_clients_and_one_ipv6_64_is_one(app):
    def key(address: str) -> str:
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            return keyed.client_key()

    assert key("198.51.100.7") != key("198.51.100.8")
    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert key("2001:db8:1:2::1") != key("2001:db8:1:3::1")
    assert key("::ffff:198.51.100.7") == key("198.51.100.7")
    assert all(len(key(a)) == 64 and a not in key(a) for a in ("198.51.100.7", "2001:db8::1"))


def test_new_ipv6_addresses_in_one_64_do_not_escape_the_throttle(app, moderator):
    def attempt(address: str, password: str) -> int:
        client = AuthActions(app.test_client())
        client.client.environ_base["REMOTE_ADDR"] = address
        html = client.client.get("/login").get_data(as_text=True)
        return client.client.post("/login", data={
            "csrf_token": csrf_of(html), "email": moderator.email, "password": password}).status_code

    # One device, a fresh address of its /64 for every try.
    for i in range(service.PAIR_LIMIT):
        assert attempt(f"2001:db8:1:2::{i + 1:x}", "wrong password here") == 400
    assert attempt("2001:db8:1:2:abcd::99", PASSWORD) == 429
    assert attempt("2001:db8:1:3::1", PASSWORD) == 303  # another subscriber's network
