"""A campaign's config from where a user writes it: a TOML campaign file, a problem's name
or file, flags, and ``--set key=value`` assignments (CampaignConfig checks the result)."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluators.path_hints import missing_file_hint
from evolve.config import DEFAULT_DB, CampaignConfig, ConfigError


def load_toml(path: str | Path) -> dict[str, Any]:
    """A campaign file: UTF-8 TOML (a leading byte order mark, as some editors write,
    is skipped). Every failure is a ConfigError naming the file."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"campaign file {path} is a directory, not a TOML file")
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            raise ConfigError(f"campaign file {path} is not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        hint = missing_file_hint(path, ".toml")
        raise ConfigError(f"campaign file not found: {path}{hint}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the campaign file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def parse_value(text: str) -> Any:
    """A --set value: a TOML literal (1, 0.5, true, "s", [1, 2]) or else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` pairs; dotted keys reach into tables (strategy.islands=8,
    problem.seed=3 is short for problem_options.seed=3, operators.ast_mutate=1)."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        parts = key.split(".")
        if parts[0] == "problem" and len(parts) > 1:
            parts[0] = "problem_options"
        table = out
        for part in parts[:-1]:
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a table")
            table = nxt
        table[parts[-1]] = parse_value(raw.strip())
    return out


def resolve_db(url: str | None) -> str:
    return url or os.environ.get("EVOLVE_DB") or DEFAULT_DB


def build_config(
    target: str, overrides: Mapping[str, Any], assignments: Sequence[str] = ()
) -> CampaignConfig:
    """``target`` is a TOML campaign file, a registered problem name, or a problem .py file."""
    if target.endswith(".toml"):
        data = load_toml(target)
        if isinstance(data.get("problem"), str) and data["problem"].endswith(".py"):
            # A problem file named in a campaign file is relative to that file.
            data["problem"] = str((Path(target).parent / data["problem"]).resolve())
        _absolute_paths(data.get("problem_options"), Path(target).parent)
    else:
        data = {"problem": str(Path(target).resolve()) if target.endswith(".py") else target}
    data.update({k: v for k, v in overrides.items() if v is not None})
    data = apply_overrides(data, assignments)
    _absolute_paths(data.get("problem_options"), Path.cwd())
    config = CampaignConfig.from_dict(data)
    if config.ray_address and config.executor != "ray":  # a new campaign's: else ignored
        raise ConfigError(
            f'ray_address goes with executor = "ray" (--executor ray): with executor = '
            f'"{config.executor}" the campaign would run without the cluster at '
            f"{config.ray_address!r}"
        )
    return config


PATH_OPTION_SUFFIXES = ("_dir", "_file", "_path")


def _absolute_paths(options: Any, base: Path) -> None:
    """Problem options named *_dir, *_file or *_path that hold a relative path, made
    absolute against ``base`` (a campaign file's folder, else the current one): the campaign
    stores them so, and a resume from another folder reads the same data."""
    if not isinstance(options, dict):
        return  # from_dict says what is wrong with it
    for key, value in options.items():
        if key.endswith(PATH_OPTION_SUFFIXES) and isinstance(value, str) and value:
            path = Path(value).expanduser()
            options[key] = str(path if path.is_absolute() else (base / path).resolve())
