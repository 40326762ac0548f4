# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security-group rules in one shape, whether AWS holds them or a role wants them.

amazon.aws.ec2_security_group's own --diff compares its argument form with AWS's answer field by
field, so a plan shows changes that are none (``from_port: 8000`` -> ``'8000'``, a rule's
description replaced by the group's). These filters turn both sides into the same list of named
rules, one per (direction, protocol, port range, peer), with the rule's description as its only
attribute, so that loopin.platform.resource_diff shows only a rule added, removed or described
differently:

    group | loopin.platform.sg_rules_held
    wanted | loopin.platform.sg_rules_wanted
    -> {"ingress": [{"name": "tcp 443 0.0.0.0/0", "description": "HTTPS ..."}], "egress": [...]}
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _ports(from_port: Any, to_port: Any) -> str:
    if from_port in (None, -1, "-1"):
        return "all"
    return str(from_port) if str(from_port) == str(to_port) else f"{from_port}-{to_port}"


def _protocol(value: Any) -> str:
    return "all" if str(value) == "-1" else str(value)


def _rule(protocol: str, ports: str, peer: str, description: str | None) -> dict[str, str]:
    return {"name": f"{protocol} {ports} {peer}", "description": description or ""}


def _held(permissions: list[dict[str, Any]]) -> list[dict[str, str]]:
    rules = []
    for permission in permissions or []:
        protocol = _protocol(permission.get("ip_protocol"))
        ports = "all" if protocol == "all" else _ports(permission.get("from_port"), permission.get("to_port"))
        for cidr in permission.get("ip_ranges") or []:
            rules.append(_rule(protocol, ports, cidr["cidr_ip"], cidr.get("description")))
        for cidr in permission.get("ipv6_ranges") or []:
            rules.append(_rule(protocol, ports, cidr["cidr_ipv6"], cidr.get("description")))
        for pair in permission.get("user_id_group_pairs") or []:
            rules.append(_rule(protocol, ports, pair["group_id"], pair.get("description")))
        for prefix in permission.get("prefix_list_ids") or []:
            rules.append(_rule(protocol, ports, prefix["prefix_list_id"], prefix.get("description")))
    return sorted(rules, key=lambda rule: rule["name"])


def sg_rules_held(group: dict[str, Any] | None) -> dict[str, list[dict[str, str]]]:
    """`group`: one item of ec2_security_group_info's security_groups (None: it does not exist)."""
    group = group or {}
    return {
        "ingress": _held(group.get("ip_permissions")),
        "egress": _held(group.get("ip_permissions_egress")),
    }


def _wanted(rules: list[dict[str, Any]]) -> list[dict[str, str]]:
    found = []
    for rule in rules or []:
        protocol = _protocol(rule.get("proto", "tcp"))
        peers = [rule[key] for key in ("cidr_ip", "cidr_ipv6", "group_id", "ip_prefix") if rule.get(key)]
        if len(peers) != 1 or isinstance(peers[0], list):
            raise AnsibleFilterError(f"sg_rules_wanted: a rule names exactly one peer, got {rule!r}")
        if protocol == "all":
            port_ranges = ["all"]
        elif "ports" in rule:
            port_ranges = [_ports(*str(p).split("-", 1)) if "-" in str(p) else str(p) for p in rule["ports"]]
        else:
            port_ranges = [_ports(rule.get("from_port"), rule.get("to_port"))]
        found.extend(_rule(protocol, ports, peers[0], rule.get("rule_desc")) for ports in port_ranges)
    return sorted(found, key=lambda rule: rule["name"])


def sg_rules_wanted(wanted: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """`wanted`: {ingress: [...], egress: [...]} in ec2_security_group's rule form (proto, ports,
    one of cidr_ip / cidr_ipv6 / group_id / ip_prefix, rule_desc)."""
    return {"ingress": _wanted(wanted.get("ingress")), "egress": _wanted(wanted.get("egress"))}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"sg_rules_held": sg_rules_held, "sg_rules_wanted": sg_rules_wanted}
