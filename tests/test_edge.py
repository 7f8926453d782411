"""The edge command (`stressvision`): LiteRT only, on the pipeline's own TFLite models."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stressvision.errors import DataError
from tests.conftest import EMOTIONS_MODEL, REAL_FER, ROOT, STRESS_MODEL, VOICE_MODEL, fer_happy_faces


def stressvision(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stressvision.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def our_lines(stderr: str) -> list[str]:
    """stderr without the line LiteRT itself prints when it first runs a model."""
    return [line for line in stderr.splitlines() if not line.startswith("INFO: Created TensorFlow Lite")]


@pytest.fixture(scope="module")
def labelled_test_set(pipeline_project: Path, tmp_path_factory) -> Path:
    """The pipeline's test split as PNG files in class folders, plus a foreign folder and a broken file."""
    root = tmp_path_factory.mktemp("labelled")
    classes = json.loads((pipeline_project / "models/tflite/model_config.json").read_text())["classes"]
    test = np.load(pipeline_project / "data/split/test.npz")
    for i, (image, label) in enumerate(zip(test["images"], test["labels"])):
        folder = root / classes[label]
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    (root / "bored").mkdir()
    (root / "bored" / "x.png").write_bytes(next((root / classes[0]).glob("*.png")).read_bytes())
    (root / classes[0] / "broken.png").write_bytes(b"not a png")
    return root


def test_evaluate_json_matches_the_quantize_stage(pipeline_project: Path, labelled_test_set: Path):
    model = pipeline_project / "models/tflite"
    result = stressvision("evaluate", "--model", str(model), "--data", str(labelled_test_set), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = json.loads((pipeline_project / "metrics/quantize.json").read_text())["int8"]
    assert report["n"] == len(np.load(pipeline_project / "data/split/test.npz")["labels"])
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report["macro_f1"] == pytest.approx(expected["f1_macro"], abs=1e-9)
    assert report["skipped_unreadable"] == 1
    assert "bored: not a class of this model" in result.stderr


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs real faces from ../shared")
def test_evaluate_counts_the_images_of_a_folder_that_is_not_a_class(tmp_path: Path):
    """README: a folder that is not a class is skipped and counted, as an unreadable file is, and
    files that are not images are named and counted; hidden files are neither read nor counted."""
    faces = fer_happy_faces(5)
    for folder, jpegs in (("happy", faces[:2]), ("stres", faces[2:])):
        (tmp_path / folder).mkdir()
        for i, jpeg in enumerate(jpegs):
            (tmp_path / folder / f"{i}.jpg").write_bytes(jpeg)
    (tmp_path / "stres" / "notes.txt").write_text("not an image")
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "happy" / "anim.gif").write_bytes(faces[0])
    (tmp_path / "README.txt").write_text("where these faces came from")
    (tmp_path / "happy" / ".thumbnails").mkdir()
    for hidden in ("._0.jpg", ".thumbnails/1.jpg", "../stres/._2.jpg"):  # left out, as predict does
        (tmp_path / "happy" / hidden).write_bytes(b"macOS and viewer droppings")
    result = stressvision("evaluate", "--model", str(STRESS_MODEL), "--data", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    skipped = (report["skipped_unreadable"], report["skipped_other_classes"], report["skipped_other_files"])
    assert (report["n"], *skipped) == (2, 1, 3, 2)
    lines = our_lines(result.stderr)
    warning = "stres: not a class of this model (neutral, stress, sad, happy); its 3 image(s) skipped"
    assert any(line.endswith(warning) for line in lines)
    others = "2 file(s) other than images in class folders left out (README.txt, happy/anim.gif)"
    assert f"warning: {tmp_path}: {others}" in lines


def test_each_tta_mode_s_views_lead_the_larger_modes_views():
    """What lets one pass of the largest mode score every mode (quantize, package_model)."""
    from stressvision.tta import TTA_MODES, VIEW_COUNTS, tta_views

    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48)).astype(np.float32)
    largest = tta_views(faces, "flip_zoom")
    for mode in TTA_MODES:
        views = tta_views(faces, mode)
        assert len(views) == VIEW_COUNTS[mode]
        for view, same in zip(views, largest):
            np.testing.assert_array_equal(view, same)


def test_tta_averages_each_face_over_its_views(pipeline_project: Path):
    from stressvision.litert import TFLiteClassifier, time_inference
    from stressvision.tta import zoom_center

    classifier = TFLiteClassifier(pipeline_project / "models/tflite/int8.tflite")
    faces = np.load(pipeline_project / "data/split/test.npz")["images"][:8].astype(np.float32)
    plain, mirrored = classifier.predict(faces), classifier.predict(faces[:, :, ::-1])
    np.testing.assert_allclose(classifier.predict(faces, tta="flip"), (plain + mirrored) / 2, atol=1e-7)
    assert not np.allclose(plain, mirrored)  # the mirror image is another view
    zooms = [zoom_center(faces, margin) for margin in (2, 4)]
    views = [plain, mirrored, *(classifier.predict(v) for z in zooms for v in (z, z[:, :, ::-1]))]
    np.testing.assert_allclose(classifier.predict(faces, tta="flip_zoom"), np.mean(views, 0), atol=1e-7)
    assert len(time_inference(classifier, faces, warmup=2, runs=5, tta="flip_zoom")) == 5


def test_evaluate_accepts_source_emotion_folders(pipeline_project: Path, tmp_path: Path):
    """FER-style folders (angry/, surprise/...) are mapped with the mapping carried by the model."""
    test = np.load(pipeline_project / "data/split/test.npz")
    for emotion in ("angry", "surprise"):
        (tmp_path / emotion).mkdir()
        for i in range(3):
            Image.fromarray(test["images"][i]).save(tmp_path / emotion / f"{i}.png")
    result = stressvision(
        "evaluate", "--model", str(pipeline_project / "models/tflite"), "--data", str(tmp_path), "--json"
    )
    report = json.loads(result.stdout)
    assert report["per_class"]["stress"]["support"] == 3 and report["per_class"]["neutral"]["support"] == 3


def test_edge_commands_never_import_tensorflow(pipeline_project: Path, labelled_test_set: Path):
    model = pipeline_project / "models/tflite/int8.tflite"
    faces = labelled_test_set / "happy"
    code = (
        "import sys\n"
        "from stressvision.cli import main\n"
        f"main(['evaluate', '--model', {str(model)!r}, '--data', {str(labelled_test_set)!r}, '--json'])\n"
        f"main(['predict', '--no-detect', '--model', {str(model)!r}, {str(faces)!r}])\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted({'tensorflow', 'keras', 'pandas', 'sklearn'} & loaded)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_predict_on_face_crops_writes_json_lines(pipeline_project: Path, labelled_test_set: Path):
    result = stressvision(
        "predict",
        "--no-detect",
        "--model",
        str(pipeline_project / "models/tflite"),
        str(labelled_test_set / "happy"),
    )
    assert result.returncode == 0, result.stderr  # broken.png is in another class folder
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(list((labelled_test_set / "happy").glob("*.png")))
    assert all(abs(sum(line["probabilities"].values()) - 1) < 0.02 for line in lines)
    assert sum(line["label"] == "happy" for line in lines) > len(lines) / 2


def test_predict_skips_bad_inputs_and_goes_on(
    pipeline_project: Path, labelled_test_set: Path, tmp_path: Path
):
    blank = tmp_path / "blank.png"
    Image.new("L", (640, 480), 128).save(blank)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    good = next((labelled_test_set / "happy").glob("*.png"))
    missing = tmp_path / "missing.jpg"
    wide = tmp_path / "wide.png"
    Image.new("L", (4000, 3), 128).save(wide)  # shrunk for detection: once 0 px high, a cv2.error
    empty = tmp_path / "empty"
    empty.mkdir()
    inputs = [str(bad), str(missing), str(empty), str(blank), str(wide), str(good)]
    result = stressvision("predict", "--model", str(pipeline_project / "models/tflite"), *inputs)
    assert result.returncode == 1
    assert "bad.jpg: not a readable image (not an image format PIL reads)" in result.stderr
    assert f"error: {missing}: not a readable image (No such file or directory)" in result.stderr.splitlines()
    assert "blank.png: no face found" in result.stderr and "wide.png: no face found" in result.stderr
    assert f"error: {empty}: a folder with no .jpg/" in result.stderr
    assert str(good) in result.stdout + result.stderr  # the input after them was still read
    assert "Traceback" not in result.stderr


def test_face_detector_takes_any_strip_and_fails_in_one_line():
    from stressvision.edge import FaceDetector

    detector = FaceDetector()
    for shape in [(3, 4000), (4000, 3), (1, 1)]:  # (3, 4000) once shrank to 0 px high for detection
        assert detector.faces(np.full(shape, 128, np.uint8)) == []
    with pytest.raises(DataError, match=r"face detection failed on a 10x10 image \(.*CV_8U"):
        detector.faces(np.zeros((10, 10)))  # float64: the cascade takes 8-bit images only


@pytest.mark.parametrize("side", [9000, 10000, 14000])  # refused by us, by PIL's warning, by PIL's error
def test_unreadable_images_say_why_in_both_paths(tmp_path: Path, side: int):
    from stressvision.edge import face_crop_from_file, read_gray

    huge, text, missing = tmp_path / "huge.png", tmp_path / "notes.png", tmp_path / "missing.png"
    big, empty = tmp_path / "big.png", tmp_path / "empty.png"
    Image.new("1", (side, side)).save(huge)  # small file, over 64 megapixels: never decoded
    Image.new("L", (48, 48)).save(big)
    with open(big, "r+b") as grown:
        grown.truncate(65 * 2**20)  # a readable PNG, then zeros: 65 MB
    text.write_text("not an image")
    empty.touch()
    reasons = {
        huge: "too large: over 64 megapixels",
        big: "too large: file over 64 MB",
        text: "not an image format PIL reads",
        empty: "empty file",
        missing: "No such file or directory",
    }
    for read in (read_gray, face_crop_from_file):
        for path, reason in reasons.items():
            with pytest.raises(DataError) as caught:
                read(path)
            assert str(caught.value) == f"{path}: not a readable image ({reason})"


@pytest.mark.skipif(not REAL_FER.is_file(), reason="needs a real face from ../shared")
def test_predict_finds_a_real_face_in_a_camera_frame(pipeline_project: Path, tmp_path: Path):
    (jpeg,) = fer_happy_faces(1)
    face = Image.open(io.BytesIO(jpeg)).convert("L").resize((200, 200), Image.BICUBIC)
    frame = Image.new("L", (640, 480), 90)
    frame.paste(face, (220, 140))
    path = tmp_path / "frame.png"
    frame.save(path)
    result = stressvision("predict", "--model", str(pipeline_project / "models/tflite"), str(path))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and len(lines) >= 1, result.stderr
    x, y, w, h = lines[0]["box"]
    assert 180 < x + w / 2 < 460 and 100 < y + h / 2 < 380  # the face, not the background


EDITED_CONFIGS = {  # a hand-edited model_config.json: what it says
    "list": ([], "not a JSON object"),
    "classes_text": ({"classes": "abcd"}, '"classes" is not a list of distinct class names'),
    "classes_twice": ({"classes": ["a", "b", "a", "c"]}, '"classes" is not a list of distinct'),
    "null_mapping": ({"source_to_class": None}, '"source_to_class" is not an object'),
    "voice_modality": ({"modality": "voice"}, 'a voice model needs "input" with positive integer'),
    "other_modality": ({"modality": "text"}, "\"modality\" 'text' is neither face nor voice"),
}


@pytest.mark.parametrize("kind", ["not_tflite", "no_config", "unknown_tta", *EDITED_CONFIGS])
def test_bad_model_is_one_line(pipeline_project: Path, tmp_path: Path, kind: str):
    model = tmp_path / "model.tflite"
    if kind in EDITED_CONFIGS:
        model.write_bytes((pipeline_project / "models/tflite/int8.tflite").read_bytes())
        config = json.loads((pipeline_project / "models/tflite/model_config.json").read_text())
        edit, message = EDITED_CONFIGS[kind]
        (tmp_path / "model_config.json").write_text(json.dumps({**config, **edit} if edit else edit))
    elif kind == "not_tflite":
        model.write_bytes(b"definitely not a flatbuffer")
        (tmp_path / "model_config.json").write_text('{"classes": ["a", "b"]}')
        message = "not a valid TFLite model"
    elif kind == "unknown_tta":
        model.write_bytes((pipeline_project / "models/tflite/int8.tflite").read_bytes())
        config = json.loads((pipeline_project / "models/tflite/model_config.json").read_text())
        (tmp_path / "model_config.json").write_text(json.dumps({**config, "tta": "ten_crop"}))
        message = "tta 'ten_crop' is not one of none, flip, flip_zoom"
    else:
        model.write_bytes((pipeline_project / "models/tflite/int8.tflite").read_bytes())
        message = "no model_config.json beside the model"
    result = stressvision("evaluate", "--model", str(model), "--data", str(tmp_path))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr


def test_an_ensemble_averages_its_members_in_the_first_model_s_classes(labelled_test_set: Path):
    """The 7-emotion model's probabilities are summed into stress classes by the stress
    model's own mapping, then averaged with the stress model's (each with its own TTA, each
    normalised to sum to 1: INT8 softmax outputs miss by a few thousandths)."""
    from stressvision.edge import face_crop_from_file, load_edge_model

    result = stressvision(
        "predict", "--no-detect", "--model", str(STRESS_MODEL), "--model", str(EMOTIONS_MODEL),
        str(labelled_test_set / "happy"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    stress, emotions = load_edge_model(STRESS_MODEL), load_edge_model(EMOTIONS_MODEL)
    crops = [face_crop_from_file(Path(line["file"]))[None] for line in lines]  # one per call, as predict
    by_emotion = np.concatenate([emotions.predict(crop) for crop in crops])
    columns = {
        name: [emotions.classes.index(e) for e, target in stress.source_to_class.items() if target == name]
        for name in stress.classes
    }
    summed = np.stack([by_emotion[:, columns[c]].sum(1) for c in stress.classes], axis=1)
    alone = np.concatenate([stress.predict(crop) for crop in crops])
    expected = (alone / alone.sum(1, keepdims=True) + summed / summed.sum(1, keepdims=True)) / 2
    got = np.array([[line["probabilities"][c] for c in stress.classes] for line in lines])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.abs(got - alone).max() > 0.01  # the second model counts
    assert [line["label"] for line in lines] == [stress.classes[i] for i in expected.argmax(1)]


@pytest.mark.parametrize("order", ["finer_first", "with_voice"])
def test_an_ensemble_that_cannot_answer_in_one_set_of_classes_is_one_line(
    labelled_test_set: Path, order: str
):
    models = {
        "finer_first": [EMOTIONS_MODEL, STRESS_MODEL],
        "with_voice": [STRESS_MODEL, VOICE_MODEL],
    }[order]
    message = {
        "finer_first": "none of its classes (neutral, stress, sad, happy) maps to the first model's "
        "angry, disgust, fear, surprise; put the model with the coarser classes first",
        "with_voice": "is a voice model; it runs alone: give one --model",
    }[order]
    args = [arg for model in models for arg in ("--model", str(model))]
    result = stressvision("evaluate", *args, "--data", str(labelled_test_set))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr


def test_models_without_a_class_in_common_are_not_averaged(tmp_path: Path):
    from stressvision.edge import load_face_models

    other = tmp_path / "other"
    other.mkdir()
    (other / "int8.tflite").write_bytes((STRESS_MODEL / "int8.tflite").read_bytes())
    config = json.loads((STRESS_MODEL / "model_config.json").read_text())
    config |= {"classes": list("wxyz"), "source_to_class": {}}
    (other / "model_config.json").write_text(json.dumps(config))
    with pytest.raises(DataError) as caught:
        load_face_models([STRESS_MODEL, other])
    assert str(caught.value) == (
        f"{other}: none of its classes (w, x, y, z) is or maps to one of the first model's "
        "(neutral, stress, sad, happy); these models cannot be averaged"
    )


@pytest.mark.parametrize(
    "option, message",
    [
        (["--camera", "-1"], "--camera must be >= 0"),  # OpenCV crashed on it
        (["--threads", "0"], "--threads must be >= 1"),  # LiteRT's complaint read as a bad model
        (["--max-frames", "-1"], "--max-frames must be >= 0 (0: all)"),
        (["--window", "nan"], "--window must be a number of seconds > 0"),
        (["--threshold", "2"], "--threshold must be in (0, 1]"),
        (["--hysteresis", "0.7"], "--hysteresis must be >= 0 and below --threshold"),
        (["--detect-width", "10"], "--detect-width must be 0 (the default) or >= 48"),
    ],
)
def test_out_of_range_options_are_a_usage_error(option: list[str], message: str):
    result = stressvision("predict", "--model", str(STRESS_MODEL), "photo.jpg", *option)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"stressvision: error: {message}"


def test_face_options_of_voice_and_the_version(tmp_path: Path):
    result = stressvision("predict", "--model", str(STRESS_MODEL), "--enroll", str(tmp_path), str(tmp_path))
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: --enroll and --pcm-rate are for voice models; drop them for a face model"
    ]
    version = stressvision("--version")
    assert version.returncode == 0 and version.stdout.strip() == "stressvision 0.1.0"


def test_photos_are_searched_at_a_larger_width_than_video_frames(tmp_path: Path):
    """Six 240 px faces in a 4000x3000 photo: at the 320 px width used for video frames they
    shrink under the cascade's 24 px window; `predict` searches photos at 1280 px."""
    if not REAL_FER.is_file():
        pytest.skip("needs real faces from ../shared")
    photo = Image.new("L", (4000, 3000), 90)
    for i, jpeg in enumerate(fer_happy_faces(6)):
        face = Image.open(io.BytesIO(jpeg)).convert("L").resize((240, 240), Image.BICUBIC)
        photo.paste(face, (300 + 1200 * (i % 3), 600 + 1200 * (i // 3)))
    path = tmp_path / "group.jpg"
    photo.save(path, quality=95)
    result = stressvision("predict", "--model", str(STRESS_MODEL), str(path))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6
    small = stressvision("predict", "--model", str(STRESS_MODEL), str(path), "--detect-width", "320")
    assert len(small.stdout.splitlines()) < 6
