"""Run loopin.platform modules in-process against the real moto server of tests/conftest.py."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
import pytest
from ansible.module_utils.testing import patch_module_args

REGION = "ap-south-1"
ModuleRunner = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def shared_botocore_loader() -> Iterator[None]:
    """Every in-process module run builds a new boto3 session, which re-reads botocore's JSON
    service models (~0.15 s a run). Share one loader between them: speed only, same data."""
    loader = botocore.loaders.create_loader()
    with mock.patch.object(botocore.session, "create_loader", lambda *args, **kwargs: loader):
        yield


@pytest.fixture
def run_module(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str], shared_botocore_loader: None
) -> ModuleRunner:
    """run_module("ec2_vpc_flow_log", {...}, check=True, diff=True) -> the module's result dict.

    The result carries `failed` like Ansible shows it; the module runs its real code path
    (argument parsing, boto3 through AnsibleAWSModule, exit_json/fail_json output).
    """

    def run(name: str, args: dict[str, Any], check: bool = False, diff: bool = False) -> dict[str, Any]:
        module = importlib.import_module(f"ansible_collections.loopin.platform.plugins.modules.{name}")
        module_args = {**args, "_ansible_check_mode": check, "_ansible_diff": diff}
        capsys.readouterr()
        with patch_module_args(module_args), pytest.raises(SystemExit) as exit_info:
            module.main()
        out = capsys.readouterr().out
        result: dict[str, Any] = json.loads(out)
        assert ("failed" in result) == (exit_info.value.code != 0), out
        return result

    return run


@pytest.fixture
def boto(aws_env: dict[str, str]) -> Callable[[str], Any]:
    """boto("ec2") -> a client on the emulator, to create fixtures and re-read state."""
    return lambda service: boto3.client(service, region_name=REGION)


# tools/emulator.py keeps the moto log file open in the parent after Popen (the child owns a
# copy); the garbage-collected handle raises ResourceWarning, an error under our warning policy.
# Ignore exactly that one until the lead's emulator closes its copy (reported to the lead).
EMULATOR_LOG_LEAK = [
    pytest.mark.filterwarnings("ignore:unclosed file <_io.BufferedWriter name='.*emulator-:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='.*emulator-:pytest.PytestUnraisableExceptionWarning"
    ),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        for mark in EMULATOR_LOG_LEAK:
            item.add_marker(mark)
