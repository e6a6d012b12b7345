"""A trained category model as plain arrays: vocabulary, idf, linear weights and the calibration's two numbers.

The file is a zip of .npy arrays (numpy's .npz layout) written with fixed timestamps, so the same training gives the
same bytes, and read with `allow_pickle=False`: a model file is data, never code (no pickle, nothing for bandit's
B301 to flag). Its version is the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from app.reports.suggest.features import WORD_PREFIX, tokens

FORMAT = 1
MAX_FILE_BYTES = 64 * 1024 * 1024  # a model file larger than this is not ours
_ARRAYS = ("vocabulary", "idf", "coef", "intercept", "classes", "names")


@dataclass(frozen=True, eq=False)
class CategoryModel:
    """One-vs-rest linear scores over tf-idf features (sublinear tf, L2-normalised), each turned into a probability
    by Platt's sigmoid 1 / (1 + exp(-(a * score + b))), then normalised over the classes (as scikit-learn's
    CalibratedClassifierCV(method="sigmoid") does, with one (a, b) shared by all classes)."""

    vocabulary: np.ndarray  # (n_features,) str
    idf: np.ndarray  # (n_features,) float32
    coef: np.ndarray  # (n_features, n_classes) float32: one row per feature, so a text reads only its own rows
    intercept: np.ndarray  # (n_classes,) float32
    classes: np.ndarray  # (n_classes,) str: category codes
    names: np.ndarray  # (n_classes,) str: category names when trained
    platt: tuple[float, float]  # (a, b), fitted on out-of-fold scores
    meta: dict
    version: str = ""  # set when read from a file: the SHA-256 prefix of its bytes
    index: dict[str, int] = field(init=False, repr=False)

    terms: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        terms = self.vocabulary.tolist()
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "index", {t: i for i, t in enumerate(terms)})

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's known features: (feature positions, tf-idf values), as the trainer's vectorizer makes them."""
        counts = Counter(i for i in map(self.index.get, tokens(text)) if i is not None)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        pos = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.idf[pos]
        return pos, values / np.sqrt(values @ values)

    def probabilities(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probability per class, feature positions, values); all-zero probabilities when no feature is known."""
        pos, values = self.vector(text)
        if not len(pos):
            return np.zeros(len(self.classes)), pos, values
        scores = (values @ self.coef[pos] + self.intercept).astype(np.float64)
        a, b = self.platt
        p = 1.0 / (1.0 + np.exp(-(a * scores + b)))
        return p / p.sum(), pos, values

    def evidence(self, pos: np.ndarray, values: np.ndarray, k: int, most: int = 3) -> tuple[str, ...]:
        """The features that pushed class k up the most, words before character n-grams (for staff to read)."""
        weight = values * self.coef[pos, k]
        order = np.argsort(-weight, kind="stable")[: 4 * most]  # enough to find `most` words among n-grams
        best = [self.terms[p] for p, w in zip(pos[order].tolist(), weight[order].tolist(), strict=True) if w > 0]
        words = [t.removeprefix(WORD_PREFIX) for t in best if t.startswith(WORD_PREFIX)]
        shown = list(dict.fromkeys(words + [t for t in best if len(t) > 1 and not t.startswith(WORD_PREFIX)]))
        return tuple(shown[:most])

    def to_bytes(self) -> bytes:
        """The model file: deterministic (same model, same bytes)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays["meta"] = np.array(json.dumps({**self.meta, "format": FORMAT, "platt": list(self.platt)},
                                             ensure_ascii=False, sort_keys=True))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                raw = io.BytesIO()
                np.lib.format.write_array(raw, np.ascontiguousarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, raw.getvalue())
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoryModel:
        """Read a model file; ValueError when it is not one (wrong arrays, shapes or format)."""
        if len(data) > MAX_FILE_BYTES:
            raise ValueError("model file too large")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in (*_ARRAYS, "meta")}
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a category model file: {exc}") from exc
        meta = json.loads(arrays.pop("meta").item())
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown model format {meta.get('format')!r}")
        n_features, n_classes = arrays["coef"].shape
        if arrays["vocabulary"].shape != (n_features,) or arrays["idf"].shape != (n_features,) or any(
            arrays[k].shape != (n_classes,) for k in ("intercept", "classes", "names")
        ):
            raise ValueError("model arrays do not fit together")
        return cls(**arrays, platt=tuple(float(v) for v in meta.pop("platt")), meta=meta, version=cls.version_of(data))

    @staticmethod
    def version_of(data: bytes) -> str:
        """A model file's version: the first 16 hex digits of its SHA-256."""
        return hashlib.sha256(data).hexdigest()[:16]
