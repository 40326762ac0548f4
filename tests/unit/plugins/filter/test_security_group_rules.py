"""Security-group rules compared in one shape: only real changes reach the plan."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.loopin.platform.plugins.filter.security_group_rules import (
    sg_rules_held,
    sg_rules_wanted,
)
from ansible_collections.loopin.platform.plugins.module_utils.resource_diff import Change, changes

# One group as ec2_security_group_info returns it (boto3's answer in snake case).
HELD = {
    "group_name": "loopin-local-web",
    "description": "Web service tasks",
    "ip_permissions": [
        {
            "ip_protocol": "tcp",
            "from_port": 8000,
            "to_port": 8000,
            "ip_ranges": [],
            "user_id_group_pairs": [
                {"group_id": "sg-0a1", "user_id": "123", "description": "Requests from the ALB"}
            ],
        }
    ],
    "ip_permissions_egress": [
        {
            "ip_protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "ip_ranges": [{"cidr_ip": "0.0.0.0/0", "description": "HTTPS to AWS APIs"}],
        },
        {
            "ip_protocol": "tcp",
            "from_port": 6379,
            "to_port": 6379,
            "user_id_group_pairs": [{"group_id": "sg-0b2"}],
        },
    ],
}

# The same rules as the role writes them (roles/security_groups/templates/rules.yml.j2).
WANTED = {
    "ingress": [
        {"proto": "tcp", "ports": ["8000"], "group_id": "sg-0a1", "rule_desc": "Requests from the ALB"}
    ],
    "egress": [
        {"proto": "tcp", "ports": [6379], "group_id": "sg-0b2"},
        {"proto": "tcp", "ports": [443], "cidr_ip": "0.0.0.0/0", "rule_desc": "HTTPS to AWS APIs"},
    ],
}


def test_the_same_rules_in_both_forms_are_no_change() -> None:
    # a port as a string, rules in another order, a rule without a description: none is a change
    assert changes(sg_rules_held(HELD), sg_rules_wanted(WANTED)) == []


def test_a_port_change_shows_the_rule_removed_and_the_rule_added() -> None:
    wanted = {**WANTED, "ingress": [{**WANTED["ingress"][0], "ports": [8080]}]}
    found = changes(sg_rules_held(HELD), sg_rules_wanted(wanted))
    assert [(c.path, c.old, c.new) for c in found] == [
        (
            "ingress[tcp 8080 sg-0a1]",
            "(absent)",
            {"name": "tcp 8080 sg-0a1", "description": "Requests from the ALB"},
        ),
        (
            "ingress[tcp 8000 sg-0a1]",
            {"name": "tcp 8000 sg-0a1", "description": "Requests from the ALB"},
            "(absent)",
        ),
    ]


def test_a_description_change_is_the_only_attribute_shown() -> None:
    wanted = {**WANTED, "ingress": [{**WANTED["ingress"][0], "rule_desc": "Requests from the load balancer"}]}
    assert changes(sg_rules_held(HELD), sg_rules_wanted(wanted)) == [
        Change(
            "ingress[tcp 8000 sg-0a1].description", "Requests from the ALB", "Requests from the load balancer"
        )
    ]


def test_an_out_of_band_rule_is_shown_as_removed() -> None:
    held = {
        **HELD,
        "ip_permissions": [
            *HELD["ip_permissions"],
            {"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "10.0.0.0/8"}]},
        ],
    }
    found = changes(sg_rules_held(held), sg_rules_wanted(WANTED))
    assert [(c.path, c.new) for c in found] == [("ingress[all all 10.0.0.0/8]", "(absent)")]


def test_a_group_that_must_lose_every_egress_rule() -> None:
    found = changes(sg_rules_held(HELD), sg_rules_wanted({**WANTED, "egress": []}))
    assert [c.path for c in found] == ["egress"]
    assert found[0].new == []


def test_a_missing_group_holds_nothing() -> None:
    assert sg_rules_held(None) == {"ingress": [], "egress": []}


def test_a_rule_with_two_peers_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="exactly one peer"):
        sg_rules_wanted(
            {"ingress": [{"proto": "tcp", "ports": [1], "cidr_ip": "0.0.0.0/0", "group_id": "sg-1"}]}
        )
