"""The restore drill (PostgreSQL only): fill cases, photos, points and outbox rows; back up with deploy/backup.sh
(pg_dump + the media directory); restore with deploy/restore.sh into an empty database and an empty directory, with
a Redis that lost everything; the app starts on it, `flask points reconcile` passes, every photo opens, and the
outbox rows that were not relayed (or whose jobs died with Redis) are relayed and take effect once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, text, update

from app import create_app
from app.events import OutboxEvent
from app.extensions import QUEUE_NAMES, db, get_queue
from app.media import path_for, store_image
from app.points.earning import grant_points
from app.points.models import PointsAccount
from app.reports.models import ReportPhoto
from app.reports.services import PhotoInput, transition
from tests.conftest import ON_POSTGRES, PG_URL, REDIS_URL, make_config
from tests.factories import actor, citizen, jpeg_bytes, png_bytes, report

pytestmark = pytest.mark.skipif(not (ON_POSTGRES and REDIS_URL), reason="the drill runs on PostgreSQL + Redis")
ROOT = Path(__file__).resolve().parent.parent


def _verify(report_id: int, photo: PhotoInput) -> None:
    for action, who, kw in [
        ("register", actor("dispatcher"), {}),
        ("dispatch", actor("dispatcher"), {"department_code": "JB-S-GYQ"}),
        ("handle", actor("handler", "JB-S-GYQ"), {"note": "已处理", "photos": [photo]}),
        ("verify", actor("inspector"), {}),
    ]:
        transition(report_id, action, who, **kw)


def _drain(app) -> int:
    """Run every queued job (a real rq worker, burst); how many are still queued afterwards."""
    from rq import SimpleWorker

    worker = SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=app.extensions["redis"])
    worker.work(burst=True)
    return sum(get_queue(n).count for n in QUEUE_NAMES)


def _run(script: str, env: dict, *args: str) -> str:
    done = subprocess.run([str(ROOT / "deploy" / script), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_backup_restored_into_an_empty_database_and_directory_is_whole_and_finishes_its_work(app, run_jobs,
                                                                                             tmp_path):
    person = citizen()
    shots = [store_image(jpeg_bytes()), store_image(png_bytes((300, 200)))]
    photos = [PhotoInput(sha256=s.sha256, width=s.width, height=s.height) for s in shots]
    cases = [report(f"路口摊贩 {i}", lat=29.57 + i * 0.01, category_code="E0504", citizen_id=person.id,
                    photos=[photos[i % 2]]) for i in range(3)]
    _verify(cases[0].id, photos[0])
    run_jobs()  # case 0's award is done before the backup
    _verify(cases[1].id, photos[1])  # its award job waits in Redis, which the worst day takes away
    _verify(cases[2].id, photos[0])
    db.session.execute(update(OutboxEvent).where(OutboxEvent.name == "ReportVerified",
                                                 OutboxEvent.payload["report_id"].as_integer() == cases[2].id)
                       .values(relayed_at=None))  # the process died between the commit and the relay
    db.session.commit()
    grant_points(person.id, 5, "补偿", "admin")
    before = db.session.scalar(select(PointsAccount.balance).where(PointsAccount.citizen_id == person.id))
    assert before == app.config["POINTS_VALID_CASE"] + 5
    stored = {p.sha256 for p in db.session.scalars(select(ReportPhoto).where(ReportPhoto.status == "stored"))}
    assert len(stored) == 2
    citizen_id = person.id
    db.session.remove()
    db.engine.dispose()

    env = {**os.environ, "DATABASE_URL": PG_URL, "MEDIA_ROOT": app.config["MEDIA_ROOT"], "REDIS_URL": REDIS_URL,
           "APP_ENV": "testing", "SECRET_KEY": "test-secret", "FLASK": str(Path(sys.executable).parent / "flask")}
    backup = tmp_path / "backup"
    _run("backup.sh", env, str(backup))
    assert (backup / "baixing.dump").stat().st_size > 0 and (backup / "media.tar").stat().st_size > 0

    # The worst day: the database is empty, the media directory is new, Redis has forgotten everything.
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.engine.dispose()
    app.extensions["redis"].flushdb()
    new_media = tmp_path / "media-restored"
    out = _run("restore.sh", {**env, "MEDIA_ROOT": str(new_media)}, str(backup))
    assert "OK" in out and "relayed 1 event(s)" in out and "stalled subscriber job(s) enqueued again" in out

    restored = create_app(make_config(tmp_path, MEDIA_ROOT=str(new_media)))
    with restored.app_context():
        assert restored.test_client().get("/readyz").status_code == 200
        assert sum(get_queue(n).count for n in QUEUE_NAMES) >= 2  # at least the two interrupted awards
        assert _drain(restored) == 0
        balance = db.session.scalar(select(PointsAccount.balance).where(PointsAccount.citizen_id == citizen_id))
        assert balance == 3 * restored.config["POINTS_VALID_CASE"] + 5
        result = restored.test_cli_runner().invoke(args=["points", "reconcile"])
        assert result.exit_code == 0 and "OK" in result.output
        waiting = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.relayed_at.is_(None)))
        assert waiting == 0
        for sha in stored:
            for variant in ("original", "thumb"):
                with Image.open(path_for(sha, variant)) as img:
                    img.verify()
        again = restored.test_cli_runner().invoke(args=["events", "sweep", "--grace", "0"])
        assert again.exit_code == 0, again.output
        _drain(restored)
        assert db.session.scalar(select(PointsAccount.balance).where(PointsAccount.citizen_id == citizen_id)) == (
            balance)  # a second sweep and drain change nothing
        db.session.remove()
        db.engine.dispose()
