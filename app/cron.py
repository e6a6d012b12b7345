"""The periodic work, for rq's cron scheduler: `flask rq cron` (one per deployment; a second one is harmless).

Each entry enqueues a small idempotent job; missing a tick only delays the work, never loses it.
"""

from rq import cron

from app.bot.jssdk import refresh_jsapi_ticket_job
from app.bot.tasks import flush_replies_job, refetch_pending_photos_job, refresh_access_token_job
from app.periodic import (
    sweep_deadlines_job,
    sweep_outbox_job,
    sweep_overdue_job,
    sweep_ticket_callbacks_job,
    warm_assessment_job,
)
from app.poi.tasks import flush_scans_job
from app.points.tasks import expire_redemptions_job
from app.reports.assessment import WARM_INTERVAL_S

cron.register(sweep_outbox_job, "default", interval=30, job_timeout=120, name="outbox-sweep")
cron.register(sweep_overdue_job, "default", interval=300, job_timeout=300, name="overdue-sweep")
cron.register(sweep_deadlines_job, "default", interval=60, job_timeout=300, name="deadline-alerts")
cron.register(sweep_ticket_callbacks_job, "default", interval=30, job_timeout=120, name="ticket-callbacks")
cron.register(warm_assessment_job, "default", interval=WARM_INTERVAL_S, job_timeout=120, name="assessment-warm")
cron.register(expire_redemptions_job, "default", interval=600, job_timeout=300, name="redemption-expiry")
cron.register(flush_scans_job, "default", interval=60, job_timeout=120, name="scan-count-flush")
cron.register(refetch_pending_photos_job, "media", interval=120, job_timeout=120, name="photo-refetch")
cron.register(refresh_access_token_job, "notify", interval=60, job_timeout=60, name="wechat-token-refresh")
cron.register(flush_replies_job, "default", interval=60, job_timeout=120, name="bot-reply-flush")
cron.register(refresh_jsapi_ticket_job, "notify", interval=60, job_timeout=60, name="wechat-jsapi-ticket-refresh")
