"""Stand-ins for the vendors outside AWS that the tasks call, served by the emulator.

On AWS the worker reaches OneSignal and FCM over the internet. Locally nothing may leave the machine, so
the local inventory points the worker at a stand-in mounted under the emulator's private prefix
(``<emulator>/_localcloud/vendors/<vendor>``), which speaks the vendor's documented HTTP API and
knows the credentials the operator stored for it in Secrets Manager, as the real vendor knows the
app's keys. Each stand-in also has a ``/_control`` side for tests, drills and chaos experiments:
what it received, and an outage switch.
"""

from __future__ import annotations

from localcloud.emulator import control


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
