"""The ASGI application: FastAPI serves /v1 (with /v1/health), /health and /ready; Django serves /admin.

`create_app(settings)` builds everything from one Settings object; `loopin_web.asgi:app` is the
production instance (see services/web/README.md for how the container starts it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import boto3
from botocore.config import Config
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from . import django_setup, sentry
from .api import errors
from .cache import RedisGuard
from .logs import configure_logging
from .middleware import RequestContextMiddleware
from .nearcache import NearCache
from .ratelimit import HitCounter, RateLimiter
from .settings import Settings
from .tokens import TokenSigner


def _setup_django(settings: Settings) -> None:
    django_setup.setup(
        database_url=settings.DATABASE_URL.get_secret_value(),
        secret_key=settings.DJANGO_SECRET_KEY.get_secret_value(),
        debug=False,
        allowed_hosts=settings.ALLOWED_HOSTS,
        csrf_trusted_origins=settings.CSRF_TRUSTED_ORIGINS,
        secure_cookies=not settings.is_development,
    )


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.LOG_LEVEL)
    _setup_django(settings)
    sentry.init(settings)
    redis = RedisGuard(settings.REDIS_URL.get_secret_value())
    counter = HitCounter(redis)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # A rate-limit flush still running must finish before its Redis client closes.
        await counter.drain()
        await redis.close()

    app = FastAPI(
        title="Loopin API",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/v1/docs",
        redoc_url=None,
        openapi_url="/v1/openapi.json",
        responses=errors.COMMON_RESPONSES,
    )
    app.state.settings = settings
    app.state.redis = redis
    app.state.signer = TokenSigner(
        key=settings.JWT_SIGNING_KEY.get_secret_value(),
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
    )
    app.state.near = NearCache()
    app.state.user_limiter = RateLimiter(counter, settings.RATE_LIMIT_PER_USER_PER_MINUTE, "user")
    app.state.ip_limiter = RateLimiter(counter, settings.RATE_LIMIT_PER_IP_PER_MINUTE, "ip")
    app.state.sqs = boto3.client(
        "sqs",
        region_name=settings.AWS_REGION,
        config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
    )
    errors.install(app)

    # Route modules import Django models, which exist only once Django is set up (above).
    from .api.routes import auth, devices, health, me, notifications, webhooks

    # /v1/me first: it is the hottest route and routes are matched in order.
    app.include_router(me.router, prefix="/v1")
    # /health and /ready for the load balancer's checks, the same under /v1 for the mobile apps.
    app.include_router(health.router)
    app.include_router(health.router, prefix="/v1")
    for module in (auth, devices, notifications, webhooks):
        app.include_router(module.router, prefix="/v1")

    from django.core.asgi import get_asgi_application

    app.mount(
        "/static/admin", StaticFiles(packages=[("django.contrib.admin", "static/admin")]), name="static"
    )
    app.mount("/admin", get_asgi_application(), name="admin")
    app.add_middleware(
        RequestContextMiddleware,
        ip_limiter=app.state.ip_limiter,
        trusted_hops=settings.TRUSTED_PROXY_HOPS,
    )
    return app
