"""Assessment periods: a month, a day, a week or a custom range of local dates, as a half-open UTC interval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from app.events import utcnow
from app.reports.queries import BadFilter

MAX_DAYS = 366
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """Local dates `first`..`last` inclusive; `start`/`end` are the UTC instants [start, end)."""

    kind: str  # month | day | week | custom
    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The UTC instant the period begins (local midnight of `first`)."""
        return _local_midnight(self.first)

    @property
    def end(self) -> datetime:
        """The UTC instant the period ends (local midnight after `last`), exclusive."""
        return _local_midnight(self.last + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        """Every local date of the period."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def as_json(self) -> dict:
        """The period as the API answers it."""
        return {
            "kind": self.kind,
            "date_from": self.first.isoformat(),
            "date_to": self.last.isoformat(),
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "timezone": _tz().key,
        }

    def as_args(self) -> dict:
        """The query-string arguments that select this period again."""
        if self.kind == "month":
            return {"period": self.first.strftime("%Y-%m")}
        return {"date_from": self.first.isoformat(), "date_to": self.last.isoformat()}


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=_tz()).astimezone(UTC)


def local_today() -> date:
    """Today in the city's time zone."""
    return utcnow().astimezone(_tz()).date()


def _parse_date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadFilter(f"{name}: 日期格式应为 YYYY-MM-DD") from exc


def last_days(n: int = 30) -> Period:
    """The last `n` local days, today included (the dashboard's default)."""
    today = local_today()
    return Period(f"last{n}", today - timedelta(days=n - 1), today)


def month(year: int, mon: int) -> Period:
    """The calendar month `year-mon`."""
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return Period("month", first, nxt - timedelta(days=1))


def month_before(period: Period) -> Period:
    """The calendar month before the one `period` starts in."""
    last = period.first.replace(day=1) - timedelta(days=1)
    return month(last.year, last.month)


def period_from_args(args, default: str = "month") -> Period:
    """Parse `period=YYYY-MM` | `period=day|week|month` (the current one) | `date_from`+`date_to`; BadFilter if bad.

    Without any of them: the current `default` period (day, week or month) in the city's time zone.
    """
    raw = (args.get("period") or "").strip()
    date_from = (args.get("date_from") or "").strip()
    date_to = (args.get("date_to") or "").strip()
    if raw and (date_from or date_to):
        raise BadFilter("period: 不能与 date_from/date_to 同时使用")
    if date_from or date_to:
        if not (date_from and date_to):
            raise BadFilter("date_from/date_to: 需要同时给出")
        first, last = _parse_date(date_from, "date_from"), _parse_date(date_to, "date_to")
        if last < first:
            raise BadFilter("date_to: 不能早于 date_from")
        if (last - first).days + 1 > MAX_DAYS:
            raise BadFilter(f"date_to: 时间范围最长 {MAX_DAYS} 天")
        return Period("custom", first, last)
    raw = raw or default
    match = _MONTH.match(raw)
    if match:
        year, mon = int(match.group(1)), int(match.group(2))
        if not (2000 <= year <= 2100 and 1 <= mon <= 12):
            raise BadFilter("period: 月份应为 YYYY-MM")
        return month(year, mon)
    today = local_today()
    if raw == "day":
        return Period("day", today, today)
    if raw == "week":
        monday = today - timedelta(days=today.weekday())
        return Period("week", monday, monday + timedelta(days=6))
    if raw == "month":
        return month(today.year, today.month)
    raise BadFilter("period: 应为 YYYY-MM、day、week 或 month")
