"""moto's server, closer to AWS where the roles depend on it (ALB attributes, ElastiCache deletion).

AWS's DescribeLoadBalancerAttributes lists every attribute of an ALB with its default; moto 5.2.5
returns only five (it drops `access_logs.s3.enabled` and `idle_timeout.timeout_seconds` on
purpose, for Terraform), and amazon.aws.elb_application_lb then fails with a KeyError on the first
attribute it compares. tools/emulator.py starts this wrapper instead of `python -m moto.server`;
the arguments are moto.server's own.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.elbv2 import models

# AWS's defaults for an application load balancer (elbv2 API reference, November 2026).
ALB_DEFAULT_ATTRIBUTES = {
    "access_logs.s3.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.preserve_host_header.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "waf.fail_open.enabled": "false",
    "client_keep_alive.seconds": "3600",
}

_original_init = models.FakeLoadBalancer.__init__


def _init_with_defaults(self: models.FakeLoadBalancer, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    if self.type == "application":
        for key, value in ALB_DEFAULT_ATTRIBUTES.items():
            self.attrs.setdefault(key, value)


models.FakeLoadBalancer.__init__ = _init_with_defaults  # type: ignore[method-assign]

# moto marks a deleted replication group "deleting" and keeps it forever, so its subnet group can
# never be deleted; AWS removes the group once it has deleted it. Remove it at once.
_original_delete_group = ElastiCacheBackend.delete_replication_group


def _delete_group_for_good(
    self: ElastiCacheBackend, replication_group_id: str, *args: Any, **kwargs: Any
) -> Any:
    group = _original_delete_group(self, replication_group_id, *args, **kwargs)
    self.replication_groups.pop(replication_group_id, None)
    return group


ElastiCacheBackend.delete_replication_group = _delete_group_for_good  # type: ignore[method-assign]


# moto 5.2.5 does not implement DeleteCacheSubnetGroup (500 NotImplementedError).
def _delete_cache_subnet_group(self: ElastiCacheResponse) -> ActionResult:
    name = self._get_param("CacheSubnetGroupName")
    self.elasticache_backend.cache_subnet_groups.pop(name, None)
    return ActionResult({})


ElastiCacheResponse.delete_cache_subnet_group = _delete_cache_subnet_group  # type: ignore[attr-defined]


if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
