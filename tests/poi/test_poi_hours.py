"""Opening hours: parsing what cities publish, and whether a POI is open at a given moment in Shanghai time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.poi.hours import InvalidOpeningHours, format_hours, is_open, parse_opening_hours

SH = ZoneInfo("Asia/Shanghai")


def at(hh, mm=0):
    return datetime(2026, 11, 24, hh, mm, tzinfo=SH)


@pytest.mark.parametrize("text", ["24小时", "24h", "全天", "00:00-24:00", " 24小时 ", "24小时营业"])
def test_all_day_spellings_parse_to_one_whole_day_range(text):
    assert parse_opening_hours(text) == [[0, 1440]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06:00-22:00", [[360, 1320]]),
        ("6:00-22:00", [[360, 1320]]),
        ("06:00-12:00,14:00-22:00", [[360, 720], [840, 1320]]),
        ("14:00-22:00，06:00-12:00", [[360, 720], [840, 1320]]),  # full-width comma, sorted
        ("０６：００－２２：００", [[360, 1320]]),  # full-width digits
        ("08:30~12:00、13:30至19:00", [[510, 720], [810, 1140]]),
        ("22:00-02:00", [[1320, 1560]]),  # past midnight
        ("18:00-24:00", [[1080, 1440]]),
    ],
)
def test_ranges_parse_into_minutes_after_midnight(text, expected):
    assert parse_opening_hours(text) == expected


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_hours_are_unknown_not_closed(text):
    assert parse_opening_hours(text) is None
    assert is_open(parse_opening_hours(text), at(12)) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("看情况", "无法识别"),
        ("25:00-26:00", "无效"),
        ("06:61-22:00", "无效"),
        ("24:00-06:00", "无效"),  # 24:00 only ends a range
        ("08:00-08:00", "相同"),
        ("08:00", "无法识别"),
        ("08:00-12:00,", None),  # a trailing comma is tolerated
    ],
)
def test_unreadable_hours_are_rejected_with_a_reason(text, reason):
    if reason is None:
        assert parse_opening_hours(text) == [[480, 720]]
        return
    with pytest.raises(InvalidOpeningHours, match=reason):
        parse_opening_hours(text)


def test_a_single_range_is_open_inside_and_closed_outside_with_the_end_exclusive():
    hours = parse_opening_hours("06:00-22:00")
    assert is_open(hours, at(5, 59)) is False
    assert is_open(hours, at(6, 0)) is True
    assert is_open(hours, at(21, 59)) is True
    assert is_open(hours, at(22, 0)) is False


def test_a_lunch_break_between_two_ranges_is_closed():
    hours = parse_opening_hours("08:30-12:00,13:30-19:00")
    assert is_open(hours, at(11)) is True
    assert is_open(hours, at(12, 30)) is False
    assert is_open(hours, at(14)) is True


def test_a_range_past_midnight_is_open_late_and_early_next_morning_but_not_at_noon():
    hours = parse_opening_hours("22:00-02:00")
    assert is_open(hours, at(23, 30)) is True
    assert is_open(hours, at(1, 59)) is True
    assert is_open(hours, at(2, 0)) is False
    assert is_open(hours, at(12)) is False


def test_open_now_is_judged_in_shanghai_time_whatever_the_timezone_of_the_moment():
    hours = parse_opening_hours("06:00-22:00")
    # 23:00 UTC is 07:00 next morning in Shanghai: open; 15:00 UTC is 23:00 in Shanghai: closed.
    assert is_open(hours, datetime(2026, 11, 24, 23, 0, tzinfo=UTC)) is True
    assert is_open(hours, datetime(2026, 11, 24, 15, 0, tzinfo=UTC)) is False


def test_twenty_four_hours_is_open_at_any_minute():
    hours = parse_opening_hours("24小时")
    assert all(is_open(hours, at(h, m)) for h in range(24) for m in (0, 59))


def test_format_hours_reads_back_ranges_including_next_day_ends():
    assert format_hours(parse_opening_hours("24小时")) == "24小时"
    assert format_hours(parse_opening_hours("22:00-02:00")) == "22:00-次日02:00"
    assert format_hours(None) == "营业时间未知"
