"""Invalid YAML in an inventory is reported at its file and line, before any task runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ansible_collections.loopin.platform.plugins.vars.located_group_vars import located_error

ROOT = Path(__file__).resolve().parents[4]


def test_valid_yaml_and_ansible_tags_pass() -> None:
    assert (
        located_error("f.yml", "a: 1\nb: !unsafe '{{ x }}'\nc: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n")
        is None
    )


def test_an_unclosed_list_names_the_line_and_where_it_started() -> None:
    error = located_error("group_vars/all/edge.yml", "---\nwaf_rate_limit: [1000\nfoo: bar\n")
    assert error == (
        "group_vars/all/edge.yml:3:4: invalid YAML: did not find expected ',' or ']'"
        " (while parsing a flow sequence started at line 2, column 17)"
    )


def test_a_tab_indent_names_its_line() -> None:
    assert located_error("x.yml", "a:\n\tb: 1\n").startswith("x.yml:2:1: invalid YAML:")


def test_a_playbook_on_a_broken_inventory_stops_with_the_file_and_line(tmp_path: Path) -> None:
    inventory = tmp_path / "local"
    shutil.copytree(ROOT / "inventories" / "local", inventory)
    edge = inventory / "group_vars" / "all" / "edge.yml"
    lines = edge.read_text().count("\n")
    edge.write_text(edge.read_text() + "waf_rate_limit: [1000\nfoo: bar\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(inventory),
            "playbooks/site.yml",
            "--check",
        ],
        cwd=ROOT,
        env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # nothing listens: no call may be made
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    assert f"{edge}:{lines + 2}:4: invalid YAML" in run.stdout + run.stderr, run.stdout[-2000:] + run.stderr
    assert "TASK [" not in run.stdout
