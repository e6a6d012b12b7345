"""Benchmark suggest_category: the trained model beside the keyword table, per call, in the same run.

    .venv/bin/python bench/category_suggest.py [--rounds 5]

Trains the model on the shipped corpus (a SQLite file in a temp dir, in-process Redis substitute), publishes it, then
times suggest_category over the held-out phrasings (353 case descriptions from 4 to 80 characters, plus 20 chat
lines) with the model and with the keyword table (`keyword_suggestions`, what suggest_category does with no model),
interleaved round by round so both see the same machine load. Prints training time, model file size, load time and
p50/p99/max per call for each, as wall time and as this thread's CPU time (which a busy machine does not inflate).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import make_bench_app, pct


def main() -> None:
    """Train, publish, then time the two suggesters."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the held-out phrasings per suggester")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-category-"))
    app = make_bench_app(f"sqlite:///{tmp / 'bench.db'}", CATEGORY_MODEL_DIR=str(tmp / "models"),
                         INDEX_CHECK_INTERVAL_S=1.0)
    with app.app_context():
        from app.reports.categories import keyword_suggestions, suggest_category
        from app.reports.suggest import store
        from app.reports.suggest.evaluate import heldout_examples
        from app.reports.suggest.service import train_and_publish
        from app.seed import seed_reference

        seed_reference()
        t0 = time.perf_counter()
        version, meta = train_and_publish(seed=18)
        trained_s = time.perf_counter() - t0
        size = (store.model_dir() / store.file_name(version)).stat().st_size
        t0 = time.perf_counter()
        store.load_current()
        load_s = time.perf_counter() - t0
        texts = [ex.text for ex in heldout_examples()]
        for text in texts:  # warm both paths (jieba's dictionary, the keyword and category caches)
            suggest_category(text)
            keyword_suggestions(text)
        wall: dict[str, list[float]] = {"model": [], "keywords": []}
        cpu: dict[str, list[float]] = {"model": [], "keywords": []}
        gc.disable()
        for _ in range(args.rounds):
            for name, fn in (("model", suggest_category), ("keywords", keyword_suggestions)):
                for text in texts:
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    fn(text)
                    cpu[name].append(time.thread_time() - start_cpu)
                    wall[name].append(time.perf_counter() - start)
        gc.enable()
        print(f"model {version}: {meta['examples']} examples, trained and published in {trained_s:.1f} s, "
              f"file {size / 1e6:.1f} MB, loaded in {load_s * 1000:.0f} ms")
        print(f"{len(texts)} phrasings x {args.rounds} rounds per suggester, in process")
        print(f"{'':10}{'wall p50':>10}{'p99':>8}{'max':>8}{'cpu p50':>10}{'p99':>8}{'max':>8}   (ms per call)")
        for name in wall:
            w, c = wall[name], cpu[name]
            print(f"{name:10}{pct(w, 50) * 1e3:>10.3f}{pct(w, 99) * 1e3:>8.3f}{max(w) * 1e3:>8.2f}"
                  f"{pct(c, 50) * 1e3:>10.3f}{pct(c, 99) * 1e3:>8.3f}{max(c) * 1e3:>8.2f}")
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
