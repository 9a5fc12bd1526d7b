"""The shared TOML helpers name the file, line or key of every problem."""

from __future__ import annotations

import pytest

from jaxrec import tomlconfig
from jaxrec.errors import ConfigError, DataFormatError


def test_read_and_parse_errors_name_file_and_line(tmp_path):
    with pytest.raises(DataFormatError, match=r"missing\.toml: cannot read the sweep file"):
        tomlconfig.read_toml(tmp_path / "missing.toml", "sweep file")
    bad = tmp_path / "bad.toml"
    bad.write_text('a = 1\nb = "unclosed\n')
    with pytest.raises(DataFormatError, match=r"bad\.toml:2: invalid TOML") as err:
        tomlconfig.read_toml(bad, "policy file")
    assert err.value.line == 2
    assert tomlconfig.parse_toml("[run]\nsteps = 3\n", "<text>") == {"run": {"steps": 3}}


def test_table_keys_and_integers_name_the_field():
    assert tomlconfig.table({}, "env") == {}
    with pytest.raises(ConfigError, match=r"^env: must be a table"):
        tomlconfig.table({"env": 3}, "env")
    with pytest.raises(ConfigError, match=r"^run\.stepz: unknown key; expected one of steps"):
        tomlconfig.check_keys({"stepz": 1}, ("steps",), "run")
    assert tomlconfig.integer(4, "run.steps", low=1) == 4
    for value in (True, 2.5, "3"):
        with pytest.raises(ConfigError, match=r"^run\.steps: must be an integer"):
            tomlconfig.integer(value, "run.steps", low=1)
    with pytest.raises(ConfigError, match=r"^run\.steps: must be >= 1, got 0"):
        tomlconfig.integer(0, "run.steps", low=1)
