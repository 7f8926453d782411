"""The download stage's sources: a local file, the Kaggle API (faked at the client), or an error."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from stressvision import download
from stressvision.datasets import read_face_source
from stressvision.download import (
    download_from_kaggle,
    fetch_fer2013,
    find_raw_file,
    kaggle_credentials_present,
)
from stressvision.errors import DataError
from stressvision.sample_faces import write_sample_archive
from stressvision.voice import download as voice_download
from stressvision.voice.download import fetch_voice_corpus

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


@pytest.mark.parametrize("name", ["credentials.json", "access_token", "access_token.txt"])
def test_a_kaggle_auth_login_or_token_file_counts_as_credentials(tmp_path, monkeypatch, name):
    """`kaggle auth login` (the client's recommended way) and token files live in ~/.kaggle."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not kaggle_credentials_present()
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / name).write_text("{}" if name.endswith(".json") else SECRET)
    assert kaggle_credentials_present()


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


@pytest.mark.parametrize(
    "content",
    ['{"username": "u", "key": "' + SECRET + '"', '{"username": "u"}', ""],
    ids=["cut-short", "no-key", "empty"],
)
def test_unusable_kaggle_json_is_named_in_one_line(tmp_path, monkeypatch, capsys, content):
    """The real client, with a kaggle.json it cannot use: one line naming the file, not its help page."""
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "kaggle.json").write_text(content)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    with pytest.raises(DataError) as err:
        fetch_fer2013("", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    message = str(err.value)
    assert message.startswith(f"{config / 'kaggle.json'}: not a Kaggle API key file") and "\n" not in message
    assert "download.fer2013_archive" in message and SECRET not in message
    out = capsys.readouterr().out
    assert "Authentication required" not in out and SECRET not in out


def test_client_help_page_is_not_printed_when_it_finds_no_credentials(tmp_path, capsys):
    class Helpless(FakeKaggleApi):
        def authenticate(self):
            print("Authentication required to call the Kaggle API.\n\nFirst, you will need ...")
            raise SystemExit(1)  # what the real client does

    with pytest.raises(DataError) as err:
        download_from_kaggle("msambare/fer2013", tmp_path / "raw", tmp_path / "partial", Helpless)
    assert "found no valid credentials" in str(err.value) and "download.fer2013_archive" in str(err.value)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_given_archive_is_never_swapped_for_a_download(tmp_path, monkeypatch, sample_zip, kind):
    """A typo in fer2013_archive, or the unpacked Kaggle folder, with credentials set: no network."""
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    downloads = []
    monkeypatch.setattr(download, "download_from_kaggle", lambda *args, **kwargs: downloads.append(args))
    if kind == "missing":
        with pytest.raises(DataError) as err:
            fetch_fer2013(str(tmp_path / "fer2013.zp"), "msambare/fer2013", tmp_path / "raw", tmp_path / "p")
        assert str(err.value).startswith(
            f"{tmp_path / 'fer2013.zp'} does not exist; set download.fer2013_archive"
        )
    else:
        folder = tmp_path / "unpacked"
        with zipfile.ZipFile(sample_zip) as archive:
            archive.extractall(folder)
        out = fetch_fer2013(str(folder), "msambare/fer2013", tmp_path / "raw", tmp_path / "p")
        assert out == tmp_path / "raw" / "fer2013.zip"
        assert len(read_face_source(out, progress=False).labels) == len(read_face_source(sample_zip).labels)
    assert downloads == []


def test_a_given_voice_archive_is_never_swapped_for_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    downloads = []
    monkeypatch.setattr(
        voice_download, "download_from_kaggle", lambda *args, **kwargs: downloads.append(args)
    )
    with pytest.raises(DataError, match=r"emodb\.zp does not exist; set voice_download\.archive"):
        fetch_voice_corpus("emodb", str(tmp_path / "emodb.zp"), "x/y", tmp_path / "raw", tmp_path / "p")
    assert downloads == []


def test_empty_or_wrong_archives_are_named_with_the_param_to_fix(tmp_path):
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("train/", b"")  # folders only
    with pytest.raises(DataError, match=r"empty\.zip: holds no files; set download\.fer2013_archive"):
        fetch_fer2013(str(empty), "msambare/fer2013", tmp_path / "raw", tmp_path / "p")
    assert not (tmp_path / "raw" / "fer2013.zip").exists()
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="holds no files"):
        fetch_fer2013(str(tmp_path / "nothing"), "msambare/fer2013", tmp_path / "raw", tmp_path / "p")
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.writestr("images/happy_1.jpg", b"not read")
    copied = fetch_fer2013(str(wrong), "msambare/fer2013", tmp_path / "raw", tmp_path / "p")
    with pytest.raises(DataError, match=r"layout; set download\.fer2013_archive"):
        read_face_source(copied)


@pytest.fixture
def fake_kaggle(monkeypatch):
    """A local HTTP server in Kaggle's place, so the real client runs end to end: it answers
    the download call with `answer["status"]` and `answer["body"]`."""
    kaggle_env = pytest.importorskip("kagglesdk.kaggle_env")
    answer: dict = {"status": 200, "body": b"", "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer["requests"].append((self.path, body))
            status, data = answer["status"], answer["body"]
            kind = "application/zip" if status == 200 else "application/json"
            if status != 200:
                data = json.dumps({"code": status, "message": "Unauthenticated"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoints = dict(kaggle_env._env_to_endpoint)
    endpoints[kaggle_env.KaggleEnv.PROD] = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(kaggle_env, "_env_to_endpoint", endpoints)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    yield answer
    server.shutdown()
    server.server_close()


def test_real_client_downloads_from_a_local_fake_kaggle(tmp_path, fake_kaggle, sample_zip, capsys):
    fake_kaggle["body"] = sample_zip.read_bytes()
    out = fetch_fer2013("", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    assert out == tmp_path / "raw" / "fer2013.zip" and out.read_bytes() == sample_zip.read_bytes()
    assert fake_kaggle["requests"] == [
        (
            "/v1/datasets.DatasetApiService/DownloadDataset",
            b'{"ownerSlug": "msambare", "datasetSlug": "fer2013"}',
        )
    ]
    assert not list((tmp_path / "partial").iterdir()) and SECRET not in capsys.readouterr().out


@pytest.mark.parametrize(("status", "says"), [(401, "rejected the credentials"), (404, "has no dataset")])
def test_real_client_refused_by_kaggle_says_why(tmp_path, fake_kaggle, status, says):
    fake_kaggle["status"] = status
    with pytest.raises(DataError) as err:
        fetch_fer2013("", "msambare/fer2013", tmp_path / "raw", tmp_path / "partial")
    message = str(err.value)
    assert f"{says}" in message and f"HTTP {status}" in message and "check the network" not in message
    assert "download.fer2013_archive" in message and SECRET not in message and "\n" not in message
    assert not (tmp_path / "raw" / "fer2013.zip").exists()


def test_an_empty_voice_corpus_stops_where_it_is_given(tmp_path):
    empty = tmp_path / "corpus.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("wav/", b"")  # folders only
    (tmp_path / "nothing").mkdir()
    for given in (empty, tmp_path / "nothing"):
        with pytest.raises(DataError, match=r"holds no files; set voice_download\.archive"):
            fetch_voice_corpus("folder", str(given), "x/y", tmp_path / "raw", tmp_path / "p")
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
