"""Real `dvc repro` runs in a temporary git copy of the project (tiny sample profile)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import git, run, set_params

pytestmark = pytest.mark.pipeline

STAGES = ("download", "map_labels", "split", "balance", "train", "evaluate", "quantize", "benchmark")
VOICE_STAGES = tuple(
    f"voice_{name}"
    for name in (
        "download",
        "map_labels",
        "split",
        "balance",
        "features",
        "train",
        "evaluate",
        "quantize",
        "benchmark",
    )
)


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def test_every_stage_runs_and_every_declared_output_exists(pipeline_project: Path):
    log = (pipeline_project / "first_repro.log").read_text()
    ran = ran_stages(log)
    assert [s for s in ran if s in STAGES] == list(STAGES)
    assert [s for s in ran if s in VOICE_STAGES] == list(VOICE_STAGES) and len(ran) == len(
        STAGES + VOICE_STAGES
    )
    lock = yaml.safe_load((pipeline_project / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES + VOICE_STAGES)
    dvc_yaml = yaml.safe_load((pipeline_project / "dvc.yaml").read_text())
    declared = 0
    for name, stage in lock["stages"].items():
        for out in stage.get("outs", []):
            assert (pipeline_project / out["path"]).exists(), f"{name}: {out['path']} missing"
            declared += 1
    assert declared >= 14
    for plot in dvc_yaml["plots"]:
        files = [plot] if isinstance(plot, str) else next(iter(plot.values()))["y"]
        for path in files:
            assert (pipeline_project / path).is_file(), path
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], pipeline_project).stdout)
    metrics = next(iter(shown.values()))["data"]  # the workspace
    for stage in ("map_labels", "split", "balance"):
        assert metrics[f"metrics/data/{stage}.json"]["data"], stage
    for stage in ("train", "evaluate", "quantize", "benchmark"):
        assert metrics[f"metrics/{stage}.json"]["data"], stage
    assert metrics["metrics/benchmark.json"]["data"]["int8"]["p95_ms"] > 0
    for stage in ("map_labels", "split", "balance", "train", "evaluate", "quantize", "benchmark"):
        assert metrics[f"metrics/voice/{stage}.json"]["data"], stage
    assert metrics["metrics/voice/benchmark.json"]["data"]["int8"]["p95_ms"] > 0


def test_second_repro_runs_nothing(pipeline_project: Path):
    result = run(["dvc", "repro"], pipeline_project)
    assert ran_stages(result.stdout) == []
    assert "up to date" in run(["dvc", "status"], pipeline_project).stdout


def test_push_then_pull_on_a_fresh_clone_needs_no_rerun(pipeline_project: Path, tmp_path: Path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], pipeline_project)
    run(["dvc", "push"], pipeline_project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pipeline_project), str(clone)], tmp_path)
    assert not (clone / "models/tflite/int8.tflite").exists()
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], clone)
    run(["dvc", "pull"], clone)
    for path in ("models/tflite/int8.tflite", "models/keras/model.keras", "data/split/test.npz"):
        assert (clone / path).read_bytes() == (pipeline_project / path).read_bytes(), path
    assert "up to date" in run(["dvc", "status"], clone).stdout
    assert ran_stages(run(["dvc", "repro"], clone).stdout) == []


def test_push_and_pull_through_an_s3_compatible_server(pipeline_project: Path, tmp_path: Path, monkeypatch):
    """dvc-s3 against moto's S3 server on loopback: the team-remote path, without the cloud."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="team")
        clone = tmp_path / "clone"
        run(["git", "clone", "-q", str(pipeline_project), str(clone)], tmp_path)
        for project in (pipeline_project, clone):
            run(["dvc", "remote", "add", "--local", "team", "s3://team/stressvision"], project)
            run(["dvc", "remote", "modify", "--local", "team", "endpointurl", endpoint], project)
        run(["dvc", "push", "-r", "team"], pipeline_project)
        stored = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="team")
        assert stored["KeyCount"] > 10
        run(["dvc", "pull", "-r", "team"], clone)
        assert (clone / "models/tflite/int8.tflite").read_bytes() == (
            pipeline_project / "models/tflite/int8.tflite"
        ).read_bytes()
        assert "up to date" in run(["dvc", "status"], clone).stdout
    finally:
        server.stop()


def test_queued_experiments_run_and_show_the_key_columns(pipeline_project: Path):
    for runs in (30, 40):
        run(["dvc", "exp", "run", "--queue", "-S", f"benchmark.runs={runs}"], pipeline_project)
    run(["dvc", "queue", "start", "-j", "1"], pipeline_project)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], pipeline_project).stdout
        if not re.search(r"Queued|Running", status):
            break
        time.sleep(3)
    assert status.count("Success") == 2, status
    table = run(["bash", "scripts/exp_table.sh", "--csv"], pipeline_project).stdout
    header, *rows = table.strip().splitlines()
    assert "workspace" in {field for row in rows for field in row.split(",")[:2]}  # the baselines are named
    for column in (
        "metrics/evaluate.json:accuracy",
        "metrics/evaluate.json:f1_macro",
        "metrics/quantize.json:int8.accuracy",
        "metrics/benchmark.json:int8.p95_ms",
        "metrics/quantize.json:int8.size_mb",
        "kpi.all_pass",
        "train.model",
        "metrics/voice/evaluate.json:accuracy",
        "metrics/voice/benchmark.json:int8.p95_ms",
        "voice_train.model",
    ):
        assert column in header.split(","), (column, header)
    assert len(rows) == 4  # workspace, HEAD and the two experiments
    assert ran_stages(run(["dvc", "repro"], pipeline_project).stdout) == []  # workspace untouched


def experiment_metrics(project: Path, name: str) -> dict[str, dict]:
    """The metrics files of experiment `name`, as `dvc exp show --json` reports them."""

    def find(node):
        if isinstance(node, dict):
            if node.get("name") == name and node.get("data"):
                return node["data"]["metrics"]
            node = list(node.values())
        if isinstance(node, list):
            return next((found for child in node if (found := find(child)) is not None), None)
        return None

    metrics = find(json.loads(run(["dvc", "exp", "show", "--json"], project).stdout))
    assert metrics is not None, f"no experiment {name}"
    return {path: entry["data"] for path, entry in metrics.items()}


def test_val_zero_trains_on_every_training_face_and_keeps_the_last_epoch(pipeline_project: Path):
    """`split.val: 0`: no validation faces, the train stage keeps its last epoch (the sample has
    no official split, so train takes the val share)."""
    changes = ["split.train=0.85", "split.val=0", "train.lr_schedule=cosine", "train.epochs=4"]
    command = ["dvc", "exp", "run", "--temp", "-n", "no-val", *(f"-S{c}" for c in changes), "train"]
    result = run(command, pipeline_project)
    assert "train: kept the last epoch, 4 (no validation faces)" in result.stdout
    metrics = experiment_metrics(pipeline_project, "no-val")
    assert sum(metrics["metrics/data/split.json"]["val"].values()) == 0
    before = json.loads((pipeline_project / "metrics/data/split.json").read_text())
    train_faces = sum(metrics["metrics/data/split.json"]["train"].values())
    assert train_faces == sum(before["train"].values()) + sum(before["val"].values())
    summary = metrics["metrics/train.json"]
    assert summary["kept_epoch"] == summary["epochs_run"] == 4 and "val_accuracy" not in summary
    assert ran_stages(run(["dvc", "repro"], pipeline_project).stdout) == []  # workspace untouched


def test_model_beats_chance_clearly(pipeline_project: Path):
    evaluate = json.loads((pipeline_project / "metrics/evaluate.json").read_text())
    supports = [c["support"] for c in evaluate["per_class"].values()]
    majority = max(supports) / sum(supports)
    assert len(supports) == 4  # fatigue has no sample images and is dropped
    assert evaluate["accuracy"] >= majority + 0.15, evaluate["accuracy"]
    assert evaluate["f1_macro"] >= 1 / len(supports) + 0.25, evaluate["f1_macro"]


def test_tflite_float32_matches_keras_and_int8_is_int8(pipeline_project: Path):
    import keras

    from stressvision.litert import TFLiteClassifier

    images = np.load(pipeline_project / "data/split/test.npz")["images"][:40].astype(np.float32)
    keras_model = keras.models.load_model(pipeline_project / "models/keras/model.keras")
    expected = keras_model.predict(images[..., None], verbose=0)
    tflite = pipeline_project / "models/tflite"
    float32 = TFLiteClassifier(tflite / "float32.tflite")
    np.testing.assert_allclose(float32.predict(images), expected, atol=1e-5, rtol=1e-4)
    int8 = TFLiteClassifier(tflite / "int8.tflite")
    assert int8.input_dtype == np.int8 and int8.output_dtype == np.int8
    agreement = (int8.predict(images).argmax(1) == expected.argmax(1)).mean()
    assert agreement >= 0.85, agreement
    config = json.loads((tflite / "model_config.json").read_text())
    assert config["classes"] == ["neutral", "stress", "sad", "happy"]


def test_benchmark_param_reruns_only_benchmark(pipeline_project: Path):
    set_params(pipeline_project, {"benchmark": {"runs": 25}})
    result = run(["dvc", "repro"], pipeline_project)
    assert ran_stages(result.stdout) == ["benchmark"]
    assert json.loads((pipeline_project / "metrics/benchmark.json").read_text())["runs"] == 25


def test_tta_reaches_the_tflite_bundles_and_the_edge_command(pipeline_project: Path, tmp_path: Path):
    """`quantize.tta` scores the TFLite bundles and marks them to run so; the edge command then
    scores them as the quantize stage did."""
    from PIL import Image

    set_params(pipeline_project, {"quantize": {"tta": "flip_zoom"}})
    result = run(["dvc", "repro"], pipeline_project)
    assert ran_stages(result.stdout) == ["quantize", "benchmark"]
    bundle = pipeline_project / "models/tflite"
    config = json.loads((bundle / "model_config.json").read_text())
    assert config["tta"] == "flip_zoom"
    assert json.loads((pipeline_project / "metrics/benchmark.json").read_text())["tta"] == "flip_zoom"
    int8 = json.loads((pipeline_project / "metrics/quantize.json").read_text())["int8"]

    test = np.load(pipeline_project / "data/split/test.npz")
    for i, (image, label) in enumerate(zip(test["images"], test["labels"])):
        (tmp_path / config["classes"][label]).mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / config["classes"][label] / f"{i}.png")
    scored = {}
    data = str(tmp_path)
    command = ["python", "-m", "stressvision.cli", "evaluate", "--model", str(bundle), "--data", data]
    for flag in ([], ["--tta", "none"]):
        scored[bool(flag)] = json.loads(run([*command, "--json", *flag], pipeline_project).stdout)
    assert scored[False]["accuracy"] == pytest.approx(int8["accuracy"], abs=1e-9)
    assert scored[True]["accuracy"] == pytest.approx(int8["accuracy_without_tta"], abs=1e-4)


def test_train_param_reruns_train_and_what_follows(pipeline_project: Path):
    before = json.loads((pipeline_project / "metrics/train.json").read_text())
    set_params(pipeline_project, {"train": {"epochs": 6, "learning_rate": 0.004}})
    result = run(["dvc", "repro"], pipeline_project)
    assert ran_stages(result.stdout) == ["train", "evaluate", "quantize", "benchmark"]
    after = json.loads((pipeline_project / "metrics/train.json").read_text())
    assert after["epochs_run"] <= 6 and after != before


def test_metrics_diff_shows_the_change_against_the_commit(pipeline_project: Path):
    # The previous tests changed params and reran on top of the "first run" commit.
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "--json"], pipeline_project).stdout)
    changed = {path: values for path, values in diff.items() if values}
    assert "metrics/train.json" in changed, diff
    params = json.loads(run(["dvc", "params", "diff", "HEAD", "--json"], pipeline_project).stdout)
    assert "train.epochs" in params["params.yaml"]

    # The pull-request report of the shipped GitHub workflow, run as the workflow runs it.
    workflow = yaml.safe_load((pipeline_project / ".github/workflows/dvc-report.yml").read_text())
    steps = {step.get("name"): step for step in workflow["jobs"]["report"]["steps"]}
    assert steps["Report"]["run"].startswith("bash scripts/pr_report.sh")
    report = run(["bash", "scripts/pr_report.sh", "HEAD"], pipeline_project).stdout
    assert "| train.epochs" in report and "| metrics/train.json" in report
    headline = report.split("### Key metrics")[1].split("<details>")[0]  # before the full table
    assert "| metrics/benchmark.json | kpi.all_pass |" in headline and "train_seconds" not in headline

    # The comparison page: diff tables above the plots of both revisions.
    run(["python", "-m", "stressvision.compare", "HEAD", "--out", "compare"], pipeline_project)
    page = (pipeline_project / "compare/index.html").read_text()
    assert "<h2>Key metrics</h2>" in page and "train.epochs" in page
    assert page.count("vegaEmbed(") >= 8 and "{plot_divs}" not in page
    pngs = {p.name for p in (pipeline_project / "compare/static").iterdir()}
    assert {
        "workspace_plots_evaluate_confusion_matrix.png",
        "HEAD_plots_evaluate_confusion_matrix.png",
    } <= pngs
    git(pipeline_project, "checkout", "params.yaml")
    report = run(["bash", "scripts/pr_report.sh", "HEAD"], pipeline_project).stdout
    assert "_no param changes_" in report and "| metrics/train.json" in report
    bad = run(["bash", "scripts/pr_report.sh", "mian"], pipeline_project, check=False)
    assert bad.returncode == 2 and bad.stdout == ""  # no half report in the comment
    assert bad.stderr == "error [pr_report]: mian: not a git revision here (give a branch, tag or commit)\n"


def test_own_photos_are_a_dependency_and_bring_the_fatigue_class(pipeline_project: Path):
    from PIL import Image

    from stressvision.sample_faces import draw_face

    folder = pipeline_project / "data/custom/fatigue"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(draw_face(rng, "neutral")).resize((96, 96)).convert("RGB").save(folder / f"{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 cut short")
    (folder.parent / "Happy").mkdir()
    Image.fromarray(draw_face(rng, "happy")).save(folder.parent / "Happy" / "0.png")
    status = run(["dvc", "status", "--json"], pipeline_project).stdout
    assert "map_labels" in json.loads(status)
    result = run(["dvc", "repro", "--single-item", "map_labels"], pipeline_project)
    assert ran_stages(result.stdout) == ["map_labels"]
    warnings = [line for line in result.stdout.splitlines() if "warning" in line]
    assert warnings == [  # one line each, naming what to fix
        "map_labels: warning: data/custom/Happy is not a class of this scheme "
        "(neutral, stress, sad, happy, fatigue) (did you mean 'happy'?); its photos are skipped",
        "map_labels: warning: skipped 1 files: corrupt, truncated or empty image "
        "(data/custom/fatigue/broken.jpg)",
    ], warnings
    shutil.rmtree(folder.parent / "Happy")
    (folder / "broken.jpg").unlink()
    run(["dvc", "repro", "--single-item", "map_labels"], pipeline_project)
    meta = json.loads((pipeline_project / "data/mapped/meta.json").read_text())
    assert meta["classes"] == ["neutral", "stress", "sad", "happy", "fatigue"]
    assert meta["custom"]["fatigue"] == 12 and meta["dropped_empty_classes"] == []
    split = run(["dvc", "repro", "--single-item", "split"], pipeline_project).stdout
    assert "warning" not in split
    for i in range(2, 12):  # two photos: both train, none is put aside to test the class on
        (folder / f"{i}.png").unlink()
    run(["dvc", "repro", "--single-item", "map_labels"], pipeline_project)
    split = run(["dvc", "repro", "--single-item", "split"], pipeline_project).stdout
    counts = json.loads((pipeline_project / "metrics/data/split.json").read_text())
    assert counts["test"]["fatigue"] == 0 and counts["train"]["fatigue"] + counts["val"]["fatigue"] == 2
    assert "split: warning: class 'fatigue' has no test faces" in split, split
    shutil.rmtree(folder)  # later tests see the pipeline's data as it was
    run(["dvc", "repro", "--single-item", "map_labels", "split"], pipeline_project)
