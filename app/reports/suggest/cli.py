"""`flask categories train | evaluate | corrections`: the category model's commands."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

from app.reports.suggest import corrections as corr
from app.reports.suggest import store
from app.reports.suggest.service import train_and_publish
from app.reports.suggest.train import DEFAULT_SEED


@click.group("categories")
def categories_cli():
    """The trained category model."""


@categories_cli.command("train")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Random seed (same data and seed: same file).")
@click.option("--with-corrections", is_flag=True, help="Add staff recategorisations as training examples.")
@click.option("--no-publish", is_flag=True, help="Write the model file but do not make it current.")
@with_appcontext
def train_cmd(seed, with_corrections, no_publish):
    """Train the category model on the corpus and publish it to every process."""
    started = time.monotonic()
    try:
        version, meta = train_and_publish(seed, with_corrections, publish=not no_publish)
    except ValueError as exc:
        click.echo(f"not trained: {exc}", err=True)
        sys.exit(1)
    sources = ", ".join(f"{n} {k}" for k, n in meta["sources"].items())
    click.echo(f"trained model {version} on {meta['examples']} examples ({sources}) in "
               f"{time.monotonic() - started:.1f} s; seed {seed}")
    click.echo(f"file: {store.model_dir() / store.file_name(version)}" + ("" if no_publish else " (published)"))


@categories_cli.command("evaluate")
@click.option("--pairs", default=15, show_default=True, help="How many confusion pairs to list per suggester.")
@with_appcontext
def evaluate_cmd(pairs):
    """Top-1/top-3 on the held-out set, per class, and confusions: the model beside the keyword table."""
    from app.reports.categories import CONFIDENT, keyword_suggestions, model_suggestions
    from app.reports.suggest.corpus import NOT_A_CASE
    from app.reports.suggest.evaluate import evaluate, heldout_examples, report_lines
    from app.reports.suggest.train import active_subclasses

    names = active_subclasses()
    examples = [ex for ex in heldout_examples() if ex.code in names or ex.code == NOT_A_CASE]
    results = []
    model = store.current_model()
    if model is None:
        click.echo("no trained model published (run `flask categories train`); keyword table only", err=True)
    else:
        click.echo(f"model {model.version}: {model.meta['examples']} training examples, seed {model.meta['seed']}")
        results.append(evaluate("model", lambda t: model_suggestions(model, t), examples, CONFIDENT))
    results.append(evaluate("keywords", keyword_suggestions, examples, CONFIDENT))
    click.echo("\n".join(report_lines(results, names, pairs)))


@categories_cli.command("corrections")
@click.option("--top", default=20, show_default=True, help="How many subclasses and pairs to list.")
@with_appcontext
def corrections_cmd(top):
    """Which subclasses staff correct most (recategorize entries of the case trails)."""
    from app.reports.suggest.train import active_subclasses

    found = corr.load_corrections()
    if not found:
        click.echo("no corrections yet")
        return
    names = active_subclasses()
    away, to, pairs = corr.correction_counts(found)

    def label(code):
        return f"{code} {names.get(code, '')}".strip() if code else "(no category)"

    click.echo(f"{len(found)} correction(s) on {len({c.report_id for c in found})} case(s)")
    click.echo("corrected away from (the suggestion or the citizen got these wrong):")
    for code, n in away.most_common(top):
        click.echo(f"  {n:>4}  {label(code)}")
    click.echo("corrected to:")
    for code, n in to.most_common(top):
        click.echo(f"  {n:>4}  {label(code)}")
    click.echo("pairs (from -> to):")
    for (old, new), n in pairs.most_common(top):
        click.echo(f"  {n:>4}  {label(old)} -> {label(new)}")
    click.echo("to learn from them: flask categories train --with-corrections")


commands = [categories_cli]
