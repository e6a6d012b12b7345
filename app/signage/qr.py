"""QR symbols: error correction H, a 4-module quiet zone, an optional logo in the middle; PNG and SVG."""

from __future__ import annotations

import numpy as np
import qrcode
from PIL import Image

QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 asks
LOGO_FRACTION = 0.22  # logo side / symbol side: ~5% of the modules, well inside H's 30% recovery


def qr_matrix(url: str) -> np.ndarray:
    """The QR modules for `url` (True = dark), error correction H, with the 4-module quiet zone included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, border=QUIET_ZONE, box_size=1)
    qr.add_data(url)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def logo_box(matrix: np.ndarray) -> tuple[int, int]:
    """(first module, side in modules) of the centred square the logo covers, white padding included."""
    symbol = matrix.shape[0] - 2 * QUIET_ZONE
    side = max(3, int(symbol * LOGO_FRACTION)) | 1  # odd, so it centres on a module
    start = (matrix.shape[0] - side) // 2
    return start, side


def qr_image(matrix: np.ndarray, module_px: int, logo: Image.Image | None = None) -> Image.Image:
    """The QR as an image with whole-pixel modules (crisp at print resolution); the logo pasted in the centre."""
    pixels = np.where(matrix, 0, 255).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((module_px, module_px), dtype=np.uint8))
    img = Image.fromarray(pixels, "L")
    if logo is None:
        return img
    img = img.convert("RGB")
    start, side = logo_box(matrix)
    pad = module_px // 2
    box = (start * module_px, start * module_px, (start + side) * module_px, (start + side) * module_px)
    img.paste((255, 255, 255), box)
    inner = side * module_px - 2 * pad
    fitted = logo.copy()
    fitted.thumbnail((inner, inner), Image.Resampling.LANCZOS)
    x = box[0] + (side * module_px - fitted.width) // 2
    y = box[1] + (side * module_px - fitted.height) // 2
    img.paste(fitted, (x, y), fitted if fitted.mode == "RGBA" else None)
    return img


def qr_svg(matrix: np.ndarray, size_mm: float, logo_png: bytes | None = None) -> str:
    """The QR as SVG (one path, in module units, `size_mm` wide), with the logo embedded when given."""
    n = matrix.shape[0]
    parts = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                end = x
                while end < n and row[end]:
                    end += 1
                parts.append(f"M{x} {y}h{end - x}v1h-{end - x}z")
                x = end
            else:
                x += 1
    extra = ""
    if logo_png is not None:
        import base64

        start, side = logo_box(matrix)
        data = base64.b64encode(logo_png).decode()
        extra = (f'<rect x="{start}" y="{start}" width="{side}" height="{side}" fill="#fff"/>'
                 f'<image x="{start + 0.5}" y="{start + 0.5}" width="{side - 1}" height="{side - 1}" '
                 f'href="data:image/png;base64,{data}"/>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{size_mm:.2f}mm" height="{size_mm:.2f}mm" viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
            f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{"".join(parts)}"/>{extra}</svg>\n')


# ------------------------------------------------------------------------------------------------------ placards
