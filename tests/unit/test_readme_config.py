"""README's configuration tables against the settings models and the policy table."""

import math
import re
from pathlib import Path

from pydantic import AliasChoices

from adapters.compose import RealConfig
from adapters.ops.settings import OpsSettings
from bot.policy import POLICIES, Retry
from bot.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
NOT_BY_PREFIX = {"deadlines", "retries", "admin_ids"}  # their own variables


def configuration_rows() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Configuration") : text.index("## How it is built")]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith("`"):
            rows.append(cells)
    return rows


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def adapter_variables() -> set[str]:
    out: set[str] = set()
    for field in RealConfig.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            out.update(str(choice) for choice in alias.choices)
        elif alias is not None:
            out.add(str(alias))
    return out


def ops_variables() -> set[str]:
    return {name.upper() for name in OpsSettings.model_fields}


def core_variables() -> dict[str, object]:
    return {
        ENV_PREFIX + name.upper(): field.default
        for name, field in Settings.model_fields.items()
        if name not in NOT_BY_PREFIX
    }


def test_every_variable_the_models_read_is_documented_and_nothing_else() -> None:
    documented: set[str] = set()
    for row in configuration_rows():
        if row[0].startswith("`") and not re.match(r"`[a-z]", row[0]):  # variables, not operations
            documented.update(names(row[0]))
    # Mentioned in the meaning column rather than a row of their own:
    documented.update({"SUPABASE_URL", "SUPABASE_KEY", "SUPABASE_BUCKET", "SUPABASE_SESSION_LIMIT"})
    documented.update({"SENTRY_ENVIRONMENT", "PRUNE_EVERY_S"})
    assert documented == adapter_variables() | set(core_variables()) | ops_variables() | {"ADMIN_IDS"}


def test_documented_core_defaults_are_the_models() -> None:
    defaults = core_variables()
    for row in configuration_rows():
        variables, values = names(row[0]), names(row[1])
        if variables and variables[0].startswith(ENV_PREFIX):
            assert len(variables) == len(values), row
            for variable, value in zip(variables, values, strict=True):
                assert float(value) == float(defaults[variable]), variable  # type: ignore[arg-type]


def _retry_text(retry: Retry) -> str:
    if retry.attempts == 1:
        return "none"
    tries = "until stopped" if retry.attempts is None else f"{retry.attempts} tries"
    return f"{tries}, waits {retry.wait_initial:g} s doubling to {retry.wait_max:g} s"


def test_the_policy_table_is_the_code() -> None:
    documented = {}
    for row in configuration_rows():
        if re.match(r"`[a-z]", row[0]):
            documented[names(row[0])[0]] = (row[1], row[2])
    assert set(documented) == set(POLICIES)
    for op, policy in POLICIES.items():
        deadline, retries = documented[op]
        expected = "none" if math.isinf(policy.deadline) else f"{policy.deadline:g}"
        assert deadline == expected, op
        assert retries.startswith(_retry_text(policy.retry)), op
