"""综合评价: the worked example of docs/assessment.md reproduced to the digit, periods, and the API's hostile edges."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from app.reports.assessment import assess
from app.reports.periods import period_from_args
from app.reports.queries import BadFilter
from tests.assessment_example import build_example
from tests.factories import actor

NOV = MultiDict({"period": "2026-11"})


@pytest.fixture
def example(app):
    build_example()


def by_key(answer: dict) -> dict:
    return {row["key"]: row for row in answer["rows"]}


def test_the_worked_example_by_department_matches_the_document(example):
    answer = assess(period_from_args(NOV), "department", actor("admin"))
    assert answer["period"]["start"] == "2026-10-31T16:00:00Z" and answer["period"]["end"] == "2026-11-30T16:00:00Z"
    rows = by_key(answer)
    assert set(rows) == {"JB-HWS", "JB-S-GYQ"}
    assert rows["JB-HWS"] == {
        "key": "JB-HWS",
        "name": "江北区环境卫生管理所",
        "due": 8,
        "handled": 4,
        "handled_on_time": 2,
        "handled_late": 2,
        "overdue_open": 4,
        "on_time_rate": 0.25,
        "handled_rate": 0.5,
        "rework": 1,
        "rework_rate": 0.25,
        "supervised": 2,
        "supervised_on_time": 1,
        "supervised_on_time_rate": 0.5,
        "return_visits": 4,
        "satisfied": 2,
        "satisfaction_rate": 0.5,
        "score": 42.5,
    }
    gyq = rows["JB-S-GYQ"]
    assert (gyq["due"], gyq["handled"], gyq["handled_on_time"], gyq["overdue_open"]) == (1, 1, 1, 0)
    assert (gyq["on_time_rate"], gyq["handled_rate"], gyq["rework_rate"]) == (1.0, 1.0, 0.0)
    assert gyq["supervised_on_time_rate"] is None and gyq["satisfaction_rate"] is None
    assert gyq["score"] == 100.0
    assert [r["key"] for r in answer["rows"]] == ["JB-S-GYQ", "JB-HWS"]  # ranked by score
    assert answer["weights"]["on_time_rate"] == 50 and "Σ" in answer["formula"]


def test_the_worked_example_for_the_command_centre(example):
    centre = assess(period_from_args(NOV), "department", actor("admin"))["centre"]
    assert centre == {
        "register_minutes": 30,
        "dispatch_minutes": 30,
        "registered": 9,
        "registered_on_time": 8,
        "registered_on_time_rate": 0.8889,
        "dispatched": 9,
        "dispatched_on_time": 7,
        "dispatched_on_time_rate": 0.7778,
        "rerouted": 1,
        "dispatch_accuracy": 0.8889,
    }


def test_the_worked_example_by_channel_and_by_street(example):
    channels = by_key(assess(period_from_args(NOV), "channel", actor("admin")))
    assert channels["wechat"] == {
        "key": "wechat", "name": "微信", "reported": 9, "registered": 8, "closed": 3, "closed_on_time": 2,
        "closed_rate": 0.375, "closed_on_time_rate": 0.25,
    }
    assert channels["hotline"]["closed_rate"] == 1.0 and channels["hotline"]["closed_on_time_rate"] == 1.0
    streets = assess(period_from_args(NOV), "street", actor("admin"))["rows"]
    assert len(streets) == 1 and streets[0]["name"] == "观音桥街道"
    assert (streets[0]["reported"], streets[0]["registered"], streets[0]["closed"]) == (10, 9, 4)
    assert (streets[0]["closed_rate"], streets[0]["closed_on_time_rate"]) == (0.4444, 0.3333)


def test_weights_are_settings_and_the_score_follows_them(app, example):
    app.config["ASSESSMENT_WEIGHTS"] = "on_time_rate:1,handled_rate:0,rework_free_rate:0"
    rows = by_key(assess(period_from_args(NOV), "department", actor("admin")))
    assert rows["JB-HWS"]["score"] == 25.0 and rows["JB-S-GYQ"]["score"] == 100.0


def test_a_handler_sees_only_their_own_department(example):
    rows = assess(period_from_args(NOV), "department", actor("handler", "JB-S-GYQ"))["rows"]
    assert [r["key"] for r in rows] == ["JB-S-GYQ"]


def test_an_empty_month_has_no_rows_and_null_rates(app):
    answer = assess(period_from_args(MultiDict({"period": "2026-01"})), "department", actor("admin"))
    assert answer["rows"] == []
    assert answer["centre"]["registered_on_time_rate"] is None and answer["centre"]["dispatch_accuracy"] is None


@pytest.mark.parametrize(
    "args",
    [
        {"period": "2026-13"},
        {"period": "11/2026"},
        {"period": "2026-11", "date_from": "2026-11-01"},
        {"date_from": "2026-11-01"},
        {"date_from": "2026-11-10", "date_to": "2026-11-01"},
        {"date_from": "2020-01-01", "date_to": "2026-01-01"},
        {"date_from": "2026-02-30", "date_to": "2026-03-01"},
        {"period": "x" * 5000},
    ],
)
def test_bad_periods_are_refused_with_the_parameter_named(app, args):
    with pytest.raises(BadFilter):
        period_from_args(MultiDict(args))


def test_a_custom_range_is_inclusive_local_dates(app):
    period = period_from_args(MultiDict({"date_from": "2026-11-01", "date_to": "2026-11-01"}))
    assert period.kind == "custom" and len(period.days) == 1
    assert period.as_json()["start"] == "2026-10-31T16:00:00Z" and period.as_json()["end"] == "2026-11-01T16:00:00Z"


def test_an_unknown_grouping_is_refused(app):
    with pytest.raises(BadFilter):
        assess(period_from_args(NOV), "citizen", actor("admin"))


def test_a_finished_period_is_kept_and_the_current_one_is_live(app, example):
    from app.extensions import get_redis

    app.config["ASSESSMENT_LIVE_TTL_S"] = 0
    nov = period_from_args(NOV)
    first = assess(nov, "department", actor("admin"))
    assert len(get_redis().keys("assessment:v1:*")) == 1
    assert assess(nov, "department", actor("admin")) == first
    assess(period_from_args(MultiDict({"period": "month"})), "department", actor("admin"))
    assert len(get_redis().keys("assessment:v1:*")) == 1  # the current month is not kept
    own = assess(nov, "department", actor("handler", "JB-S-GYQ"))
    assert [r["key"] for r in own["rows"]] == ["JB-S-GYQ"]  # the department's scope has its own entry
    app.config["ASSESSMENT_CACHE_TTL_S"] = 0
    get_redis().flushdb()
    assess(nov, "department", actor("admin"))
    assert get_redis().keys("assessment:v1:*") == []


def test_a_running_period_is_kept_only_for_the_live_ttl(app):
    from app.extensions import get_redis

    assess(period_from_args(MultiDict({"period": "month"})), "department", actor("admin"))
    (key,) = get_redis().keys("assessment:v1:*")
    assert 0 < get_redis().ttl(key) <= 60


def test_the_dashboard_headline_is_kept_like_the_assessment_and_equals_it_computed(app, example):
    from app.extensions import get_redis
    from app.reports.assessment import summary

    nov = period_from_args(NOV)
    app.config["ASSESSMENT_CACHE_TTL_S"] = 0
    computed = summary(nov, actor("admin"))
    assert get_redis().keys("assessment:v1:*") == []
    app.config["ASSESSMENT_CACHE_TTL_S"] = 3600
    first = summary(nov, actor("admin"))
    assert first == computed and len(get_redis().keys("assessment:v1:*")) == 1
    assert summary(nov, actor("admin")) == computed  # from Redis
    assert first["departments"] == assess(nov, "department", actor("admin"))["rows"]  # one set of definitions
