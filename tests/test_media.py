"""Photos: what is accepted, what is refused and why, and that EXIF never survives."""

import io
import struct
import zlib

import pytest
from PIL import Image

from app import media
from tests.factories import jpeg_bytes, png_bytes


def exif_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (29.0, 34.0, 30.0), 3: "E", 4: (106.0, 31.0, 50.0)}
    exif[0x8825] = gps  # GPSInfo IFD
    return exif.tobytes()


def test_a_jpeg_is_stored_with_a_thumbnail_under_its_content_hash(app):
    stored = media.store_image(jpeg_bytes())
    assert len(stored.sha256) == 64
    assert media.path_for(stored.sha256).exists()
    assert media.path_for(stored.sha256, "thumb").exists()
    with Image.open(media.path_for(stored.sha256, "thumb")) as thumb:
        assert max(thumb.size) <= app.config["MEDIA_THUMB_EDGE"]


def test_the_same_photo_sent_twice_is_stored_once(app):
    a = media.store_image(jpeg_bytes())
    b = media.store_image(jpeg_bytes())
    assert a.sha256 == b.sha256
    assert len(list(media.media_root().rglob("*.jpg"))) == 2  # original + thumbnail


def test_gps_exif_is_removed_from_what_we_store(app):
    data = jpeg_bytes(exif=exif_with_gps())
    with Image.open(io.BytesIO(data)) as original:
        assert 0x8825 in original.getexif()  # the upload really carried GPS
    stored = media.store_image(data)
    raw = media.path_for(stored.sha256).read_bytes()
    with Image.open(io.BytesIO(raw)) as clean:
        assert len(clean.getexif()) == 0
    assert b"Exif" not in raw and b"PhoneMaker" not in raw


def test_png_with_transparency_is_accepted_and_flattened(app):
    stored = media.store_image(png_bytes())
    with Image.open(media.path_for(stored.sha256)) as img:
        assert img.format == "JPEG" and img.mode == "RGB"


def test_large_photos_are_scaled_down_to_the_configured_edge(app):
    stored = media.store_image(jpeg_bytes(size=(4000, 3000)))
    assert max(stored.width, stored.height) == app.config["MEDIA_MAX_EDGE"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 100, "not_an_image"),
        (b"<?php system($_GET['c']); ?>", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not_an_image"),  # a JPEG header and nothing behind it
    ],
)
def test_fake_images_are_refused(app, data, code):
    with pytest.raises(media.MediaRejected) as err:
        media.store_image(data)
    assert err.value.code == code


def test_a_gif_is_refused_as_unsupported(app):
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "GIF")
    with pytest.raises(media.MediaRejected) as err:
        media.store_image(buf.getvalue())
    assert err.value.code == "unsupported_format"


def test_a_30_mb_upload_is_refused_before_decoding(app):
    with pytest.raises(media.MediaRejected) as err:
        media.store_image(b"\xff\xd8" + b"\x00" * (30 * 1024 * 1024))
    assert err.value.code == "too_large"
    assert "MB" in err.value.message


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be enormous (a decompression bomb's calling card)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [8000, 30000])
def test_decompression_bombs_are_refused_by_pixel_count(app, side):
    with pytest.raises(media.MediaRejected) as err:
        media.store_image(_png_header_only(side, side))
    assert err.value.code == "too_many_pixels"
    assert not list(media.media_root().rglob("*.jpg"))


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 63, "A" * 64, "../" + "a" * 61, ""])
def test_media_names_that_are_not_hashes_are_refused(app, name):
    with pytest.raises(media.MediaRejected):
        media.path_for(name)


def test_several_photos_in_threads_give_what_one_by_one_gives_in_order_and_the_first_refusal(app):
    photos = [jpeg_bytes(size=(1200, 900), color=(i * 40, 20, 200 - i * 30)) for i in range(5)] + [png_bytes()]
    app.config["MEDIA_THREADS"] = 1
    serial = [media.store_image(p) for p in photos]
    app.config["MEDIA_THREADS"] = 3
    assert media.store_images(photos) == serial  # same files, same order
    broken = [photos[0], b"not an image at all", photos[1], b"\xff\xd8\xff\xe0 truncated"]
    with pytest.raises(media.MediaRejected) as refused:
        media.store_images(broken)
    assert refused.value.code == "not_an_image"
    assert media.store_images([]) == []
