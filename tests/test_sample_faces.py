"""The built-in sample: deterministic, in the Kaggle FER-2013 layout, and decodable."""

import zipfile

import numpy as np

from stressvision.datasets import read_face_source
from stressvision.labels import FER2013_EMOTIONS
from stressvision.sample_faces import draw_face, write_sample_archive


def test_same_seed_gives_identical_archive_bytes(tmp_path):
    a, b, c = tmp_path / "a.zip", tmp_path / "b.zip", tmp_path / "c.zip"
    write_sample_archive(a, 3, 2, seed=7, progress=False)
    write_sample_archive(b, 3, 2, seed=7, progress=False)
    write_sample_archive(c, 3, 2, seed=8, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_archive_has_the_kaggle_layout(tmp_path):
    path = tmp_path / "fer2013.zip"
    assert write_sample_archive(path, 4, 2, seed=1, progress=False) == path
    names = zipfile.ZipFile(path).namelist()
    assert len(names) == 7 * (4 + 2)
    for emotion in FER2013_EMOTIONS:
        assert sum(n.startswith(f"train/{emotion}/Training_") for n in names) == 4
        assert sum(n.startswith(f"test/{emotion}/PrivateTest_") for n in names) == 2
    faces = read_face_source(path, progress=False)
    assert faces.images.shape == (42, 48, 48) and faces.images.dtype == np.uint8
    assert not faces.skipped


def test_each_emotion_draws_a_different_face_for_the_same_person():
    """Same seed: same identity, pose and lighting, so only the expression changes."""
    faces = {e: draw_face(np.random.default_rng(3), e).astype(float) for e in FER2013_EMOTIONS}
    for a in FER2013_EMOTIONS:
        for b in FER2013_EMOTIONS:
            if a < b:
                assert np.abs(faces[a] - faces[b]).mean() > 0.5, (a, b)
    other_person = draw_face(np.random.default_rng(4), "happy").astype(float)
    assert np.abs(other_person - faces["happy"]).mean() > 5
