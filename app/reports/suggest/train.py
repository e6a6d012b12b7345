"""Training the category model: corpus (+ staff corrections) -> tf-idf over `tokens` -> LinearSVC -> Platt scaling.

Deterministic: the examples are ordered, liblinear and the cross-validation folds are seeded, and the model file is
written with fixed timestamps, so the same data and seed give the same file (and version) on any host. scikit-learn
is imported here only, by `flask categories train`; the web app reads the arrays with numpy alone.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from app.extensions import db
from app.reports.models import Category
from app.reports.suggest.corpus import CORPUS_PATH, NOT_A_CASE, Example, read_examples
from app.reports.suggest.features import CHAR_NGRAMS, tokens
from app.reports.suggest.model import CategoryModel

DEFAULT_SEED = 18
SVM_C = 1.0
CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class TrainingSet:
    """The examples a model is trained on and what was left out."""

    examples: list[Example]
    names: dict[str, str]  # active subclass code -> name (and NOT_A_CASE)
    skipped: Counter  # code of an example that is not an active subclass -> how many


def active_subclasses() -> dict[str, str]:
    """Active level-2 categories, code -> name: the classes the model may suggest."""
    rows = db.session.execute(
        select(Category.code, Category.name).where(Category.active.is_(True), Category.parent_id.isnot(None))
    ).all()
    return dict(sorted(rows))


def training_set(extra: list[Example] = ()) -> TrainingSet:
    """The corpus plus `extra` (staff corrections), limited to the active subclasses; duplicates count once."""
    names = {**active_subclasses(), NOT_A_CASE: "(not a case)"}
    seen: set[tuple[str, str]] = set()
    examples, skipped = [], Counter()
    for ex in [*read_examples(CORPUS_PATH), *extra]:
        if ex.code not in names:
            skipped[ex.code] += 1
        elif (ex.text, ex.code) not in seen:
            seen.add((ex.text, ex.code))
            examples.append(ex)
    return TrainingSet(examples, names, skipped)


def _fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling shared by all classes: (a, b) of sigmoid(a * score + b) minimising the log loss of out-of-fold
    one-vs-rest scores against Platt's smoothed targets (the objective of scikit-learn's sigmoid calibration, fitted
    once for all classes instead of once per class: a few dozen examples per class are too few for 2 x 89 numbers)."""
    from scipy.optimize import minimize

    hit = np.zeros_like(scores, dtype=bool)
    hit[np.arange(len(labels)), labels] = True
    positives = hit.sum(axis=0)
    negatives = len(labels) - positives
    target = np.where(hit, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * scores + params[1]
        grad = 1.0 / (1.0 + np.exp(-z)) - target
        return float((np.logaddexp(0.0, z) - target * z).sum()), np.array([(grad * scores).sum(), grad.sum()])

    best = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return round(float(best.x[0]), 6), round(float(best.x[1]), 6)


def train(data: TrainingSet, seed: int = DEFAULT_SEED) -> CategoryModel:
    """Fit the model on `data` with `seed`; the same data and seed give the same model file."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    texts = [ex.text for ex in data.examples]
    labels = [ex.code for ex in data.examples]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("need examples of at least two categories")
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True, dtype=np.float64)
    x = vectorizer.fit_transform(texts)
    y = np.searchsorted(classes, labels)
    svm = LinearSVC(C=SVM_C, random_state=seed, max_iter=5000)
    folds = min(CALIBRATION_FOLDS, int(np.bincount(y).min()))
    if folds >= 2:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        out_of_fold = cross_val_predict(svm, x, y, cv=cv, method="decision_function")
        if out_of_fold.ndim == 1:  # two classes: one score, for the second
            out_of_fold = np.column_stack([-out_of_fold, out_of_fold])
        platt = _fit_platt(out_of_fold, y)
    else:  # a class with one example: no held-back scores to calibrate on
        platt = (1.0, 0.0)
    svm.fit(x, y)
    coef = svm.coef_ if len(classes) > 2 else np.vstack([-svm.coef_[0], svm.coef_[0]])
    intercept = svm.intercept_ if len(classes) > 2 else np.array([-svm.intercept_[0], svm.intercept_[0]])
    vocabulary = vectorizer.get_feature_names_out()
    digest = hashlib.sha256("\n".join(f"{ex.code}\t{ex.text}" for ex in data.examples).encode()).hexdigest()
    sources = Counter(ex.source for ex in data.examples)
    return CategoryModel(
        vocabulary=np.asarray(vocabulary, dtype=str),
        idf=vectorizer.idf_.astype(np.float32),
        coef=np.ascontiguousarray(coef.T, dtype=np.float32),
        intercept=intercept.astype(np.float32),
        classes=np.asarray(classes, dtype=str),
        names=np.asarray([data.names[c] for c in classes], dtype=str),
        platt=platt,
        meta={
            "seed": seed,
            "examples": len(data.examples),
            "sources": dict(sorted(sources.items())),
            "examples_sha256": digest,
            "char_ngrams": list(CHAR_NGRAMS),
            "svm_c": SVM_C,
            "calibration": f"Platt scaling on {folds}-fold out-of-fold scores" if folds >= 2 else "none",
        },
    )
