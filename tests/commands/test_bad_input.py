"""Bad input never gets past the door: every option of every subcommand and every config field.

The option test WALKS the parser tree of :func:`jaxrec.cli.build_parser` (so options and
subcommands added later are covered without editing this file), tries bad values of every option
from its declared type (non-numbers, NaN, infinity, fractions for integers, zero or negative
counts, out-of-range fractions, empty or malformed lists, unknown choices) and runs parse +
validation only (``main(argv, validate_only=True)``). The config test does the same for every field
of a simulation config, a sweep file, a marketplace policy and the experiment configs of
``closed-loop`` and ``train platform``. Each case must exit with code 2, name
the option or the dotted field, print no traceback and write nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from jaxrec.cli import build_parser, main
from jaxrec.commands import _options as opt

NOT_NUMBERS = ("abc", "", "1e3x", "true")
BAD_BY_TYPE = {
    opt.positive_int: (*NOT_NUMBERS, "2.5", "nan", "inf", "0", "-1"),
    opt.nonnegative_int: (*NOT_NUMBERS, "2.5", "nan", "-1"),
    opt.finite_float: (*NOT_NUMBERS, "nan", "inf", "-inf"),
    opt.positive_float: (*NOT_NUMBERS, "nan", "inf", "0", "-1"),
    opt.nonnegative_float: (*NOT_NUMBERS, "nan", "inf", "-0.5"),
    opt.fraction: (*NOT_NUMBERS, "nan", "1.5", "-0.1"),
    opt.limit: (*NOT_NUMBERS, "nan", "-1"),
}


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every parser with a handler, e.g. (("train", "cpo"), parser)."""
    if parser.get_default("func") is not None:
        yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_parsers(sub, (*path, name))


def bad_values(action: argparse.Action) -> tuple[str, ...]:
    """Values the option must refuse, from its declared type or choices ((): none to draw)."""
    if action.choices is not None:
        return ("no-such-choice",)
    if action.type in BAD_BY_TYPE:
        return BAD_BY_TYPE[action.type]
    if getattr(action.type, "kind", None) == "list":
        item_bad = BAD_BY_TYPE.get(getattr(action.type, "item", None), ())
        return (",", "1,,2", *(f"1,{v}" for v in item_bad if v and "," not in v))
    assert action.type in (None, str) or callable(action.type), action
    # untyped (string) options: paths, names; checked where they are used
    return ()


def valued_options():
    """(command path, option string, bad value) over the whole tree: every bad value of a type on
    the first option of that type, then its first and last bad values (a non-number and the
    type's own range error) on every other option, which runs the same type function."""
    cases, tried = [], set()
    for path, parser in leaf_parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            values = bad_values(action)
            kind = (action.type, getattr(action.type, "item", None), action.choices is None)
            if kind in tried and getattr(action.type, "kind", None) != "list":
                values = tuple(dict.fromkeys(values[:1] + values[-1:]))
            tried.add(kind)
            cases += [(path, action.option_strings[-1], value) for value in values]
    return cases


CASES = valued_options()


def required_arguments(path: tuple[str, ...], tmp_path) -> list[str]:
    """Arguments every parse needs: a fresh --out and the positional a command requires."""
    parser = dict(leaf_parsers(build_parser()))[path]
    args = []
    for action in parser._actions:
        if not action.option_strings and action.required and action.nargs is None:
            args.append(str(tmp_path))  # e.g. `report DIR`
    if any("--out" in a.option_strings for a in parser._actions):
        args += ["--out", str(tmp_path / "out")]
    return args


def test_the_walk_sees_every_command_and_typed_option():
    paths = {path for path, _, _ in CASES}
    for expected in [
        ("simulate",),
        ("demo",),
        ("report",),
        ("train", "cpo"),
        ("train", "platform"),
    ]:
        assert expected in paths
    options = {(path, option) for path, option, _ in CASES}
    assert (("train", "platform"), "--seeds") in options
    assert (("train", "sweep"), "--limits") in options
    assert (("bench", "env"), "--users") in options  # plain type=int typed by the cli's rule
    # a plain int option added later is typed too
    parser = build_parser()
    sub = dict(leaf_parsers(parser))[("demo",)]
    assert next(a for a in sub._actions if "--steps" in a.option_strings).type is opt.positive_int


def _refusal_problem(argv: list[str], name: str, out, capsys) -> str | None:
    """Why ``argv`` was not refused properly (None: exit 2, ``name`` in the error, nothing written)."""
    code = main(argv, validate_only=True)
    err = capsys.readouterr().err
    if code != 2:
        return f"exit {code}"
    if "Traceback" in err:
        return "traceback"
    if not re.search(name, err):
        return f"error does not name it: {err.strip()[-200:]}"
    if out.exists():
        return "wrote output"
    return None


def test_a_bad_option_value_is_refused_at_the_door(tmp_path, capsys):
    # every case, not a sample: a sampled walk lets a rare bad value through on some runs only
    problems = []
    for path, option, value in CASES:
        argv = [*path, *required_arguments(path, tmp_path), f"{option}={value}"]
        name = rf"error: argument [^:]*{re.escape(option)}"
        problem = _refusal_problem(argv, name, tmp_path / "out", capsys)
        if problem:
            problems.append((" ".join(path), option, value, problem))
    assert not problems, problems[:10]


# ---------------------------------------------------------------------------------------- configs
def _world_fields():
    from jaxrec.data.synthetic import SyntheticWorldConfig

    return [f.name for f in dataclasses.fields(SyntheticWorldConfig)]


def _config_cases():
    """(file kind, section, key, bad TOML value) for every field of the three config files."""
    from jaxrec.envs.platform import PARAM_KEYS as ENV_PARAM_KEYS
    from jaxrec.envs.platform import STATIC_KEYS as ENV_STATIC_KEYS
    from jaxrec.envs.platform_types import _PARAM_DTYPES
    from jaxrec.experiments.config import RUN_DEFAULTS

    numeric = ('"lots"', "true", "nan", "inf")
    cases = []
    for key in _world_fields():
        cases += [("simulate", "world", key, v) for v in numeric]
    for key in ENV_STATIC_KEYS:
        bad = ('"no"', "1") if key == "mask_history" else ('"lots"', "true", "2.5", "-1")
        cases += [("simulate", "env", key, v) for v in bad]
    for key in ENV_PARAM_KEYS:
        if key == "examination":
            cases += [("simulate", "env", key, v) for v in ('"bogus"', "1", "true")]
            continue
        bad = (*numeric, "2.5") if key in _PARAM_DTYPES else numeric
        cases += [("simulate", "env", key, v) for v in bad]
        cases += [("sweep", "env", key, v) for v in numeric]
    for key in RUN_DEFAULTS:
        cases += [("simulate", "run", key, v) for v in ('"lots"', "true", "2.5", "-1", "nan")]
    cases += [("simulate", "policy", "head_ratio", v) for v in (*numeric, "1.5", "-0.5")]
    for key in ("steps", "chunk", "log_every", "checkpoint_every", "seeds"):
        cases += [("sweep", "run", key, v) for v in ('"lots"', "true", "2.5", "-1")]
    for section, key in (
        ("floors", "relevance"),
        ("floors", "quality"),
        ("slate", "max_per_producer"),
        ("slate", "max_head_share"),
        ("saturation", "alpha"),
        ("bonus", "target"),
    ):
        cases += [("closed-loop", section, key, v) for v in numeric]
    experiment_keys = {
        "closed-loop --config": [
            *(("world", key) for key in _world_fields()),
            ("env", "slate_size"),
            ("env", "popularity_beta"),
            *(("run", key) for key in ("steps", "worlds", "seed", "chunk")),
        ],
        "train platform --config": [
            *(("world", key) for key in ("seed", "n_users", "n_items", "n_producers", "dim")),
            *(("env", key) for key in ("slate_size", "history_len", "relabel_every")),
            ("env", "popularity_beta"),
            ("run", "steps"),
            ("run", "seeds"),
        ],
    }
    for kind, keys in experiment_keys.items():
        cases += [(kind, section, key, v) for section, key in keys for v in numeric]
    return cases


SWEEP_BASE = """
[world]
n_users = 8
n_items = 20
n_producers = 2
dim = 4
[env]
slate_size = 3
[grid]
"env.popularity_beta" = [0.0, 1.0]
"""


def _config_argv(kind: str, section: str, key: str, value: str, tmp_path) -> tuple[list[str], str]:
    """The command line and the dotted field name the error must give."""
    path = tmp_path / "config.toml"
    out = ["--out", str(tmp_path / "out")]
    if kind == "simulate":
        header = '[policy]\nname = "static_rerank"\n' if section == "policy" else f"[{section}]\n"
        path.write_text(f"{header}{key} = {value}\n")
        return ["simulate", str(path), *out], f"{section}.{key}"
    if kind == "sweep":
        run = {"steps": "4", "chunk": "2"}
        if section == "run":
            run[key] = value
        text = SWEEP_BASE + "[run]\n" + "".join(f"{k} = {v}\n" for k, v in run.items())
        if section == "env":  # the base file has an [env] table already
            text = text.replace("[env]\n", f"[env]\n{key} = {value}\n")
        elif section != "run":
            text += f"[{section}]\n{key} = {value}\n"
        path.write_text(text)
        return ["sweep", str(path), *out], f"{section}.{key}"
    if kind.endswith("--config"):
        path.write_text(f"[{section}]\n{key} = {value}\n")
        return [*kind.split(), str(path), *out], f"{section}.{key}"
    path.write_text(f"version = 1\n[{section}]\n{key} = {value}\n")
    return ["closed-loop", "--policy", str(path), *out], f"{section}.{key}"


def test_a_bad_config_value_is_refused_naming_the_field(tmp_path, capsys):
    problems = []
    for number, case in enumerate(_config_cases()):
        case_dir = tmp_path / str(number)
        case_dir.mkdir()
        argv, field = _config_argv(*case, case_dir)
        name = rf"error: {re.escape(field)}: "
        problem = _refusal_problem(argv, name, case_dir / "out", capsys)
        if problem:
            problems.append((*case, problem))
    assert not problems, problems[:10]


@pytest.mark.parametrize("text", ["", 'name = "x"\n'])
def test_an_empty_sweep_file_or_grid_is_an_error(tmp_path, capsys, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")], validate_only=True) == 2
    assert "error: grid: no parameter to vary" in capsys.readouterr().err
