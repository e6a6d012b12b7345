"""Platform commands: events sweep, rq worker, demo seed, info."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.events import outbox_backlog, recover_stalled, sweep_outbox


@click.group("events")
def events_cli():
    """The transactional outbox."""


@events_cli.command("sweep")
@click.option("--grace", default=None, type=int, help="Only events older than this many seconds (default: config).")
@with_appcontext
def events_sweep(grace):
    """Relay outbox events that were not relayed after their commit (e.g. Redis was down)."""
    grace = current_app.config["OUTBOX_SWEEP_GRACE_S"] if grace is None else grace
    n = sweep_outbox(grace_s=grace)
    completed, requeued = recover_stalled(stall_s=current_app.config["OUTBOX_STALL_S"])
    click.echo(f"relayed {n} event(s); {outbox_backlog()} still waiting; "
               f"{completed} completed, {requeued} stalled subscriber job(s) enqueued again")


@click.group("rq")
def rq_cli():
    """rq workers with the app's configuration."""


@rq_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--name", default=None)
@click.option("--maintenance-interval", default=None, type=int,
              help="Seconds between registry clean-ups, which find jobs of workers that died (rq default 600).")
@with_appcontext
def rq_worker(queues, burst, name, maintenance_interval):
    """Run an rq worker (SimpleWorker: jobs run in this process, inside the app context).

    SimpleWorker rather than the forking Worker: it does not fork per job (about 3x the throughput here, see
    docs/reliability.md) and keeps database pools valid. Its jobs survive its death through Retry and idempotency.
    """
    from rq import SimpleWorker

    from app.extensions import QUEUE_NAMES, get_queue

    names = queues or QUEUE_NAMES
    interval = maintenance_interval or current_app.config["RQ_MAINTENANCE_INTERVAL_S"]
    # An idle worker blocks in BLPOP for worker_ttl - 15 s and only runs its maintenance (registry clean-up, and
    # taking over the scheduler of a worker that died, which moves due retries to their queues) between waits.
    # rq's default (420 s) would leave retries unscheduled for up to 7 minutes after the scheduling worker dies;
    # tying the wait to the maintenance interval bounds it (docs/deployment.md).
    worker = SimpleWorker([get_queue(n) for n in names], connection=current_app.extensions["redis"], name=name,
                          maintenance_interval=interval, worker_ttl=interval + 15)
    worker.work(burst=burst, with_scheduler=True)


@rq_cli.command("cron")
@with_appcontext
def rq_cron():
    """Run rq's cron scheduler with the periodic jobs of app/cron.py (sweeps, expiry, flushes)."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=current_app.extensions["redis"])
    scheduler.load_config_from_file("app.cron")
    scheduler.start()


@click.group("seed")
def seed_cli():
    """Reference and demo data."""


@seed_cli.command("demo")
@with_appcontext
def seed_demo_cmd():
    """Load reference data (departments, categories, grid) and demo data; safe to run again."""
    from app.seed import seed_demo

    for line in seed_demo():
        click.echo(line)


@click.command("info")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default="5000")
@with_appcontext
def info(host, port):
    """Print where things are and how to log in (the first thing a newcomer needs)."""
    base = f"http://{host}:{port}"
    click.echo("\n百姓城管 is starting on the embedded defaults:")
    click.echo(f"  database   {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    redis_url = current_app.config["REDIS_URL"] or "in-process substitute (fakeredis); jobs run inline"
    click.echo(f"  redis      {redis_url}")
    click.echo(f"  media      {current_app.config['MEDIA_ROOT']}")
    for path, what in (
        ("/healthz", "liveness"),
        ("/readyz", "readiness"),
        ("/console/", "staff console"),
        ("/wechat", "WeChat webhook (try: flask wechat simulate)"),
        ("/s/DEMO01", "a QR sign page"),
        ("/points/", "citizen points pages"),
        ("/open311/v2/discovery.json", "Open311"),
    ):
        click.echo(f"  {base}{path:<28} {what}")
    from app.seed import DEMO_STAFF

    click.echo("Demo staff logins (development only):")
    for username, role, _dept, password in DEMO_STAFF:
        click.echo(f"  {username:<12} {password:<14} {role}")
    click.echo("")


commands = [events_cli, rq_cli, seed_cli, info]
