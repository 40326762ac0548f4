"""The modules as Ansible really runs them: packaged by AnsiballZ, configured only through
`module_defaults: group/loopin.platform.aws`; a --check --diff run after converging changes nothing.

`group/aws` alone does not reach them: it is ansible.builtin's group of amazon.aws + community.aws.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import budget

ROOT = Path(__file__).resolve().parents[4]
PLAYBOOK = """
- name: Every loopin.platform AWS module under group/loopin.platform.aws
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/loopin.platform.aws:
      region: ap-south-1
      endpoint_url: "{{ emulator }}"
      access_key: testing
      secret_key: testing
  tasks:
    - name: Queue
      community.aws.sqs_queue:
        name: background-jobs
    - name: Queue encryption
      loopin.platform.sqs_queue_encryption:
        queue_name: background-jobs
        encryption: sqs
    - name: Certificate
      loopin.platform.acm_certificate_request:
        domain_name: api.loopin.example
        tags: {Project: loopin}
      register: certificate
    - name: Schedule
      loopin.platform.scheduler_schedule:
        name: loopin-nightly
        schedule_expression: rate(1 day)
        target:
          arn: arn:aws:sqs:ap-south-1:123456789012:background-jobs
          role_arn: arn:aws:iam::123456789012:role/scheduler
          input: {task: nightly}
    - name: Redis
      loopin.platform.elasticache_replication_group:
        replication_group_id: loopin-play
        cache_node_type: cache.t4g.micro
        transit_encryption_enabled: true
        at_rest_encryption_enabled: true
        auth_token: "{{ redis_auth_token }}"
      no_log: true
    - name: Read back
      loopin.platform.elasticache_replication_group_info:
        replication_group_id: loopin-play
      register: redis
    - name: Info modules answer
      loopin.platform.scheduler_schedule_info:
        name: loopin-nightly
      register: schedules
    - name: Flow logs info
      loopin.platform.ec2_vpc_flow_log_info: {}
    - name: Check what was read
      ansible.builtin.assert:
        that:
          - certificate.validation_records | length == 1
          - redis.replication_groups[0].auth_token_enabled
          - schedules.schedules[0].state == 'ENABLED'
"""
TOKEN = "playbook-Auth-Token-0123456789"


def run_playbook(tmp_path: Path, endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    # No AWS_* variables: region, endpoint and credentials must come from module_defaults.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"emulator={endpoint} redis_auth_token={TOKEN}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *extra,
            str(playbook),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=budget.timeout("tier"),
        check=False,
    )


def recap(output: str) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*(.*)", output.split("PLAY RECAP")[-1])
    assert match, output
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_playbook_converges_then_plans_no_change(aws_env: dict[str, Any], tmp_path: Path) -> None:
    endpoint = aws_env["AWS_ENDPOINT_URL"]
    first = run_playbook(tmp_path, endpoint)
    assert first.returncode == 0, first.stdout + first.stderr
    # queue, certificate, schedule, redis; the encryption task finds SSE-SQS on (AWS default)
    assert recap(first.stdout)["changed"] == 4
    # Real-mode idempotence of each module is in its own test; here the plan of a converged
    # stack must be empty and must not leak the AUTH token through --diff.
    plan = run_playbook(tmp_path, endpoint, "--check", "--diff")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert recap(plan.stdout)["changed"] == 0, plan.stdout
    assert TOKEN not in first.stdout + first.stderr + plan.stdout + plan.stderr
