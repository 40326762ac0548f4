"""make check-migrations (tools/check_migrations.py): a migration that drops or renames a column or
a table is refused unless marked as the contract step of an earlier expand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_migrations  # noqa: E402

HEADER = "from django.db import migrations, models\n\n\n"
EXPAND = HEADER + (
    "class Migration(migrations.Migration):\n"
    "    dependencies = [('accounts', '0001_initial')]\n"
    "    operations = [migrations.AddField('user', 'display_name', models.TextField(default=''))]\n"
)
DROP = (
    "class Migration(migrations.Migration):\n"
    "    dependencies = [('accounts', '0002_add_display_name')]\n"
    "    operations = [migrations.RemoveField(model_name='user', name='nickname')]\n"
)


def app(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "svc/accounts/migrations"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "0001_initial.py").write_text(
        HEADER + "class Migration(migrations.Migration):\n    operations = []\n"
    )
    for name, text in files.items():
        (folder / name).write_text(text)
    return tmp_path / "svc"


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools/check_migrations.py"), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_migration_that_drops_a_column_fails_the_check(tmp_path: Path) -> None:
    result = run(app(tmp_path, {"0002_add_display_name.py": EXPAND, "0003_drop_nickname.py": HEADER + DROP}))
    assert result.returncode == 1
    assert "0003_drop_nickname.py: RemoveField (line 6) drops or renames a column/table" in result.stdout
    assert "3 migrations, 1 refused" in result.stdout


def test_renames_and_table_drops_are_refused_too(tmp_path: Path) -> None:
    body = DROP.replace(
        "migrations.RemoveField(model_name='user', name='nickname')",
        "migrations.RenameField('user', 'a', 'b'), migrations.DeleteModel('Old'),"
        " migrations.RenameModel('X', 'Y')",
    )
    result = run(app(tmp_path, {"0002_add_display_name.py": EXPAND, "0003_x.py": HEADER + body}))
    assert result.returncode == 1
    assert "RenameField (line 6), DeleteModel (line 6), RenameModel (line 6)" in result.stdout


def test_the_contract_step_of_an_earlier_expand_passes(tmp_path: Path) -> None:
    marked = HEADER + 'CONTRACT_OF = "0002_add_display_name"\n\n\n' + DROP
    result = run(app(tmp_path, {"0002_add_display_name.py": EXPAND, "0003_drop_nickname.py": marked}))
    assert result.returncode == 0, result.stdout
    assert "3 migrations, 0 refused" in result.stdout


def test_a_marker_naming_no_earlier_migration_is_refused(tmp_path: Path) -> None:
    for target in ("0009_missing", "0003_drop_nickname"):
        marked = HEADER + f'CONTRACT_OF = "{target}"\n\n\n' + DROP
        folder = tmp_path / target
        folder.mkdir()
        result = run(app(folder, {"0002_add_display_name.py": EXPAND, "0003_drop_nickname.py": marked}))
        assert result.returncode == 1
        assert f"CONTRACT_OF = '{target}' names no earlier migration" in result.stdout


def test_the_services_migrations_pass_and_are_found() -> None:
    found = check_migrations.migrations([ROOT / "services"])
    assert len(found) >= 2
    assert [p for path in found for p in check_migrations.check(path)] == []


def test_make_lint_runs_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "check-migrations:" in makefile
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "check_migrations.py" in lint or "check-migrations" in lint
