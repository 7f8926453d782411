"""The benchmark scripts refuse what they cannot measure, in one line, before any long work."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import (
    EMOTIONS_MODEL,
    REAL_FER,
    ROOT,
    STRESS_MODEL,
    VOICE_MODEL,
    error_lines,
    fer_happy_faces,
    vgg_fer_with_units_off,
)


def bench(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, capture_output=True, text=True
    )


def one_error(result: subprocess.CompletedProcess) -> str:
    """The single `error` line of a refused run (exit 2, no traceback)."""
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def usage_error(result: subprocess.CompletedProcess) -> str:
    """argparse's refusal: exit 2, its last line `<script>.py: error: ...`."""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A flat grey image, a speech-like WAV and a zip of WAVs (no faces) to feed the scripts."""
    from stressvision.voice.audio import encode_wav

    Image.new("L", (120, 120), 128).save(tmp_path / "grey.png")
    wav = encode_wav(np.sin(np.arange(32000) * 0.05).astype(np.float32) * 0.3, 16000)
    (tmp_path / "speech.wav").write_bytes(wav)
    with zipfile.ZipFile(tmp_path / "wavs.zip", "w") as archive:
        archive.writestr("wav/03a01Wa.wav", wav)
    return {"tmp": str(tmp_path), "grey": str(tmp_path / "grey.png"), "wav": str(tmp_path / "speech.wav")}


def needs(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"needs {path}")


def test_edge_latency_refuses_a_frame_in_which_no_face_was_found(files):
    needs(STRESS_MODEL)
    result = bench("edge_latency", "--model", str(STRESS_MODEL), "--face", files["grey"], "--runs", "5")
    assert "no face found" in one_error(result)
    assert "PASS" not in result.stdout and "MISS" not in result.stdout


def test_edge_latency_times_a_real_face(tmp_path):
    needs(STRESS_MODEL, REAL_FER)
    (tmp_path / "face.jpg").write_bytes(fer_happy_faces(1)[0])
    result = bench(
        "edge_latency", "--model", str(STRESS_MODEL), "--face", str(tmp_path / "face.jpg"), "--runs", "5"
    )
    assert result.returncode == 0, result.stderr
    assert "faces found per frame: 1" in result.stdout and "end-to-end p95" in result.stdout


def face_video(path: Path, frames: int, face_jpeg: bytes | None) -> Path:
    """A 640x480 clip as `benchmarks.synthetic_video` writes it; no face: a flat grey square."""
    import io

    from benchmarks.synthetic_video import write_clip

    face = np.full((48, 48), 90, np.uint8)
    if face_jpeg is not None:
        face = np.asarray(Image.open(io.BytesIO(face_jpeg)).convert("L"))
    write_clip(face, path, (640, 480), textured=False, frames=frames, fps=25.0)
    return path


def test_edge_latency_times_each_frame_of_a_video_decoding_included(tmp_path):
    needs(STRESS_MODEL, REAL_FER)
    (tmp_path / "face.jpg").write_bytes(fer_happy_faces(1)[0])
    video = tmp_path / "clip.mp4"
    made = bench(
        "synthetic_video", "--face", str(tmp_path / "face.jpg"), "--out", str(video), "--frames", "16"
    )
    assert made.returncode == 0 and made.stdout.startswith(
        f"synthetic_video: {video}: 16 frames, 640x480, texture"
    )
    result = bench("edge_latency", "--model", str(STRESS_MODEL), "--video", str(video), "--runs", "5")
    assert result.returncode == 0, result.stderr
    assert (
        "640x480 frames, whole-frame search every 25, a face in 5 of 5 timed frames (10 warm-up)"
        in result.stdout
    )
    parts = ("decode", "detect", "classify", "total")
    rows = [line.split(" ", 1)[0] for line in result.stdout.splitlines()]
    assert [r for r in rows if r in parts] == list(parts), result.stdout
    assert "frames per second (mean):" in result.stdout and "end-to-end p95" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "12x3"], "argument --size: each side from 96 to 7680x4320, got 12x3"),
        (["--size", "big"], "argument --size: expected WIDTHxHEIGHT, e.g. 640x480, got 'big'"),
        (["--frames", "0"], "argument --frames: must be >= 1, got 0"),
        (["--fps", "0"], "--fps must be from 1 to 240, got 0"),
        (["--out", "{tmp}/clip.mkv"], "clip.mkv: give a .mp4 or .avi file"),
    ],
)
def test_synthetic_video_refuses_what_it_cannot_write(files, args, message):
    result = bench(
        "synthetic_video",
        "--face",
        files["grey"],
        "--out",
        f"{files['tmp']}/clip.mp4",
        *(a.format(**files) for a in args),
    )
    assert message in usage_error(result)
    assert not Path(files["tmp"], "clip.mp4").exists() and not Path(files["tmp"], "clip.mkv").exists()


def test_edge_latency_refuses_a_video_it_cannot_time(tmp_path):
    needs(STRESS_MODEL)
    faceless = bench(
        "edge_latency", "--model", str(STRESS_MODEL), "--video", str(face_video(tmp_path / "a.avi", 14, None))
    )
    assert "a.avi: no face found in any timed frame" in one_error(faceless)
    short = bench(
        "edge_latency", "--model", str(STRESS_MODEL), "--video", str(face_video(tmp_path / "b.avi", 6, None))
    )
    assert "b.avi: 6 frame(s); needs more than the 10 warm-up frames" in one_error(short)
    both = bench("edge_latency", "--model", "M", "--face", "F", "--video", "V")
    assert "argument --video: not allowed with argument --face" in usage_error(both)


@pytest.fixture(scope="module")
def few_fer_faces(tmp_path_factory) -> tuple[Path, float]:
    """The first 10 PrivateTest faces of three emotions as `test/<emotion>/` files, and the
    accuracy `stressvision evaluate` gives the stress model on them."""
    import json

    needs(STRESS_MODEL, REAL_FER)
    root = tmp_path_factory.mktemp("fer") / "test"
    with zipfile.ZipFile(REAL_FER) as archive:
        for emotion in ("happy", "surprise", "angry"):
            names = sorted(
                n for n in archive.namelist() if n.startswith(f"test/{emotion}/") and n.endswith(".jpg")
            )
            (root / emotion).mkdir(parents=True)
            for name in names[:10]:
                (root / emotion / Path(name).name).write_bytes(archive.read(name))
    command = ["evaluate", "--model", str(STRESS_MODEL), "--data", str(root), "--json"]
    evaluated = subprocess.run(
        [sys.executable, "-m", "stressvision.cli", *command], cwd=ROOT, capture_output=True, text=True
    )
    assert evaluated.returncode == 0, evaluated.stderr
    return root, json.loads(evaluated.stdout)["accuracy"]


def test_detector_framing_scores_files_squares_and_boxes_of_real_faces(few_fer_faces):
    """The faces drawn are the folder's (scored from their files, the script agrees with
    `stressvision evaluate`), the detector finds a third or more of them pasted at 160 px, and
    its box's centre lies near the pasted square's."""
    data, accuracy = few_fer_faces
    result = bench("detector_framing", "--model", str(STRESS_MODEL), "--data", str(data), "--per-class", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "30 faces of" in out and "pasted 160 px wide on a 640x480 flat frame" in out, out
    found = int(out.split("found: ")[1].split(" of ")[0])
    assert 10 <= found <= 30, out  # the cascade misses some of FER's tight crops
    centre = float(out.split("box centre right of the face's, in face widths: median ")[1].split(",")[0])
    assert abs(centre) < 0.1, out
    assert f"from the files (30 faces): {accuracy:.3f}" in out, (accuracy, out)
    for crop in (
        "cropped at the pasted square (30 faces)",
        f"cropped at the detector's box ({found} found faces)",
    ):
        assert crop in out, out
    mirrored = bench(
        "detector_framing", "--model", str(STRESS_MODEL), "--data", str(data), "--background", "reflect"
    )
    assert "640x480 reflect frame" in mirrored.stdout and "from the files (30 faces)" in mirrored.stdout
    assert int(mirrored.stdout.split("found: ")[1].split(" of ")[0]) >= 10, mirrored.stdout


def test_face_robustness_scores_every_face_as_stored_and_softened(few_fer_faces):
    """As stored, the script agrees with `stressvision evaluate`; softened faces get a row each."""
    data, accuracy = few_fer_faces
    result = bench("face_robustness", "--model", str(STRESS_MODEL), "--data", str(data))
    assert result.returncode == 0, result.stderr
    rows = {
        name.strip(): float(value)
        for name, value in (line.rsplit(" ", 1) for line in result.stdout.splitlines()[2:])
    }
    assert result.stdout.startswith("face_robustness: 30 faces of") and len(rows) == 7, result.stdout
    assert rows["as stored"] == pytest.approx(accuracy, abs=1e-4)
    blurred = [rows[f"blurred, sigma {s} px"] for s in ("0.5", "0.7", "1.0")]
    assert all(0 <= a <= 1 for a in blurred) and blurred != [accuracy] * 3, result.stdout


def test_monitor_accuracy_scores_each_frame_of_a_clip_it_makes_from_real_faces(few_fer_faces):
    """Every frame written is read back and counted; frames with a face are scored against the
    face shown, and a face moving out of the frame is refused before any work."""
    data, _ = few_fer_faces
    args = ["--model", str(STRESS_MODEL), "--data", str(data), "--per-class", "4", "--frames-per-face", "5"]
    result = bench("monitor_accuracy", *args)
    assert result.returncode == 0, result.stderr
    assert "12 faces of" in result.stdout and "5 frames each, 160 px wide" in result.stdout, result.stdout
    found = int(result.stdout.split("a face found in ")[1].split(" ")[0])
    assert "frames: 60," in result.stdout and found >= 20, result.stdout
    right = int(result.stdout.split("class right in ")[1].split(" ")[0])
    assert f"of the {found} frames with a face: {right / found:.3f}" in result.stdout
    too_far = bench("monitor_accuracy", *args[:4], "--frames-per-face", "100")
    assert "moving 396 px does not fit a 640x480 frame" in one_error(too_far)


def test_model_latency_times_each_model_in_turn_with_its_own_tta(tmp_path):
    """Each model is timed in every round on faces decoded from the folder, with the TTA its
    config names (or --tta), and compared with the first model's mean."""
    needs(STRESS_MODEL, EMOTIONS_MODEL)
    rng = np.random.default_rng(0)
    (tmp_path / "happy").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (60, 60), dtype=np.uint8)).save(tmp_path / "happy" / f"{i}.png")
    models = ["--model", str(STRESS_MODEL), "--model", str(EMOTIONS_MODEL)]
    result = bench("model_latency", *models, "--data", str(tmp_path), "--rounds", "2", "--runs", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith(f"model_latency: 3 faces of {tmp_path}, LiteRT 2 threads, 2 rounds of 3 timed")
    assert [line.split(":")[0] for line in out[1:3]] == ["round 1/2", "round 2/2"], out
    rows = {line.split()[0]: line.split()[1:] for line in out[4:]}
    assert list(rows) == [str(STRESS_MODEL), str(EMOTIONS_MODEL)], out
    (lead_tta, lead_mean, *_), (tta, mean, *_, ratio) = rows.values()
    assert lead_tta == tta == "flip_zoom" and float(lead_mean) > 0, out
    assert float(ratio) == pytest.approx(float(mean) / float(lead_mean), abs=0.006), out
    one_pass = bench("model_latency", *models[:2], "--data", str(tmp_path), "--runs", "3", "--tta", "none")
    assert one_pass.returncode == 0 and one_pass.stdout.splitlines()[-1].split()[1] == "none", one_pass


def test_dense_units_counts_the_dead_units_of_a_saved_model_on_image_files(files, tmp_path):
    """The units switched off are counted through the saved .keras file and decoded images;
    what it cannot read is one line."""
    vgg_fer_with_units_off(fc_batchnorm=False, units=16, off=[0, 1, 2, 3]).save(tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    (tmp_path / "faces" / "any").mkdir(parents=True)
    for i in range(5):
        face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
        Image.fromarray(face).save(tmp_path / "faces" / ("any" if i % 2 else "") / f"{i}.png")
    result = bench("dense_units", "--model", str(tmp_path / "model.keras"), "--data", str(tmp_path / "faces"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"model.keras (vgg_fer), 5 faces of {tmp_path / 'faces'}"), result.stdout
    assert [line.split() for line in lines[1:]] == [
        ["fc1", "4", "of", "16", "units", "dead", "(25%)"],
        ["fc2", "0", "of", "16", "units", "dead", "(0%)"],
    ]
    (tmp_path / "empty").mkdir()
    empty = bench("dense_units", "--model", str(tmp_path / "model.keras"), "--data", str(tmp_path / "empty"))
    assert one_error(empty).endswith("empty: no images in it or its folders")
    not_model = bench("dense_units", "--model", files["grey"], "--data", str(tmp_path / "faces"))
    assert one_error(not_model).endswith("grey.png: not a .keras model (a .keras file is a zip archive)")


def test_detector_framing_refuses_what_it_cannot_measure(files, tmp_path):
    needs(STRESS_MODEL)
    small = bench("detector_framing", "--model", str(STRESS_MODEL), "--data", files["tmp"], "--face-px", "20")
    assert usage_error(small).endswith("argument --face-px: must be from 48 to 480, got 20")
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    for module in ("detector_framing", "face_robustness", "monitor_accuracy"):
        empty = bench(module, "--model", str(STRESS_MODEL), "--data", str(tmp_path / "empty"))
        assert "no images in folders named after the model's classes or source emotions" in one_error(empty)


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        (
            "edge_latency",
            ["--model", "M", "--face", "F", "--runs", "0"],
            "argument --runs: must be >= 1, got 0",
        ),
        (
            "voice_edge_latency",
            ["--model", "M", "--wav", "W", "--runs", "0"],
            "argument --runs: must be >= 1",
        ),
        ("train_speed", ["--train", "T", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
        (
            "model_latency",
            ["--model", "M", "--data", "D", "--rounds", "0"],
            "argument --rounds: must be >= 1, got 0",
        ),
        ("face_profiles", ["--epochs", "0", "--archive", "A"], "argument --epochs: must be >= 1, got 0"),
        ("voice_speakers", ["--archive", "A", "--epochs", "-3"], "argument --epochs: must be >= 1, got -3"),
        (
            "edge_latency",
            ["--model", "M", "--face", "F", "--runs", "x"],
            "argument --runs: expected a whole number >= 1, got 'x'",
        ),
    ],
)
def test_counts_must_be_at_least_one(module, args, message):
    assert usage_error(bench(module, *args)).startswith(f"{module}.py: error: {message}")


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("edge_latency", ["--model", "STRESS", "--face", "{tmp}/nope.jpg"], "nope.jpg: not a readable image"),
        ("edge_latency", ["--model", "STRESS", "--face", "README.md"], "README.md: not a readable image"),
        (
            "edge_latency",
            ["--model", "{tmp}/nope.tflite", "--face", "{grey}"],
            "nope.tflite: model file not found",
        ),
        ("edge_latency", ["--model", "VOICE", "--face", "{grey}"], "a voice model, not a face model"),
        ("voice_edge_latency", ["--model", "VOICE", "--wav", "{tmp}/nope.wav"], "nope.wav: No such file"),
        ("voice_edge_latency", ["--model", "VOICE", "--wav", "README.md"], "README.md: not a WAV file"),
        ("voice_edge_latency", ["--model", "STRESS", "--wav", "{wav}"], "not a voice model"),
        (
            "model_latency",
            ["--model", "STRESS", "--data", "{tmp}/nope"],
            "nope: not a folder of class folders",
        ),
        ("train_speed", ["--train", "{tmp}/nope.npz"], "nope.npz: no such file"),
        ("train_speed", ["--train", "README.md"], "README.md: not a train split .npz"),
        (
            "voice_speakers",
            ["--archive", "README.md"],
            "README.md: not a zip archive or a folder of WAV files",
        ),
    ],
)
def test_a_missing_or_wrong_input_is_one_line(files, module, args, message):
    needs(STRESS_MODEL, VOICE_MODEL)
    models = {"STRESS": str(STRESS_MODEL), "VOICE": str(VOICE_MODEL)}
    result = bench(module, *(models.get(a) or a.format(**files) for a in args))
    assert message in one_error(result)


@pytest.mark.parametrize("module", ["face_profiles", "ingest_timing"])
@pytest.mark.parametrize(
    ("archive", "message"),
    [
        ("{tmp}/nope.zip", "nope.zip: no such file; give a FER-2013 zip or fer2013.csv"),
        ("README.md", "README.md: expected a .zip (Kaggle msambare/fer2013 layout) or the challenge's"),
    ],
)
def test_a_fer2013_archive_that_cannot_be_one_is_a_usage_line(files, module, archive, message):
    line = usage_error(bench(module, "--archive", archive.format(**files)))
    assert line.startswith(f"{module}.py: error: argument --archive: ") and message in line, line


def test_ingest_timing_shows_the_stage_s_error_line_not_its_output(files):
    result = bench("ingest_timing", "--archive", f"{files['tmp']}/wavs.zip")
    line = one_error(result)
    assert "error [map_labels]:" in line and "no face images" in line
    assert "--- stdout" not in result.stderr


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("face_profiles", ["--profiles", "voice_prosody_mlp"], "invalid choice: 'voice_prosody_mlp'"),
        ("voice_speakers", ["--profiles", "realtime"], "invalid choice: 'realtime'"),
        ("voice_speakers", ["-S", "voice_train.dropout=abc"], "-S voice_train.dropout: expected a number"),
        ("face_profiles", ["--profiles", "realtime", "realtime"], "--profiles: a profile is named twice"),
    ],
)
def test_profiles_of_the_other_modality_and_bad_values_are_refused_before_any_work(
    files, module, args, message
):
    result = bench(module, "--archive", f"{files['tmp']}/wavs.zip", *args)
    assert message in usage_error(result)
    assert "clips" not in result.stdout and "started" not in result.stdout  # nothing decoded or run


def test_voice_speakers_says_a_missing_archive_is_missing():
    line = usage_error(bench("voice_speakers", "--archive", "/nonexistent.zip"))
    assert line == "voice_speakers.py: error: --archive /nonexistent.zip: no such file or folder"


def test_face_profiles_refuses_a_keep_folder_that_holds_an_earlier_copy(files, tmp_path):
    (tmp_path / "keep/realtime").mkdir(parents=True)
    (tmp_path / "keep/realtime/params.yaml").write_text("train: {}\n")
    args = [
        "--archive",
        f"{files['tmp']}/wavs.zip",
        "--profiles",
        "realtime",
        "--keep",
        str(tmp_path / "keep"),
    ]
    assert "keep/realtime is not empty" in usage_error(bench("face_profiles", *args))


def test_face_profiles_fails_when_a_profile_fails_and_shows_why(files, tmp_path):
    """A zip of WAVs gets through download, then map_labels refuses it: seconds, no training."""
    args = ["--archive", f"{files['tmp']}/wavs.zip", "--profiles", "realtime", "--epochs", "1"]
    result = bench("face_profiles", *args, "--logs", str(tmp_path / "logs"))
    assert "realtime failed" in one_error(result)
    assert (
        "face_profiles: realtime: error [map_labels]: data/raw/fer2013.zip: no face images" in result.stdout
    )


def test_voice_speakers_table_fits_long_names_and_names_the_speakers(tmp_path):
    from stressvision.voice.sample_voices import write_sample_corpus

    write_sample_corpus(tmp_path / "corpus.zip", 3, 1, 0, progress=False)
    name = "voice_paralinguistic_linear"  # the longest profile name
    result = bench(
        "voice_speakers", "--archive", str(tmp_path / "corpus.zip"), "--profiles", name, "--epochs", "2"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("profile "))
    row = next(line for line in lines if line.startswith(f"{name} "))
    assert row.index("linear_softmax") == header.index("model")
    assert len(row) == len(header)  # the last column, right-aligned, ends where its header does
    worst_best = row[header.index("worst / best speaker") :].split(")")[:2]
    assert all("(emodb:0" in part for part in worst_best), row
