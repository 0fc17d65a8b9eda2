"""The wheel is installable on its own: knowledge tables inside, no source tree needed (issue 9).

The wheel is built from a copy of the files a source distribution holds (so no stale ``build/``
folder of the checkout can leak into it), installed with ``--no-deps`` into a fresh virtual
environment outside the checkout, and ``python -m aid triage`` is run there from a directory
outside the checkout. The new environment sees only the core dependencies declared in
pyproject.toml (numpy, pandas and what they need), linked from the test environment by a ``.pth``
file instead of downloaded again; the ``aid`` package comes from the wheel alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _core_closure() -> list[str]:
    """The installed distributions the core needs: [project] dependencies, recursively
    (requirements that only apply to an extra are left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [_name(r) for r in project["dependencies"]]
    seen: list[str] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:  # a platform-only requirement not installed here
            continue
        seen.append(name)
        todo += [_name(r) for r in dist.requires or () if "extra ==" not in r]
    return seen


def _name(requirement: str) -> str:
    for stop in "<>=!~;[ (":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def _link_core_dependencies(target: Path) -> None:
    """Symlink the top-level files of the core distributions into ``target``."""
    target.mkdir()
    for name in _core_closure():
        dist = distribution(name)
        for file in dist.files or ():
            top = file.parts[0]
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if top not in ("..", "__pycache__") and source.exists() and not link.exists():
                link.symlink_to(source)


def _copy_sources(target: Path) -> None:
    """What the wheel is built from: pyproject.toml, README.md, aid/ (with its data link) and
    data/, without caches."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "aid", target / "aid", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "data", target / "data", ignore=ignore)


def test_the_wheel_installs_outside_the_checkout_and_triages(tmp_path):
    source, wheels = tmp_path / "src", tmp_path / "wheels"
    _copy_sources(source)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "-q", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("back_cramp_aid-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + ["--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    core = tmp_path / "core"
    _link_core_dependencies(core)
    (Path(purelib) / "core_dependencies.pth").write_text(str(core) + "\n")

    answers = tmp_path / "elsewhere" / "answers.json"
    answers.parent.mkdir()
    answers.write_text(json.dumps({"saddle_numbness": "yes", "age": 40, "sex": "male"}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AID_CLINIC_CONFIG")}
    run = subprocess.run(
        [str(python), "-m", "aid", "triage", str(answers), "--json"],
        cwd=answers.parent,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["urgency"] == "emergency"
    assert result["service"]["id"] == "emergency_department"

    where = subprocess.run(
        [str(python), "-c", "import aid, aid.knowledge as k; print(aid.__file__, k.DEFAULT_DIR)"],
        cwd=answers.parent,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(purelib) and str(ROOT) not in where, where
    assert f"{purelib}/aid/data/knowledge" in where
    # The UI extra is not needed for the core, and not present here.
    ui = subprocess.run(
        [str(python), "-c", "import ipywidgets"], capture_output=True, env=env, check=False
    )
    assert ui.returncode != 0
    assert sysconfig.get_paths()["purelib"] != purelib
