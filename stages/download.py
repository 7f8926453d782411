"""Stage download: put the raw FER-2013 data (zip in the Kaggle layout, or the CSV) in --out."""

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "out", "partial")

    from pathlib import Path

    from stressvision.download import fetch_fer2013
    from stressvision.errors import ParamsError
    from stressvision.params import Section
    from stressvision.sample_faces import write_sample_archive

    params = Section.load("download")
    source = params.choice("source", ("sample", "fer2013"))
    sample = params.sub("sample")
    train_per_class = sample.int("train_per_class", minimum=2)
    test_per_class = sample.int("test_per_class", minimum=1)
    seed = sample.seed()
    sample.check_no_extra_keys()
    archive = params.raw("fer2013_archive", "") or ""
    if not isinstance(archive, str):
        raise ParamsError("download.fer2013_archive", f"expected a path or empty, got {archive!r}")
    dataset = params.str("kaggle_dataset")
    params.check_no_extra_keys()

    if source == "sample":
        print(
            f"download: writing the synthetic sample ({train_per_class}+{test_per_class} faces per emotion)"
        )
        path = write_sample_archive(Path(args.out) / "fer2013.zip", train_per_class, test_per_class, seed)
    else:
        path = fetch_fer2013(archive, dataset, args.out, args.partial)
    print(f"download: wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")


if __name__ == "__main__":
    run_stage("download", main)
