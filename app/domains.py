"""The domain packages, in dependency order, and how to reach their optional modules (models, routes, cli, seed).

Its own module so that the factory and the seed commands share it without importing the app package.
"""

from __future__ import annotations

import importlib

DOMAINS = ("citizens", "moderation", "reports", "poi", "points", "bot", "mp", "h5")


def domain_module(name: str, module: str):
    """Import app.<name>.<module> when that domain package has it (models, routes, cli, seed); else None."""
    try:
        return importlib.import_module(f"app.{name}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"app.{name}.{module}":
            raise
        return None
