"""Observability: request and job ids in every log line (JSON in production) and Prometheus metrics at /metrics.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py does) so that each
worker's counters are aggregated; queue depth and outbox backlog are read at scrape time.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from pythonjsonlogger.json import JsonFormatter

from app.config import DEV_ENVS

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

HTTP_SECONDS = Histogram("baixing_http_request_seconds", "HTTP request latency", ["endpoint", "method", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
JOBS = Counter("baixing_jobs_total", "Jobs run by outcome", ["job", "outcome"])
# 督办 and ticket callbacks (app/reports/supervision.py, app/reports/callbacks.py); the trail stays the record.
SUPERVISION_STEPS = Counter("baixing_supervision_steps_total", "督办 trail entries written", ["kind"])
TICKET_CALLBACKS = Counter("baixing_ticket_callbacks_total", "Ticket callback attempts by outcome", ["outcome"])

bp = Blueprint("observability", __name__)

# Label values for HTTP methods: any other method is "other", so no request can add a time series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Gauges read at scrape time from other modules (name -> (help, reader)). They register here (app.events registers
# the outbox backlog) so that this module imports none of them: observability sits below events and jobs.
SCRAPE_GAUGES: dict[str, tuple[str, Callable[[], float]]] = {}


def register_gauge(name: str, help_text: str, reader: Callable[[], float]) -> None:
    """Add a gauge whose value `reader()` returns at each scrape (it runs in an app context; errors give -1)."""
    SCRAPE_GAUGES[name] = (help_text, reader)


class ContextFilter(logging.Filter):
    """Adds request_id and job_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        ids = [i for i in (record.request_id, record.job_id) if i]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return True


def configure_logging(app: Flask) -> None:
    """JSON lines (LOG_FORMAT=json, the production default) or readable text, with request and job ids."""
    root = logging.getLogger()
    if getattr(root, "_baixing_configured", False):
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if app.config.get("LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s"))
    root.handlers = [handler]
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    root._baixing_configured = True  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Request ids in and out (X-Request-ID), latency histogram, and the /metrics endpoint."""

    @app.before_request
    def _start():
        rid = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        g.request_id = rid
        g.request_token = request_id_var.set(rid)
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        if "request_started" in g:
            method = request.method if request.method in KNOWN_METHODS else "other"
            HTTP_SECONDS.labels(request.endpoint or "unknown", method, str(response.status_code)).observe(
                time.perf_counter() - g.request_started)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _reset(exc):
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)

    app.register_blueprint(bp)


class BacklogCollector:
    """Gauges read at scrape time: rq queue depths, failed jobs, and the registered ones (outbox backlog)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        """Yield the gauge families (errors become -1 so a scrape never fails)."""
        from rq.registry import FailedJobRegistry

        from app.extensions import db

        depth = GaugeMetricFamily("baixing_queue_depth", "Jobs waiting per rq queue", labels=["queue"])
        failed = GaugeMetricFamily("baixing_jobs_failed", "Jobs in rq's failed registry", labels=["queue"])
        gauges = []
        with self.app.app_context():
            for name, queue in self.app.extensions["rq_queues"].items():
                try:
                    depth.add_metric([name], queue.count)
                    failed.add_metric([name], FailedJobRegistry(queue=queue).count)
                except Exception:
                    depth.add_metric([name], -1)
            try:
                for name, (help_text, reader) in SCRAPE_GAUGES.items():
                    gauge = GaugeMetricFamily(name, help_text)
                    try:
                        gauge.add_metric([], reader())
                    except Exception:
                        gauge.add_metric([], -1)
                    gauges.append(gauge)
            finally:
                db.session.remove()
        yield depth
        yield failed
        yield from gauges


@bp.get("/metrics")
def metrics():
    """Prometheus exposition; with METRICS_TOKEN set, a matching bearer token is required.

    Production without METRICS_TOKEN refuses (403): the metrics name endpoints, queues and backlogs, which is no
    one's business outside the operators, and a proxy rule that should have hidden them is easy to lose.
    """
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # Bytes, so a non-ASCII header is a wrong token (401), not a TypeError (500).
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
            abort(401)
    elif current_app.config["APP_ENV"] not in DEV_ENVS:
        abort(403, description="set METRICS_TOKEN to serve /metrics in production")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(BacklogCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    body += generate_latest(extra)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
