"""Getting a speech corpus: a local zip or folder, the Kaggle API, or the built-in sample.

Whatever the source, the stage leaves one zip, `corpus.zip`, written atomically; the
corpus naming inside it (EmoDB, RAVDESS, TESS or folder per class) is read by map labels.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from stressvision.download import (
    check_not_empty,
    download_from_kaggle,
    kaggle_credentials_present,
    pack_folder,
)
from stressvision.errors import DataError
from stressvision.fileio import atomic_path

CORPUS_FILE = "corpus.zip"
ARCHIVE_PARAM = "voice_download.archive"
EMPTY_HINT = f"set {ARCHIVE_PARAM} to your copy of the corpus (a zip or a folder of WAV files)"


def fetch_voice_corpus(
    corpus: str, archive: str, dataset: str, out_dir: str | os.PathLike, partial_dir: str | os.PathLike
) -> Path:
    """A local zip/folder when given (`~` is the home folder; a given path that does not exist
    is an error, never a download); else Kaggle when credentials exist; else one clear error."""
    archive = os.path.expanduser(archive)
    destination = Path(out_dir) / CORPUS_FILE
    if archive:
        source = Path(archive)
        if source.is_dir():
            check_not_empty(source, EMPTY_HINT)
            print(f"voice_download: packing the local folder {archive} (no network)", flush=True)
            return pack_folder(source, destination)
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise DataError(f"{archive}: not a zip archive; give a .zip or a folder of WAV files")
            check_not_empty(source, EMPTY_HINT)
            print(f"voice_download: using the local file {archive} (no network)", flush=True)
            with atomic_path(destination) as tmp:
                shutil.copyfile(source, tmp)
            return destination
        raise DataError(
            f"{archive} does not exist; set {ARCHIVE_PARAM} to your copy of the corpus (a zip or a folder)"
            + ("" if corpus == "folder" else ', or to "" to download it with the Kaggle API')
        )
    if corpus == "folder":
        raise DataError(f"no recordings: set {ARCHIVE_PARAM} to a folder (or zip) of <emotion>/*.wav")
    if kaggle_credentials_present():
        print(f"voice_download: downloading {dataset} ({corpus}) with the Kaggle API", flush=True)
        return download_from_kaggle(
            dataset, out_dir, partial_dir, file_name=CORPUS_FILE, archive_hint=ARCHIVE_PARAM
        )
    raise DataError(
        f"no {corpus} data: set {ARCHIVE_PARAM} to your copy of the Kaggle {dataset} zip "
        "(or its unpacked folder), or set KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json) "
        "to download it"
    )
