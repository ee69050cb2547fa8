"""The solution manual, the figures registry, the CLI commands, and the import-cost rule."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import grader.cli as cli
from solvers.manual_figures import FIGURES, draw_all

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def ravine():
    """The real ``ravine`` entry point."""
    return cli.main


def test_commands_are_registered() -> None:
    assert cli.COMMANDS["derive"] == "solvers.commands.derive"
    assert cli.COMMANDS["manual"] == "solvers.commands.manual"
    assert cli.TEXTBOOK_COMMANDS == ("derive", "manual", "race", "reproduce", "doctor")


def test_help_lists_the_textbook_commands_apart(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    grading, _, textbook = out.partition("solution manual and lab commands:")
    listed = lambda text: {line.split()[0] for line in text.splitlines() if line.startswith("    ") and line.split()}
    assert set(cli.TEXTBOOK_COMMANDS) <= listed(textbook)
    assert {"check", "grade", "verify"} <= listed(grading)
    assert not set(cli.TEXTBOOK_COMMANDS) & listed(grading)


def test_import_cost_rule() -> None:
    code = ("import grader.cli, solvers, solvers.rules, solvers.manual_figures, solvers.commands.derive, "
            "solvers.commands.manual; import sys; "
            "assert 'sympy' not in sys.modules, 'sympy imported'; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_solvers_derive_imports_nothing_of_grader_or_problems() -> None:
    for path in list((ROOT / "solvers" / "derive").glob("*.py")) + [ROOT / "solvers" / "manual_figures.py",
                                                                     ROOT / "solvers" / "manual.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.split(".")[0] in ("grader", "problems"), f"{path.name}: {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in ("grader", "problems"), f"{path.name}: {alias.name}"


def test_figures_registry_is_a_dict_of_writers(tmp_path: Path) -> None:
    assert isinstance(FIGURES, dict)
    assert {"stability", "p4-rosenbrock", "lrp-cycle", "goe", "race", "saddle-plateau",
            "p6-divergence"} <= set(FIGURES)
    path = FIGURES["lrp-cycle"](tmp_path)
    assert path == tmp_path / "lrp-cycle.png" and path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(KeyError, match="unknown figure.*no-such-figure"):
        draw_all(tmp_path, ["no-such-figure"])
    lab = FIGURES["p6-divergence"](tmp_path)  # a lab figure, renamed to its registry name
    assert lab == tmp_path / "p6-divergence.png" and lab.read_bytes()[:8] == PNG_MAGIC


def test_manual_is_written_and_the_notebook_validates(tmp_path: Path) -> None:
    from solvers.manual import write_manual

    result = write_manual(tmp_path / "out", names=["stable-lr", "p4", "nesterov-correction"])
    md = result.markdown.read_text(encoding="utf-8")
    assert md.startswith("# ravine: solution manual")
    assert "## Stable learning rate of gradient descent (`stable-lr`)" in md
    assert r"\eta < \frac{2}{\lambda}" in md  # the solved inequality, in LaTeX
    assert "![p4-rosenbrock](figures/p4-rosenbrock.png)" in md
    for name in FIGURES:
        png = tmp_path / "out" / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    nb = nbformat.read(str(result.notebook), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("code") == 3 and kinds.count("markdown") >= 4
    assert any("verify('p4')" in c.source for c in nb.cells if c.cell_type == "code")


def test_cli_lists_derivations(ravine, capsys: pytest.CaptureFixture[str]) -> None:
    assert ravine(["derive"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("stable-lr")
    assert "nesterov-correction" in out and "linear-scaling" in out and "quiz" in out


def test_cli_unknown_name_exits_2_with_the_names(ravine, capsys: pytest.CaptureFixture[str]) -> None:
    assert ravine(["derive", "nesterov"]) == 2
    err = capsys.readouterr().err
    assert "unknown derivation 'nesterov'" in err and "nesterov-correction" in err and "stable-lr" in err


def test_cli_prints_one_derivation_as_json(ravine, capsys: pytest.CaptureFixture[str]) -> None:
    assert ravine(["derive", "p6", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "p6"
    assert data["results"]["p6_new_lr"]["text"] == "lr/10"
    assert [s["check"] for s in data["steps"]] == ["given", "symbolic", "symbolic", "given", "symbolic",
                                                   "given", "symbolic"]
    assert "NaN at step 29" in data["simulations"][0]["detail"]
    assert "Control, the quadratic ravine" in data["simulations"][0]["detail"]


def test_cli_text_format_names_checks(ravine, capsys: pytest.CaptureFixture[str]) -> None:
    assert ravine(["derive", "quiz", "--no-simulate"]) == 0
    out = capsys.readouterr().out
    assert "Quiz" in out and "(b) ravine + step too large" in out and "symbolic: identity" in out


def test_cli_manual_writes_files(ravine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "m"
    assert ravine(["manual", "--out", str(out_dir), "--only", "p6", "--no-figures"]) == 0
    assert (out_dir / "manual.md").exists() and (out_dir / "manual.ipynb").exists()
    assert "validated" in capsys.readouterr().out
    assert ravine(["manual", "--out", str(out_dir), "--only", "p9"]) == 2
    assert "unknown derivation 'p9'" in capsys.readouterr().err


def test_cli_reports_a_failed_verification(ravine, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    import sympy as sp

    from solvers import derive

    def broken() -> derive.Derivation:
        d = derive.get("p6")
        steps = list(d.steps)
        steps[2] = dataclasses.replace(steps[2], expr=sp.Eq(steps[2].expr.lhs, steps[2].expr.rhs * 2))
        return dataclasses.replace(d, name="p6-broken", steps=steps)

    monkeypatch.setitem(derive.REGISTRY, "p6-broken", broken)
    assert ravine(["derive", "p6-broken"]) == 1
    err = capsys.readouterr().err
    assert "verification FAILED" in err and "'p6-broken', step 3" in err
