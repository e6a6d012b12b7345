"""Enqueue jobs when the current transaction commits (a job must not run before the rows it reads exist).

The listeners are registered when app.bot.models is imported (at app creation), never during a commit: SQLAlchemy
refuses new listeners while it is dispatching the same event.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.jobs import enqueue

log = logging.getLogger(__name__)

_KEY = "bot_after_commit"


def enqueue_after_commit(func, *args, **kwargs) -> None:
    """Call app.jobs.enqueue(func, *args, **kwargs) once the current transaction has committed."""
    db.session.info.setdefault(_KEY, []).append((func, args, kwargs))


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    for func, args, kwargs in session.info.pop(_KEY, []):
        try:
            enqueue(func, *args, **kwargs)
        except Exception as exc:  # Redis down: the row stays pending; the outbox sweep re-runs the subscriber
            log.warning("bot: could not enqueue %s%s: %s", getattr(func, "__name__", func), args, exc)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_KEY, None)
