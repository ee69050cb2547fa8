"""The direction of imports (DESIGN.md): solvers <- problems <- grader, and the leaves stay leaves."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"grader", "solvers", "problems"}
STDLIB = set(sys.stdlib_module_names)


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_files(pkg: str):
    return sorted((ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("pkg,forbidden", [("solvers", {"grader", "problems"}), ("problems", {"grader"})])
def test_import_direction(pkg, forbidden):
    offenders = {str(p.relative_to(ROOT)): sorted(imported_top_levels(p) & forbidden)
                 for p in package_files(pkg) if imported_top_levels(p) & forbidden}
    assert offenders == {}


LEAVES = ["solvers/rollout.py", "solvers/objectives.py", "grader/_child.py", "grader/_child_cells.py",
          "grader/_child_hardening.py", "grader/sandbox/protocol.py"]


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_import_only_stdlib_and_numpy(leaf):
    names = imported_top_levels(ROOT / leaf)
    assert names <= STDLIB | {"numpy", "__future__"}, names - STDLIB


def test_every_leaf_the_child_loads_is_copied_into_the_sandbox_and_checked_here():
    from grader.sandbox.paths import LEAF_FILES

    copied = {str(path.resolve().relative_to(ROOT)) for path in LEAF_FILES.values()}
    assert copied == set(LEAVES)
    child = (ROOT / "grader/_child.py").read_text()
    loaded = set(re.findall(r'"(\w+\.py)"', child)) - {"_child.py"}
    assert loaded == set(LEAF_FILES) - {"_child.py"}, loaded


def test_no_grader_module_is_over_500_lines():
    lengths = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
               for p in package_files("grader")}
    assert len(lengths) > 20
    assert {path: n for path, n in lengths.items() if n > 500} == {}


def test_leaves_do_not_use_relative_imports():
    for leaf in LEAVES:
        tree = ast.parse((ROOT / leaf).read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0], leaf


def test_check_startup_pays_for_neither_sympy_nor_matplotlib():
    code = ("import sys, grader.cli; grader.cli.build_parser(); import grader.engine, grader.checks; "
            "print(sorted(m for m in ('sympy', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_module_names_say_what_they_are():
    # no two modules share a name (two doctor.py, two answers.py, ...), except a command module and
    # what it runs (grader/commands/report.py -> grader/report.py, solvers/commands/race.py -> lab/race.py)
    by_name: dict[str, list[str]] = {}
    for pkg in sorted(OURS):
        for p in package_files(pkg):
            if p.name != "__init__.py":
                by_name.setdefault(p.name, []).append(str(p.relative_to(ROOT)))
    def clash(paths: list[str]) -> bool:
        commands = [p for p in paths if "/commands/" in p]
        others = [p for p in paths if "/commands/" not in p]
        return len(commands) > 1 or len(others) > 1 or \
            any(c.split("/")[0] != o.split("/")[0] for c in commands for o in others)

    assert {name: paths for name, paths in by_name.items() if clash(paths)} == {}


def test_student_derivations_are_not_the_textbooks():
    # grader.derivcheck parses a student's text; solvers.derive.core holds the textbook's checked steps
    def classes(path: Path) -> set[str]:
        return {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}

    grader_side, textbook = classes(ROOT / "grader/derivcheck.py"), classes(ROOT / "solvers/derive/core.py")
    assert {"StudentStep", "StudentDerivation"} <= grader_side and {"Step", "Derivation"} <= textbook
    assert grader_side & textbook == set()
