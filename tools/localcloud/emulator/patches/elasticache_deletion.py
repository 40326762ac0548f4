"""ElastiCache deletion: groups go away once deleted, and subnet groups can be deleted.

moto marks a deleted replication group "deleting" and keeps it forever, so its subnet group can
never be deleted; AWS removes the group once it has deleted it, so it is removed at once here.
moto 5.2.5 does not implement DeleteCacheSubnetGroup (500 NotImplementedError).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse

_original_delete_group = ElastiCacheBackend.delete_replication_group


def _delete_group_for_good(
    self: ElastiCacheBackend, replication_group_id: str, *args: Any, **kwargs: Any
) -> Any:
    group = _original_delete_group(self, replication_group_id, *args, **kwargs)
    self.replication_groups.pop(replication_group_id, None)
    return group


ElastiCacheBackend.delete_replication_group = _delete_group_for_good  # type: ignore[method-assign]


def _delete_cache_subnet_group(self: ElastiCacheResponse) -> ActionResult:
    name = self._get_param("CacheSubnetGroupName")
    self.elasticache_backend.cache_subnet_groups.pop(name, None)
    return ActionResult({})


ElastiCacheResponse.delete_cache_subnet_group = _delete_cache_subnet_group  # type: ignore[attr-defined]
