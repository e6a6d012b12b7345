"""Placards per second: the PNG side (QR PNG + SVG + placard PNG per sign) and the PDF side, against a baseline.

Usage: python bench/qr_placards.py [--signs 200] [--size A6] [--dpi 300]
Measures --signs signs and extrapolates to 1,000 (the issue's goal: 1,000 signs in under a minute). Baseline in the
same run: the qrcode library's own one-liner (`qrcode.make(url).save(png)`), i.e. a bare QR PNG with no placard.
The last figure is the whole command (CSV -> registration on SQLite -> files and PDF) with its default worker count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qrcode  # noqa: E402

import qr_generator as g  # noqa: E402

BASE = "https://bx.example.cn"


def timed(fn):
    """(wall seconds, CPU seconds of this process and its finished children, result)."""
    t0, c0 = time.perf_counter(), _cpu()
    result = fn()
    return time.perf_counter() - t0, _cpu() - c0, result


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signs", type=int, default=200)
    ap.add_argument("--size", default="A6")
    ap.add_argument("--dpi", type=int, default=300)
    args = ap.parse_args()
    n = args.signs
    codes = [f"B{i:05d}" for i in range(n)]
    regular, bold = g.find_cjk_fonts()
    size = g.parse_size(args.size, g.PLACARD_SIZES)
    renderer = g.PlacardRenderer(size, args.dpi, regular, bold)
    print(f"{n} signs, {args.size} at {args.dpi} dpi, font {bold.path}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def baseline():
            for code in codes:
                qrcode.make(f"{BASE}/s/{code}").save(out / f"base-{code}.png")

        wall, cpu, _ = timed(baseline)
        base_rate = n / wall
        print(f"baseline qrcode.make().save(): {base_rate:7.1f} QR PNG/s   (cpu {cpu / n * 1000:.1f} ms each)")

        def png_side():
            return [g.render_sign(renderer, out, BASE, code, f"观音桥测试点{code}", None) for code in codes]

        wall, cpu, parts = timed(png_side)
        png_rate = n / wall
        print(f"PNG side, 1 process:           {png_rate:7.1f} placards/s (cpu {cpu / n * 1000:.1f} ms each: QR PNG, "
              f"SVG and placard PNG) = {png_rate / base_rate:.2f}x baseline; 1,000 in {1000 / png_rate:.0f} s")

        def pdf_side():
            pdf = g.PlacardPDF(out / "bench.pdf", size, None, "bench")
            for p in parts:
                pdf.add(p, renderer)
            pdf.close()
            return pdf

        wall, cpu, pdf = timed(pdf_side)
        pdf_rate = n / wall
        size_kb = (out / "bench.pdf").stat().st_size / 1024
        print(f"PDF side:                      {pdf_rate:7.1f} placards/s (cpu {cpu / n * 1000:.1f} ms each; "
              f"{pdf.pages} sheets, {size_kb / n:.1f} KB per placard); 1,000 in {1000 / pdf_rate:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "signs.csv"
        rows = [f"观音桥测试点{i:05d},{29.56 + (i % 97) * 0.001:.6f},{106.50 + (i // 97) * 0.002:.6f},B{i:05d}"
                for i in range(n)]
        csv.write_text("label,lat,lng,external_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
        from app import create_app
        from app.extensions import db

        app = create_app({"APP_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                          "REDIS_URL": ""})
        with app.app_context():
            db.create_all()
            argv = [str(csv), "--out", str(tmp / "out"), "--base-url", BASE, "--no-progress", "--size", args.size,
                    "--dpi", str(args.dpi)]
            wall, cpu, status = timed(lambda: g.main(argv, app=app))
        assert status == 0
        jobs = min(os.cpu_count() or 1, 4) if n >= 40 else 1
        rate = n / wall
        print(f"whole command ({jobs} workers):   {rate:7.1f} placards/s incl. registration; "
              f"1,000 signs in about {1000 / rate:.0f} s (goal < 60 s)")
        busy = cpu / n * 1000
        print(f"  its CPU: {busy:.1f} ms per sign in all processes, so 1,000 signs need {busy:.0f} CPU-seconds: "
              f"about {busy / jobs:.0f} s on {jobs} idle cores")


if __name__ == "__main__":
    main()
