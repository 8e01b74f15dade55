"""The planner in shards: fixed-order sums over products, whole-chunk shards, and the same plan bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.planner import plan
from baselines.product_sums import CHUNK, ProductSums, chunk_bounds, combine
from baselines.shard_executor import LocalExecutor, shard_models
from envs.params import compile_scenario
from envs.scenario.generate import network_scenario


@pytest.fixture(scope="module")
def catalog():
    """2,000 products (four chunks, the last one short) on 12 stocking nodes with binding caps."""
    return compile_scenario(network_scenario("catalog", num_products=2000, num_fulfillment_centers=8,
                                             num_same_day_sites=3, num_regions=10, seed=4))


def test_chunked_sums_do_not_depend_on_the_split():
    rng = np.random.default_rng(0)
    values, weights = rng.lognormal(size=(3, 4, 5 * CHUNK + 77)), rng.random(5 * CHUNK + 77)
    sums = ProductSums(whole=False)
    for bounds in (chunk_bounds(values.shape[-1], 1), chunk_bounds(values.shape[-1], 4)):
        assert all(part.start % CHUNK == 0 for part in bounds) and bounds[-1].stop == values.shape[-1]
        split = [values[..., part] for part in bounds]
        assert np.array_equal(combine([sums.of(part) for part in split]), combine(sums.of(values)))
        assert np.array_equal(combine([sums.of(part, axes=(0,)) for part in split]), combine(sums.of(values, (0,))))
        assert np.array_equal(combine([sums.weighted(part, weights[b]) for part, b in zip(split, bounds, strict=True)]),
                              combine(sums.weighted(values, weights)))
        assert combine([sums.total(part) for part in split]) == combine(sums.total(values))
    np.testing.assert_allclose(combine(sums.of(values)), values.sum(-1), rtol=1e-13)


def test_a_catalog_of_one_chunk_is_summed_as_numpy_sums_it():
    rng = np.random.default_rng(1)
    values, weights = rng.random((4, CHUNK)), rng.random(CHUNK)
    sums = ProductSums.for_catalog(CHUNK)
    assert sums.whole and not ProductSums.for_catalog(CHUNK + 1).whole
    assert np.array_equal(combine(sums.of(values)), values.sum(1))
    assert np.array_equal(combine(sums.weighted(values, weights)), values @ weights)
    assert combine(sums.total(values)) == np.sum(values)


def test_shards_are_whole_chunks_and_too_many_are_refused():
    assert chunk_bounds(2000, 3) == [slice(0, 512), slice(512, 1024), slice(1024, 2000)]
    assert chunk_bounds(300, 1) == [slice(0, 300)]
    assert chunk_bounds(1025, 2) == [slice(0, 512), slice(512, 1025)]  # never a shard of the short last chunk alone
    with pytest.raises(ValueError, match="1 to 3 shards"):
        chunk_bounds(2000, 4)
    with pytest.raises(ValueError, match="1 to 1 shards"):
        plan("network", shards=2)


def test_shard_models_are_slices_of_the_catalog_model(catalog):
    whole, *_ = shard_models(catalog, 1)
    parts = list(shard_models(catalog, 3))
    assert [part.num_products for part in parts] == [512, 512, 976]
    assert np.array_equal(np.concatenate([part.stream_var for part in parts], axis=-1), whole.stream_var)
    assert all(np.array_equal(part.speed_demand, whole.speed_demand) for part in parts)


def test_three_shards_plan_exactly_as_one(catalog):
    one, three = plan(catalog), plan(catalog, shards=3)
    assert np.isfinite(one.storage_capacity).any() and one.storage_price.max() > 0  # the caps bind: prices searched
    for name in ("echelon_levels", "storage_price", "inbound_price", "storage_use", "inbound_use", "storage_sd"):
        assert np.array_equal(getattr(one, name), getattr(three, name)), name
    assert (one.cost, one.dual_bound) == (three.cost, three.dual_bound)
    assert one.history == three.history


def test_shards_held_by_an_executor_answer_for_their_products_only(catalog):
    executor = LocalExecutor(shard_models(catalog, 2))
    totals = executor.map("allocate")
    assert [part.subtree_flow.shape for part in totals] == [(12, 1), (12, 3)]  # 512 and 1,488 products
    with pytest.raises(ValueError, match="not one of"):
        executor.map("__init__")
    executor.close()
