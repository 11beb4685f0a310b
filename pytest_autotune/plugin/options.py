"""The options and ini keys registered with pytest, and pytest's config read into the frozen
:class:`~pytest_autotune.settings.Settings` (precedence: command line > environment > ini file >
default; the option table and the parsing are ``pytest_autotune/settings.py``)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ..settings import OPTIONS, Option, Settings, SettingsError, parse


def addoptions(parser: pytest.Parser) -> None:
    group = parser.getgroup("autotune", "pytest-autotune: tune and guard inference servers")
    for option in OPTIONS:
        if option.flag:
            group.addoption(option.cli, action="store_true", default=None, dest=option.dest,
                            help=option.help.replace("%", "%%"))  # argparse formats help
            parser.addini(option.ini, option.help, type="bool", default=False)
        else:
            group.addoption(option.cli, action="store", default=None, dest=option.dest,
                            metavar=option.metavar, help=option.help.replace("%", "%%"))
            parser.addini(option.ini, option.help, default=None)


def raw_value(config: pytest.Config, option: Option[Any]) -> tuple[Any, str]:
    """An option's text and where it came from: the command line, the environment, the ini
    file, or (None) the default."""
    value = config.getoption(option.dest, default=None)
    if value is not None:
        return value, option.cli
    env = os.environ.get(option.env)
    if env is not None and env != "":
        return env, f"environment variable {option.env}"
    ini = config.getini(option.ini)
    if ini not in (None, "", []):
        return ini, f"ini option {option.ini}"
    return None, "default"


def settings_from_config(config: pytest.Config) -> Settings:
    """The run's settings; a bad value is a usage error that names where it came from."""
    try:
        values = {o.dest: parse(o, *raw_value(config, o)) for o in OPTIONS}
        return Settings.from_values(values, config.rootpath)
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
