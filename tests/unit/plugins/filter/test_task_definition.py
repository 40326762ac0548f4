"""task_definition_changes: what differs between the revision a service runs and the wanted one."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.loopin.platform.plugins.filter.task_definition import task_definition_changes

# One container as the ecs role asks for it (camelCase, as the ECS API names the fields).
WANTED: dict[str, Any] = {
    "cpu": "256",
    "memory": "512",
    "containers": [
        {
            "name": "web",
            "image": "repo/web@sha256:" + "a" * 64,
            "essential": True,
            "cpu": 256,
            "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
            "environment": [
                {"name": "LOG_LEVEL", "value": "DEBUG"},
                {"name": "APP_ENV", "value": "development"},
            ],
            "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:x:1:secret:db"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
        }
    ],
}


def held(wanted: dict[str, Any] = WANTED) -> dict[str, Any]:
    """What ecs_taskdefinition_info returns for that revision: snake_case, AWS's defaults added,
    lists in another order."""
    container = copy.deepcopy(wanted["containers"][0])
    return {
        "cpu": wanted["cpu"],
        "memory": wanted["memory"],
        "network_mode": "awsvpc",
        "container_definitions": [
            {
                "name": container["name"],
                "image": container["image"],
                "essential": True,
                "cpu": container["cpu"],
                "port_mappings": [{"container_port": 8000, "host_port": 8000, "protocol": "tcp"}],
                "environment": list(reversed(container["environment"])),
                "secrets": [{"name": s["name"], "value_from": s["valueFrom"]} for s in container["secrets"]],
                "log_configuration": {"log_driver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
                "mount_points": [],
                "volumes_from": [],
            }
        ],
    }


def test_the_revision_the_service_runs_is_no_change() -> None:
    assert task_definition_changes(held(), WANTED) == []


def test_a_changed_environment_value_is_a_change() -> None:
    """The case community.aws.ecs_taskdefinition misses: same list length, one value differs."""
    wanted = copy.deepcopy(WANTED)
    wanted["containers"][0]["environment"][0]["value"] = "WARNING"
    assert task_definition_changes(held(), wanted) == [
        "containers[web].environment[LOG_LEVEL]: {'value': 'DEBUG'} -> {'value': 'WARNING'}"
    ]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda w: w.update(cpu="512"), "cpu"),
        (lambda w: w["containers"][0]["secrets"][0].update(valueFrom="arn:other"), "containers[web].secrets"),
        (
            lambda w: w["containers"][0]["environment"].append({"name": "NEW", "value": "1"}),
            "containers[web].environment",
        ),
        (lambda w: w["containers"][0]["environment"].pop(), "containers[web].environment"),
        (lambda w: w["containers"][0].update(image="repo/web@sha256:" + "b" * 64), "containers[web].image"),
        (
            lambda w: w["containers"][0]["logConfiguration"]["options"].update({"awslogs-group": "/x"}),
            "containers[web].log_configuration",
        ),
    ],
)
def test_each_kind_of_change_is_named(edit: Any, field: str) -> None:
    wanted = copy.deepcopy(WANTED)
    edit(wanted)
    changes = task_definition_changes(held(), wanted)
    assert len(changes) == 1 and changes[0].startswith(field), changes


def test_an_added_and_a_removed_variable_name_their_entry() -> None:
    wanted = copy.deepcopy(WANTED)
    wanted["containers"][0]["environment"] = [
        {"name": "APP_ENV", "value": "development"},
        {"name": "NEW", "value": "1"},
    ]
    assert task_definition_changes(held(), wanted) == [
        "containers[web].environment[LOG_LEVEL]: {'value': 'DEBUG'} -> None",
        "containers[web].environment[NEW]: None -> {'value': '1'}",
    ]


def test_no_current_revision_is_a_change() -> None:
    assert task_definition_changes(None, WANTED) == ["(no task definition yet)"]
