"""Validate an environment's configuration, or compare two, without any AWS call.

python tools/config.py validate inventories/dev
python tools/config.py diff inventories/staging inventories/production
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.loopin.platform.plugins.module_utils import inventory_schema  # noqa: E402


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """`network_zones[0].public_cidr`-style paths, so a diff shows the leaf that differs."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}"))
        return out or {prefix: {}}
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def effective(config: inventory_schema.EnvironmentConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(config.values):
        out.update(flatten(config.values[name], name))
    return out


def render(value: Any) -> str:
    return "(unset)" if value is _UNSET else json.dumps(value) if not isinstance(value, str) else value


_UNSET = object()


def load(path: str) -> inventory_schema.EnvironmentConfig:
    return inventory_schema.load(Path(path), ROOT / "roles", base=ROOT)


def cmd_validate(args: argparse.Namespace) -> int:
    config = load(args.inventory)
    if not config.ok:
        print(config.report(), file=sys.stderr)
        return 2
    print(f"{args.inventory}: valid ({len(config.values)} variables checked, no AWS call made)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    left, right = load(args.a), load(args.b)
    for config in (left, right):
        if not config.ok:
            print(config.report(), file=sys.stderr)
            return 2
    a, b = effective(left), effective(right)
    rows = [
        (key, render(a.get(key, _UNSET)), render(b.get(key, _UNSET)))
        for key in sorted(set(a) | set(b))
        if a.get(key, _UNSET) != b.get(key, _UNSET)
    ]
    if not rows:
        print(f"{args.a} and {args.b} have the same effective configuration")
        return 0
    names = (Path(args.a).name, Path(args.b).name)
    widths = [max(len(r[i]) for r in [("variable", *names), *rows]) for i in range(3)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format("variable", *names))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print(f"\n{len(rows)} of {len(set(a) | set(b))} settings differ")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check one inventory against the schema")
    validate.add_argument("inventory")
    validate.set_defaults(func=cmd_validate)
    diff = sub.add_parser("diff", help="show the settings that differ between two inventories")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=cmd_diff)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
