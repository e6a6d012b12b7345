"""Request ids, Prometheus metrics and JSON logs."""

import json
import logging

from app.observability import ContextFilter, configure_logging, job_id_var, request_id_var
from tests.factories import report


def test_every_response_carries_a_request_id_and_keeps_the_callers(client):
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"


def test_metrics_expose_latency_queue_depth_and_outbox_backlog(app, client):
    client.get("/healthz")
    report()
    body = client.get("/metrics").get_data(as_text=True)
    assert 'baixing_http_request_seconds_count{endpoint="health.healthz",method="GET",status="200"}' in body
    assert 'baixing_queue_depth{queue="default"}' in body
    assert "baixing_outbox_backlog 0.0" in body


def test_metrics_require_the_token_when_one_is_configured(app, client):
    app.config["METRICS_TOKEN"] = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_json_log_lines_carry_the_request_id(app, capsys):
    app.config["LOG_FORMAT"] = "json"
    root = logging.getLogger()
    saved = root.handlers, getattr(root, "_baixing_configured", False)
    root._baixing_configured = False
    try:
        configure_logging(app)
        token = request_id_var.set("rid-42")
        logging.getLogger("test").warning("hello")
        request_id_var.reset(token)
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers, root._baixing_configured = saved
    record = json.loads(line)
    assert record["message"] == "hello" and record["request_id"] == "rid-42" and record["levelname"] == "WARNING"


def test_the_context_filter_stamps_each_record_with_the_ids_in_force():
    def stamped() -> logging.LogRecord:
        record = logging.LogRecord("x", 20, "f", 1, "m", None, None)
        assert ContextFilter().filter(record) is True  # a filter that adds, never one that drops
        return record

    bare = stamped()
    assert (bare.request_id, bare.job_id, bare.context) == (None, None, "")
    token = request_id_var.set("rid-7")
    try:
        record = stamped()
        assert (record.request_id, record.job_id, record.context) == ("rid-7", None, " [rid-7]")
        job = job_id_var.set("job-9")
        try:
            record = stamped()
            assert (record.request_id, record.job_id, record.context) == ("rid-7", "job-9", " [rid-7 job-9]")
        finally:
            job_id_var.reset(job)
    finally:
        request_id_var.reset(token)
