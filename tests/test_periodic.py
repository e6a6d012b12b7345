"""The periodic jobs are registered with rq's cron scheduler and do their work when run."""

from datetime import timedelta

from rq.cron import CronScheduler

from app.events import OutboxEvent, utcnow
from app.extensions import db
from app.periodic import sweep_outbox_job, sweep_overdue_job
from app.reports.services import transition
from tests.factories import actor, report


def test_cron_config_registers_every_periodic_job(app):
    scheduler = CronScheduler(connection=app.extensions["redis"])
    scheduler.load_config_from_file("app.cron")
    names = {job.name for job in scheduler.get_jobs()}
    assert {"outbox-sweep", "overdue-sweep", "redemption-expiry", "scan-count-flush", "photo-refetch",
            "wechat-token-refresh", "bot-reply-flush", "assessment-warm"} <= names


def test_periodic_jobs_sweep_the_outbox_and_overdue_cases(app):
    r = report()
    r = transition(r.id, "register", actor("dispatcher"))
    r = transition(r.id, "dispatch", actor("dispatcher"))
    r.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.execute(OutboxEvent.__table__.update().values(relayed_at=None))
    db.session.commit()
    app.config["OUTBOX_SWEEP_GRACE_S"] = 0
    assert sweep_outbox_job() == 3  # submitted, registered, dispatched
    assert sweep_overdue_job() == 1
