"""Scenarios: one TOML file says who the users are, how the services behave, what breaks when.

- :mod:`~sim.simulator.scenario.model`: every table as a frozen pydantic model (the schema);
- :mod:`~sim.simulator.scenario.latency`: latency distributions (parse and sample);
- :mod:`~sim.simulator.scenario.parse`: a file's data into a ``Scenario`` (``parse_scenario``);
- :mod:`~sim.simulator.scenario.merge`: contrast runs and overrides;
- :mod:`~sim.simulator.scenario.files`: loading a file, resolving a name.
"""

from sim.simulator.faults.kind import Fault
from sim.simulator.scenario.files import load_scenario, resolve_scenario_path
from sim.simulator.scenario.latency import NO_LATENCY, Latency
from sim.simulator.scenario.merge import contrast_scenario, merge_tables, with_overrides
from sim.simulator.scenario.model import (
    ALWAYS_CHECKED,
    DEFAULT_INVARIANTS,
    FILE_KINDS,
    INVARIANTS,
    SERVICES,
    SWARM_INVARIANTS,
    BotConfig,
    Cpu,
    Expect,
    Files,
    Invariants,
    Log,
    Peak,
    Scenario,
    ServiceModel,
    Users,
)
from sim.simulator.scenario.parse import parse_scenario
from sim.simulator.schema import ScenarioError

__all__ = [
    "ALWAYS_CHECKED",
    "DEFAULT_INVARIANTS",
    "FILE_KINDS",
    "INVARIANTS",
    "NO_LATENCY",
    "SERVICES",
    "SWARM_INVARIANTS",
    "BotConfig",
    "Cpu",
    "Expect",
    "Fault",
    "Files",
    "Invariants",
    "Latency",
    "Log",
    "Peak",
    "Scenario",
    "ScenarioError",
    "ServiceModel",
    "Users",
    "contrast_scenario",
    "load_scenario",
    "merge_tables",
    "parse_scenario",
    "resolve_scenario_path",
    "with_overrides",
]
