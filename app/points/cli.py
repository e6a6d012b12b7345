"""flask points … and flask rewards … commands for operators and scripts."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.citizens.models import Citizen
from app.extensions import db
from app.points.queries import reconcile
from app.points.rewards import create_reward
from app.points.services import PointsError, expire_redemptions, grant_points


@click.group("points")
def points_cli():
    """The points ledger."""


@points_cli.command("reconcile")
@with_appcontext
def reconcile_cmd():
    """Prove every balance equals the sum of its entries and every stock its redemptions; exit 1 when not."""
    result = reconcile()
    for bad in result.bad_accounts:
        click.echo(
            f"BAD account {bad['account_id']} (citizen {bad['citizen_id']}): "
            f"balance {bad['balance']} != entries {bad['entries_sum']}"
        )
    for bad in result.bad_rewards:
        click.echo(f"BAD reward {bad['reward_id']} ({bad['name']}): stock {bad['stock']} != expected {bad['expected']}")
    click.echo(
        f"checked {result.accounts_checked} account(s) and {result.rewards_checked} reward(s): "
        + ("OK" if result.ok else f"{len(result.bad_accounts) + len(result.bad_rewards)} problem(s)")
    )
    if not result.ok:
        sys.exit(1)


# ignore_unknown_options lets a negative AMOUNT (-5) through as an argument instead of an unknown option.
@points_cli.command("grant", context_settings={"ignore_unknown_options": True})
@click.argument("openid")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@click.option("--key", default=None, help="Idempotency key: running the same grant again has no further effect.")
@with_appcontext
def grant_cmd(openid, amount, reason, key):
    """Give (or with a negative AMOUNT take) points to the citizen with OPENID."""
    citizen = db.session.scalar(select(Citizen).where(Citizen.openid == openid))
    if citizen is None:
        raise click.ClickException(f"no citizen with openid {openid!r}")
    try:
        entry = grant_points(citizen.id, amount, reason, actor="cli", idempotency_key=key)
    except PointsError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(f"{openid}: {entry.amount:+d} points, balance {entry.balance_after}")


@points_cli.command("expire-redemptions")
@with_appcontext
def expire_cmd():
    """Expire pickup codes past their deadline; points and stock come back (run periodically)."""
    click.echo(f"expired {expire_redemptions()} redemption(s)")


@click.group("rewards")
def rewards_cli():
    """The rewards catalogue."""


@rewards_cli.command("create")
@click.argument("name")
@click.option("--cost", type=int, required=True, help="Points per unit.")
@click.option("--stock", type=int, required=True, help="Units on the shelf.")
@click.option("--per-citizen", type=int, default=None, help="At most this many per citizen.")
@click.option("--description", default="")
@click.option("--picture-url", default=None)
@with_appcontext
def create_cmd(name, cost, stock, per_citizen, description, picture_url):
    """Add a reward to the catalogue."""
    try:
        reward = create_reward(name, cost, stock, per_citizen, description=description, picture_url=picture_url)
    except PointsError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(f"reward {reward.id}: {reward.name}, {reward.cost} points, stock {reward.stock}")


commands = [points_cli, rewards_cli]
