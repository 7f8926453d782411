"""Getting the raw FER-2013 data: a local archive, the Kaggle API, or the built-in sample.

Every path ends with one file in the output folder, written atomically: an interrupted
download never counts as done. Kaggle credentials are read by the Kaggle client itself and
never printed, logged or stored.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from stressvision.errors import DataError
from stressvision.fileio import atomic_path

KAGGLE_DATASET = "msambare/fer2013"
RAW_SUFFIXES = (".zip", ".csv")


def raw_file_name(path: str | os.PathLike) -> str:
    """`fer2013.zip` or `fer2013.csv`: map_labels reads the raw folder by these names."""
    suffix = Path(path).suffix.lower()
    if suffix not in RAW_SUFFIXES:
        raise DataError(
            f"{path}: expected a .zip (Kaggle msambare/fer2013 layout) or the challenge's fer2013.csv"
        )
    return f"fer2013{suffix}"


def find_raw_file(raw_dir: str | os.PathLike) -> Path:
    for suffix in RAW_SUFFIXES:
        candidate = Path(raw_dir) / f"fer2013{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(f"{raw_dir}: no fer2013.zip or fer2013.csv; run `dvc repro download`")


def copy_local_archive(source: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Use a file the user already has, as is: no network.

    A zip is opened first, so that a broken copy is named here, where it can be fixed, rather
    than copied and found unreadable a stage later.
    """
    destination = Path(out_dir) / raw_file_name(source)
    if destination.suffix == ".zip":
        try:
            zipfile.ZipFile(source).close()
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(
                f"{source}: not a readable zip archive ({exc}); set download.fer2013_archive "
                "to a complete copy of the Kaggle msambare/fer2013 zip (or fer2013.csv)"
            ) from None
    with atomic_path(destination) as tmp:
        shutil.copyfile(source, tmp)
    return destination


def kaggle_credentials_present(environ: dict[str, str] | None = None) -> bool:
    """Whether the Kaggle client will find credentials (checked without reading the secret)."""
    env = os.environ if environ is None else environ
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY") or env.get("KAGGLE_API_TOKEN"):
        return True
    config_dir = Path(env.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    return (config_dir / "kaggle.json").is_file() or (config_dir / "access_token").is_file()


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
    partial_dir = Path(partial_dir)
    partial_dir.mkdir(parents=True, exist_ok=True)
    try:
        api = api_factory()
        api.authenticate()
        api.dataset_download_files(dataset, path=str(partial_dir), quiet=False, unzip=False)
    except SystemExit:  # the client exits when it finds no usable credentials
        raise DataError(
            "Kaggle rejected the credentials; check KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json"
        ) from None
    except Exception as exc:  # noqa: BLE001 - network, HTTP and client errors alike
        raise DataError(
            f"Kaggle download of {dataset} failed ({type(exc).__name__}: {_redact(str(exc))[:200]}); "
            f"check the network, or download the zip by hand and set {archive_hint}"
        ) from None
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
    """A local archive when it exists; else Kaggle when credentials exist; else one clear error.

    `~` in `archive` is the home folder, as a shell would read it.
    """
    archive = os.path.expanduser(archive)
    if archive and Path(archive).is_file():
        print(f"download: using the local file {archive} (no network)")
        return copy_local_archive(archive, out_dir)
    if kaggle_credentials_present():
        missing = f"{archive} does not exist; " if archive else ""
        print(f"download: {missing}downloading {dataset} with the Kaggle API", flush=True)
        return download_from_kaggle(dataset, out_dir, partial_dir)
    where = f" ({archive} does not exist)" if archive else ""
    raise DataError(
        f"no FER-2013 data{where}: set download.fer2013_archive to your copy of the Kaggle "
        f"{dataset} zip (or fer2013.csv), or set KAGGLE_USERNAME and KAGGLE_KEY "
        "(or ~/.kaggle/kaggle.json) to download it"
    )
