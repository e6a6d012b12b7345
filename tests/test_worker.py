"""`flask rq worker` on a real Redis: scheduled retries keep moving when the worker that scheduled them dies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq.job import JobStatus

from app.extensions import get_queue

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a real Redis (REDIS_URL)")


def test_an_idle_worker_takes_over_the_scheduler_of_a_dead_one_within_its_maintenance_interval(app):
    redis = app.extensions["redis"]
    queue = get_queue("default")
    # A retry waiting in the schedule, and the scheduler lock still held by a worker that was SIGKILLed: rq keeps
    # such a lock until its TTL runs out (61 s in production; 3 s here).
    job = queue.enqueue_in(timedelta(seconds=1), "os.getpid")
    redis.set("rq:scheduler-lock:default", "worker-killed-mid-job", ex=3)

    env = {**os.environ, "APP_ENV": "testing", "SECRET_KEY": "test", "DATABASE_URL": app.config["DATABASE_URL"],
           "REDIS_URL": app.config["REDIS_URL"], "JOBS_MODE": "rq"}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "flask"), "--app", "wsgi:app", "rq", "worker", "default",
         "--maintenance-interval", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and job.get_status(refresh=True) != JobStatus.FINISHED:
            time.sleep(0.2)
        # With rq's default worker TTL the idle worker would sit in BLPOP for 405 s before looking again.
        assert job.get_status(refresh=True) == JobStatus.FINISHED
        assert redis.get("rq:scheduler-lock:default") not in (None, b"worker-killed-mid-job")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_job_left_started_by_a_dead_worker_is_enqueued_again_and_one_with_a_live_worker_is_not(app):
    from rq.job import Job

    from app.jobs import enqueue

    redis = app.extensions["redis"]
    for worker, alive in (("worker-sigkilled", False), ("worker-busy", True)):
        job = enqueue("os.getpid", job_id=f"stuck-{worker}")
        job.set_status(JobStatus.STARTED)
        job.worker_name = worker
        job.save()
        if alive:
            redis.hset(f"rq:worker:{worker}", "state", "busy")  # the key a live worker keeps refreshing
        again = enqueue("os.getpid", job_id=f"stuck-{worker}")
        status = Job.fetch(again.id, connection=redis).get_status()
        assert status == (JobStatus.STARTED if alive else JobStatus.QUEUED), (worker, status)


def test_a_job_popped_by_a_worker_that_died_before_starting_it_is_enqueued_again(app):
    from app.extensions import get_queue
    from app.jobs import enqueue

    redis, queue = app.extensions["redis"], get_queue("default")
    job = enqueue("os.getpid", job_id="popped-then-killed")
    assert enqueue("os.getpid", job_id="popped-then-killed").id == job.id  # still waiting: not enqueued twice
    assert redis.lrem(queue.key, 0, job.id) == 1  # the worker took it off the queue and was killed
    enqueue("os.getpid", job_id="popped-then-killed")
    assert redis.lpos(queue.key, job.id) is not None and redis.llen(queue.key) == 1
