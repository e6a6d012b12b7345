"""The closed loop as data: which action moves a case from which state to which, and who may take it.

信息采集 → 案卷建立 (register | cancel) → 任务派遣 (dispatch) → 任务处理/处理反馈 (handle) → 核查 (verify | send back)
→ 结案 (close); reopen within a set number of days; a verified case found false later can be invalidated.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.citizens.services import Actor


class ReportError(Exception):
    """Base of the case domain's errors; `code` is stable for APIs, `message` is for people."""

    code = "report_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTransition(ReportError):
    """The action is not possible from the case's current state."""

    code = "invalid_transition"


class NotAllowed(ReportError):
    """The actor's role (or department) may not take this action on this case."""

    code = "not_allowed"


class ConcurrentUpdate(ReportError):
    """Someone else changed the case since it was read (optimistic version check)."""

    code = "conflict"


@dataclass(frozen=True)
class Step:
    """One action of the loop."""

    action: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    label: str
    needs_note: bool = False
    own_department: bool = False  # handlers may act only on their own department's cases


STAFF = frozenset({"admin", "dispatcher"})
STEPS: dict[str, Step] = {
    s.action: s
    for s in (
        Step("register", ("reported",), "registered", STAFF, "立案"),
        Step("cancel", ("reported", "registered"), "cancelled", STAFF, "注销", needs_note=True),
        Step("mark_duplicate", ("reported", "registered", "dispatched"), "cancelled", STAFF, "合并为重复案件"),
        # From "unresolved" (the citizen said it is not solved): dispatched again (重办) or registered anew.
        Step("dispatch", ("registered", "dispatched", "unresolved"), "dispatched", STAFF, "派遣"),
        Step(
            "handle",
            ("dispatched",),
            "handled",
            frozenset({"admin", "handler"}),
            "处置反馈",
            needs_note=True,
            own_department=True,
        ),
        Step("verify", ("handled",), "verified", frozenset({"admin", "inspector"}), "核查通过"),
        Step(
            "send_back",
            ("handled",),
            "dispatched",
            frozenset({"admin", "inspector"}),
            "核查不通过，退回重办",
            needs_note=True,
        ),
        Step("close", ("verified",), "closed", frozenset({"admin", "inspector", "dispatcher"}), "结案"),
        Step("reopen", ("closed", "unresolved"), "registered", STAFF, "重新打开", needs_note=True),
        # Taken only by the return visit (app/reports/feedback.py) when a citizen answers 不满意（问题没有解决）.
        Step("unresolved", ("closed",), "unresolved", frozenset(), "群众反映未解决"),
        Step(
            "invalidate",
            ("verified", "closed"),
            "cancelled",
            frozenset({"admin", "inspector"}),
            "认定为虚假举报",
            needs_note=True,
        ),
    )
}
class InvalidVisibility(ReportError):
    """A visibility other than public or internal."""

    code = "invalid_visibility"


VISIBILITIES = ("public", "internal")
# A note's visibility when its writer does not choose: the handling reply (处置反馈) and the closing note are written
# for the citizen; comments, dispatch notes and every other note are for colleagues. Entries the system writes
# (submit, overdue, …) have no choice: they take this default too.
DEFAULT_NOTE_VISIBILITY = {"handle": "public", "close": "public"}


def note_visibility(action: str, chosen: str | None = None) -> str:
    """The visibility of a new trail entry's note: the writer's choice when valid, else the action's default."""
    if chosen is None or chosen == "":
        return DEFAULT_NOTE_VISIBILITY.get(action, "internal")
    if chosen not in VISIBILITIES:
        raise InvalidVisibility("visibility 应为 public（市民可见）或 internal（仅内部）")
    return chosen


CANCEL_REASONS = {
    "invalid": "无效举报",
    "duplicate": "重复举报",
    "not_ours": "不属于本平台受理范围",
    "false": "虚假举报",
}


def check_step(action: str, status: str, actor: Actor, case_department_id: int | None) -> Step:
    """Return the step when `actor` may take `action` on a case in `status`; raise the precise error otherwise."""
    step = STEPS.get(action)
    if step is None:
        raise InvalidTransition(f"未知操作 {action!r}")
    if actor.kind != "system" and actor.role not in step.roles:
        raise NotAllowed(f"角色 {actor.role or actor.kind} 不能执行「{step.label}」")
    if step.own_department and actor.role == "handler" and actor.department_id != case_department_id:
        raise NotAllowed("只能处置本部门的案件")
    if status not in step.sources:
        raise InvalidTransition(f"案件当前状态为 {status}，不能执行「{step.label}」")
    return step


def available_actions(status: str, actor: Actor, case_department_id: int | None) -> list[Step]:
    """The steps this actor may take now (what a console shows as buttons)."""
    allowed = []
    for step in STEPS.values():
        try:
            check_step(step.action, status, actor, case_department_id)
        except ReportError:
            continue
        allowed.append(step)
    return allowed
