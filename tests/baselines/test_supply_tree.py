"""The supply tree and the expected flows the baselines read from a scenario agree with the simulator's parameters."""

import dataclasses

import numpy as np
import pytest

from envs.params import compile_scenario
from envs.scenario import SupplyTree, get_scenario, network_scenario
from envs.scenario.flows import base_mean, node_flow
from envs.scenario.fulfillment import first_choice_nodes
from envs.scenario.tree import lead_time_mean


def scenarios():
    yield from (get_scenario(name) for name in ("serial", "owmr", "network", "network-large"))
    tight = network_scenario(num_products=40, storage_tightness=0.5, seed=3)
    yield tight
    yield dataclasses.replace(tight, fulfillment="fastest")


@pytest.mark.parametrize("scenario", list(scenarios()), ids=lambda s: f"{s.name}-{s.fulfillment}")
def test_flows_and_tree_are_the_compiled_parameters(scenario):
    params = compile_scenario(scenario)
    tree = SupplyTree.of(scenario)
    np.testing.assert_array_equal(tree.supplier, params.supplier_index)
    np.testing.assert_array_equal(base_mean(scenario), params.base_mean)
    np.testing.assert_array_equal(first_choice_nodes(scenario), params.backlog_node)
    np.testing.assert_array_equal(node_flow(scenario), params.node_flow)
    assert [(u, list(kids)) for u, kids in enumerate(tree.children) if kids] == [
        (u, kids.tolist()) for u, kids in params.children]


def test_tree_views_on_the_registered_networks():
    serial = SupplyTree.of(get_scenario("serial"))  # stage3 -> stage2 -> stage1
    assert serial.is_serial and serial.depth.tolist() == [1, 2, 3] and serial.is_leaf.tolist() == [False, False, True]
    np.testing.assert_array_equal(serial.subtree_matrix, np.triu(np.ones((3, 3))))
    np.testing.assert_array_equal(serial.local_levels(np.array([31.0, 20.0, 15.0])), [11.0, 5.0, 15.0])
    owmr = SupplyTree.of(get_scenario("owmr"))
    assert not owmr.is_serial and owmr.children[0] == (1, 2, 3, 4, 5) and owmr.depth.tolist() == [1] + [2] * 5
    np.testing.assert_array_equal(owmr.subtree_totals(np.ones(6)), [6, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(owmr.supplier_values(np.arange(6.0)[:, None])[:, 0], [0, 0, 0, 0, 0, 0])
    network = get_scenario("network")
    assert lead_time_mean(network)[0] == pytest.approx(3 * 0.2 + 4 * 0.45 + 5 * 0.25 + 6 * 0.1)
    assert SupplyTree.of(network).depth.tolist() == [1, 2, 2, 2, 2, 3, 3]
