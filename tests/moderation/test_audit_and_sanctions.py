"""The audit of admin changes (who, when, before and after; append-only) and citizens muted, banned, unmuted."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.audit import SECRET, AuditEntry, AuditIsAppendOnly
from app.extensions import db
from app.moderation.models import CitizenSanction
from app.reports.models import Category, Department
from app.reports.services import ReportsPaused, Submission, submit_report
from tests.console.conftest import csrf_from
from tests.factories import GUANYINQIAO, citizen

pytest_plugins = ["tests.console.conftest"]


def audit(entity: str) -> list[AuditEntry]:
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id)).all()
    db.session.commit()
    return rows


def test_a_category_change_in_the_console_is_audited_with_the_staff_member_and_before_after(app, as_role):
    admin = as_role("admin")
    before = db.session.scalar(select(Category).where(Category.code == "E0504"))
    old_limit = before.time_limit_hours
    db.session.commit()
    res = admin.post(
        "/console/admin/categories/E0504",
        data={
            "csrf_token": csrf_from(admin, "/console/admin/categories"),
            "time_limit_hours": "12",
            "department_code": "",
            "keywords": "摆摊",
            "active": "1",
        },
    )
    assert res.status_code in (200, 302), res.get_data(as_text=True)
    [entry] = [e for e in audit("categories") if e.action == "update"]
    assert entry.actor_kind == "staff" and entry.actor_name == "admin测试" and entry.actor_id
    assert entry.before["time_limit_hours"] == old_limit and entry.after["time_limit_hours"] == 12
    page = admin.get("/console/audit?entity=categories").get_data(as_text=True)
    assert 'data-entity="categories"' in page and "time_limit_hours" in page


def test_cli_changes_are_audited_and_secrets_are_never_recorded_by_value(app, runner):
    result = runner.invoke(args=["api-tokens", "create", "platform"])
    assert result.exit_code == 0, result.output
    [entry] = audit("api_tokens")
    assert entry.action == "create" and entry.actor_kind == "cli" and entry.entity_id
    assert entry.after["token_hash"] == SECRET and entry.after["name"] == "platform"
    token = result.output.strip().splitlines()[-1]
    assert token not in str(entry.after)


def test_a_points_grant_is_audited_and_ordinary_earning_is_not(app, runner):
    c = citizen("oAuditCitizen")
    db.session.commit()
    result = runner.invoke(args=["points", "grant", c.openid, "5", "--reason", "线下活动"])
    assert result.exit_code == 0, result.output
    [entry] = audit("points_entries")
    assert entry.after["amount"] == 5 and entry.after["reason"] == "grant"


def test_the_audit_cannot_be_changed_or_deleted_through_the_app(app):
    dept = Department(code="JB-AUD", name="审计测试单位", kind="department")
    db.session.add(dept)
    db.session.commit()
    [entry] = [e for e in audit("departments") if e.entity_id == str(dept.id)]
    entry.after = {"name": "forged"}
    with pytest.raises(AuditIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).after["name"] == "审计测试单位"


def test_an_unrecorded_column_moving_writes_no_entry(app):
    from app.citizens.models import StaffUser
    from app.citizens.services import create_staff_user

    user, _ = create_staff_user("auditee", "dispatcher", "pass-auditee-1", None)
    db.session.commit()
    n = db.session.scalar(select(func.count()).select_from(AuditEntry))
    row = db.session.get(StaffUser, user.id)
    row.failed_logins = 3
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == n
    row.role = "inspector"
    db.session.commit()
    last = audit("staff_users")[-1]
    assert last.before == {"role": "dispatcher"} and last.after == {"role": "inspector"}


def _submission(citizen_id: int, ref: str) -> Submission:
    return Submission(
        channel="wechat",
        lat=GUANYINQIAO[0],
        lng=GUANYINQIAO[1],
        description="路口有人摆摊",
        citizen_id=citizen_id,
        client_ref=ref,
    )


def test_a_muted_citizen_files_nothing_until_unmuted_and_the_cli_says_so(app, runner):
    c = citizen("oMutedCitizen")
    db.session.commit()
    result = runner.invoke(args=["citizens", "mute", c.openid, "--reason", "连续发送无关内容", "--days", "7"])
    assert result.exit_code == 0 and "mute until" in result.output, result.output
    with pytest.raises(ReportsPaused) as refused:
        submit_report(_submission(c.id, "mute-1"))
    assert "暂停" in refused.value.message and "连续发送" not in refused.value.message
    db.session.rollback()
    assert db.session.scalar(text("SELECT count(*) FROM reports WHERE client_ref = 'mute-1'")) == 0
    result = runner.invoke(args=["citizens", "unmute", c.openid])
    assert result.exit_code == 0 and "1 sanction(s) lifted" in result.output
    assert submit_report(_submission(c.id, "mute-2")).case_number
    [row] = db.session.scalars(select(CitizenSanction)).all()
    assert row.lifted_at is not None and row.lifted_by.startswith("cli")
    assert [e.action for e in audit("citizen_sanctions")] == ["create", "update"]


def test_mute_refuses_an_unknown_openid_a_missing_reason_and_silly_days(app, runner):
    c = citizen("oMuteRules")
    db.session.commit()
    for args, why in (
        (["oNobody", "--reason", "x"], "没有这个市民"),
        ([c.openid, "--reason", " "], "原因"),
        ([c.openid, "--reason", "x", "--days", "0"], "天数"),
    ):
        result = runner.invoke(args=["citizens", "mute", *args])
        assert result.exit_code != 0 and why in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(CitizenSanction)) == 0


def test_a_banned_citizen_cannot_redeem_points(app, runner):
    from app.points.errors import PointsFrozen
    from app.points.redemptions import redeem

    c = citizen("oBannedCitizen")
    db.session.commit()
    assert runner.invoke(args=["citizens", "mute", c.openid, "--reason", "恶意举报", "--ban"]).exit_code == 0
    with pytest.raises(PointsFrozen):
        redeem(c.id, 1, "key-ban-1")
