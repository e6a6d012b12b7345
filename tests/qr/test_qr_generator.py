"""qr_generator.py end to end: files per sign, QR codes that an independent decoder reads (also degraded), the PDF,
idempotent reruns, refused input, fonts, --help."""

from __future__ import annotations

import io
import itertools
import os
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest
from conftest import BASE_URL, ROOT, decode
from PIL import Image, ImageEnhance, ImageFilter
from sqlalchemy import select

import qr_generator
from app import signage
from app.extensions import db
from app.poi.models import Sign
from app.poi.signs import register_signs

CSV = """label,lat,lng,crs,external_id,note
观音桥步行街东口,29.5752,106.5318,,JB-001,
北城天街（西门）,29.5775,106.5330,gcj02,JB-002,商场西门
鎏嘉码头公共厕所旁 · 江北嘴中央商务区滨江步道入口处,29.5680,106.5750,wgs84,JB-003,
"""


def codes_in_db() -> list[str]:
    return sorted(db.session.scalars(select(Sign.code)))


def as_phone_sees_it(img: Image.Image, shrink: int = 4, blur: float = 1.0, seed: int = 1) -> Image.Image:
    """A placard as a phone a few metres away in poor light sees it: small, blurred, dull, noisy, JPEG-compressed."""
    small = img.convert("L").resize((img.width // shrink, img.height // shrink), Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(blur))
    small = ImageEnhance.Contrast(small).enhance(0.55)
    small = ImageEnhance.Brightness(small).enhance(0.8)
    noise = np.random.default_rng(seed).normal(0, 6, (small.height, small.width))
    noisy = Image.fromarray(np.clip(np.asarray(small, dtype=float) + noise, 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=60)
    return Image.open(io.BytesIO(buf.getvalue()))


def svg_to_image(svg: str, scale: int = 8) -> Image.Image:
    """Rasterise our SVG's path (runs of 'M x y h n v1 h-n z', in module units) without the qrcode library."""
    n = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    pixels = np.full((n, n), 255, dtype=np.uint8)
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", svg):
        pixels[int(y), int(x) : int(x) + int(run)] = 0
    return Image.fromarray(np.kron(pixels, np.ones((scale, scale), dtype=np.uint8)), "L")


def pdf_pages(data: bytes) -> list[bytes]:
    """The decompressed content streams of the PDF that draw placards (they use the template form)."""
    streams = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            text = zlib.decompressobj().decompress(raw)  # ignores the end-of-line before endstream
        except zlib.error:
            continue
        if b"FormXob" in text and b" re" in text:
            streams.append(text)
    return streams


def qr_from_pdf_page(page: bytes, scale: float = 4.0) -> Image.Image:
    """Rasterise the vector QR modules ('x y w h re') of the first placard on a PDF page."""
    first = page.split(b"/FormXob.placard_template Do")[1]  # what the first placard draws after its template
    rects = [tuple(map(float, m)) for m in re.findall(rb"([\d.-]+) ([\d.-]+) ([\d.-]+) ([\d.-]+) re", first)]
    xs = [r[0] for r in rects] + [r[0] + r[2] for r in rects]
    ys = [r[1] for r in rects] + [r[1] + r[3] for r in rects]
    margin = 20
    w, h = int((max(xs) - min(xs) + 2 * margin) * scale), int((max(ys) - min(ys) + 2 * margin) * scale)
    img = Image.new("L", (w, h), 255)
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    for x, y, rw, rh in rects:
        left, bottom = (x - min(xs) + margin) * scale, (y - min(ys) + margin) * scale
        draw.rectangle((left, h - (bottom + rh * scale), left + rw * scale - 1, h - bottom - 1), fill=0)
    return img


# ------------------------------------------------------------------------------------------------ the happy path


def test_a_csv_run_registers_the_signs_and_every_qr_decodes_to_its_url(run_qr, write_csv, tmp_path):
    out = tmp_path / "out"
    status, stdout, stderr = run_qr(str(write_csv(CSV)), "--out", str(out))
    assert status == 0, stderr
    codes = codes_in_db()
    assert len(codes) == 3
    assert "新登记 3 个标识，复用 0 个；写出 10 个文件" in stdout
    for code in codes:
        url = f"{BASE_URL}/s/{code}"
        qr_png = Image.open(out / f"{code}.png")
        assert qr_png.info["dpi"] == pytest.approx((300, 300), abs=0.5)
        assert decode(qr_png) == url
        assert decode(svg_to_image((out / f"{code}.svg").read_text())) == url
        placard = Image.open(out / f"{code}-placard.png")
        assert placard.size == (1240, 1748)  # A6 at 300 dpi
        assert decode(placard) == url
    pdf = (out / "placards.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = pdf_pages(pdf)
    assert len(pages) == 2  # A6 placards go two to an A4 sheet
    first_on_page_one = db.session.scalar(select(Sign.code).where(Sign.external_id == "JB-001"))  # CSV order
    assert decode(qr_from_pdf_page(pages[0])) == f"{BASE_URL}/s/{first_on_page_one}"
    assert pages[0].count(b" l S") == 2 * 8  # two crop marks at each corner of both placards
    assert pages[1].count(b" l S") == 8
    assert "PDF：" in stdout and "2 页，每页 2 张" in stdout


def test_placards_still_scan_small_blurred_dim_noisy_and_jpeg_compressed(run_qr, write_csv, tmp_path):
    out = tmp_path / "out"
    assert run_qr(str(write_csv(CSV)), "--out", str(out))[0] == 0
    for code in codes_in_db():
        placard = Image.open(out / f"{code}-placard.png")
        seen = as_phone_sees_it(placard)
        assert seen.width == 310  # about 7 px per module left
        assert decode(seen) == f"{BASE_URL}/s/{code}"


def test_a_logo_in_the_centre_is_covered_by_error_correction(run_qr, write_csv, tmp_path):
    logo = tmp_path / "logo.png"
    img = Image.new("RGB", (200, 200), (20, 84, 160))
    img.paste((230, 60, 40), (50, 50, 150, 150))
    img.save(logo)
    out = tmp_path / "out"
    status, _, stderr = run_qr(str(write_csv(CSV)), "--out", str(out), "--logo", str(logo), "--size", "A5")
    assert status == 0, stderr
    for code in codes_in_db():
        url = f"{BASE_URL}/s/{code}"
        qr_png = Image.open(out / f"{code}.png").convert("RGB")
        centre = qr_png.getpixel((qr_png.width // 2, qr_png.height // 2))
        assert centre == (230, 60, 40)  # the logo really covers the middle of the symbol
        assert decode(qr_png) == url
        assert 'href="data:image/png;base64,' in (out / f"{code}.svg").read_text()
        placard = Image.open(out / f"{code}-placard.png")
        assert placard.size == (1748, 2480)  # A5 at 300 dpi
        assert decode(as_phone_sees_it(placard, shrink=5)) == url


def test_high_error_correction_survives_a_smudge_over_a_fifth_of_the_symbol():
    matrix = signage.qr_matrix(f"{BASE_URL}/s/7KQ3MX")
    img = signage.qr_image(matrix, 10)
    n = matrix.shape[0]
    q = signage.QUIET_ZONE
    symbol = n - 2 * q
    # grey band across the middle: about 20% of the symbol's modules
    top = (q + symbol // 2 - symbol // 10) * 10
    img.paste(128, (q * 10 + 80, top, (n - q) * 10 - 80, top + (symbol // 5) * 10))
    assert decode(img) == f"{BASE_URL}/s/7KQ3MX"


def test_the_qr_has_a_quiet_zone_of_four_modules():
    matrix = signage.qr_matrix(f"{BASE_URL}/s/7KQ3MX")
    q = signage.QUIET_ZONE
    assert q == 4
    for edge in (matrix[:q], matrix[-q:], matrix[:, :q], matrix[:, -q:]):
        assert not edge.any()
    assert matrix[q, q] and matrix[q, -q - 1] and matrix[-q - 1, q]  # finder patterns start right after it


def test_running_twice_creates_nothing_new(run_qr, write_csv, tmp_path):
    csv = str(write_csv(CSV))
    assert run_qr(csv, "--out", str(tmp_path / "a"))[0] == 0
    first = codes_in_db()
    status, stdout, _ = run_qr(csv, "--out", str(tmp_path / "b"))
    assert status == 0
    assert "新登记 0 个标识，复用 3 个" in stdout
    assert codes_in_db() == first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in (tmp_path / "b").iterdir())


def test_from_db_only_new_prints_just_the_signs_without_a_placard(run_qr, write_csv, tmp_path, app):
    out = tmp_path / "out"
    assert run_qr(str(write_csv(CSV)), "--out", str(out))[0] == 0
    _, _, (new,) = register_signs([{"label": "五里店立交桥下", "lat": "29.5900", "lng": "106.5600"}])
    status, stdout, _ = run_qr("--from-db", "--only-new", "--out", str(out), "--pdf", "new.pdf")
    assert status == 0
    assert "新登记 0 个标识，复用 0 个；写出 4 个文件" in stdout
    assert len(pdf_pages((out / "new.pdf").read_bytes())) == 1
    assert decode(Image.open(out / f"{new.code}-placard.png")) == f"{BASE_URL}/s/{new.code}"
    status, stdout, _ = run_qr("--from-db", "--only-new", "--out", str(out), "--pdf", "none.pdf")
    assert "写出 0 个文件" in stdout and not (out / "none.pdf").exists()


def test_from_db_codes_prints_the_named_signs_and_refuses_unknown_codes(run_qr, write_csv, tmp_path):
    assert run_qr(str(write_csv(CSV)), "--out", str(tmp_path / "a"))[0] == 0
    code = codes_in_db()[1]
    out = tmp_path / "b"
    status, _, _ = run_qr("--from-db", "--codes", code.lower(), "--out", str(out), "--no-pdf")
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{code}.png", f"{code}.svg", f"{code}-placard.png"])
    status, _, stderr = run_qr("--from-db", "--codes", f"{code},ZZZZZZ", "--out", str(out))
    assert status == 1
    assert "ZZZZZZ" in stderr


def test_rendering_in_worker_processes_gives_the_same_files(run_qr, write_csv, tmp_path):
    out = tmp_path / "out"
    status, _, stderr = run_qr(str(write_csv(CSV)), "--out", str(out), "--jobs", "2")
    assert status == 0, stderr
    for code in codes_in_db():
        assert decode(Image.open(out / f"{code}-placard.png")) == f"{BASE_URL}/s/{code}"
    assert len(pdf_pages((out / "placards.pdf").read_bytes())) == 2


# ------------------------------------------------------------------------------------------------ refused input


def test_bad_csv_rows_are_listed_with_line_numbers_and_nothing_is_registered(run_qr, write_csv, tmp_path):
    csv = write_csv(
        "label,lat,lng,crs,external_id\n"
        "观音桥,29.5752,106.5318,,JB-1\n"
        ",29.5752,106.5318,,\n"
        "北城天街,abc,106.5330,,\n"
        "解放碑,29.5575,106.5770,utm,\n"
        "天安门,39.9087,116.3975,,\n"
        "重复,29.5752,106.5318,,JB-1\n"
    )
    out = tmp_path / "out"
    status, _, stderr = run_qr(str(csv), "--out", str(out))
    assert status == 1
    lines = [line for line in stderr.splitlines() if line.startswith("第 ")]
    assert [int(re.match(r"第 (\d+) 行", line).group(1)) for line in lines] == [3, 4, 5, 6, 7]
    assert "缺少名称" in lines[0] and "必须是数字" in lines[1] and "未知坐标系" in lines[2]
    assert "不在服务范围内" in lines[3] and "与第 2 行重复" in lines[4]
    assert "没有登记任何标识" in stderr
    assert codes_in_db() == []
    assert not out.exists() or not any(out.iterdir())


def test_a_csv_without_label_lat_lng_columns_is_refused(run_qr, write_csv):
    status, _, stderr = run_qr(str(write_csv("name,x,y\n观音桥,1,2\n")), "--out", "unused")
    assert status == 1
    assert "第 1 行：表头缺少列：label, lat, lng" in stderr


def test_a_label_the_font_cannot_draw_stops_the_run_before_anything_is_registered(run_qr, write_csv, tmp_path):
    csv = write_csv("label,lat,lng\n观音桥,29.5752,106.5318\n公厕\U0001f6bb在这里,29.5775,106.5330\n")
    status, _, stderr = run_qr(str(csv), "--out", str(tmp_path / "out"))
    assert status == 1
    assert "第 3 行" in stderr and "\U0001f6bb" in stderr
    assert codes_in_db() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a CSV file or --from-db"),
        (["x.csv", "--from-db"], "give a CSV file or --from-db"),
        (["x.csv", "--codes", "ABC"], "--codes needs --from-db"),
        (["--from-db", "--size", "B5"], "unknown size 'B5'"),
        (["--from-db", "--size", "20x30"], "between 50 and 1000 mm"),
        (["--from-db", "--size", "A4", "--sheet", "A4"], "does not fit"),
        (["--from-db", "--dpi", "20"], "--dpi must be between 72 and 1200"),
        (["x.csv", "--crs", "utm"], "未知坐标系"),
    ],
)
def test_bad_options_exit_with_status_2_and_say_why(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        qr_generator.main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_imposition_puts_several_placards_on_a_sheet_with_room_for_cut_marks():
    sheet, corners = signage.imposition((105, 148), None)
    assert (sheet, len(corners)) == ((297, 210), 2)  # A6: two on A4 landscape
    sheet, corners = signage.imposition((148, 210), None)
    assert (sheet, len(corners)) == ((420, 297), 2)  # A5: two on A3 landscape
    sheet, corners = signage.imposition((210, 297), None)
    assert (sheet, len(corners)) == ((450, 320), 2)  # A4: two on SRA3
    sheet, corners = signage.imposition((105, 148), (320, 450))
    assert len(corners) == 4  # A6 on SRA3: 2 x 2 (portrait holds more than landscape)
    for x, y in corners:
        assert x >= 10 and y >= 10 and x + 105 <= sheet[0] - 10 and y + 148 <= sheet[1] - 10
    for (x1, y1), (x2, y2) in itertools.combinations(corners, 2):
        assert abs(x2 - x1) >= 105 + 8 or abs(y2 - y1) >= 148 + 8  # no overlap, a gutter for the cut marks


# ------------------------------------------------------------------------------------------------ fonts and text


def test_the_labels_characters_are_drawn_as_real_glyphs_not_boxes(cjk_fonts):
    regular, bold = cjk_fonts
    label = "观音桥步行街东口"
    notdef = signage._notdef(bold)
    masks = []
    for ch in label:
        mask = bold.at(48).getmask(ch)
        bitmap = (mask.size, bytes(mask))
        assert any(bitmap[1]), f"{ch} renders blank"
        assert bitmap != notdef, f"{ch} renders as the .notdef box"
        masks.append(bitmap)
    assert len(set(masks)) == len(label)  # every character has its own shape
    assert bold.missing(label) == [] and regular.missing(signage.DEFAULT_HEADLINE) == []
    assert bold.missing("厕\U0001f6bb\U0010fffd") == ["\U0001f6bb", "\U0010fffd"]


def test_the_placards_label_row_shows_the_label_and_not_tofu(cjk_fonts):
    regular, bold = cjk_fonts
    renderer = signage.PlacardRenderer((105, 148), 150, regular, bold)
    matrix = signage.qr_matrix(f"{BASE_URL}/s/7KQ3MX")
    box = renderer.row_box("label")

    def label_row(label: str) -> np.ndarray:
        return np.asarray(renderer.render("7KQ3MX", label, matrix).image.crop(box).convert("L"))

    real, other, tofu = label_row("观音桥步行街"), label_row("北城天街西门"), label_row("\U0010fffd" * 6)
    ink = (real < 128).mean()
    assert 0.02 < ink < 0.5  # drawn: neither blank nor a solid block
    assert (real != other).mean() > 0.02  # different characters look different (boxes would all be alike)
    assert (real != tofu).mean() > 0.02  # and unlike the font's .notdef boxes


def test_find_cjk_fonts_without_any_font_stops_with_a_clear_message():
    with pytest.raises(signage.FontNotFound) as caught:
        signage.find_cjk_fonts(candidates=(), use_fc_list=False)
    assert "fonts-noto-cjk" in str(caught.value) and "--font" in str(caught.value)


def test_a_font_without_chinese_glyphs_is_refused(cjk_fonts):
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.exists(latin):
        pytest.skip("DejaVu Sans is not installed")
    with pytest.raises(signage.FontNotFound) as caught:
        signage.find_cjk_fonts(latin)
    assert "没有中文字形" in str(caught.value)


def run_script(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "qr_generator.py"), *argv], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **env}, check=False)


def test_a_missing_font_file_exits_with_status_3_and_a_clear_message(tmp_path):
    result = run_script("--from-db", "--out", str(tmp_path), QR_FONT=str(tmp_path / "nope.ttc"))
    assert result.returncode == 3
    assert "字体文件不存在" in result.stderr and "nope.ttc" in result.stderr
    assert not any(tmp_path.iterdir())


def test_help_explains_every_option():
    result = run_script("--help")
    assert result.returncode == 0
    text = result.stdout
    for action in qr_generator.build_parser()._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text
    for phrase in ("label,lat,lng", "PUBLIC_BASE_URL", "QR_FONT", "fonts-noto-cjk", "Exit status"):
        assert phrase in text


def test_the_palette_placard_png_keeps_the_colours_of_the_rendering(cjk_fonts):
    regular, bold = cjk_fonts
    renderer = signage.PlacardRenderer((105, 148), 150, regular, bold)
    rgb = renderer.render("7KQ3MX", "观音桥步行街东口", signage.qr_matrix(f"{BASE_URL}/s/7KQ3MX")).image
    paletted = rgb.quantize(palette=signage.batch._placard_palette(), dither=Image.Dither.NONE).convert("RGB")
    assert np.abs(np.asarray(paletted, dtype=int) - np.asarray(rgb, dtype=int)).max() <= 6


def test_an_output_directory_that_cannot_be_created_is_a_clear_error(run_qr, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    status, _, stderr = run_qr("--from-db", "--out", str(blocker / "out"))
    assert status == 2
    assert "无法创建输出目录" in stderr


def test_a_long_label_wraps_at_a_separator_and_drops_it(cjk_fonts):
    regular, bold = cjk_fonts
    renderer = signage.PlacardRenderer((105, 148), 150, regular, bold)
    lines, _font = renderer.label_lines("鎏嘉码头公共厕所旁 · 江北嘴中央商务区滨江步道入口处")
    assert lines == ["鎏嘉码头公共厕所旁", "江北嘴中央商务区滨江步道入口处"]
    lines, _font = renderer.label_lines("观音桥步行街东口")
    assert lines == ["观音桥步行街东口"]


def test_a_long_label_without_spaces_breaks_between_words_not_inside_one(cjk_fonts):
    regular, bold = cjk_fonts
    renderer = signage.PlacardRenderer((105, 148), 150, regular, bold)
    label = "观音桥步行街东口北侧公共停车场入口旁边的城市管理服务站"
    lines, _font = renderer.label_lines(label)
    assert len(lines) == 2 and "".join(lines) == label
    assert len(lines[0]) in signage.word_boundaries(label)  # the cut falls between two words
    assert lines[1].startswith("停车场")  # cutting at the middle would have split 停|车场


def test_the_headline_lists_every_category_the_sign_page_shows(app):
    from app.poi.services import active_categories, ensure_default_categories

    ensure_default_categories()
    names = [c.name for c in active_categories()]
    assert "洗车点" in names
    assert all(name in signage.DEFAULT_HEADLINE for name in names)
