"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def figures_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JSON file, in pytest's base temporary folder, that collects every scenario's figures."""
    return tmp_path_factory.getbasetemp() / "figures.json"
