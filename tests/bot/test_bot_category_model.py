"""The bot's category step driven by the trained model's confidence (through the webhook, as WeChat pushes)."""

from __future__ import annotations

import re

from app.bot import messages as M
from app.reports.categories import CONFIDENT, keyword_suggestions, suggest_category
from tests.bot.conftest import GUANYINQIAO_GCJ
from tests.bot.test_bot_dialogue import case_of


def test_a_confident_model_files_the_case_without_asking(published_model, make_citizen):
    assert suggest_category("路口有人摆摊卖水果")[0].confidence >= CONFIDENT
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    reply = c.text("路口有人摆摊卖水果")
    assert "请回复数字" not in reply
    assert case_of(reply).category.code == "E0504"


def test_an_unsure_model_asks_with_its_own_candidates_in_its_order(published_model, make_citizen):
    text = "门口有垃圾，还有人乱停车，噪音也大"
    ranked = suggest_category(text)
    assert len(ranked) >= 2 and ranked[0].confidence < CONFIDENT
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    reply = c.text(text)
    options = re.findall(r"\n(\d)\. (\S+)", reply)
    assert options[: len(ranked)] == [(str(i), s.name) for i, s in enumerate(ranked, 1)]
    assert case_of(c.text("2")).category.code == ranked[1].code


def test_what_only_the_model_understands_starts_a_report(published_model, make_citizen):
    text = "墙上被人喷了很多涂鸦"
    assert keyword_suggestions(text) == []  # the keyword table alone answered this with the help text
    c = make_citizen()
    reply = c.text(text)
    assert reply != M.HELP and "收到描述" in reply
    c.photo()
    assert case_of(c.location(*GUANYINQIAO_GCJ)).category.code == "E0201"


def test_a_greeting_gets_a_friendly_answer_not_a_draft(published_model, make_citizen):
    c = make_citizen()
    assert c.text("你好") == M.CASUAL_HELLO
    assert c.text("谢谢") == M.CASUAL_THANKS
