"""Quarantine: an evidence file is served to nobody until a job has checked it.

The request does the cheap checks (`uploads.check_files`); `commit_with_files` writes the
bytes as sent to `<UPLOAD_DIR>/quarantine/` under a random name and adds the `Attachment` row
with status `quarantined`. Once that row is committed, and never before (a worker must not
look for a row that is not there yet), the scan is asked for: with `REDIS_URL` as an RQ job on the
`maintenance` queue, named after the attachment, once the response has gone out; without it
(the embedded default, `make run`, the tests) here and now, so the page the person sees next
already shows the outcome. The periodic job `scan-quarantine` picks up whatever was left
behind (Redis down, a worker killed).

The scan (`scan`) takes the quarantined bytes and decides by their content alone: images
are decoded and written again from their pixels (no EXIF GPS, no device, no comments);
PDFs are kept as sent only when they carry nothing that runs or hides (`inspect_pdf`).
A clean file moves to the ordinary store and the row becomes `clean`; anything else makes
the row `refused`, with a short reason code, and the bytes are deleted. Only `clean` files
are ever served (`portal.downloads`). Logs name the attachment id and the outcome, never a
file name: a name may say who sent it.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from flask import after_this_request, current_app, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import queues, uploads
from portal.db import new_session, utcnow
from portal.models import Attachment
from portal.uploads import CheckedFile, UploadError

log = logging.getLogger(__name__)
T = TypeVar("T")

QUARANTINED, CLEAN, REFUSED = "quarantined", "clean", "refused"
FOLDER = "quarantine"
JOB = "portal.jobs.scan_attachment"
# The catch-up leaves a fresh row to the job asked for it, so the two seldom do the same
# work (which would still be harmless: see `_settle`).
GRACE = timedelta(minutes=1)
# A file in quarantine that no quarantined row names after this long was left by a crash
# between writing it and committing the row (or after the row was settled).
ORPHAN_AGE = timedelta(days=1)
SCAN_TIMEOUT = 300

# What a refusal means, for the people who see the file in a list. The codes are stored.
REFUSAL_LABELS = {
    "wrong_type": _l("It is not a photo (JPEG, PNG, WebP) or a PDF."),
    "too_large": _l("It is larger than the portal accepts."),
    "empty": _l("The file is empty."),
    "unreadable": _l("It could not be read as an image. It may be damaged."),
    "too_many_pixels": _l("The photo has too many pixels."),
    "pdf_damaged": _l("The PDF is damaged or incomplete, so it could not be checked."),
    "pdf_encrypted": _l("The PDF is encrypted or protected by a password, so it could not be "
                        "checked."),
    "pdf_too_large": _l("The PDF unpacks to more than the portal can check."),
    "pdf_javascript": _l("The PDF contains JavaScript."),
    "pdf_action": _l("The PDF starts actions or programs by itself when it is opened."),
    "pdf_embedded_file": _l("The PDF carries other files inside it."),
    "pdf_active_content": _l("The PDF contains an XFA form or embedded media."),
    "pdf_hidden": _l("Parts of the PDF are hidden where a reader would not look for them, so "
                     "it could not be checked."),
    "pdf_external": _l("The PDF loads part of its content from other files."),
    "missing": _l("The file was lost before it could be checked."),
}


# -- the request's side --------------------------------------------------------------------------


def folder(upload_dir: Path | str) -> Path:
    """Where files wait: inside UPLOAD_DIR (same file system, so nothing is copied across),
    never reachable by a download, whose names are the bare 32-hex names of `uploads.path_for`."""
    return Path(upload_dir) / FOLDER


def hold(upload_dir: Path | str, checked: CheckedFile) -> str:
    """Write the bytes as sent into quarantine (0600, random name) and return the name."""
    where = folder(upload_dir)
    # Made on first use only: a portal that never received a file has nothing to show.
    where.mkdir(mode=0o700, exist_ok=True)
    return uploads.store(where, checked)


def discard(upload_dir: Path | str, name: str) -> None:
    uploads.remove(folder(upload_dir), name)


@dataclass(frozen=True)
class Owner:
    """Whose evidence the files are, as their Attachment rows say it."""

    case_id: int
    uploaded_by: str
    answer_id: int | None = None


def commit_with_files(session: Session, upload_dir: Path | str, files: list[CheckedFile],
                      record: Callable[[], tuple[T, Owner]],
                      commit: Callable[[Session], bool] | None = None) -> T | None:
    """Record something together with its evidence files, all or nothing.

    `record()` adds what it records to the session and returns its result and the files'
    owner; each file is then held in quarantine with its `quarantined` Attachment row, the
    session is committed, and the scans are asked for. `commit` (plain `session.commit()`
    when not given) returns False for a conflict it rolled back: the held files are removed
    and None is returned. On any exception the session is rolled back, the held files
    removed, and the exception raised again.
    """
    held: list[str] = []
    attachments: list[Attachment] = []
    try:
        result, owner = record()
        for checked in files:
            name = hold(upload_dir, checked)
            held.append(name)
            attachments.append(Attachment(
                case_id=owner.case_id, answer_id=owner.answer_id, stored_name=name,
                original_name=checked.original_name, content_type=checked.content_type,
                size=checked.size, sha256=checked.sha256, uploaded_by=owner.uploaded_by,
                status=QUARANTINED))
        session.add_all(attachments)
        committed = _commit(session) if commit is None else commit(session)
    except BaseException:
        session.rollback()
        _discard_all(upload_dir, held)
        raise
    if not committed:
        _discard_all(upload_dir, held)
        return None
    scan_after_commit(session, attachments)
    return result


def _commit(session: Session) -> bool:
    session.commit()
    return True


def _discard_all(upload_dir: Path | str, names: list[str]) -> None:
    for name in names:
        discard(upload_dir, name)


def scan_after_commit(session: Session, attachments: Iterable[Attachment]) -> None:
    """Ask for the scan of these committed rows (see the module's docstring).

    Without Redis the scan runs now, and the rows are expired from `session` so that what
    the request shows next is their outcome.
    """
    items = list(attachments)
    ids = [item.id for item in items if item.id is not None]
    if not ids:
        return
    if not queues.configured():
        for attachment_id in ids:
            try:
                scan(attachment_id)
            except Exception:  # the catch-up scans it later; the report is already filed
                log.exception("attachment %s: the scan failed; it stays in quarantine",
                              attachment_id)
        for item in items:
            session.expire(item)
        return
    if not has_request_context():
        enqueue(ids)
        return
    app = current_app._get_current_object()

    def after(response):
        # The person never waits for Redis: when it is down the rows wait for the catch-up.
        def run():
            with app.app_context():
                enqueue(ids)
        response.call_on_close(run)
        return response

    after_this_request(after)


def enqueue(ids: list[int]) -> int:
    """Hand these rows to the RQ workers, one job per attachment; how many were handed."""

    handed = 0
    for attachment_id in ids:
        try:
            queues.enqueue("maintenance", JOB, attachment_id,
                           job_id=f"scan-attachment-{attachment_id}", timeout=SCAN_TIMEOUT)
        except Exception as exc:  # Redis is down: `scan-quarantine` catches up
            log.warning("attachment %s: the scan could not be queued (%s); the catch-up "
                        "scans it", attachment_id, type(exc).__name__)
            break
        handed += 1
    return handed


# -- the job ----------------------------------------------------------------------------------


def scan(attachment_id: int) -> str:
    """Check one quarantined attachment and settle it; the row's status afterwards.

    Safe to run twice, or twice at once: a row that is no longer quarantined is left as it
    is, and of two scans of one row only the first to settle it counts.
    """
    upload_dir = current_app.config["PORTAL_SETTINGS"].upload_dir
    session = new_session()
    try:
        item = session.get(Attachment, attachment_id)
        if item is None:
            return "gone"
        if item.status != QUARANTINED:
            return item.status
        held = uploads.path_for(folder(upload_dir), item.stored_name)
        original_name = item.original_name
        # No transaction stays open while the file is decoded.
        session.rollback()
        try:
            data = _read(held)
        except FileNotFoundError:
            status = session.scalar(select(Attachment.status)
                                    .where(Attachment.id == attachment_id))
            if status != QUARANTINED:
                return status or "gone"  # another scan settled it and took the file away
            return _refuse(session, attachment_id, "missing", held)
        try:
            content_type, clean = clean_bytes(data)
        except UploadError as error:
            return _refuse(session, attachment_id, error.code, held)
        name = uploads.store(upload_dir, CheckedFile(
            original_name, content_type, clean, len(clean), hashlib.sha256(clean).hexdigest()))
        try:
            settled = _settle(session, attachment_id, status=CLEAN, stored_name=name,
                              content_type=content_type, size=len(clean),
                              sha256=hashlib.sha256(clean).hexdigest())
        except BaseException:
            uploads.remove(upload_dir, name)
            raise
        if not settled:
            uploads.remove(upload_dir, name)
            return _status(session, attachment_id)
        held.unlink(missing_ok=True)
        log.info("attachment %s: scanned, clean", attachment_id)
        return CLEAN
    finally:
        session.close()


def clean_bytes(data: bytes) -> tuple[str, bytes]:
    """The type and the bytes to keep, decided by the content alone; or UploadError."""
    content_type = uploads.check_bytes(data)
    if content_type == "application/pdf":
        inspect_pdf(data)
        return content_type, data
    return content_type, uploads.reencode(data, content_type)


def scan_waiting(limit: int = 50, older_than: timedelta = GRACE) -> int:
    """The periodic catch-up: scan quarantined rows left behind, oldest first; how many."""
    session = new_session()
    try:
        ids = session.scalars(
            select(Attachment.id).where(Attachment.status == QUARANTINED,
                                        Attachment.created_at <= utcnow() - older_than)
            .order_by(Attachment.id).limit(limit)).all()
    finally:
        session.close()
    done = 0
    for attachment_id in ids:
        try:
            if scan(attachment_id) != QUARANTINED:
                done += 1
        except Exception:  # one row's trouble (a full disk) does not hold up the others
            log.exception("attachment %s: the scan failed; it is tried again", attachment_id)
    prune_orphans()
    return done


def prune_orphans(older_than: timedelta = ORPHAN_AGE) -> int:
    """Delete quarantined bytes that no quarantined row names any more (after a crash)."""
    where = folder(current_app.config["PORTAL_SETTINGS"].upload_dir)
    if not where.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    old = []
    for path in where.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                old.append(path)
        except FileNotFoundError:
            continue
    if not old:
        return 0
    session = new_session()
    try:
        waiting = set(session.scalars(select(Attachment.stored_name).where(
            Attachment.status == QUARANTINED,
            Attachment.stored_name.in_([p.name for p in old]))))
    finally:
        session.close()
    removed = 0
    for path in old:
        if path.name not in waiting:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _read(path: Path) -> bytes:
    # At most one byte over the limit: enough for check_bytes to refuse it as too large.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(uploads.MAX_FILE_BYTES + 1)


def _settle(session: Session, attachment_id: int, **values) -> bool:
    """Record the outcome if the row is still quarantined: of two scans, the first one wins."""
    settled = session.execute(
        update(Attachment).where(Attachment.id == attachment_id,
                                 Attachment.status == QUARANTINED)
        .values(checked_at=utcnow(), **values)
    ).rowcount
    session.commit()
    return bool(settled)


def _refuse(session: Session, attachment_id: int, code: str, held: Path) -> str:
    code = code if code in REFUSAL_LABELS else "wrong_type"
    settled = _settle(session, attachment_id, status=REFUSED, refusal=code)
    # Whoever settled it, the bytes go: a refused file is kept nowhere.
    held.unlink(missing_ok=True)
    if not settled:
        return _status(session, attachment_id)
    log.info("attachment %s: scanned, refused (%s)", attachment_id, code)
    return REFUSED


def _status(session: Session, attachment_id: int) -> str:
    return session.scalar(select(Attachment.status).where(Attachment.id == attachment_id)) \
        or "gone"


# -- PDFs -------------------------------------------------------------------------------------
#
# Pure Python (re, zlib), in the manner of Didier Stevens' pdfid: no PDF library parses the
# hostile file. One pass reads the file token by token as a viewer does (strings, comments,
# dictionaries), finds each object's header and each stream, and sets the streams' data
# aside; every name in the rest is read with its #xx escapes decoded, so /J#61vaScript is
# /JavaScript. Object streams (PDF 1.5), where a writer may put any dictionary compressed,
# are unpacked (FlateDecode, ASCIIHex, ASCII85, PNG predictors) within a budget and read the
# same way; one that cannot be unpacked refuses the file, since what it holds cannot be
# known. Other streams (page content, images, fonts) are not read: they hold no dictionaries
# a viewer acts on, and their binary data would match names by chance.
#
# That is only sound if no viewer ever parses, as objects, bytes this pass set aside as
# stream data. A viewer goes to an object through the offset a cross-reference table gives,
# reading `N G obj` there; when the table is broken it looks for such headers anywhere. So:
# - Every place where an object header could be read (comments between its words count) must
#   be a header this pass read as one: a header inside stream data, a string or a comment is
#   where a viewer would begin reading differently. Refused (pdf_hidden).
# - `stream` must follow the dictionary of an object; anywhere else viewers disagree on it.
# - The offsets after `startxref`, /Prev and /XRefStm (where a viewer reads a cross-reference
#   section and its trailer) must not fall inside stream data, a string or a comment, nor may
#   `trailer` stand inside stream data: a trailer read there could declare /Encrypt.
# - A stream whose data lives in another file (/F file specification, /FFilter) is refused
#   (pdf_external): what it holds cannot be checked, and a viewer fetches it when opening.
# An object stream's filters are read the way pdf.js reads them too: the abbreviations /F and
# /DP count as /Filter and /DecodeParms. A filter or its parameters given by reference, or
# given both ways, refuses the file (pdf_damaged).
#
# How strict, and why:
# - /JavaScript, /JS anywhere: the document carries script. Refused.
# - /Launch anywhere: an action that starts a program. Refused.
# - /AA (additional actions: run something when a page opens or closes, a field is left, the
#   document is printed...) anywhere: its only purpose is to act without being asked, and
#   evidence documents have no need of it. Refused whatever it points at.
# - /OpenAction: many writers use it harmlessly, to open at a page or a zoom. Allowed when it
#   is a destination (an array, a name or a string) or a /GoTo action without /Next, directly
#   or through one reference; anything else (a /URI that would call a server when staff open
#   the file, /SubmitForm, /GoToR, a chain...) refuses the file.
# - /EmbeddedFile(s), /FileAttachment: files inside the file, never checked. Refused.
# - /XFA (forms that are programs of their own), /RichMedia (Flash, video). Refused.
# - /Encrypt: encrypted object streams cannot be read. Refused.
# Links a person must click (/URI on an annotation) stay: they are what a document cites.

MAX_UNPACKED = 50 * 1024 * 1024
_DICT_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_WHITESPACE = b"\x00\t\n\x0c\r "
_DIGITS = b"0123456789."  # what a number a viewer accepts as an object's number may end with
_NUMERIC = b"0123456789.+-"

_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# One token as a viewer reads it, whitespace before it skipped.
_TOKEN = re.compile(
    rb"[\x00\t\n\x0c\r ]*(?:(?P<comment>%[^\r\n]*)|(?P<string>\()|(?P<open><<)|(?P<close>>>)"
    rb"|(?P<hex><[^>]*>?)|(?P<name>/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)"
    rb"|(?P<word>[^\x00\t\n\x0c\r ()<>\[\]{}/%]+)|(?P<other>.))", re.S)
# Where a hidden object header may end: "obj" as a word of its own, after a number or a space.
_OBJ_WORD = re.compile(rb"(?<=[\x00\t\n\x0c\r 0-9.])obj(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")
_TRAILER = re.compile(rb"(?<![^\x00\t\n\x0c\r ()<>\[\]{}/%])trailer(?=[\x00\t\n\x0c\r <%])")
# An offset a viewer reads a cross-reference section at. /Prev is also the previous outline
# item, by reference: that is no offset.
_POINTER = re.compile(
    rb"startxref[\x00\t\n\x0c\r ]+(\d{1,10})"
    rb"|/(Prev|XRefStm|[^\x00\t\n\x0c\r ()<>\[\]{}/%#]*#[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)"
    rb"[\x00\t\n\x0c\r ]+(\d{1,10})(?![\d.]|[\x00\t\n\x0c\r ]+\d{1,5}[\x00\t\n\x0c\r ]+R)")
_REFERENCE = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+R(?![A-Za-z])")
_DICT_TOKEN = re.compile(rb"<<|>>|[(<%]")
_STRING_TOKEN = re.compile(rb"\\.|[()]", re.S)
_LINE_END = re.compile(rb"[\r\n]")

_JAVASCRIPT = {b"JavaScript", b"JS"}
_RUNS = {b"Launch", b"AA"}
_EMBEDDED = {b"EmbeddedFile", b"EmbeddedFiles", b"FileAttachment"}
_ACTIVE = {b"XFA", b"RichMedia"}
_FLATE, _HEX, _A85 = {b"FlateDecode", b"Fl"}, {b"ASCIIHexDecode", b"AHx"}, {b"ASCII85Decode", b"A85"}


class _Refused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def inspect_pdf(data: bytes) -> None:
    """Raise UploadError (with the reason's code) unless the PDF is safe to hand to staff."""
    try:
        _inspect(data)
    except _Refused as refused:
        raise UploadError(REFUSAL_LABELS[refused.code], refused.code) from None
    except Exception as exc:
        # Whatever a hostile file makes this code trip over, the answer is the same: it was
        # not shown to be safe. (Only the kind of error is logged: a message may quote bytes.)
        log.warning("a PDF could not be inspected (%s)", type(exc).__name__)
        raise UploadError(REFUSAL_LABELS["pdf_damaged"], "pdf_damaged") from None


class _Budget:
    def __init__(self, total: int):
        self.left = total

    def take(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _Refused("pdf_too_large")


class _Objects:
    """Where each object number's body starts: in the file, or in an object stream."""

    def __init__(self):
        self.bodies: dict[int, list[tuple[bytes, int]]] = {}

    def add(self, number: int, text: bytes, at: int) -> None:
        self.bodies.setdefault(number, []).append((text, at))


class _Stream:
    def __init__(self, dictionary: bytes, entries: dict[bytes, list[bytes]], start: int,
                 end: int):
        self.dictionary = dictionary
        self.entries = entries
        self.start = start  # the first byte of the data
        self.end = end  # just past the data, where `endstream` (perhaps after a line end) is


class _Layout:
    """The file as one pass token by token found it."""

    def __init__(self):
        self.outside: list[tuple[int, int]] = []  # every part that is not stream data
        self.streams: list[_Stream] = []
        self.objects = _Objects()
        self.headers: set[int] = set()  # where the `obj` of each object header read is
        self.hidden = False


def _inspect(data: bytes) -> None:
    pointers = _pointers(data)
    layout = _layout(data, pointers)
    names: set[bytes] = set()
    for start, end in layout.outside:
        names |= _names(data, start, end)
    if b"Encrypt" in names:
        raise _Refused("pdf_encrypted")

    objects = layout.objects
    budget = _Budget(MAX_UNPACKED)
    unpacked: list[bytes] = []
    for stream in layout.streams:
        if _object_stream(stream):
            content = _unpack(data, stream, budget)
            unpacked.append(content)
            _index_object_stream(content, stream.entries, objects)
    for content in unpacked:
        names |= _names(content)

    if b"Encrypt" in names:
        raise _Refused("pdf_encrypted")
    if names & _JAVASCRIPT:
        raise _Refused("pdf_javascript")
    if names & _RUNS:
        raise _Refused("pdf_action")
    if names & _EMBEDDED:
        raise _Refused("pdf_embedded_file")
    if names & _ACTIVE:
        raise _Refused("pdf_active_content")
    if b"OpenAction" in names:
        texts = [(data, start, end) for start, end in layout.outside]
        texts += [(content, 0, len(content)) for content in unpacked]
        for text, start, end in texts:
            for match in _NAME.finditer(text, start, end):
                if _decode_name(match.group(1)) == b"OpenAction" and \
                        not _open_action_allowed(text, match.end(), objects):
                    raise _Refused("pdf_action")
    # Last, so that a file that also says what it does is refused for that.
    if layout.hidden or _hidden_header(data, layout.headers):
        raise _Refused("pdf_hidden")


def _layout(data: bytes, pointers: list[int]) -> _Layout:
    """Read the file as a viewer does from its first byte: tokens, object headers, streams.

    Marks the layout hidden when a pointer (see `_pointers`) sends a viewer into the middle
    of a string, a comment or stream data, or when a `trailer` stands in stream data.
    """
    layout = _Layout()
    size = len(data)

    def inside(start: int, end: int) -> bool:
        index = bisect.bisect_left(pointers, start)
        return index < len(pointers) and pointers[index] < end

    at = cursor = 0
    before = [None, None]  # the two words before, when they are whole numbers
    after_header = False  # the token before was an object header's `obj`
    depth = 0
    opened: int | None = None  # where the object's own dictionary opens
    closed: tuple[int, int] | None = None  # the object's dictionary, if the token before closed it
    while True:
        match = _TOKEN.match(data, at)
        if match is None:
            break
        kind = match.lastgroup
        start, at = match.start(kind), match.end()
        if kind == "comment":
            if inside(start + 1, at):
                layout.hidden = True
            continue  # between the words of a header, or a dictionary and its stream
        if kind == "string":
            end = _string_end(data, start, size)
            at = size if end is None else end
            if inside(start + 1, at):
                layout.hidden = True
        word = match.group(kind) if kind == "word" else None
        if word == b"obj" and None not in before:
            layout.headers.add(start)
            layout.objects.add(before[0], data, at)
            before, after_header, depth, opened, closed = [None, None], True, 0, None, None
            continue
        if word == b"stream":
            if closed is None:
                # After an array, a nested dictionary, nothing: viewers differ on what follows.
                raise _Refused("pdf_hidden")
            dictionary = data[closed[0]:closed[1]]
            stream = _stream(data, at, dictionary, _entries(dictionary))
            # From just past the keyword: whatever stands before the line end is skipped too.
            if inside(at, stream.end) or _TRAILER.search(data, at, stream.end):
                layout.hidden = True
            layout.outside.append((cursor, at))
            layout.streams.append(stream)
            cursor = at = stream.end
            before, after_header, depth, opened, closed = [None, None], False, 0, None, None
            continue
        closing = None
        if kind == "open":
            if after_header:
                opened = start
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
            if depth == 0 and opened is not None:
                closing, opened = (opened, at), None
        closed, after_header = closing, False
        number = word is not None and word.isdigit() and len(word) <= 10
        before = [before[1], int(word) if number else None]
    layout.outside.append((cursor, size))
    return layout


def _stream(data: bytes, keyword_end: int, dictionary: bytes,
            entries: dict[bytes, list[bytes]]) -> _Stream:
    """The stream whose `stream` keyword ends at `keyword_end`.

    Its data ends at /Length when `endstream` is there, else at the first `endstream`: of the
    ends a viewer may take, the earliest, so that nothing a viewer reads is set aside.
    """
    if b"FFilter" in entries or b"FDecodeParms" in entries or any(
            not value.startswith((b"/", b"[")) for value in entries.get(b"F", [])):
        raise _Refused("pdf_external")
    if data.startswith(b"\r\n", keyword_end):
        start = keyword_end + 2
    elif data[keyword_end:keyword_end + 1] in (b"\r", b"\n"):
        start = keyword_end + 1
    else:  # something before the line end: pdf.js starts on the next line
        line_end = _LINE_END.search(data, keyword_end)
        start = len(data) if line_end is None else line_end.end()
        if data.startswith(b"\r\n", start - 1):
            start += 1
    lengths = sorted(int(value) for value in entries.get(b"Length", []) if value.isdigit())
    for length in lengths:
        if start + length <= len(data) and \
                data.startswith(b"endstream", _skip_space(data, start + length)):
            return _Stream(dictionary, entries, start, start + length)
    found = data.find(b"endstream", start)
    return _Stream(dictionary, entries, start, len(data) if found < 0 else found)


def _pointers(data: bytes) -> list[int]:
    """The offsets where a viewer may read a cross-reference section and its trailer."""
    found = set()
    for match in _POINTER.finditer(data):
        if match.group(1) is not None:
            found.add(int(match.group(1)))
        elif _decode_name(match.group(2)) in (b"Prev", b"XRefStm"):
            found.add(int(match.group(3)))
    return sorted(found)


def _hidden_header(data: bytes, headers: set[int]) -> bool:
    """Whether an object header could be read anywhere but where the pass read one."""
    for match in _OBJ_WORD.finditer(data):
        if match.start() in headers:
            continue
        for generation_end in _gap_ends(data, match.start()):
            if data[generation_end - 1] not in _DIGITS:
                continue
            generation = generation_end - 1
            while generation > 0 and data[generation - 1] in _NUMERIC:
                generation -= 1
            if any(data[end - 1] in _DIGITS for end in _gap_ends(data, generation)):
                return True
    return False


def _gap_ends(data: bytes, at: int) -> list[int]:
    """Where a word may end for the bytes from there to `at` to be only whitespace and
    comments: one end for each way a viewer, starting somewhere before, could read them.

    A comment runs from a % to the end of its line; on the line before a line end, any %
    may be where one begins (the viewer did not necessarily start before the others)."""
    ends = []
    while True:
        end = at
        while end > 0 and data[end - 1] in _WHITESPACE:
            end -= 1
        if end == 0:
            return ends
        ends.append(end)
        if _LINE_END.search(data, end, at) is None:
            return ends
        line = _line_start(data, end)
        at = -1
        percent = data.find(b"%", line, end)
        while percent >= 0:
            word_end = percent
            while word_end > line and data[word_end - 1] in _WHITESPACE:
                word_end -= 1
            if word_end > line:
                ends.append(word_end)
            elif at < 0:
                at = line  # the line is only a comment: the gap goes on above it
            percent = data.find(b"%", percent + 1, end)
        if at <= 0:
            return ends


def _line_start(data: bytes, end: int) -> int:
    """Just past the last line end before `end` (searched back in growing steps, so a long
    line costs about its length once)."""
    at, step = end, 64
    while at > 0:
        low = max(0, at - step)
        found = max(data.rfind(b"\n", low, at), data.rfind(b"\r", low, at))
        if found >= 0:
            return found + 1
        at, step = low, step * 2
    return 0


def _decode_name(raw: bytes) -> bytes:
    if b"#" not in raw:
        return raw
    return _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _names(text: bytes, start: int = 0, end: int | None = None) -> set[bytes]:
    end = len(text) if end is None else end
    return {_decode_name(m.group(1)) for m in _NAME.finditer(text, start, end)}


def _skip_space(text: bytes, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _string_end(text: bytes, start: int, stop: int) -> int | None:
    """Just past the literal string opening at `start`, with nesting and escapes; None if open."""
    depth, at = 0, start
    while True:
        match = _STRING_TOKEN.search(text, at, stop)
        if match is None:
            return None
        at = match.end()
        token = match.group()
        if token == b"(":
            depth += 1
        elif token == b")":
            depth -= 1
            if depth == 0:
                return at


def _dict_end(text: bytes, start: int, stop: int | None = None) -> int | None:
    """Just past the >> that closes the << at `start` (strings and comments skipped)."""
    stop = min(len(text), start + _DICT_LIMIT) if stop is None else stop
    depth, at = 0, start
    while True:
        match = _DICT_TOKEN.search(text, at, stop)
        if match is None:
            return None
        token = match.group()
        if token == b"<<":
            depth, at = depth + 1, match.end()
        elif token == b">>":
            depth, at = depth - 1, match.end()
            if depth == 0:
                return at
        elif token == b"(":
            end = _string_end(text, match.start(), stop)
            if end is None:
                return None
            at = end
        elif token == b"<":  # a hex string
            end = text.find(b">", match.end(), stop)
            if end < 0:
                return None
            at = end + 1
        else:  # a comment, to the end of its line
            line_end = _LINE_END.search(text, match.end(), stop)
            if line_end is None:
                return None
            at = line_end.end()


def _next(text: bytes, at: int) -> tuple[str, int, int] | None:
    """The next token from `at`, comments skipped: its kind, start and end; None at the end."""
    while True:
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        kind = match.lastgroup
        if kind == "comment":
            at = match.end()
            continue
        start = match.start(kind)
        if kind == "string":
            end = _string_end(text, start, len(text))
            if end is None:
                raise _Refused("pdf_damaged")
            return kind, start, end
        return kind, start, match.end()


def _value(text: bytes, at: int) -> tuple[int, int]:
    """Where the value from `at` starts and ends: one token, a reference, or all of an array
    or dictionary."""
    token = _next(text, at)
    if token is None:
        raise _Refused("pdf_damaged")
    kind, start, end = token
    if kind == "close" or text[start:end] in (b"]", b")", b">", b"}"):
        raise _Refused("pdf_damaged")
    if kind == "open" or text[start:end] == b"[":
        depth = 1
        while depth:
            token = _next(text, end)
            if token is None:
                raise _Refused("pdf_damaged")
            kind, inner, end = token
            if kind == "open" or text[inner:end] == b"[":
                depth += 1
            elif kind == "close" or text[inner:end] == b"]":
                depth -= 1
        return start, end
    if kind == "word" and text[start:end].isdigit():
        reference = _REFERENCE.match(text, start)
        if reference is not None:
            return start, reference.end()
    return start, end


def _entries(dictionary: bytes) -> dict[bytes, list[bytes]]:
    """The entries of `<< ... >>`: each key (escapes decoded) with the text of its values,
    more than one when the key is repeated (viewers differ on which one counts)."""
    entries: dict[bytes, list[bytes]] = {}
    at = 2
    while True:
        token = _next(dictionary, at)
        if token is None:
            raise _Refused("pdf_damaged")
        kind, start, end = token
        if kind == "close":
            return entries
        if kind != "name":
            raise _Refused("pdf_damaged")
        value_start, at = _value(dictionary, end)
        entries.setdefault(_decode_name(dictionary[start + 1:end]), []).append(
            dictionary[value_start:at])


def _items(array: bytes) -> list[bytes]:
    """The text of each value in `[ ... ]`."""
    items, at = [], 1
    while True:
        token = _next(array, at)
        if token is None:
            raise _Refused("pdf_damaged")
        kind, start, end = token
        if array[start:end] == b"]":
            return items
        start, at = _value(array, start)
        items.append(array[start:at])


def _integer(entries: dict[bytes, list[bytes]], key: bytes) -> int | None:
    """The integer value of `key`; None when absent; refuses one that is not a direct integer."""
    values = entries.get(key)
    if not values:
        return None
    if len(values) > 1 or not values[0].isdigit():
        raise _Refused("pdf_damaged")
    return int(values[0])


def _normalized(dictionary: bytes) -> bytes:
    if b"#" not in dictionary:
        return dictionary
    return _NAME.sub(lambda m: b"/" + _decode_name(m.group(1)), dictionary)


def _object_stream(stream: _Stream) -> bool:
    # pdf.js reads any stream a cross-reference stream sends it to, if it has /First.
    keys = _names(stream.dictionary)
    return b"ObjStm" in keys or b"First" in keys


def _either(entries: dict[bytes, list[bytes]], short: bytes, long: bytes) -> bytes | None:
    """The value of a key that has an abbreviation (pdf.js takes the short one first, other
    readers only the long one): refused when given more than once."""
    values = entries.get(short, []) + entries.get(long, [])
    if len(values) > 1:
        raise _Refused("pdf_damaged")
    return values[0] if values and values[0] != b"null" else None


def _chain(entries: dict[bytes, list[bytes]]) -> list[tuple[bytes, bytes | None]]:
    """The filters an object stream's data goes through, each with its parameters (a
    dictionary's text, or None). Only names and direct dictionaries are followed."""
    filters = _either(entries, b"F", b"Filter")
    params = _either(entries, b"DP", b"DecodeParms")
    if filters is None:
        return []
    if filters.startswith(b"/"):
        names, single = [filters], True
    elif filters.startswith(b"["):
        names, single = _items(filters), False
    else:
        raise _Refused("pdf_damaged")  # a filter given by reference: not followed
    if not all(name.startswith(b"/") for name in names):
        raise _Refused("pdf_damaged")
    names = [_decode_name(name[1:]) for name in names]
    if params is None:
        return [(name, None) for name in names]
    if single and params.startswith(b"<<"):
        return [(names[0], params)]
    if not single and params.startswith(b"["):
        values = _items(params)
        if len(values) == len(names) and all(
                value == b"null" or value.startswith(b"<<") for value in values):
            return [(name, None if value == b"null" else value)
                    for name, value in zip(names, values, strict=True)]
    # By reference, or not shaped like the filters: readers pair them differently.
    raise _Refused("pdf_damaged")


def _unpack(data: bytes, stream: _Stream, budget: _Budget) -> bytes:
    """An object stream's data, unfiltered; refuses the file when it cannot be."""
    content = data[stream.start:stream.end]
    chain = _chain(stream.entries)
    if not chain:
        budget.take(len(content))
        return content
    for name, params in chain:
        # Each filter says where its data ends; what a viewer cuts off at /Length is a part
        # of what is read here.
        if name in _FLATE:
            content = _predicted(_inflate(content, 0, budget), params)
        elif name in _HEX:
            content = _unhex(content, 0, budget)
        elif name in _A85:
            content = _un85(content, 0, budget)
        else:
            raise _Refused("pdf_damaged")  # LZW, RunLength, ...: not read, so not trusted
    return content


def _predicted(content: bytes, params: bytes | None) -> bytes:
    if params is None:
        return content
    entries = _entries(params)
    predictor = _integer(entries, b"Predictor") or 1
    if predictor <= 1:
        return content
    if predictor < 10 or predictor > 15:
        raise _Refused("pdf_damaged")  # the TIFF predictor: not read, so not trusted
    return _unpredict(content, _integer(entries, b"Columns") or 1,
                      _integer(entries, b"Colors") or 1,
                      _integer(entries, b"BitsPerComponent") or 8)


def _inflate(source: bytes, start: int, budget: _Budget) -> bytes:
    """zlib data from `start` to its own end (it says where it ends), within the budget."""
    inflater = zlib.decompressobj()
    out: list[bytes] = []
    at = start
    try:
        while not inflater.eof:
            if at >= len(source):
                raise _Refused("pdf_damaged")  # cut short
            pending = source[at:at + _CHUNK]
            at += len(pending)
            while pending and not inflater.eof:
                piece = inflater.decompress(pending, max(1, budget.left + 1))
                budget.take(len(piece))
                out.append(piece)
                pending = inflater.unconsumed_tail
    except zlib.error:
        raise _Refused("pdf_damaged") from None
    return b"".join(out)


def _unhex(source: bytes, start: int, budget: _Budget) -> bytes:
    end = source.find(b">", start)
    if end < 0:
        raise _Refused("pdf_damaged")
    digits = bytes(b for b in source[start:end] if b not in _WHITESPACE)
    if len(digits) % 2:
        digits += b"0"
    budget.take(len(digits) // 2)
    try:
        return bytes.fromhex(digits.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _Refused("pdf_damaged") from None


def _un85(source: bytes, start: int, budget: _Budget) -> bytes:
    end = source.find(b"~>", start)
    if end < 0:
        raise _Refused("pdf_damaged")
    text = source[start:end]
    # "z" stands for four zero bytes: the only way ASCII85 grows more than 4/5.
    budget.take(len(text) + 4 * text.count(b"z"))
    try:
        return base64.a85decode(text, ignorechars=_WHITESPACE + b"\x0b")
    except ValueError:
        raise _Refused("pdf_damaged") from None


def _unpredict(data: bytes, columns: int, colors: int, bits: int) -> bytes:
    """Undo the PNG predictors (one filter byte per row)."""
    if not (0 < columns <= 1 << 20 and 0 < colors <= 32 and bits in (1, 2, 4, 8, 16)):
        raise _Refused("pdf_damaged")
    row_length = (columns * colors * bits + 7) // 8
    step = max(1, colors * bits // 8)
    out = bytearray()
    previous = bytearray(row_length)
    for at in range(0, len(data), row_length + 1):
        kind, row = data[at], bytearray(data[at + 1:at + 1 + row_length])
        row.extend(bytes(row_length - len(row)))
        if kind == 1:
            for i in range(step, row_length):
                row[i] = (row[i] + row[i - step]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        elif kind == 3:
            for i in range(row_length):
                left = row[i - step] if i >= step else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(row_length):
                left = row[i - step] if i >= step else 0
                up, corner = previous[i], previous[i - step] if i >= step else 0
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                near = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + near) & 0xFF
        elif kind != 0:
            raise _Refused("pdf_damaged")
        out += row
        previous = row
    return bytes(out)


def _index_object_stream(content: bytes, entries: dict[bytes, list[bytes]],
                         objects: _Objects) -> None:
    """Note where each object of an object stream starts (to follow an /OpenAction)."""
    values = entries.get(b"First", [])
    first = int(values[0]) if len(values) == 1 and values[0].isdigit() else None
    header = content[:first] if first is not None else content[:_DICT_LIMIT]
    numbers = []
    for match in re.finditer(rb"[^\x00\t\n\x0c\r ]+", header):
        if not match.group().isdigit():
            break
        numbers.append(int(match.group()))
    if first is None:
        first = 0
    for number, offset in zip(numbers[0::2], numbers[1::2], strict=False):
        if first + offset < len(content):
            objects.add(number, content, first + offset)


def _open_action_allowed(text: bytes, at: int, objects: _Objects, through: int = 0) -> bool:
    at = _skip_space(text, at)
    if text.startswith(b"<<", at):
        end = _dict_end(text, at)
        return end is not None and _goto_only(text[at:end])
    if text[at:at + 1] in (b"[", b"(", b"<", b"/"):
        return True  # a destination: an array, or the name of one
    reference = _REFERENCE.match(text, at)
    if reference is None or through:
        return False
    bodies = objects.bodies.get(int(reference.group(1)), [])
    return bool(bodies) and all(_open_action_allowed(body, start, objects, through + 1)
                                for body, start in bodies)


def _goto_only(action: bytes) -> bool:
    """An action dictionary that only moves within the document, and starts nothing after."""
    action = _normalized(action)
    names = _names(action)
    return b"Next" not in names and re.search(
        rb"/S[\x00\t\n\x0c\r ]*/GoTo(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])", action) is not None

