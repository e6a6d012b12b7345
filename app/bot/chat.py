"""What a text outside the report's steps is: thanks or a greeting, a question about nearby facilities, a sign's
code, or a sentence that reads as a problem (the only one that starts a report)."""

from __future__ import annotations

import re
import time

from flask import current_app

from app.bot import messages as M
from app.bot.ask import CATEGORY_WORDS, nearby, sign_nearby
from app.citizens.services import CitizenView
from app.poi.services import get_active_sign
from app.poi.signs import normalize_code
from app.reports.categories import normalize, suggest_category

THANKS = {"谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "非常感谢", "thanks", "thankyou", "thx", "好的", "好", "ok",
          "okay", "嗯", "嗯嗯", "收到", "知道了", "辛苦了"}
HELLO = {"你好", "您好", "hello", "hi", "hey", "在吗", "在不在", "哈喽", "嗨", "喂"}
# A question about a facility: 附近厕所, 哪里有停车场, 公厕在哪 … (category words → the POI category code)
FACILITY_WORDS = (
    ("toilet", ("厕所", "公厕", "卫生间", "洗手间")),
    ("parking", ("停车场", "停车", "车位")),
    ("police_kiosk", ("警务岗亭", "警务亭", "岗亭", "警务室", "派出所")),
    ("car_wash", ("洗车点", "洗车")),
)
QUESTION = re.compile(r"(附近|最近|周边|哪里|哪儿|哪有|在哪|怎么走|有没有|找)")
SIGN_CODE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9]{4,16}$")


def _facility(body: str) -> str | None:
    """The POI category a short question asks for, or None when the text is not such a question."""
    text = normalize(body)
    if len(text) > 12:  # a longer sentence about a toilet is a report (「公厕很脏没人打扫」), not a question
        return None
    for code, words in FACILITY_WORDS:
        for word in words:
            if word in text:
                rest = text.replace(word, "")
                if QUESTION.search(text) or rest in ("", "吗", "呢"):
                    return code
    return None


def casual_reply(citizen: CitizenView, body: str, in_draft: bool) -> str | None:
    """The answer to thanks, a greeting or a facility question; None for anything else."""
    text = normalize(body)
    if text in THANKS or text in HELLO:
        if in_draft:
            return M.CASUAL_IN_DRAFT_DONE
        return M.CASUAL_THANKS if text in THANKS else M.CASUAL_HELLO
    category = _facility(body)
    if category is None:
        return None
    fresh = citizen.last_location_at is not None and citizen.last_location_lat is not None and (
        time.time() - citizen.last_location_at.timestamp() <= current_app.config["BOT_LOCATION_FRESH_S"]
    )
    if not fresh:
        return M.NEARBY_QUESTION_ASK.format(category=CATEGORY_WORDS[category])
    return nearby(citizen.last_location_lat, citizen.last_location_lng, citizen.last_location_crs or "gcj02",
                  category=category)


def sign_reply(body: str) -> str | None:
    """A sign's code typed as the placard says (DEMO01): what scanning it shows; None when no sign has that code."""
    if not SIGN_CODE.match(body.strip()):
        return None
    sign = get_active_sign(normalize_code(body))
    return sign_nearby(sign) if sign is not None else None


def reads_as_problem(body: str) -> bool:
    """Whether a text outside a draft sounds like a problem in the street (then it starts a report)."""
    return len(body) >= 2 and not body.isdigit() and bool(suggest_category(body))
