"""Staff corrections ("recategorize" trail entries) as training examples, and the report of what gets corrected."""

from __future__ import annotations

from app.extensions import db
from app.reports.categories import suggest_category
from app.reports.models import ReportEvent
from app.reports.suggest import store
from app.reports.suggest.corrections import correction_examples, load_corrections
from tests import factories

CORRECTED = ("智慧屏黑屏了，啥都看不到", "路口那块智慧屏不亮了", "智慧屏坏了好久了")


def recategorize(report, old, new, seq=100):
    """A trail entry in the shape the console's recategorize action writes."""
    db.session.add(ReportEvent(report_id=report.id, seq=seq, action="recategorize", from_status=report.status,
                               to_status=report.status, actor_kind="staff", actor_name="dispatcher",
                               data={"from": old, "to": new}))
    db.session.commit()


def test_train_with_corrections_learns_the_staffs_labels(app, runner, published_model):
    before = [suggest_category(t)[0].code if suggest_category(t) else None for t in CORRECTED]
    assert "C0603" not in before
    for i, text in enumerate(CORRECTED):
        recategorize(factories.report(text), before[i], "C0603")
    plain = runner.invoke(args=["categories", "train"])
    assert plain.exit_code == 0 and store.current_version() == published_model  # corrections not asked for
    result = runner.invoke(args=["categories", "train", "--with-corrections"])
    assert result.exit_code == 0, result.output
    assert "3 correction" in result.output and store.current_version() != published_model
    assert store.current_model().meta["sources"]["correction"] == 3
    assert [suggest_category(t)[0].code for t in CORRECTED] == ["C0603"] * 3


def test_only_usable_corrections_count_and_the_latest_per_case_wins(app):
    a, b, c = (factories.report(t) for t in ("井盖没了", "墙上有涂鸦", "路灯不亮"))
    recategorize(a, "C0110", "C0102", seq=100)
    recategorize(a, "C0102", "C0101", seq=101)  # corrected again: the last word counts
    recategorize(b, None, "E0201")  # had no category
    for seq, data in enumerate(({}, {"to": 123}, {"to": ""}, ["E0201"], {"from": "C0112"}), 200):
        db.session.add(ReportEvent(report_id=c.id, seq=seq, action="recategorize", from_status="reported",
                                   to_status="reported", actor_kind="staff", data=data))
    db.session.commit()
    found = load_corrections()
    assert [(x.report_id, x.from_code, x.to_code) for x in found] == [
        (a.id, "C0110", "C0102"), (a.id, "C0102", "C0101"), (b.id, None, "E0201")]
    assert {(e.text, e.code) for e in correction_examples(found)} == {("井盖没了", "C0101"), ("墙上有涂鸦", "E0201")}


def test_a_correction_to_a_retired_or_unknown_code_is_left_out_of_training(app):
    from app.reports.suggest.train import training_set

    recategorize(factories.report("奇怪的东西"), None, "Z9999")
    data = training_set(correction_examples(load_corrections()))
    assert data.skipped == {"Z9999": 1}
    assert all(ex.source == "corpus" for ex in data.examples)


def test_the_corrections_report_lists_the_most_corrected_subclasses_first(app, runner):
    assert "no corrections yet" in runner.invoke(args=["categories", "corrections"]).output
    for text in ("井盖没了", "井盖坏了", "井盖丢了"):
        recategorize(factories.report(text), "C0110", "C0102")
    recategorize(factories.report("路灯井盖坏了"), "C0112", "C0105")
    out = runner.invoke(args=["categories", "corrections"]).output
    away = out.split("corrected away from")[1].split("corrected to:")[0]
    assert away.index("C0110 无主井盖") < away.index("C0112 路灯")
    assert "3  C0110 无主井盖" in away
    assert "3  C0110 无主井盖 -> C0102 污水井盖" in out
    assert "4 correction(s) on 4 case(s)" in out
