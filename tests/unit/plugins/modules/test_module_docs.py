"""Each module's DOCUMENTATION agrees with its argument_spec, and every module joins group/aws.

A cheap, offline stand-in for `ansible-test sanity --test validate-modules` (which needs network
access to bootstrap its own virtualenv): documentation drift is caught on every pytest run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[4] / "collections/ansible_collections/loopin/platform"
# The AWS modules (built on AnsibleAWSModule); they must all join the `aws` action group.
MODULES = sorted(
    p.stem for p in (COLLECTION / "plugins/modules").glob("*.py") if "AnsibleAWSModule(" in p.read_text()
)
# Options a documentation fragment documents but the module's own argument_spec declares.
FRAGMENT_OPTIONS = {
    "amazon.aws.tags": {
        "tags": {"type": "dict", "aliases": ["resource_tags"]},
        "purge_tags": {"type": "bool", "default": True},
    }
}
COMPARED = ("type", "default", "choices", "elements", "required", "aliases")


class Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


def argument_spec(name: str) -> dict[str, Any]:
    module = importlib.import_module(f"ansible_collections.loopin.platform.plugins.modules.{name}")

    def capture(**kwargs: Any) -> None:
        raise Captured(kwargs)

    with mock.patch.object(module, "AnsibleAWSModule", capture), pytest.raises(Captured) as captured:
        module.main()
    return dict(captured.value.kwargs["argument_spec"])


def normalized(spec: dict[str, Any]) -> dict[str, Any]:
    result = {key: spec.get(key) for key in COMPARED}
    result["type"] = result["type"] or "str"
    result["required"] = bool(result["required"])
    result["aliases"] = sorted(result["aliases"] or [])
    return result


def compare(doc_options: dict[str, Any], spec: dict[str, Any], where: str) -> list[str]:
    problems = []
    if set(doc_options) != set(spec):
        problems.append(f"{where}: documented {sorted(doc_options)} but argument_spec has {sorted(spec)}")
    for option in sorted(set(doc_options) & set(spec)):
        documented, actual = normalized(doc_options[option]), normalized(spec[option])
        for key in COMPARED:
            if documented[key] != actual[key]:
                problems.append(
                    f"{where}.{option}.{key}: documented {documented[key]!r}, code {actual[key]!r}"
                )
        if spec[option].get("options") or doc_options[option].get("suboptions"):
            problems += compare(
                doc_options[option].get("suboptions") or {},
                spec[option].get("options") or {},
                f"{where}.{option}",
            )
    return problems


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_argument_spec(name: str) -> None:
    module = importlib.import_module(f"ansible_collections.loopin.platform.plugins.modules.{name}")
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == name
    assert yaml.safe_load(module.RETURN)
    examples = yaml.safe_load(module.EXAMPLES)
    assert all(f"loopin.platform.{name}" in task for task in examples if "loopin.platform." in str(task))
    doc_options = dict(doc["options"])
    for fragment in doc.get("extends_documentation_fragment", []):
        doc_options.update(FRAGMENT_OPTIONS.get(fragment, {}))
    assert compare(doc_options, argument_spec(name), name) == []


def test_every_module_joins_group_aws() -> None:
    runtime = yaml.safe_load((COLLECTION / "meta/runtime.yml").read_text())
    group = runtime["action_groups"]["aws"]
    assert {"metadata": {"extend_group": ["amazon.aws.aws", "community.aws.aws"]}} in group
    assert set(MODULES) <= {entry for entry in group if isinstance(entry, str)}
