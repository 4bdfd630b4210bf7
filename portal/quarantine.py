"""Quarantine: an evidence file is served to nobody until a job has checked it.

The request does the cheap checks (`uploads.check_files`), writes the bytes as sent to
`<UPLOAD_DIR>/quarantine/` under a random name, and adds the `Attachment` row with status
`quarantined`. Once that row is committed, and never before (a worker must not look for a
row that is not there yet), the scan is asked for: with `REDIS_URL` as an RQ job on the
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
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from flask import after_this_request, current_app, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import queues, uploads
from portal.db import new_session, utcnow
from portal.models import Attachment
from portal.uploads import CheckedFile, UploadError

log = logging.getLogger(__name__)

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
# hostile file. Every name outside stream data is read with its #xx escapes decoded, so
# /J#61vaScript is /JavaScript. Object streams (PDF 1.5), where a writer may put any
# dictionary compressed, are unpacked (FlateDecode, ASCIIHex, ASCII85, PNG predictors) within
# a budget and read the same way; one that cannot be unpacked refuses the file, since what
# it holds cannot be known. Other streams (page content, images, fonts) are not read: they
# hold no dictionaries a viewer acts on, and their binary data would match names by chance.
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
_DICT_CANDIDATES = 16
_SNIFF_BYTES = 256
_CHUNK = 64 * 1024
_WHITESPACE = b"\x00\t\n\x0c\r "

_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_OBJ_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj(?![A-Za-z])")
_STREAM = re.compile(rb"(?<![A-Za-z])stream(?:\r\n|\n|\r)")
_REFERENCE = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+R(?![A-Za-z])")
_DICT_TOKEN = re.compile(rb"<<|>>|[(<%]")
_STRING_TOKEN = re.compile(rb"\\.|[()]", re.S)
_LINE_END = re.compile(rb"[\r\n]")
_COMMENT = re.compile(rb"%[^\r\n]*")
_OBJSTM_HEADER = re.compile(rb"[\x00\t\n\x0c\r ]*\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+[\d<\[(/tfn]")
_FILTER = re.compile(rb"/Filter[\x00\t\n\x0c\r ]*(\[[^\]]*\]|/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_INTEGER_KEY = {key: re.compile(rb"/" + key + rb"[\x00\t\n\x0c\r ]+(\d{1,10})(?![\d.])")
                for key in (b"Length", b"First", b"Predictor", b"Columns", b"Colors",
                            b"BitsPerComponent")}

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


def _inspect(data: bytes) -> None:
    headers = [(int(m.group(1)), m.end()) for m in _OBJ_HEADER.finditer(data)]
    header_ends = [end for _, end in headers]
    outside: list[tuple[int, int]] = []  # the parts of the file that are not stream data
    object_streams: list[tuple[bytes, int]] = []  # (dictionary, where its data starts)
    unknown: list[int] = []  # streams whose dictionary could not be read
    cursor = 0
    for match in _STREAM.finditer(data):
        if match.start() < cursor:
            continue  # a "stream" inside the data of the stream before
        dictionary = _stream_dictionary(data, match.start(), header_ends)
        if dictionary is None:
            unknown.append(match.end())
            continue
        start = match.end()
        outside.append((cursor, start))
        cursor = _stream_end(data, start, dictionary)
        keys = _names(dictionary)
        if b"ObjStm" in keys or b"First" in keys:
            object_streams.append((dictionary, start))
    outside.append((cursor, len(data)))

    names: set[bytes] = set()
    for start, end in outside:
        names |= _names(data, start, end)
    if b"Encrypt" in names:
        raise _Refused("pdf_encrypted")

    objects = _Objects()
    for number, header_end in headers:
        objects.add(number, data, header_end)
    budget = _Budget(MAX_UNPACKED)
    unpacked: list[bytes] = []
    for dictionary, start in object_streams:
        content = _unpack(data, start, dictionary, budget)
        unpacked.append(content)
        _index_object_stream(content, dictionary, objects)
    for start in unknown:
        # Not a dictionary this reader could follow; if its data still unpacks to what
        # looks like an object stream, it is read as one.
        content = _sniffed_object_stream(data, start, budget)
        if content is not None:
            unpacked.append(content)
            _index_object_stream(content, b"", objects)
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
        texts = [(data, start, end) for start, end in outside]
        texts += [(content, 0, len(content)) for content in unpacked]
        for text, start, end in texts:
            for match in _NAME.finditer(text, start, end):
                if _decode_name(match.group(1)) == b"OpenAction" and \
                        not _open_action_allowed(text, match.end(), objects):
                    raise _Refused("pdf_action")


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


def _stream_dictionary(data: bytes, keyword: int, header_ends: list[int]) -> bytes | None:
    """The dictionary of the stream whose keyword is at `keyword`: the one that starts right
    after an object header and ends, balanced, right before the keyword. A string in the
    dictionary that looks like a header ("(1 0 obj)") makes the nearest header a false one,
    so a few more are tried."""
    index = bisect.bisect_right(header_ends, keyword)
    for header_end in reversed(header_ends[max(0, index - _DICT_CANDIDATES):index]):
        if keyword - header_end > _DICT_LIMIT:
            break
        start = _skip_space(data, header_end)
        if not data.startswith(b"<<", start):
            continue
        end = _dict_end(data, start, keyword)
        if end is not None and not _COMMENT.sub(b"", data[end:keyword]).strip(_WHITESPACE):
            return data[start:end]
    return None


def _integer(dictionary: bytes, key: bytes) -> int | None:
    """The direct integer value of `key` (names already decoded); None when absent or a reference."""
    match = _INTEGER_KEY[key].search(dictionary)
    if match is None:
        return None
    reference = _REFERENCE.match(dictionary, _skip_space(dictionary, match.start(1)))
    return None if reference else int(match.group(1))


def _normalized(dictionary: bytes) -> bytes:
    if b"#" not in dictionary:
        return dictionary
    return _NAME.sub(lambda m: b"/" + _decode_name(m.group(1)), dictionary)


def _stream_end(data: bytes, start: int, dictionary: bytes) -> int:
    """Where the stream's data ends: at /Length when `endstream` is there, else at the next one."""
    length = _integer(_normalized(dictionary), b"Length")
    if length is not None and start + length <= len(data):
        after = _skip_space(data, start + length)
        if data.startswith(b"endstream", after):
            return after + len(b"endstream")
    found = data.find(b"endstream", start)
    return len(data) if found < 0 else found + len(b"endstream")


def _filters(dictionary: bytes) -> list[bytes]:
    if b"/Filter" not in dictionary:
        return []
    match = _FILTER.search(dictionary)
    if match is None:
        raise _Refused("pdf_damaged")  # a filter given by reference: not followed
    return [_decode_name(m.group(1)) for m in _NAME.finditer(match.group(1))]


def _unpack(data: bytes, start: int, dictionary: bytes, budget: _Budget) -> bytes:
    """An object stream's data, unfiltered; refuses the file when it cannot be."""
    dictionary = _normalized(dictionary)
    content = _decode(data, start, _filters(dictionary), budget)
    predictor = _integer(dictionary, b"Predictor") or 1
    if predictor >= 10:
        content = _unpredict(content, _integer(dictionary, b"Columns") or 1,
                             _integer(dictionary, b"Colors") or 1,
                             _integer(dictionary, b"BitsPerComponent") or 8)
    elif predictor != 1:
        raise _Refused("pdf_damaged")  # the TIFF predictor: not read, so not trusted
    return content


def _decode(data: bytes, start: int, filters: list[bytes], budget: _Budget) -> bytes:
    """Stream data from `start` through these filters; each of them says where its data ends."""
    if not filters:
        end = data.find(b"endstream", start)
        content = data[start:end if end >= 0 else len(data)]
        budget.take(len(content))
        return content
    content, at = data, start
    for name in filters:
        if name in _FLATE:
            content = _inflate(content, at, budget)
        elif name in _HEX:
            content = _unhex(content, at, budget)
        elif name in _A85:
            content = _un85(content, at, budget)
        else:
            raise _Refused("pdf_damaged")  # LZW, RunLength, ...: not read, so not trusted
        at = 0
    return content


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


# The filter chains a stream whose dictionary could not be read is tried with.
_SNIFF_CHAINS = ((b"Fl",), (b"AHx", b"Fl"), (b"AHx",), (b"A85", b"Fl"), (b"A85",))
_HEX_TEXT = re.compile(rb"[0-9A-Fa-f\x00\t\n\x0c\r ]{2,}")
_A85_TEXT = re.compile(rb"[!-uz\x00\t\n\x0c\r ]{5,}")


def _sniffed_object_stream(data: bytes, start: int, budget: _Budget) -> bytes | None:
    """The data of a stream whose dictionary could not be read, if it unpacks to what looks
    like an object stream (a writer may have hidden its dictionary from this reader)."""
    for chain in _SNIFF_CHAINS:
        head = data[start:start + _CHUNK]
        for name in chain:
            head = _head(head, name)
            if head is None:
                break
        if head is not None and _OBJSTM_HEADER.match(head):
            return _decode(data, start, list(chain), budget)
    return None


def _head(data: bytes, name: bytes) -> bytes | None:
    """The first bytes `data` decodes to through one filter; None when it is not such data."""
    try:
        if name == b"Fl":
            if len(data) < 2 or data[0] & 0x0F != 8 or (data[0] << 8 | data[1]) % 31:
                return None
            return zlib.decompressobj().decompress(data, _SNIFF_BYTES)
        if name == b"AHx":
            text = _HEX_TEXT.match(data)
            digits = bytes(b for b in text.group() if b not in _WHITESPACE) if text else b""
            return bytes.fromhex(digits[:len(digits) // 2 * 2].decode()) if digits else None
        text = _A85_TEXT.match(data)
        chars = bytes(b for b in text.group() if b not in _WHITESPACE) if text else b""
        if b"z" in chars:
            chars = chars[:chars.index(b"z")]
        return base64.a85decode(chars[:len(chars) // 5 * 5]) if chars else None
    except (zlib.error, ValueError):
        return None


def _index_object_stream(content: bytes, dictionary: bytes, objects: _Objects) -> None:
    """Note where each object of an object stream starts (to follow an /OpenAction)."""
    first = _integer(_normalized(dictionary), b"First") if dictionary else None
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

