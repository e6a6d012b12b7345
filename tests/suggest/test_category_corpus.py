"""The corpus and the held-out set: sizes, coverage, no overlap, and a trainer that never opens the held-out file."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from app.reports.suggest.corpus import CORPUS_PATH, NOT_A_CASE, read_examples
from app.reports.suggest.evaluate import HELDOUT_PATH
from app.reports.suggest.features import normalize
from app.reports.suggest.train import active_subclasses, train, training_set

_opened: list[str] | None = None


def _watch_opens(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        _opened.append(str(Path(args[0] if not isinstance(args[0], bytes) else args[0].decode()).resolve()))


sys.addaudithook(_watch_opens)  # audit hooks cannot be removed; this one records only while _opened is a list


def test_every_active_subclass_has_at_least_15_varied_training_phrasings(app):
    counts = Counter(ex.code for ex in read_examples(CORPUS_PATH))
    subclasses = active_subclasses()
    assert len(subclasses) >= 80
    assert {code: counts[code] for code in subclasses if counts[code] < 15} == {}
    assert counts[NOT_A_CASE] >= 50
    texts = [ex.text for ex in read_examples(CORPUS_PATH)]
    assert len(set(texts)) == len(texts)
    lengths = sorted(len(t) for t in texts)
    assert lengths[0] <= 4 and lengths[-1] >= 25  # short and long messages


def test_the_held_out_set_covers_every_class_and_shares_no_phrasing_with_the_corpus(app):
    held_out = read_examples(HELDOUT_PATH)
    cases = [ex for ex in held_out if ex.code != NOT_A_CASE]
    assert len(cases) >= 300
    assert set(active_subclasses()) <= {ex.code for ex in cases}
    training = {normalize(ex.text) for ex in read_examples(CORPUS_PATH)}
    assert [ex.text for ex in held_out if normalize(ex.text) in training] == []


def test_the_issues_own_examples_are_in_the_held_out_set_not_in_training(app):
    held_out = {ex.text: ex.code for ex in read_examples(HELDOUT_PATH)}
    training = {ex.text for ex in read_examples(CORPUS_PATH)}
    for text, code in [("墙上被人喷了很多涂鸦", "E0201"), ("路边停了辆报废的破车好几个月没人管", "E0107"),
                       ("有人往河里倒废水，水都变黑了", "E0105"), ("小区外面的路上好多狗屎", "E0104")]:
        assert held_out.get(text) == code and text not in training


def test_training_never_opens_the_held_out_file(app):
    global _opened
    _opened = []
    try:
        data = training_set()
        model = train(data)
    finally:
        opened, _opened = _opened, None
    assert str(CORPUS_PATH.resolve()) in opened  # the hook does see the trainer's reads
    assert str(HELDOUT_PATH.resolve()) not in opened
    assert model.meta["examples"] == len(data.examples)
