"""A gradient configuration whose update would not fit in memory is refused when its trainer is built, before a run
folder is written; resolving a configuration does not depend on the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import gradient_memory
from agents.gradient_agent import GradientAgentConfig, GradientTrainer
from agents.gradient_config import load_gradient_hyperparams
from agents.gradient_memory import UpdateMemoryError, available_memory, update_bytes
from envs import ENV_IDS
from experiments import train
from experiments.run_config import env_params
from experiments.sweep_config import check_sweep

GIB = 2**30
REFUSED = r"paths=100000, horizon=\d+ .* estimated .* GiB, above the 1\.0 GiB .* lower paths or horizon"
TINY = ["iterations=2", "paths=2", "horizon=5", "hidden=[4]", "eval_episodes=0"]


@pytest.fixture
def one_gib(monkeypatch) -> None:
    """A machine with 1 GiB available, whatever this one has."""
    monkeypatch.setattr(gradient_memory, "available_memory", lambda: GIB)


@pytest.mark.parametrize("env_id", ["echelon/Serial-v1", "echelon/Network-v1"])
def test_the_estimate_grows_with_paths_and_horizon(env_id):
    params = env_params(env_id)
    base = update_bytes(params, 64, 100, [64])
    assert update_bytes(params, 128, 100, [64]) > base and update_bytes(params, 64, 200, [64]) > base
    assert update_bytes(params, 128, 200, [64]) - update_bytes(params, 64, 200, [64]) > 0


def test_the_estimate_grows_with_the_scenario_and_the_network():
    serial, network = env_params("echelon/Serial-v1"), env_params("echelon/Network-v1")
    assert update_bytes(network, 64, 100, [64]) > update_bytes(serial, 64, 100, [64])
    assert update_bytes(network, 64, 100, [32, 32], "cells") > update_bytes(network, 64, 100, [32, 32])
    assert update_bytes(serial, 64, 100, [256, 256]) > update_bytes(serial, 64, 100, [64])


@pytest.mark.parametrize("action", ["residual", "direct"])
def test_every_default_config_fits_in_8_gib(monkeypatch, action):
    monkeypatch.setattr(gradient_memory, "available_memory", lambda: 8 * GIB)
    for env_id in ENV_IDS:
        config = load_gradient_hyperparams(env_id, {"action": action})  # checked with the config's own network
        assert update_bytes(env_params(env_id), config["paths"], config["horizon"], config["hidden"],
                            config.get("network", "mlp")) <= 8 * GIB


def test_a_config_far_above_the_memory_available_is_refused_before_its_run_folder(one_gib, tmp_path: Path):
    with pytest.raises(UpdateMemoryError, match=REFUSED):
        train.train("echelon/Network-v1", "gradient", 0, runs_dir=tmp_path / "runs", sets=["paths=100000"],
                    progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_message_says_what_fits(one_gib):
    params = env_params("echelon/Network-v1")
    with pytest.raises(UpdateMemoryError, match=r"horizon=100 on scenario 'network'.*paths x horizon <= [\d,]+ fits, "
                                                r"e\.g\. paths=\d+ at horizon=100"):
        GradientTrainer(params, GradientAgentConfig(paths=100000, horizon=100))
    gradient_memory.check_update_memory(params, 4, 100, [64])  # a small one still passes


def test_resolving_a_config_does_not_depend_on_the_machine(one_gib):
    """A sweep's driver (perhaps a login node) resolves every trial: the check belongs to the process that trains."""
    assert load_gradient_hyperparams("echelon/Network-v1", {"paths": 100000})["paths"] == 100000
    check_sweep({"env_id": "echelon/Network-v1", "algo": "gradient", "grid": {"gradient": {"paths": [8, 100000]}}},
                "sweep.yaml")


def test_a_run_that_no_longer_fits_is_refused_on_resume_not_called_corrupted(tmp_path: Path, monkeypatch):
    run, code = train.train("echelon/Serial-v1", "gradient", 0, runs_dir=tmp_path, sets=TINY, progress=False)
    assert code == 0
    run.file("status").write_text("interrupted\n")
    config = run.file("config.yaml").read_text()
    monkeypatch.setattr(gradient_memory, "available_memory", lambda: 2**20)
    with pytest.raises(UpdateMemoryError, match="paths=2, horizon=5 .* lower paths or horizon"):
        train.resume(run.path, progress=False)
    assert run.file("config.yaml").read_text() == config and run.status == "interrupted"


def test_the_memory_available_is_the_least_of_the_kernel_and_the_cgroup_limit(tmp_path: Path, monkeypatch):
    (tmp_path / "meminfo").write_text("MemTotal:       16777216 kB\nMemAvailable:    8388608 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    monkeypatch.setattr(gradient_memory, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(gradient_memory, "CGROUP", cgroup)
    monkeypatch.setattr(gradient_memory, "PROC_CGROUP", tmp_path / "no_self_cgroup")
    assert available_memory() == 8 * GIB  # no cgroup files: the kernel's figure
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text(f"{3 * GIB}\n")
    assert available_memory() == 8 * GIB  # no limit
    (cgroup / "memory.max").write_text(f"{4 * GIB}\n")
    (cgroup / "memory.stat").write_text(f"anon 1\ninactive_file {GIB // 2}\nactive_file 7\n")
    assert available_memory() == 3 * GIB // 2  # the limit, less what is used, plus the reclaimable page cache
    (cgroup / "memory.max").unlink()
    (cgroup / "memory").mkdir()  # cgroup v1
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text(f"{GIB}\n")
    assert available_memory() == GIB


def test_a_limit_on_a_cgroup_above_this_process_counts(tmp_path: Path, monkeypatch):
    """A batch job or a slice limits the folder of its job, not the mount root: every folder up the path counts."""
    (tmp_path / "meminfo").write_text("MemAvailable:    8388608 kB\n")
    cgroup, own = tmp_path / "cgroup", tmp_path / "self_cgroup"
    step = cgroup / "job" / "step"
    step.mkdir(parents=True)
    monkeypatch.setattr(gradient_memory, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(gradient_memory, "CGROUP", cgroup)
    monkeypatch.setattr(gradient_memory, "PROC_CGROUP", own)
    for folder, limit in ((cgroup, "max"), (cgroup / "job", str(2 * GIB)), (step, "max")):
        (folder / "memory.max").write_text(f"{limit}\n")
        (folder / "memory.current").write_text(f"{GIB}\n")
    own.write_text("0::/job/step\n")
    assert available_memory() == GIB  # the job's limit, two folders up
    own.write_text("0::/elsewhere\n")  # a folder the mount does not show (a cgroup namespace): the root's alone
    assert available_memory() == 8 * GIB
    v1 = cgroup / "memory" / "slurm" / "job_7"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{3 * GIB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{2 * GIB}\n")
    own.write_text("12:cpu,cpuacct:/slurm/job_7\n5:memory:/slurm/job_7\n")
    assert available_memory() == GIB
