"""An append-only audit of admin changes: who changed what, when, from what to what.

Every change made through the ORM to the tables below (categories, routing rules, departments, staff users and
roles, API tokens, POIs, signs, rewards, points grants, screening words, citizens' sanctions, …) writes an
`AuditEntry` in the same transaction, whichever page, API or command made it: no writer has to remember to. The
entry names the staff member of the request (`g.actor`), else the operating-system user of a CLI command. Secrets
(password and token hashes) are recorded as changed, never by value. The app never updates or deletes an entry (the
ORM refuses; on PostgreSQL a trigger refuses too).

Case changes are not here: a case has its own trail (report_events).
"""

from __future__ import annotations

import getpass
from datetime import date, datetime
from typing import Any

from flask import g, has_app_context, has_request_context
from sqlalchemy import JSON, Integer, String, event, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.events import utcnow
from app.extensions import UTCDateTime, db

SECRET = "(changed)"  # noqa: S105 - a marker written instead of a secret, not a secret


class AuditEntry(db.Model):
    """One admin change. Appended, never rewritten."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff | api | cli | system
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete
    entity: Mapped[str] = mapped_column(String(40), index=True)  # the table
    entity_id: Mapped[str] = mapped_column(String(40), default="")
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditIsAppendOnly(RuntimeError):
    """Something tried to change or delete an audit entry."""


def _grant(obj) -> bool:
    return getattr(obj, "reason", None) == "grant"


# table -> (columns never recorded by value, columns not worth recording, which rows count (None: all))
AUDITED: dict[str, tuple[frozenset[str], frozenset[str], Any]] = {
    "categories": (frozenset(), frozenset(), None),
    "category_keywords": (frozenset(), frozenset(), None),
    "routing_rules": (frozenset(), frozenset(), None),
    "departments": (frozenset(), frozenset(), None),
    "grid_cells": (frozenset(), frozenset({"geometry"}), None),
    "staff_users": (frozenset({"password_hash"}), frozenset({"last_login_at", "failed_logins", "locked_until"}), None),
    "api_tokens": (frozenset({"token_hash"}), frozenset({"last_used_at"}), None),
    "poi_categories": (frozenset(), frozenset(), None),
    "pois": (frozenset(), frozenset(), None),
    "signs": (frozenset(), frozenset({"scan_count", "last_scanned_at"}), None),
    "rewards": (frozenset(), frozenset({"updated_at"}), None),
    "points_entries": (frozenset(), frozenset(), _grant),
    "screen_words": (frozenset(), frozenset({"updated_at"}), None),
    "citizen_sanctions": (frozenset(), frozenset(), None),
}


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a column value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict | list):
        return value
    return str(value)


def _actor() -> tuple[str, int | None, str]:
    if has_request_context() and getattr(g, "actor", None) is not None:
        actor = g.actor
        return actor.kind, actor.id, actor.name or ""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        user = "unknown"
    return "cli", None, user


def _old_values(session: Session, obj, keys: list[str]) -> dict:
    """Columns whose previous value the session never loaded (the object was expired): read them from the row,
    which still holds them before the flush."""
    state = inspect(obj)
    mapper = state.mapper
    cols = [mapper.get_property(k).columns[0] for k in keys]
    query = select(*cols).where(*[c == v for c, v in zip(mapper.primary_key, state.identity, strict=True)])
    row = session.connection().execute(query).first()
    return dict(zip(keys, row, strict=True)) if row is not None else {}


def _changes(session: Session, obj, secret: frozenset[str], skip: frozenset[str]) -> tuple[dict, dict]:
    """(before, after) of an update's changed columns."""
    before, after, unknown = {}, {}, []
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in skip:
            continue
        hist = state.attrs[key].history
        if not hist.has_changes():
            continue
        after[key] = _plain(hist.added[0] if hist.added else None)
        if hist.deleted:
            before[key] = _plain(hist.deleted[0])
        else:
            unknown.append(key)
    for key, value in _old_values(session, obj, unknown).items() if unknown else ():
        before[key] = _plain(value)
    for key in secret & after.keys():
        before[key] = after[key] = SECRET
    return before, {k: v for k, v in after.items() if before.get(k) != v or k in secret}


def _row(obj, secret: frozenset[str], skip: frozenset[str]) -> dict:
    """Every recorded column of a row (secrets as a marker)."""
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        if attr.key in skip:
            continue
        value = getattr(obj, attr.key)
        out[attr.key] = SECRET if attr.key in secret and value is not None else _plain(value)
    return out


def _entity_id(obj) -> str:
    """The row's primary key (after its INSERT it is in the instance's dict; the identity map comes later)."""
    state = inspect(obj)
    if state.identity:
        return ",".join(str(v) for v in state.identity)
    values = [state.dict.get(state.mapper.get_property_by_column(c).key) for c in state.mapper.primary_key]
    return ",".join(str(v) for v in values if v is not None)


def _audited(obj):
    table = getattr(getattr(obj, "__table__", None), "name", None)
    if table not in AUDITED:
        return None
    secret, skip, counts = AUDITED[table]
    if counts is not None and not counts(obj):
        return None
    return table, secret, skip


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context, instances) -> None:
    """Refuse changes to the audit; note the before/after of updates and the rows of deletes while the database
    still has them."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditIsAppendOnly("audit entries are never changed or deleted")
    if not has_app_context():
        return
    pending = session.info.setdefault("audit_pending", [])
    for obj in session.dirty:
        spec = _audited(obj)
        if spec is None or not session.is_modified(obj, include_collections=False):
            continue
        before, after = _changes(session, obj, spec[1], spec[2])
        if after:  # else only unrecorded columns moved (a scan count, a login time)
            pending.append((obj, "update", spec[0], before, after))
    for obj in session.deleted:
        spec = _audited(obj)
        if spec is not None:
            pending.append((obj, "delete", spec[0], _row(obj, spec[1], spec[2]), {}))
    session.info["audit_new"] = [obj for obj in session.new if _audited(obj) is not None]


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context) -> None:
    """Write the entries (new rows have their ids and defaults now); they go out with the next flush, which a
    commit always makes."""
    pending = session.info.pop("audit_pending", [])
    for obj in session.info.pop("audit_new", []):
        table, secret, skip = _audited(obj)
        pending.append((obj, "create", table, {}, _row_after_insert(obj, secret, skip)))
    if not pending:
        return
    kind, actor_id, name = _actor()
    for obj, which, table, before, after in pending:
        session.add(
            AuditEntry(
                actor_kind=kind,
                actor_id=actor_id,
                actor_name=name[:64],
                action=which,
                entity=table,
                entity_id=_entity_id(obj),
                before=before,
                after=after,
            )
        )


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("audit_pending", None)
    session.info.pop("audit_new", None)


def _row_after_insert(obj, secret: frozenset[str], skip: frozenset[str]) -> dict:
    """A new row's columns as inserted, without loading anything (inside the flush)."""
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        if attr.key in skip:
            continue
        value = state.dict.get(attr.key)
        out[attr.key] = SECRET if attr.key in secret and value is not None else _plain(value)
    return out
