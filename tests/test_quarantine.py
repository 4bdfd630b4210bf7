"""Evidence files wait in quarantine until the scan job has checked them by content."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import threading
import time
import zlib
from datetime import timedelta

import pytest
from PIL import ExifTags, Image
from sqlalchemy import select

from portal import jobs, quarantine, uploads
from portal.db import utcnow
from portal.models import Attachment, Case
from portal.uploads import UploadError
from portal.vocab import CaseStatus, Outcome
from tests.factories import PASSWORD
from tests.helpers import AuthActions, csrf_of
from tests.test_citizen import ReportPage

# -- PDFs made here, byte by byte ---------------------------------------------------------------


def pdf(*objects: bytes, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF with these objects (numbered from 1), a cross-reference table and a trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, trailer, xref)
    return bytes(out)


def stream(data: bytes, entries: bytes = b"", flate: bool = True) -> bytes:
    if flate:
        data = zlib.compress(data)
        entries += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), entries) + data + b"\nendstream"


def object_stream(objects: dict[int, bytes], entries: bytes = b"/Type /ObjStm",
                  encode=zlib.compress, filters: bytes | None = b"/FlateDecode",
                  gap: bytes = b"\n", key: bytes = b"/Filter", params: bytes = b"") -> bytes:
    """An object stream (PDF 1.5) holding these objects, compressed (`filters` under `key`,
    then `params`, as the stream's dictionary says them)."""
    bodies, header, offset = b"", [], 0
    for number, body in objects.items():
        header.append(b"%d %d" % (number, offset))
        bodies += body + b"\n"
        offset = len(bodies)
    head = b" ".join(header) + b"\n"
    data = encode(head + bodies)
    filter_entry = b"" if filters is None else b" %s %s" % (key, filters)
    return (b"<< %s /N %d /First %d%s%s /Length %d >>%sstream\n"
            % (entries, len(objects), len(head), filter_entry, params, len(data), gap)
            + data + b"\nendstream")


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
CONTENT = stream(b"BT /F1 12 Tf 72 720 Td (Bien ban kiem tra) Tj ET")


def plain_pdf(catalog: bytes = CATALOG, *more: bytes) -> bytes:
    return pdf(catalog, PAGES, PAGE, CONTENT, *more)


def said(app, text) -> str:
    """A message as the pages say it (in the language a browser without preferences gets)."""
    from flask_babel import gettext
    from markupsafe import escape

    with app.test_request_context():
        return str(escape(str(text) if not isinstance(text, str) else gettext(text)))


def refusal(data: bytes) -> str | None:
    try:
        quarantine.clean_bytes(data)
    except UploadError as error:
        return error.code
    return None


# -- PDFs: what passes -------------------------------------------------------------------------


def test_a_plain_pdf_passes_as_sent():
    data = plain_pdf()
    assert quarantine.clean_bytes(data) == ("application/pdf", data)


@pytest.mark.parametrize("open_action", [
    b"[3 0 R /Fit]",                       # open at the first page, whole page shown
    b"5 0 R",                              # the same destination, by reference
    b"<< /S /GoTo /D [3 0 R /FitH 800] >>",  # a GoTo action
    b"(chapter-1)",                        # a named destination
])
def test_an_open_action_that_only_goes_to_a_page_passes(open_action):
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction %s >>" % open_action
    assert refusal(plain_pdf(catalog, b"[3 0 R /XYZ 0 842 null]")) is None


def test_a_pdf_with_object_streams_and_a_compressed_xref_passes():
    # What modern writers make: the catalog and pages inside a compressed object stream.
    objects = {1: CATALOG, 2: PAGES, 3: PAGE}
    data = pdf(b"<< >>", b"<< >>", b"<< >>", CONTENT, object_stream(objects),
               stream(b"\x01\x00\x10\x00" * 8, b" /Type /XRef /W [1 2 1] /Size 6"))
    assert refusal(data) is None


def test_a_link_the_reader_must_click_passes():
    annotation = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] " \
                 b"/A << /S /URI /URI (https://hanoi.gov.vn/) >> >>"
    assert refusal(plain_pdf(CATALOG, annotation)) is None


def test_binary_stream_data_is_not_read_as_names():
    # Image data that happens to contain "/JS" and "/AA" bytes is no script.
    noise = b"\x00\x81/JS \x92/AA\n/JavaScript " * 10
    image = b"<< /Type /XObject /Subtype /Image /Width 4 /Height 4 /BitsPerComponent 8 " \
            b"/ColorSpace /DeviceGray /Length %d >>\nstream\n" % len(noise) + noise + \
            b"\nendstream"
    assert refusal(plain_pdf(CATALOG, image)) is None


# -- PDFs: what is refused ----------------------------------------------------------------------


JS_ACTION = b"<< /S /JavaScript /JS (app.alert('x')) >>"


@pytest.mark.parametrize("label,data,code", [
    ("/JavaScript in the open action",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", JS_ACTION),
     "pdf_javascript"),
    ("hex-escaped /J#61vaScript",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
               b"<< /S /J#61vaScript /J#53 (app.alert('x')) >>"), "pdf_javascript"),
    ("a document-level script",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 5 0 R >> >>",
               b"<< /Names [(a) 6 0 R] >>"), "pdf_javascript"),
    ("/Launch",
     plain_pdf(CATALOG, b"<< /Type /Annot /Subtype /Link /A << /S /L#61unch /F (cmd.exe) >> >>"),
     "pdf_action"),
    ("additional actions /AA",
     plain_pdf(CATALOG, b"<< /Type /Page /AA << /O 6 0 R >> >>", b"<< /S /GoTo /D [3 0 R] >>"),
     "pdf_action"),
    ("an open action that calls a server",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /URI /URI (http://x.example/t) >> >>"),
     "pdf_action"),
    ("an open action by reference to a URI",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
               b"<< /S /URI /URI (http://x.example/t) >>"), "pdf_action"),
    ("an open action that chains another",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /GoTo /D [3 0 R] "
               b"/Next << /S /URI /URI (http://x.example/t) >> >> >>"), "pdf_action"),
    ("an open action to a missing object",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 99 0 R >>"), "pdf_action"),
    ("/EmbeddedFile",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 5 0 R >> >>",
               b"<< /Names [(a.exe) << /Type /Filespec /EF << /F 6 0 R >> >>] >>",
               stream(b"MZ\x90\x00", b" /Type /EmbeddedFile")), "pdf_embedded_file"),
    ("an embedded file alone",
     plain_pdf(CATALOG, stream(b"MZ\x90\x00", b" /Type /Embedded#46ile")), "pdf_embedded_file"),
    ("a file attachment annotation",
     plain_pdf(CATALOG, b"<< /Type /Annot /Subtype /FileAttachment /FS 6 0 R >>"),
     "pdf_embedded_file"),
    ("an XFA form",
     plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /XFA 5 0 R >> >>",
               stream(b"<xdp:xdp/>")), "pdf_active_content"),
    ("rich media",
     plain_pdf(CATALOG, b"<< /Type /Annot /Subtype /RichMedia >>"), "pdf_active_content"),
    ("encrypted",
     plain_pdf(CATALOG, b"<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>")
     .replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt 5 0 R"), "pdf_encrypted"),
    ("encrypted, the name hex-escaped",
     plain_pdf(CATALOG, b"<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>")
     .replace(b"/Root 1 0 R", b"/Root 1 0 R /#45ncrypt 5 0 R"), "pdf_encrypted"),
])
def test_a_pdf_that_runs_or_hides_something_is_refused(label, data, code):
    assert uploads.check_bytes(data) == "application/pdf"  # the request's checks let it through
    assert refusal(data) == code, label


def hidden_javascript(*more: bytes, **options) -> bytes:
    """The open action and its script inside a compressed object stream (number 6; `more`
    objects from 7 on): invisible in the file."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", 5: JS_ACTION}
    data = pdf(b"<< >>", PAGES, PAGE, CONTENT, b"<< >>", object_stream(objects, **options),
               *more)
    assert b"JavaScript" not in data and b"JS" not in data
    return data


def ascii_hex_then_flate(raw: bytes) -> bytes:
    return zlib.compress(raw).hex().encode() + b">"


def ascii85_then_flate(raw: bytes) -> bytes:
    return base64.a85encode(zlib.compress(raw), wrapcol=60) + b"~>"


# More strings that look like object headers than the reader tries: the dictionary is lost
# to it, and the stream is recognised by what its data unpacks to.
MANY_FALSE_HEADERS = b"/Type /ObjStm " + b" ".join(b"/K%d (%d 0 obj)" % (i, i) for i in range(40))


@pytest.mark.parametrize("options", [
    {},
    {"entries": b"/Type /Obj#53tm"},                          # the type hex-escaped
    {"entries": b"/Type /ObjStm /Note (6 0 obj)"},             # a false object header
    {"entries": b"/Type /ObjStm " + b" ".join(b"/K%d (%d 0 obj)" % (i, i) for i in range(8))},
    {"entries": b""},                                          # no /Type: /N and /First say it
    {"gap": b"\n% a comment\n"},                             # a comment before "stream"
    {"encode": ascii_hex_then_flate, "filters": b"[/AHx /Fl]"},
    {"encode": ascii85_then_flate, "filters": b"[/A85 /FlateDecode]"},
    {"entries": MANY_FALSE_HEADERS},
    {"entries": MANY_FALSE_HEADERS, "encode": ascii_hex_then_flate, "filters": b"[/AHx /Fl]"},
    {"entries": MANY_FALSE_HEADERS, "encode": ascii85_then_flate, "filters": b"[/A85 /Fl]"},
], ids=["flate", "escaped type", "false header", "false headers", "untyped", "comment",
         "hex then flate", "ascii85 then flate", "dictionary lost", "dictionary lost, hex",
         "dictionary lost, ascii85"])
def test_javascript_hidden_in_a_compressed_object_stream_is_refused(options):
    assert refusal(hidden_javascript(**options)) == "pdf_javascript"


def test_an_open_action_into_an_object_stream_is_followed():
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 7 0 R >>",
               7: b"<< /S /URI /URI (http://x.example/t) >>"}
    bad = pdf(b"<< >>", PAGES, PAGE, CONTENT, object_stream(objects))
    assert refusal(bad) == "pdf_action"
    objects[7] = b"[3 0 R /Fit]"
    good = pdf(b"<< >>", PAGES, PAGE, CONTENT, object_stream(objects))
    assert refusal(good) is None


def test_an_object_stream_that_does_not_unpack_is_refused():
    broken = object_stream({1: CATALOG}, encode=lambda raw: zlib.compress(raw)[:-8])
    assert refusal(pdf(b"<< >>", PAGES, PAGE, CONTENT, broken)) == "pdf_damaged"
    lzw = object_stream({1: CATALOG}, filters=b"/LZWDecode")
    assert refusal(pdf(b"<< >>", PAGES, PAGE, CONTENT, lzw)) == "pdf_damaged"


def test_an_object_stream_that_unpacks_to_a_bomb_is_refused_within_the_budget():
    bomb = b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\nstream\n" + zlib.compress(
        b"1 0 " + b" " * (quarantine.MAX_UNPACKED + 1024), 9) + b"\nendstream"
    data = pdf(CATALOG, PAGES, PAGE, CONTENT, bomb)
    assert len(data) < 200_000
    assert refusal(data) == "pdf_too_large"


# -- PDFs: what a viewer may read that a scan must not miss ----------------------------------


def pdf_at(*chunks, size: int, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """The chunks as they are, and a cross-reference table that gives each (number, bytes)
    chunk's offset as that object's, wherever the chunk stands: even inside another's data."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for chunk in chunks:
        if isinstance(chunk, tuple):
            offsets[chunk[0]] = len(out)
            chunk = chunk[1]
        out += chunk
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets.get(number, 0) for number in range(1, size))
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (size, trailer, xref)
    return bytes(out)


def numbered(number: int, body: bytes, header: bytes | None = None) -> tuple[int, bytes]:
    return number, (header or b"%d 0 obj" % number) + b"\n" + body + b"\nendobj\n"


def document_script(header: bytes | None = None) -> list[tuple[int, bytes]]:
    """A document-level script, as objects 5 to 7 (5 with this header)."""
    return [numbered(5, b"<< /JavaScript 6 0 R >>", header),
            numbered(6, b"<< /Names [(a) 7 0 R] >>"), numbered(7, JS_ACTION)]


SCRIPTED_CATALOG = b"<< /Type /Catalog /Pages 2 0 R /Names 5 0 R >>"


@pytest.mark.parametrize("header", [
    b"5 0 obj",
    b"5 0 % a comment between the words\nobj",  # MuPDF reads this header too
    b"5 0obj",                                 # and pdf.js this one
], ids=["plain", "comment", "glued"])
def test_objects_hidden_in_the_data_of_a_stream_are_refused(header):
    # A viewer goes where the cross-reference table says, into the dummy stream's data, and
    # finds the script; a scan that sets stream data aside never reads it.
    hidden = document_script(header)
    length = sum(len(body) for _, body in hidden)
    data = pdf_at(numbered(1, SCRIPTED_CATALOG), numbered(2, PAGES), numbered(3, PAGE),
                  (4, b"4 0 obj\n<< /Length %d >>\nstream\n" % length), *hidden,
                  b"\nendstream\nendobj\n", size=8)
    assert uploads.check_bytes(data) == "application/pdf"
    assert refusal(data) == "pdf_hidden"
    # The same objects where anyone can see them: refused for what they are.
    visible = pdf_at(numbered(1, SCRIPTED_CATALOG), numbered(2, PAGES), numbered(3, PAGE),
                     *document_script(header), size=8)
    assert refusal(visible) == "pdf_javascript"


def test_a_stream_begun_inside_a_string_does_not_hide_what_follows_it():
    # "9 0 obj << /Length 80 >> stream" in a string is no stream: the string ends, and the
    # open action after it is the catalog's.
    catalog = (b"<< /Type /Catalog /Pages 2 0 R /X (9 0 obj << /Length 80 >> stream\n) "
               b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> /Y (\nendstream) >>")
    assert refusal(pdf(catalog, PAGES, PAGE)) == "pdf_javascript"
    quiet = b"<< /Type /Catalog /Pages 2 0 R /X (9 0 obj << /Length 80 >> stream\n) >>"
    assert refusal(pdf(quiet, PAGES, PAGE)) == "pdf_hidden"  # a header where none can be


def test_a_stream_that_follows_no_object_dictionary_is_refused():
    # pdf.js takes a stream after any dictionary, other readers only after an object's own.
    catalog = b"<< /Type /Catalog /Pages 2 0 R /X << /Length 3 >> stream\nabc\nendstream >>"
    assert refusal(pdf(catalog, PAGES, PAGE)) == "pdf_hidden"
    assert refusal(plain_pdf(CATALOG, b"[<< /Length 3 >>\nstream\nabc\nendstream]")) \
        == "pdf_hidden"


def test_a_cross_reference_section_hidden_in_stream_data_is_refused():
    section = (b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R "
               b"/Encrypt << /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >> >>\n")
    data = plain_pdf(CATALOG, stream(section, flate=False))
    assert refusal(data) == "pdf_hidden"  # a trailer in stream data
    pointed = data[:data.rindex(b"startxref")] + b"startxref\n%d\n%%%%EOF\n" % data.index(
        b"xref\n0 1\n")
    assert refusal(pointed) == "pdf_hidden"
    # A pointer into the middle of a comment: a viewer would read from there what the scan
    # took for a comment.
    into_comment = plain_pdf().replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev 12")
    assert into_comment[12:13] in b"\xe2\xe3\xcf\xd3"
    assert refusal(into_comment) == "pdf_hidden"


def png_up_then_flate(raw: bytes, columns: int = 8) -> bytes:
    """The PNG "up" predictor (each byte less the one above it), then FlateDecode."""
    rows, previous = [], bytes(columns)
    for at in range(0, len(raw), columns):
        row = raw[at:at + columns].ljust(columns, b" ")
        rows.append(b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, previous, strict=True)))
        previous = row
    return zlib.compress(b"".join(rows))


@pytest.mark.parametrize("options", [
    {"key": b"/F"},
    {"key": b"/F", "encode": ascii_hex_then_flate, "filters": b"[/AHx /Fl]"},
    {"encode": png_up_then_flate, "params": b" /DP << /Predictor 12 /Columns 8 >>"},
    {"encode": png_up_then_flate, "filters": b"[/FlateDecode]",
     "params": b" /DecodeParms [<< /Predictor 12 /Columns 8 >>]"},
    {"encode": png_up_then_flate, "params": b" /DecodeParms << /Predictor 12 /Columns 8 >>"},
], ids=["/F", "/F array", "/DP", "parameter array", "parameters"])
def test_an_object_stream_is_unpacked_with_the_abbreviated_filter_keys(options):
    # pdf.js reads /F and /DP as /Filter and /DecodeParms in any stream.
    assert refusal(hidden_javascript(**options)) == "pdf_javascript"


@pytest.mark.parametrize("options,more", [
    ({"filters": b"[7 0 R]"}, [b"/FlateDecode"]),
    ({"filters": b"7 0 R"}, [b"/FlateDecode"]),
    ({"filters": b"[/AHx 7 0 R]", "encode": ascii_hex_then_flate}, [b"/FlateDecode"]),
    ({"encode": png_up_then_flate, "params": b" /DecodeParms 7 0 R"},
     [b"<< /Predictor 12 /Columns 8 >>"]),
    ({"params": b" /F /FlateDecode"}, []),  # both /Filter and /F: readers take one each
    ({"filters": b"[/FlateDecode]", "params": b" /DecodeParms << /Predictor 1 >>"}, []),
], ids=["filter array", "filter", "filter in a chain", "parameters", "both keys",
         "parameters not shaped like the filters"])
def test_an_object_stream_whose_filters_are_not_given_plainly_is_refused(options, more):
    # Filters by reference are followed by MuPDF, pdf.js and pypdf; this reader does not,
    # so it cannot tell what the stream holds.
    assert refusal(hidden_javascript(*more, **options)) == "pdf_damaged"


def test_an_uncompressed_object_stream_is_read_to_its_length():
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /N (\nendstream\n) >>",
               5: JS_ACTION}
    data = pdf(b"<< >>", PAGES, PAGE, CONTENT, b"<< >>",
               object_stream(objects, encode=lambda raw: raw, filters=None))
    assert refusal(data) == "pdf_javascript"


@pytest.mark.parametrize("entries", [
    b"/F (evidence.bin)",
    b"/F << /FS /URL /F (http://x.example/evidence.bin) >>",
    b"/F 7 0 R",
    b"/FFilter /FlateDecode",
])
def test_a_stream_whose_data_is_in_another_file_is_refused(entries):
    external = b"<< /Length 0 %s >>\nstream\n\nendstream" % entries
    assert refusal(plain_pdf(CATALOG, external)) == "pdf_external"


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (40, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def ordinary_pdf() -> bytes:
    """What writers make of a page of text with a photo: a content stream of text operators, a
    JPEG, a compressed image with predictor parameters, a font, outlines (whose items name
    each other with /Prev), uncompressed XMP metadata, and an incremental update."""
    photo = small_jpeg()
    pixels = png_up_then_flate(bytes(range(256)) * 3, columns=12)
    content = (b"BT /F1 12 Tf 72 720 Td (Bi\\352n b\\341n ki\\352m tra s\\366 5 0) Tj ET\n"
               b"q 160 0 0 120 72 560 cm /Im1 Do Q q 40 0 0 64 260 560 cm /Im2 Do Q")
    metadata = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta '
                b'xmlns:x="adobe:ns:meta/"><dc:title>12 3 objects</dc:title></x:xmpmeta>'
                b'<?xpacket end="w"?>')
    data = pdf(
        b"<< /Type /Catalog /Pages 2 0 R /Outlines 7 0 R /Metadata 11 0 R "
        b"/OpenAction [3 0 R /Fit] /PageMode /UseOutlines >>",
        PAGES,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources "
        b"<< /Font << /F1 6 0 R >> /XObject << /Im1 5 0 R /Im2 10 0 R >> >> >>",
        stream(content),
        b"<< /Type /XObject /Subtype /Image /Width 16 /Height 12 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % len(photo)
        + photo + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Outlines /First 8 0 R /Last 9 0 R /Count 2 >>",
        b"<< /Title (1. N\\364i dung) /Parent 7 0 R /Next 9 0 R /Dest [3 0 R /Fit] >>",
        b"<< /Title (2. K\\352t lu\\342n) /Parent 7 0 R /Prev 8 0 R /Dest [3 0 R /Fit] >>",
        b"<< /Type /XObject /Subtype /Image /Width 4 /Height 64 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /FlateDecode "
        b"/DecodeParms << /Predictor 15 /Colors 3 /Columns 4 >> /Length %d >>\r\nstream\r\n"
        % len(pixels) + pixels + b"\r\nendstream",
        b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(metadata)
        + metadata + b"\nendstream")
    # An incremental update, as a viewer that saves a form or a signature appends one.
    previous = int(data[data.rindex(b"startxref") + 9:data.rindex(b"%%EOF")])
    update = len(data)
    data += b"12 0 obj\n<< /Producer (Writer) >>\nendobj\n"
    xref = len(data)
    data += (b"xref\n0 1\n0000000000 65535 f \n12 1\n%010d 00000 n \ntrailer\n"
             b"<< /Size 13 /Root 1 0 R /Info 12 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
             % (update, previous, xref))
    return data


def test_an_ordinary_pdf_with_text_images_outlines_and_an_update_passes():
    data = ordinary_pdf()
    assert quarantine.clean_bytes(data) == ("application/pdf", data)


@pytest.mark.parametrize("pages", [1, 3])
def test_a_pdf_written_by_pillow_passes(pages):
    frames = [Image.new("RGB", (40, 30), (20 * i, 80, 200)) for i in range(pages)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PDF", save_all=True, append_images=frames[1:], resolution=72)
    data = buffer.getvalue()
    assert refusal(data) is None


# -- images --------------------------------------------------------------------------------------


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (21.0, 1.0, 42.0)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_an_image_that_does_not_decode_is_refused():
    assert refusal(b"\xff\xd8\xff\xe0" + b"\0" * 300) == "unreadable"
    assert refusal(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10) == "unreadable"
    assert refusal(b"just words") == "wrong_type"


# -- the whole way: request, quarantine, scan, download ----------------------------------------


def quarantine_dir(app):
    return quarantine.folder(app.config["PORTAL_SETTINGS"].upload_dir)


def store_dir(app):
    return app.config["PORTAL_SETTINGS"].upload_dir


def stored(app) -> list[str]:
    return sorted(p.name for p in store_dir(app).iterdir() if p.is_file())


def held(app) -> list[str]:
    where = quarantine_dir(app)
    return sorted(p.name for p in where.iterdir()) if where.exists() else []


def report_with(client, factory, *files: tuple[bytes, str]) -> str:
    """File a report through the form; the reporter's tracking page address."""
    response = ReportPage(client, factory).send(
        files=[(io.BytesIO(data), name) for data, name in files])
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    client.get(response.headers["Location"])  # the receipt: this browser now follows the case
    with client.application.app_context():
        from portal.db import new_session

        db = new_session()
        reference = db.scalars(select(Case)).one().reference
        db.close()
    return f"/track/{reference}"


def attachments(session) -> list[Attachment]:
    session.expire_all()
    return list(session.scalars(select(Attachment).order_by(Attachment.id)))


def test_a_photo_with_gps_comes_out_clean_without_exif(app, client, factory, session):
    source = gps_jpeg()
    assert b"PhoneMaker" in source
    page = report_with(client, factory, (source, "ảnh hiện trường.jpg"))

    [item] = attachments(session)
    assert item.status == "clean" and item.refusal is None and item.checked_at is not None
    assert item.content_type == "image/jpeg" and item.original_name == "ảnh hiện trường.jpg"
    data = uploads.path_for(store_dir(app), item.stored_name).read_bytes()
    # The row describes the bytes kept, not the ones sent.
    assert item.size == len(data) and item.sha256 == hashlib.sha256(data).hexdigest()
    assert item.sha256 != hashlib.sha256(source).hexdigest()
    with Image.open(io.BytesIO(data)) as kept:
        assert not kept.getexif() and "exif" not in kept.info
    assert b"PhoneMaker" not in data
    assert held(app) == []  # the quarantined copy is gone
    assert stored(app) == [item.stored_name]

    html = client.get(page).get_data(as_text=True)
    assert f'href="{page}/files/{item.id}"' in html
    served = client.get(f"{page}/files/{item.id}")
    assert served.status_code == 200 and served.data == data


def test_a_quarantined_file_is_not_served_nor_linked_until_scanned(app, client, factory,
                                                                   session):
    page = report_with(client, factory)
    case = session.scalars(select(Case)).one()
    upload_dir = store_dir(app)
    [checked] = uploads.check_files([_storage(gps_jpeg(), "chờ.jpg")])
    item = Attachment(case_id=case.id, stored_name=quarantine.hold(upload_dir, checked),
                      original_name=checked.original_name, content_type=checked.content_type,
                      size=checked.size, sha256=checked.sha256, uploaded_by="reporter")
    session.add(item)
    session.commit()
    assert item.status == "quarantined"  # the default
    assert held(app) == [item.stored_name] and stored(app) == []
    mode = (quarantine_dir(app) / item.stored_name).stat().st_mode & 0o777
    assert mode == 0o600

    url = f"{page}/files/{item.id}"
    assert client.get(url).status_code == 404
    html = client.get(page).get_data(as_text=True)
    assert "chờ.jpg" in html and url not in html
    assert said(app, "being checked") in html

    with app.app_context():
        assert jobs.scan_attachment(item.id) == "clean"
    served = client.get(url)
    assert served.status_code == 200 and b"PhoneMaker" not in served.data
    assert f'href="{url}"' in client.get(page).get_data(as_text=True)


def _storage(data: bytes, name: str):
    from werkzeug.datastructures import FileStorage

    return FileStorage(stream=io.BytesIO(data), filename=name)


def test_a_photo_that_decodes_badly_is_refused_with_a_reason_and_deleted(app, client, factory,
                                                                         session):
    # The magic bytes of a JPEG: the request lets it through; the scan finds it is not one.
    page = report_with(client, factory, (b"\xff\xd8\xff\xe0" + os.urandom(2000), "hỏng.jpg"))
    [item] = attachments(session)
    assert (item.status, item.refusal) == ("refused", "unreadable")
    assert item.checked_at is not None
    assert held(app) == [] and stored(app) == []  # kept nowhere
    assert client.get(f"{page}/files/{item.id}").status_code == 404
    html = client.get(page).get_data(as_text=True)
    assert "hỏng.jpg" in html and f"{page}/files/{item.id}" not in html
    assert said(app, quarantine.REFUSAL_LABELS["unreadable"]) in html


def test_a_refused_pdf_in_an_agency_answer_is_listed_without_a_link(app, client, factory,
                                                                    session):
    officer = factory.officer("SO-XD")
    case = factory.case_in(CaseStatus.IN_PROGRESS)
    session.commit()
    AuthActions(client).login(officer.email, PASSWORD)
    html = client.get(f"/agency/cases/{case.id}").get_data(as_text=True)
    bad = plain_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", JS_ACTION)
    response = client.post(f"/agency/cases/{case.id}/act/answer", data={
        "csrf_token": csrf_of(html), "version": str(case.version),
        "findings": "Đã kiểm tra hồ sơ.", "outcome": Outcome.PARTLY,
        "evidence": [(io.BytesIO(bad), "bien-ban.pdf"), (io.BytesIO(plain_pdf()), "ok.pdf")]},
        content_type="multipart/form-data")
    assert response.status_code == 303
    refused, clean = attachments(session)
    assert (refused.status, refused.refusal) == ("refused", "pdf_javascript")
    assert clean.status == "clean"
    page = client.get(f"/agency/cases/{case.id}").get_data(as_text=True)
    assert "bien-ban.pdf" in page and f"/files/{refused.id}" not in page
    assert f"/files/{clean.id}" in page
    assert said(app, quarantine.REFUSAL_LABELS["pdf_javascript"]) in page
    assert client.get(f"/agency/cases/{case.id}/files/{refused.id}").status_code == 404
    assert client.get(f"/agency/cases/{case.id}/files/{clean.id}").status_code == 200


# -- the job: twice, late, at once ----------------------------------------------------------------


def quarantined(app, session, case: Case, data: bytes, name: str = "x",
                age: timedelta = timedelta(0)) -> Attachment:
    """A row as a request leaves it when nothing has scanned it yet."""
    [checked] = uploads.check_files([_storage(data, name)])
    item = Attachment(case_id=case.id,
                      stored_name=quarantine.hold(store_dir(app), checked),
                      original_name=checked.original_name, content_type=checked.content_type,
                      size=checked.size, sha256=checked.sha256, uploaded_by="reporter",
                      created_at=utcnow() - age)
    session.add(item)
    session.commit()
    return item


def snapshot(session, item: Attachment) -> tuple:
    session.expire_all()
    row = session.get(Attachment, item.id)
    return (row.status, row.refusal, row.stored_name, row.sha256, row.size, row.content_type,
            row.checked_at)


def test_running_the_scan_twice_changes_nothing_the_second_time(app, factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED)
    good = quarantined(app, session, case, gps_jpeg())
    bad = quarantined(app, session, case, plain_pdf(CATALOG, JS_ACTION))
    with app.app_context():
        assert jobs.scan_attachment(good.id) == "clean"
        assert jobs.scan_attachment(bad.id) == "refused"
        before = [snapshot(session, good), snapshot(session, bad)]
        files = stored(app)
        assert jobs.scan_attachment(good.id) == "clean"
        assert jobs.scan_attachment(bad.id) == "refused"
        assert jobs.scan_attachment(2**31 - 1) == "gone"
    assert [snapshot(session, good), snapshot(session, bad)] == before
    assert stored(app) == files and len(files) == 1 and held(app) == []
    assert before[1][:2] == ("refused", "pdf_javascript")


def test_a_quarantined_row_whose_file_is_lost_is_refused(app, factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED)
    item = quarantined(app, session, case, gps_jpeg())
    (quarantine_dir(app) / item.stored_name).unlink()
    with app.app_context():
        assert jobs.scan_attachment(item.id) == "refused"
    assert snapshot(session, item)[:2] == ("refused", "missing")


def test_the_periodic_catch_up_scans_the_rows_left_in_quarantine(app, factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED)
    photo = quarantined(app, session, case, gps_jpeg(), age=timedelta(minutes=5))
    script = quarantined(app, session, case, hidden_javascript(), age=timedelta(minutes=5))
    fresh = quarantined(app, session, case, gps_jpeg())  # its own job is on its way
    with app.app_context():
        assert jobs.scan_quarantine() == 2
        assert jobs.scan_quarantine() == 0
    assert snapshot(session, photo)[0] == "clean"
    assert snapshot(session, script)[:2] == ("refused", "pdf_javascript")
    assert snapshot(session, fresh)[0] == "quarantined"
    assert held(app) == [fresh.stored_name]
    assert next(j for j in jobs.PERIODIC_JOBS if j.name == "scan-quarantine").interval \
        == timedelta(minutes=1)


def test_the_catch_up_forgets_orphaned_quarantine_files_only(app, factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED)
    waiting = quarantined(app, session, case, gps_jpeg(), age=timedelta(days=3))
    [checked] = uploads.check_files([_storage(gps_jpeg(), "o.jpg")])
    orphan = quarantine.hold(store_dir(app), checked)
    young = quarantine.hold(store_dir(app), checked)
    old = time.time() - 2 * 86400
    for name in (waiting.stored_name, orphan):
        os.utime(quarantine_dir(app) / name, (old, old))
    with app.app_context():
        assert quarantine.prune_orphans() == 1
    assert held(app) == sorted([waiting.stored_name, young])


def test_two_scans_of_one_file_at_once_keep_one_clean_copy(app, factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED)
    item = quarantined(app, session, case, gps_jpeg())
    start = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def scan():
        try:
            with app.app_context():
                start.wait()
                results.append(quarantine.scan(item.id))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and results == ["clean", "clean"]
    row = snapshot(session, item)
    assert stored(app) == [row[2]] and held(app) == []


def test_the_log_names_the_attachment_and_the_outcome_only(app, factory, session, caplog):
    case = factory.case_in(CaseStatus.SUBMITTED)
    item = quarantined(app, session, case, hidden_javascript(), name="Nguyễn Văn A - đơn.pdf")
    with caplog.at_level(logging.INFO, logger="portal.quarantine"), app.app_context():
        quarantine.scan(item.id)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"attachment {item.id}" in text and "refused (pdf_javascript)" in text
    assert "Nguyễn" not in text and item.stored_name not in text


def test_every_refusal_the_scan_can_store_has_a_label_and_fits_its_column():
    codes = {"wrong_type", "too_large", "empty", "unreadable", "too_many_pixels", "missing",
             "pdf_damaged", "pdf_encrypted", "pdf_too_large", "pdf_javascript", "pdf_action",
             "pdf_embedded_file", "pdf_active_content", "pdf_hidden", "pdf_external"}
    assert set(quarantine.REFUSAL_LABELS) == codes
    assert all(len(code) <= Attachment.refusal.type.length for code in codes)
