"""Category seed data and suggest_category on the way citizens really write."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.reports.categories import CONFIDENT, seed_categories, suggest_category
from app.reports.models import Category, CategoryKeyword


def test_seed_ships_event_and_component_classes_with_subclasses(app):
    classes = db.session.scalars(select(Category).where(Category.parent_id.is_(None))).all()
    assert {c.code for c in classes} >= {"E01", "E02", "E03", "E04", "E05", "C01", "C02", "C03", "C04", "C05", "C06"}
    assert db.session.scalar(select(func.count()).select_from(Category).where(Category.parent_id.isnot(None))) >= 80
    stall = db.session.scalar(select(Category).where(Category.code == "E0504"))
    assert stall.name.startswith("店外经营") and stall.kind == "event" and stall.time_limit_hours == 24


def test_seeding_again_adds_nothing_and_keeps_staff_edits(app):
    stall = db.session.scalar(select(Category).where(Category.code == "E0504"))
    stall.time_limit_hours = 6
    db.session.commit()
    assert seed_categories() == 0
    db.session.refresh(stall)
    assert stall.time_limit_hours == 6


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("路口有人摆摊卖水果", "E0504"),
        ("墙上贴满小广告", "E0201"),
        ("井盖没了很危险", "C0110"),
        ("车停在人行道上", "E0505"),
        ("垃圾堆了好几天没人收", "E0102"),
        ("小区门口的路灯不亮了，晚上很黑", "C0112"),
        ("工地半夜施工，吵得睡不着", "E0301"),
        ("下雨后这里积水很深", "E0406"),
        ("共享单车乱停把盲道堵了", "E0506"),
        ("有人在楼下烧垃圾，浓烟很大", "E0115"),
        ("红绿灯坏了", "C0202"),
        ("一棵大树倒了压在路上", "C0401"),
        ("电线杆上的线掉下来了", "E0408"),
        ("楼下有人露天烧烤，油烟很大", "E0510"),
        ("雨水篦子被偷了", "C0103"),
        ("ＡＢＣ路口 摆 摊！！", "E0504"),  # full-width letters, spaces and punctuation
    ],
)
def test_suggest_category_ranks_the_right_category_first(app, text, code):
    top = suggest_category(text)[0]
    assert top.code == code, suggest_category(text)


def test_confidence_is_high_for_a_clear_text_and_low_for_a_mixed_one(app):
    clear = suggest_category("路口有人摆摊卖水果")[0]
    assert clear.confidence >= CONFIDENT
    mixed = suggest_category("门口有垃圾，还有人乱停车，噪音也大")
    assert len(mixed) == 3 and mixed[0].confidence < CONFIDENT


def test_longest_phrase_wins_over_its_parts(app):
    top = suggest_category("路灯井盖松动")[0]
    assert top.code == "C0105" and top.matched == ("路灯井盖",)


def test_nothing_recognisable_gives_no_suggestion(app):
    assert suggest_category("你好") == []
    assert suggest_category("") == []
    assert suggest_category("？？？") == []


def test_a_keyword_added_by_staff_is_used_at_once(app):
    cat = db.session.scalar(select(Category).where(Category.code == "E0509"))
    db.session.add(CategoryKeyword(category_id=cat.id, keyword="滴滴黑车拉活", weight=2))
    db.session.commit()
    from app.cache import invalidate

    invalidate("category-keywords")
    assert suggest_category("这里有滴滴黑车拉活")[0].code == "E0509"


def test_reading_only_keywords_whose_first_character_occurs_changes_no_suggestion(app):
    """The keyword table is indexed by first character: for any description its candidates hold every keyword that
    occurs in it, in the table's longest-first order, so the suggestion is the one a scan of every keyword gives."""
    import random

    from app.reports import categories

    table = categories._load_keywords()
    keywords = [row[0] for row in table.rows]
    rng = random.Random(20261201)
    texts = ["小区门口的路灯不亮了", "井盖没了", "路口有人摆摊卖水果，占了人行道", "ｘ", "路灯井盖都坏了"]
    for _ in range(300):  # descriptions stitched from keywords, their pieces and filler, overlaps included
        pieces = range(rng.randint(1, 6))
        parts = [rng.choice(keywords)[: rng.randint(1, 6)] if rng.random() < 0.7 else rng.choice("的了在有人很")
                 for _ in pieces]
        texts.append("".join(parts))
    occurring = 0
    for text in texts:
        body = categories.normalize(text)
        every = [row for row in table.rows if row[0] in body]  # what a scan of the whole table would match
        assert [row for row in table.candidates(body) if row[0] in body] == every, text
        occurring += bool(every)
    assert occurring > 200  # the texts do match
