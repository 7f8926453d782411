"""Stage download: put the raw face archive (Kaggle FER-2013 layout) at --out."""

import argparse

from stressvision.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from stressvision.datasets import copy_local_archive
    from stressvision.errors import DataError
    from stressvision.params import Section
    from stressvision.sample_faces import write_sample_archive

    params = Section.load("download")
    source = params.choice("source", ("sample", "fer2013"))
    sample = params.sub("sample")
    train_per_class = sample.int("train_per_class", minimum=2)
    test_per_class = sample.int("test_per_class", minimum=1)
    seed = sample.int("seed")
    sample.check_no_extra_keys()
    archive = params.raw("fer2013_archive", "")
    params.check_no_extra_keys()

    if source == "sample":
        print(
            f"download: writing the synthetic sample ({train_per_class}+{test_per_class} faces per emotion)"
        )
        write_sample_archive(args.out, train_per_class, test_per_class, seed)
    elif archive:
        print(f"download: using the local archive {archive}")
        copy_local_archive(archive, args.out)
    else:
        raise DataError(
            "download.source is fer2013 but download.fer2013_archive is empty; set it to your "
            "copy of the Kaggle msambare/fer2013 zip, or use download.source: sample"
        )
    print(f"download: wrote {args.out}")


if __name__ == "__main__":
    run_stage("download", main)
