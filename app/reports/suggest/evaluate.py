"""Held-out evaluation: top-1 / top-3 per class and overall, confusion pairs, the model beside the keyword table.

The held-out phrasings (app/reports/data/category_heldout.txt) were written separately from the training corpus and
are read here only: nothing in training opens that file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.reports.suggest.corpus import DATA_DIR, NOT_A_CASE, Example, read_examples

HELDOUT_PATH = DATA_DIR / "category_heldout.txt"


@dataclass
class Result:
    """How one suggester did on the held-out phrasings."""

    name: str
    n: int = 0
    top1: int = 0
    top3: int = 0
    nothing: int = 0  # case phrasings that got no suggestion at all
    chatter: int = 0  # phrasings that are not a case (greetings, questions) ...
    chatter_silent: int = 0  # ... and got no suggestion, as they should
    confident: int = 0  # top suggestion at or above CONFIDENT (taken without asking)
    confident_right: int = 0
    per_class: dict[str, list[int]] = field(default_factory=dict)  # code -> [n, top1, top3]
    confusions: Counter = field(default_factory=Counter)  # (true code, suggested code or None) -> count
    calibration: list[tuple[float, bool]] = field(default_factory=list)  # (top confidence, right)

    def share(self, hits: int) -> float:
        """hits as a share of the phrasings."""
        return hits / self.n if self.n else 0.0

    def share_of_chatter(self) -> float:
        """Share of the not-a-case phrasings that got no suggestion."""
        return self.chatter_silent / self.chatter if self.chatter else 0.0

    def class_share(self, code: str, column: int) -> float:
        """Top-1 (column 1) or top-3 (column 2) share for one class."""
        row = self.per_class.get(code, [0, 0, 0])
        return row[column] / row[0] if row[0] else 0.0

    def expected_calibration_error(self, bins: int = 10) -> float:
        """|confidence - accuracy| averaged over confidence bins, weighted by their size (0 = calibrated)."""
        total = 0.0
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            inside = [(c, r) for c, r in self.calibration if lo < c <= hi or (b == 0 and c == 0)]
            if inside:
                conf = sum(c for c, _ in inside) / len(inside)
                acc = sum(r for _, r in inside) / len(inside)
                total += abs(conf - acc) * len(inside)
        return total / len(self.calibration) if self.calibration else 0.0


def heldout_examples() -> list[Example]:
    """The held-out phrasings."""
    return read_examples(HELDOUT_PATH)


def evaluate(name: str, suggest: Callable[[str], Sequence], examples: list[Example], confident: float) -> Result:
    """Run `suggest(text)` (a list of Suggestion, best first) over the examples."""
    result = Result(name)
    for ex in examples:
        found = list(suggest(ex.text))[:3]
        got = [s.code for s in found]
        if ex.code == NOT_A_CASE:
            result.chatter += 1
            result.chatter_silent += not got
            if got:
                result.confusions[(ex.code, got[0])] += 1
            continue
        row = result.per_class.setdefault(ex.code, [0, 0, 0])
        result.n += 1
        row[0] += 1
        if not got:
            result.nothing += 1
            result.confusions[(ex.code, None)] += 1
            result.calibration.append((0.0, False))
            continue
        right = got[0] == ex.code
        result.top1 += right
        row[1] += right
        result.top3 += ex.code in got
        row[2] += ex.code in got
        if not right:
            result.confusions[(ex.code, got[0])] += 1
        top = found[0]
        result.calibration.append((top.confidence, right))
        if top.confidence >= confident:
            result.confident += 1
            result.confident_right += right
    return result


def report_lines(results: list[Result], names: dict[str, str], pairs: int = 15) -> list[str]:
    """The evaluation as text: overall, per class, then each suggester's most frequent confusions."""
    first = results[0]
    lines = [f"held-out phrasings: {first.n} cases in {len(first.per_class)} subclasses, {first.chatter} not cases", ""]
    lines.append(f"{'':24}" + "".join(f"{r.name:>22}" for r in results))
    for label, value in (
        ("top-1", lambda r: f"{r.share(r.top1):.1%} ({r.top1})"),
        ("top-3", lambda r: f"{r.share(r.top3):.1%} ({r.top3})"),
        ("no suggestion", lambda r: f"{r.share(r.nothing):.1%} ({r.nothing})"),
        ("taken without asking", lambda r: f"{r.share(r.confident):.1%} ({r.confident})"),
        ("  of which right", lambda r: f"{r.confident_right / r.confident:.1%}" if r.confident else "-"),
        ("calibration error (ECE)", lambda r: f"{r.expected_calibration_error():.3f}"),
        ("not a case: nothing", lambda r: f"{r.share_of_chatter():.1%} ({r.chatter_silent})" if r.chatter else "-"),
    ):
        lines.append(f"{label:24}" + "".join(f"{value(r):>22}" for r in results))
    lines += ["", "per class: n, then top-1 / top-3 of " + ", ".join(r.name for r in results)]
    for code in sorted(results[0].per_class):
        n = results[0].per_class[code][0]
        cells = "".join(f"{r.class_share(code, 1):>10.0%} /{r.class_share(code, 2):>5.0%}" for r in results)
        lines.append(f"  {code} {names.get(code, '?')[:10]:<10}{n:>4}{cells}")
    for r in results:
        lines += ["", f"most frequent confusions ({r.name}): true -> suggested"]
        for (true, got), count in r.confusions.most_common(pairs):
            shown = f"{got} {names.get(got, '')}" if got else "(nothing)"
            lines.append(f"  {count:>3}  {true} {names.get(true, '(not a case)')} -> {shown}")
    return lines
