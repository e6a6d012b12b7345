"""Moderation commands: the city's screening word list."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.extensions import db
from app.moderation.models import ScreenWord
from app.moderation.screening import REASON_LABELS, current_words, fold, screen


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


commands = [moderation_cli]
