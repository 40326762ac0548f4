"""IAM policy evaluation for the local cloud, by @cloud-copilot/iam-simulate (policy/evaluate.cjs).

moto's own evaluator matches actions only and gets conditions wrong (a failing condition on an
Allow denies, only StringEquals is known, ``?`` in a Resource crashes it), so every decision that
depends on resources or conditions is made here: role trust at AssumeRole* time in the emulator,
and the resource-level least-privilege check over the recorded calls.

One ``node`` process answers a whole batch (about 0.2 s). The package is installed by
``make venv`` into ``<venv>/policy/node_modules`` (``npm ci`` of ``policy/package-lock.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCRIPT = Path(__file__).resolve().parent / "policy" / "evaluate.cjs"
Decision = Literal["Allowed", "ImplicitlyDenied", "ExplicitlyDenied", "Error"]


class EvaluatorUnavailable(RuntimeError):
    pass


def node_modules() -> Path:
    """Where ``make venv`` installed the evaluator: beside the interpreter running this code."""
    configured = os.environ.get("LOOPIN_POLICY_NODE_MODULES")
    return Path(configured) if configured else Path(sys.prefix) / "policy" / "node_modules"


@dataclass(frozen=True)
class Request:
    """One question: may `principal` do `action` on `resource` under these policies?"""

    principal: str
    action: str
    resource: str
    account: str
    policies: Sequence[Mapping[str, Any]] = ()
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    trust: Mapping[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "mode": "identity" if self.trust is None else "trust",
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "account": self.account,
            "context": dict(self.context),
            "policies": [
                {"name": f"policy{i}", "policy": p} if "Statement" in p else dict(p)
                for i, p in enumerate(self.policies)
            ],
            **({"trust": self.trust} if self.trust is not None else {}),
        }


@dataclass(frozen=True)
class Result:
    decision: Decision
    errors: Any = None
    ignored_context_keys: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


@dataclass(frozen=True)
class ActionInfo:
    exists: bool
    wildcard_only: bool | None


def _run(payload: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    modules = node_modules()
    if node is None or not modules.is_dir():
        raise EvaluatorUnavailable(
            f"the IAM policy evaluator needs Node.js and {modules} "
            f"(run `make venv`; node: {node or 'missing'})"
        )
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise EvaluatorUnavailable(
            f"policy evaluator failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def evaluate(requests: Sequence[Request]) -> list[Result]:
    if not requests:
        return []
    answer = _run({"requests": [r.payload() for r in requests]})
    return [
        Result(
            decision=r["decision"],
            errors=r.get("errors"),
            ignored_context_keys=tuple(r.get("ignoredContextKeys") or ()),
        )
        for r in answer["results"]
    ]


def evaluate_one(request: Request) -> Result:
    return evaluate([request])[0]


def describe_actions(actions: Iterable[str]) -> dict[str, ActionInfo]:
    """Whether each action exists and whether IAM scopes it to resources at all (wildcard-only)."""
    wanted = sorted(set(actions))
    if not wanted:
        return {}
    answer = _run({"actions": wanted})["actions"]
    return {a: ActionInfo(exists=v["exists"], wildcard_only=v["wildcardOnly"]) for a, v in answer.items()}
