"""Use cases of the category model: train and publish it, and make sure a demo installation has one."""

from __future__ import annotations

from flask import current_app

from app.reports.suggest import corrections as corr
from app.reports.suggest import store


def train_and_publish(seed: int, with_corrections: bool = False, publish: bool = True) -> tuple[str, dict]:
    """Train on the corpus (and the staff's corrections), save the file and publish it; returns (version, meta)."""
    from app.reports.suggest.train import train, training_set

    extra = corr.correction_examples(corr.load_corrections()) if with_corrections else []
    model = train(training_set(extra), seed=seed)
    version, _path = store.save(model)
    if publish:
        store.publish(version)
    return version, model.meta


def ensure_model() -> list[str]:
    """Train and publish a model when none is published (`flask seed demo`); CATEGORY_MODEL_TRAIN_AT_SEED=0 skips."""
    if not current_app.config["CATEGORY_MODEL_TRAIN_AT_SEED"] or store.current_model() is not None:
        return []
    from app.reports.suggest.train import DEFAULT_SEED

    version, meta = train_and_publish(DEFAULT_SEED)
    return [f"category model: {version} trained on {meta['examples']} examples and published"]
