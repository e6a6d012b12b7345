"""Screening citizens' text: personal data masked in real formats, the city's word list found however it is typed,
the list changed by the CLI reaching every process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.moderation.masks import id_card_valid, mask_personal
from app.moderation.screening import fold, screen, starter_words
from app.reports.models import CategoryKeyword
from tests.conftest import REDIS_URL, make_config

# Resident ID numbers whose check characters are computed by GB 11643 (the first is the standard's own example).
VALID_IDS = ("11010519491231002X", "440524188001010014", "500103199001011234")


@pytest.mark.parametrize("number", VALID_IDS[:2])
def test_published_id_numbers_are_valid_and_masked(app, number):
    assert id_card_valid(number)
    masked, kinds = mask_personal(f"举报人身份证{number}，请核实")
    assert number not in masked and masked.startswith("举报人身份证" + number[:3] + "*" * 13 + number[-2:])
    assert kinds == ("id_card",)


def test_an_eighteen_digit_number_with_a_wrong_check_or_date_is_left_alone(app):
    for number in ("110105194912310021", "110105194913310028", "12345678901234567890"):
        assert mask_personal(f"订单{number}")[0] == f"订单{number}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678找我", "电话138****5678找我"),
        ("打138-1234-5678或", "打138****5678或"),
        ("+86 139 1234 5678", "139****5678"),
        ("座机023-67891234", "座机023-****1234"),
        ("车牌渝A12345停了三天", "车牌渝A***45停了三天"),
        ("新能源车渝AD12345乱停", "新能源车渝A***45乱停"),
        ("渝a·b2345", "渝A***45"),
    ],
)
def test_phones_and_plates_are_masked(app, text, expected):
    masked, kinds = mask_personal(text)
    assert masked == expected and kinds


@pytest.mark.parametrize(
    "text",
    ["路灯坏了三天（编号JB2612010001）", "2023年12月1日晚上8点", "价格1380元一斤", "井盖直径60厘米", "12345热线"],
)
def test_ordinary_numbers_are_not_masked(app, text):
    assert mask_personal(text) == (text, ())


def test_listed_words_are_found_however_they_are_spaced_or_typed(app):
    for text in ("这个狗官不管事", "狗 官不管", "狗，官", "ＳＢ狗官"):
        assert screen(text).words == (("狗官", "abuse"),), text
    result = screen("再不修我就杀了你，电话13812345678")
    assert result.flagged and ("杀了你", "threat") in result.words
    assert result.masked == "再不修我就杀了你，电话138****5678"
    assert result.reasons == ["威胁：杀了你", "含电话号码（已遮盖）"]


def test_what_citizens_usually_write_is_not_flagged(app):
    """Every keyword sentence the category table knows and the demo cases pass the starter list."""
    from app.seed import DEMO_CASES

    texts = [c[1] for c in DEMO_CASES] + ["井盖没了很危险", "垃圾桶冒了没人清", "路边摊摊占道", "死角有垃圾"]
    texts += [f"这里{k}，请尽快处理" for k in db.session.scalars(select(CategoryKeyword.keyword))]
    assert len(texts) > 400
    flagged = [t for t in texts if screen(t).flagged]
    assert flagged == []


def test_the_starter_list_has_no_single_character_words(app):
    words = starter_words()
    assert len(words) >= 40 and all(len(w) >= 2 for w in words)
    assert all(w == fold(w) for w in words)


def test_a_word_added_by_the_cli_is_found_by_another_process_and_removal_switches_a_starter_word_off(
    app, runner, tmp_path
):
    db.session.commit()  # SQLite: end this test's transaction before another app writes
    other = create_app(make_config(tmp_path))  # the same database, its own process-level caches
    if not REDIS_URL:  # fakeredis is per app: share the store, as a real Redis would be shared
        other.extensions["redis"] = app.extensions["redis"]
    with other.app_context():
        assert not screen("门口的黑心商家又占道").flagged and screen("狗官").flagged  # automaton built before
        db.session.remove()
        db.engine.dispose()
    result = runner.invoke(args=["moderation", "words", "add", "黑心商家", "--reason", "other"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["moderation", "words", "remove", "狗官"])
    assert result.exit_code == 0, result.output
    db.session.commit()
    with other.app_context():
        assert screen("门口的黑心商家").words == (("黑心商家", "other"),)
        assert not screen("狗官").flagged
        db.session.remove()
        db.engine.dispose()  # its own pool: closed here, not left to the garbage collector
    refused = runner.invoke(args=["moderation", "words", "add", "滚"])
    assert refused.exit_code != 0 and "two characters" in refused.output
