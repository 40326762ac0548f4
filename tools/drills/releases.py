"""Releases for the drills: the working tree's services, copied and changed, built and pushed.

A drill deploys real releases, not labels: each one is a copy of `services/` with a marker file
(so that its images have digests of their own) and, for a bad release, one deliberate defect.
The copy is built by tools/localcloud/images.py exactly as `make release` builds the working
tree, and pushed to the environment's ECR repositories with the deploy role, as the pipeline's
build job pushes. A defect is applied by replacing a known piece of code; when the code it
expects has changed, the drill fails with the file's name instead of deploying a good build
that it believes bad.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import images
from localcloud.state import ROOT, state_root

WEB_PACKAGE = Path("services/web/loopin_web")
WORKER_PACKAGE = Path("services/worker/src/loopin_worker")

Defect = Callable[[Path], None]


@dataclass(frozen=True)
class Release:
    label: str
    web: str  # repository@sha256:... of the web image
    worker: str  # repository@sha256:... of the worker image

    @property
    def web_digest(self) -> str:
        return self.web.rsplit("@", 1)[1]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise RuntimeError(
            f"{path}: the code this drill changes is not there any more ({old.strip()[:60]!r})"
        )
    path.write_text(text.replace(old, new, 1))


def web_answers_500_on_me(tree: Path) -> None:
    """The web's hottest route, GET /v1/me, answers 500; every other route works (so the
    target group's health check, /health, stays green and only the 5xx gate can catch it)."""
    main = tree / WEB_PACKAGE / "main.py"
    _replace(main, "    return app\n", "    app.add_middleware(_BrokenMe)\n    return app\n")
    main.write_text(
        main.read_text()
        + '''

class _BrokenMe:
    """A defect the release drills deploy on purpose: GET /v1/me answers 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/v1/me":
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            return
        await self.app(scope, receive, send)
'''
    )


def worker_misreads_push_messages(tree: Path) -> None:
    """The worker reads a field the API never sends, so every push message looks poison to it
    and reaches the dead-letter queue after the queue's maxReceiveCount."""
    _replace(
        tree / WORKER_PACKAGE / "handlers" / "push.py",
        'raw = data.get("notification_id") or data.get("notification_request_id")',
        'raw = data.get("notificationId")',
    )


def migration_fails(tree: Path) -> None:
    """A migration of the notifications app that fails when it runs."""
    migrations = tree / WEB_PACKAGE / "notifications" / "migrations"
    latest = max(p.stem for p in migrations.glob("[0-9][0-9][0-9][0-9]_*.py"))
    number = int(latest[:4]) + 1
    (migrations / f"{number:04d}_drill_fails.py").write_text(
        f'''"""A migration that fails on purpose (a release drill)."""

from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("notifications", "{latest}")]
    operations = [migrations.RunPython(fail, migrations.RunPython.noop)]
'''
    )


def _copy(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", "tests")
    if destination.exists():
        shutil.rmtree(destination)
    for service in ("web", "worker"):
        shutil.copytree(ROOT / "services" / service, destination / "services" / service, ignore=ignore)


def build(
    label: str, ecr: Any, env: str, defects: tuple[Defect, ...] = (), project: str = "loopin"
) -> Release:
    """The tree's services with `defects`, marked `label`, pushed to ENV's repositories."""
    tree = state_root() / "drills" / "releases" / label
    _copy(tree)
    (tree / WEB_PACKAGE / "RELEASE").write_text(f"{label}\n")
    for defect in defects:
        defect(tree)
    pushed = {
        service: images.push(images.build(service, tree), ecr, f"{project}/{env}/{service}")
        for service in ("web", "worker")
    }
    return Release(label, pushed["web"], pushed["worker"])
