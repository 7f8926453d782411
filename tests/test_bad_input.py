"""Real files of every odd kind: user photos, the challenge CSV, hostile archives."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stressvision.datasets import (
    OFFICIAL_TEST,
    OFFICIAL_TRAIN,
    OFFICIAL_VAL,
    SKIP_CORRUPT,
    SKIP_CSV_LABEL,
    SKIP_CSV_PIXELS,
    SKIP_CSV_USAGE,
    SKIP_NOT_IMAGE,
    SKIP_TOO_LARGE,
    SKIP_UNSAFE_PATH,
    Skipped,
    decode_face,
    read_custom_folder,
    read_face_source,
)
from stressvision.errors import DataError
from tests.conftest import error_lines, stage_in_copy

CLASSES = ("neutral", "stress", "sad", "happy", "fatigue")


def image_bytes(mode: str, size: tuple[int, int], fmt: str, value=128) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, format=fmt)
    return buf.getvalue()


def test_any_size_and_colour_mode_becomes_a_48px_gray_face():
    cases = [
        ("RGB", (640, 480), "JPEG", (200, 10, 10)),
        ("RGBA", (120, 90), "PNG", (0, 0, 0, 0)),  # fully transparent: flattened onto white
        ("L", (30, 30), "PNG", 77),
        ("LA", (64, 64), "PNG", (50, 255)),
        ("P", (50, 70), "BMP", 3),
    ]
    for mode, size, fmt, value in cases:
        face = decode_face(image_bytes(mode, size, fmt, value))
        assert face.shape == (48, 48) and face.dtype == np.uint8, mode
    assert decode_face(image_bytes("RGBA", (20, 20), "PNG", (0, 0, 0, 0))).min() == 255
    assert decode_face(image_bytes("L", (30, 30), "PNG", 77)).mean() == pytest.approx(77, abs=1)


def test_exif_rotation_is_applied():
    img = Image.new("L", (60, 30), 0)
    img.paste(255, (0, 0, 30, 30))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    face = decode_face(buf.getvalue()).astype(float)
    assert face[:24].mean() > face[24:].mean() + 100  # white half now on top


def test_decompression_bomb_is_skipped_not_decoded(tmp_path):
    bomb = image_bytes("1", (9000, 9000), "PNG", 0)  # 81 megapixels in a small file
    assert len(bomb) < 2_000_000
    with pytest.raises(Exception):  # noqa: B017 - refused before decoding
        decode_face(bomb)
    folder = tmp_path / "photos" / "happy"
    folder.mkdir(parents=True)
    (folder / "bomb.png").write_bytes(bomb)
    (folder / "ok.png").write_bytes(image_bytes("L", (48, 48), "PNG"))
    faces, _ = read_custom_folder(tmp_path / "photos", CLASSES)
    assert len(faces.labels) == 1 and faces.skipped[SKIP_TOO_LARGE] == 1


def test_custom_folder_with_every_kind_of_bad_file(tmp_path):
    root = tmp_path / "custom"
    for name in ("fatigue", "happy", "stres", ".hidden"):
        (root / name).mkdir(parents=True)
    (root / "README.md").write_text("instructions")
    (root / "notes.jpg").write_bytes(image_bytes("L", (48, 48), "JPEG"))  # not in a class folder
    (root / "fatigue" / "a.jpg").write_bytes(image_bytes("RGB", (300, 300), "JPEG"))
    (root / "fatigue" / "nested").mkdir()
    (root / "fatigue" / "nested" / "b.png").write_bytes(image_bytes("RGBA", (64, 64), "PNG", (9, 9, 9, 255)))
    (root / "fatigue" / "empty.jpg").write_bytes(b"")
    (root / "fatigue" / "truncated.jpg").write_bytes(image_bytes("RGB", (200, 200), "JPEG")[:300])
    (root / "fatigue" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (root / "happy" / "c.png").write_bytes(image_bytes("L", (48, 48), "PNG"))
    (root / "stres" / "d.jpg").write_bytes(image_bytes("L", (48, 48), "JPEG"))
    faces, unknown = read_custom_folder(root, CLASSES)
    assert sorted(CLASSES[i] for i in faces.labels) == ["fatigue", "fatigue", "happy"]
    assert (faces.official_split == -1).all()
    assert unknown == ["stres"]
    assert faces.skipped == {
        SKIP_CORRUPT: 2,
        SKIP_NOT_IMAGE: 1,
        "photos in unknown class folder 'stres'": 1,
        "file not inside a class folder": 1,
    }
    fatigue = root / "fatigue"  # each skipped file can be found by its name
    assert faces.skipped.examples[SKIP_CORRUPT] == [str(fatigue / n) for n in ("empty.jpg", "truncated.jpg")]
    assert faces.skipped.describe(SKIP_NOT_IMAGE) == f"{SKIP_NOT_IMAGE} ({fatigue / 'clip.mp4'})"
    many = Skipped()
    for i in range(5):
        many.add(SKIP_CORRUPT, f"{i}.jpg")
    assert many.describe(SKIP_CORRUPT) == f"{SKIP_CORRUPT} (first: 0.jpg, 1.jpg, 2.jpg)"


def test_missing_custom_folder_means_no_photos(tmp_path):
    faces, unknown = read_custom_folder(tmp_path / "nope", CLASSES)
    assert len(faces.labels) == 0 and unknown == []


def csv_row(label, pixels, usage="Training") -> str:
    return f"{label},{' '.join(str(p) for p in pixels)},{usage}"


def test_challenge_csv_is_parsed_with_usages_and_bad_rows_counted(tmp_path):
    good = np.arange(2304) % 256
    rows = [
        csv_row(3, good),
        csv_row(0, good[::-1], "PublicTest"),
        csv_row(6, good, "PrivateTest"),
        csv_row(4, good[:2000]),  # wrong pixel count
        csv_row(4, np.r_[good[:-1], 300]),  # value out of range
        csv_row(4, [*good[:-1], "x"]),  # not a number
        csv_row(9, good),  # bad label
        csv_row("", good),  # missing label
        csv_row(2, good, "Holdout"),  # unknown usage
    ]
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    faces = read_face_source(path)
    assert faces.labels.tolist() == [3, 0, 6]
    assert faces.official_split.tolist() == [OFFICIAL_TRAIN, OFFICIAL_VAL, OFFICIAL_TEST]
    np.testing.assert_array_equal(faces.images[0].ravel(), good)
    assert faces.skipped == {SKIP_CSV_PIXELS: 3, SKIP_CSV_LABEL: 2, SKIP_CSV_USAGE: 1}


def test_csv_inside_a_zip(tmp_path):
    path = tmp_path / "fer2013.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fer2013/fer2013.csv", "emotion,pixels\n" + csv_row(5, [7] * 2304).rsplit(",", 1)[0])
    faces = read_face_source(path)
    assert faces.labels.tolist() == [5] and faces.official_split.tolist() == [OFFICIAL_TRAIN]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("label,image\n1,2\n", "expected the columns emotion,pixels"),
        ("emotion,pixels\n9,1 2 3\n", "no usable rows"),
    ],
)
def test_unusable_csv_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_face_source(path)


def test_zip_slip_entries_are_skipped_and_nothing_is_extracted(tmp_path):
    path = tmp_path / "evil.zip"
    jpeg = image_bytes("L", (48, 48), "JPEG")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train/happy/ok.jpg", jpeg)
        archive.writestr("../../train/happy/escape.jpg", jpeg)
        archive.writestr("/etc/train/happy/abs.jpg", jpeg)
        archive.writestr("train/../../sad/x.jpg", jpeg)
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    faces = read_face_source(path)
    assert len(faces.labels) == 1 and faces.skipped[SKIP_UNSAFE_PATH] == 3
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["evil.zip"]


@pytest.mark.parametrize(
    ("raw_name", "content", "message"),
    [
        ("fer2013.zip", b"<html>rate limited</html>", "not a readable zip archive"),
        ("fer2013.csv", b"label,image\n1,2\n", "expected the columns emotion,pixels"),
    ],
)
def test_map_labels_stage_on_a_bad_raw_file_is_one_line_and_writes_nothing(
    tmp_path, raw_name, content, message
):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / raw_name).write_bytes(content)
    args = ["--raw", "raw", "--custom", "custom", "--out", "mapped", "--metrics", "metrics/m.json"]
    result = stage_in_copy(tmp_path, {}, "map_labels", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "mapped").exists() and not (tmp_path / "metrics").exists()
