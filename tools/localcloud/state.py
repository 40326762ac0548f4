"""Where the local cloud keeps its files: one directory per emulator port.

    .state/localcloud-<port>/
        credentials/<principal>.json   access keys made at bootstrap (operator, localcloud-aws)
        pki/                           the local CA and the certificates it issued
        dataplane/                     pid, log and status.json of the data plane
        tasks/<task id>/               each task's writable /tmp and its container log
        images/<digest>/               local images (the code a digest stands for)

``LOOPIN_STATE_DIR`` moves ``.state`` (tests give each emulator its own).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-south-1"


def state_root() -> Path:
    return Path(os.environ.get("LOOPIN_STATE_DIR", ROOT / ".state"))


def port_of(endpoint: str) -> int:
    return int(endpoint.rstrip("/").rsplit(":", 1)[1])


@dataclass(frozen=True)
class LocalCloudState:
    endpoint: str

    @property
    def directory(self) -> Path:
        return state_root() / f"localcloud-{port_of(self.endpoint)}"

    def path(self, *parts: str) -> Path:
        p = self.directory.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def subdirectory(self, *parts: str) -> Path:
        d = self.directory.joinpath(*parts)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def credentials(self, principal: str) -> dict[str, str] | None:
        """Keys of a bootstrapped principal, or None when the emulator was not bootstrapped."""
        f = self.directory / "credentials" / f"{principal}.json"
        return json.loads(f.read_text()) if f.exists() else None

    def write_json(self, relative: str, data: Any) -> Path:
        target = self.path(relative)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        tmp.replace(target)
        return target

    def read_json(self, relative: str) -> Any:
        f = self.directory / relative
        return json.loads(f.read_text()) if f.exists() else None
