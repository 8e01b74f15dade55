"""Scenarios with demand no node can serve load, with a warning that names the regions and speeds."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import yaml
from helpers import hand_scenario

from envs.scenario import (
    Product,
    Region,
    ServiceLink,
    Speed,
    UnservableDemandWarning,
    load_scenario_file,
    scenario_to_dict,
)

BASE = hand_scenario()  # north: fc1 (transit 0), fc2 (1); south: fc2 (0), fc1 (1); speeds promise 0 and 1


def unserved_message(build) -> str:
    with pytest.warns(UnservableDemandWarning) as caught:
        build()
    assert len(caught) == 1
    return str(caught[0].message)


@pytest.mark.parametrize(("build", "fragments", "absent"), [
    (lambda: dataclasses.replace(BASE, regions=(*BASE.regions, Region("island", 1.0, ()))),
     ["region 'island' (no links)"], ["'north'", "'south'"]),
    (lambda: dataclasses.replace(BASE, regions=(BASE.regions[0], Region("far", 1.0, (ServiceLink("fc1", 3),)))),
     ["region 'far' at speed(s) 'same_day', 'next_day'", "no link within the promise"], ["'north'"]),
    (lambda: dataclasses.replace(BASE, regions=(Region("slow", 1.0, (ServiceLink("fc1", 1),)),),
                                 speeds=(Speed("now", 0, 5.0), Speed("later", 1, 3.0))),
     ["region 'slow' at speed(s) 'now'"], ["'later'"]),
    (lambda: dataclasses.replace(BASE, regions=(Region("a", 1.0, (ServiceLink("fc1", 3),)),
                                                Region("b", 2.0, (ServiceLink("fc2", 5),)))),
     ["region 'a' at speed(s) 'same_day', 'next_day'", "region 'b' at speed(s) 'same_day', 'next_day'"], []),
])
def test_unservable_demand_loads_with_a_warning_naming_it(build, fragments, absent):
    message = unserved_message(build)
    for fragment in [*fragments, "scenario 'hand'", "unmet-demand penalty", "add service links"]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for fragment in absent:
        assert fragment not in message


def test_one_period_of_slack_after_the_cut_off_counts_as_served():
    regions = (Region("r", 1.0, (ServiceLink("fc1", 1),)),)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataclasses.replace(BASE, regions=regions, speeds=(Speed("now", 0, 5.0, cutoff_share=0.3),))
    with pytest.warns(UnservableDemandWarning, match="region 'r' at speed\\(s\\) 'now'"):
        dataclasses.replace(BASE, regions=regions, speeds=(Speed("now", 0, 5.0),))


@pytest.mark.parametrize("build", [
    lambda: dataclasses.replace(BASE, regions=(*BASE.regions, Region("empty", 0.0, ()))),
    lambda: dataclasses.replace(BASE, speeds=(*BASE.speeds, Speed("never", 5, 1.0, demand_share=0.0))[:2]),
    lambda: dataclasses.replace(BASE, regions=(*BASE.regions, Region("island", 1.0, ())),
                                products=(Product("none", 0.0),)),
])
def test_no_warning_without_demand_to_serve(build):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build()


def test_a_yaml_file_with_an_unlinked_region_loads_with_the_warning(tmp_path):
    data = scenario_to_dict(BASE)
    data["regions"].append({"name": "island", "demand_share": 1.0, "links": []})
    path = tmp_path / "island.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.warns(UnservableDemandWarning, match="region 'island' \\(no links\\)"):
        scenario = load_scenario_file(path)
    assert scenario.regions[-1].name == "island"
