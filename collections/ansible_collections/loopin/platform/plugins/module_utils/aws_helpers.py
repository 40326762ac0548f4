# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers shared by the loopin.platform AWS modules: tag differences, diff output, result shaping."""

from __future__ import annotations

import copy

from ansible.module_utils.common.dict_transformations import _camel_to_snake, camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)


def tags_from_list(tag_list):
    """[{'Key': k, 'Value': v}, ...] (or None) -> {k: v}."""
    return boto3_tag_list_to_ansible_dict(tag_list or [])


def tags_to_list(tags):
    """{k: v} -> [{'Key': k, 'Value': v}, ...]; None or {} -> []."""
    return ansible_dict_to_boto3_tag_list(tags or {})


def tag_changes(current, desired, purge):
    """What to set and what to remove so that `current` becomes the wanted tags.

    `desired` None means "leave tags alone" (the amazon.aws convention), which is no change.
    Keys starting with `aws:` are never removed (AWS reserves them).
    Returns (to_set: dict, to_remove: list).
    """
    if desired is None:
        return {}, []
    to_set, to_remove = compare_aws_tags(current or {}, desired, purge_tags=purge)
    return to_set, [key for key in to_remove if not key.startswith("aws:")]


def merged_tags(current, desired, purge):
    """The tags a resource carries after `tag_changes` has been applied."""
    to_set, to_remove = tag_changes(current, desired, purge)
    result = {k: v for k, v in (current or {}).items() if k not in to_remove}
    result.update(to_set)
    return result


def snake_result(resource, keep=("Tags",)):
    """boto3 camel-case dict -> snake_case, leaving the values of the `keep` keys untouched.

    Tags are a user dictionary: their keys must not be rewritten (a boto3 tag list becomes a dict).
    """
    if not resource:
        return {}
    resource = copy.deepcopy(resource)
    kept = {k: resource.pop(k) for k in list(resource) if k in keep}
    result = camel_dict_to_snake_dict(resource)
    for key, value in kept.items():
        if key == "Tags" and isinstance(value, list):
            value = tags_from_list(value)
        result[_camel_to_snake(key)] = value
    return result


def diff_result(module, before, after):
    """{'diff': {...}} when --diff was asked for, else {}; `before`/`after` are plain dicts."""
    if not module._diff:
        return {}
    return {"diff": {"before": before or {}, "after": after or {}}}


def dict_differences(current, desired):
    """Names of the keys of `desired` (ignoring None values) whose value differs in `current`."""
    return sorted(key for key, value in desired.items() if value is not None and current.get(key) != value)
