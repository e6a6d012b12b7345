"""Followers (merged duplicates' reporters, 「关注 JB…」) hear the root case's public steps and its return visit;
points follow the rules: the first reporter earns, a merge into a later case is refused, a citizen's duplicate of
their own case earns nothing more."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.reports.models import Report, ReportFollower
from app.reports.services import transition
from app.reports.workflow import InvalidTransition
from tests.bot.conftest import GUANYINQIAO_GCJ
from tests.bot.test_bot_dialogue import case_of
from tests.bot.test_bot_outbound import reported_case, texts_to
from tests.bot.test_return_visits import QUESTION
from tests.console.conftest import as_role, staff  # noqa: F401 (fixtures)
from tests.factories import actor

ADMIN = actor("admin")


def balance(c) -> int:
    return int(re.search(r"您当前有 (\d+) 积分", c.text("积分")).group(1))


def second_report(c) -> Report:
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    return case_of(c.text("这里的井盖没了"))


def test_a_merged_duplicates_reporter_follows_the_root_and_hears_its_handling_and_closing(
    make_citizen, fake_wechat, run_jobs
):
    first, second = make_citizen(), make_citizen()
    root = reported_case(first)
    dup = second_report(second)
    transition(root.id, "register", ADMIN)
    transition(dup.id, "mark_duplicate", ADMIN, duplicate_of=root.id)
    transition(root.id, "dispatch", ADMIN)
    transition(root.id, "handle", ADMIN, note="井盖已补装")
    run_jobs()
    told = texts_to(fake_wechat, second.openid)
    assert any("您关注的案件" in t and root.case_number in t and "井盖已补装" in t for t in told)
    assert not any("已派给" in t for t in told)  # internal-ish steps are the reporter's only
    transition(root.id, "verify", ADMIN)
    transition(root.id, "close", ADMIN, note="已完成")
    run_jobs()
    visits = [t for t in texts_to(fake_wechat, second.openid) if QUESTION in t]
    assert len(visits) == 1 and root.case_number in visits[0] and "您关注的案件" in visits[0]
    assert "谢谢您的评价" in second.text("满意")  # a follower's answer is recorded too
    listing = second.text("我的举报")
    assert "您关注的案件" in listing and root.case_number in listing and dup.case_number in listing
    assert listing.index(dup.case_number) < listing.index("您关注的案件") < listing.index(root.case_number)


def test_follow_and_unfollow_in_the_chat_with_refusals(make_citizen, fake_wechat, run_jobs):
    owner, fan = make_citizen(), make_citizen()
    report = reported_case(owner)
    assert "本人举报" in owner.text(f"关注 {report.case_number}")
    assert "没有找到" in fan.text("关注 JB9912310001")
    assert "没有找到" in fan.text(report.case_number)  # not followed yet: not theirs to read
    assert "已关注" in fan.text(f"关注{report.case_number.lower()}")
    assert "已关注" in fan.text(f"关注 {report.case_number}")  # twice is harmless
    follows = db.session.scalars(select(ReportFollower).where(ReportFollower.report_id == report.id)).all()
    db.session.commit()
    assert len(follows) == 1
    assert report.case_number in fan.text(report.case_number)  # a follower reads the public trail
    transition(report.id, "register", ADMIN)
    transition(report.id, "dispatch", ADMIN)
    transition(report.id, "handle", ADMIN, note="已清理")
    run_jobs()
    assert any("您关注的案件" in t for t in texts_to(fake_wechat, fan.openid))
    assert "已取消关注" in fan.text(f"取消关注 {report.case_number}")
    assert "没有关注" in fan.text(f"取消关注 {report.case_number}")
    transition(report.id, "verify", ADMIN)
    transition(report.id, "close", ADMIN)
    run_jobs()
    assert not any(QUESTION in t for t in texts_to(fake_wechat, fan.openid))


def test_the_first_reporter_earns_and_a_merge_into_a_later_case_is_refused(make_citizen, run_jobs):
    first, later = make_citizen(), make_citizen()
    early = reported_case(first)
    late = second_report(later)
    with pytest.raises(InvalidTransition, match="较早"):
        transition(early.id, "mark_duplicate", ADMIN, duplicate_of=late.id)
    transition(late.id, "mark_duplicate", ADMIN, duplicate_of=early.id)
    for action in ("register", "dispatch"):
        transition(early.id, action, ADMIN)
    transition(early.id, "handle", ADMIN, note="已处置")
    transition(early.id, "verify", ADMIN)
    run_jobs()
    assert (balance(first), balance(later)) == (10, 1)


def test_a_citizens_duplicate_of_their_own_case_earns_nothing_more(make_citizen, run_jobs):
    c = make_citizen()
    root = reported_case(c)
    again = second_report(c)
    transition(again.id, "mark_duplicate", ADMIN, duplicate_of=root.id)
    for action in ("register", "dispatch"):
        transition(root.id, action, ADMIN)
    transition(root.id, "handle", ADMIN, note="已处置")
    transition(root.id, "verify", ADMIN)
    run_jobs()
    assert balance(c) == 10


def test_the_console_proposes_the_earliest_case_as_the_root(app, as_role, make_citizen):  # noqa: F811
    first, later = make_citizen(), make_citizen()
    early = reported_case(first)
    late = second_report(later)
    admin = as_role("admin")
    html = admin.get(f"/console/cases/{late.id}").get_data(as_text=True)
    assert f'value="{early.case_number}"' in html and "建议合并到最早上报的" in html
    html = admin.get(f"/console/cases/{early.id}").get_data(as_text=True)
    assert "建议合并到" not in html  # the earliest case is proposed as nobody's duplicate


def test_following_refuses_oversized_numbers_and_parallel_follows_make_one_row(app, make_citizen):
    import threading

    owner, fan = make_citizen(), make_citizen()
    report = reported_case(owner)
    number, owner_id = report.case_number, report.citizen_id
    assert "没有找到" in fan.text("关注 JB" + "1" * 5000)  # oversized: not found, nothing stored
    barrier = threading.Barrier(3)
    replies = []

    def follow(i):
        barrier.wait()
        replies.append(fan.text(f"关注 {number}", msg_id=970000 + i))

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = db.session.scalars(select(ReportFollower).where(ReportFollower.citizen_id != owner_id)).all()
    db.session.commit()
    assert len(rows) == 1 and all("已关注" in r or "系统开小差" in r for r in replies)
