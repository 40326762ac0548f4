"""ElastiCache nodes that exist: a replication group's endpoint is a Redis server on 127.0.0.1.

moto answers with endpoints such as ``master.<group>.xxxxxx.aps1.cache.amazonaws.com`` that
nothing serves. Here the primary and reader endpoints are 127.0.0.1 at the group's port, and the
data plane (``localcloud.dataplane.elasticache``) runs a ``redis-server`` there with the group's
settings: TLS when in-transit encryption is on (a certificate from the local CA), AUTH with the
group's token. AWS never returns a group's AUTH token; the data plane reads it, as AWS's own
nodes would have it, from ``GET /_localcloud/elasticache/nodes``.

Not modelled: replicas (one node serves the group), failover, snapshots, cluster mode, AUTH token
rotation (moto's ModifyReplicationGroup takes no token).
"""

from __future__ import annotations

from typing import Any

from moto.elasticache.models import ReplicationGroup, elasticache_backends

from localcloud.emulator import control

NODE_ADDRESS = "127.0.0.1"

_original_init = ReplicationGroup.__init__


def _init(self: ReplicationGroup, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self._lc_auth_token = kwargs.get("auth_token")
    for group in self.node_groups:
        if "primary_endpoint_address" in group:
            group["primary_endpoint_address"] = group["reader_endpoint_address"] = NODE_ADDRESS
            group["primary_endpoint"]["address"] = NODE_ADDRESS
        for member in group.get("node_group_members", []):
            member["read_endpoint"]["address"] = NODE_ADDRESS
    if getattr(self, "configuration_endpoint", None):
        self.configuration_endpoint["address"] = NODE_ADDRESS


ReplicationGroup.__init__ = _init  # type: ignore[method-assign]


@control.route("GET", "/_localcloud/elasticache/nodes")
def nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for account in elasticache_backends.values():
        for backend in account.values():
            for group in list(backend.replication_groups.values()):
                if getattr(group, "status", "available") == "deleting":
                    continue
                found.append(
                    {
                        "replicationGroupId": group.replication_group_id,
                        "address": NODE_ADDRESS,
                        "port": int(group.port),
                        "tls": bool(group.transit_encryption_enabled),
                        "authToken": getattr(group, "_lc_auth_token", None),
                    }
                )
    return found
