"""The access log gunicorn writes with deploy/gunicorn.conf.py keeps no query string (a signed webhook URL)."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"


def test_a_webhook_push_is_logged_without_its_signed_query(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config file sets it otherwise; undone after
    settings = runpy.run_path(str(CONF))
    cfg = Config()
    cfg.set("access_log_format", settings["access_log_format"])
    query = "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&openid=oSecret"
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/wechat?{query}", "PATH_INFO": "/wechat", "QUERY_STRING": query,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://x/wechat?{query}"}
    resp = SimpleNamespace(status="200 OK", headers=[], sent=7, response_length=7)
    req = SimpleNamespace(headers=[], method="POST", path="/wechat", query=query, uri=f"/wechat?{query}",
                          version=(1, 1))
    line = cfg.access_log_format % Logger(cfg).atoms(resp, req, environ, timedelta(milliseconds=3))
    assert "/wechat" in line and "200" in line
    assert "signature" not in line and "oSecret" not in line and "1514711492" not in line
