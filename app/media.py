"""Photos: validated by decoding (JPEG/PNG only), size, pixel and memory limits, metadata removed, content-addressed.

Decoding is bounded before it starts: from the header alone we know the size; a JPEG is asked to decode at the
smallest DCT scale (draft) that still gives the stored size; then the pixels to decode and the memory the decode and
its conversions would take (MEDIA_MAX_PIXELS, MEDIA_MAX_DECODE_BYTES) must fit, or the image is refused undecoded.

A citizen's photo may carry the GPS position of their home in its metadata: we re-encode every image from its pixels
alone (after applying its orientation), with no EXIF, XMP, IPTC, comment or ICC block (a profile other than sRGB is
applied to the pixels first), so nothing we store or serve carries it. Files are named by the SHA-256 of the stored
bytes, so the same photo sent twice is stored once and a name can never be a path trick.

Cost (a 12 MP photo, one core): the shrink to MEDIA_MAX_EDGE dominates; it is BICUBIC up to 2× (see _resample_for),
no full-size copy is made for orientation or an RGB profile, and the thumbnail is made from the clean pixels in
memory rather than by decoding the stored JPEG again (bench/media_decode.py profile prints the steps).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG"}
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
VARIANTS = {"original": ".jpg", "thumb": ".thumb.jpg"}


class MediaRejected(ValueError):
    """An upload we refuse, with a machine code and a message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StoredImage:
    """What we keep of an accepted image."""

    sha256: str
    width: int
    height: int
    size_bytes: int
    content_type: str = "image/jpeg"


# Bytes per pixel of a decoded mode, and of the working copies _to_jpeg makes from it (RGBA + RGB background for
# alpha and palettes, one RGB copy for other modes, none for RGB).
_DECODED_BPP = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "RGB": 3, "YCbCr": 3, "LAB": 3,
                "HSV": 3, "RGBA": 4, "RGBa": 4, "CMYK": 4, "I": 4, "F": 4}
_WORKING_BPP = {"RGB": 0, "RGBA": 7, "LA": 7, "P": 7, "PA": 7}


def _limits() -> tuple[int, int, int, int]:
    cfg = current_app.config
    return cfg["MEDIA_MAX_BYTES"], cfg["MEDIA_MAX_PIXELS"], cfg["MEDIA_MAX_EDGE"], cfg["MEDIA_THUMB_EDGE"]


def decode_cost(mode: str, size: tuple[int, int]) -> int:
    """The memory (bytes) decoding an image of this mode and size, then converting it for storage, would take."""
    pixels = size[0] * size[1]
    return pixels * (_DECODED_BPP.get(mode, 4) + _WORKING_BPP.get(mode, 3))


def _draft_jpeg(img: Image.Image, max_edge: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale (1/2, 1/4, 1/8) that still covers the stored size."""
    width, height = img.size
    scale = max_edge / max(width, height)
    if img.format == "JPEG" and scale < 1:
        img.draft(img.mode if img.mode in ("RGB", "L") else None, (int(width * scale) + 1, int(height * scale) + 1))


def media_root() -> Path:
    """Where files live (MEDIA_ROOT)."""
    return Path(current_app.config["MEDIA_ROOT"])


def path_for(sha256: str, variant: str = "original") -> Path:
    """The file of a stored image; refuses anything that is not a SHA-256 hex name."""
    if not _SHA_RE.match(sha256 or "") or variant not in VARIANTS:
        raise MediaRejected("bad_name", "无效的图片编号")
    return media_root() / sha256[:2] / f"{sha256}{VARIANTS[variant]}"


def _open_checked(data: bytes, max_bytes: int, max_pixels: int, max_edge: int = 0) -> Image.Image:
    if len(data) == 0:
        raise MediaRejected("empty", "图片是空的")
    if len(data) > max_bytes:
        size_mb, max_mb = len(data) // 1024 // 1024, max_bytes // 1024 // 1024
        raise MediaRejected("too_large", f"图片太大（{size_mb} MB），请发送 {max_mb} MB 以内的照片")
    max_decode = current_app.config.get("MEDIA_MAX_DECODE_BYTES", 96 * 1024 * 1024)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in ALLOWED_FORMATS:
                raise MediaRejected("unsupported_format", "只支持 JPG 或 PNG 照片")
            if max_edge:
                _draft_jpeg(img, max_edge)  # before any pixel is decoded
            width, height = img.size
            if width * height > max_pixels:
                raise MediaRejected("too_many_pixels", f"图片像素过多（{width}×{height}），请发送普通手机照片")
            if decode_cost(img.mode, img.size) > max_decode:
                raise MediaRejected("too_many_pixels", f"图片过大（{width}×{height}），请发送普通手机照片")
            img.load()
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected("too_many_pixels", "图片像素过多，请发送普通手机照片") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected("not_an_image", "这不是一张能打开的图片") from exc
    return img


def _to_srgb(img: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile to the pixels (so none need be stored); unchanged when there is none."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "L", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
        if img.mode == out_mode:  # same pixels as a new image, without allocating one (~40 % faster at 12 MP)
            ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=out_mode, inPlace=True)
            return img
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img  # an unreadable profile: the pixels as they are, still stored without it


def _clean_pixels(img: Image.Image, max_edge: int) -> Image.Image:
    """The picture to store: upright, in sRGB, RGB on white, at most max_edge a side. No full-size copy is made that
    the work does not need: the orientation is applied in place (and only when a tag asks for it), an RGB profile is
    applied in place, an RGB image is not converted, and the shrink replaces the decoded pixels."""
    ImageOps.exif_transpose(img, in_place=True)  # keep the picture upright once the EXIF orientation is gone
    img = _to_srgb(img)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        img = background
    elif img.mode != "RGB":
        img = img.convert("RGB")
    _shrink(img, max_edge, _resample_for(img.size, max_edge))
    img.info = {}  # nothing of the upload's metadata rides along on the pixels
    return img


def _resample_for(size: tuple[int, int], max_edge: int) -> Image.Resampling:
    """BICUBIC for a shrink of up to 2× (a 12 MP photo to 2560 px is 1.56×; a drafted JPEG is never more than 2×):
    beside LANCZOS it differs by 0.3–1.2 levels of 255 on average, a third to a quarter of what the q85 JPEG itself
    changes (docs/benchmarks.md), at ~70 % of the time. Larger shrinks (big PNGs) keep LANCZOS."""
    return Image.Resampling.BICUBIC if max(size) <= 2 * max_edge else Image.Resampling.LANCZOS


def _shrink(img: Image.Image, edge: int, resample: Image.Resampling) -> None:
    """Scale img in place to fit edge×edge (aspect kept, never enlarged). Pillow's reducing_gap=2.0: a shrink of 4× or
    more (the thumbnail: 8×) is first a box reduce by an integer factor, then resample over the last ≥ 2×."""
    img.thumbnail((edge, edge), resample, reducing_gap=2.0)


def _save_bare(img: Image.Image, **options) -> bytes:
    """JPEG from the pixels alone: Pillow would otherwise copy a comment (COM) and other blocks from img.info."""
    img.info = {}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=b"", comment=b"", **options)
    return out.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_image(data: bytes) -> StoredImage:
    """Validate, clean and store an image with its thumbnail; raises MediaRejected with the reason."""
    max_bytes, max_pixels, max_edge, thumb_edge = _limits()
    img = _clean_pixels(_open_checked(data, max_bytes, max_pixels, max_edge), max_edge)
    width, height = img.size
    clean = _save_bare(img, quality=85, optimize=True)
    sha = hashlib.sha256(clean).hexdigest()
    original = path_for(sha, "original")
    if not original.exists():
        _write_atomic(original, clean)
    thumb = path_for(sha, "thumb")
    if not thumb.exists():
        # From the clean pixels just encoded (not a second decode of the stored JPEG): the same upright, sRGB,
        # metadata-free picture, one JPEG generation fresher.
        _shrink(img, thumb_edge, Image.Resampling.LANCZOS)
        _write_atomic(thumb, _save_bare(img, quality=80))
    return StoredImage(sha256=sha, width=width, height=height, size_bytes=len(clean))


def store_images(photos: list[bytes]) -> list[StoredImage]:
    """store_image for each photo, in order, up to MEDIA_THREADS at a time: Pillow releases the GIL while it decodes,
    resizes and encodes, so one report's photos share the cores. The first refusal in upload order is raised, as a
    one-by-one loop would (content-addressed files of the good ones may stay: they are a cache, not a case)."""
    threads = min(current_app.config.get("MEDIA_THREADS", 1), len(photos))
    if threads <= 1:
        return [store_image(p) for p in photos]
    app = current_app._get_current_object()

    def one(data: bytes) -> StoredImage | MediaRejected:
        with app.app_context():
            try:
                return store_image(data)
            except MediaRejected as exc:
                return exc

    with ThreadPoolExecutor(threads, thread_name_prefix="media") as pool:
        results = list(pool.map(one, photos))
    for result in results:
        if isinstance(result, MediaRejected):
            raise result
    return results
