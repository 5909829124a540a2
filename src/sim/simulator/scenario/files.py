"""Scenario files on disk: finding one by name, reading and parsing it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim.simulator.scenario.model import Scenario
from sim.simulator.scenario.parse import parse_scenario
from sim.simulator.schema import ScenarioError


def load_scenario(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(data, str(path))


def resolve_scenario_path(name_or_path: str, search_dirs: tuple[Path, ...]) -> Path:
    """A path as given, or ``<dir>/<name>.toml`` in the first search dir that has it."""
    direct = Path(name_or_path)
    if direct.suffix == ".toml" or direct.exists():
        if not direct.exists():
            raise ScenarioError(f"{direct}: no such scenario file")
        return direct
    for directory in search_dirs:
        candidate = directory / f"{name_or_path}.toml"
        if candidate.exists():
            return candidate
    looked = ", ".join(str(d) for d in search_dirs)
    raise ScenarioError(f"no scenario named {name_or_path!r} (looked in {looked})")
