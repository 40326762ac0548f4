"""ECS services keep the capacity provider strategy they were created or updated with.

moto's CreateService drops ``capacityProviderStrategy`` and records ``launchType: EC2``. AWS keeps
the strategy and reports no launch type. The difference matters to anything that copies a
service's placement: the deploy's migration task (loopin.platform.ecs_one_off_task) runs with the
service's strategy, and on moto's answer it asked for EC2 container instances, which a Fargate
cluster has none of (moto: 500 "No instances found in cluster"). UpdateService with a strategy
replaces it, as on AWS.
"""

from __future__ import annotations

from typing import Any

from moto.ecs.models import ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse

_create_service = EC2ContainerServiceResponse.create_service
_update_service = EC2ContainerServiceResponse.update_service


def _placed(response: EC2ContainerServiceResponse, service_name: str | None) -> None:
    strategy = response._get_param("capacityProviderStrategy")
    if not strategy or response._get_param("launchType") or not service_name:
        return
    backend = ecs_backends[response.current_account][response.region]
    cluster = response._get_param("cluster", "default").rsplit("/", 1)[-1]
    service = backend.services.get(f"{cluster}:{service_name.rsplit('/', 1)[-1]}")
    if service is None:
        return
    service.capacity_provider_strategy = [
        {
            "capacityProvider": s["capacityProvider"],
            "weight": int(s.get("weight", 0)),
            "base": int(s.get("base", 0)),
        }
        for s in strategy
    ]
    service.launch_type = None
    for deployment in service.deployments:
        if deployment.get("status") == "PRIMARY":
            deployment.pop("launchType", None)
            deployment["capacityProviderStrategy"] = service.capacity_provider_strategy


def create_service(self: EC2ContainerServiceResponse) -> Any:
    result = _create_service(self)
    _placed(self, self._get_param("serviceName"))
    return result


def update_service(self: EC2ContainerServiceResponse) -> Any:
    result = _update_service(self)
    _placed(self, self._get_param("service"))
    return result


EC2ContainerServiceResponse.create_service = create_service  # type: ignore[method-assign]
EC2ContainerServiceResponse.update_service = update_service  # type: ignore[method-assign]
