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


# The cheaper path (issue 15): orientation in place, BICUBIC up to 2×, the thumbnail from the clean pixels in memory.


def _upright_portrait(size=(300, 400)) -> Image.Image:
    """What the citizen saw: red on top, blue below."""
    img = Image.new("RGB", size, (220, 20, 20))
    img.paste((20, 20, 220), (0, size[1] // 2, size[0], size[1]))
    return img


def _as_sensor_with_orientation_6(upright: Image.Image, **save) -> bytes:
    """The landscape pixels a phone held upright writes, with Orientation=6 (the viewer turns them 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    upright.rotate(90, expand=True).save(buf, "JPEG", quality=95, exif=exif.tobytes(), **save)
    return buf.getvalue()


@pytest.mark.parametrize("size", [(300, 400), (3000, 4000)])
def test_the_orientation_is_still_applied_in_place_to_the_stored_image_and_its_thumbnail(app, size):
    data = _as_sensor_with_orientation_6(_upright_portrait(size))
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.size == (size[1], size[0]) and sent.getexif()[0x0112] == 6
    stored = media.store_image(data)
    edge = app.config["MEDIA_MAX_EDGE"]
    expected = size if max(size) <= edge else (round(size[0] * edge / size[1]), edge)
    assert (stored.width, stored.height) == expected  # portrait, as the citizen held the phone
    for variant in ("original", "thumb"):
        with Image.open(media.path_for(stored.sha256, variant)) as img:
            assert img.height > img.width, variant
            top = img.getpixel((img.width // 2, img.height // 8))
            bottom = img.getpixel((img.width // 2, img.height * 7 // 8))
            assert top[0] > 150 and top[2] < 80 and bottom[2] > 150 and bottom[0] < 80, (variant, top, bottom)
            assert len(img.getexif()) == 0 and "exif" not in img.info  # no Orientation left to turn it twice


def test_a_photo_without_an_orientation_tag_is_not_copied_at_full_size(app, monkeypatch):
    """exif_transpose without in_place returns a full copy (36 MB at 12 MP) even when nothing needs turning."""
    copies = []
    real_copy = Image.Image.copy
    monkeypatch.setattr(Image.Image, "copy", lambda self: copies.append(self.size) or real_copy(self))
    media.store_image(_photo_of((4000, 3000)))
    assert copies == []


@pytest.mark.parametrize(
    ("make", "size"),
    [("jpeg", (4000, 3000)), ("jpeg", (3000, 4000)), ("jpeg", (2561, 100)), ("jpeg", (2560, 1920)),
     ("jpeg", (6000, 4000)), ("png", (5200, 3000)), ("png_p", (5200, 1000)), ("png_rgba", (5200, 1500)),
     ("jpeg", (200, 150))],
)
def test_stored_images_fit_the_edge_and_thumbnails_fit_theirs_with_no_metadata(app, make, size):
    """5200 px PNGs are shrunk more than 2× (the LANCZOS branch); JPEGs at most 2× after their draft (BICUBIC)."""
    buf = io.BytesIO()
    if make == "jpeg":
        Image.new("RGB", size, (90, 140, 40)).save(buf, "JPEG", exif=_exif(), comment=GPS_TEXT,
                                                    icc_profile=_SRGB_ICC)
    else:
        mode = {"png": "RGB", "png_p": "P", "png_rgba": "RGBA"}[make]
        Image.new(mode, size, 7 if mode == "P" else (90, 140, 40, 200)[: len(mode)]).save(buf, "PNG")
    stored = media.store_image(buf.getvalue())
    edge, thumb_edge = app.config["MEDIA_MAX_EDGE"], app.config["MEDIA_THUMB_EDGE"]
    assert max(stored.width, stored.height) == min(edge, max(size))
    assert abs(stored.width / stored.height - size[0] / size[1]) < 0.02
    for variant, limit in (("original", edge), ("thumb", thumb_edge)):
        written = media.path_for(stored.sha256, variant).read_bytes()
        with Image.open(io.BytesIO(written)) as img:
            assert max(img.size) == min(limit, max(size)), variant
            assert img.mode == "RGB"
            assert not {"exif", "xmp", "comment", "icc_profile", "photoshop"} & set(img.info), variant
        assert [m for m, _ in _segments(written) if m in (0xE1, 0xE2, 0xED, 0xFE)] == [], variant
        assert b"GPS" not in written and b"PhoneMaker" not in written


def test_the_shrink_filter_is_bicubic_up_to_2x_and_lanczos_beyond():
    assert media._resample_for((4000, 3000), 2560) == Image.Resampling.BICUBIC
    assert media._resample_for((5120, 3000), 2560) == Image.Resampling.BICUBIC
    assert media._resample_for((5121, 3000), 2560) == Image.Resampling.LANCZOS


def _textured(size=(4000, 3000), seed=1) -> Image.Image:
    """Smooth shapes, sharp lines and noise: where two resampling filters would differ."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 60 * np.sin(x / (90 + 40 * c)) * np.cos(y / (70 + 30 * c)) for c in range(3)], -1)
    base += rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    base[:, ::97] = 0  # thin dark lines
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def test_the_stored_photo_is_the_lanczos_picture_within_less_than_the_jpeg_error(app):
    """BICUBIC at 1.56× against the old LANCZOS: the difference is well under what q85 JPEG itself changes."""
    import numpy as np

    src = _textured()
    buf = io.BytesIO()
    src.save(buf, "JPEG", quality=95)
    stored = media.store_image(buf.getvalue())
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    lanczos = np.asarray(decoded.resize((stored.width, stored.height), Image.Resampling.LANCZOS), dtype=np.int16)
    with Image.open(media.path_for(stored.sha256)) as img:
        ours = np.asarray(img.convert("RGB"), dtype=np.int16)
    requantized = io.BytesIO()
    Image.fromarray(lanczos.astype(np.uint8)).save(requantized, "JPEG", quality=85, optimize=True)
    jpeg_error = np.abs(np.asarray(Image.open(requantized), dtype=np.int16) - lanczos).mean()
    ours_error = np.abs(ours - lanczos).mean()
    assert ours_error < jpeg_error * 1.25, (ours_error, jpeg_error)  # filter + JPEG ≈ JPEG alone


def test_the_thumbnail_is_the_stored_picture_made_small(app):
    """Made from the clean pixels in memory, it matches a thumbnail of the stored JPEG."""
    import numpy as np

    buf = io.BytesIO()
    _textured((4000, 3000), seed=2).save(buf, "JPEG", quality=90)
    stored = media.store_image(buf.getvalue())
    with Image.open(media.path_for(stored.sha256)) as original:
        original.thumbnail((320, 320), Image.Resampling.LANCZOS)
        reference = np.asarray(original.convert("RGB"), dtype=np.int16)
    with Image.open(media.path_for(stored.sha256, "thumb")) as thumb:
        assert thumb.size == (320, 240)
        ours = np.asarray(thumb.convert("RGB"), dtype=np.int16)
    assert np.abs(ours - reference).mean() < 3


def test_an_rgb_profile_is_applied_in_place_with_the_same_pixels_as_a_converted_copy(app):
    img = Image.open(io.BytesIO(_photo(icc_profile=_swapped_primaries_profile())))
    img.load()
    expected = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"])),
                                         ImageCms.createProfile("sRGB"), outputMode="RGB")
    before = img.getpixel((10, 10))
    out = media._to_srgb(img)
    assert out is img and out.getpixel((10, 10)) != before
    assert out.tobytes() == expected.tobytes()
