"""Production entry point: `uvicorn loopin_web.asgi:app` (see services/web/bin/start-web)."""

from .main import create_app

app = create_app()
