"""Evidence files: checked by content, images re-encoded without metadata, stored safely.

The request's checks (`check_files`) read a few bytes and pass the file on as sent; the
decoding and re-encoding (`reencode`) is the scan job's (portal.quarantine, tests/test_quarantine.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zlib

import flask
import pytest
from flask_babel import Babel
from PIL import ExifTags, Image, ImageCms
from werkzeug.datastructures import FileStorage

from portal.uploads import (
    MAX_FILE_BYTES,
    MAX_FILES,
    CheckedFile,
    UploadError,
    check_files,
    display_name,
    path_for,
    reencode,
    remove,
    store,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def app_ctx():
    app = flask.Flask(__name__)
    Babel(app)
    with app.app_context():
        yield


def upload(data: bytes, filename: str = "evidence", content_type: str = "application/octet-stream"):
    return FileStorage(stream=io.BytesIO(data), filename=filename, content_type=content_type)


def two_halves(size=(40, 20), mode="RGB") -> Image.Image:
    """Red on the left, blue on the right, so a rotation shows where the left side went."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 2, size[1]))
    return im.convert(mode)


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Snoop 3000"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (21.0, 1.0, 42.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 51.0, 15.0)
    return exif


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def close_to(pixel, expected, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


def refused(files) -> str:
    """Refused by the request's own checks, with a message for the field."""
    with pytest.raises(UploadError) as info:
        check_files(files)
    message = str(info.value.message)
    assert message
    return message


def cleaned(data: bytes, filename: str = "evidence",
            content_type: str = "application/octet-stream") -> tuple[CheckedFile, bytes]:
    """What the request passes on (the bytes as sent), and what the scan job keeps of them."""
    [checked] = check_files([upload(data, filename, content_type)])
    assert checked.data == data
    return checked, reencode(checked.data, checked.content_type)


def refused_by_the_scan(data: bytes, filename: str = "evidence") -> UploadError:
    """Past the request's checks (the magic bytes are right), then refused by the scan."""
    [checked] = check_files([upload(data, filename)])
    with pytest.raises(UploadError) as info:
        reencode(checked.data, checked.content_type, filename)
    assert str(info.value.message)
    return info.value


# Images: metadata gone, orientation applied


def test_jpeg_loses_exif_gps_and_is_turned_upright(app_ctx):
    source = encode(two_halves(), "JPEG", exif=gps_exif(orientation=6), comment=b"taken at home")
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo), "the fixture must carry GPS data"

    checked, kept = cleaned(source, "ảnh hiện trường.jpg", "image/jpeg")

    assert checked.content_type == "image/jpeg"
    assert checked.original_name == "ảnh hiện trường.jpg"
    assert b"Exif" not in kept
    assert b"taken at home" not in kept
    assert b"PhoneCo" not in kept
    with Image.open(io.BytesIO(kept)) as stored:
        assert stored.format == "JPEG"
        assert not stored.getexif()
        assert "exif" not in stored.info and "comment" not in stored.info
        # Orientation 6 means "turn 90° clockwise to view": the left (red) half ends up on top.
        assert stored.size == (20, 40)
        rgb = stored.convert("RGB")
        assert close_to(rgb.getpixel((10, 5)), RED)
        assert close_to(rgb.getpixel((10, 35)), BLUE)


def test_checked_file_describes_the_bytes_as_sent():
    source = encode(two_halves(), "JPEG", exif=gps_exif())
    [checked] = check_files([upload(source, "a.jpg")])
    assert isinstance(checked, CheckedFile)
    # Nothing is decoded in the request: the bytes go to quarantine untouched.
    assert checked.data == source
    assert checked.size == len(checked.data)
    assert checked.sha256 == hashlib.sha256(checked.data).hexdigest()


def test_png_stays_png_without_text_or_exif():
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "home address")
    source = encode(two_halves(mode="RGBA"), "PNG", pnginfo=text, exif=gps_exif())

    checked, kept = cleaned(source, "screenshot.png")

    assert checked.content_type == "image/png"
    assert b"home address" not in kept
    with Image.open(io.BytesIO(kept)) as stored:
        assert stored.format == "PNG"
        assert stored.mode == "RGBA"
        assert not stored.getexif()
        assert "Comment" not in stored.info


def test_palette_png_keeps_its_transparency():
    im = two_halves().convert("P")
    source = encode(im, "PNG", transparency=0)
    _, kept = cleaned(source, "icon.png")
    with Image.open(io.BytesIO(kept)) as stored:
        assert stored.format == "PNG"
        assert "transparency" in stored.info


def test_webp_stays_webp_without_exif():
    source = encode(two_halves(), "WEBP", exif=gps_exif().tobytes(), quality=90)
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif(), "the fixture must carry EXIF data"

    checked, kept = cleaned(source, "photo.webp")

    assert checked.content_type == "image/webp"
    with Image.open(io.BytesIO(kept)) as stored:
        assert stored.format == "WEBP"
        assert not stored.getexif()
        assert "exif" not in stored.info
        assert stored.size == (40, 20)


def test_cmyk_jpeg_becomes_rgb_jpeg():
    _, kept = cleaned(encode(two_halves(mode="CMYK"), "JPEG"), "scan.jpg")
    with Image.open(io.BytesIO(kept)) as stored:
        assert (stored.format, stored.mode) == ("JPEG", "RGB")
        assert close_to(stored.getpixel((5, 10)), RED)


def test_icc_profile_is_dropped():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(two_halves(), "JPEG", icc_profile=profile)
    _, kept = cleaned(source, "p3.jpg")
    with Image.open(io.BytesIO(kept)) as stored:
        assert "icc_profile" not in stored.info
        assert close_to(stored.getpixel((5, 10)), RED)


def test_png_with_alpha_and_profile_keeps_its_alpha():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(Image.new("RGBA", (8, 8), (255, 0, 0, 10)), "PNG", icc_profile=profile)
    _, kept = cleaned(source, "overlay.png")
    with Image.open(io.BytesIO(kept)) as stored:
        assert "icc_profile" not in stored.info
        assert stored.mode == "RGBA"
        assert stored.getpixel((0, 0))[3] == 10


def test_broken_profile_does_not_refuse_the_photo():
    source = encode(two_halves(), "JPEG", icc_profile=b"not a profile at all")
    _, kept = cleaned(source, "odd.jpg")
    with Image.open(io.BytesIO(kept)) as stored:
        assert "icc_profile" not in stored.info


def test_the_type_comes_from_the_content_not_the_name():
    source = encode(two_halves(), "PNG")
    checked, kept = cleaned(source, "photo.jpg", "image/jpeg")
    assert checked.content_type == "image/png"
    assert kept.startswith(b"\x89PNG")


# Refused by content


@pytest.mark.parametrize("payload", [
    b"\x7fELF\x02\x01\x01\x00" + b"\0" * 200,
    b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 200,
])
def test_executable_named_like_a_photo_is_refused(app_ctx, payload):
    message = refused([upload(payload, "photo.jpg", "image/jpeg")])
    assert "photo.jpg" in message


def test_text_named_pdf_is_refused(app_ctx):
    refused([upload(b"just some words, honestly a PDF\n", "x.pdf", "application/pdf")])


def test_pdf_is_kept_as_sent():
    [checked] = check_files([upload(PDF, "công văn.pdf", "application/pdf")])
    assert checked.content_type == "application/pdf"
    assert checked.data == PDF
    assert checked.original_name == "công văn.pdf"


def test_pdf_without_end_marker_is_refused(app_ctx):
    refused([upload(PDF.replace(b"%%EOF", b""), "cut.pdf")])


def test_pdf_with_end_marker_far_from_the_end_is_refused(app_ctx):
    refused([upload(PDF + b"\0" * 4096, "padded.pdf")])


def test_image_magic_with_garbage_is_refused_by_the_scan(app_ctx):
    for data, name in [(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10, "fake.png"),
                       (b"\xff\xd8\xff\xe0" + b"\0" * 300, "fake.jpg"),
                       (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 100, "fake.webp")]:
        error = refused_by_the_scan(data, name)
        assert error.code == "unreadable" and name in str(error.message)


def test_truncated_jpeg_is_refused_by_the_scan(app_ctx):
    source = encode(Image.effect_noise((200, 200), 64).convert("RGB"), "JPEG")
    assert refused_by_the_scan(source[: len(source) // 2], "half.jpg").code == "unreadable"


def test_decompression_bomb_over_our_limit_is_refused_before_decoding(app_ctx):
    # 49 megapixels: over the portal's limit but under Pillow's own warning threshold.
    error = refused_by_the_scan(png_header(7000, 7000), "bomb.png")
    assert error.code == "too_many_pixels" and "pixels" in str(error.message)


def test_decompression_bomb_over_pillows_limit_is_refused(app_ctx):
    error = refused_by_the_scan(png_header(100_000, 100_000), "bomb.png")
    assert error.code == "too_many_pixels" and "pixels" in str(error.message)


# Sizes and counts


class EndlessStream(io.RawIOBase):
    """Answers every read with bytes, and fails the test if asked for more than `allowed` in all."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or self.served + size > self.allowed:
            raise AssertionError(f"read past the limit: {self.served} + {size}")
        self.served += size
        return b"\xff" * size


def test_oversized_file_is_refused_without_reading_it_all(app_ctx):
    stream = EndlessStream(MAX_FILE_BYTES + 1)
    message = refused([FileStorage(stream=stream, filename="huge.jpg")])
    assert "huge.jpg" in message
    assert stream.served == MAX_FILE_BYTES + 1


def test_empty_file_is_refused(app_ctx):
    refused([upload(b"", "empty.jpg")])


def test_empty_field_is_skipped():
    assert check_files([FileStorage(stream=io.BytesIO(b""), filename="")]) == []
    assert check_files([FileStorage(stream=io.BytesIO(b""), filename=None)]) == []
    assert check_files([]) == []


def test_too_many_files_are_refused(app_ctx):
    png = encode(two_halves(), "PNG")
    message = refused([upload(png, f"{i}.png") for i in range(MAX_FILES + 1)])
    assert str(MAX_FILES) in message


def test_too_many_nameless_files_are_refused(app_ctx):
    png = encode(two_halves(), "PNG")
    refused([upload(png, "") for _ in range(MAX_FILES + 1)])


def test_the_limit_itself_and_empty_fields_pass():
    png = encode(two_halves(), "PNG")
    files = [upload(png, f"{i}.png") for i in range(MAX_FILES)] + [upload(b"", "")]
    assert len(check_files(files)) == MAX_FILES


def test_no_decoder_runs_in_the_request():
    # Garbage behind the right magic bytes passes the request's checks: the scan decides.
    [checked] = check_files([upload(png_header(100_000, 100_000), "bomb.png")])
    assert checked.content_type == "image/png"


def test_one_bad_file_refuses_the_lot(app_ctx):
    good = upload(encode(two_halves(), "PNG"), "ok.png")
    with pytest.raises(UploadError):
        check_files([good, upload(b"MZ" + b"\0" * 50, "bad.jpg")])


def test_message_is_translatable_and_renders_in_an_app_context(app_ctx):
    with pytest.raises(UploadError) as info:
        check_files([upload(b"hello", "note.txt")])
    assert isinstance(info.value, ValueError)
    assert "note.txt" in str(info.value.message)
    assert str(info.value)


# Display names


def test_display_name_keeps_vietnamese_and_drops_paths_and_controls():
    assert display_name("C:\\Users\\Lan\\Ảnh\\Đơn khiếu nại.jpg") == "Đơn khiếu nại.jpg"
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("photo\u202egpj.exe") == "photogpj.exe"
    assert display_name("a\x00b\r\nc\tphoto.png") == "ab c photo.png"
    assert display_name("   ..  ") == "evidence"
    assert display_name("", "application/pdf") == "evidence.pdf"
    # Decomposed (NFD) input, as macOS sends it, becomes the composed form.
    assert display_name("a\u0300nh.jpg") == "\u00e0nh.jpg"


def test_display_name_is_at_most_255_characters_and_keeps_the_extension():
    name = display_name("ả" * 400 + ".jpeg")
    assert len(name) == 255
    assert name.endswith(".jpeg")
    assert len(display_name("x" * 400)) == 255


# Storage


@pytest.fixture
def checked_png() -> CheckedFile:
    [checked] = check_files([upload(encode(two_halves(), "PNG"), "a.png")])
    return checked


def test_store_writes_a_private_file_under_a_random_name(tmp_path, checked_png):
    name = store(tmp_path, checked_png)
    other = store(tmp_path, checked_png)

    assert len(name) == 32 and int(name, 16) >= 0
    assert name != other
    path = path_for(tmp_path, name)
    assert path.parent == tmp_path
    assert path.read_bytes() == checked_png.data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_store_ignores_a_permissive_umask(tmp_path, checked_png):
    old = os.umask(0)
    try:
        name = store(tmp_path, checked_png)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path_for(tmp_path, name).stat().st_mode) == 0o600


@pytest.mark.parametrize("bad", [
    "../" + "a" * 29,
    "../../etc/passwd",
    "/etc/passwd",
    "A" * 32,
    "a" * 31,
    "a" * 33,
    "a" * 32 + "\n",
    "g" * 32,
    "",
    None,
])
def test_path_for_refuses_anything_but_a_stored_name(tmp_path, bad):
    with pytest.raises(ValueError):
        path_for(tmp_path, bad)
    with pytest.raises(ValueError):
        remove(tmp_path, bad)


def test_remove_deletes_and_tolerates_a_missing_file(tmp_path, checked_png):
    name = store(tmp_path, checked_png)
    remove(tmp_path, name)
    assert not path_for(tmp_path, name).exists()
    remove(tmp_path, name)
    remove(tmp_path, "0" * 32)
