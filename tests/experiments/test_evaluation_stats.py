"""Per-episode statistics of ``run_episodes``: every metric checked against a hand-rolled vector-env rollout,
Student-t intervals against scipy, chunking invariance, and a summary without gaps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from baselines.evaluation import INFO_GROUPS, estimate, fill_rates
from baselines.naive import newsvendor_reference
from envs import env_scenario
from envs.observation import split_observation
from envs.vector import EchelonVectorEnv
from experiments.evaluate import format_summary, run_episodes
from experiments.results import EpisodeResults

EPISODES, PERIODS, SEED = 3, 5, 123
ENVS = ("echelon/Serial-v1", "echelon/Network-v1")  # backorders, uncapped / lost sales, capped
SUMMARY_GROUPS = {"cost_per_period": "cost", "fill_rate": "fill_rate", "lost_per_period": "lost",
                  "storage_use": "storage_use", "inbound_use": "inbound_use"}


def manual_rollout(env_id: str) -> dict[str, dict[str, np.ndarray]]:
    """Each replica's mean over ``PERIODS`` periods of every info metric, and of the volume on hand per node."""
    scenario = env_scenario(env_id)
    policy = newsvendor_reference(scenario)
    vec = EchelonVectorEnv(EPISODES, scenario, action_mode=policy.action_mode)
    observations, _ = vec.reset(seed=SEED)
    sums: dict[str, dict[str, np.ndarray]] = {group: {} for group in (*INFO_GROUPS, "storage_volume")}
    for _ in range(PERIODS):
        observations, _, _, _, info = vec.step(policy(observations))
        for group in INFO_GROUPS:
            for name, value in info[group].items():
                sums[group][name] = sums[group].get(name, 0.0) + value
        volume = (split_observation(observations, vec.params)["on_hand"] * vec.params.max_level) @ vec.params.volume
        for n, name in enumerate(vec.params.node_names):
            sums["storage_volume"][name] = sums["storage_volume"].get(name, 0.0) + volume[:, n]
    means = {group: {name: total / PERIODS for name, total in values.items()} for group, values in sums.items()}
    means["fill_rate"] = {name: np.array([s / r if r > 0 else 1.0 for s, r in zip(sums["served"][name], asked)])
                          for name, asked in sums["requested"].items()}  # units served / units requested
    return means


def test_fill_rate_is_the_ratio_of_units_not_the_mean_of_period_ratios():
    """A period with few orders must weigh less than a busy one (the ratio of the episode's sums)."""
    rates = fill_rates({"s": np.array([10.0, 0.0])}, {"s": np.array([9.0, 0.0])})
    np.testing.assert_array_equal(rates["s"], [0.9, 1.0])
    busy_and_quiet = fill_rates({"s": np.array([(100.0 + 1.0) / 2])}, {"s": np.array([(100.0 + 0.0) / 2])})
    assert busy_and_quiet["s"][0] == pytest.approx(100 / 101)  # the mean of ratios would give 0.5


def episodes(env_id: str, num_envs: int | None = None) -> EpisodeResults:
    policy = newsvendor_reference(env_scenario(env_id))
    return run_episodes(policy, env_id, EPISODES, SEED, num_envs=num_envs, periods=PERIODS, progress=False)


@pytest.fixture(scope="module", params=ENVS)
def case(request) -> tuple[EpisodeResults, dict[str, dict[str, np.ndarray]]]:
    return episodes(request.param), manual_rollout(request.param)


def test_per_episode_arrays_match_a_manual_rollout(case):
    results, manual = case
    kept = results.evaluation.replicas
    assert set(kept) == set(manual)
    for group, values in manual.items():
        assert list(kept[group]) == list(values), group
        for name, expected in values.items():
            assert kept[group][name].shape == (EPISODES,)
            np.testing.assert_allclose(kept[group][name], expected, rtol=1e-12, atol=1e-12, err_msg=f"{group}/{name}")
    np.testing.assert_array_equal(results.cost.replicas, kept["cost"]["total"])


def test_intervals_are_scipy_student_t_intervals(case):
    results, manual = case
    summary = results.summary()
    for key, group in SUMMARY_GROUPS.items():
        for name, samples in manual[group].items():
            reported = summary[key][name]
            assert reported["mean"] == pytest.approx(samples.mean(), rel=1e-12, abs=1e-12)
            if np.ptp(samples) == 0:
                assert reported["ci95"] == 0.0
                continue
            low, high = stats.t.interval(0.95, len(samples) - 1, loc=samples.mean(), scale=stats.sem(samples))
            assert reported["ci95"] == pytest.approx((high - low) / 2, rel=1e-9), f"{key}/{name}"


def test_summary_has_an_interval_for_every_metric(case):
    results, manual = case
    summary = json.loads(json.dumps(results.summary(), allow_nan=False))  # no NaN anywhere
    for key, group in SUMMARY_GROUPS.items():
        assert list(summary[key]) == list(manual[group]), key
        for name, value in summary[key].items():
            assert set(value) == {"mean", "ci95"}, f"{key}/{name}"
            assert isinstance(value["mean"], float) and isinstance(value["ci95"], float), f"{key}/{name}"
            assert value["ci95"] >= 0.0
    assert summary["episode_cost_per_period"] == list(manual["cost"]["total"])
    text = format_summary(summary)
    assert "fill rate by speed" in text and "lost units per period" in text
    for name, value in summary["fill_rate"].items():
        assert f"±{value['ci95']:.4f}" in text.split("fill rate by speed")[1], name


def test_constant_metrics_get_a_zero_interval():
    serial = episodes("echelon/Serial-v1").summary()  # backorders: nothing is ever lost; no caps
    assert all(v == {"mean": 0.0, "ci95": 0.0} for v in serial["lost_per_period"].values())
    assert all(v == {"mean": 0.0, "ci95": 0.0} for v in serial["storage_use"].values())
    assert estimate(np.full(4, 0.1)).half_width == 0.0


@pytest.mark.parametrize("env_id", ENVS)
def test_chunking_gives_identical_per_episode_arrays(env_id: str):
    whole, chunked = episodes(env_id, num_envs=EPISODES), episodes(env_id, num_envs=2)
    for group, values in whole.evaluation.replicas.items():
        for name, expected in values.items():
            np.testing.assert_array_equal(chunked.evaluation.replicas[group][name], expected, err_msg=f"{group}/{name}")
    assert chunked.summary() == whole.summary()
