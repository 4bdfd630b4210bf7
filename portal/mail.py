"""Sending email: over SMTP from MAIL_URL, or as .eml files under instance/mail in development."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from portal.config import Settings

SENDER = "Cổng phản ánh Hà Nội <no-reply@phananh.hanoi.local>"


def build(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="phananh.hanoi.local")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    if not settings.mail_url:
        _write_file(settings.instance_path / "mail", message)
        return
    url = urlsplit(settings.mail_url)
    if url.scheme == "file":
        _write_file(Path(url.path), message)
        return
    port = url.port or (465 if url.scheme == "smtps" else 25)
    if url.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname, port, timeout=20,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(url.hostname, port, timeout=20)
    with smtp:
        if url.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def _write_file(folder: Path, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(message))
