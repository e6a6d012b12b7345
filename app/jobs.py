"""One way to enqueue rq jobs and one way to run them: with retries, timeouts and a fresh app context."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Flask, current_app, has_app_context
from rq import Retry, get_current_job
from rq.job import Job, JobStatus

from app.extensions import db, get_queue
from app.observability import JOBS, job_id_var

log = logging.getLogger(__name__)

# Every job is retried: a worker that dies mid-job leaves an abandoned job that rq only runs again when it has
# a Retry (docs/reliability.md). Jobs are idempotent on a business key, so a second run is harmless.
RETRY_INTERVALS = [5, 30, 120, 600, 1800]
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

_fallback_app: Flask | None = None
_app_factory: Callable[[], Flask] | None = None


def register_app_factory(factory: Callable[[], Flask]) -> None:
    """Tell jobs how to build an app when a plain `rq worker` runs them (app/__init__.py registers create_app)."""
    global _app_factory
    _app_factory = factory


def enqueue(
    func: str | Callable,
    *args,
    queue: str = "default",
    job_id: str | None = None,
    retries: int = len(RETRY_INTERVALS),
    timeout: int | None = None,
    **kwargs,
) -> Job:
    """Enqueue `func(*args, **kwargs)`; a job_id that is already queued or running is not enqueued again."""
    q = get_queue(queue)
    if job_id and q.is_async:
        existing = q.fetch_job(job_id)
        if existing is not None and _live(existing, q):
            return existing
    retry = Retry(max=retries, interval=RETRY_INTERVALS[:retries] or [5]) if retries and q.is_async else None
    return q.enqueue(
        func,
        *args,
        job_id=job_id,
        retry=retry,
        job_timeout=timeout or current_app.config.get("JOB_TIMEOUT_S", 120),
        result_ttl=3600,
        failure_ttl=30 * 24 * 3600,
        **kwargs,
    )


def _live(job: Job, queue) -> bool:
    """Waiting in its queue, scheduled or deferred; or started by a worker that is still alive.

    Two states can outlive a SIGKILLed worker, and the system test met both: "queued" for a job the worker had
    already popped from the queue but not yet marked started, and "started" for one it was running, which rq's own
    clean-up took minutes (once more than four) to notice. A queued job must still be in its queue, and a started
    job's worker key must exist (it expires within the job timeout plus a minute); otherwise a sweep (photo refetch,
    outbox recovery) enqueues it again. Jobs are idempotent, so a late second run by rq's clean-up is harmless.
    """
    status = job.get_status(refresh=False)
    if status not in LIVE_STATUSES:
        return False
    if status == JobStatus.QUEUED:
        return queue.connection.lpos(queue.key, job.id) is not None
    if status == JobStatus.STARTED and job.worker_name:
        return bool(queue.connection.exists(f"rq:worker:{job.worker_name}"))
    return True


def _app() -> Flask:
    """The current app, or one built from the environment when a plain `rq worker` runs the job."""
    global _fallback_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _fallback_app is None:
        if _app_factory is None:
            raise RuntimeError("no app factory registered (import the app package before running jobs)")
        _fallback_app = _app_factory()
    return _fallback_app


def app_job(fn: Callable) -> Callable:
    """Run a job function in its own app context, hence its own database session, removed afterwards."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        job = get_current_job()
        token = job_id_var.set(job.id if job is not None else None)
        try:
            with _app().app_context():
                try:
                    result = fn(*args, **kwargs)
                except Exception:
                    db.session.rollback()
                    JOBS.labels(fn.__name__, "failed").inc()
                    raise
                JOBS.labels(fn.__name__, "done").inc()
                return result
        finally:
            job_id_var.reset(token)

    return wrapper
