"""Reports with 3 photos of 12 MP through the mini-program API under gunicorn, beside Pillow alone, same run.

  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/baixing_h8 REDIS_URL=redis://127.0.0.1:6379/8 \
      .venv/bin/python bench/report_upload.py [--workers 2] [--seconds 20] [--media-threads 1,3]

Pillow alone, in this process, one photo after another (one core): the baseline is the steps app.media took before
issue 15 (decode, exif_transpose's full-size copy, LANCZOS shrink to 2560 px, JPEG q85 optimized, thumbnail decoded
again from that JPEG), so "gunicorn ÷ Pillow alone" shows what the server adds and what the new steps gained; the
second, labelled "new steps", is what app.media does now (orientation in place, BICUBIC up to 2×, the thumbnail from
the pixels in memory): the floor of this server. Both are written out in bench/media_decode.py.

Then POST /api/mp/reports (multipart, 3 photos, a fresh Idempotency-Key each) from citizens with real session
tokens: at a fixed 1 report/s (open loop: latency from the scheduled send time) and as fast as 2 senders go (closed
loop). Memory: the largest RSS of a gunicorn worker.
The schema in DATABASE_URL is dropped and recreated.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bot_webhook import start_gunicorn, stop
from bench.common import pct

SECRET = "bench-secret-key"


def camera_like_jpeg(seed: int, size=(4000, 3000)) -> bytes:
    """A 12 MP JPEG that compresses like a photo (smooth shapes and sensor noise), not like a flat colour."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 60 * np.sin(x / (180 + 40 * c) + seed) * np.cos(y / (150 + 30 * c)) for c in range(3)], -1)
    base += rng.normal(0, 9, (h, w, 3)).astype(np.float32)
    out = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()


def pillow_alone(photos: list[bytes], rounds: int, new: bool = False) -> float:
    """Photos per second through app.media's old steps (or, new=True, its current ones), without storage or the web."""
    from bench.media_decode import _new_steps, _old_steps

    steps = _new_steps if new else _old_steps
    t0 = time.perf_counter()
    for _ in range(rounds):
        for data in photos:
            steps(data, lambda _name: None)
    return rounds * len(photos) / (time.perf_counter() - t0)


def tokens_for(n: int, env: dict) -> list[str]:
    """n mini-program citizens with session tokens (issued in Redis, so every worker accepts them)."""
    os.environ.update(env)
    from app import create_app
    from app.citizens.miniprogram import citizen_for_miniprogram
    from app.extensions import db
    from app.mp.tokens import issue_token
    from app.seed import seed_reference

    app = create_app({"APP_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": env["DATABASE_URL"],
                      "REDIS_URL": env["REDIS_URL"], "MEDIA_ROOT": env["MEDIA_ROOT"]})
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_reference()
        db.session.commit()
        out = [issue_token(citizen_for_miniprogram(f"oBenchMp{i:04d}"))[0] for i in range(n)]
        db.session.remove()
        db.engine.dispose()
    return out


def submit(url: str, token: str, photos: list[bytes], i: int) -> float:
    t0 = time.perf_counter()
    files = [("photo", (f"p{k}.jpg", p, "image/jpeg")) for k, p in enumerate(photos)]
    res = requests.post(url, files=files, timeout=60,
                        data={"description": f"人行道井盖没了 {i}", "lat": "29.5724", "lng": "106.53556",
                              "crs": "gcj02"},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    assert res.status_code == 201, res.text
    return time.perf_counter() - t0


def worker_rss_mb(master_pid: int) -> float:
    """The largest resident set of the master's children (the workers), in MB."""
    best = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().split()
            if int(stat[3]) == master_pid:
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                best = max(best, rss)
        except (OSError, ValueError, IndexError):
            continue
    return best / 1e6


def measure(photos: list[bytes], tokens: list[str], env: dict, workers: int, seconds: int, media_threads: int,
            isolated: int = 10) -> None:
    """One server with MEDIA_THREADS=media_threads: reports one at a time, 1 report/s open loop, then 2 senders closed
    loop, peak RSS. On a shared machine whose spare CPU is below one report per second the open loop only measures
    its own queue; the one-at-a-time figure still shows what a submission costs."""
    port = 18000 + (os.getpid() + media_threads) % 1000
    server = start_gunicorn("wsgi:app", port, workers, dict(env, MEDIA_THREADS=str(media_threads)))
    url = f"http://127.0.0.1:{port}/api/mp/reports"
    peak = [0.0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], worker_rss_mb(server.pid))
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    tag = f"MEDIA_THREADS={media_threads}"
    try:
        submit(url, tokens[0], photos, -1 - media_threads * 100)  # warm up
        alone = [submit(url, tokens[0], photos, -1000 - media_threads * 100 - i) for i in range(isolated)]
        if alone:  # one at a time: what a submission costs with no queue of our own behind it
            print(f"{tag}: {isolated} reports one at a time: p50 {pct(alone, 50) * 1e3:.0f} ms, "
                  f"max {max(alone) * 1e3:.0f} ms")
        lat, start = [], time.perf_counter()
        threads = []
        for i in range(seconds):  # open loop at 1 report/s
            due = start + i

            time.sleep(max(0.0, due - time.perf_counter()))

            def one(i=i, due=due):
                submit(url, tokens[i % 4], photos, media_threads * 100_000 + i)
                lat.append(time.perf_counter() - due)

            t = threading.Thread(target=one)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        print(f"{tag}: 1 report/s for {seconds} s: p50 {pct(lat, 50) * 1e3:.0f} ms, p99 {pct(lat, 99) * 1e3:.0f} ms, "
              f"max {max(lat) * 1e3:.0f} ms")
        count, t0, stop_at = [0], time.perf_counter(), time.perf_counter() + seconds
        lock = threading.Lock()

        def sender(k):
            n = 0
            while time.perf_counter() < stop_at:
                submit(url, tokens[k], photos, media_threads * 100_000 + 10_000 + k * 1000 + n)
                n += 1
                with lock:
                    count[0] += 1

        senders = [threading.Thread(target=sender, args=(k,)) for k in range(2)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        rate = count[0] / (time.perf_counter() - t0)
        print(f"{tag}: closed loop, 2 senders: {rate:.2f} reports/s = {3 * rate:.2f} photos/s "
              f"(gunicorn sync x{workers})")
        print(f"{tag}: largest worker RSS: {peak[0]:.0f} MB")
    finally:
        done.set()
        stop(server)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--media-threads", default="1,3", help="MEDIA_THREADS values to compare in this run")
    ap.add_argument("--isolated", type=int, default=10, help="reports sent one at a time before the open loop")
    ap.add_argument("--size", default="4000x3000", help="photo size; 1600x1200 is what the H5 form uploads")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    photos = [camera_like_jpeg(i, size) for i in range(3)]
    print(f"3 photos of {args.size}, {', '.join(f'{len(p) / 1e6:.1f}' for p in photos)} MB")
    env = dict(os.environ, APP_ENV="testing", SECRET_KEY=SECRET, MEDIA_ROOT=f"/tmp/bench-media-{os.getpid()}",
               JOBS_MODE="rq")
    tokens = tokens_for(4, env)
    for value in (int(v) for v in args.media_threads.split(",")):
        print(f"Pillow alone (this process, 1 core), app.media's old steps: {pillow_alone(photos, 3):.2f} photos/s; "
              f"new steps: {pillow_alone(photos, 3, new=True):.2f} photos/s")
        measure(photos, tokens, env, args.workers, args.seconds, value, args.isolated)


if __name__ == "__main__":
    main()
