# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
---
name: deploy_progress
type: aggregate
short_description: Print the blue/green gate's progress line at every retry of a watch
description:
  - The deploy watches each phase with an C(until) loop over loopin.platform.bluegreen_gate (and
    worker_rollout_gate); the default callback prints only "FAILED - RETRYING" between calls. This
    one adds the gate's line - step, weights, alarm states, healthy targets, time left in the bake.
  - Enabled by C(make deploy) through C(ANSIBLE_CALLBACKS_ENABLED).
author:
  - Loopin platform team (@loopin-platform)
requirements:
  - enable in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "loopin.platform.deploy_progress"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_retry(self, result):
        data = result._result
        if isinstance(data.get("decision"), dict) and data.get("msg"):
            self._display.display(f"  deploy progress: {data['msg']}", color="cyan")
