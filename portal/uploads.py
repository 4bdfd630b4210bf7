"""Evidence files: checked by content, images re-encoded without metadata, stored outside the web root.

A photo taken on a phone usually carries the place it was taken (EXIF GPS) and the
device; a resident who reports an agency must not be located through their evidence.
So images are decoded and written again from their pixels alone, and nothing about a
file is trusted that the file's own bytes do not show: not its name, not the browser's
content type.

The work is done in two steps. First `check_files` does only what reads a few bytes (count,
size, empty, the magic bytes of JPEG/PNG/WebP/PDF) so that the sender gets a message next to
the field at once. The file then waits in quarantine (`portal.quarantine`) until the scan has
decoded and re-encoded it (`reencode`, here) or inspected it as a PDF, which is the check that
decides. Where the scan runs depends on the deployment: with REDIS_URL set it is an RQ job, so
no decoder runs in the process that serves requests; without it (the embedded default: `make
run`, the tests) the request that received the file runs the scan itself once the files'
rows are committed, and the decoders run in that process.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageOps
from werkzeug.datastructures import FileStorage

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 5
# Below Pillow's own bomb threshold (about 89 MP) so our check, with its own message,
# always comes first; 40 MP still takes any ordinary phone photo.
MAX_PIXELS = 40_000_000
MAX_NAME_CHARS = 255
JPEG_QUALITY = 85
# PDF readers accept %%EOF anywhere in the last kilobyte (trailing whitespace or junk
# after it is common), so that is where it is looked for.
PDF_EOF_WINDOW = 1024

_READ_CHUNK = 64 * 1024
_STORED_NAME = re.compile(r"[0-9a-f]{32}")

# Pillow's format name(s) that a file with these magic bytes may legitimately open as.
# MPO is how Pillow opens the multi-picture JPEGs some phones write.
_PILLOW_FORMATS = {
    "image/jpeg": {"JPEG", "MPO"},
    "image/png": {"PNG"},
    "image/webp": {"WEBP"},
}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


class UploadError(ValueError):
    """A file the portal will not accept; `message` is meant for the person who sent it.

    `code` is the short reason the scan job stores in `Attachment.refusal`.
    """

    def __init__(self, message, code: str = "wrong_type") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the request's checks: `data` is still the bytes as sent."""

    original_name: str
    content_type: str
    data: bytes
    size: int
    sha256: str


def check_files(files: list[FileStorage]) -> list[CheckedFile]:
    """The request's checks of every file, or UploadError for the first bad one.

    What passes goes to quarantine as sent; the scan job decides whether it is kept.
    """
    # Count before reading anything so that a request with too many files costs no
    # decoding; a field left empty arrives as a FileStorage without a name.
    if sum(1 for f in files if f.filename) > MAX_FILES:
        raise UploadError(_too_many())
    checked: list[CheckedFile] = []
    for storage in files:
        data = _read_bounded(storage)
        if not storage.filename and not data:
            continue
        if len(checked) == MAX_FILES:
            raise UploadError(_too_many())
        checked.append(_check_one(storage.filename or "", data))
    return checked


def store(upload_dir: Path, checked: CheckedFile) -> str:
    """Write a checked file under a random name and return that name."""
    name = secrets.token_hex(16)
    path = path_for(upload_dir, name)
    # O_EXCL: never follow or overwrite whatever might already sit at that path.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        # A umask may have taken the owner's own bits away; the mode must be exact.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(checked.data)
            fh.flush()
            # The case row that refers to this file is committed next; the file must
            # not be the thing a crash loses.
            os.fsync(fh.fileno())
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return name


def path_for(upload_dir: Path | str, stored_name: str) -> Path:
    """Where a stored file lives; only names `store` could have made are accepted."""
    if not isinstance(stored_name, str) or not _STORED_NAME.fullmatch(stored_name):
        raise ValueError("not a stored file name")
    return Path(upload_dir) / stored_name


def remove(upload_dir: Path | str, stored_name: str) -> None:
    path_for(upload_dir, stored_name).unlink(missing_ok=True)


# Reading and naming


def _read_bounded(storage: FileStorage) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes: enough to tell that a file is too large, never more."""
    stream = storage.stream
    limit = MAX_FILE_BYTES + 1
    buf = bytearray()
    # read(n) may return fewer bytes than asked without being at the end, so loop,
    # and never ask for more than is still allowed.
    while len(buf) < limit:
        chunk = stream.read(min(_READ_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def display_name(filename: str, content_type: str = "") -> str:
    """The name to show for a file: its last path part, printable, at most 255 characters.

    werkzeug's secure_filename drops every non-ASCII letter, which would turn most
    Vietnamese names into nothing; this name is only ever shown (escaped) or sent in a
    Content-Disposition header, never used as a path, so Unicode letters stay.
    """
    name = unicodedata.normalize("NFC", filename or "")
    # Some browsers on Windows send the whole client path.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters include right-to-left overrides, which can make
    # "photo\u202egpj.exe" display as "photoexe.jpg".
    kept = []
    for ch in name:
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in _DROPPED_CATEGORIES:
            kept.append(ch)
    name = " ".join("".join(kept).split()).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or "evidence" + _EXTENSIONS.get(content_type, "")


def sniff(data: bytes) -> str | None:
    """The type the file's own first bytes show, if it is one the portal takes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


# Checking


def _check_one(filename: str, data: bytes) -> CheckedFile:
    shown = display_name(filename)
    content_type = check_bytes(data, shown)
    return CheckedFile(
        original_name=display_name(filename, content_type),
        content_type=content_type,
        data=data,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def check_bytes(data: bytes, shown: str = "") -> str:
    """The checks that read only a few bytes: the file's type, or UploadError.

    The request runs them for a message next to the field; the scan job runs them again,
    since the quarantined bytes are what counts.
    """
    if len(data) > MAX_FILE_BYTES:
        raise UploadError(_l("“%(name)s” is larger than %(size)d MB.",
                             name=shown, size=MAX_FILE_BYTES // (1024 * 1024)), "too_large")
    if not data:
        raise UploadError(_l("“%(name)s” is empty.", name=shown), "empty")
    content_type = sniff(data)
    if content_type is None:
        raise UploadError(_l("“%(name)s” is not a photo (JPEG, PNG, WebP) or a PDF.", name=shown),
                          "wrong_type")
    if content_type == "application/pdf" and b"%%EOF" not in data[-PDF_EOF_WINDOW:]:
        raise UploadError(_l("“%(name)s” is not a complete PDF file. It may be damaged.",
                             name=shown), "pdf_damaged")
    return content_type


def reencode(data: bytes, content_type: str, shown: str = "") -> bytes:
    """The image written again from its pixels alone, upright and in sRGB; or UploadError.

    Only the scan calls this: decoders are where a hostile file does its harm, so with
    REDIS_URL set they run in an RQ worker, not in the process that serves requests (without
    it the request runs the scan; see the module's docstring).
    """
    unreadable = UploadError(
        _l("“%(name)s” could not be read as an image. It may be damaged.", name=shown),
        "unreadable")
    too_large = UploadError(
        _l("“%(name)s” has too many pixels. Send a smaller photo (at most %(mp)d megapixels).",
           name=shown, mp=MAX_PIXELS // 1_000_000), "too_many_pixels")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            # Opening reads only the header, so a bomb is caught before any pixel is decoded.
            if probe.format not in _PILLOW_FORMATS[content_type]:
                raise unreadable
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise too_large
            probe.verify()
        # verify() leaves the image unusable; decode from a fresh open.
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return _encode_clean(im, content_type)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except Exception:
        # A hostile or broken file can make a decoder fail in many ways (OSError,
        # SyntaxError, struct.error, EOFError, ValueError, ...); each means the same
        # thing to the sender.
        raise unreadable from None


def _encode_clean(im: Image.Image, content_type: str) -> bytes:
    # Turn the picture upright while the orientation tag is still there to read:
    # without EXIF a viewer would otherwise show it on its side.
    im = ImageOps.exif_transpose(im)
    im = _to_srgb(im)
    if content_type == "image/jpeg":
        fmt, mode_ok = "JPEG", im.mode in {"L", "RGB"}
    elif content_type == "image/png":
        fmt, mode_ok = "PNG", im.mode in _PNG_MODES
    else:
        fmt, mode_ok = "WEBP", im.mode in {"RGB", "RGBA"}
    if not mode_ok:
        has_alpha = "A" in im.getbands() or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha and fmt != "JPEG" else "RGB")
    # Only pixel data is carried over: EXIF, XMP, ICC profiles, comments and text
    # chunks all live in info, and some savers (PNG's ICC, JPEG's comment) read it.
    keep = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
    im.info = keep
    out = io.BytesIO()
    if fmt == "JPEG":
        im.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, exif=b"")
    elif fmt == "PNG":
        im.save(out, "PNG", optimize=False)
    else:
        im.save(out, "WEBP", quality=JPEG_QUALITY, exif=b"", xmp=b"", icc_profile=b"")
    return out.getvalue()


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    """Bake an embedded colour profile into the pixels, so dropping it does not change the colours.

    Phones save in Display P3 and print shops in CMYK; without the profile those
    would look washed out or wrong once re-encoded.
    """
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in {"RGB", "RGBA", "CMYK"}:
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(im, source, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken profile is no reason to refuse the photo; the colours are just unmanaged.
        return im
    if converted is None:
        return im
    converted.info = {}
    return converted


def _too_many():
    return _l("You can attach at most %(count)d files.", count=MAX_FILES)
