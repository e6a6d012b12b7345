"""The report dialogue end to end: photos, location and words in any order; choices, cancel, expiry, refusals."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from app.bot import dialogue
from app.citizens.models import Citizen as CitizenRow
from app.events import utcnow
from app.extensions import db
from app.reports.models import Report
from tests.bot.conftest import GUANYINQIAO_GCJ
from tests.factories import jpeg_bytes

CASE_RE = re.compile(r"案件编号：(JB\d{10})")


def case_of(reply: str) -> Report:
    m = CASE_RE.search(reply)
    assert m, reply
    report = db.session.scalar(select(Report).where(Report.case_number == m.group(1)))
    db.session.commit()
    return report


def photos_of(report_id: int) -> list[tuple[str, str | None, str | None]]:
    report = db.session.get(Report, report_id)
    db.session.refresh(report)
    out = [(p.status, p.source_ref, p.missing_reason) for p in report.photos]
    db.session.commit()
    return out


def test_photo_then_location_then_words_makes_a_case_and_the_photo_is_fetched(make_citizen, run_jobs):
    c = make_citizen()
    assert "收到照片（共 1 张）" in c.photo(jpeg_bytes())
    reply = c.location(*GUANYINQIAO_GCJ)
    assert "收到位置" in reply and "一句话描述" in reply
    reply = c.text("小区门口的井盖没了，很危险")
    report = case_of(reply)
    assert report.channel == "wechat" and report.raw_crs == "gcj02" and report.category.name == "无主井盖"
    assert report.address == "重庆市江北区观音桥"
    assert abs(report.lat - 29.5752) < 1e-4  # stored in WGS-84
    run_jobs()
    [(status, ref, reason)] = photos_of(report.id)
    assert status == "stored" and ref.startswith("wechat:MEDIA_") and reason is None
    assert dialogue.load(c.openid) is None


def test_words_first_then_photo_then_location_also_works(make_citizen, run_jobs):
    c = make_citizen()
    reply = c.text("路灯不亮了")
    assert "收到描述" in reply and "照片" in reply and "位置" in reply
    c.photo()
    c.photo()
    report = case_of(c.location(*GUANYINQIAO_GCJ))
    run_jobs()
    assert [p[0] for p in photos_of(report.id)] == ["stored", "stored"]


def test_a_voice_message_counts_by_its_recognition_text(make_citizen):
    c = make_citizen()
    c.location(*GUANYINQIAO_GCJ)  # outside a draft: nearby answer, and remembered for the report
    c.photo()
    report = case_of(c.voice("路边有人摆摊卖水果。"))
    assert "摆摊" in report.description and report.category is not None


def test_the_latest_location_event_is_used_when_recent(make_citizen):
    c = make_citizen()
    assert c.event("LOCATION", Latitude=GUANYINQIAO_GCJ[0], Longitude=GUANYINQIAO_GCJ[1], Precision=65.0) == ""
    assert "已使用您刚才上报的位置" in c.photo()
    assert case_of(c.text("井盖缺失")).raw_crs == "gcj02"


def test_an_old_location_event_is_not_used(make_citizen):
    c = make_citizen()
    c.event("LOCATION", Latitude=GUANYINQIAO_GCJ[0], Longitude=GUANYINQIAO_GCJ[1], Precision=65.0)
    row = db.session.scalar(select(CitizenRow).where(CitizenRow.openid == c.openid))
    row.last_location_at = utcnow().replace(year=2020)
    db.session.commit()
    c.photo()
    reply = c.text("井盖缺失")
    assert "位置" in reply and "案件编号" not in reply


def test_an_unsure_category_is_asked_as_a_numbered_list(make_citizen):
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    reply = c.text("井盖和垃圾")
    assert "请回复数字" in reply and "\n1. " in reply and "0. 其他" in reply
    first_option = re.search(r"\n1\. (\S+)", reply).group(1)
    assert "请回复列表中的数字" in c.text("9")
    report = case_of(c.text("1"))
    assert report.category.name == first_option


def test_zero_leaves_the_category_to_staff(make_citizen):
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    c.text("井盖和垃圾")
    report = case_of(c.text("0"))
    assert report.category is None


def test_without_a_photo_the_citizen_may_submit_anyway(make_citizen):
    c = make_citizen()
    c.text("井盖缺失")
    reply = c.location(*GUANYINQIAO_GCJ)
    assert "回复「提交」" in reply
    report = case_of(c.text("提交"))
    assert report.photos == []


def test_cancel_drops_the_draft(make_citizen):
    c = make_citizen()
    assert "没有正在填写" in c.text("取消")
    c.photo()
    assert "已取消" in c.text("取消")
    assert dialogue.load(c.openid) is None
    assert "还需要：照片、位置" in c.text("井盖缺失")  # a fresh draft: nothing of the old one is kept


def test_an_expired_draft_is_mentioned_when_the_citizen_comes_back(app, make_citizen):
    app.config["DRAFT_TTL"] = 1
    c = make_citizen()
    c.photo()
    time.sleep(1.3)
    reply = c.text("帮助")
    assert "已自动作废" in reply
    assert "已自动作废" not in c.text("帮助")  # said once


def test_a_location_outside_the_service_area_is_refused_plainly(make_citizen):
    c = make_citizen()
    c.photo()
    reply = c.location(39.9087, 116.3975, "北京市东城区")
    assert "不在本平台的服务范围" in reply
    assert dialogue.load(c.openid)["location"] is None


def test_at_most_nine_photos_join_a_draft(make_citizen):
    c = make_citizen()
    for _ in range(9):
        c.photo(media_id=c.fake.add_media(b"x"))
    assert "最多 9 张" in c.photo(media_id="MEDIA_TENTH")
    assert len(dialogue.load(c.openid)["photos"]) == 9


def test_submitting_the_same_draft_twice_returns_the_same_case(app, make_citizen):
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    draft = dialogue.load(c.openid)
    draft.update(description="井盖缺失", category_decided=True)
    citizen = db.session.scalar(select(CitizenRow).where(CitizenRow.openid == c.openid))
    first = dialogue.submit(dict(draft), citizen, [])
    second = dialogue.submit(dict(draft), citizen, [])
    assert first == second
    assert db.session.scalar(select(db.func.count()).select_from(Report)) == 1


def test_my_reports_lists_cases_and_a_case_number_shows_its_trail(make_citizen):
    c = make_citizen()
    assert "还没有举报" in c.text("我的举报")
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    report = case_of(c.text("井盖缺失"))
    listing = c.text("查询")
    assert report.case_number in listing and "已上报" in listing
    trail = c.text(report.case_number.lower())
    assert "提交举报" in trail and report.case_number in trail
    other = make_citizen()
    assert "没有找到" in other.text(report.case_number)


def test_points_without_the_points_package_gives_the_link(app, make_citizen):
    c = make_citizen()
    assert app.config["PUBLIC_BASE_URL"] + "/points/" in c.text("积分")


def test_a_location_outside_a_draft_answers_with_nearby_services(app, make_citizen):
    c = make_citizen()
    reply = c.location(*GUANYINQIAO_GCJ)
    assert "/api/poi/nearby?" in reply or "附近" in reply
    assert "照片" in reply  # and how to turn it into a report


def test_subscribe_unsubscribe_and_menu_clicks(make_citizen):
    c = make_citizen()
    assert "欢迎关注" in c.event("subscribe")
    assert "还没有举报" in c.event("CLICK", EventKey="MY_REPORTS")
    assert "发送您的位置" in c.event("CLICK", EventKey="NEARBY")
    assert "您可以这样使用" in c.event("CLICK", EventKey="SOMETHING_ELSE")
    assert c.event("unsubscribe") == ""
    row = db.session.scalar(select(CitizenRow).where(CitizenRow.openid == c.openid))
    assert row.subscribed is False and row.unsubscribed_at is not None


def test_unknown_input_gets_help_never_silence(make_citizen):
    c = make_citizen()
    assert "帮助" in c.text("你好")  # a greeting is greeted, and told where the help is
    assert "您可以这样使用" in c.send("video", {"MediaId": "V", "ThumbMediaId": "T"})
    assert "您可以这样使用" in c.text("12345")


POIS_CSV = (
    "external_id,name,category,lat,lng,address,opening_hours,phone,accessible,fee,spaces\n"
    "T1,观音桥公厕,toilet,29.5760,106.5318,建新北路1号,24小时,,是,免费,\n"
    "P1,北城天街停车场,parking,29.5660,106.5390,北城天街8号,07:00-23:00,,否,5元/小时,300\n"
)


def make_pois() -> None:
    """Two real POIs near 观音桥 through the poi package's own import."""
    from app.poi.importer import import_pois
    from app.poi.services import ensure_default_categories

    ensure_default_categories()
    db.session.commit()
    import_pois(POIS_CSV)


def test_nearby_lists_the_nearest_pois_in_chinese_with_the_html_page(app, client, make_citizen):
    make_pois()
    reply = make_citizen().location(*GUANYINQIAO_GCJ)
    assert re.search(r"观音桥公厕（公厕）约 \d+ 米", reply), reply
    assert re.search(r"北城天街停车场（停车场）约 1\.\d 公里", reply), reply
    assert "toilet" not in reply and "parking" not in reply  # categories are named, never coded
    url = re.search(r"(http\S+/nearby\?\S+)", reply).group(1)
    assert "/api/" not in url
    page = client.get(url.removeprefix(app.config["PUBLIC_BASE_URL"]))
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "观音桥公厕" in html and "北城天街停车场" in html


def test_a_burst_of_photos_pushed_in_parallel_all_join_the_draft(make_citizen):
    """Without the per-citizen lock this loses photos on PostgreSQL + Redis (checked); SQLite serialises anyway."""
    import threading

    c = make_citizen()
    media = [c.fake.add_media(b"x") for _ in range(5)]
    db.session.commit()
    barrier = threading.Barrier(5)

    def send(media_id):
        barrier.wait()
        c.photo(media_id=media_id)

    threads = [threading.Thread(target=send, args=(m,)) for m in media]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(dialogue.load(c.openid)["photos"]) == sorted(media)


def test_only_pushes_that_may_change_a_draft_take_the_citizens_lock(app):
    from app.bot.handlers import changes_draft
    from app.bot.protocol import Message

    def text(content):
        return Message({"MsgType": "text", "Content": content})

    def event(name, key=""):
        return Message({"MsgType": "event", "Event": name, "EventKey": key})

    locked = [
        text("井盖没了"),
        text("取消"),
        text("1"),
        text("提交"),
        Message({"MsgType": "image"}),
        Message({"MsgType": "location"}),
        Message({"MsgType": "voice"}),
        event("unsubscribe"),
        event("CLICK", "CANCEL"),
    ]
    unlocked = [
        text("帮助"),
        text("查询"),
        text("积分"),
        text("JB2611240001"),
        event("subscribe"),
        event("CLICK", "MY_REPORTS"),
        event("LOCATION"),
    ]
    assert all(changes_draft(m) for m in locked)
    assert not any(changes_draft(m) for m in unlocked)
