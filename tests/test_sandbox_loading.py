"""Loading submissions: bad input, notebooks, magics, the static forbidden-import scan
(grader/submission.py).

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import ast
import json
import re

import nbformat
import pytest

from grader.submission import SubmissionError, collect_submissions, load_submission, scan_forbidden, strip_magics
from sandbox_common import HOSTILE, notebooks, write


# --------------------------------------------------------------------------- loading: bad input


def _bad_notebook_schema() -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    data = json.loads(nbformat.writes(nb))
    del data["cells"][0]["execution_count"]
    return json.dumps(data)


BAD_INPUT = [
    ("missing.py", None, r"missing\.py: no such file"),
    ("notes.txt", "print(1)", r"notes\.txt: unsupported file type \('\.txt'\); expected a \.py file"),
    ("Makefile", "all:", r"unsupported file type \(no extension\)"),
    ("empty.py", "", r"empty\.py: the file is empty"),
    ("blank.py", "  \n\n\t\n", r"blank\.py: the file is empty"),
    ("nul.py", b"x = 1\x00\n", r"nul\.py: binary file \(it contains NUL bytes\)"),
    ("latin.py", "x = 'caf\xe9'\n".encode("latin-1"), r"latin\.py: not UTF-8 text \(undecodable byte at offset 8\)"),
    ("syntax.py", "x = 1\ndef f(:\n    pass\n", r"syntax error in syntax\.py, line 2: invalid syntax"),
    ("ret.py", "return 3\n", r"syntax error in ret\.py, line 1: 'return' outside function"),
    ("empty.ipynb", "", r"empty\.ipynb: the file is empty"),
    ("notjson.ipynb", "{ this is not json", r"notjson\.ipynb: malformed notebook: not valid JSON"),
    ("list.ipynb", "[1, 2]", r"list\.ipynb: malformed notebook: "),
    ("schema.ipynb", _bad_notebook_schema(), r"schema\.ipynb: malformed notebook: nbformat says 'execution_count' is a required property \(at cells/0\)"),
    (
        "nocode.ipynb",
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# hi")])),
        r"nocode\.ipynb: the notebook has no code cells",
    ),
]


@pytest.mark.parametrize("name, content, pattern", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_a_specific_one_line_message(tmp_path, name, content, pattern):
    path = tmp_path / name if content is None else write(tmp_path, name, content)
    with pytest.raises(SubmissionError) as info:
        load_submission(path)
    message = str(info.value)
    assert re.search(pattern, message), message
    assert "\n" not in message


def test_directory_is_not_a_submission(tmp_path):
    with pytest.raises(SubmissionError, match="is a directory"):
        load_submission(tmp_path)


def test_py_submission_is_one_cell_labelled_with_the_file_name():
    sub = load_submission(HOSTILE / "correct.py")
    assert (sub.name, sub.kind, sub.notebook, sub.forbidden) == ("correct", "py", None, ())
    assert len(sub.cells) == 1
    assert (sub.cells[0].index, sub.cells[0].label, sub.cells[0].syntax_error) == (0, "correct.py", "")
    assert sub.cells[0].source == (HOSTILE / "correct.py").read_text()


def test_notebook_cells_are_code_cells_numbered_from_one(notebooks):
    sub = load_submission(notebooks["magics.ipynb"])
    assert sub.kind == "ipynb" and isinstance(sub.notebook, nbformat.NotebookNode)
    assert [c.label for c in sub.cells] == [f"cell {i}" for i in range(1, 10)]
    assert [c.index for c in sub.cells] == list(range(9))
    by_label = {c.label: c for c in sub.cells}
    assert by_label["cell 1"].source == "pass\npass\npass"
    assert by_label["cell 2"].source == ""  # %%bash: whole cell dropped
    assert by_label["cell 3"].source == "\nTIMED = 41 + 1"  # %%time: body runs, line numbers kept
    assert by_label["cell 4"].source.endswith("\npass\npass\npass")
    assert by_label["cell 6"].syntax_error == (
        "syntax error in cell 6, line 1: invalid syntax; the cell was skipped"
    )
    assert all(c.syntax_error == "" for c in sub.cells if c.label != "cell 6")


def test_committed_notebooks_match_their_builder(notebooks):
    for name, path in notebooks.items():
        committed = nbformat.read(HOSTILE / name, as_version=4)
        built = nbformat.read(path, as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in built.cells], name


STRIP = [
    ("x = 1\n", "x = 1\n"),  # valid Python is never touched
    ('s = """\n%d items\n"""', 's = """\n%d items\n"""'),
    ("%matplotlib inline\nx = 1", "pass\nx = 1"),
    ("!pip install numpy\nx = 1", "pass\nx = 1"),
    ("if True:\n    !ls\n    y = 2", "if True:\n    pass\n    y = 2"),
    ("files = !ls\nn = len('ab')", "pass\nn = len('ab')"),
    ("t = %timeit -o f()\nz = 0", "pass\nz = 0"),
    ("np.zeros?\nz = 0", "pass\nz = 0"),
    ("%%timeit\nz = 0", "\nz = 0"),
    ("%%capture out\nprint(1)", "\nprint(1)"),
    ("%%writefile helper.py\nx = 1", ""),
    ("%%html\n<b>hi</b>", ""),
    ("def f(:\n  pass", "def f(:\n  pass"),  # a real syntax error stays (reported later)
]


@pytest.mark.parametrize("source, expected", STRIP)
def test_strip_magics(source, expected):
    assert strip_magics(source) == expected


SCAN = [
    ("import solvers", [("solvers", "")]),
    ("import numpy, grader.sandbox as g", [("grader.sandbox", "")]),
    ("from problems import registry", [("problems", "")]),
    ("from solvers.rules import momentum", [("solvers.rules", "")]),
    ("def f():\n    import solvers.rules\n", [("solvers.rules", "f")]),
    ("async def f():\n    from grader import cli\n", [("grader", "f")]),
    ("def f():\n    def g():\n        __import__('problems')\n", [("problems", "f")]),
    ("import importlib\nm = importlib.import_module('solvers.numeric')", [("solvers.numeric", "")]),
    ("from importlib import import_module\ndef f():\n    import_module('grader')", [("grader", "f")]),
    ("class A:\n    def m(self):\n        import solvers\n", [("solvers", "")]),
    ("if False:\n    import problems\n", [("problems", "")]),
    ("import solvers_extra, graders, numpy\nfrom . import solvers", []),
    ("__import__('sol' + 'vers')", []),  # not a constant: only the runtime blocker sees it
]


@pytest.mark.parametrize("source, expected", SCAN)
def test_static_forbidden_scan(source, expected):
    assert scan_forbidden(ast.parse(source)) == expected


def test_static_scan_is_part_of_load_submission(notebooks, tmp_path):
    sub = load_submission(HOSTILE / "imports_solvers.py")
    assert sub.forbidden == (("solvers.rules", "momentum_step"),)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("def sgd_step(x, g, lr):\n    import grader\n    return x"),
            nbformat.v4.new_code_cell("import problems.registry"),
        ]
    )
    path = write(tmp_path, "nb.ipynb", nbformat.writes(nb))
    assert load_submission(path).forbidden == (("grader", "sgd_step"), ("problems.registry", ""))


def test_collect_submissions_expands_directories(tmp_path):
    for rel in [
        "b.py",
        "a.ipynb",
        "notes.md",
        ".hidden.py",
        "sub/c.py",
        ".ipynb_checkpoints/a-checkpoint.ipynb",
        ".git/x.py",
        "__pycache__/d.py",
    ]:
        p = tmp_path / "subs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    single = write(tmp_path, "single.py", "x = 1\n")
    files, bad = collect_submissions(
        [tmp_path / "subs", single, tmp_path / "nope.py", tmp_path / "subs" / "notes.md",
         tmp_path / "empty", single]
    )
    rel = [p.relative_to(tmp_path).as_posix() for p in files]
    assert rel == ["subs/a.ipynb", "subs/b.py", "subs/sub/c.py", "single.py"]
    reasons = {p.name: r for p, r in bad}
    assert reasons == {
        "nope.py": "no such file or directory",
        "notes.md": "unsupported file type ('.md'); expected a .py file or a .ipynb notebook",
        "empty": "the directory contains no .py or .ipynb files",
    }
