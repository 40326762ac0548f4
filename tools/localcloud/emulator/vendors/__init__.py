"""Stand-ins for the vendors outside AWS that the tasks call, served by the emulator.

On AWS the worker reaches OneSignal and FCM over the internet. Locally nothing may leave the machine, so
the local inventory points the worker at a stand-in mounted under the emulator's private prefix
(``<emulator>/_localcloud/vendors/<vendor>``), which speaks the vendor's documented HTTP API and
knows the credentials the operator stored for it in Secrets Manager, as the real vendor knows the
app's keys. Each stand-in also has a ``/_control`` side for tests, drills and chaos experiments:
what it received, and an outage switch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.emulator import control


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def stored_credentials(suffix: str) -> Iterator[dict[str, Any]]:
    """The JSON objects held by every live secret named ``*/<suffix>`` (any account, any
    region): what the operator stored for the vendor, which the vendor knows too."""
    from moto.secretsmanager.models import secretsmanager_backends

    for account in list(secretsmanager_backends.values()):
        for backend in list(account.values()):
            for name, secret in list(backend.secrets.items()):
                if not name.endswith(f"/{suffix}") or secret.is_deleted():
                    continue
                try:
                    value = json.loads(backend.get_secret_value(name, None, None)["SecretString"])
                except (KeyError, TypeError, ValueError):
                    continue
                if isinstance(value, dict):
                    yield value


def outage_control(request: Request, outage: dict[str, int]) -> Response:
    """``PUT .../_control/outage {"status": 503}`` starts an outage, ``DELETE`` ends it."""
    if request.method == "PUT":
        status = int((request.get_json(silent=True) or {}).get("status", 503))
        if not 400 <= status <= 599:
            return json_response(400, {"error": f"an outage answers 4xx or 5xx, not {status}"})
        outage["status"] = status
        return json_response(200, {"status": status})
    if request.method == "DELETE":
        outage.clear()
        return json_response(200, {"status": None})
    return json_response(404, {"error": f"no control {request.method} outage"})


def mount_all() -> list[str]:
    """Mount every stand-in; ``/moto-api/reset`` forgets what they received with the rest."""
    from moto.moto_api._internal.models import MotoAPIBackend

    from localcloud.emulator.vendors import fcm, onesignal

    stand_ins = {"onesignal": onesignal, "fcm": fcm}
    for stand_in in stand_ins.values():
        control.mount(stand_in.PREFIX, stand_in.app)
    reset = MotoAPIBackend.reset

    def _reset(self: MotoAPIBackend) -> None:
        reset(self)
        for stand_in in stand_ins.values():
            stand_in.reset()

    MotoAPIBackend.reset = _reset  # type: ignore[method-assign]
    return list(stand_ins)
