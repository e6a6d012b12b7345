"""Images: decoding bounded by pixels and by memory before it starts, JPEGs decoded at the scale needed, and stored
files that keep no metadata at all (EXIF, XMP, IPTC, comments, ICC) — each kind written in, the stored bytes read."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import pytest
from PIL import Image, ImageCms

from app import media

GPS_TEXT = b"GPSLatitude=29.5755"


def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """The JPEG's marker segments before the scan: [(marker, payload)]."""
    assert jpeg[:2] == b"\xff\xd8"
    out, i = [], 2
    while i < len(jpeg):
        marker = jpeg[i + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        out.append((marker, jpeg[i + 4 : i + 2 + length]))
        i += 2 + length
    return out


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Insert a raw segment right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _photo(**save) -> bytes:
    img = Image.new("RGB", (800, 600), (30, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "JPEG", **save)
    return buf.getvalue()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[2] = (29.0, 34.0, 31.8)  # GPSLatitude
    gps[1] = "N"
    return exif.tobytes()


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description exif:GPSLatitude="29,34.53N" xmlns:exif="http://ns.adobe.com/exif/1.0/"/></rdf:RDF>'
       b"</x:xmpmeta>")
IPTC = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", 20) + b"\x1c\x02\x5a" + struct.pack(
    ">H", 15) + b"Chongqing 29.57" + b"\x00"
_SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

KINDS = {
    "exif": lambda: _photo(exif=_exif()),
    "xmp": lambda: _with_segment(_photo(), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP),
    "comment": lambda: _photo(comment=GPS_TEXT),
    "iptc": lambda: _with_segment(_photo(), 0xED, IPTC),
    "icc": lambda: _photo(icc_profile=_SRGB_ICC),
    "png_text": lambda: _png_with_text(),
}


def _png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", GPS_TEXT.decode())
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 200, 10)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stored_images_keep_no_metadata_of_any_kind(app, kind):
    data = KINDS[kind]()
    if kind != "png_text":  # the input really carries what we test for
        markers = {m for m, _ in _segments(data)}
        assert markers & {0xE1, 0xE2, 0xED, 0xFE}, kind
    stored = media.store_image(data)
    for variant in ("original", "thumb"):
        written = media.path_for(stored.sha256, variant).read_bytes()
        kept = [(hex(m), p[:20]) for m, p in _segments(written) if m in (0xE1, 0xE2, 0xED, 0xFE)]
        assert kept == [], (kind, variant)
        assert b"GPS" not in written and b"29.5" not in written and b"Chongqing" not in written
        with Image.open(io.BytesIO(written)) as again:
            assert not {"exif", "xmp", "comment", "icc_profile", "photoshop"} & set(again.info)


def test_a_non_srgb_profile_is_applied_to_the_pixels_rather_than_kept(app):
    stored = media.store_image(_photo(icc_profile=_swapped_primaries_profile()))
    with Image.open(media.path_for(stored.sha256)) as img:
        assert "icc_profile" not in img.info
        pixel = img.getpixel((400, 300))
    assert max(abs(a - b) for a, b in zip(pixel, (30, 120, 200), strict=True)) > 10, pixel  # converted, not relabelled


def _swapped_primaries_profile() -> bytes:
    """An RGB profile that is not sRGB: sRGB with its red and green primaries swapped (so red means green)."""
    icc = bytearray(_SRGB_ICC)
    count = struct.unpack(">I", icc[128:132])[0]
    entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    r, g = entries[b"rXYZ"], entries[b"gXYZ"]
    icc[r + 4 : r + 12], icc[g + 4 : g + 12] = icc[g + 4 : g + 12], icc[r + 4 : r + 12]
    return bytes(icc)


def _png_header_only(width: int, height: int, color_type: int = 3) -> bytes:
    """A tiny PNG that claims to be enormous (154 KB files of 39.7 megapixels do this for real)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    plte = chunk(b"PLTE", b"\x00\x00\x00" * 256) if color_type == 3 else b""
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + plte + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("size", "color_type"), [((7300, 5440), 3), ((7300, 5440), 6), ((6000, 6000), 2)])
def test_an_image_under_the_pixel_limit_but_over_the_memory_budget_is_refused_undecoded(app, size, color_type):
    """39.7 MP passes MEDIA_MAX_PIXELS (40 MP); decoding it and flattening its palette would take about 320 MB."""
    assert size[0] * size[1] <= app.config["MEDIA_MAX_PIXELS"]
    started = time.perf_counter()
    tracemalloc.start()
    with pytest.raises(media.MediaRejected) as err:
        media.store_image(_png_header_only(*size, color_type=color_type))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.code == "too_many_pixels"
    assert time.perf_counter() - started < 0.2 and peak < 5 * 1024 * 1024  # refused from the header alone


def test_decode_cost_counts_the_decoded_image_and_its_working_copies():
    assert media.decode_cost("RGB", (1000, 1000)) == 3_000_000
    assert media.decode_cost("P", (1000, 1000)) == 8_000_000
    assert media.decode_cost("RGBA", (1000, 1000)) == 11_000_000


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(app):
    """A 6000×4000 JPEG stored at 2560 px: draft() decodes it at half scale (3000×2000), a quarter of the pixels."""
    big = _photo_of((6000, 4000))
    img = Image.open(io.BytesIO(big))
    media._draft_jpeg(img, app.config["MEDIA_MAX_EDGE"])
    assert img.size == (3000, 2000)
    tracemalloc.start()
    stored = media.store_image(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (stored.width, stored.height) == (2560, 1707)
    assert peak < 6000 * 4000 * 3  # less than one full-size decode


def test_a_huge_jpeg_is_accepted_when_its_draft_fits_the_budget(app):
    """Pixels are counted as decoded: 48 MP from a phone's high-resolution mode is decoded at 1/2 or smaller."""
    app.config["MEDIA_MAX_PIXELS"] = 40_000_000
    stored = media.store_image(_photo_of((8000, 6000)))
    assert max(stored.width, stored.height) == app.config["MEDIA_MAX_EDGE"]


def _photo_of(size) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(buf, "JPEG", quality=50)
    return buf.getvalue()
