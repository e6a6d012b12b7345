"""QR sign registration: short unguessable codes, all-or-nothing CSV import (idempotent), and lookups for printing.

A sign's code is what its QR carries (PUBLIC_BASE_URL/s/<code>) and what residents type when they cannot scan, so it
is short, uppercase and drawn from an alphabet without look-alikes (no 0/O, 1/I/L). Six characters of 31 give about
8.9e8 codes: guessing a valid one at random is hopeless while a district has tens of thousands of signs.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import geo
from app.extensions import db
from app.poi.models import Sign

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_ATTEMPTS = 20
REQUIRED_COLUMNS = ("label", "lat", "lng")
OPTIONAL_COLUMNS = ("crs", "external_id", "note")
LABEL_MAX, EXTERNAL_ID_MAX, NOTE_MAX = 100, 64, 200


class SignImportError(ValueError):
    """Rows that cannot be registered; `errors` lists (line, reason) and nothing was saved."""

    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = sorted(errors)
        super().__init__("; ".join(f"第 {line} 行：{reason}" for line, reason in self.errors))


class SignNotFound(LookupError):
    """One or more requested sign codes do not exist."""

    def __init__(self, codes: list[str]):
        self.codes = codes
        super().__init__("没有这些编号的标识：" + ", ".join(codes))


@dataclass(frozen=True)
class _Valid:
    """A row that passed validation (coordinates already converted to WGS-84)."""

    line: int
    label: str
    lat: float
    lng: float
    raw_lat: float
    raw_lng: float
    raw_crs: str
    external_id: str | None
    note: str | None


def new_sign_code(taken: set[str] | None = None) -> str:
    """A fresh random code not used by any sign (nor in `taken`); retries on a collision."""
    taken = taken if taken is not None else set()
    for _ in range(CODE_ATTEMPTS):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code in taken:
            continue
        if db.session.scalar(select(Sign.id).where(Sign.code == code)) is None:
            return code
    raise RuntimeError(f"no free sign code after {CODE_ATTEMPTS} attempts")  # ~never with 8.9e8 codes


def normalize_code(code: str) -> str:
    """How people type a code (lower case, spaces) to how it is stored."""
    return "".join(code.split()).upper()


def read_sign_csv(text: str) -> list[dict]:
    """Parse sign CSV text (header row; label,lat,lng required) into row dicts carrying their source `line`."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SignImportError([(1, "表头缺少列：" + ", ".join(missing) + "（需要 label,lat,lng）")])
    reader.fieldnames = header
    rows = []
    for raw in reader:
        if not any((v or "").strip() for k, v in raw.items() if k is not None):
            continue  # blank line
        row = {k: (v or "").strip() for k, v in raw.items() if k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
        row["line"] = reader.line_num
        rows.append(row)
    return rows


def _validate_row(row: Mapping, line: int, crs_default: str) -> _Valid | list[str]:
    """A validated row, or the reasons it is bad (every problem of the row, not just the first)."""
    problems: list[str] = []
    label = str(row.get("label") or "").strip()
    if not label:
        problems.append("缺少名称（label）")
    elif len(label) > LABEL_MAX:
        problems.append(f"名称超过 {LABEL_MAX} 个字")
    external_id = str(row.get("external_id") or "").strip() or None
    if external_id and len(external_id) > EXTERNAL_ID_MAX:
        problems.append(f"external_id 超过 {EXTERNAL_ID_MAX} 个字符")
    note = str(row.get("note") or "").strip() or None
    if note and len(note) > NOTE_MAX:
        problems.append(f"备注超过 {NOTE_MAX} 个字")
    try:
        crs = geo.normalize_crs(str(row.get("crs") or "").strip() or crs_default)
    except geo.UnknownCRS as exc:
        problems.append(str(exc))
        crs = None
    try:
        raw_lat, raw_lng = geo.parse_coordinates(_blank_to_none(row.get("lat")), _blank_to_none(row.get("lng")))
    except geo.InvalidCoordinates as exc:
        problems.append(str(exc))
        raw_lat = raw_lng = None
    if crs is not None and raw_lat is not None:
        lat, lng = geo.to_wgs84(raw_lat, raw_lng, crs)
        if not current_app.extensions["service_area"].contains(lat, lng):
            problems.append(f"坐标 {raw_lat},{raw_lng}（{crs}）不在服务范围内")
    if problems:
        return problems
    return _Valid(line, label, lat, lng, raw_lat, raw_lng, crs, external_id, note)


def _blank_to_none(value):
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _natural_key(v: _Valid) -> tuple:
    """What identifies a sign that has no external id: the same label at the same raw point."""
    return (v.label, round(v.raw_lat, 7), round(v.raw_lng, 7), v.raw_crs)


def register_signs(rows: Iterable[Mapping], crs_default: str = "wgs84") -> tuple[int, int, list[Sign]]:
    """Register sign rows in one transaction: all or nothing; returns (created, reused, signs in row order).

    Each row has label, lat, lng and optionally crs (default `crs_default`), external_id, note and `line` (its line
    in the source file, for error messages; default: position + 2, the CSV line under a header). A row whose
    external_id is already registered reuses that sign (label, position and note are updated from the row); a row
    without external_id reuses a sign with the same label at the same raw coordinates. So importing a file twice
    creates nothing new. Any bad row raises SignImportError with every (line, reason) and saves nothing.
    """
    crs_default = geo.normalize_crs(crs_default)
    errors: list[tuple[int, str]] = []
    valid: list[_Valid] = []
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        line = int(row.get("line") or index + 2)
        result = _validate_row(row, line, crs_default)
        if isinstance(result, list):
            errors.extend((line, reason) for reason in result)
            continue
        if result.external_id:
            if result.external_id in seen_ids:
                errors.append((line, f"external_id {result.external_id} 与第 {seen_ids[result.external_id]} 行重复"))
                continue
            seen_ids[result.external_id] = line
        else:
            key = _natural_key(result)
            if key in seen_keys:
                errors.append((line, f"与第 {seen_keys[key]} 行是同一个标识（名称和坐标相同）"))
                continue
            seen_keys[key] = line
        valid.append(result)
    if errors:
        raise SignImportError(errors)
    for attempt in range(3):
        try:
            return _save(valid)
        except IntegrityError:
            # A concurrent import took one of our codes or external ids: start over (reusing what it created).
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _save(valid: list[_Valid]) -> tuple[int, int, list[Sign]]:
    """Insert or reuse every validated row, then commit once."""
    ids = [v.external_id for v in valid if v.external_id]
    by_external_id = {
        s.external_id: s for s in db.session.scalars(select(Sign).where(Sign.external_id.in_(ids)))
    } if ids else {}
    created, reused, signs = 0, 0, []
    taken: set[str] = set()
    for v in valid:
        sign = by_external_id.get(v.external_id) if v.external_id else _find_by_natural_key(v)
        if sign is not None:
            sign.label, sign.lat, sign.lng, sign.note = v.label, v.lat, v.lng, v.note
            sign.raw_lat, sign.raw_lng, sign.raw_crs = v.raw_lat, v.raw_lng, v.raw_crs
            reused += 1
        else:
            code = new_sign_code(taken)
            taken.add(code)
            sign = Sign(code=code, label=v.label, lat=v.lat, lng=v.lng, raw_lat=v.raw_lat, raw_lng=v.raw_lng,
                        raw_crs=v.raw_crs, external_id=v.external_id, note=v.note, active=True, scan_count=0)
            db.session.add(sign)
            created += 1
        signs.append(sign)
    db.session.commit()
    return created, reused, signs


def _find_by_natural_key(v: _Valid) -> Sign | None:
    """A sign without external id with this label at (within a centimetre of) these raw coordinates."""
    eps = 1e-7
    return db.session.scalars(
        select(Sign)
        .where(Sign.external_id.is_(None), Sign.label == v.label, Sign.raw_crs == v.raw_crs)
        .where(Sign.raw_lat.between(v.raw_lat - eps, v.raw_lat + eps))
        .where(Sign.raw_lng.between(v.raw_lng - eps, v.raw_lng + eps))
        .order_by(Sign.id)
    ).first()


def signs_for(codes: Iterable[str] | None = None, only_new: bool = False, printed: Iterable[str] = ()) -> list[Sign]:
    """Signs to print: the given codes (all must exist) or every active sign, ordered by code.

    `only_new` leaves out the codes in `printed` (the caller knows which signs already have generated files).
    """
    query = select(Sign).order_by(Sign.code)
    if codes is not None:
        wanted = sorted({normalize_code(c) for c in codes if c.strip()})
        signs = list(db.session.scalars(query.where(Sign.code.in_(wanted))))
        unknown = sorted(set(wanted) - {s.code for s in signs})
        if unknown:
            raise SignNotFound(unknown)
    else:
        signs = list(db.session.scalars(query.where(Sign.active.is_(True))))
    if only_new:
        done = {normalize_code(c) for c in printed}
        signs = [s for s in signs if s.code not in done]
    return signs
