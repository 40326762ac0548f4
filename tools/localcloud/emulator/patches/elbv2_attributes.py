"""ALB attributes: AWS lists every attribute of a load balancer with its default.

moto 5.2.5 returns only five (it drops ``access_logs.s3.enabled`` and
``idle_timeout.timeout_seconds`` on purpose, for Terraform), and amazon.aws.elb_application_lb
then fails with a KeyError on the first attribute it compares.
"""

from __future__ import annotations

from typing import Any

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
