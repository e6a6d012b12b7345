"""Settings from environment variables; secrets have no defaults outside development and testing."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

# The embedded defaults are for a laptop; production must say everything that matters.
DEV_ENVS = {"development", "testing"}

# The development values of the secrets: public (this file is), so production refuses each of them in any secret.
DEV_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-change-me",
    "WECHAT_TOKEN": "dev-wechat-token",
    "WECHAT_APP_ID": "wxdevappid0000000",
    "WECHAT_APP_SECRET": "dev-wechat-secret",
}
SECRET_SETTINGS = ("SECRET_KEY", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY",
                   "WECHAT_PREVIOUS_ENCODING_AES_KEY", "METRICS_TOKEN", "OPEN311_API_KEYS")
MIN_SECRET_KEY_BYTES = 32


class ConfigError(RuntimeError):
    """A required setting is missing or invalid."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(name: str, default: str) -> bool:
    """A yes/no setting: 1, true, yes or on (any case) is yes."""
    return (_env(name, default) or "").lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    raw = _env(name)
    try:
        return int(raw) if raw is not None else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = _env(name)
    try:
        return float(raw) if raw is not None else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def load_config(overrides: dict | None = None) -> dict:
    """Build the settings dict from the environment, then apply `overrides` (tests pass their own)."""
    overrides = dict(overrides or {})
    env = overrides.get("APP_ENV") or _env("APP_ENV", "production")
    dev = env in DEV_ENVS

    def secret(name: str, dev_default: str | None) -> str | None:
        value = overrides.get(name, _env(name))
        if value:
            return value
        if dev:
            return dev_default
        return None

    cfg: dict = {
        "APP_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": secret("SECRET_KEY", DEV_SECRETS["SECRET_KEY"]),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'baixing.db'}"),
        # Empty REDIS_URL means the in-process substitute (fakeredis) with jobs run right after commit.
        "REDIS_URL": _env("REDIS_URL", ""),
        # "inline": jobs run in process right after commit; "rq": enqueued for rq workers.
        "JOBS_MODE": _env("JOBS_MODE", "rq" if _env("REDIS_URL") else "inline"),
        "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "MEDIA_ROOT": _env("MEDIA_ROOT", str(INSTANCE_DIR / "media")),
        "MEDIA_MAX_BYTES": _int("MEDIA_MAX_BYTES", 10 * 1024 * 1024),
        "MEDIA_MAX_PIXELS": _int("MEDIA_MAX_PIXELS", 40_000_000),
        "MEDIA_MAX_EDGE": _int("MEDIA_MAX_EDGE", 2560),
        "MEDIA_THUMB_EDGE": _int("MEDIA_THUMB_EDGE", 320),
        # Photos of one upload processed at once (threads; Pillow releases the GIL): each adds one decoded photo to a
        # worker's peak memory (MEDIA_MAX_DECODE_BYTES at most).
        "MEDIA_THREADS": _int("MEDIA_THREADS", 3),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 12 * 1024 * 1024),
        # Service area: "minlat,minlng,maxlat,maxlng" (WGS-84) or a path to a GeoJSON polygon file.
        "SERVICE_AREA": _env("SERVICE_AREA", "29.55,106.48,29.72,106.85"),
        "CASE_NUMBER_PREFIX": _env("CASE_NUMBER_PREFIX", "JB"),
        "TIMEZONE": _env("TIMEZONE", "Asia/Shanghai"),
        "DEFAULT_DEPARTMENT": _env("DEFAULT_DEPARTMENT", "JB-CGJ"),
        "DUPLICATE_RADIUS_M": _float("DUPLICATE_RADIUS_M", 50.0),
        "DUPLICATE_WINDOW_DAYS": _int("DUPLICATE_WINDOW_DAYS", 7),
        "DESCRIPTION_MAX_CHARS": _int("DESCRIPTION_MAX_CHARS", 1000),
        "REOPEN_WINDOW_DAYS": _int("REOPEN_WINDOW_DAYS", 7),
        # Return visits (issue 13, docs/bot.md): how long a citizen may answer 「问题解决了吗？」 after 结案, and how
        # long after 不满意 the chat keeps the citizen's sentence and photos for the case.
        "FEEDBACK_WINDOW_DAYS": _int("FEEDBACK_WINDOW_DAYS", 7),
        "FEEDBACK_DETAILS_S": _int("FEEDBACK_DETAILS_S", 1800),
        "DEFAULT_TIME_LIMIT_HOURS": _int("DEFAULT_TIME_LIMIT_HOURS", 48),
        "OUTBOX_SWEEP_GRACE_S": _int("OUTBOX_SWEEP_GRACE_S", 30),
        "OUTBOX_STALL_S": _int("OUTBOX_STALL_S", 300),
        "INDEX_CHECK_INTERVAL_S": _float("INDEX_CHECK_INTERVAL_S", 1.0),
        "JOB_TIMEOUT_S": _int("JOB_TIMEOUT_S", 120),
        # How often a worker looks for jobs abandoned by a dead worker (they are retried: every job has a Retry).
        "RQ_MAINTENANCE_INTERVAL_S": _int("RQ_MAINTENANCE_INTERVAL_S", 60),
        # Tencent Maps URI API asks for the caller's registered app name ("referer") in navigation links.
        "POI_TENCENT_MAP_REFERER": _env("POI_TENCENT_MAP_REFERER", "百姓城管"),
        # With rq workers, QR-sign scans counted in Redis are written to the database at most this often (0: never;
        # then only `flask poi flush-scans`).
        "POI_SCAN_FLUSH_INTERVAL_S": _int("POI_SCAN_FLUSH_INTERVAL_S", 60),
        # Sign pages read signs from a per-process copy at most this old (0: a database read per scan).
        "POI_SIGN_CACHE_TTL_S": _float("POI_SIGN_CACHE_TTL_S", 300.0),
        # Points (docs/points.md): per verified case, per duplicate of a verified case, a daily cap per citizen,
        # per-category overrides as JSON {"E0504": {"valid": 15, "duplicate": 2}}, pickup-code lifetime.
        "POINTS_VALID_CASE": _int("POINTS_VALID_CASE", 10),
        "POINTS_DUPLICATE_CASE": _int("POINTS_DUPLICATE_CASE", 1),
        "POINTS_DAILY_CAP": _int("POINTS_DAILY_CAP", 50),
        "POINTS_CATEGORY_RULES": _env("POINTS_CATEGORY_RULES", "{}"),
        "POINTS_REDEMPTION_TTL_DAYS": _int("POINTS_REDEMPTION_TTL_DAYS", 14),
        "WECHAT_TOKEN": secret("WECHAT_TOKEN", DEV_SECRETS["WECHAT_TOKEN"]),
        "WECHAT_APP_ID": _env("WECHAT_APP_ID", DEV_SECRETS["WECHAT_APP_ID"] if dev else None),
        "WECHAT_APP_SECRET": secret("WECHAT_APP_SECRET", DEV_SECRETS["WECHAT_APP_SECRET"]),
        "WECHAT_ENCODING_AES_KEY": _env("WECHAT_ENCODING_AES_KEY", ""),
        "WECHAT_PREVIOUS_ENCODING_AES_KEY": _env("WECHAT_PREVIOUS_ENCODING_AES_KEY", ""),
        "WECHAT_API_BASE_URL": _env("WECHAT_API_BASE_URL", "https://api.weixin.qq.com/").rstrip("/") + "/",
        "LOG_FORMAT": _env("LOG_FORMAT", "text" if dev else "json"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
        "METRICS_TOKEN": _env("METRICS_TOKEN", ""),
        "OPEN311_API_KEYS": [k.strip() for k in (_env("OPEN311_API_KEYS", "") or "").split(",") if k.strip()],
        # Hosts whose media_url an Open311 client may give us ("photos.example.com", "*.example.com").
        "OPEN311_MEDIA_HOSTS": [h.strip() for h in (_env("OPEN311_MEDIA_HOSTS", "") or "").split(",") if h.strip()],
        "OPEN311_CONTACT": _env("OPEN311_CONTACT", ""),
        # Console map: an XYZ tile URL template ({z}/{x}/{y}, optional {s}); empty shows a placeholder.
        "MAP_TILE_URL": _env("MAP_TILE_URL", ""),
        "MAP_TILE_CRS": _env("MAP_TILE_CRS", "wgs84"),  # gcj02 for most Chinese tile providers
        "MAP_TILE_ATTRIBUTION": _env("MAP_TILE_ATTRIBUTION", ""),
        # --- 综合评价 assessment and exports (docs/assessment.md) ---
        # Composite score weights "name:weight,…" over on_time_rate, handled_rate, rework_free_rate,
        # satisfaction_rate, supervised_on_time_rate; command-centre limits for 按时立案 / 按时派遣 in minutes.
        "ASSESSMENT_WEIGHTS": _env("ASSESSMENT_WEIGHTS", "on_time_rate:50,handled_rate:30,rework_free_rate:20"),
        "ASSESSMENT_REGISTER_MINUTES": _int("ASSESSMENT_REGISTER_MINUTES", 30),
        "ASSESSMENT_DISPATCH_MINUTES": _int("ASSESSMENT_DISPATCH_MINUTES", 30),
        # A finished period's assessment is kept in Redis this long (0: always computed).
        "ASSESSMENT_CACHE_TTL_S": _int("ASSESSMENT_CACHE_TTL_S", 3600),
        # … and a period still running (this month, today) this long: its figures may be that many seconds behind.
        "ASSESSMENT_LIVE_TTL_S": _int("ASSESSMENT_LIVE_TTL_S", 60),
        # The command centre's default views computed and kept ahead by the `assessment-warm` cron job (every 30 s).
        "ASSESSMENT_WARM": _flag("ASSESSMENT_WARM", "1"),
        # PostgreSQL's work_mem for the assessment's and the dashboard's statements (SET LOCAL, their transaction
        # only): a month of 80,000 cases sorts and groups in memory instead of in temporary files at the default 4MB.
        "REPORT_WORK_MEM": _env("REPORT_WORK_MEM", "64MB"),
        # … and parallel workers for them (cheaper parallel plans, SET LOCAL likewise): a month's scan and its
        # per-case aggregation are split across cores. Off: the server's own planner costs.
        "REPORT_PARALLEL": _flag("REPORT_PARALLEL", "1"),
        "EXPORT_MAX_ROWS": _int("EXPORT_MAX_ROWS", 1_000_000),
        # The console map shows at most this many cases of a filter (the answer says when it is cut).
        "MAP_MAX_POINTS": _int("MAP_MAX_POINTS", 5000),
        # The bot (app/bot): see docs/bot.md.
        "WECHAT_OAUTH_AUTHORIZE_URL": _env(
            "WECHAT_OAUTH_AUTHORIZE_URL", "https://open.weixin.qq.com/connect/oauth2/authorize"
        ),
        "WECHAT_TEMPLATE_ID": _env("WECHAT_TEMPLATE_ID", ""),
        "WECHAT_MAX_SKEW_S": _int("WECHAT_MAX_SKEW_S", 300),
        "WECHAT_MAX_BODY_BYTES": _int("WECHAT_MAX_BODY_BYTES", 64 * 1024),
        "WECHAT_HTTP_TIMEOUT_S": _float("WECHAT_HTTP_TIMEOUT_S", 5.0),
        "DRAFT_TTL": _int("DRAFT_TTL", 30 * 60),
        "BOT_LOCATION_FRESH_S": _int("BOT_LOCATION_FRESH_S", 10 * 60),
        # A flood from one openid: more than BOT_RATE_LIMIT messages in a BOT_RATE_WINDOW_S window are recorded
        # and answered with a friendly "too fast", not acted on (0 = no limit).
        "BOT_RATE_LIMIT": _int("BOT_RATE_LIMIT", 30),
        "BOT_RATE_WINDOW_S": _int("BOT_RATE_WINDOW_S", 60),
        # With rq workers, replies are written to their inbound rows in batches, one job per this many seconds.
        "BOT_REPLY_FLUSH_INTERVAL_S": _int("BOT_REPLY_FLUSH_INTERVAL_S", 2),
        # Moderation and the public pages (issue 17): see docs/moderation.md.
        "PUBLIC_LOCATION_PRECISION_M": _float("PUBLIC_LOCATION_PRECISION_M", 10.0),  # 0 = exact
        "PUBLIC_FLAG_LIMIT": _int("PUBLIC_FLAG_LIMIT", 5),  # flags per client per hour on public case pages
        "PUBLIC_LIST_CACHE_S": _int("PUBLIC_LIST_CACHE_S", 30),  # how long /cases counts may be served from Redis
        # ---- Settings read outside this file before issue 19, declared here so docs/configuration.md covers them
        # (tests/test_config.py checks that every setting above and here is documented there).
        # Open311 discovery's key_service: where a client asks for an api_key (empty: a sentence saying whom to ask).
        "OPEN311_KEY_SERVICE": _env("OPEN311_KEY_SERVICE", ""),
        # --- Hardening (issue 16): staff logins and sessions, proxies, headers, metrics; docs/security.md ---
        # Failed staff logins per (username, client address) before that client is paused for LOGIN_LOCKOUT_S.
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_S": _int("LOGIN_LOCKOUT_S", 15 * 60),
        # Console sessions live on the server (Redis): they end after this long without a request, and this long
        # after login however busy (a working day: 10 h covers 8 h of work and the lunch break; 2 h idle covers
        # the lunch break too).
        "STAFF_SESSION_IDLE_S": _int("STAFF_SESSION_IDLE_S", 2 * 3600),
        "STAFF_SESSION_MAX_AGE_S": _int("STAFF_SESSION_MAX_AGE_S", 10 * 3600),
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: use the peer address as is).
        "TRUSTED_PROXY_HOPS": _int("TRUSTED_PROXY_HOPS", 0),
        # The largest staff grant or adjustment of points in one go (either sign).
        "POINTS_GRANT_MAX": _int("POINTS_GRANT_MAX", 100_000),
        # HSTS on HTTPS responses in production (0 turns it off); nginx sends the same on what it serves itself.
        "HSTS_MAX_AGE_S": _int("HSTS_MAX_AGE_S", 365 * 24 * 3600),
        # --- end of the hardening block ---
        # Issue 16 (webhook, fetching, images): see docs/configuration.md and docs/security.md.
        # WECHAT_MESSAGE_MODE: plain | compatible | safe; empty means safe with an EncodingAESKey, plain without.
        "WECHAT_MESSAGE_MODE": (_env("WECHAT_MESSAGE_MODE", "") or "").lower(),
        # Outbound fetches of URLs others give us (app/fetch.py): networks allowed although private (an intranet
        # photo host, "10.20.0.0/16,..."), redirects followed (each re-checked), timeouts.
        "FETCH_ALLOWED_NETWORKS": [
            n.strip() for n in (_env("FETCH_ALLOWED_NETWORKS", "") or "").split(",") if n.strip()
        ],
        "FETCH_MAX_REDIRECTS": _int("FETCH_MAX_REDIRECTS", 3),
        "FETCH_CONNECT_TIMEOUT_S": _float("FETCH_CONNECT_TIMEOUT_S", 5.0),
        "FETCH_READ_TIMEOUT_S": _float("FETCH_READ_TIMEOUT_S", 20.0),
        # Decoding budget per image: pixels (MEDIA_MAX_PIXELS) and the memory the decode would take.
        "MEDIA_MAX_DECODE_BYTES": _int("MEDIA_MAX_DECODE_BYTES", 96 * 1024 * 1024),
        # The trained category model (app/reports/suggest, docs/data.md): where model files live (share it between
        # hosts, or train on each: training is deterministic), whether the app loads it at start, the lowest
        # probability offered as a candidate, and whether `flask seed demo` trains one when none exists.
        "CATEGORY_MODEL_DIR": _env("CATEGORY_MODEL_DIR", str(INSTANCE_DIR / "models")),
        "CATEGORY_MODEL_PRELOAD": _env("CATEGORY_MODEL_PRELOAD", "1") not in ("0", "false", "no"),
        "CATEGORY_MODEL_MIN_PROBABILITY": _float("CATEGORY_MODEL_MIN_PROBABILITY", 0.05),
        "CATEGORY_MODEL_TRAIN_AT_SEED": _env("CATEGORY_MODEL_TRAIN_AT_SEED", "1") not in ("0", "false", "no"),
        # --- 督办, tickets and the hotline (issue 14a; docs/console.md, docs/tickets.md) -------------------------
        # The deadline warning goes out when this share of a case's time limit has passed (0-1).
        "DEADLINE_WARNING_SHARE": _float("DEADLINE_WARNING_SHARE", 0.8),
        # Template for staff notifications by WeChat (falls back to WECHAT_TEMPLATE_ID; empty: console inbox only).
        "WECHAT_STAFF_TEMPLATE_ID": _env("WECHAT_STAFF_TEMPLATE_ID", ""),
        # Hosts a ticket source may register as its callback URL ("cb.12345.example.cn", "*.example.cn"). Named
        # hosts must resolve to public addresses; an internal address (127.0.0.1) only when listed literally.
        "TICKET_CALLBACK_HOSTS": [h.strip() for h in (_env("TICKET_CALLBACK_HOSTS", "") or "").split(",") if h.strip()],
        "TICKET_CALLBACK_TIMEOUT_S": _float("TICKET_CALLBACK_TIMEOUT_S", 10.0),
        # More doors in (issue 15): the mini-program API (docs/miniprogram.md) and the H5 report form (docs/h5.md).
        "WECHAT_MP_APP_ID": _env("WECHAT_MP_APP_ID", "wxdevminiprogram0" if dev else ""),
        "WECHAT_MP_APP_SECRET": secret("WECHAT_MP_APP_SECRET", "dev-mp-secret") or "",
        "MP_TOKEN_TTL_S": _int("MP_TOKEN_TTL_S", 2 * 3600),
        "MP_SUBSCRIBE_TEMPLATE_ID": _env("MP_SUBSCRIBE_TEMPLATE_ID", ""),
        "MP_SUBSCRIBE_PAGE": _env("MP_SUBSCRIBE_PAGE", "pages/case/index?no={case_number}"),
        "REPORT_MAX_PHOTOS": _int("REPORT_MAX_PHOTOS", 9),
        "REPORT_UPLOAD_MAX_BYTES": _int("REPORT_UPLOAD_MAX_BYTES", 40 * 1024 * 1024),
        "H5_ANONYMOUS_REPORTS": _flag("H5_ANONYMOUS_REPORTS", "1"),
        "H5_ANONYMOUS_RATE_LIMIT": _int("H5_ANONYMOUS_RATE_LIMIT", 5),
        "H5_ANONYMOUS_RATE_WINDOW_S": _int("H5_ANONYMOUS_RATE_WINDOW_S", 3600),
        # Development only (`python3 tasks.py serve` sets it): WeChat played by the app itself under /dev/wechat/.
        "DEV_WECHAT": dev and _flag("DEV_WECHAT", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not dev,
        # Connections are checked at checkout without a round trip (app.extensions.connection_alive), not pinged.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
    }
    cfg.update(overrides)
    if cfg["APP_ENV"] == "development" and cfg.get("DEV_WECHAT"):
        # Unless told otherwise, WeChat's API and OAuth page are the app's own stand-in (app/bot/dev_wechat.py).
        if not _env("WECHAT_API_BASE_URL") and "WECHAT_API_BASE_URL" not in overrides:
            cfg["WECHAT_API_BASE_URL"] = cfg["PUBLIC_BASE_URL"] + "/dev/wechat/"
        if not _env("WECHAT_OAUTH_AUTHORIZE_URL") and "WECHAT_OAUTH_AUTHORIZE_URL" not in overrides:
            cfg["WECHAT_OAUTH_AUTHORIZE_URL"] = cfg["PUBLIC_BASE_URL"] + "/dev/wechat/authorize"
    if cfg.get("DATABASE_URL"):
        cfg["SQLALCHEMY_DATABASE_URI"] = cfg["DATABASE_URL"]
    cfg["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(cfg["SQLALCHEMY_DATABASE_URI"])
    _validate(cfg)
    return cfg


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs (what hosting providers hand out)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _validate(cfg: dict) -> None:
    """Refuse to start production with missing secrets rather than run with guessable ones."""
    if cfg["APP_ENV"] in DEV_ENVS:
        return
    required = ("SECRET_KEY", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET")
    missing = [name for name in required if not cfg.get(name)]
    if missing:
        raise ConfigError("missing required settings: " + ", ".join(missing) + " (see docs/configuration.md)")
    if len(str(cfg["SECRET_KEY"]).encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes (secrets.token_urlsafe(48))")
    published = set(DEV_SECRETS.values())
    for name in SECRET_SETTINGS:
        value = cfg.get(name)
        values = value if isinstance(value, list | tuple) else [value]
        if any(v in published for v in values if v):
            raise ConfigError(f"{name} has a published development value; set a real one (docs/configuration.md)")
