"""A small subset of the real FER-2013 archive (../shared/datasets); skipped when it is absent."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.project_copy import copy_project, git, run
from stressvision.datasets import OFFICIAL_TEST, OFFICIAL_TRAIN, read_face_source
from stressvision.labels import FER2013_EMOTIONS
from tests.conftest import REAL_FER, set_params

PER_FOLDER = 12

pytestmark = pytest.mark.skipif(not REAL_FER.is_file(), reason=f"{REAL_FER} not present")


@pytest.fixture(scope="module")
def real_subset(tmp_path_factory) -> Path:
    """The first PER_FOLDER images of every train/<emotion>/ and test/<emotion>/ folder."""
    path = tmp_path_factory.mktemp("real") / "fer2013-subset.zip"
    taken: Counter = Counter()
    with zipfile.ZipFile(REAL_FER) as source, zipfile.ZipFile(path, "w") as subset:
        for entry in source.infolist():
            folder = str(Path(entry.filename).parent)
            if not entry.is_dir() and taken[folder] < PER_FOLDER:
                subset.writestr(entry, source.read(entry))
                taken[folder] += 1
    return path


def test_real_faces_decode_with_their_labels_and_splits(real_subset):
    faces = read_face_source(real_subset, progress=False)
    assert faces.images.shape == (2 * 7 * PER_FOLDER, 48, 48) and not faces.skipped
    counts = Counter(zip(faces.labels.tolist(), faces.official_split.tolist()))
    for label in range(len(FER2013_EMOTIONS)):
        assert counts[(label, OFFICIAL_TRAIN)] == counts[(label, OFFICIAL_TEST)] == PER_FOLDER
    assert 40 < faces.images.mean() < 200 and faces.images.std() > 20  # real photos, not blanks


def test_data_stages_on_real_fer2013_with_own_photos(real_subset, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # any network use would fail loudly
    project = copy_project(tmp_path / "project")
    set_params(project, {"download": {"source": "fer2013", "fer2013_archive": str(real_subset)}})
    fatigue = project / "data/custom/fatigue"
    fatigue.mkdir(parents=True)
    with zipfile.ZipFile(REAL_FER) as source:  # stand-in photos: real faces, as JPEG files
        names = [n for n in source.namelist() if n.startswith("train/neutral/")][-10:]
        for i, name in enumerate(names):
            (fatigue / f"photo{i}.jpg").write_bytes(source.read(name))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "real data")
    result = run(["dvc", "repro", "balance"], project)
    assert "using the local file" in result.stdout
    report = json.loads((project / "metrics/data/map_labels.json").read_text())
    assert report["source"] == dict.fromkeys(FER2013_EMOTIONS, 2 * PER_FOLDER)
    assert report["custom"]["fatigue"] == 10
    assert report["mapped"] == {"neutral": 48, "stress": 72, "sad": 24, "happy": 24, "fatigue": 10}
    split = json.loads((project / "metrics/data/split.json").read_text())
    assert split["test"]["stress"] == 3 * PER_FOLDER  # the official test split, mapped
    assert sum(split[s]["fatigue"] for s in split) == 10 and split["test"]["fatigue"] >= 1
    assert (project / "plots/data/class_counts.png").stat().st_size > 10_000

    # Adding photos is a change of a declared dependency: map_labels and what follows rerun.
    (fatigue / "new.jpg").write_bytes((fatigue / "photo0.jpg").read_bytes())
    status = run(["dvc", "status", "map_labels"], project).stdout
    assert "map_labels" in status and "modified" in status
