"""``closed-loop`` and ``train platform`` read their world, env and run from a config file in the
platform schema: the shipped file by default, ``--config FILE`` instead, each option over its key;
a key the command does not read is refused, never ignored."""

from __future__ import annotations

import dataclasses
import re

import pytest

from jaxrec import tomlconfig
from jaxrec.cli import build_parser, main
from jaxrec.commands import _train_platform, closed_loop
from jaxrec.errors import ConfigError
from jaxrec.experiments.config import EXPERIMENT_CONFIGS, load_experiment_config
from jaxrec.experiments.platform_long_run_setup import LongRunExperiment, train_config

COMMANDS = {
    ("closed-loop",): (closed_loop, "closed_loop.toml"),
    ("train", "platform"): (_train_platform, "long_run.toml"),
}
SHIPPED = re.compile(r"replaces (\w+)\.(\w+); shipped ([\w.]+)")


def parsed(command, *argv, out):
    return build_parser().parse_args([*command, *argv, "--out", str(out)])


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_the_shipped_value_of_the_key_it_replaces(command, tmp_path):
    """The help's "replaces T.K; shipped V" against the shipped file (the docs cannot drift)."""
    module, shipped = COMMANDS[command]
    file = tomlconfig.read_toml(EXPERIMENT_CONFIGS / shipped, "shipped")
    parser = build_parser()._subparsers._group_actions[0].choices[command[0]]
    if len(command) == 2:
        parser = parser._subparsers._group_actions[0].choices[command[1]]
    claims = [SHIPPED.search(a.help or "") for a in parser._actions]
    claims = [m.groups() for m in claims if m]
    assert len(claims) >= 4
    for table, key, value in claims:
        assert str(file[table][key]) == value, (table, key)
    # and the validated settings are the file's
    settings = module.validate(parsed(command, out=tmp_path / "out"))
    settings = settings[1] if command == ("closed-loop",) else settings  # (policy, settings)
    assert settings.world.n_users == file["world"]["n_users"]
    assert settings.run["steps"] == file["run"]["steps"]


def test_closed_loop_reads_the_config_and_each_given_option_replaces_its_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        "[world]\nseed = 5\nn_users = 40\nn_items = 90\nn_producers = 6\npopularity_exponent = 0.7\n"
        "[env]\nslate_size = 4\ntaste_drift = 0.02\n[run]\nsteps = 30\nworlds = 3\nchunk = 10\n"
    )
    _, settings = closed_loop.validate(
        parsed(("closed-loop",), "--config", str(config), out=tmp_path / "out")
    )
    assert (settings.world.n_users, settings.world.n_items, settings.world_seed) == (40, 90, 5)
    assert settings.world.popularity_exponent == 0.7  # a key no option shows still reaches it
    assert settings.env_static == {"slate_size": 4, "log_steps": 50}  # --retrain-every's default
    assert settings.env_params == {"taste_drift": 0.02}
    assert settings.run == {"steps": 30, "worlds": 3, "seed": 0, "chunk": 10}
    options = ["--config", str(config), "--items", "120", "--seed", "7", "--retrain-every", "5"]
    _, settings = closed_loop.validate(parsed(("closed-loop",), *options, out=tmp_path / "out"))
    assert settings.world.n_items == 120 and settings.world.n_users == 40
    assert settings.world_seed == settings.run["seed"] == 7  # --seed sets both seeds
    assert settings.env_static["log_steps"] == 5


def test_train_platform_builds_its_experiment_from_the_config(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        "[world]\nn_users = 30\nn_items = 60\nn_producers = 5\ndim = 6\nseed = 2\n"
        "[env]\nslate_size = 4\nhistory_len = 3\nrelabel_every = 7\n[run]\nsteps = 25\nseeds = 2\n"
    )
    args = parsed(
        ("train", "platform"), "--config", str(config), "--head-per-slate", "2", out=tmp_path / "o"
    )
    experiment = _train_platform.long_run_experiment(args, _train_platform.validate(args))
    got = {name: getattr(experiment, name) for name in (
        "n_users", "n_items", "n_producers", "dim", "world_seed", "slate_size", "history_len",
        "relabel_every", "test_steps", "seeds",
    )}  # fmt: skip
    assert got == {
        "n_users": 30, "n_items": 60, "n_producers": 5, "dim": 6, "world_seed": 2,
        "slate_size": 4, "history_len": 3, "relabel_every": 7, "test_steps": 25, "seeds": 2,
    }  # fmt: skip
    # a key the file leaves out takes the schema's one default (the platform's 0.5), not the
    # shipped experiment's 1.0
    assert experiment.popularity_beta == 0.5
    argv = ["--config", str(config), "--matthew", "2", "--seeds", "4", "--multiplier-lr", "0.3"]
    argv += ["--multiplier-kp", "0.2", "--multiplier-kd", "0.4"]
    args = parsed(("train", "platform"), *argv, out=tmp_path / "o")
    experiment = _train_platform.long_run_experiment(args, _train_platform.validate(args))
    assert (experiment.popularity_beta, experiment.seeds) == (2.0, 4)
    gains = train_config(experiment, "ppo-lag")
    assert (gains.multiplier_lr, gains.multiplier_kp, gains.multiplier_kd) == (0.3, 0.2, 0.4)


def test_train_platform_defaults_are_the_experiments_defaults(tmp_path):
    """With no options the command trains what ``LongRunExperiment()`` describes: the option
    defaults repeat the dataclass's (the CLI does not import it to keep ``--help`` fast), so a
    default changed in one place only fails here."""
    args = parsed(("train", "platform"), out=tmp_path / "o")
    experiment = _train_platform.long_run_experiment(args, _train_platform.validate(args))
    defaults = LongRunExperiment()
    differ = {
        f.name: (getattr(experiment, f.name), getattr(defaults, f.name))
        for f in dataclasses.fields(LongRunExperiment)
        if getattr(experiment, f.name) != getattr(defaults, f.name)
    }
    assert differ == {}
    assert (defaults.multiplier_kp, defaults.multiplier_lr, defaults.multiplier_kd) == (
        0.05,
        0.003,
        0.0,
    )


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        (("closed-loop",), '[policy]\nname = "greedy"\n', "policy: closed-loop does not read"),
        (("closed-loop",), "[env]\nlog_steps = 3\n", "env.log_steps: .*--retrain-every"),
        (("closed-loop",), "[env]\nn_users = 3\n", "env.n_users: .*world.n_users"),
        (("closed-loop",), "[run]\nseeds = 3\n", "run.seeds: closed-loop does not read it"),
        (("train", "platform"), "[world]\nmainstream_weight = 0.1\n", "world.mainstream_weight"),
        (("train", "platform"), "[env]\ntaste_drift = 0.1\n", "env.taste_drift"),
        (("train", "platform"), "[run]\nchunk = 10\n", "run.chunk"),
        (("train", "platform"), "[grid]\nx = 1\n", "grid: train platform does not read"),
    ],
)
def test_a_key_the_command_does_not_read_is_refused(tmp_path, capsys, command, text, message):
    config = tmp_path / "c.toml"
    config.write_text(text)
    out = tmp_path / "out"
    assert main([*command, "--config", str(config), "--out", str(out)], validate_only=True) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not out.exists()


def test_an_error_on_an_overridden_key_names_the_option(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[world]\nn_items = 10\n")
    reads = {"world": None}
    with pytest.raises(ConfigError, match=r"^--producers \(world.n_producers\): must be <="):
        load_experiment_config(config, "x", reads, {}, [("--producers", "world.n_producers", 20)])
    # a value of None leaves the file's; the file's own error names only the key
    config.write_text("[world]\nn_items = 10\nn_producers = 20\n")
    with pytest.raises(ConfigError, match=r"^world.n_producers: must be <="):
        load_experiment_config(config, "x", reads, {}, [("--producers", "world.n_producers", None)])


@pytest.mark.parametrize("command", COMMANDS)
def test_print_config_prints_the_shipped_file(capsys, command):
    assert main([*command, "--print-config"]) == 0
    shipped = (EXPERIMENT_CONFIGS / COMMANDS[command][1]).read_text()
    assert capsys.readouterr().out == shipped
    assert isinstance(tomlconfig.parse_toml(shipped, source="x"), dict)
