"""Model files on disk, the published version in Redis, and the per-process copy (through app/cache.py).

`publish` writes category-model-<version>.npz into CATEGORY_MODEL_DIR, points the directory's `current` file at
it, stores the file name under Redis key `category-model:current` and bumps the "category-model" cache version, as
other caches do: every process (web workers on any host, rq workers) reloads within INDEX_CHECK_INTERVAL_S.
The Redis pointer wins; a host without Redis' file (no shared directory) or without Redis keeps its `current`.
With no model file at all `current_model()` is None and suggestions fall back to the keyword table.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError

from app.cache import cached, invalidate
from app.extensions import get_redis
from app.reports.suggest.features import warm_up
from app.reports.suggest.model import CategoryModel

log = logging.getLogger(__name__)

CACHE_NAME = "category-model"
REDIS_KEY = "category-model:current"
POINTER = "current"
_FILE_NAME = re.compile(r"category-model-[0-9a-f]{16}\.npz")  # anything else named by Redis or `current` is refused


def model_dir() -> Path:
    """Where model files live (CATEGORY_MODEL_DIR)."""
    return Path(current_app.config["CATEGORY_MODEL_DIR"])


def file_name(version: str) -> str:
    """The file name of a model version."""
    return f"category-model-{version}.npz"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    os.chmod(tmp, 0o644)  # read by every worker, whoever runs the trainer
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: CategoryModel) -> tuple[str, Path]:
    """Write the model's file (named by its version) without publishing it; returns (version, path)."""
    data = model.to_bytes()
    version = CategoryModel.version_of(data)
    path = model_dir() / file_name(version)
    _atomic_write(path, data)
    return version, path


def publish(version: str) -> None:
    """Make `version` (already saved in the model directory) the current model of every process."""
    name = file_name(version)
    if not (model_dir() / name).is_file():
        raise FileNotFoundError(name)
    _atomic_write(model_dir() / POINTER, name.encode())
    try:
        get_redis().set(REDIS_KEY, name)
    except RedisError as exc:  # this host has it; others catch up when they restart or Redis is back
        log.warning("category model %s: could not publish in Redis: %s", version, exc)
    invalidate(CACHE_NAME)


def _published_name() -> str | None:
    """The current model's file name: Redis' pointer when this host has that file, else the directory's own."""
    candidates = []
    try:
        value = get_redis().get(REDIS_KEY)
        if value:
            candidates.append(value.decode(errors="replace"))
    except RedisError as exc:
        log.warning("category model: Redis unreachable, using the local pointer: %s", exc)
    pointer = model_dir() / POINTER
    if pointer.is_file():
        candidates.append(pointer.read_text(encoding="utf-8", errors="replace").strip())
    for name in candidates:
        if not _FILE_NAME.fullmatch(name):
            log.error("category model: refusing model file name %r", name[:80])
        elif (model_dir() / name).is_file():
            return name
        else:
            log.warning("category model: %s is published but not in %s", name, model_dir())
    return None


def load_current() -> CategoryModel | None:
    """Read the published model file (None when there is none or it is unreadable: keyword fallback)."""
    name = _published_name()
    if name is None:
        return None
    try:
        model = CategoryModel.from_bytes((model_dir() / name).read_bytes())
    except (OSError, ValueError) as exc:
        log.error("category model: %s unreadable: %s", name, exc)
        return None
    if file_name(model.version) != name:
        log.error("category model: %s does not match its version (%s); not used", name, model.version)
        return None
    warm_up()
    return model


def preload(app) -> None:
    """Load the published model while the app starts (when this host has one), not on a citizen's first message."""
    with app.app_context():
        if (model_dir() / POINTER).is_file():
            current_model()


def current_model() -> CategoryModel | None:
    """This process' copy of the published model, reloaded when a new version is published."""
    return cached(CACHE_NAME, load_current)


def current_version() -> str | None:
    """The version of the model this process uses (None: keyword fallback)."""
    model = current_model()
    return model.version if model is not None else None
