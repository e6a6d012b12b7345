#!/usr/bin/env python3
"""Print-ready QR signage: register signs from a CSV (or take them from the database) and write, per sign, the QR
as PNG (print resolution) and SVG, a placard PNG, and one imposed PDF with cut marks for the print shop.

Run `python qr_generator.py --help`. Decisions (see docs/qr.md): error correction H with a 4-module quiet zone;
placards are rendered with Pillow (FreeType draws the CFF outlines of Noto Sans CJK; reportlab's TrueType embedding
cannot) and placed 1:1 in the PDF by reportlab; a label whose characters the font lacks stops the run instead of
printing boxes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

# Run with the project's virtualenv whatever `python` started us (the README says `python qr_generator.py …`).
_VENV = Path(__file__).resolve().parent / ".venv"
if __name__ == "__main__" and (_VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != _VENV.resolve():
    os.execv(str(_VENV / "bin" / "python"), [str(_VENV / "bin" / "python"), __file__, *sys.argv[1:]])  # noqa: S606

from PIL import Image  # noqa: E402

from app.signage import (  # noqa: E402
    DEFAULT_HEADLINE,
    DEFAULT_INSTRUCTION,
    DEFAULT_OPERATOR,
    PLACARD_SIZES,
    SHEET_SIZES,
    FontNotFound,
    PlacardRenderer,
    Texts,
    find_cjk_fonts,
    imposition,
    write_all,
)


def parse_size(value: str, named: dict) -> tuple[float, float]:
    """'A6' (a name in `named`) or '100x150' (width x height in mm) -> (width, height) in mm."""
    key = value.strip().upper()
    if key in named:
        return named[key]
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[xX×*]\s*(\d+(?:\.\d+)?)\s*(mm)?\s*", value)
    if not m:
        raise argparse.ArgumentTypeError(f"unknown size {value!r}: use {', '.join(named)} or WxH in mm")
    w, h = float(m.group(1)), float(m.group(2))
    if not (50 <= w <= 1000 and 50 <= h <= 1000):
        raise argparse.ArgumentTypeError("placard/sheet sides must be between 50 and 1000 mm")
    return w, h


EPILOG = """\
examples:
  python qr_generator.py signs.csv --out print/            register the CSV's signs, write their files and a PDF
  python qr_generator.py --from-db --only-new --out print/ every registered sign not yet printed into print/
  python qr_generator.py --from-db --codes 7KQ3MX,H4T9PA --size A5 --logo logo.png --out reprint/

CSV (UTF-8, header row): label,lat,lng required; crs (wgs84|gcj02|bd09), external_id, note optional.
  Rows are registered as signs in one transaction: a bad row stops the run with every bad line listed and nothing
  registered. A row whose external_id (or, without one, the same label at the same coordinates) is already
  registered reuses that sign, so running the same file twice creates nothing new.
Files per sign in --out, named by its code: CODE.png (the QR at --dpi), CODE.svg (the QR, vector),
  CODE-placard.png (the placard at --dpi); plus one PDF of this run's placards, several per sheet with cut marks.
Font: --font, else $QR_FONT, else the system's Noto Sans CJK (fonts-noto-cjk) or another CJK font from fc-list.
  Without a CJK font, or with text the font cannot draw, the run stops (exit 3) rather than print boxes.
Exit status: 0 done, 1 bad input (CSV rows, unknown codes), 2 bad options, 3 font problem.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line (every option documented: `--help`)."""
    p = argparse.ArgumentParser(
        prog="qr_generator.py",
        description="Print-ready QR signs for 百姓城管: each QR opens PUBLIC_BASE_URL/s/<code>, the page with the "
        "nearest public toilets, parking and police kiosks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("which signs")
    src.add_argument("csv", nargs="?", type=Path, help="CSV of sign locations to register and print (see below)")
    src.add_argument("--from-db", action="store_true", help="print signs already registered instead of reading a CSV")
    src.add_argument("--codes", default=None, metavar="A,B",
                     help="with --from-db: only these sign codes (comma-separated; all must exist)")
    src.add_argument("--only-new", action="store_true",
                     help="only signs that have no placard in --out yet (CODE-placard.png missing)")
    src.add_argument("--crs", default="wgs84", metavar="CRS",
                     help="coordinate system of CSV rows without a crs column: wgs84 (GPS), gcj02 (Tencent/Amap), "
                     "bd09 (Baidu) (default: %(default)s)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("qr-out"), metavar="DIR",
                     help="directory for the files (created if missing; default: %(default)s)")
    out.add_argument("--base-url", default=None, metavar="URL",
                     help="address the QR opens, before /s/<code> (default: the app's PUBLIC_BASE_URL)")
    out.add_argument("--dpi", type=int, default=300, help="print resolution of the PNG files (default: %(default)s)")
    out.add_argument("--size", default="A6", metavar="SIZE",
                     help="placard size: A4, A5, A6 or WxH in mm, e.g. 120x170 (default: %(default)s)")
    out.add_argument("--sheet", default=None, metavar="SIZE",
                     help="PDF sheet: A4, A3, SRA3 or WxH in mm (default: the smallest that holds two or more "
                     "placards with room for cut marks)")
    out.add_argument("--pdf", default="placards.pdf", metavar="NAME",
                     help="file name of the combined PDF inside --out (default: %(default)s)")
    out.add_argument("--no-pdf", action="store_true", help="do not write the combined PDF")
    look = p.add_argument_group("placard text and look")
    look.add_argument("--headline", default=DEFAULT_HEADLINE, help="headline in the top band (default: %(default)s)")
    look.add_argument("--operator", default=DEFAULT_OPERATOR, help="operator's name at the foot (default: %(default)s)")
    look.add_argument("--instruction", default=DEFAULT_INSTRUCTION,
                      help="one-line instruction above the code (default: %(default)s)")
    look.add_argument("--logo", type=Path, default=None, metavar="FILE",
                      help="small image put in the QR's centre (about 5%% of its modules, covered by error "
                      "correction H)")
    look.add_argument("--font", default=None, metavar="PATH",
                      help="CJK font file (.ttf/.otf/.ttc) for the placard; default: $QR_FONT, else Noto Sans CJK")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes for rendering (default: one per CPU, up to 4, for 40 signs or more)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _fail(code: int, *lines: str) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return code


def main(argv: list[str] | None = None, app=None) -> int:
    """Run the command; returns the exit status. `app`: an existing Flask app (tests), else create_app()."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.csv) == bool(args.from_db):
        parser.error("give a CSV file or --from-db (one of them)")
    if args.codes and not args.from_db:
        parser.error("--codes needs --from-db")
    if not 72 <= args.dpi <= 1200:
        parser.error("--dpi must be between 72 and 1200")
    if args.jobs < 0:
        parser.error("--jobs must be 0 (automatic) or more")
    from app.geo import UnknownCRS, normalize_crs

    try:
        args.crs = normalize_crs(args.crs)
    except UnknownCRS as exc:
        parser.error(str(exc))
    try:
        size = parse_size(args.size, PLACARD_SIZES)
        sheet = parse_size(args.sheet, SHEET_SIZES) if args.sheet else None
        imposition(size, sheet)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        parser.error(str(exc))
    try:
        regular, bold = find_cjk_fonts(args.font or os.environ.get("QR_FONT") or None)
    except FontNotFound as exc:
        return _fail(3, f"错误：{exc}")
    texts = Texts(args.headline.strip(), args.instruction.strip(), args.operator.strip())
    for name, text in (("--headline", texts.headline), ("--instruction", texts.instruction),
                       ("--operator", texts.operator)):
        lacking = regular.missing(text) + bold.missing(text)
        if lacking:
            return _fail(3, f"错误：字体 {bold.path} 画不出 {name} 中的字：{''.join(dict.fromkeys(lacking))}")
    logo = None
    if args.logo:
        try:
            logo = Image.open(args.logo).convert("RGBA")
        except OSError as exc:
            parser.error(f"cannot read --logo {args.logo}: {exc}")

    from app.poi.signs import SignImportError, SignNotFound, read_sign_csv

    rows = []
    if args.csv:
        try:
            rows = read_sign_csv(args.csv.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            return _fail(1, f"错误：无法读取 {args.csv}：{exc}")
        except UnicodeDecodeError:
            return _fail(1, f"错误：{args.csv} 不是 UTF-8 编码（请在表格软件中另存为 CSV UTF-8）")
        except SignImportError as exc:
            return _report_rows(exc)
        glyph_errors = [(r["line"], f"字体画不出名称中的字：{''.join(bold.missing(r.get('label', '')))}")
                        for r in rows if bold.missing(r.get("label", ""))]
        if glyph_errors:
            return _report_rows(SignImportError(glyph_errors))

    if app is None:
        from dotenv import load_dotenv

        from app import create_app
        from app.config import ConfigError

        load_dotenv(Path(__file__).resolve().parent / ".env")  # the settings `python3 tasks.py serve` wrote

        try:
            app = create_app()
        except ConfigError as exc:
            return _fail(2, f"错误：应用配置不完整（与服务器使用相同的环境变量）：{exc}")
    from contextlib import nullcontext

    from flask import current_app, has_app_context

    same = has_app_context() and current_app._get_current_object() is app
    with nullcontext() if same else app.app_context():
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail(2, f"错误：无法创建输出目录 {args.out}：{exc}")
        printed = {p.name[: -len("-placard.png")] for p in args.out.glob("*-placard.png")}
        created = reused = 0
        try:
            if args.csv:
                created, reused, signs = register_and_filter(rows, args.crs, args.only_new, printed)
            else:
                from app.poi.signs import signs_for

                codes = args.codes.split(",") if args.codes else None
                signs = signs_for(codes=codes, only_new=args.only_new, printed=printed)
        except SignImportError as exc:
            return _report_rows(exc)
        except SignNotFound as exc:
            return _fail(1, f"错误：{exc}")
        plan = [(s.code, s.label) for s in signs]
        base_url = (args.base_url or app.config["PUBLIC_BASE_URL"]).rstrip("/")
    bad = [f"标识 {code}「{label}」：字体画不出 {''.join(bold.missing(label))}" for code, label in plan
           if bold.missing(label)]
    if bad:
        return _fail(3, *bad, "没有生成任何文件。请换一个字体（--font）或改名称。")

    renderer = PlacardRenderer(size, args.dpi, regular, bold, texts, logo)
    jobs = args.jobs if args.jobs else (min(os.cpu_count() or 1, 4) if len(plan) >= 40 else 1)
    written, pdf = write_all(plan, renderer, base_url, args, sheet, jobs)
    print(f"完成：新登记 {created} 个标识，复用 {reused} 个；写出 {written} 个文件到 {args.out}")
    if pdf is not None:
        print(f"PDF：{args.out / args.pdf}（{pdf.pages} 页，每页 {len(pdf.corners)} 张，"
              f"纸张 {pdf.sheet[0]:g}×{pdf.sheet[1]:g} mm，按 100% 打印）")
    return 0


def register_and_filter(rows, crs, only_new, printed):
    """Register the CSV rows; with only_new keep the signs that have no placard yet."""
    from app.poi.signs import register_signs

    created, reused, signs = register_signs(rows, crs_default=crs)
    if only_new:
        signs = [s for s in signs if s.code not in printed]
    return created, reused, signs


def _report_rows(exc) -> int:
    lines = [f"第 {line} 行：{reason}" for line, reason in exc.errors]
    return _fail(1, *lines, f"共 {len(exc.errors)} 处问题，没有登记任何标识。")


if __name__ == "__main__":
    sys.exit(main())
