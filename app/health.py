"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, get_redis

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """The process is alive (no dependency is checked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database and Redis answer. 503 naming what is down otherwise.

    The answer names the dependency and the kind of error only: addresses, ports and user names stay in the log.
    """
    problems = {}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readyz: database unavailable: %s", exc)
        problems["database"] = f"unavailable ({type(exc).__name__})"
    finally:
        db.session.rollback()
    try:
        get_redis().ping()
    except Exception as exc:
        log.warning("readyz: redis unavailable: %s", exc)
        problems["redis"] = f"unavailable ({type(exc).__name__})"
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ok")
