"""Expand/contract check of the Django migrations (docs/delivery.md): a release only adds to the
schema, so the release still running during a blue/green deploy keeps working on the migrated
database. A migration that drops or renames a column or a table (RemoveField, DeleteModel,
RenameField, RenameModel) is refused unless it is the contract step of an earlier expand: it then
says so with a module-level marker naming that earlier migration of the same app,

    CONTRACT_OF = "0003_add_display_name"

and that migration must exist (it shipped in an earlier release, which stopped using the column).

    python tools/check_migrations.py [ROOT ...]     # default: services/
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DESTRUCTIVE = {"RemoveField", "DeleteModel", "RenameField", "RenameModel"}
MARKER = "CONTRACT_OF"


def operations(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DESTRUCTIVE:
                found.append((name, node.lineno))
    return found


def marker(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == MARKER for t in node.targets
        ):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def check(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    destructive = operations(tree)
    if not destructive:
        return []
    expand = marker(tree)
    what = ", ".join(f"{name} (line {line})" for name, line in destructive)
    if expand is None:
        return [
            f"{path}: {what} drops or renames a column/table. Migrations only add (expand/contract, "
            f"docs/delivery.md): drop it in a later release that no longer uses it, marked "
            f'{MARKER} = "<the expand migration>"'
        ]
    if expand == path.stem or not (path.parent / f"{expand}.py").is_file():
        return [f"{path}: {MARKER} = {expand!r} names no earlier migration in {path.parent}"]
    if expand >= path.stem:
        return [f"{path}: {MARKER} = {expand!r} is not earlier than {path.stem}"]
    return []


def migrations(roots: list[Path]) -> list[Path]:
    return sorted(
        p
        for root in roots
        for p in root.rglob("migrations/*.py")
        if p.name != "__init__.py" and ".venv" not in p.parts
    )


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent / "services"]
    found = migrations(roots)
    problems = [problem for path in found for problem in check(path)]
    for problem in problems:
        print(f"REFUSED {problem}")
    print(f"check-migrations: {len(found)} migrations, {len(problems)} refused")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
