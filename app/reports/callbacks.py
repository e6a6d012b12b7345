"""Status callbacks to ticket sources: one per public step of a ticket's case, signed, in trail order, retried.

`on_ticket_case_changed` (subscriber of ReportStatusChanged) turns the case's loop steps that have no callback yet
into `ticket_callbacks` rows (unique per ticket and trail seq, so a repeated event adds nothing) and enqueues the
ticket's delivery after commit. `deliver_callbacks(ticket_id)` posts them oldest first under a per-ticket Redis lock
and stops at the first failure, so a later step never overtakes an earlier one; the failure waits for its backoff
and the periodic `sweep_callbacks` re-enqueues it; after CALLBACK_BACKOFF_S is used up it is marked failed and the
next step goes out. Body: JSON; headers X-Baixing-Timestamp and X-Baixing-Signature: sha256=HMAC(secret, ts + "." +
body), see docs/tickets.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from redis.exceptions import LockError
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.events import utcnow
from app.extensions import api_timestamp, db, get_redis
from app.jobs import app_job, enqueue
from app.observability import TICKET_CALLBACKS
from app.reports.models import STATUS_LABELS, Report, ReportEvent
from app.reports.ticket_models import Ticket, TicketCallback, TicketSource
from app.reports.workflow import STEPS

log = logging.getLogger(__name__)

CALLBACK_BACKOFF_S = (30, 120, 600, 1800, 7200)  # waits after the 1st..5th failure; the 6th failure is final
NOTE_ACTIONS = ("handle", "cancel", "close", "send_back", "reopen")  # whose note the source (like the citizen) sees
_AFTER_COMMIT_KEY = "ticket_callback_deliveries"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Baixing-Signature value: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the shared secret>."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_callback_url(url: str) -> str:
    """An http(s) URL on a TICKET_CALLBACK_HOSTS host; public addresses only, unless the internal address itself is
    listed (a test or an intranet deployment says so explicitly). Raises ValueError."""
    if not isinstance(url, str) or len(url) > 300:
        raise ValueError("callback_url is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("callback_url must be an http or https URL")
    if parts.username or parts.password:
        raise ValueError("callback_url must not carry credentials")
    host = parts.hostname.lower().rstrip(".")
    allowed = [h.lower() for h in current_app.config.get("TICKET_CALLBACK_HOSTS") or []]
    if not any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in allowed):
        raise ValueError(f"callback_url host {host} is not on the allow-list (TICKET_CALLBACK_HOSTS)")
    if host in allowed and _is_ip(host):
        return url  # a literal address listed on purpose, internal or not
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"cannot resolve {host}") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise ValueError(f"{host} resolves to an internal address")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _payload(ticket: Ticket, report: Report, entry: ReportEvent) -> dict:
    return {
        "source": ticket.source,
        "external_id": ticket.external_id,
        "case_id": report.id,
        "case_number": report.case_number,
        "seq": entry.seq,
        "action": entry.action,
        "status": entry.to_status,
        "status_label": STATUS_LABELS.get(entry.to_status, entry.to_status),
        "note": entry.note if entry.action in NOTE_ACTIONS else None,
        "at": api_timestamp(entry.created_at),
    }


def queue_callbacks(report_id: int) -> int:
    """Add the missing callbacks of a case's ticket (its loop steps, in trail order); the caller commits."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.report_id == report_id))
    if ticket is None:
        return 0
    source = db.session.scalar(select(TicketSource).where(TicketSource.code == ticket.source))
    if source is None or not source.callback_url:
        return 0
    done = set(db.session.scalars(select(TicketCallback.trail_seq).where(TicketCallback.ticket_id == ticket.id)))
    report = db.session.get(Report, report_id)
    added = 0
    for entry in report.trail:
        if entry.action in STEPS and entry.seq not in done:
            db.session.add(
                TicketCallback(ticket_id=ticket.id, trail_seq=entry.seq, payload=_payload(ticket, report, entry))
            )
            added += 1
    if added:
        db.session.info.setdefault(_AFTER_COMMIT_KEY, set()).add(ticket.id)
    return added


def on_ticket_case_changed(evt) -> None:
    """Subscriber of ReportStatusChanged: queue the ticket's new callbacks (nothing for cases without a ticket)."""
    queue_callbacks(evt.report_id)


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    for ticket_id in session.info.pop(_AFTER_COMMIT_KEY, ()):
        try:
            enqueue(deliver_callbacks, ticket_id, job_id=f"ticket-callbacks-{ticket_id}", retries=0)
        except Exception as exc:  # Redis down: sweep_callbacks enqueues it later
            log.warning("tickets: could not enqueue callbacks of ticket %s: %s", ticket_id, exc)


@event.listens_for(Session, "after_rollback")
def _forget_deliveries(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


def _next(ticket_id: int) -> TicketCallback | None:
    return db.session.scalar(
        select(TicketCallback)
        .where(TicketCallback.ticket_id == ticket_id, TicketCallback.status == "pending")
        .order_by(TicketCallback.trail_seq)
        .limit(1)
    )


def _post(url: str, secret: str, callback_id: int, payload: dict) -> tuple[int | None, str | None]:
    """POST one callback; (HTTP status, error or None when it was accepted with a 2xx)."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "baixing-ticket-callback/1",
        "X-Baixing-Timestamp": ts,
        "X-Baixing-Signature": sign(secret, ts, body),
        "X-Baixing-Delivery": str(callback_id),
    }
    try:
        check_callback_url(url)
        response = requests.post(  # nosec B113 - timeout=TICKET_CALLBACK_TIMEOUT_S below
            url,
            data=body,
            headers=headers,
            timeout=current_app.config["TICKET_CALLBACK_TIMEOUT_S"],
            allow_redirects=False,
        )
    except (ValueError, requests.RequestException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


@app_job
def deliver_callbacks(ticket_id: int, due_at: str | None = None) -> str:
    """Deliver a ticket's pending callbacks oldest first; stop at the first failure (it waits for its backoff).

    `due_at` (ISO time, from the sweep's clock) says which retries are due; by default now.
    """
    due = datetime.fromisoformat(due_at) if due_at else None
    lock = get_redis().lock(f"ticket-callbacks-lock:{ticket_id}", timeout=300, blocking_timeout=30)
    if not lock.acquire():
        return "busy"  # another delivery of this ticket is running; sweep_callbacks catches anything it missed
    try:
        delivered = 0
        while True:
            cb = _next(ticket_id)
            if cb is None:
                return f"delivered {delivered}"
            if cb.next_attempt_at is not None and cb.next_attempt_at > (due or utcnow()):
                db.session.rollback()
                return f"delivered {delivered}; waiting"
            ticket = db.session.get(Ticket, ticket_id)
            source = db.session.scalar(select(TicketSource).where(TicketSource.code == ticket.source))
            cb_id, payload = cb.id, cb.payload
            url, secret = source.callback_url, source.callback_secret or ""
            db.session.rollback()  # no transaction open while the source answers
            status_code, error = _post(url, secret, cb_id, payload) if url else (None, "no callback_url")
            cb = db.session.get(TicketCallback, cb_id)
            cb.attempts += 1
            cb.last_status_code, cb.last_error = status_code, error
            TICKET_CALLBACKS.labels("delivered" if error is None else "failed").inc()
            if error is None:
                cb.status, cb.delivered_at, cb.next_attempt_at = "delivered", utcnow(), None
                delivered += 1
            elif cb.attempts > len(CALLBACK_BACKOFF_S):
                cb.status, cb.next_attempt_at = "failed", None  # given up: the next step may go out
            else:
                cb.next_attempt_at = utcnow() + timedelta(seconds=CALLBACK_BACKOFF_S[cb.attempts - 1])
                db.session.commit()
                return f"delivered {delivered}; attempt {cb.attempts} failed: {error}"
            db.session.commit()
    finally:
        with contextlib.suppress(LockError):  # expired while we waited on the source: nothing to release
            lock.release()


def sweep_callbacks(now=None) -> int:
    """Enqueue delivery for every ticket with a pending callback that is due (periodic; retries and lost jobs)."""
    now = now or utcnow()
    ids = db.session.scalars(
        select(TicketCallback.ticket_id)
        .where(
            TicketCallback.status == "pending",
            (TicketCallback.next_attempt_at.is_(None)) | (TicketCallback.next_attempt_at <= now),
        )
        .group_by(TicketCallback.ticket_id)
    ).all()
    db.session.rollback()
    for ticket_id in ids:
        enqueue(deliver_callbacks, ticket_id, now.isoformat(), job_id=f"ticket-callbacks-{ticket_id}", retries=0)
    return len(ids)


def callback_counts(ticket_id: int) -> dict[str, int]:
    """{status: count} of a ticket's callbacks (the console shows delivered/failed)."""
    return dict(
        db.session.execute(
            select(TicketCallback.status, func.count())
            .where(TicketCallback.ticket_id == ticket_id)
            .group_by(TicketCallback.status)
        ).all()
    )


def retry_failed(ticket_id: int) -> int:
    """Put a ticket's failed callbacks back in line (staff, from the console); returns how many."""
    rows = list(
        db.session.scalars(
            select(TicketCallback).where(TicketCallback.ticket_id == ticket_id, TicketCallback.status == "failed")
        )
    )
    for cb in rows:
        cb.status, cb.attempts, cb.next_attempt_at = "pending", 0, None
    if rows:
        db.session.info.setdefault(_AFTER_COMMIT_KEY, set()).add(ticket_id)
    db.session.commit()
    return len(rows)
