"""`flask poi ...`: import POIs, flush scan counts, seed the categories."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.poi.importer import ImportRejected, import_file, poi_count
from app.poi.services import ensure_default_categories, flush_scans

MAX_ERRORS_SHOWN = 50


@click.group("poi")
def poi_cli():
    """Points of interest (toilets, parking, police kiosks, car wash) and QR-sign scans."""


@poi_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84", show_default=True,
              help="Coordinate system of the file's lat/lng.")
@with_appcontext
def import_cmd(file, crs):
    """Import a CSV (external_id,name,category,lat,lng,...) or GeoJSON file: upsert by external_id, all or nothing."""
    try:
        result = import_file(file, crs=crs, progress=True)
    except ImportRejected as exc:
        for line, reason in exc.errors[:MAX_ERRORS_SHOWN]:
            click.echo(f"line {line}: {reason}", err=True)
        if len(exc.errors) > MAX_ERRORS_SHOWN:
            click.echo(f"... and {len(exc.errors) - MAX_ERRORS_SHOWN} more", err=True)
        raise click.ClickException(f"{len(exc.errors)} bad row(s); nothing imported") from None
    click.echo(f"imported {result.total} POIs ({result.inserted} new, {result.updated} updated); "
               f"{poi_count()} active in all")


@poi_cli.command("flush-scans")
@with_appcontext
def flush_scans_cmd():
    """Write the sign scans counted in Redis to the database (run every minute or so from cron/systemd)."""
    click.echo(f"flushed {flush_scans()} scan(s)")


@poi_cli.command("seed-categories")
@with_appcontext
def seed_categories_cmd():
    """Add the starting categories (toilet, parking, police_kiosk, car_wash) where missing."""
    click.echo(f"{ensure_default_categories()} categor(ies) added")


commands = [poi_cli]
