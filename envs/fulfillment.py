"""Transitional import path: fulfillment policies live in :mod:`envs.scenario.fulfillment`.

Only ``envs.params`` still imports from here; delete this file once it imports from ``envs.scenario.fulfillment``.
"""

from envs.scenario.fulfillment import get_fulfillment_policy

__all__ = ["get_fulfillment_policy"]
