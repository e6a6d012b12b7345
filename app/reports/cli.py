"""Case commands: grid import, overdue sweep."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from app.reports.grids import GridImportError, import_grids
from app.reports.services import sweep_overdue
from app.reports.suggest.cli import categories_cli


@click.group("grids")
def grids_cli():
    """Grid cells."""


@grids_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def grids_import(path):
    """Import or update grid cells from a GeoJSON FeatureCollection (all or nothing)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        created, updated = import_grids(data)
    except json.JSONDecodeError as exc:
        click.echo(f"not valid JSON: {exc}", err=True)
        sys.exit(1)
    except GridImportError as exc:
        click.echo(f"nothing imported; {len(exc.errors)} problem(s):", err=True)
        for n, why in exc.errors:
            click.echo(f"  feature {n}: {why}", err=True)
        sys.exit(1)
    click.echo(f"grid cells: {created} created, {updated} updated")


@click.group("reports")
def reports_cli():
    """Cases."""


@reports_cli.command("sweep-overdue")
@with_appcontext
def reports_sweep_overdue():
    """Mark dispatched cases past their deadline as overdue and emit ReportOverdue (督办)."""
    click.echo(f"{sweep_overdue()} case(s) marked overdue")


commands = [grids_cli, reports_cli, categories_cli]
