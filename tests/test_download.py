"""The download stage's sources: a local file, the Kaggle API (faked at the client), or an error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from stressvision.download import (
    download_from_kaggle,
    fetch_fer2013,
    find_raw_file,
    kaggle_credentials_present,
)
from stressvision.errors import DataError
from stressvision.sample_faces import write_sample_archive

SECRET = "s3cr3t-kaggle-key-0123456789"


class FakeKaggleApi:
    """Stands in for kaggle.api.kaggle_api_extended.KaggleApi: same calls, no network."""

    def __init__(self, archive: Path | None = None, fail: BaseException | None = None):
        self.archive, self.fail, self.calls = archive, fail, []

    def authenticate(self):
        self.calls.append("authenticate")

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False, licenses=()):
        self.calls.append(("download", dataset, unzip))
        target = Path(path) / f"{dataset.split('/')[-1]}.zip"
        if self.fail is not None:
            target.write_bytes(b"PK\x03\x04 partial")  # what an interrupted transfer leaves
            raise self.fail
        target.write_bytes(self.archive.read_bytes())


@pytest.fixture
def sample_zip(tmp_path) -> Path:
    return write_sample_archive(tmp_path / "kaggle-fer2013.zip", 2, 1, seed=0, progress=False)


def test_local_archive_is_used_as_is_without_network(tmp_path, sample_zip, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)  # credentials exist, but the local file wins
    out = fetch_fer2013(str(sample_zip), "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    assert out == tmp_path / "raw" / "fer2013.zip"
    assert out.read_bytes() == sample_zip.read_bytes()
    assert not (tmp_path / "partial").exists()


def test_a_local_archive_under_home_may_start_with_a_tilde(tmp_path, sample_zip, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    out = fetch_fer2013(f"~/{sample_zip.name}", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    assert out.read_bytes() == sample_zip.read_bytes()


def test_broken_local_zip_is_named_and_not_copied(tmp_path, sample_zip):
    broken = tmp_path / "my-fer2013.zip"
    broken.write_bytes(sample_zip.read_bytes()[: sample_zip.stat().st_size // 2])  # cut short
    with pytest.raises(DataError) as info:
        fetch_fer2013(str(broken), "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    message = str(info.value)
    assert message.startswith(f"{broken}: not a readable zip archive") and "\n" not in message
    assert "download.fer2013_archive" in message
    assert not (tmp_path / "raw" / "fer2013.zip").exists()


def test_local_csv_keeps_its_kind(tmp_path):
    csv = tmp_path / "my-fer.csv"
    csv.write_text("emotion,pixels,Usage\n")
    out = fetch_fer2013(str(csv), "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    assert out.name == "fer2013.csv" and find_raw_file(tmp_path / "raw") == out


def test_no_archive_and_no_credentials_says_both_ways_to_fix(tmp_path):
    assert not kaggle_credentials_present()
    with pytest.raises(DataError) as err:
        fetch_fer2013("", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    message = str(err.value)
    assert "download.fer2013_archive" in message and "KAGGLE_USERNAME" in message
    assert "\n" not in message


def test_credentials_from_env_or_kaggle_json(tmp_path, monkeypatch):
    assert not kaggle_credentials_present()
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": "u", "key": SECRET}))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    assert kaggle_credentials_present()
    assert kaggle_credentials_present({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k", "KAGGLE_CONFIG_DIR": "/x"})


def test_kaggle_download_through_the_client(tmp_path, sample_zip):
    api = FakeKaggleApi(archive=sample_zip)
    out = download_from_kaggle("msambare/fer2013", tmp_path / "raw", tmp_path / "partial", lambda: api)
    assert api.calls == ["authenticate", ("download", "msambare/fer2013", False)]
    assert out.read_bytes() == sample_zip.read_bytes()
    assert zipfile.is_zipfile(out) and not list((tmp_path / "partial").iterdir())


def test_failed_download_is_one_clear_line_without_the_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    api = FakeKaggleApi(fail=ConnectionError(f"HTTPSConnectionPool: key={SECRET} Max retries exceeded"))
    with pytest.raises(DataError) as err:
        download_from_kaggle("msambare/fer2013", tmp_path / "raw", tmp_path / "partial", lambda: api)
    message = str(err.value)
    assert "Kaggle download of msambare/fer2013 failed (ConnectionError" in message
    assert "download.fer2013_archive" in message and "\n" not in message
    assert SECRET not in message and SECRET not in capsys.readouterr().out
    assert not (tmp_path / "raw" / "fer2013.zip").exists()  # the partial file never counts as done


def test_interrupted_download_leaves_no_output(tmp_path):
    api = FakeKaggleApi(fail=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        download_from_kaggle("msambare/fer2013", tmp_path / "raw", tmp_path / "partial", lambda: api)
    assert not (tmp_path / "raw" / "fer2013.zip").exists()


def test_rejected_credentials(tmp_path):
    class Rejecting(FakeKaggleApi):
        def authenticate(self):
            raise SystemExit(1)  # what the real client does

    with pytest.raises(DataError, match="Kaggle rejected the credentials"):
        download_from_kaggle("msambare/fer2013", tmp_path / "raw", tmp_path / "partial", Rejecting)


def test_real_client_offline_fails_clearly(tmp_path, monkeypatch):
    """The real Kaggle client, with made-up credentials and no reachable Kaggle."""
    monkeypatch.setenv("KAGGLE_USERNAME", "nobody")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # refused at once: never the internet
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(DataError) as err:
        fetch_fer2013("", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    assert "Kaggle download of msambare/fer2013 failed" in str(err.value)
    assert SECRET not in str(err.value)
