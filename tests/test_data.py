"""Label mapping, splitting, balancing and archive decoding on real image files."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from stressvision.augment import WARPS, AugmentConfig, build_augmenter
from stressvision.balancing import balance_indices, balance_train_set
from stressvision.datasets import (
    OFFICIAL_TEST,
    OFFICIAL_TRAIN,
    OFFICIAL_VAL,
    FaceSet,
    decode_face,
    drop_empty_classes,
    map_to_classes,
    read_face_source,
)
from stressvision.edge import read_gray
from stressvision.errors import DataError
from stressvision.fileio import atomic_dir, atomic_path, write_json
from stressvision.labels import FER2013_EMOTIONS, LabelMap
from stressvision.sample_faces import write_sample_archive
from stressvision.splits import SplitConfig, split_indices

STRESS_MAP = LabelMap(
    classes=("neutral", "stress", "sad", "happy", "fatigue"),
    mapping={
        "angry": "stress",
        "disgust": "stress",
        "fear": "stress",
        "sad": "sad",
        "neutral": "neutral",
        "surprise": "neutral",
        "happy": "happy",
    },
)


def faces_with_labels(labels, official_split=None) -> FaceSet:
    labels = np.asarray(labels, dtype=np.int16)
    images = np.repeat(labels[:, None, None], 48, axis=1).repeat(48, axis=2).astype(np.uint8)
    split = np.zeros(len(labels), np.int8) if official_split is None else np.asarray(official_split, np.int8)
    return FaceSet(images=images, labels=labels, official_split=split)


def map_and_drop(faces: FaceSet, empty_classes: str = "drop"):
    return drop_empty_classes(
        map_to_classes(faces, STRESS_MAP, FER2013_EMOTIONS), STRESS_MAP.classes, empty_classes
    )


def test_stress_mapping_and_empty_class_dropped():
    source = np.arange(7).repeat(3)  # 3 faces of each FER emotion
    mapped, classes, empty = map_and_drop(faces_with_labels(source))
    assert classes == ("neutral", "stress", "sad", "happy") and empty == ["fatigue"]
    counts = dict(zip(classes, np.bincount(mapped.labels)))
    assert counts == {"neutral": 6, "stress": 9, "sad": 3, "happy": 3}
    # The image of each face stays with its own label (the image value is the source label).
    name_of = {i: STRESS_MAP.mapping[e] for i, e in enumerate(FER2013_EMOTIONS)}
    for image, label in zip(mapped.images, mapped.labels):
        assert name_of[int(image[0, 0])] == classes[label]


def test_empty_class_can_be_an_error():
    with pytest.raises(DataError, match="'fatigue' has no images"):
        map_and_drop(faces_with_labels(np.arange(7)), "error")


def test_split_keeps_official_test_and_stratifies():
    labels = np.r_[np.zeros(100), np.ones(50)].astype(int)
    official = np.r_[np.zeros(80), np.ones(20), np.zeros(40), np.ones(10)]
    config = SplitConfig({"train": 0.7, "val": 0.15, "test": 0.15}, seed=0, use_official_test=True)
    idx, how = split_indices(labels, official, config)
    assert how == "official test split"
    assert set(idx["test"]) == set(np.flatnonzero(official == 1))
    assert not set(idx["train"]) & set(idx["val"]) and not set(idx["train"]) & set(idx["test"])
    assert len(idx["train"]) + len(idx["val"]) == 120
    assert abs(labels[idx["val"]].mean() - 1 / 3) < 0.05  # class shares kept


def test_random_split_uses_the_ratios():
    labels = np.arange(4).repeat(50)
    config = SplitConfig({"train": 0.7, "val": 0.15, "test": 0.15}, seed=0, use_official_test=False)
    idx, _ = split_indices(labels, np.zeros(200), config)
    assert [len(idx[s]) for s in ("train", "val", "test")] == [136, 32, 32]  # 34/8/8 per class
    assert len(np.unique(np.concatenate(list(idx.values())))) == 200


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("none", [30, 10, 5]),
        ("oversample", [30, 30, 30]),
        ("undersample", [5, 5, 5]),
        ("augment", [30, 20, 20]),
    ],
)
def test_balance_methods(method, expected):
    labels = np.r_[np.zeros(30), np.ones(10), np.full(5, 2)].astype(int)
    order, augmented = balance_indices(labels, method, 20 if method == "augment" else None, seed=0)
    assert np.bincount(labels[order]).tolist() == expected
    assert augmented.sum() == (25 if method == "augment" else 0)


@pytest.mark.parametrize("warp", WARPS)
def test_augmented_copies_are_changed_images_of_the_same_class(warp):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 48, 48), dtype=np.uint8)
    labels = np.r_[np.zeros(10), np.ones(2)].astype(np.int16)
    out, order, n = balance_train_set(images, labels, "augment", None, 0, AugmentConfig(warp=warp))
    assert n == 8 and np.bincount(labels[order]).tolist() == [10, 10]
    copies = out[12:]
    assert copies.dtype == np.uint8
    assert all(not np.array_equal(c, images[10]) and not np.array_equal(c, images[11]) for c in copies)


def sharpness(images: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: resampling blur lowers it."""
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


def test_single_warp_resamples_once_in_tf_data(tmp_path):
    import tensorflow as tf

    archive = write_sample_archive(tmp_path / "faces.zip", 20, 0, seed=1, progress=False)
    faces = read_face_source(archive, progress=False).images[..., None].astype(np.float32)
    still = build_augmenter(AugmentConfig(0, 0, 0, False, (1.0, 1.0), "single"), seed=0)
    np.testing.assert_array_equal(np.asarray(still(tf.constant(faces))), faces)

    def augmented(warp: str) -> np.ndarray:
        dataset = tf.data.Dataset.from_tensor_slices(faces).batch(32)
        dataset = dataset.map(build_augmenter(AugmentConfig(warp=warp), seed=0), num_parallel_calls=2)
        return np.concatenate([batch.numpy() for batch in dataset])

    single, layers = augmented("single"), augmented("layers")
    assert single.shape == faces.shape and single.min() >= 0 and single.max() <= 255
    assert np.abs(single - faces).mean() > 5
    assert sharpness(faces) > sharpness(single) > sharpness(layers)  # one resampling, not three


def test_contrast_jitter_scales_each_face_about_its_mean():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    faces = rng.uniform(64, 192, size=(64, 48, 48, 1)).astype(np.float32)  # no clipping at 0.8-1.25
    config = AugmentConfig(0, 0, 0, False, (1.0, 1.0), "single", contrast=(0.8, 1.25))
    out = np.asarray(build_augmenter(config, seed=0)(tf.constant(faces)))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), faces.mean(axis=(1, 2, 3)), rtol=1e-4)
    ratio = out.std(axis=(1, 2, 3)) / faces.std(axis=(1, 2, 3))
    assert ratio.min() >= 0.8 - 1e-4 and ratio.max() <= 1.25 + 1e-4 and ratio.std() > 0.05

    def centred(x):
        return x - x.mean(axis=(1, 2, 3), keepdims=True)

    np.testing.assert_allclose(centred(out) / ratio[:, None, None, None], centred(faces), atol=1e-3)


def erased_boxes(faces: np.ndarray, out: np.ndarray) -> list[tuple[int, int, float]]:
    """(height, width, black share) of each face's changed pixels; asserts they are one black box."""
    boxes = []
    for before, after in zip(faces[..., 0], out[..., 0], strict=True):
        changed = before != after
        if not changed.any():
            continue
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        box = after[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert (box == 0).all() and changed.sum() == box.size  # one solid rectangle, nothing else moved
        boxes.append((len(rows), len(cols), box.size / changed.size))
    return boxes


def test_random_erasing_blacks_out_one_box_in_about_its_share_of_faces():
    import tensorflow as tf

    faces = np.random.default_rng(0).uniform(1, 255, size=(2000, 48, 48, 1)).astype(np.float32)
    for probability in (0.0, 0.5, 1.0):
        config = AugmentConfig(0, 0, 0, False, (1.0, 1.0), "single", erasing=probability)
        out = np.asarray(build_augmenter(config, seed=0)(tf.constant(faces)))
        boxes = erased_boxes(faces, out)
        assert abs(len(boxes) / len(faces) - probability) < 0.04
    areas = np.array([share for _, _, share in boxes])
    aspects = np.array([h / w for h, w, _ in boxes])
    assert areas.min() > 0.012 and areas.max() < 0.37 and 0.15 < areas.mean() < 0.19  # 2-33 % of the face
    assert aspects.min() < 0.5 and aspects.max() > 2.0  # tall and wide boxes both


def blur_spread(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The standard deviation along x and along y of each image's brightness about (24, 24)."""
    mass = images[..., 0] / images[..., 0].sum(axis=(1, 2), keepdims=True)
    offsets = np.arange(48) - 24.0
    along_x = np.sqrt((mass.sum(axis=1) * offsets**2).sum(axis=1))
    along_y = np.sqrt((mass.sum(axis=2) * offsets**2).sum(axis=1))
    return along_x, along_y


def test_random_blur_spreads_each_face_by_its_own_sigma_up_to_the_param():
    """One bright dot per image: its spread after blurring is the image's sigma, drawn from
    [0, blur]; no brightness is lost or gained, and blur 0 leaves faces alone."""
    import tensorflow as tf

    dots = np.zeros((1000, 48, 48, 1), np.float32)
    dots[:, 24, 24] = 255.0
    config = AugmentConfig(0, 0, 0, False, (1.0, 1.0), "single", blur=1.2)
    out = np.asarray(build_augmenter(config, seed=0)(tf.constant(dots)))
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 255.0, rtol=1e-4)
    along_x, along_y = blur_spread(out)
    np.testing.assert_allclose(along_x, along_y, atol=1e-3)  # round, not smeared one way
    assert along_x.min() < 0.05 and 1.1 < along_x.max() <= 1.2  # from none to the param (taps to 3 sigma)
    assert abs(np.median(along_x) - 0.6) < 0.06  # uniform in between
    flat = np.full((4, 48, 48, 1), 100.0, np.float32)  # reflected edges: no dark border
    np.testing.assert_allclose(
        np.asarray(build_augmenter(config, seed=1)(tf.constant(flat))), 100.0, rtol=1e-5
    )
    untouched = AugmentConfig(0, 0, 0, False, (1.0, 1.0), "single")
    np.testing.assert_array_equal(np.asarray(build_augmenter(untouched, seed=0)(tf.constant(dots))), dots)


def official_splits_and_own_photos() -> tuple[np.ndarray, np.ndarray]:
    """Labels and official splits: two classes of 30 train, 5 val, 5 test, and 10 own photos."""
    labels = np.r_[np.zeros(40), np.ones(40), np.full(10, 2)].astype(int)
    official = np.r_[np.full(30, OFFICIAL_TRAIN), np.full(5, OFFICIAL_VAL), np.full(5, OFFICIAL_TEST)]
    return labels, np.r_[official, official, np.full(10, -1)]  # class 2: the user's own photos


def test_official_validation_and_own_photos():
    labels, official = official_splits_and_own_photos()
    config = SplitConfig({"train": 0.6, "val": 0.2, "test": 0.2}, seed=0, use_official_test=True)
    idx, how = split_indices(labels, official, config)
    assert "official validation split" in how and "own photos" in how
    assert set(np.flatnonzero(official == OFFICIAL_VAL)) <= set(idx["val"])
    assert set(np.flatnonzero(official == OFFICIAL_TEST)) <= set(idx["test"])
    own = {s: int((labels[idx[s]] == 2).sum()) for s in idx}
    assert own == {"train": 6, "val": 2, "test": 2}


def test_val_ratio_zero_trains_on_every_official_training_and_validation_face():
    labels, official = official_splits_and_own_photos()
    config = SplitConfig({"train": 0.8, "val": 0.0, "test": 0.2}, seed=0, use_official_test=True)
    idx, how = split_indices(labels, official, config)
    assert how == "official test split, no validation split; your own photos split in the configured ratios"
    assert len(idx["val"]) == 0 and idx["val"].dtype == np.int64
    official_train = np.flatnonzero(np.isin(official, (OFFICIAL_TRAIN, OFFICIAL_VAL)))
    assert set(official_train) <= set(idx["train"])
    assert set(np.flatnonzero(official == OFFICIAL_TEST)) <= set(idx["test"])
    own = {s: int((labels[idx[s]] == 2).sum()) for s in idx}
    assert own == {"train": 8, "val": 0, "test": 2}

    random, _ = split_indices(labels, np.full(90, -1), config)  # no official test split either
    assert [len(random[s]) for s in ("train", "val", "test")] == [72, 0, 18]


def test_tiny_class_goes_to_train_instead_of_failing():
    labels = np.r_[np.zeros(50), np.ones(2)].astype(int)
    config = SplitConfig({"train": 0.7, "val": 0.15, "test": 0.15}, seed=0, use_official_test=False)
    idx, _ = split_indices(labels, np.full(52, -1), config)
    assert (labels[idx["train"]] == 1).sum() >= 1
    assert sum(len(v) for v in idx.values()) == 52


def jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((60, 60, 3), value, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


RAMP = np.tile(np.linspace(0, 1, 96), (72, 1))  # a 96x72 black-to-white gradient in 0..1
DEEP_IMAGES = {  # file name: (pixels as PIL should read them back, the mode PIL opens it in)
    "16bit.png": ((RAMP * 65535).round().astype(np.uint16), "I;16"),
    "16bit.tif": ((RAMP * 65535).round().astype(np.uint16), "I;16"),
    "16bit_big_endian.tif": ((RAMP * 65535).round().astype(">u2"), "I;16B"),
    "16bit.pgm": ((RAMP * 65535).round().astype(np.int32), "I"),
    "32bit_int.tif": ((RAMP * 65535).round().astype(np.int32), "I"),
    "float.tif": (RAMP.astype(np.float32), "F"),
}


@pytest.mark.parametrize("name", DEEP_IMAGES)
def test_deep_images_decode_like_their_8bit_version(tmp_path, name):
    """PIL's convert("L") clips: 16-bit images came out white and 0..1 floats black."""
    pixels, mode = DEEP_IMAGES[name]
    eight_bit, deep = tmp_path / "8bit.png", tmp_path / name
    Image.fromarray((RAMP * 255).round().astype(np.uint8)).save(eight_bit)
    Image.fromarray(pixels).save(deep)
    with Image.open(deep) as img:
        assert img.mode == mode
    for decode in (lambda path: decode_face(path.read_bytes()), read_gray):
        expected, got = decode(eight_bit).astype(int), decode(deep).astype(int)
        assert np.abs(got - expected).max() <= 1
        assert expected.min() < 10 and expected.max() > 245  # the whole ramp, not a flat image


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "F"])
def test_training_and_detection_see_a_photo_alike(tmp_path, mode):
    """decode_face (training, --no-detect) and read_gray (detection) share one conversion:
    the same 48x48 file gives the same pixels, transparency flattened onto white in both."""
    rng = np.random.default_rng(0)
    ramp = (RAMP[:48, :48] * 255).round().astype(np.uint8)
    alpha = np.where(np.arange(48) < 24, 0, rng.integers(0, 256, (48, 48))).astype(np.uint8)
    path = tmp_path / ("face.tif" if mode == "F" else "face.png")
    if mode == "RGBA":
        Image.fromarray(np.dstack([ramp, ramp[::-1], ramp.T, alpha])).save(path)
    elif mode == "LA":
        Image.merge("LA", [Image.fromarray(ramp), Image.fromarray(alpha)]).save(path)
    elif mode == "P":
        Image.fromarray(ramp).convert("P").save(path, transparency=int(ramp[0, 0]))
    elif mode == "I;16":
        Image.fromarray(ramp.astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(ramp.astype(np.float32) / 255).save(path)
    gray = read_gray(path)
    np.testing.assert_array_equal(gray, decode_face(path.read_bytes()))
    if mode in ("RGBA", "LA"):
        assert (gray[:, :24] == 255).all()  # fully transparent columns are white, not black
    if mode in ("I;16", "F"):
        np.testing.assert_array_equal(gray, ramp)


def test_archive_reader_skips_bad_files_with_reasons(tmp_path):
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train/happy/ok.jpg", jpeg(200))  # RGB, 60x60: converted to 48x48 gray
        archive.writestr("test/sad/ok.jpg", jpeg(50))
        archive.writestr("train/happy/truncated.jpg", jpeg(10)[:40])
        archive.writestr("train/happy/empty.jpg", b"")
        archive.writestr("train/happy/notes.txt", b"hello")
        archive.writestr("train/bored/x.jpg", jpeg(1))
        archive.writestr("README.md", b"#")
    faces = read_face_source(path, progress=False)
    assert faces.images.shape == (2, 48, 48)
    assert faces.labels.tolist() == [FER2013_EMOTIONS.index("happy"), FER2013_EMOTIONS.index("sad")]
    assert faces.official_split.tolist() == [0, 1]
    assert faces.skipped["corrupt, truncated or empty image"] == 2
    assert faces.skipped["not an image file"] == 1
    assert faces.skipped["unknown emotion folder 'bored'"] == 1


def test_not_a_zip_is_a_clear_error(tmp_path):
    bad = tmp_path / "fer2013.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="not a readable zip archive") as err:
        read_face_source(bad, progress=False)
    # read by the map_labels stage and by scripts outside the pipeline alike: advice for both
    advice = "replace it with a complete copy (in the pipeline: dvc repro --force download)"
    assert str(err.value).endswith(advice)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.5})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{") and "0.5" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_folder_is_replaced_whole_or_not_at_all(tmp_path):
    bundle = tmp_path / "tflite"
    with atomic_dir(bundle) as tmp:
        (tmp / "float32.tflite").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(bundle) as tmp:  # Ctrl-C after one of two files
        (tmp / "int8.tflite").write_bytes(b"new")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["tflite"]
    assert [p.name for p in bundle.iterdir()] == ["float32.tflite"]
    with atomic_dir(bundle) as tmp:
        (tmp / "int8.tflite").write_bytes(b"new")
        (tmp / "model_config.json").write_text("{}")
    assert sorted(p.name for p in bundle.iterdir()) == ["int8.tflite", "model_config.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["tflite"]


def test_an_interrupted_folder_swap_keeps_the_old_folder(tmp_path, monkeypatch):
    """Ctrl-C between moving the old bundle aside and the new one in (a user's packaged model,
    outside DVC): the old bundle is put back, and what a SIGKILL there left is put back next time."""
    import stressvision.fileio as fileio

    bundle = tmp_path / "tflite"
    with atomic_dir(bundle) as tmp:
        (tmp / "float32.tflite").write_bytes(b"old")
    real_replace, calls = os.replace, []

    def interrupted_after_first(src, dst):
        calls.append(dst)
        real_replace(src, dst)
        if len(calls) == 1:  # the old folder moved aside, the new one not yet in
            raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", interrupted_after_first)
    with pytest.raises(KeyboardInterrupt), atomic_dir(bundle) as tmp:
        (tmp / "int8.tflite").write_bytes(b"new")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["tflite"]
    assert [p.name for p in bundle.iterdir()] == ["float32.tflite"]

    os.replace(bundle, tmp_path / ".tflite.k6wkbxcp.tmp.old")  # SIGKILL at the same point
    with pytest.raises(RuntimeError), atomic_dir(bundle):
        raise RuntimeError("interrupted again")
    assert [p.name for p in tmp_path.iterdir()] == ["tflite"]
    assert (bundle / "float32.tflite").read_bytes() == b"old"


def test_what_a_killed_write_leaves_is_ignored_by_git(tmp_path):
    """A SIGKILL mid-write leaves a temporary file beside metrics/*.json (git-tracked) that stays
    when DVC restores the stage from its run-cache: git must not offer it for a commit."""
    import subprocess

    from tests.conftest import ROOT

    names = []
    with atomic_path(tmp_path / "quantize.json") as tmp:
        names.append(f"metrics/{tmp.name}")
    with atomic_dir(tmp_path / "train") as tmp:
        names += [f"dvclive/{tmp.name}/metrics.json", f"plots/{tmp.name}.old/curves.png"]
    for name in names:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name} is not ignored"
    kept = subprocess.run(["git", "check-ignore", "-q", "--no-index", "metrics/quantize.json"], cwd=ROOT)
    assert kept.returncode == 1


def test_atomic_outputs_get_the_mode_a_plain_write_gives(tmp_path):
    """Not mkstemp's owner-only 0600 / mkdtemp's 0700: others read a shared cache or model folder."""
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"accuracy": 0.5})
        with atomic_dir(tmp_path / "tflite") as tmp:
            (tmp / "int8.tflite").write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "tflite").stat().st_mode) == 0o755


def test_the_next_write_clears_what_a_killed_one_left(tmp_path):
    """SIGKILL (the OOM killer) skips the clean-up: the temporary copies stay beside the target."""
    (tmp_path / ".tflite.k6wkbxcp.tmp").mkdir()  # a quantize killed mid-export
    (tmp_path / ".tflite.k6wkbxcp.tmp" / "float32.tflite").write_bytes(b"half")
    (tmp_path / ".train.a1b2c3d4.tmp.json").write_text("{half")  # a metrics write killed
    mine = [tmp_path / "tflite.notes", tmp_path / ".train.v2.json", tmp_path / ".tflite.tmp"]
    for path in mine:
        path.write_text("not a leftover")
    with atomic_dir(tmp_path / "tflite") as tmp:
        (tmp / "int8.tflite").write_bytes(b"new")
    write_json(tmp_path / "train.json", {"accuracy": 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["tflite", "train.json", *(p.name for p in mine)]
    )


def test_confusion_report_agrees_with_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    from stressvision.scores import confusion_report

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 500)
    predicted = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 4, 500))
    predicted[predicted == 3] = 2  # class 3 never predicted: zero precision, not a crash
    report = confusion_report(labels, predicted, ["a", "b", "c", "d"])
    p, r, f, _ = precision_recall_fscore_support(labels, predicted, average="macro", zero_division=0)
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert (report["precision_macro"], report["recall_macro"], report["f1_macro"]) == pytest.approx((p, r, f))
    assert report["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    assert report["per_class"]["d"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": int((labels == 3).sum()),
    }
    # classes that never occur (a folder of some classes only) are left out of the averages
    some = labels[labels < 2], np.where(predicted[labels < 2] < 2, predicted[labels < 2], 0)
    report = confusion_report(*some, ["a", "b", "c", "d"])
    assert report["f1_macro"] == pytest.approx(f1_score(*some, average="macro"))
    assert len(report["per_class"]) == 4 and report["per_class"]["d"]["support"] == 0
    assert confusion_report(np.zeros(5), np.zeros(5), ["a", "b"])["f1_macro"] == 1.0
