"""Semantic checks of a policy (placeholder until the validation work lands)."""

from __future__ import annotations


def validate_policy(policy):
    return []
