"""Every sentence the bot says to citizens, in one place (friendly simplified Chinese)."""

from __future__ import annotations

WELCOME = (
    "欢迎关注百姓城管！发现路灯不亮、井盖缺失、占道经营等问题，可以直接在这里举报：\n"
    "1. 拍一张照片发给我\n2. 发送位置（点「+」→「位置」）\n3. 用一句话或语音说明问题\n"
    "顺序不限，我会告诉您案件编号。回复「帮助」查看更多用法。"
)

HELP = (
    "您可以这样使用：\n"
    "· 举报问题：发送照片、位置和一句话描述（顺序不限）\n"
    "· 回复「我的举报」或「查询」：查看最近的案件\n"
    "· 回复案件编号（如 JB2611230001）：查看处理进度\n"
    "· 回复「关注 案件编号」：关注别人举报的案件，「取消关注 案件编号」停止\n"
    "· 回复标牌上的编号（如 DEMO01）：查看标牌附近的便民设施\n"
    "· 回复「积分」：查看积分\n"
    "· 在没有举报时发送位置：查看附近的公厕、停车场和警务亭\n"
    "· 回复「取消」：放弃正在填写的举报"
)

SORRY = "抱歉，系统开小差了，请稍后再试。"
TOO_FAST = "您发消息太快啦，这条消息我们已收到，但没有处理。请 1 分钟后再发，谢谢！"
CANCELLED = "好的，已取消这次举报。需要时随时再发照片给我。"
NOTHING_TO_CANCEL = "您现在没有正在填写的举报。"
DRAFT_EXPIRED = "您之前填写的举报超过 {minutes} 分钟没有完成，已自动作废。请重新发送照片、位置和描述。"
UNSUBSCRIBED = ""  # WeChat does not show replies to unsubscribe events

PHOTO_RECEIVED = "收到照片（共 {count} 张）。"
PHOTO_LIMIT = "一次举报最多 {limit} 张照片，这张没有加入。"
LOCATION_RECEIVED = "收到位置：{label}。"
DESCRIPTION_RECEIVED = "收到描述：「{text}」。"
OUTSIDE_AREA = "抱歉，这个位置不在本平台的服务范围（江北区）内，我们无法受理。请发送服务范围内的位置。"
INVALID_LOCATION = "这个位置好像不对，请重新发送一次位置。"
STILL_NEED = "还需要：{items}。"
NEED_PHOTO = "照片"
NEED_LOCATION = "位置（点「+」→「位置」）"
NEED_DESCRIPTION = "一句话描述问题（文字或语音）"
PHOTO_OPTIONAL = "再发一张现场照片会更好；没有照片请回复「提交」。"
CHOOSE_CATEGORY = "这个问题属于哪一类？请回复数字：\n{options}\n0. 其他（交给工作人员判断）"
CATEGORY_CHOSEN = "问题类别：{name}。"
BAD_CHOICE = "请回复列表中的数字（0 到 {n}）。"
LOCATION_FROM_EVENT = "已使用您刚才上报的位置。"

SUBMITTED = (
    "举报成功！案件编号：{case_number}\n类别：{category}\n"
    "我们会尽快立案并派给责任单位处理，进展会在这里通知您。回复「查询」可随时查看进度。"
)
SUBMIT_FAILED = "抱歉，举报没有提交成功：{reason}"
UNCATEGORIZED = "待工作人员确认"

NO_REPORTS = "您还没有举报过问题。发送照片、位置和描述就可以举报。"
MY_REPORTS_HEADER = "您最近的举报："
MY_REPORTS_LINE = "{case_number}　{status}　{summary}"
MY_REPORTS_UNDELIVERED = "（未能及时通知您的进展：{text}）"
MY_REPORTS_FOOTER = "回复案件编号查看详细进度。"
MY_FOLLOWED_HEADER = "您关注的案件："
NO_FOLLOWED = "您还没有关注别人举报的案件。"
FOLLOWED = "已关注案件 {case_number}（{status}），有进展会通知您。回复「取消关注 {case_number}」可停止。"
FOLLOW_NOT_FOUND = "没有找到案件 {case_number}，请核对编号。"
FOLLOW_OWN = "案件 {case_number} 是您本人举报的，进展会自动通知您，不需要关注。"
FOLLOW_CANCELLED = "案件 {case_number} 已注销，无法关注。"
FOLLOW_TOO_MANY = "您关注的案件已达上限（{limit} 件），请先取消关注一些案件。"
UNFOLLOWED = "已取消关注案件 {case_number}。"
NOT_FOLLOWING = "您没有关注案件 {case_number}。"
CASE_NOT_FOUND = "没有找到案件 {case_number}，请核对编号（只能查询您本人举报或关注的案件）。"
CASE_TRAIL_HEADER = "案件 {case_number}（{status}）：{summary}"
CASE_TRAIL_LINE = "{time}　{label}{note}"

POINTS_BALANCE = "您当前有 {balance} 积分。查看明细和兑换礼品：{url}"
POINTS_LINK = "积分明细和兑换礼品请点击：{url}"

NEARBY_HEADER = "您附近的便民设施："
NEARBY_LINE = "{name}（{category}）约 {distance}"
NEARBY_NONE = "附近没有找到公厕、停车场或警务亭。"
NEARBY_LINK = "查看附近的公厕、停车场和警务亭：{url}"
NEARBY_HINT = "如果是要举报问题，请再发送照片和一句话描述，我会用这个位置。"
NEARBY_NONE_OF = "附近没有找到{category}。"
SIGN_HEADER = "标牌 {code}（{label}）附近的便民设施："
SIGN_LINK = "查看完整列表和导航：{url}"
FACILITY_NAMES = {"toilet": "公厕", "parking": "停车场", "police_kiosk": "警务岗亭", "car_wash": "洗车点"}
NEARBY_QUESTION_ASK = "请发送您的位置（点「+」→「位置」），我来找附近的{category}。"

# Casual messages are answered, never taken as a report (nor added to one).
CASUAL_THANKS = "不客气！发现问题随时告诉我。"
CASUAL_HELLO = "您好！我是百姓城管助手。发现问题可以直接发照片、位置和一句话描述；回复「帮助」查看更多用法。"
CASUAL_IN_DRAFT = "收到。您正在填写的举报还需要：{items}。不想报了请回复「取消」。"
CASUAL_IN_DRAFT_DONE = "收到。请继续按提示完成举报，不想报了请回复「取消」。"

STATUS_NOTICE = "您举报的案件 {case_number} {label}。{note}"
FOLLOWER_NOTICE = "您关注的案件 {case_number} {label}。{note}"
STATUS_NOTICE_LABELS = {
    "registered": "已立案，正在安排处理",
    "dispatched": "已派给 {department} 处理",
    "handled": "已处理完毕，等待核查",
    "verified": "已核查属实，感谢您的举报",
    "closed": "已结案，感谢您的参与",
    "cancelled": "已注销",
    "reported": "已重新打开",
    "unresolved": "经群众反映问题未解决，已退回重新处理",
}

# The return visit (回访) after 结案: one message with the news and the question; the answer by number or words.
VISIT_INTRO = "您举报的案件 {case_number} 已结案。"
VISIT_INTRO_FOLLOWER = "您关注的案件 {case_number} 已结案。"
RETURN_VISIT = (
    "{intro}{note}\n问题解决了吗？您对处理结果满意吗？请回复数字：\n"
    "1 满意\n2 基本满意\n3 不满意（问题没有解决）"
)
VISIT_THANKS = "谢谢您的评价（{rating}）！案件 {case_number} 的回访已记录。"
VISIT_UNRESOLVED = (
    "已记录：不满意（问题没有解决）。案件 {case_number} 已转为「群众反映未解决」，我们会重新核查处理，进展会通知您。\n"
    "您可以再发一句话或几张照片说明现场情况。"
)
VISIT_DISSATISFIED = "已记录您的评价：不满意。案件 {case_number} 已在重新核查处理中，进展会通知您。"
VISIT_ALREADY = "您已经评价过案件 {case_number}，谢谢！如问题仍未解决，可以重新举报。"
VISIT_LATE = "抱歉，案件 {case_number} 的回访已超过 {days} 天，无法再记录评价。如问题仍未解决，可以重新举报。"
VISIT_DETAILS_KEPT = "收到，已补充到案件 {case_number}，工作人员会看到。"
VISIT_PHOTO_KEPT = "收到照片，已补充到案件 {case_number}。"
RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
POINTS_NOTICE = "感谢您的举报！案件获得 {amount} 积分，当前共 {balance} 积分。"

MEDIA_EXPIRED = "照片已过期，无法下载"
MEDIA_FAILED = "照片下载失败"

def menu(base_url: str) -> dict:
    """The account's custom menu: chat keys, plus the H5 report form and "my cases" pages at `base_url`
    (PUBLIC_BASE_URL; WeChat opens a view button's URL in its browser, where OAuth knows the citizen)."""
    base = base_url.rstrip("/")
    return {
        "button": [
            {
                "name": "举报问题",
                "sub_button": [
                    {"type": "view", "name": "在线举报", "url": f"{base}/report"},
                    {"type": "click", "name": "怎么举报", "key": "HOW_TO_REPORT"},
                    {"type": "click", "name": "取消举报", "key": "CANCEL"},
                ],
            },
            {
                "name": "我的",
                "sub_button": [
                    {"type": "click", "name": "我的举报", "key": "MY_REPORTS"},
                    {"type": "view", "name": "案件进度", "url": f"{base}/me/cases"},
                    {"type": "click", "name": "我的积分", "key": "MY_POINTS"},
                ],
            },
            {
                "name": "便民服务",
                "sub_button": [
                    {"type": "click", "name": "附近设施", "key": "NEARBY"},
                    {"type": "click", "name": "使用帮助", "key": "HELP"},
                ],
            },
        ]
    }


NEARBY_ASK = "请发送您的位置（点「+」→「位置」），我来找附近的公厕、停车场和警务亭。"


def distance_text(meters: float) -> str:
    """120 米 / 1.3 公里."""
    return f"{meters:.0f} 米" if meters < 1000 else f"{meters / 1000:.1f} 公里"
