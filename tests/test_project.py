"""The project's own promises: CI runs the README's test command; paths are declared once."""

import json
import re

import yaml

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("python -m venv")]


def test_ci_runs_exactly_the_readme_test_command():
    install_and_run, install_and_test = readme_commands()[:2]
    assert install_and_run.endswith("pip install -q -r requirements.txt && dvc repro")
    ci_lines = [
        line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert install_and_test in ci_lines
    assert "pytest" in install_and_test and "requirements-dev.txt" in install_and_test


def test_readme_experiments_that_stop_at_a_benchmark_also_evaluate():
    """`benchmark` does not depend on `evaluate`: an experiment targeting it alone would keep the
    previous model's test metrics beside the new model's (same for the voice stages)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    for line in (line for block in blocks for line in block.splitlines()):
        words = line.split("#")[0].split()
        if "dvc exp run" in line or "run_profile.sh" in line:
            for prefix in ("", "voice_"):
                if f"{prefix}benchmark" in words:
                    assert f"{prefix}evaluate" in words, line


def test_every_stage_declares_its_script_params_and_outputs():
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, stage in dvc_yaml["stages"].items():
        assert f"stages/{name}.py" in stage["deps"], name
        assert stage["params"] == [name] and name in params, name
        assert stage.get("outs") or stage.get("metrics"), name
        assert f"-m stages.{name} " in stage["cmd"], name


INFRASTRUCTURE = {"errors", "params", "fileio", "stage"}  # shared plumbing, not stage logic


def imported_modules(path, seen=None) -> set[str]:
    """stressvision modules a file imports (dotted below the package), followed through it."""
    seen = set() if seen is None else seen
    for name in re.findall(r"from stressvision\.([\w.]+) import", path.read_text()):
        if name not in seen:
            seen.add(name)
            imported_modules(ROOT / "stressvision" / f"{name.replace('.', '/')}.py", seen)
    return seen


def test_every_stage_depends_on_the_package_modules_it_runs():
    """A change to code a stage runs must rerun that stage: each such module is a dep."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        needed = imported_modules(ROOT / "stages" / f"{name}.py") - INFRASTRUCTURE
        declared = {d.removeprefix("stressvision/").removesuffix(".py") for d in stage["deps"]}
        declared = {d.replace("/", ".") for d in declared}  # stressvision/voice/x.py -> voice.x
        assert needed <= declared, f"{name} lacks deps: {sorted(needed - declared)}"


def stale_stages(project) -> dict[str, list[str]]:
    """Stages whose params, command or code changed since dvc.lock (missing data does not count)."""
    from benchmarks.project_copy import run

    status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    stale: dict[str, list[str]] = {}
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            reasons = [key for key in ("changed params", "changed command") if key in entry]
            reasons += [dep for dep, how in entry.get("changed deps", {}).items() if how == "modified"]
            if reasons:
                stale.setdefault(stage, []).extend(reasons)
    return stale


def test_committed_lock_matches_the_code_and_params(tmp_path):
    """dvc.lock on main was made by this code and params: a fresh clone only lacks the data."""
    from benchmarks.project_copy import copy_project

    project = copy_project(tmp_path / "project")
    assert stale_stages(project) == {}, "run `dvc repro` and commit dvc.lock"
    with open(project / "stressvision" / "splits.py", "a") as fh:
        fh.write("\n# a code change\n")
    assert stale_stages(project) == {"split": ["stressvision/splits.py"]}


def test_a_wheel_holds_every_package_module(tmp_path):
    """`pip install .` or a wheel on the edge device, not only `pip install -e .`: the voice
    subpackage was once left out of the wheel."""
    import subprocess
    import sys
    import zipfile

    import pytest

    from benchmarks.project_copy import copy_project

    pytest.importorskip("setuptools", reason="building without isolation needs setuptools in the venv")
    project = copy_project(tmp_path / "project")  # the build writes build/ and *.egg-info there
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", ".", "-w", "dist"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (wheel,) = (project / "dist").glob("stressvision-*.whl")
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "stressvision").rglob("*.py")}
    assert modules <= set(zipfile.ZipFile(wheel).namelist())


def test_every_dvc_plot_has_a_title_and_labelled_axes():
    """Declared plots are titled and name their axes for people, not by CSV column (PNGs excepted)."""
    for entry in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]:
        if isinstance(entry, str):
            assert entry.endswith(".png"), entry
            continue
        ((title, spec),) = entry.items()
        assert spec.get("x_label") and spec.get("y_label"), title
        assert spec["x_label"] != spec["x"], title
