"""百姓城管: the application factory."""

from __future__ import annotations

import importlib

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app import jobs, observability, security
from app.config import INSTANCE_DIR, load_config
from app.domains import DOMAINS, domain_module
from app.extensions import csrf, db, init_database, redis_queues
from app.geo import ServiceArea

__all__ = ["DOMAINS", "create_app", "domain_module"]


def create_app(config: dict | None = None) -> Flask:
    """Build the app: config → logging → proxy → extensions → blueprints → error handlers → CLI commands."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(load_config(config))
    register_logging(app)
    register_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_integrations(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    """Logs with request and job ids: JSON lines in production, text in development."""
    if not app.config["TESTING"]:
        observability.configure_logging(app)


def register_proxy(app: Flask) -> None:
    """Behind TRUSTED_PROXY_HOPS reverse proxies, take the client's address and scheme from X-Forwarded-For/-Proto.

    Login throttling is per client address: without this, every client behind nginx would share the proxy's.
    """
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    """Database, migrations, CSRF, security headers, Redis and queues, the service area, the category model."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    init_database(app)
    csrf.init_app(app)
    security.init_app(app)
    redis_queues.init_app(app)
    app.extensions["service_area"] = ServiceArea.from_setting(app.config["SERVICE_AREA"])
    # Import every package's models so metadata (create_all, migrations) sees all tables.
    importlib.import_module("app.events")
    importlib.import_module("app.audit")  # the audit of admin changes listens to every session
    for name in DOMAINS:
        domain_module(name, "models")
    if app.config["CATEGORY_MODEL_PRELOAD"]:
        from app.reports.suggest.store import preload

        preload(app)


def register_blueprints(app: Flask) -> None:
    """Health checks, then each domain's routes."""
    from app.health import bp as health_bp

    app.register_blueprint(health_bp)
    observability.init_app(app)
    for name in DOMAINS:
        module = domain_module(name, "routes")
        if module is not None:
            app.register_blueprint(module.bp)


def register_integrations(app: Flask) -> None:
    """Services the WeChat adapter offers the other packages without them importing it (the JS-SDK signer), and
    the development WeChat stand-in."""
    from app.bot import dev_wechat, jssdk

    jssdk.init_app(app)
    dev_wechat.init_app(app)  # development only: the WeChat stand-in under /dev/wechat/


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: ids beyond a 32-bit primary key are a 404, not a database overflow (a 500)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def register_errorhandlers(app: Flask) -> None:
    """JSON errors for API paths, plain pages elsewhere; a 500 rolls the session back."""

    def wants_json() -> bool:
        return request.path.startswith(("/api/", "/open311/", "/readyz", "/healthz")) or request.is_json

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():  # keep the exception's own headers (Allow on a 405, WWW-Authenticate, Retry-After)
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code, headers
        return exc

    @app.errorhandler(500)
    def server_error(exc):
        db.session.rollback()
        if wants_json():
            return jsonify(error="internal_error", message="服务器出错了，请稍后再试"), 500
        return "服务器出错了，请稍后再试", 500

    @app.teardown_request
    def rollback_unfinished(exc):
        if exc is not None:
            db.session.rollback()


def register_commands(app: Flask) -> None:
    """Platform commands, then each domain's."""
    from app.cli import commands as platform_commands

    for cmd in platform_commands:
        app.cli.add_command(cmd)
    for name in DOMAINS:
        module = domain_module(name, "cli")
        for cmd in module.commands if module is not None else []:
            app.cli.add_command(cmd)


# A plain `rq worker` imports a job's module, hence this package first: jobs build their app with this factory
# without importing the app package themselves (which would close a circle through app.cli and app.events).
jobs.register_app_factory(create_app)
