"""Staff commands: `flask users create`, `flask api-tokens create|revoke`."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.citizens.auth import create_api_token, revoke_api_token
from app.citizens.models import STAFF_ROLES, ApiToken, StaffUser
from app.citizens.services import (
    MIN_PASSWORD_CHARS,
    UnknownRole,
    UsernameTaken,
    WeakPassword,
    change_password,
    change_role,
    create_staff_user,
)
from app.extensions import db


def _department_id(code: str | None) -> int | None:
    """The id of a department by code (the table belongs to app.reports; read it by name, not by import)."""
    if not code:
        return None
    table = db.metadata.tables["departments"]
    dept_id = db.session.scalar(select(table.c.id).where(table.c.code == code))
    if dept_id is None:
        click.echo(f"unknown department {code!r}", err=True)
        sys.exit(1)
    return dept_id


@click.group("users")
def users_cli():
    """Staff accounts of the console."""


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--department", default=None, help="Department code (required for handlers).")
@click.option("--display-name", default="", help="Name shown in the console and the audit trail.")
@click.option("--generate", is_flag=True, help="Generate a password and print it instead of asking.")
@click.option("--head", is_flag=True, help="The head of --department: escalations and 督办 reach them too.")
@with_appcontext
def users_create(username, role, department, display_name, generate, head):
    """Create a staff user; asks for the password (or generates one with --generate)."""
    if (role == "handler" or head) and not department:
        click.echo("a handler or a department head needs --department CODE", err=True)
        sys.exit(1)
    password = None
    if not generate:
        password = click.prompt("Password (empty to generate one)", hide_input=True, confirmation_prompt=True,
                                default="", show_default=False)
        if password and len(password) < 10:
            click.echo("the password must be at least 10 characters", err=True)
            sys.exit(1)
    try:
        user, password_used = create_staff_user(
            username.strip(), role, password or None, _department_id(department), display_name
        )
    except (UnknownRole, UsernameTaken, ValueError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if head:
        user.department_head = True
        db.session.commit()
    click.echo(f"staff user {user.username} ({user.role}) created")
    if not password:
        click.echo(f"password: {password_used}")


def _user(username: str) -> StaffUser:
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        click.echo(f"no staff user {username!r}", err=True)
        sys.exit(1)
    return user


@users_cli.command("set-password")
@click.argument("username")
@with_appcontext
def users_set_password(username):
    """Set a staff user's password (asked twice); every session of that user ends."""
    user = _user(username)
    password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        change_password(user.id, password)
    except WeakPassword:
        click.echo(f"the password must be at least {MIN_PASSWORD_CHARS} characters", err=True)
        sys.exit(1)
    click.echo(f"password of {username} changed; their sessions have ended")


@users_cli.command("set-role")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--department", default=None, help="Department code (required for handlers).")
@with_appcontext
def users_set_role(username, role, department):
    """Give a staff user another role; their sessions end so the new role applies at once."""
    user = _user(username)
    try:
        changed = change_role(user.id, role, _department_id(department))
    except (UnknownRole, ValueError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{username} is now {role}" + ("; their sessions have ended" if changed else " (unchanged)"))


@click.group("api-tokens")
def api_tokens_cli():
    """Bearer tokens for integrating systems (the staff JSON API)."""


@api_tokens_cli.command("create")
@click.argument("name")
@click.option("--role", default="dispatcher", type=click.Choice(STAFF_ROLES), show_default=True)
@click.option("--department", default=None, help="Limit the token to one department's cases.")
@with_appcontext
def api_tokens_create(name, role, department):
    """Create a token and print it once (only its hash is stored)."""
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        click.echo(f"a token named {name!r} already exists", err=True)
        sys.exit(1)
    if role == "handler" and not department:
        click.echo("a handler token needs --department CODE", err=True)
        sys.exit(1)
    token = create_api_token(name, role, _department_id(department))
    click.echo(f"token {name} ({role}) created; it is shown only now:")
    click.echo(token)


@api_tokens_cli.command("revoke")
@click.argument("name")
@with_appcontext
def api_tokens_revoke(name):
    """Revoke a token by name; requests with it get 401 from now on."""
    if not revoke_api_token(name):
        click.echo(f"no live token named {name!r}", err=True)
        sys.exit(1)
    click.echo(f"token {name} revoked")


commands = [users_cli, api_tokens_cli]
