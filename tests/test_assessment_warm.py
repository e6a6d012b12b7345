"""The command centre's default views are computed and kept ahead (the `assessment-warm` cron job): opening them reads
Redis, not the database, and gives what computing them now gives."""

from __future__ import annotations

import pytest

from app.extensions import db, get_redis
from app.periodic import warm_assessment_job
from app.reports.assessment import assess, summary
from app.reports.periods import last_days, local_today, month, month_before
from app.reports.services import transition
from tests.assessment_example import build_example
from tests.factories import actor, report, statements


@pytest.fixture
def example(app):
    """November 2026's worked example, and cases of this month whatever the date the suite runs on."""
    build_example()
    for text in ("井盖破损", "路灯不亮"):
        case = report(text)
        transition(case.id, "register", actor("dispatcher"))
        transition(case.id, "dispatch", actor("dispatcher"))
    db.session.commit()


def default_views(who):
    today = local_today()
    this = month(today.year, today.month)
    previous = month_before(this)
    return [
        lambda: summary(last_days(30), who), lambda: summary(this, who), lambda: summary(previous, who),
        lambda: assess(this, "department", who), lambda: assess(previous, "department", who),
    ]


def reads_of_the_rollup(views) -> tuple[list, int]:
    with statements("case_facts") as seen:
        answers = [view() for view in views]
    return answers, len(seen)


def test_the_default_views_are_kept_ahead_and_equal_what_computing_them_gives(app, example):
    assert warm_assessment_job() == 5
    kept, reads = reads_of_the_rollup(default_views(actor("admin")))
    assert reads == 0  # every one from Redis
    app.config.update(ASSESSMENT_CACHE_TTL_S=0, ASSESSMENT_LIVE_TTL_S=0)
    computed, reads = reads_of_the_rollup(default_views(actor("admin")))
    assert reads > 0 and computed == kept
    assert computed[1]["totals"]["reported"] >= 2  # this month's cases are in its headline


def test_a_running_period_is_refreshed_on_every_run_and_a_finished_one_only_when_about_to_expire(app, example):
    assert warm_assessment_job() == 5
    assert warm_assessment_job() == 3  # last 30 days, this month (headline and assessment); last month stays
    for key in get_redis().keys("assessment:v1:*"):
        get_redis().expire(key, 30)  # about to expire
    assert warm_assessment_job() == 5


def test_a_department_s_own_scope_is_not_kept_ahead_and_warming_can_be_switched_off(app, example):
    warm_assessment_job()
    _, reads = reads_of_the_rollup(default_views(actor("handler", "JB-HWS"))[3:])
    assert reads > 0  # a handler's own department is computed on its first view
    get_redis().flushdb()
    app.config["ASSESSMENT_WARM"] = False
    assert warm_assessment_job() == 0 and get_redis().keys("assessment:v1:*") == []
