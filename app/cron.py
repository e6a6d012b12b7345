"""The periodic work, for rq's cron scheduler: `flask rq cron` (one per deployment; a second one is harmless).

Each entry enqueues a small idempotent job; missing a tick only delays the work, never loses it.
"""

from rq import cron

from app.periodic import sweep_outbox_job, sweep_overdue_job

cron.register(sweep_outbox_job, "default", interval=30, job_timeout=120, name="outbox-sweep")
cron.register(sweep_overdue_job, "default", interval=300, job_timeout=300, name="overdue-sweep")
