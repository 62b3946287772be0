"""Collect ``bench_*.py`` here (the suite's python_files pattern only matches ``test_*.py``), and print the
machine's load before each bench, so every bench's output starts with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.machine import print_machine


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # A file named on the command line is collected by pytest itself: collecting it here too would run it twice.
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(autouse=True)
def _machine_line_first() -> None:
    print_machine()
