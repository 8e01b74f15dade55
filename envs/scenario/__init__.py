"""Scenario model: frozen dataclasses, fulfillment policies, the supply tree, YAML form, generator and registry."""

from envs.scenario.catalog import Catalog, Product
from envs.scenario.errors import ScenarioError, UnservableDemandWarning
from envs.scenario.fulfillment import register_fulfillment_policy
from envs.scenario.generate import network_scenario
from envs.scenario.io import load_scenario_file, save_scenario_file, scenario_from_dict, scenario_to_dict
from envs.scenario.registry import get_scenario, register_scenario, resolve_scenario, scenario_names
from envs.scenario.tree import SupplyTree
from envs.scenario.types import Demand, LeadTime, Node, Region, Scenario, ServiceLink, Speed

__all__ = [
    "Catalog",
    "Demand",
    "LeadTime",
    "Node",
    "Product",
    "Region",
    "Scenario",
    "ScenarioError",
    "ServiceLink",
    "Speed",
    "SupplyTree",
    "UnservableDemandWarning",
    "get_scenario",
    "load_scenario_file",
    "network_scenario",
    "register_fulfillment_policy",
    "register_scenario",
    "resolve_scenario",
    "save_scenario_file",
    "scenario_from_dict",
    "scenario_names",
    "scenario_to_dict",
]
