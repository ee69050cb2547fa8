"""feedback.html from `ravine grade` (the real CLI): content, escaping of hostile text, and a real
headless Chromium rendering it (screenshot not blank, every figure decoded, no injected script run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it where apt-get works)"

PAYLOAD = '<script>document.title="pwned"</script><img src=x onerror="document.body.dataset.pwned=1">'
HOSTILE = f'''
import numpy as np
PAYLOAD = {PAYLOAD!r}
print(PAYLOAD)

def sgd_step(x, grad_fn, lr):
    raise ValueError(PAYLOAD)

def momentum_step(x, v, grad_fn, lr, beta):
    raise RuntimeError(PAYLOAD + "</pre></main><h1>fake</h1>")
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feedback")
    subs = tmp / "subs"
    subs.mkdir()
    for name in ("dave_mistakes.py", "alice_correct.py"):
        shutil.copy(EXAMPLES / name, subs / name)
    (subs / "mallory.py").write_text(HOSTILE)
    a = subprocess.run([sys.executable, "-m", "grader", "assign", "--out", str(tmp / "handout")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert a.returncode == 0, a.stderr
    shutil.copy(tmp / "handout" / "assignment.ipynb", subs / "nina.ipynb")  # unanswered: text parts pending
    g = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(tmp / "out"),
                        "--seed", "11", "--timeout", "3"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert g.returncode == 0, g.stderr
    return tmp / "out"


def page(out: Path, name: str) -> str:
    return (out / name / "feedback.html").read_text(encoding="utf-8")


def test_every_submission_gets_a_self_contained_page(graded):
    for name in ("dave_mistakes", "alice_correct", "mallory", "nina"):
        html = page(graded, name)
        assert html.startswith("<!DOCTYPE html>")
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert "@media print" in html
        # nothing to fetch: no external URL, script, stylesheet or font
        assert not re.search(r"(src|href)=\"(?!data:|#)", html), name
        assert "<script" not in html.replace("&lt;script", "")
        assert "<link" not in html


def test_page_shows_what_results_json_shows(graded):
    data = json.loads((graded / "dave_mistakes" / "results.json").read_text())
    html = page(graded, "dave_mistakes")
    import html as h

    for t in data["tests"]:
        assert h.escape(t["name"]) in html
        # each line of the output (hidden checks too: already redacted in results.json)
        for line in t["output"].splitlines():
            assert h.escape(line) in html, line
    assert "Total: <strong>23</strong> / 51 points" in html
    assert html.count('class="check passed"') == sum(t["status"] == "passed" for t in data["tests"])
    # figures only for the public trajectory checks that missed: momentum and nesterov, 3 each
    missed = [t for t in data["tests"] if t["status"] != "passed" and t["visibility"] == "visible"
              and t["part"] in ("momentum_step", "nesterov_step")]
    assert html.count("<img data-figure=") == len(missed) == 6
    assert page(graded, "alice_correct").count("<img") == 0  # nothing missed, nothing drawn


def test_free_text_model_answer_stays_out(graded):
    data = json.loads((graded / "nina" / "results.json").read_text())
    text = [t for t in data["tests"] if t["status"] == "pending"]
    assert text, "the generic notebook has free-text parts"
    html = page(graded, "nina")
    assert "pending" in html and "grades them by hand" in html
    for t in text:
        ref = next(line for line in t["output"].splitlines() if line.startswith("Reference answer:"))
        assert ref[len("Reference answer:"):].strip()[:40] not in html


def test_student_text_is_escaped(graded):
    data = json.loads((graded / "mallory" / "results.json").read_text())
    assert any(PAYLOAD in t["output"] for t in data["tests"]), "the payload reaches the check output"
    html = page(graded, "mallory")
    assert PAYLOAD not in html and "<h1>fake</h1>" not in html
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in html
    assert html.count("<h1>") == 1 and html.count("<script") == 0


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
@pytest.mark.parametrize("width,height", [(390, 2400), (1280, 2400)], ids=["phone", "desktop"])
def test_chromium_screenshot_is_not_blank(graded, tmp_path, width, height):
    import matplotlib.image as mpimg
    import numpy as np

    shot = tmp_path / f"shot-{width}.png"
    p = chromium(f"--screenshot={shot}", f"--window-size={width},{height}",
                 (graded / "dave_mistakes" / "feedback.html").as_uri(), profile=tmp_path / "profile")
    assert shot.exists(), p.stderr[-2000:]
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (height, width)
    gray = img.mean(axis=2)
    assert gray.std() > 0.05  # text, boxes and figures, not a blank page
    assert (gray < 0.5).mean() > 0.01  # a real amount of dark ink (text)
    # the page fits the window: nothing wider than the viewport (no horizontal scrolling on a phone)
    dom = chromium("--dump-dom", "--virtual-time-budget=3000", f"--window-size={width},{height}",
                   (graded / "dave_mistakes" / "feedback.html").as_uri(), profile=tmp_path / "profile2")
    assert "momentum_step" in dom.stdout


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_chromium_decodes_every_figure(graded, tmp_path):
    """A copy of the page with a probe script (the page's own CSP forbids scripts) records each
    image's decoded width and the page's scroll width."""
    html = page(graded, "dave_mistakes")
    probe = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1).replace(
        "</body>", "<script>window.addEventListener('load', () => {"
        "for (const img of document.images) img.setAttribute('data-natural', img.naturalWidth);"
        "document.body.setAttribute('data-scroll', document.documentElement.scrollWidth);"
        "document.body.setAttribute('data-inner', window.innerWidth);"
        "document.body.setAttribute('data-probed', document.images.length);});</script></body>")
    copy = tmp_path / "probe.html"
    copy.write_text(probe, encoding="utf-8")
    p = chromium("--dump-dom", "--virtual-time-budget=5000", "--window-size=390,844", copy.as_uri(),
                 profile=tmp_path / "profile")
    m = re.search(r'data-probed="(\d+)"', p.stdout)
    assert m, p.stdout[:500] + p.stderr[-1000:]
    assert int(m.group(1)) == 6
    widths = [int(w) for w in re.findall(r'data-natural="(\d+)"', p.stdout)]
    assert widths == [520] * 6  # every PNG decoded at its size
    # no sideways scrolling at the narrowest window (headless Chromium's minimum may exceed 390 px)
    inner = int(re.search(r'data-inner="(\d+)"', p.stdout).group(1))
    assert inner <= 600
    assert int(re.search(r'data-scroll="(\d+)"', p.stdout).group(1)) <= inner


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_chromium_runs_no_injected_script(graded, tmp_path):
    url = (graded / "mallory" / "feedback.html").as_uri()
    p = chromium("--dump-dom", "--virtual-time-budget=3000", url, profile=tmp_path / "profile")
    assert "<main>" in p.stdout, p.stderr[-1000:]
    assert "data-pwned" not in p.stdout
    assert "<title>ravine feedback: mallory</title>" in p.stdout


def test_a_page_changed_during_the_batch_is_rewritten(tmp_path):
    """The final pass of grade_batch puts back a feedback page that changed after it was written
    (as it does for results.json: a submission's process must not change what a student reads)."""
    from grader.batch import grade_batch
    from grader.sandbox import Limits

    out = tmp_path / "out"

    def tamper(msg: str) -> None:  # called after each submission's files are written
        for page_path in out.glob("*/feedback.html"):
            page_path.write_text("<h1>full marks!</h1>")

    paths = [EXAMPLES / "alice_correct.py", EXAMPLES / "dave_mistakes.py"]
    grade_batch(paths, out, seed=2, limits=Limits(function_timeout=3), progress=tamper, feedback=True)
    for name in ("alice_correct", "dave_mistakes"):
        html = page(out, name)
        assert "full marks!" not in html and html.startswith("<!DOCTYPE html>")
    assert page(out, "dave_mistakes").count("<img data-figure=") == 6
