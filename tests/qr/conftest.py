"""Fixtures for the QR signage tests: the CJK font, an independent QR decoder (OpenCV), CSV files, the script."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import qr_generator  # noqa: E402
from app import signage  # noqa: E402

BASE_URL = "https://bx.example.cn"


@pytest.fixture(scope="session")
def cjk_fonts():
    """(regular, bold) CJK fonts; the placard tests need one (.ci/run installs fonts-noto-cjk)."""
    try:
        return signage.find_cjk_fonts()
    except signage.FontNotFound as exc:
        pytest.skip(f"no CJK font on this machine: {exc}")


def decode(img: Image.Image | np.ndarray) -> str:
    """The text of the QR in the image as OpenCV reads it (independent of the qrcode library); '' if unreadable.

    OpenCV's classic QRCodeDetector misses about 1 in 70 valid symbols at any size (its finder-pattern search); its
    ArUco-based detector reads those. A phone's scanner likewise combines methods, so a symbol counts as read when
    either reads it.
    """
    import cv2

    arr = np.asarray(img.convert("L")) if isinstance(img, Image.Image) else img
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, _points, _ = detector.detectAndDecode(arr)
        if text:
            return text
    return ""


@pytest.fixture
def write_csv(tmp_path):
    """Write CSV text to a file and return its path."""

    def write(text: str, name: str = "signs.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_qr(app, capsys, cjk_fonts):
    """Run qr_generator.main in process against the test app; returns (exit status, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = qr_generator.main([*argv, "--no-progress", "--base-url", BASE_URL], app=app)
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(autouse=True)
def seeded_codes(monkeypatch):
    """Sign codes from a seeded generator, so a test sees the same QR symbols on every run (a decoder miss is then
    a real regression, not luck); the codes still go through new_sign_code's uniqueness check."""
    import random

    from app.poi import signs

    rng = random.Random(20261124)
    monkeypatch.setattr(signs.secrets, "choice", rng.choice)
