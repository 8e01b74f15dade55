"""Invalid scenarios, YAML files, traces and actions fail loudly and precisely; valid files round-trip."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import hand_scenario, small_env_scenario

from envs.noise import draw_uniforms, realize
from envs.observation import split_observation
from envs.params import compile_scenario
from envs.scenario import (
    Demand,
    LeadTime,
    Node,
    Product,
    Region,
    Scenario,
    ScenarioError,
    ServiceLink,
    Speed,
    get_scenario,
    load_scenario_file,
    save_scenario_file,
    scenario_names,
    scenario_to_dict,
)
from envs.single import EchelonEnv
from envs.vector import EchelonVectorEnv

# --------------------------------------------------------------------------------------------------
# Scenarios built in Python


def with_nodes(*nodes):
    base = hand_scenario()
    return dataclasses.replace(base, nodes=nodes)


VENDOR = Node("vendor", "vendor")
DC = Node("dc", "distribution_center", supplier="vendor", lead_time=LeadTime.fixed(2))
FC1 = Node("fc1", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1))
FC2 = Node("fc2", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1))


def replace_speeds(*speeds):
    return lambda: dataclasses.replace(hand_scenario(), speeds=speeds)


BAD_SCENARIOS = {
    "unknown supplier": (
        lambda: with_nodes(VENDOR, DC, FC1, dataclasses.replace(FC2, supplier="nowhere")),
        ["nodes[3]", "'fc2'", "supplier", "'nowhere'", "list suppliers first"],
    ),
    "supplier listed after its child": (
        lambda: with_nodes(VENDOR, FC1, FC2, DC),
        ["nodes[1]", "'fc1'", "supplier", "'dc' is not a node listed before it"],
    ),
    "supply cycle": (
        lambda: with_nodes(VENDOR, dataclasses.replace(DC, supplier="fc1"), dataclasses.replace(FC1), FC2),
        ["nodes[1]", "'dc'", "supplier", "'fc1'"],
    ),
    "node supplies itself": (
        lambda: with_nodes(VENDOR, DC, dataclasses.replace(FC1, supplier="fc1"), FC2),
        ["'fc1'", "supplier"],
    ),
    "vendor with a supplier": (lambda: Node("v2", "vendor", supplier="vendor"), ["'v2'", "supplier"]),
    "stocking node without lead time": (
        lambda: Node("fc", "fulfillment_center", supplier="dc"), ["'fc'", "lead_time"],
    ),
    "unknown node kind": (lambda: Node("x", "warehouse"), ["'x'", "kind", "'warehouse'"]),
    "negative unit cost": (lambda: Product("p", 1.0, unit_cost=-1.0), ["'p'", "unit_cost", "-1.0"]),
    "negative holding cost": (lambda: Product("p", 1.0, holding_cost=-0.5), ["holding_cost", "-0.5"]),
    "zero volume": (lambda: Product("p", 1.0, volume=0.0), ["volume", "> 0"]),
    "negative transport cost": (
        lambda: dataclasses.replace(DC, transport_cost=-2.0), ["'dc'", "transport_cost", "-2.0"],
    ),
    "negative shipping cost": (lambda: ServiceLink("fc1", 0, -1.0), ["'fc1'", "shipping_cost", "-1.0"]),
    "negative penalty": (lambda: Speed("fast", 0, -3.0), ["'fast'", "penalty", "-3.0"]),
    "nan storage capacity": (
        lambda: dataclasses.replace(FC1, storage_capacity=float("nan")), ["'fc1'", "storage_capacity"],
    ),
    "zero inbound capacity": (lambda: dataclasses.replace(DC, inbound_capacity=0.0), ["inbound_capacity", "> 0"]),
    "lead time 0": (lambda: LeadTime.fixed(0), ["lead_time", ">= 1", "got 0"]),
    "fractional lead time": (lambda: LeadTime((1.5,), (1.0,)), ["lead_time", "whole numbers", "1.5"]),
    "pmf not summing to 1": (lambda: LeadTime((1, 2), (0.5, 0.4)), ["lead_time", "sum to", "must sum to 1"]),
    "pmf length mismatch": (lambda: LeadTime((1, 2), (1.0,)), ["lead_time", "2 periods but 1 probabilities"]),
    "negative probability": (lambda: LeadTime((1, 2), (1.5, -0.5)), ["lead_time", ">= 0", "-0.5"]),
    "speeds not increasing": (
        replace_speeds(Speed("a", 1, 1.0), Speed("b", 1, 1.0)), ["speeds", "strictly increasing", "[1, 1]"],
    ),
    "speeds slowest first": (
        replace_speeds(Speed("slow", 2, 1.0), Speed("fast", 0, 1.0)), ["speeds", "fastest first", "[2, 0]"],
    ),
    "cut-off share above 1": (lambda: Speed("s", 0, 1.0, cutoff_share=1.5), ["'s'", "cutoff_share", "[0, 1]", "1.5"]),
    "negative spill share": (lambda: Speed("s", 0, 1.0, spill_share=-0.1), ["spill_share", "[0, 1]", "-0.1"]),
    "slowest speed spills": (
        replace_speeds(Speed("a", 0, 1.0, spill_share=0.5), Speed("b", 1, 1.0, spill_share=0.5)),
        ["'b'", "spill_share", "slowest"],
    ),
    "link to a vendor": (
        lambda: dataclasses.replace(
            hand_scenario(), regions=(Region("r", 1.0, (ServiceLink("vendor", 0),)),)
        ),
        ["region 'r'", "'vendor' is not a stocking node"],
    ),
    "link to an unknown node": (
        lambda: dataclasses.replace(hand_scenario(), regions=(Region("r", 1.0, (ServiceLink("fc9", 0),)),)),
        ["region 'r'", "'fc9'"],
    ),
    "duplicate node names": (lambda: with_nodes(VENDOR, DC, FC1, FC1), ["nodes[3].name", "duplicate", "'fc1'"]),
    "no regions": (lambda: dataclasses.replace(hand_scenario(), regions=()), ["regions", "at least one"]),
    "unknown unmet-demand rule": (lambda: hand_scenario("lose_some"), ["unmet_demand", "'lose_some'"]),
    "unknown lead-time mode": (
        lambda: hand_scenario(lead_time_mode="random"), ["lead_time_mode", "'random'"],
    ),
    "unknown distribution": (lambda: Demand("gamma"), ["demand.distribution", "'gamma'"]),
    "correlation of 1": (lambda: Demand(region_correlation=1.0), ["region_correlation", "[0, 1)"]),
    "zero dispersion": (lambda: Demand("negative_binomial", dispersion=0.0), ["dispersion", "> 0"]),
    "negative seasonality": (lambda: Demand(seasonality=(1.0, -0.2)), ["seasonality", "-0.2"]),
    "trend of -1": (lambda: Demand(trend=-1.0), ["trend", "> -1"]),
    "negative warm-up": (lambda: hand_scenario(warmup_periods=-3), ["warmup_periods", "-3"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_invalid_scenario_raises_scenario_error_naming_the_field(case):
    build, fragments = BAD_SCENARIOS[case]
    with pytest.raises(ScenarioError) as info:
        build()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_unknown_fulfillment_policy_raises_scenario_error():
    with pytest.raises(ScenarioError, match="fulfillment"):
        EchelonEnv(hand_scenario(fulfillment="closest"))


# --------------------------------------------------------------------------------------------------
# YAML files


def write_yaml(tmp_path: Path, data, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def serial_dict():
    return copy.deepcopy(scenario_to_dict(get_scenario("serial")))


def test_yaml_unknown_key_is_named(tmp_path):
    data = serial_dict()
    data["horizon"] = 10
    with pytest.raises(ScenarioError, match=r"unknown field\(s\) \['horizon'\]"):
        load_scenario_file(write_yaml(tmp_path, data))
    data = serial_dict()
    data["nodes"][2]["colour"] = "red"
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(write_yaml(tmp_path, data))
    assert "nodes[2]" in str(info.value) and "'colour'" in str(info.value)
    assert "scenario.yaml" in str(info.value)


def test_yaml_missing_required_field_and_wrong_types(tmp_path):
    data = serial_dict()
    del data["regions"][0]["links"][0]["transit"]
    with pytest.raises(ScenarioError, match=r"regions\[0\]\.links\[0\]: missing required field\(s\) \['transit'\]"):
        load_scenario_file(write_yaml(tmp_path, data))
    data = serial_dict()
    data["nodes"][3]["lead_time"] = "two"
    with pytest.raises(ScenarioError, match=r"nodes\[3\]\.lead_time: expected an int"):
        load_scenario_file(write_yaml(tmp_path, data))
    data = serial_dict()
    data["products"][0]["mean_demand"] = -5
    with pytest.raises(ScenarioError, match=r"products\[0\].*mean_demand.*-5"):
        load_scenario_file(write_yaml(tmp_path, data))
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario_file(write_yaml(tmp_path, "- just\n- a list\n"))


@pytest.mark.parametrize("lead_time", [0, {1: 0.5, 2: 0.4}])
def test_yaml_bad_lead_time_names_file_and_node(tmp_path, lead_time):
    data = serial_dict()
    data["nodes"][2]["lead_time"] = lead_time
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(write_yaml(tmp_path, data))
    assert "lead_time" in str(info.value)
    assert "nodes[2]" in str(info.value) and "scenario.yaml" in str(info.value)


def test_yaml_bad_lead_time_still_raises_scenario_error(tmp_path):
    for lead_time, fragment in ((0, ">= 1"), ({1: 0.5, 2: 0.4}, "must sum to 1")):
        data = serial_dict()
        data["nodes"][2]["lead_time"] = lead_time
        with pytest.raises(ScenarioError, match=fragment):
            load_scenario_file(write_yaml(tmp_path, data))


def test_missing_and_invalid_yaml_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"does not exist"):
        load_scenario_file(tmp_path / "absent.yaml")
    with pytest.raises(ScenarioError, match="absent.yaml"):
        EchelonEnv(str(tmp_path / "absent.yaml"))
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario_file(write_yaml(tmp_path, "name: [unclosed\nnodes: {\n", "broken.yaml"))


@pytest.mark.parametrize("name", scenario_names())
def test_yaml_round_trip_of_registered_scenarios(tmp_path, name):
    scenario = get_scenario(name)
    path = tmp_path / f"{name}.yaml"
    save_scenario_file(scenario, path)
    assert load_scenario_file(path) == scenario


def test_yaml_round_trip_keeps_pmfs_infinities_and_traces(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("period,product,region,speed,quantity\n0,a,north,fast,3\n")
    scenario = small_env_scenario(demand=Demand(trace=str(trace)))
    path = tmp_path / "round.yaml"
    save_scenario_file(scenario, path)
    loaded = load_scenario_file(path)
    assert loaded == scenario
    assert loaded.node("dc").lead_time.pmf == {1: 0.3, 2: 0.5, 3: 0.2}
    assert loaded.node("fc2").inbound_capacity == float("inf")


def test_relative_trace_path_resolves_against_the_yaml_folder(tmp_path, monkeypatch):
    folder = tmp_path / "world"
    folder.mkdir()
    (folder / "trace.csv").write_text("period,product,region,speed,quantity\n0,a,north,fast,3\n")
    data = scenario_to_dict(small_env_scenario(demand=Demand(trace="trace.csv")))
    path = write_yaml(folder, data)
    monkeypatch.chdir(tmp_path)
    loaded = load_scenario_file(path)
    assert Path(loaded.demand.trace) == folder / "trace.csv"
    assert compile_scenario(loaded).trace[0, 0, 0, 0] == 3


# --------------------------------------------------------------------------------------------------
# Demand traces

HEADER = "period,product,region,speed,quantity\n"


def trace_scenario(path: Path, warmup_periods: int = 0) -> Scenario:
    return small_env_scenario(demand=Demand(trace=str(path)), warmup_periods=warmup_periods)


BAD_TRACES = {
    "missing column": ("period,product,region,quantity\n0,a,north,3\n", ["missing column", "'speed'"]),
    "unknown product": (HEADER + "0,a,north,fast,3\n1,zz,north,fast,1\n", ["'product'", "unknown", "'zz'"]),
    "unknown region": (HEADER + "0,a,east,fast,3\n", ["'region'", "'east'"]),
    "unknown speed": (HEADER + "0,a,north,warp,3\n", ["'speed'", "'warp'"]),
    "negative quantity": (HEADER + "0,a,north,fast,3\n1,b,south,slow,-2\n", ["row 3", "'quantity'", "-2"]),
    "fractional quantity": (HEADER + "0,a,north,fast,2.5\n", ["row 2", "'quantity'", "2.5", "whole number"]),
    "text quantity": (HEADER + "0,a,north,fast,many\n", ["row 2", "'quantity'", "many"]),
    "negative period": (HEADER + "-1,a,north,fast,1\n", ["'period'", "-1"]),
    "no rows": (HEADER, ["no rows"]),
    "empty file": ("", ["not a readable CSV"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TRACES))
def test_malformed_trace_raises_scenario_error(tmp_path, case):
    text, fragments = BAD_TRACES[case]
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        EchelonEnv(trace_scenario(path))
    for fragment in fragments + ["trace.csv"]:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_missing_trace_file_raises_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="absent.csv.*does not exist"):
        compile_scenario(trace_scenario(tmp_path / "absent.csv"))


def write_trace(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Three periods; missing rows are zero demand; a repeated row adds up. Axes (T, R, S, P)."""
    rows = [
        (0, "a", "north", "fast", 4), (0, "b", "south", "slow", 2), (0, "a", "north", "slow", 1),
        (1, "b", "north", "fast", 7), (1, "b", "north", "fast", 1),
        (2, "a", "south", "slow", 5), (2, "a", "north", "fast", 3), (2, "b", "south", "fast", 6),
    ]
    path = tmp_path / "trace.csv"
    path.write_text(HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows))
    expected = np.zeros((3, 2, 2, 2))
    regions, speeds, products = {"north": 0, "south": 1}, {"fast": 0, "slow": 1}, {"a": 0, "b": 1}
    for period, product, region, speed, quantity in rows:
        expected[period, regions[region], speeds[speed], products[product]] += quantity
    return path, expected


@pytest.mark.parametrize("warmup", [0, 2])
def test_trace_is_replayed_exactly_and_cyclically(tmp_path, warmup):
    path, expected = write_trace(tmp_path)
    params = compile_scenario(trace_scenario(path, warmup))
    np.testing.assert_array_equal(params.trace, expected)
    periods = np.arange(8)
    uniforms = draw_uniforms(np.full(len(periods), 12345, dtype=np.uint64), periods, params)
    np.testing.assert_array_equal(realize(uniforms, periods, params).demand, expected[periods % 3])
    # Through the env: period t (counted from the start of the warm-up) replays row t mod 3; the
    # observation's recent demand is last period's orders per (region, product), all speeds.
    env = EchelonEnv(trace_scenario(path, warmup))
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    for t in range(warmup, warmup + 7):
        obs, *_ = env.step(action)
        recent = split_observation(obs, env.params)["recent_demand"][0] * env.params.demand_scale
        np.testing.assert_allclose(recent, expected[t % 3].sum(1), rtol=1e-6, err_msg=f"period {t}")


def test_trace_ignores_the_seed(tmp_path):
    path, _ = write_trace(tmp_path)
    env = EchelonEnv(trace_scenario(path))
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    env.reset(seed=1)
    first = [env.step(action)[0] for _ in range(4)]
    env.reset(seed=2)
    second = [env.step(action)[0] for _ in range(4)]
    blocks = [split_observation(o, env.params)["recent_demand"] for o in first + second]
    for a, b in zip(blocks[:4], blocks[4:]):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------------
# Actions

BAD_ACTIONS = {  # name -> (bad action for an env with 6 action entries, fragments of the message)
    "nan": (np.where(np.arange(6) == 2, np.nan, 0.0), ["non-finite", "nan", "index (0, 2)"]),
    "inf": (np.where(np.arange(6) == 1, -np.inf, 0.0), ["non-finite", "-inf", "index (0, 1)"]),
    "above 1": (np.where(np.arange(6) == 3, 1.5, 0.0), ["1.5", "index (0, 3)", "outside [-1, 1]"]),
    "below -1": (np.full(6, -1.01), ["-1.01", "outside [-1, 1]"]),
    "too long": (np.zeros(7), ["shape", "expected (6,)"]),
    "too short": (np.zeros(4), ["shape", "expected (6,)"]),
    "scalar": (np.float32(0.0), ["shape", "expected (6,)"]),
}


def valid_actions(count=3):
    return np.random.default_rng(9).uniform(-1, 1, (count, 6)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(BAD_ACTIONS))
def test_bad_action_raises_in_single_env_and_leaves_state_unchanged(case):
    bad, fragments = BAD_ACTIONS[case]
    scenario = small_env_scenario()
    clean, dirty = EchelonEnv(scenario), EchelonEnv(scenario)
    assert clean.action_space.shape == (6,)
    actions = valid_actions()
    clean.reset(seed=4)
    dirty.reset(seed=4)
    expected = [clean.step(a) for a in actions]
    dirty.step(actions[0])
    with pytest.raises(ValueError) as info:
        dirty.step(bad)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"
    for a, want in zip(actions[1:], expected[1:]):
        got = dirty.step(a)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1:] == want[1:]


def test_single_env_shape_error_reports_the_given_shape():
    env = EchelonEnv(small_env_scenario())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        env.step(np.zeros(7))


def test_single_env_rejects_a_batched_action():
    env = EchelonEnv(small_env_scenario())
    env.reset(seed=0)
    assert not env.action_space.contains(np.zeros((1, 6), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((1, 6), dtype=np.float32))


def test_float32_round_off_at_the_bounds_is_accepted():
    env = EchelonEnv(small_env_scenario(), action_mode="quantity")
    env.reset(seed=0)
    obs, *_ = env.step(np.full(6, 1.0 + 5e-6))
    shipped = split_observation(obs, env.params)["pipeline"][0, :, 0, :] * env.params.max_order
    np.testing.assert_allclose(shipped[0], env.params.max_order[0], rtol=1e-6)  # clipped to +1


@pytest.mark.parametrize("case", sorted(BAD_ACTIONS))
def test_bad_action_raises_in_vector_env_and_leaves_state_unchanged(case):
    """The bad row belongs to replica 1, which is due for an autoreset: every row is still validated."""
    bad, fragments = BAD_ACTIONS[case]
    scenario = small_env_scenario()
    clean = EchelonVectorEnv(num_envs=2, scenario=scenario, max_episode_steps=2)
    dirty = EchelonVectorEnv(num_envs=2, scenario=scenario, max_episode_steps=2)
    actions = np.stack([valid_actions(5), -valid_actions(5)], axis=1)
    clean.reset(seed=4)
    dirty.reset(seed=4)
    expected = [clean.step(a) for a in actions]
    dirty.step(actions[0])
    assert dirty.step(actions[1])[3].all()  # both replicas truncated: the next step autoresets them
    if np.shape(bad) == (6,):  # a bad value in replica 1
        batch, fragments = np.stack([actions[2][0], bad]), [f.replace("(0,", "(1,") for f in fragments]
    else:  # a bad shape for every replica
        batch, fragments = np.stack([bad, bad]) if np.ndim(bad) else bad, ["shape", "expected (2, 6)"]
    with pytest.raises(ValueError) as info:
        dirty.step(batch)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"
    for a, want in zip(actions[2:], expected[2:]):
        got = dirty.step(a)
        for g, w in zip(got[:4], want[:4]):
            np.testing.assert_array_equal(g, w)


def test_vector_env_rejects_a_single_action():
    vec = EchelonVectorEnv(num_envs=2, scenario=small_env_scenario())
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(6,\), expected \(2, 6\)"):
        vec.step(np.zeros(6))
