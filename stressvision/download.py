"""Getting the raw FER-2013 data: a local archive, the Kaggle API, or the built-in sample.

Every path ends with one file in the output folder, written atomically: an interrupted
download never counts as done. Kaggle credentials are read by the Kaggle client itself and
never printed, logged or stored.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

from stressvision.errors import DataError
from stressvision.fileio import atomic_path

KAGGLE_DATASET = "msambare/fer2013"
KAGGLE_CREDENTIALS = "KAGGLE_USERNAME/KAGGLE_KEY, KAGGLE_API_TOKEN or ~/.kaggle/kaggle.json"
RAW_SUFFIXES = (".zip", ".csv")


def raw_file_name(path: str | os.PathLike) -> str:
    """`fer2013.zip` or `fer2013.csv`: map_labels reads the raw folder by these names."""
    suffix = Path(path).suffix.lower()
    if suffix not in RAW_SUFFIXES:
        raise DataError(
            f"{path}: expected a .zip (Kaggle {KAGGLE_DATASET} layout) or the challenge's fer2013.csv"
        )
    return f"fer2013{suffix}"


def find_raw_file(raw_dir: str | os.PathLike) -> Path:
    for suffix in RAW_SUFFIXES:
        candidate = Path(raw_dir) / f"fer2013{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(f"{raw_dir}: no fer2013.zip or fer2013.csv; run `dvc repro download`")


def pack_folder(folder: Path, destination: Path) -> Path:
    """A folder as one stored (uncompressed) zip, paths relative to the folder."""
    with atomic_path(destination) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return destination


FER_ARCHIVE_HINT = (
    f"set download.fer2013_archive to a complete copy of the Kaggle {KAGGLE_DATASET} zip (or fer2013.csv)"
)


def check_not_empty(source: str | os.PathLike, hint: str = FER_ARCHIVE_HINT) -> None:
    """A zip or folder with no files is named here, where it is given, not a stage later."""
    source = Path(source)
    if source.is_dir():
        empty = not any(p.is_file() for p in source.rglob("*"))
    else:
        with zipfile.ZipFile(source) as archive:
            empty = all(e.is_dir() for e in archive.infolist())
    if empty:
        raise DataError(f"{source}: holds no files; {hint}")


def copy_local_archive(source: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Use a file the user already has, as is: no network.

    A zip is opened first, so that a broken or empty copy is named here, where it can be
    fixed, rather than copied and found unreadable a stage later.
    """
    destination = Path(out_dir) / raw_file_name(source)
    if destination.suffix == ".zip":
        try:
            check_not_empty(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{source}: not a readable zip archive ({exc}); {FER_ARCHIVE_HINT}") from None
    with atomic_path(destination) as tmp:
        shutil.copyfile(source, tmp)
    return destination


def pack_local_folder(source: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """The unpacked Kaggle folder (`train/<emotion>/`, `test/<emotion>/`) as `fer2013.zip`."""
    check_not_empty(source)
    return pack_folder(Path(source), Path(out_dir) / "fer2013.zip")


def _kaggle_config_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")


def _login_besides_kaggle_json(env: Mapping[str, str]) -> bool:
    """Credentials in the environment, an API token file or a `kaggle auth login`: each of
    them the client uses instead of kaggle.json."""
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY") or env.get("KAGGLE_API_TOKEN"):
        return True
    home = Path.home() / ".kaggle"
    files = ("access_token", "access_token.txt", "credentials.json")
    return (_kaggle_config_dir(env) / "access_token").is_file() or any((home / f).is_file() for f in files)


def kaggle_credentials_present(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the Kaggle client will find credentials (checked without reading the secret)."""
    env = os.environ if environ is None else environ
    return _login_besides_kaggle_json(env) or (_kaggle_config_dir(env) / "kaggle.json").is_file()


def unusable_kaggle_json(environ: Mapping[str, str] | None = None) -> Path | None:
    """kaggle.json when it is the client's only source of credentials and holds no username
    and key (the client would print a page of help and exit); None otherwise."""
    env = os.environ if environ is None else environ
    config = _kaggle_config_dir(env) / "kaggle.json"
    if _login_besides_kaggle_json(env) or not config.is_file():
        return None
    try:
        values = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return config
    usable = isinstance(values, dict) and all(
        isinstance(values.get(k), str) and values[k] for k in ("username", "key")
    )
    return None if usable else config


def _kaggle_api():
    # Not `import kaggle`: that authenticates on import and prints help to stdout when it fails.
    from kaggle.api.kaggle_api_extended import KaggleApi

    return KaggleApi()


def _redact(text: str) -> str:
    for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return text


def download_from_kaggle(
    dataset: str,
    out_dir: str | os.PathLike,
    partial_dir: str | os.PathLike,
    api_factory=_kaggle_api,
    file_name: str = "fer2013.zip",
    archive_hint: str = "download.fer2013_archive",
) -> Path:
    """Download `dataset` with the official Kaggle client into `partial_dir`, then move it in
    as `out_dir/file_name`; `archive_hint` names the param that takes a manual download.

    `partial_dir` lies outside the stage output (DVC deletes outputs before a run), so an
    interrupted download is resumed by the client on the next run instead of restarted.
    """
    config = unusable_kaggle_json()
    if config is not None:
        raise DataError(
            f"{config}: not a Kaggle API key file (JSON with username and key); download a new one "
            f"at https://www.kaggle.com/settings, or download the zip by hand and set {archive_hint}"
        )
    partial_dir = Path(partial_dir)
    partial_dir.mkdir(parents=True, exist_ok=True)
    client_says = io.StringIO()  # the client prints a page of help before it exits
    try:
        api = api_factory()
        with contextlib.redirect_stdout(client_says):
            api.authenticate()
        print(_redact(client_says.getvalue()), end="")  # e.g. its warning about file permissions
        api.dataset_download_files(dataset, path=str(partial_dir), quiet=False, unzip=False)
    except SystemExit:  # the client exits when it finds no usable credentials
        raise DataError(
            f"the Kaggle client found no valid credentials; check {KAGGLE_CREDENTIALS}, "
            f"or download the zip by hand and set {archive_hint}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - network, HTTP and client errors alike
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            problem = f"Kaggle rejected the credentials (HTTP {status}); check {KAGGLE_CREDENTIALS}"
        elif status == 404:
            problem = f"Kaggle has no dataset {dataset} (HTTP 404); check its name in params.yaml"
        else:
            problem = (
                f"Kaggle download of {dataset} failed ({type(exc).__name__}: {_redact(str(exc))[:200]}); "
                "check the network"
            )
        raise DataError(f"{problem}, or download the zip by hand and set {archive_hint}") from None
    archive = partial_dir / f"{dataset.split('/')[-1]}.zip"
    if not archive.is_file() or not zipfile.is_zipfile(archive):
        raise DataError(
            f"Kaggle download of {dataset} left no valid zip in {partial_dir}; delete that folder and rerun"
        )
    destination = Path(out_dir) / file_name
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(archive, destination)
    return destination


def fetch_fer2013(
    archive: str, dataset: str, out_dir: str | os.PathLike, partial_dir: str | os.PathLike
) -> Path:
    """The local archive (a file, or the unpacked Kaggle folder) when one is given; else Kaggle
    when credentials exist; else one clear error. A given path that does not exist is an
    error, never a download.

    `~` in `archive` is the home folder, as a shell would read it.
    """
    archive = os.path.expanduser(archive)
    if archive:
        if Path(archive).is_dir():
            print(f"download: packing the local folder {archive} (no network)", flush=True)
            return pack_local_folder(archive, out_dir)
        if Path(archive).is_file():
            print(f"download: using the local file {archive} (no network)")
            return copy_local_archive(archive, out_dir)
        raise DataError(
            f"{archive} does not exist; set download.fer2013_archive to your copy of the Kaggle "
            f'{dataset} zip (or fer2013.csv), or to "" to download it with the Kaggle API'
        )
    if kaggle_credentials_present():
        print(f"download: downloading {dataset} with the Kaggle API", flush=True)
        return download_from_kaggle(dataset, out_dir, partial_dir)
    raise DataError(
        f"no FER-2013 data: set download.fer2013_archive to your copy of the Kaggle "
        f"{dataset} zip (or fer2013.csv), or set KAGGLE_USERNAME and KAGGLE_KEY "
        "(or ~/.kaggle/kaggle.json) to download it"
    )
