"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

sync workers (2 per core here) behind a buffering reverse proxy: on this kind of 2-core machine they gave the best
tail latency for Flask and for the WeChat webhook (docs/reliability notes in docs/benchmarks.md); gevent's tails
were poor and it needs extra work for psycopg.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = 30  # WeChat gives up after 5 s; nothing a request does should come near this
graceful_timeout = 20
keepalive = 5
max_requests = 5000  # recycle workers now and then (guards against slow leaks)
max_requests_jitter = 500
accesslog = "-"
# The path without its query string, and no referer: /wechat's query carries a signed timestamp, nonce and openid,
# and a logged signed URL is a captured one (docs/security.md, issue 16).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Load the app before forking: the spatial indexes and keyword tables are built once and shared copy-on-write.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"

# Prometheus counters from every worker are aggregated through files in this directory.
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "baixing-prom"))


def on_starting(server):
    """Start each deployment with a clean metrics directory."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def post_fork(server, worker):
    """Connections must not be shared across a fork: drop any the preloaded app opened."""
    from app.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)


def child_exit(server, worker):
    """Tell prometheus_client a worker is gone so its gauges are not summed forever."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
