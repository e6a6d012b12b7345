"""A muted citizen in the chat: every message is still recorded, nothing is filed, the answer is polite and never
names who decided it; after unmuting the same report goes through."""

from __future__ import annotations

from sqlalchemy import func, select

from app.bot.models import InboundMessage
from app.extensions import db
from app.moderation.services import lift_sanctions, sanction_citizen
from app.reports.models import Report
from tests.bot.conftest import GUANYINQIAO_GCJ


def test_a_muted_citizen_is_answered_politely_and_nothing_is_filed_until_unmuted(make_citizen):
    c = make_citizen()
    c.text("帮助")  # the citizen exists
    sanction_citizen(c.openid, "mute", "连续发送无关内容", 7, "moderator测试")
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    reply = c.text("路口井盖没了")
    assert "暂停" in reply and "moderator" not in reply and "连续发送" not in reply
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0
    recorded = db.session.scalar(select(func.count()).select_from(InboundMessage).where(
        InboundMessage.openid == c.openid))
    assert recorded == 4  # 帮助, the photo, the location, the sentence
    db.session.commit()
    lift_sanctions(c.openid, "moderator测试")
    assert "JB" in c.text("路口井盖没了，很危险")  # the draft kept its photo and place: filed now
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1
