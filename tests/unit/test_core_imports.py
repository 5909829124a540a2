"""src/bot imports only bot.*, the standard library and the project's declared dependencies."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "bot"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
    return {_normalise(m.group(1)) for dep in project["dependencies"] if (m := names.match(dep))}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def foreign_imports(root: Path, declared: set[str]) -> dict[str, set[str]]:
    """Module -> the files under ``root`` that import it without being allowed to."""
    providers = importlib.metadata.packages_distributions()
    bad: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for module in imported_modules(path):
            if module == "bot" or module == "__future__" or module in sys.stdlib_module_names:
                continue
            if any(_normalise(d) in declared for d in providers.get(module, [])):
                continue
            bad.setdefault(module, set()).add(str(path.relative_to(root)))
    return bad


def test_the_core_imports_only_itself_the_stdlib_and_declared_dependencies() -> None:
    assert foreign_imports(CORE, declared_distributions()) == {}


def test_the_check_catches_an_adapter_a_simulator_or_an_undeclared_library(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(
        "from adapters.compose import RealConfig\nimport sim.runner\nimport hypothesis\nimport trio\n"
    )
    bad = foreign_imports(tmp_path, declared_distributions())
    assert set(bad) == {"adapters", "sim", "hypothesis"}  # hypothesis is a dev dependency only
