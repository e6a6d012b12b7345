"""综合评价: the period's indicators per department, area, category or channel, computed from cases and their trail.

Every figure is "as of the end of the period": only trail entries before `period.end` count, so last month's numbers
do not change when they are computed again later. The definitions, formulas and a worked example are in
docs/assessment.md (tests/test_assessment.py reproduces the example to the digit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json

from flask import current_app
from redis.exceptions import RedisError

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db, get_redis
from app.reports.assessment_areas import area_answer, area_rows
from app.reports.assessment_departments import FORMULA, department_answer, score, weights
from app.reports.assessment_facts import GROUPINGS, rate, report_statements
from app.reports.periods import Period, last_days, local_today, month, month_before
from app.reports.queries import BadFilter

__all__ = ["GROUPINGS", "area_rows", "assess", "department_answer", "rate", "score", "summary", "warm", "weights"]

def _cache_key(period: Period, by: str, actor: Actor) -> str:
    scope = actor.department_id if (actor.role == "handler" or actor.kind == "api") else None
    cfg = current_app.config
    basis = json.dumps([period.first.isoformat(), period.last.isoformat(), by, scope, weights(),
                        cfg["ASSESSMENT_REGISTER_MINUTES"], cfg["ASSESSMENT_DISPATCH_MINUTES"]])
    return "assessment:v1:" + hashlib.sha256(basis.encode()).hexdigest()


def assess(period: Period, by: str, actor: Actor) -> dict:
    """The whole assessment answer: period, grouping, weights and formula, rows, and the command centre's figures.

    A finished period's answer cannot change (only trail entries before its end count, and entries are appended
    with the current time), so it is kept in Redis for ASSESSMENT_CACHE_TTL_S; a period still running is kept for
    ASSESSMENT_LIVE_TTL_S (a command-centre screen may be that many seconds behind; 0: always computed).
    """
    if by not in GROUPINGS:
        raise BadFilter(f"by: 应为 {'、'.join(GROUPINGS)} 之一")
    return _kept(period, by, actor, lambda: _compute(period, by, actor))


def _ttl(period: Period) -> int:
    running = period.end > utcnow()
    return current_app.config["ASSESSMENT_LIVE_TTL_S" if running else "ASSESSMENT_CACHE_TTL_S"]


def _kept(period: Period, name: str, actor: Actor, compute, refresh: bool = False) -> dict:
    """`compute()`'s answer for this period, grouping `name` and scope, kept in Redis as assess() describes
    (`refresh`: computed and kept again whether or not a kept answer exists)."""
    ttl = _ttl(period)
    if ttl <= 0:
        return compute()
    key = _cache_key(period, name, actor)
    try:
        cached = None if refresh else get_redis().get(key)
    except RedisError:
        cached = None
    if cached:
        return json.loads(cached)
    answer = compute()
    with contextlib.suppress(RedisError):
        get_redis().set(key, json.dumps(answer, ensure_ascii=False), ex=ttl)
    return answer


def _compute(period: Period, by: str, actor: Actor) -> dict:
    report_statements()
    if by == "department":
        rows, centre_figures, _ = department_answer(period, actor)
    else:
        rows, centre_figures = area_answer(period, by, actor)
    return {
        "period": period.as_json(),
        "by": by,
        "weights": weights(),
        "formula": FORMULA,
        "rows": rows,
        "centre": centre_figures,
    }


def summary(period: Period, actor: Actor) -> dict:
    """The dashboard's headline: the period's totals (as by=channel, summed), the centre, the department ranking;
    kept like the assessment (the same definitions, the same freshness)."""
    return _kept(period, "summary", actor, lambda: _summary(period, actor))


def _summary(period: Period, actor: Actor) -> dict:
    report_statements()
    departments, centre_figures, totals = department_answer(period, actor)
    totals["closed_rate"] = rate(totals["closed"], totals["registered"])
    totals["closed_on_time_rate"] = rate(totals["closed_on_time"], totals["registered"])
    return {"totals": totals, "centre": centre_figures, "departments": departments}


WARM_INTERVAL_S = 30  # how often the `assessment-warm` cron job runs warm() (app/cron.py)


def warm() -> int:
    """Compute and keep, city-wide, what the command centre opens by default, before anyone asks (ASSESSMENT_WARM;
    the `assessment-warm` cron job, every WARM_INTERVAL_S): the dashboard's headline for its default 30 days, this
    month and last month, and the assessment by department for this month and last month. A running period's answer
    is refreshed on every run (so it is never more than ASSESSMENT_LIVE_TTL_S old, and never missing while the job
    runs); a finished one only when it is missing or about to expire. Each in a transaction of its own. Returns how
    many were computed.

    Only the city-wide scope is kept ahead: a handler's own department is computed on its first view, then kept."""
    if not current_app.config.get("ASSESSMENT_WARM"):
        return 0
    actor = Actor.system("综合评价预热")
    today = local_today()
    this = month(today.year, today.month)
    previous = month_before(this)
    views = [(p, "summary", lambda p=p: _summary(p, actor)) for p in (last_days(30), this, previous)]
    views += [(p, "department", lambda p=p: _compute(p, "department", actor)) for p in (this, previous)]
    computed = 0
    for period, name, compute in views:
        ttl = _ttl(period)
        if ttl <= 0:
            continue
        if period.end <= utcnow():  # finished: keep it unless it is there for another two runs at least
            with contextlib.suppress(RedisError):
                if get_redis().ttl(_cache_key(period, name, actor)) > 2 * WARM_INTERVAL_S:
                    continue
        try:
            _kept(period, name, actor, compute, refresh=True)
            computed += 1
        finally:
            db.session.rollback()
    return computed
