"""Baselines for bench/bot_webhook.py: the smallest wechatpy webhook (signature check, parse, text reply), and the
same with the one thing #4 requires before any reply: the message committed durably to PostgreSQL (`durable_app`)."""

from __future__ import annotations

import os
import threading

from flask import Flask, request
from wechatpy import create_reply, parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

app = Flask(__name__)
TOKEN = os.environ.get("WECHAT_TOKEN", "bench-token")


def _signed() -> bool:
    try:
        check_signature(TOKEN, request.args["signature"], request.args["timestamp"], request.args["nonce"])
    except (InvalidSignatureException, KeyError):
        return False
    return True


def _echo(msg):
    return create_reply(getattr(msg, "content", "?"), msg).render(), 200, {"Content-Type": "application/xml"}


@app.post("/wechat")
def wechat():
    """Echo the text back."""
    if not _signed():
        return "bad signature", 403
    return _echo(parse_message(request.get_data()))


@app.get("/healthz")
def healthz():
    """Readiness for the bench runner."""
    return "ok"


durable_app = Flask("durable_echo")
_local = threading.local()


def _connection():
    """One psycopg connection per worker thread (opened on first use), in autocommit: one INSERT is one round trip
    and one durable commit, the cheapest way to record a message."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        import psycopg

        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        conn = _local.conn = psycopg.connect(url, autocommit=True)
    return conn


@durable_app.post("/wechat")
def durable_wechat():
    """Echo the text back after one durable INSERT of the message (the floor of "recorded before acted on")."""
    if not _signed():
        return "bad signature", 403
    body = request.get_data()
    msg = parse_message(body)
    conn = _connection()
    conn.execute("INSERT INTO bench_echo_log (openid, msg_id, body) VALUES (%s, %s, %s)",
                 (msg.source, str(msg.id), body.decode()))
    return _echo(msg)


@durable_app.get("/healthz")
def durable_healthz():
    """Readiness for the bench runner."""
    return "ok"
