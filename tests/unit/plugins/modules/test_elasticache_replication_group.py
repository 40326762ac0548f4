"""loopin.platform.elasticache_replication_group and _info against a real moto server."""

from __future__ import annotations

import json
from typing import Any

GROUP = "loopin-test"
TOKEN = "s3cr3t-Auth-Token-0123456789"
TAGS = {"Project": "loopin", "Environment": "test", "ManagedBy": "ansible"}
ARGS: dict[str, Any] = {
    "replication_group_id": GROUP,
    "description": "Loopin cache",
    "engine": "redis",
    "engine_version": "7.1",
    "cache_node_type": "cache.t4g.small",
    "replicas": 1,
    "automatic_failover_enabled": True,
    "multi_az_enabled": True,
    "security_group_ids": ["sg-12345678"],
    "transit_encryption_enabled": True,
    "at_rest_encryption_enabled": True,
    "auth_token": TOKEN,
    "snapshot_retention_limit": 7,
    "snapshot_window": "03:00-04:00",
    "tags": TAGS,
}


def stored(boto: Any) -> dict[str, Any] | None:
    groups = [
        g
        for g in boto("elasticache").describe_replication_groups()["ReplicationGroups"]
        if g["Status"] != "deleting"  # moto never forgets a deleted group
    ]
    return groups[0] if groups else None


def test_lifecycle(run_module: Any, boto: Any) -> None:
    result = run_module("elasticache_replication_group", ARGS, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["auth_token_enabled"] is True
    assert TOKEN not in json.dumps(result)
    assert stored(boto) is None

    result = run_module("elasticache_replication_group", ARGS, diff=True)
    assert result["changed"] is True
    assert TOKEN not in json.dumps(result)
    group = result["replication_group"]
    assert group["replicas"] == 1
    assert group["primary_endpoint"]["port"] == 6379
    assert group["auth_token_enabled"] is True
    assert group["tags"] == TAGS
    current = stored(boto)
    assert current is not None
    assert (current["TransitEncryptionEnabled"], current["AtRestEncryptionEnabled"]) == (True, True)
    assert (current["AutomaticFailover"], current["MultiAZ"]) == ("enabled", "enabled")
    assert current["SnapshotRetentionLimit"] == 7
    assert len(current["NodeGroups"][0]["NodeGroupMembers"]) == 2

    for check in (False, True):
        again = run_module("elasticache_replication_group", ARGS, check=check, diff=True)
        assert again["changed"] is False, again["changes"]
        assert again["diff"]["before"] == again["diff"]["after"]

    # in-place modification: check mode reports it and changes nothing
    bigger = {**ARGS, "cache_node_type": "cache.t4g.medium", "snapshot_retention_limit": 3}
    result = run_module("elasticache_replication_group", bigger, check=True, diff=True)
    assert result["changed"] is True
    assert result["changes"] == ["cache_node_type", "snapshot_retention_limit"]
    assert result["diff"]["before"]["cache_node_type"] == "cache.t4g.small"
    assert result["diff"]["after"]["cache_node_type"] == "cache.t4g.medium"
    assert stored(boto)["CacheNodeType"] == "cache.t4g.small"  # type: ignore[index]
    result = run_module("elasticache_replication_group", bigger)
    assert result["changed"] is True
    assert (stored(boto)["CacheNodeType"], stored(boto)["SnapshotRetentionLimit"]) == (  # type: ignore[index]
        "cache.t4g.medium",
        3,
    )
    assert run_module("elasticache_replication_group", bigger)["changed"] is False

    # tags in place
    result = run_module("elasticache_replication_group", {**bigger, "tags": {**TAGS, "Tier": "data"}})
    assert result["changed"] is True and result["changes"] == ["tags"]
    assert result["replication_group"]["tags"] == {**TAGS, "Tier": "data"}

    # an immutable field: clear failure naming it, nothing changed
    result = run_module("elasticache_replication_group", {**bigger, "at_rest_encryption_enabled": False})
    assert result["failed"] is True
    assert "cannot change at_rest_encryption_enabled" in result["msg"]
    assert stored(boto)["AtRestEncryptionEnabled"] is True  # type: ignore[index]

    info = run_module("elasticache_replication_group_info", {"replication_group_id": GROUP})
    [described] = info["replication_groups"]
    assert described["replication_group_id"] == GROUP
    assert described["transit_encryption_enabled"] is True
    assert TOKEN not in json.dumps(info)

    absent = {"replication_group_id": GROUP, "state": "absent"}
    result = run_module("elasticache_replication_group", absent, check=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert stored(boto) is not None
    assert run_module("elasticache_replication_group", absent)["changed"] is True
    assert stored(boto) is None
    assert run_module("elasticache_replication_group", absent)["changed"] is False


def test_single_node_without_auth(run_module: Any, boto: Any) -> None:
    args = {"replication_group_id": "loopin-dev", "cache_node_type": "cache.t4g.micro", "replicas": 0}
    assert run_module("elasticache_replication_group", args)["changed"] is True
    assert run_module("elasticache_replication_group", args)["changed"] is False
    result = run_module("elasticache_replication_group", {**args, "auth_token": TOKEN})
    assert result["failed"] is True
    assert "auth_token requires transit_encryption_enabled=true" in result["msg"]


def test_bad_input(run_module: Any, boto: Any) -> None:
    cases = [
        ({**ARGS, "auth_token": "short"}, "auth_token must be 16 to 128"),
        (
            {**ARGS, "transit_encryption_enabled": False},
            "auth_token requires transit_encryption_enabled=true",
        ),
        ({**ARGS, "replicas": 0}, "automatic_failover_enabled=true requires replicas >= 1"),
        ({**ARGS, "replicas": 6}, "replicas must be between 0 and 5"),
        ({"replication_group_id": GROUP}, "cache_node_type is required"),
    ]
    for args, message in cases:
        result = run_module("elasticache_replication_group", args)
        assert result["failed"] is True, args
        assert message in result["msg"]
        assert "short" not in result["msg"] and TOKEN not in json.dumps(result)
    assert stored(boto) is None
