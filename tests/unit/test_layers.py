"""The one-way flow (DESIGN.md) holds: the core imports without Textual, and the import contracts
in pyproject.toml pass on the tree and fail on a deliberate violation."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pmtui

ROOT = Path(__file__).resolve().parents[2]


def core_modules() -> list[str]:
    """Every pmtui module outside pmtui.tui and the CLI (and the demo's optional serve extra)."""
    names = [m.name for m in pkgutil.walk_packages(pmtui.__path__, "pmtui.")]
    return sorted(n for n in names if not n.startswith("pmtui.tui") and n not in ("pmtui.cli", "pmtui.__main__"))


def test_the_core_imports_without_textual():
    modules = core_modules()
    assert {"pmtui.fleet", "pmtui.commands", "pmtui.monitor", "pmtui.output", "pmtui.overview"} <= set(modules)
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_serve')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip(reason="import-linter is not installed (the `lint` extra; .ci/run installs it and runs this test)")
    env = {"PYTHONPATH": str(tree), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run([tool, "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml, to break on purpose."""
    shutil.copytree(ROOT / "pmtui", tmp_path / "pmtui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contracts_hold(tree: Path):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "source", "contract"), [
    ("pmtui/leak.py", "from textual.widgets import Static\n", "Only pmtui.tui imports Textual"),
    ("pmtui/leak.py", "from pmtui.tui.widgets.status import StatusBar\n", "Only the CLI reaches into pmtui.tui"),
    ("pmtui/leak.py", "from pmtui.cli import main\n", "Nothing imports the CLI"),
    # views reaches fmt (through health): fmt importing views closes a cycle.
    ("pmtui/fmt.py", "\nfrom pmtui import views  # noqa\n", "No import cycles"),
])
def test_a_violation_breaks_its_contract(tree: Path, module: str, source: str, contract: str):
    path = tree / module
    path.write_text((path.read_text() if path.exists() else "") + source)
    result = lint_imports(tree)
    assert result.returncode == 1
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
