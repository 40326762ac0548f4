#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: change_window
short_description: Refuse a change outside the environment's deployment window unless it is an emergency
version_added: 0.1.0
description:
  - The strategy's change management deploys production only Tuesday to Thursday, 14:00-16:00 IST.
    With O(enforce=true) the module fails outside O(days) / O(start)-O(end) (in IST), unless
    O(emergency=true), which passes with a warning naming who ran it and when (the playbook also
    records it on the listener rule's tags, so CloudTrail keeps it).
  - No AWS call; the time is the controller's clock (UTC), or O(now) for tests.
author:
  - Loopin platform team (@loopin-platform)
options:
  enforce:
    description: Whether this environment has a window at all.
    type: bool
    default: true
  days:
    description: Days of the week (mon..sun) the window opens.
    type: list
    elements: str
    default: [tue, wed, thu]
  start:
    description: Opening time, HH:MM in IST.
    type: str
    default: "14:00"
  end:
    description: Closing time, HH:MM in IST (exclusive).
    type: str
    default: "16:00"
  emergency:
    description: An emergency change, allowed outside the window and logged.
    type: bool
    default: false
  reason:
    description: Why the emergency change is needed (shown in the log line).
    type: str
    default: ""
  now:
    description: ISO 8601 time with an offset, instead of the clock (tests).
    type: str
notes:
  - Supports C(check_mode) (it only reads the clock).
"""

EXAMPLES = r"""
- name: Production deploys only in the window
  loopin.platform.change_window:
    enforce: "{{ deploy_window_enforced }}"
    emergency: "{{ deploy_emergency_change }}"
"""

RETURN = r"""
inside:
  description: Whether now is inside the window.
  returned: always
  type: bool
emergency:
  description: Whether the change passed only because it is an emergency.
  returned: always
  type: bool
now_ist:
  description: The time checked, in IST.
  returned: always
  type: str
msg:
  description: What was decided.
  returned: always
  type: str
"""

import getpass
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.loopin.platform.plugins.module_utils.bluegreen import DAYS, IST, in_window


def main():
    module = AnsibleModule(
        argument_spec=dict(
            enforce=dict(type="bool", default=True),
            days=dict(type="list", elements="str", default=["tue", "wed", "thu"]),
            start=dict(type="str", default="14:00"),
            end=dict(type="str", default="16:00"),
            emergency=dict(type="bool", default=False),
            reason=dict(type="str", default=""),
            now=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad_days = [d for d in params["days"] if d.lower()[:3] not in DAYS]
    if bad_days:
        module.fail_json(msg=f"days must be among {list(DAYS)}, got {bad_days}")
    try:
        now = datetime.fromisoformat(params["now"]) if params["now"] else datetime.now(timezone.utc)
        inside = in_window(now, params["days"], params["start"], params["end"])
    except ValueError as e:
        module.fail_json(msg=f"bad window or time: {e}")
    window = f"{'/'.join(params['days'])} {params['start']}-{params['end']} IST"
    now_ist = now.astimezone(IST).strftime("%a %Y-%m-%d %H:%M IST")
    result = {"changed": False, "inside": inside, "emergency": False, "now_ist": now_ist}
    if not params["enforce"] or inside:
        why = "no deployment window in this environment" if not params["enforce"] else f"inside {window}"
        module.exit_json(msg=f"{now_ist}: {why}", **result)
    if not params["emergency"]:
        module.fail_json(
            msg=f"{now_ist} is outside the deployment window ({window}); re-run with "
            "-e emergency_change=true for an emergency change (it is logged)",
            **result,
        )
    line = (
        f"EMERGENCY CHANGE outside the deployment window ({window}) at {now_ist} by {getpass.getuser()}"
        + (f": {params['reason']}" if params["reason"] else "")
    )
    module.warn(line)
    result["emergency"] = True
    module.exit_json(msg=line, **result)


if __name__ == "__main__":
    main()
