"""Baseline for bench/bot_webhook.py: the smallest wechatpy webhook (signature check, parse, text reply)."""

from __future__ import annotations

import os

from flask import Flask, request
from wechatpy import create_reply, parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

app = Flask(__name__)
TOKEN = os.environ.get("WECHAT_TOKEN", "bench-token")


@app.post("/wechat")
def wechat():
    """Echo the text back."""
    try:
        check_signature(TOKEN, request.args["signature"], request.args["timestamp"], request.args["nonce"])
    except (InvalidSignatureException, KeyError):
        return "bad signature", 403
    msg = parse_message(request.get_data())
    return create_reply(getattr(msg, "content", "?"), msg).render(), 200, {"Content-Type": "application/xml"}


@app.get("/healthz")
def healthz():
    """Readiness for the bench runner."""
    return "ok"
