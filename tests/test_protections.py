"""Small protections: the rich-text sanitiser, logs without client addresses, the request limit."""

from __future__ import annotations

import io
import logging

from portal.logs import DropClientAddress
from portal.sanitize import clean_html


def test_rich_text_keeps_formatting_and_drops_everything_executable():
    html = clean_html('<p onclick="x()">Kết quả <strong>rõ</strong><script>alert(1)</script>'
                      '<a href="javascript:alert(1)">xem</a><a href="https://hanoi.gov.vn">ok</a>'
                      '<img src=x onerror=alert(1)></p>')
    assert "<strong>rõ</strong>" in html
    assert "script" not in html and "onclick" not in html and "onerror" not in html
    assert "javascript:" not in html and "<img" not in html
    assert 'href="https://hanoi.gov.vn"' in html and 'rel="nofollow noopener noreferrer"' in html


def test_client_addresses_are_removed_from_server_logs():
    # The development server puts the address into the message itself.
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '203.113.131.4 - - [26/Nov/2026 10:00:00] "%s" %s -',
                               ("GET /track HTTP/1.1", "200"), None)
    DropClientAddress().filter(record)
    assert "203.113.131.4" not in record.getMessage()
    assert '"GET /track HTTP/1.1" 200' in record.getMessage()
    banner = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, " * Running on %s",
                               ("http://127.0.0.1:5000",), None)
    DropClientAddress().filter(banner)
    assert "127.0.0.1:5000" in banner.getMessage()
    access = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                               '%(h)s "%(r)s" %(s)s %({x-forwarded-for}i)s',
                               ({"h": "10.0.0.7", "r": "GET / HTTP/1.1", "s": "200",
                                 "{x-forwarded-for}i": "2001:ee0:4f:1::20"},), None)
    DropClientAddress().filter(access)
    assert "10.0.0.7" not in access.getMessage() and "2001:ee0" not in access.getMessage()
    assert '"GET / HTTP/1.1" 200' in access.getMessage()


def test_a_request_over_the_size_limit_gets_a_page_not_a_crash(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = client.post("/report", data={"evidence": (io.BytesIO(b"x" * 2 * 1024 * 1024), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "MB" in response.get_data(as_text=True)


def test_a_lazy_message_quoting_what_a_person_typed_is_escaped(app):
    from flask import render_template_string
    from flask_babel import lazy_gettext

    with app.test_request_context():
        message = lazy_gettext("Remove “%(tag)s”.", tag='<img src=x onerror="alert(1)">')
        html = render_template_string("<p>{{ message }}</p>", message=message)
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
