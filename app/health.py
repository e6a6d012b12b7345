"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive (no dependency is checked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database and Redis answer. 503 with the reason otherwise."""
    problems = {}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        db.session.rollback()
    try:
        get_redis().ping()
    except Exception as exc:
        problems["redis"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ok")
