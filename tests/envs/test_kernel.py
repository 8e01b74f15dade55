"""The compiled kernel computes exactly what the reference path computes (differential tests).

Units (stock, orders, shipments, demand, lead times, every state field) agree exactly; costs agree to
1e-12 relative (the kernel sums in another order); observations agree exactly except the storage-use
block, a float32 of a volume summed in another order (one float32 rounding step at most).
"""

from __future__ import annotations

import dataclasses
import warnings

import numba
import numpy as np
import pytest
from helpers import make_state
from hypothesis import given, settings
from hypothesis import strategies as st
from worlds import episode_keys, worlds

from envs import ENV_IDS
from envs.demand_table import DemandTable, build_demand_table
from envs.dynamics import StepOutcome, _apportion, transition
from envs.info import COST_PARTS, NODE_GROUPS, SPEED_GROUPS, node_column, outcome_matrix, speed_column
from envs.kernel import compiled as kernel
from envs.kernel.layout import DEMAND_HEAD, ThreadBuffers, kernel_demand_table, kernel_params
from envs.noise import demand_table, noise
from envs.observation import observation_layout
from envs.params import compile_scenario
from envs.philox import philox4x32
from envs.scenario import resolve_scenario
from envs.simulator import THREAD_MIN_ROWS, Simulator, compiled_noise, row_chunks
from envs.single import EchelonEnv
from envs.vector import EchelonVectorEnv

SETTINGS = settings(max_examples=60, deadline=None)
COST_RTOL = 1e-12
PERIODS = 100


def random123(*words: int) -> list[np.ndarray]:
    return [np.array([w], dtype=np.uint32) for w in words]


# Known-answer vectors of Philox4x32-10 from Random123's kat_vectors (counter, key -> output).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_reproduces_the_random123_known_answers(counter, key, expected):
    assert [int(w[0]) for w in philox4x32(*random123(*counter, *key))] == list(expected)
    words = numba.njit(philox4x32)(*(np.uint32(w) for w in (*counter, *key)))  # as the kernel compiles it
    assert [int(w) for w in words] == list(expected)


@settings(max_examples=200, deadline=None)
@given(candidates=st.lists(st.integers(0, 7), min_size=1, max_size=12), cut=st.floats(0.0, 1.0))
def test_apportion_matches_the_reference(candidates, cut):
    """Largest remainder with ties to the lower index (many equal candidates), in both of the kernel's
    branches: few units to place (repeated selection) and many (a stable sort)."""
    for repeat in (1, 400):  # 400 copies push leftover x size past the sorting threshold
        whole = np.tile(np.array(candidates, dtype=float), repeat)
        units = float(np.floor(cut * whole.sum()))
        share = whole * (units / max(whole.sum(), 1.0))
        reference = _apportion(share[None], np.array([[units]]), -1, np)[0]
        compiled = share.copy()
        kernel.apportion(compiled, units, np.zeros_like(share))
        np.testing.assert_array_equal(compiled, reference)


@SETTINGS
@given(scenario=worlds(), data=st.data())
def test_noise_matches_the_reference(scenario, data):
    params = compile_scenario(scenario)
    if demand_table(params) is None and params.trace is None:
        return  # a trend: the kernel is given the reference's demand (tested through the simulator below)
    count = data.draw(st.integers(1, 6))
    keys = episode_keys(data.draw, count)
    periods = np.array(data.draw(st.lists(st.integers(0, 500), min_size=count, max_size=count)))
    compiled, reference = compiled_noise(keys, periods, params), noise(keys, periods, params)
    for field in dataclasses.fields(reference):
        np.testing.assert_array_equal(getattr(compiled, field.name), getattr(reference, field.name), err_msg=field.name)


@pytest.mark.parametrize("decreasing", [False, True])
def test_demand_quantiles_match_the_search_at_every_cdf_value(decreasing):
    """Uniforms at, just below and just above every cdf value, and anywhere: the head counts give the table's
    quantiles; where a row's cdf decreases (float round-off, which a count and a search would resolve
    differently) the kernel takes its search."""
    table = build_demand_table("negative_binomial", np.array([[0.0, 0.3, 2.0, 7.0, 40.0]]), 0.5, 0.2)
    if decreasing:  # a dip among the head values of one row and beyond them in another
        cdf = table.cdf.copy()
        for row, k in ((2, 1), (3, DEMAND_HEAD + 2)):
            cdf[table.offset[row] + k] = np.nextafter(cdf[table.offset[row] + k - 1], 0.0)
        table = DemandTable(cdf=cdf, offset=table.offset, guide=table.guide, streams=table.streams)
    values = table.cdf[table.cdf < 1.0]
    u = np.concatenate([values, np.nextafter(values, 0.0), np.nextafter(values, 1.0),
                        np.random.default_rng(0).random(1000), [0.0, np.nextafter(1.0, 0.0)]])
    table_cdf, table_offset, table_guide, table_head = kernel_demand_table(table)
    streams = np.arange(table.streams)
    u = np.repeat(u, table.streams).reshape(-1, table.streams)
    if decreasing:
        search = np.vectorize(lambda x, row: kernel.quantile(x, row, table_cdf, table_offset, table_guide))
        expected = search(u, streams)
    else:
        expected = table.quantile(u, np.zeros(len(u), dtype=np.int64))
    below = np.zeros(table.streams, dtype=np.float32)
    for uniforms, demand in zip(u, expected, strict=True):
        compiled = uniforms.copy()
        kernel.demand_quantiles(compiled, below, 0, table_cdf, table_offset, table_guide, table_head)
        np.testing.assert_array_equal(compiled, demand)


def outcome_fields(matrix: np.ndarray, shipped, purchased, served_units, params) -> dict[str, np.ndarray]:
    """The kernel's outcome as StepOutcome fields."""
    s, n = params.num_speeds, params.num_nodes

    def speeds(group):
        return matrix[:, speed_column(group, 0, s) : speed_column(group, 0, s) + s]

    def nodes(group):
        return matrix[:, node_column(group, 0, s, n) : node_column(group, 0, s, n) + n]

    parts = {f"{part}_cost": matrix[:, k] for k, part in enumerate(COST_PARTS) if part != "total"}
    return {**parts, "penalty_cost": speeds("penalty"), "requested": speeds("requested"),
            "new_orders": speeds("new_orders"), "served": speeds("served"), "lost": speeds("lost"),
            "purchased": purchased, "served_units": served_units, "shipped": shipped,
            "storage_used": nodes("storage_used"), "received": nodes("received")}


COST_FIELDS = {"holding_cost", "purchase_cost", "transport_cost", "shipping_cost", "penalty_cost", "overflow_cost",
               "storage_used"}


def assert_outcomes_agree(fields: dict, reference: StepOutcome, where: str) -> None:
    for name, value in fields.items():
        expected = getattr(reference, name)
        if name in COST_FIELDS:
            np.testing.assert_allclose(value, expected, rtol=COST_RTOL, atol=1e-12, err_msg=f"{where}: {name}")
        else:
            np.testing.assert_array_equal(value, expected, err_msg=f"{where}: {name}")
    assert set(fields) == {f.name for f in dataclasses.fields(StepOutcome)}


def assert_states_agree(compiled, reference, where: str) -> None:
    for field in dataclasses.fields(reference):
        np.testing.assert_array_equal(getattr(compiled, field.name), getattr(reference, field.name),
                                      err_msg=f"{where}: {field.name}")


def assert_observations_agree(compiled: np.ndarray, reference: np.ndarray, params, where: str) -> None:
    """Equal, but the storage-use block within one float32 rounding step."""
    offset = 0
    for name, shape in observation_layout(params).items():
        size = int(np.prod(shape))
        block = (slice(None), slice(offset, offset + size))
        if name == "storage_use":
            np.testing.assert_allclose(compiled[block], reference[block], rtol=2**-23, err_msg=f"{where}: {name}")
        else:
            np.testing.assert_array_equal(compiled[block], reference[block], err_msg=f"{where}: {name}")
        offset += size


def random_units(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Whole units up to a random scale (none, few, many), so that supply is sometimes short and sometimes not."""
    return rng.integers(0, rng.choice([1, 4, 31]), shape).astype(float)


@SETTINGS
@given(scenario=worlds(), data=st.data())
def test_transition_matches_the_reference_for_100_periods(scenario, data):
    """Random orders and the episode's noise for 100 periods from a random start (stock, dock, pipeline,
    backlog): every State and StepOutcome field agrees after every period."""
    params = compile_scenario(scenario)
    kp = kernel_params(params)
    batch = data.draw(st.integers(1, 3))
    keys = episode_keys(data.draw, batch)
    n, p = params.num_nodes, params.num_products
    transition_batch = kernel.batch_functions(p).transition_batch
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    reference = make_state(params, batch, on_hand=random_units(rng, (batch, n, p)),
                           dock=random_units(rng, (batch, n, p)), period=np.arange(batch) * 7)
    compiled = make_state(params, batch, **{f.name: getattr(reference, f.name).copy()
                                            for f in dataclasses.fields(reference)})
    buffers = ThreadBuffers.allocate(params)
    matrix = np.zeros((batch, outcome_matrix_width(params)))
    shipped, purchased, served_units = np.zeros((batch, n, p)), np.zeros((batch, p)), np.zeros((batch, p))
    rows = np.ones(batch, bool)
    for period in range(PERIODS):
        order = random_units(rng, (batch, n, p))
        step_noise = noise(keys, reference.period, params)
        reference, expected = transition(reference, order, step_noise, params)
        transition_batch(rows, *state_arrays(compiled), order, step_noise.demand, step_noise.cutoff_uniform,
                         step_noise.spill_uniform, step_noise.lead_time, buffers.work, buffers.scratch, matrix,
                         shipped, purchased, served_units, *kp.transition_args())
        where = f"period {period}"
        assert_states_agree(compiled, reference, where)
        assert_outcomes_agree(outcome_fields(matrix, shipped, purchased, served_units, params), expected, where)
        np.testing.assert_allclose(matrix, outcome_matrix(expected, params), rtol=COST_RTOL, atol=1e-12)


def test_the_one_product_functions_refuse_several_products():
    """The one-product pair takes the product count as a constant and would read the first product only, so
    it must refuse arrays with several."""
    params = compile_scenario(resolve_scenario(ENV_IDS["echelon/Network-v1"][0]))
    n, p = params.num_nodes, params.num_products
    sim = Simulator(params, 1, "order_up_to", 0, "compiled")
    sim._batch_functions = kernel.ONE_PRODUCT
    observations = sim.new_observations()
    with pytest.raises(ValueError, match="one-product step_batch was given several products"):
        sim.reset(np.ones(1, bool), np.zeros(1, np.uint64), observations)
    state, buffers, drawn = sim.state, ThreadBuffers.allocate(params), noise(sim.keys, sim.state.period, params)
    with pytest.raises(ValueError, match="one-product transition_batch was given several products"):
        kernel.ONE_PRODUCT.transition_batch(
            np.ones(1, bool), *state_arrays(state), np.zeros((1, n, p)), drawn.demand, drawn.cutoff_uniform,
            drawn.spill_uniform, drawn.lead_time, buffers.work, buffers.scratch,
            np.zeros((1, outcome_matrix_width(params))), np.zeros((1, n, p)), np.zeros((1, p)), np.zeros((1, p)),
            *kernel_params(params).transition_args())


def outcome_matrix_width(params) -> int:
    return len(COST_PARTS) + len(SPEED_GROUPS) * params.num_speeds + len(NODE_GROUPS) * params.num_nodes


def state_arrays(state) -> tuple:
    return tuple(getattr(state, f.name) for f in dataclasses.fields(state))


@settings(max_examples=40, deadline=None)
@given(scenario=worlds(), data=st.data())
def test_simulator_paths_agree_through_steps_and_partial_resets(scenario, data):
    """The whole env step (action decoding, noise, transition, reward, outcome, observation) for 100+
    periods on several replicas, with some replicas idle or reset along the way."""
    params = compile_scenario(scenario)
    batch = data.draw(st.integers(1, 4))
    mode = data.draw(st.sampled_from(["order_up_to", "quantity"]))
    simulators = {path: Simulator(params, batch, mode, scenario.warmup_periods, path)
                  for path in ("compiled", "reference")}
    keys = episode_keys(data.draw, batch)
    observations = {path: sim.new_observations() for path, sim in simulators.items()}
    everything = np.ones(batch, bool)
    for path, sim in simulators.items():
        sim.reset(everything, keys, observations[path])
    assert_observations_agree(observations["compiled"], observations["reference"], params, "reset")
    size = params.num_nodes * params.num_products
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for period in range(PERIODS + 10):
        actions = rng.uniform(-1, 1, (batch, size)).astype(np.float32)
        actions[rng.random((batch, size)) < 0.1] = rng.choice([-1.0, 1.0])  # the bounds exactly, now and then
        rows = rng.random(batch) > 0.1
        results = {}
        for path, sim in simulators.items():
            observations[path] = sim.new_observations()
            sim.observe(~rows, observations[path])
            results[path] = sim.step(actions, observations[path], rows)
        where = f"period {period}"
        assert_states_agree(simulators["compiled"].state, simulators["reference"].state, where)
        np.testing.assert_allclose(results["compiled"][0], results["reference"][0], rtol=COST_RTOL, atol=1e-12)
        np.testing.assert_allclose(results["compiled"][1], results["reference"][1], rtol=COST_RTOL, atol=1e-12)
        assert_observations_agree(observations["compiled"], observations["reference"], params, where)
        if period % 37 == 36:  # start new episodes in some replicas
            restart = ~rows
            fresh = rng.integers(0, 2**64, int(restart.sum()), dtype=np.uint64)
            for path, sim in simulators.items():
                sim.reset(restart, fresh, observations[path])
            assert_observations_agree(observations["compiled"], observations["reference"], params, where)


def assert_infos_agree(info: dict, reference: dict, params, where: str) -> None:
    assert info.keys() == reference.keys(), where
    for key, value in reference.items():
        if isinstance(value, dict):
            assert_infos_agree(info[key], value, params, f"{where}: {key}")
        elif key == "final_obs":
            assert_observations_agree(info[key], value, params, f"{where}: {key}")
        else:
            np.testing.assert_allclose(info[key], value, rtol=COST_RTOL, atol=1e-12, err_msg=f"{where}: {key}")


@pytest.mark.parametrize("env_id", list(ENV_IDS))
@pytest.mark.parametrize("autoreset_mode", ["NextStep", "SameStep"])
def test_every_registered_env_agrees_through_autoresets(env_id, autoreset_mode):
    """The vector env on each path, episodes of 40 periods so that 130 steps cross several autoresets."""
    envs = {path: EchelonVectorEnv(3, ENV_IDS[env_id][0], max_episode_steps=40, autoreset_mode=autoreset_mode,
                                   simulator=path) for path in ("compiled", "reference")}
    params = envs["compiled"].params
    results = {path: env.reset(seed=5) for path, env in envs.items()}
    assert_observations_agree(results["compiled"][0], results["reference"][0], params, "reset")
    rng = np.random.default_rng(0)
    for period in range(130):
        actions = rng.uniform(-1, 1, (3, params.num_nodes * params.num_products)).astype(np.float32)
        results = {path: env.step(actions) for path, env in envs.items()}
        (obs, reward, _, truncated, info), (obs_ref, reward_ref, _, truncated_ref, info_ref) = results.values()
        where = f"{env_id} step {period}"
        assert_observations_agree(obs, obs_ref, params, where)
        np.testing.assert_allclose(reward, reward_ref, rtol=COST_RTOL, atol=1e-12, err_msg=where)
        np.testing.assert_array_equal(truncated, truncated_ref)
        assert_infos_agree(info, info_ref, params, where)
    assert_states_agree(envs["compiled"]._simulator.state, envs["reference"]._simulator.state, env_id)


@pytest.mark.parametrize(("batch", "threads", "first"), [(8, 4, None), (100, 3, None), (100, 3, 1),
                                                         (100, 3, 99), (1024, 2, 700), (64, 2, 32)])
def test_row_chunks_split_every_row_once(batch, threads, first):
    chunks = row_chunks(batch, threads, first)
    assert chunks[0][0] == 0 and chunks[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(chunks[:-1], chunks[1:], strict=True))
    assert len(chunks) == max(1, min(threads, batch // THREAD_MIN_ROWS))
    if len(chunks) > 1:
        assert all(stop - start >= THREAD_MIN_ROWS for start, stop in chunks)
        if first is not None and THREAD_MIN_ROWS <= first <= batch - (len(chunks) - 1) * THREAD_MIN_ROWS:
            assert chunks[0] == (0, first)


@pytest.mark.parametrize("scenario", ["owmr", "network"])
def test_the_thread_split_changes_no_result(scenario):
    """Three threads whose split moves from step to step compute what one thread computes, bit for bit."""
    params = compile_scenario(resolve_scenario(scenario))
    batch = 4 * THREAD_MIN_ROWS
    simulators = [Simulator(params, batch, "quantity", 5, "compiled", threads=t) for t in (1, 3)]
    assert len(simulators[1]._chunks) == 3
    keys = np.arange(batch, dtype=np.uint64) + np.uint64(11)
    observations = [sim.new_observations() for sim in simulators]
    everything = np.ones(batch, bool)
    for sim, obs in zip(simulators, observations, strict=True):
        sim.reset(everything, keys, obs)
    rng = np.random.default_rng(4)
    for period in range(60):
        actions = rng.uniform(-1, 1, (batch, params.num_nodes * params.num_products))
        steps = [sim.step(actions, obs) for sim, obs in zip(simulators, observations, strict=True)]
        for got, want in zip(steps[1], steps[0], strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(observations[1], observations[0])
        if period % 7 == 0:  # a split the balancing would not choose
            simulators[1]._chunks = row_chunks(batch, 3, int(rng.integers(0, batch)))
    for field in dataclasses.fields(simulators[0].state):
        np.testing.assert_array_equal(getattr(simulators[1].state, field.name),
                                      getattr(simulators[0].state, field.name), err_msg=field.name)


def test_the_calling_thread_takes_rows_after_waiting_and_gives_them_back_otherwise():
    batch = 8 * THREAD_MIN_ROWS
    sim = Simulator(compile_scenario(resolve_scenario("serial")), batch, "quantity", 5, "compiled", threads=3)
    shift = max(1, batch // 256)
    start = sim._chunks[0][1]
    sim._balance(waited=True)
    assert sim._chunks[0][1] == start + 2 * shift
    sim._balance(waited=False)
    assert sim._chunks[0][1] == start + shift
    for _ in range(batch):
        sim._balance(waited=True)
    assert sim._chunks[0][1] == batch - 2 * THREAD_MIN_ROWS  # the workers keep their minimum
    for _ in range(2 * batch):
        sim._balance(waited=False)
    assert sim._chunks[0][1] == THREAD_MIN_ROWS
    assert len(sim._chunks) == 3 and sim._chunks[-1][1] == batch


@pytest.mark.parametrize("scenario", ["serial", "network"])
def test_single_env_paths_agree(scenario):
    envs = {path: EchelonEnv(scenario, simulator=path) for path in ("compiled", "reference")}
    params = envs["compiled"].params
    first = [env.reset(seed=3)[0] for env in envs.values()]
    assert_observations_agree(first[0][None], first[1][None], params, "reset")
    rng = np.random.default_rng(1)
    for period in range(100):
        action = rng.uniform(-1, 1, params.num_nodes * params.num_products).astype(np.float32)
        (obs, reward, *_, info), (obs_ref, reward_ref, *_, info_ref) = (env.step(action) for env in envs.values())
        assert_observations_agree(obs[None], obs_ref[None], params, f"step {period}")
        assert reward == pytest.approx(reward_ref, rel=COST_RTOL, abs=1e-12)
        assert_infos_agree(info, info_ref, params, f"step {period}")


def test_the_switch_and_the_environment_variable_choose_the_path(monkeypatch):
    assert EchelonEnv("serial").simulator == "compiled"
    assert EchelonEnv("serial", simulator="reference").simulator == "reference"
    monkeypatch.setenv("ECHELON_SIMULATOR", "reference")
    assert EchelonEnv("serial").simulator == "reference"
    assert EchelonVectorEnv(2, "serial").simulator == "reference"
    assert EchelonEnv("serial", simulator="compiled").simulator == "compiled"  # the argument wins
    monkeypatch.setenv("ECHELON_SIMULATOR", "numba")
    with pytest.raises(ValueError, match="environment variable ECHELON_SIMULATOR is 'numba'"):
        EchelonEnv("serial")
    with pytest.raises(ValueError, match="simulator is 'fast'"):
        EchelonEnv("serial", simulator="fast")


def test_a_kernel_that_fails_to_compile_falls_back_to_the_reference_path(monkeypatch):
    from numba.core.errors import TypingError

    import envs.simulator as simulator_module

    def fails(*args):
        raise TypingError("no implementation for these argument types")

    monkeypatch.setattr(simulator_module.kernel, "actions_valid", fails)
    monkeypatch.setattr(simulator_module, "_warned", False)
    with pytest.warns(RuntimeWarning, match="numba failed to compile it .TypingError: no implementation"):
        env = EchelonVectorEnv(3, "serial")
    assert env.simulator == "reference" and env._simulator.simulator == "reference"
    env.reset(seed=0)
    assert np.all(np.isfinite(env.step(env.action_space.sample())[1]))


def test_without_numba_the_reference_path_runs_with_one_warning(monkeypatch):
    import envs.simulator as simulator_module

    monkeypatch.setattr(simulator_module, "kernel", None)
    monkeypatch.setattr(simulator_module, "_KERNEL_IMPORT_ERROR", ImportError("No module named 'numba'"))
    monkeypatch.setattr(simulator_module, "_warned", False)
    with pytest.warns(RuntimeWarning, match="numba could not be imported"):
        env = EchelonEnv("serial")
    assert env.simulator == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EchelonEnv("owmr")  # one warning per process
    obs, _ = env.reset(seed=0)
    assert np.isfinite(env.step(env.action_space.sample())[1])


def one_product(array: np.ndarray, product: int) -> np.ndarray:
    """The slice of ``array`` (products last) for one product, as its own contiguous array."""
    return np.ascontiguousarray(array[..., product : product + 1])


@settings(max_examples=30, deadline=None)
@given(scenario=worlds(), data=st.data())
def test_single_product_stages_agree_bit_for_bit_in_either_compilation(scenario, data):
    """With one product the kernel runs fulfilment and costs compiled without reassociation (inlined); with
    several, the reassociated functions. On one product both must write exactly the same bits, so that
    choosing by the product count changes no result. Inputs: one product of a state reached by random play."""
    params = compile_scenario(scenario)
    sim = Simulator(params, 1, "order_up_to", scenario.warmup_periods, "compiled")
    observations = sim.new_observations()
    sim.reset(np.ones(1, bool), episode_keys(data.draw, 1), observations)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(data.draw(st.integers(0, 12))):
        sim.step(rng.uniform(-1, 1, (1, params.num_nodes * params.num_products)), observations)
    product = data.draw(st.integers(0, params.num_products - 1))
    kp, state = kernel_params(params), sim.state
    drawn = noise(sim.keys, state.period, params)
    width = outcome_matrix_width(params)
    regions, nodes = params.num_regions, params.num_nodes
    fulfil_inputs = (one_product(state.on_hand[0], product), one_product(state.backlog[0], product),
                     one_product(drawn.demand[0], product), one_product(drawn.cutoff_uniform[0], product),
                     one_product(drawn.spill_uniform[0], product), rng.uniform(0, 1, width), np.zeros(1),
                     np.zeros((4, regions, 1)), kp.speed, one_product(kp.penalty, product), kp.flags, kp.arc_start,
                     kp.arc_node, kp.arc_cost)
    costs_inputs = (one_product(state.on_hand[0], product), one_product(state.dock[0], product),
                    one_product(state.pipeline[0], product), random_units(rng, (nodes, 1)),
                    one_product(drawn.demand[0], product), np.zeros((regions, 1)), random_units(rng, (nodes,)),
                    rng.uniform(0, 1, width), np.zeros(1), one_product(kp.node_product, product), kp.node,
                    one_product(kp.volume, product))
    for reassociated, in_order, inputs in ((kernel.fulfil, kernel.fulfil_in_order, fulfil_inputs),
                                           (kernel.costs, kernel.costs_in_order, costs_inputs)):
        copies = [tuple(np.copy(a) for a in inputs) for _ in range(2)]
        reassociated(*copies[0], False)
        in_order(*copies[1], True)
        for name, a, b in zip(reassociated.py_func.__code__.co_varnames, *copies, strict=False):
            assert a.tobytes() == b.tobytes(), f"{reassociated.py_func.__name__}: {name}"
