"""Moderation commands: the city's screening word list."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.extensions import db
from app.moderation.models import ScreenWord
from app.moderation.screening import REASON_LABELS, current_words, fold, screen
from app.moderation.services import ModerationError, lift_sanctions, sanction_citizen


@click.group("moderation")
def moderation_cli():
    """Screening of what citizens write."""


@moderation_cli.group("words")
def words_cli():
    """The screening word list (the shipped starter list plus the city's changes)."""


def _set(word: str, reason: str, active: bool) -> None:
    key = fold(word)
    if len(key) < 2:
        raise click.UsageError("a word needs at least two characters (after spaces and punctuation are dropped)")
    row = db.session.scalar(select(ScreenWord).where(ScreenWord.word == key))
    if row is None:
        row = ScreenWord(word=key)
        db.session.add(row)
    row.reason, row.active = reason, active
    db.session.commit()


@words_cli.command("add")
@click.argument("word")
@click.option("--reason", type=click.Choice(sorted(REASON_LABELS)), default="abuse", show_default=True)
@with_appcontext
def words_add(word: str, reason: str):
    """Add WORD to the list (every process picks it up within seconds)."""
    _set(word, reason, True)
    click.echo(f"added: {fold(word)} ({reason}); {len(current_words())} words in the list")


@words_cli.command("remove")
@click.argument("word")
@with_appcontext
def words_remove(word: str):
    """Take WORD off the list (a starter word stays off)."""
    _set(word, "other", False)
    click.echo(f"removed: {fold(word)}; {len(current_words())} words in the list")


@words_cli.command("list")
@with_appcontext
def words_list():
    """Print the list in force."""
    for word, reason in sorted(current_words().items()):
        click.echo(f"{word}\t{reason}")


@moderation_cli.command("screen")
@click.argument("text")
@with_appcontext
def screen_text(text: str):
    """Screen TEXT and print what a public surface would show and why it would be held."""
    result = screen(text)
    click.echo(result.masked)
    click.echo("held for a moderator: " + ("; ".join(result.reasons) if result.flagged else "no"))
    if result.personal and not result.flagged:
        click.echo("masked: " + "; ".join(result.reasons))


@click.group("citizens")
def citizens_cli():
    """Citizens: pause their reports (mute), ban them for a period, lift it."""


def _by() -> str:
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@citizens_cli.command("mute")
@click.argument("openid")
@click.option("--reason", required=True, help="Why (kept for staff; never shown to the citizen as a name).")
@click.option("--days", type=int, default=None, help="For how many days (default: until unmuted).")
@click.option("--ban", is_flag=True, help="Ban instead of mute: reports paused and points frozen.")
@with_appcontext
def citizens_mute(openid: str, reason: str, days: int | None, ban: bool):
    """Pause OPENID's reports (their messages are still recorded; nothing is filed)."""
    try:
        row = sanction_citizen(openid, "ban" if ban else "mute", reason, days, _by())
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc
    until = f"until {row.until:%Y-%m-%d %H:%M} UTC" if row.until else "until unmuted"
    click.echo(f"{openid}: {row.kind} {until} ({row.reason})")


@citizens_cli.command("unmute")
@click.argument("openid")
@with_appcontext
def citizens_unmute(openid: str):
    """Lift OPENID's mute or ban."""
    try:
        n = lift_sanctions(openid, _by())
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{openid}: {n} sanction(s) lifted" if n else f"{openid}: nothing in force")


commands = [moderation_cli, citizens_cli]
