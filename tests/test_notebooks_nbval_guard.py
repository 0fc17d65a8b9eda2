"""nbval really guards the notebooks (issue 4, item 5).

``make test`` re-runs every notebook under nbval; these tests prove that this catches a changed
result: a copy whose stored output was altered fails, the unaltered copy passes. They also check
that the clinician notebooks are committed executed (top to bottom, with outputs) and that the
sanitize file hides nothing but volatile text.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "nbval_sanitize.cfg"
CLINICIAN = ("clinician_guide.ipynb", "vignette_review.ipynb", "cohort_audit.ipynb")
#: The quickest clinician notebook: the guard runs it twice.
GUARDED = NOTEBOOKS / "vignette_review.ipynb"


def run_nbval(notebook: Path) -> subprocess.CompletedProcess[str]:
    """``pytest --nbval`` on one notebook, with the flags ``make test`` uses."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(SANITIZE),
            "-p",
            "no:cacheprovider",
            "-q",
            notebook.name,
        ],
        cwd=notebook.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def first_stdout(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                return output
    raise AssertionError("the guarded notebook prints nothing to compare")


def execute_copy(folder: Path) -> Path:
    """Copy the guarded notebook and execute it the way ``make notebooks`` does, so this test
    checks the mechanism whatever the state of the committed outputs (the main nbval run in
    ``make test`` is what fails on stale ones)."""
    folder.mkdir()
    copy = folder / GUARDED.name
    shutil.copy(GUARDED, copy)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--inplace",
            "--ExecutePreprocessor.timeout=300",
            "--ExecutePreprocessor.store_widget_state=False",
            str(copy),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return copy


def test_unaltered_copy_passes_and_a_changed_stored_output_is_caught(tmp_path):
    fresh = execute_copy(tmp_path / "same")
    run = run_nbval(fresh)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

    changed = tmp_path / "changed"
    changed.mkdir()
    nb = nbformat.read(fresh, as_version=4)
    output = first_stdout(nb)
    text = "".join(output["text"])
    altered = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), text, count=1)
    assert altered != text
    output["text"] = altered  # as if the stored result were from another knowledge base
    nbformat.write(nb, changed / GUARDED.name)
    run = run_nbval(changed / GUARDED.name)
    assert run.returncode != 0
    assert "Cell outputs differ" in run.stdout, run.stdout[-3000:]
    assert "1 failed" in run.stdout


@pytest.mark.parametrize("name", CLINICIAN)
def test_clinician_notebooks_are_committed_executed_in_order(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{name} was not executed top to bottom in one run: run `make notebooks`"
    )
    shown = sum(bool(c.outputs) for c in code)
    assert shown >= len(code) - 1  # every cell shows something (a clean-up cell may not)
    for cell in code:
        for output in cell.outputs:
            assert output.get("output_type") != "error", f"{name}: a stored output is an error"
            assert output.get("name") != "stderr", f"{name}: stored stderr: {output.get('text')}"
    assert "def " not in "".join(c.source for c in code)  # notebooks hold no logic (STYLE.md)


def test_make_test_runs_nbval_over_every_notebook():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(NBVAL)" in recipe and "notebooks/" in recipe
    assert "--nbval-sanitize-with notebooks/nbval_sanitize.cfg" in makefile
    found = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert set(CLINICIAN) | {"dashboard.ipynb"} <= found


def test_sanitize_file_hides_no_result():
    """Applied to every stored text output, the masks change nothing: no count, rule id,
    urgency or cause can ever be hidden from the comparison by them."""
    config = configparser.ConfigParser()
    config.read(SANITIZE)
    patterns = [re.compile(config[s]["regex"]) for s in config.sections()]
    assert patterns
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                texts = [output.get("text", "")] + [
                    v for k, v in output.get("data", {}).items() if k.startswith("text/")
                ]
                for text in texts:
                    text = "".join(text) if isinstance(text, list) else text
                    for pattern in patterns:
                        assert not pattern.search(text), (path.name, pattern.pattern)
