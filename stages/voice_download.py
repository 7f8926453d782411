"""Stage voice_download: put the raw speech corpus (one zip) in --out."""

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "out", "partial")

    from pathlib import Path

    from stressvision.errors import ParamsError
    from stressvision.params import Section
    from stressvision.voice.download import CORPUS_FILE, fetch_voice_corpus
    from stressvision.voice.sample_voices import write_sample_corpus

    params = Section.load("voice_download")
    source = params.choice("source", ("sample", "emodb", "ravdess", "tess", "folder"))
    sample = params.sub("sample")
    speakers = sample.int("speakers", minimum=3)
    per_emotion = sample.int("clips_per_emotion", minimum=1)
    seed = sample.seed()
    sample.check_no_extra_keys()
    archive = params.raw("archive", "") or ""
    if not isinstance(archive, str):
        raise ParamsError("voice_download.archive", f"expected a path or empty, got {archive!r}")
    datasets = params.sub("kaggle_datasets")
    dataset = {name: datasets.str(name) for name in ("emodb", "ravdess", "tess")}
    datasets.check_no_extra_keys()
    params.check_no_extra_keys()

    if source == "sample":
        print(
            f"voice_download: synthesising the sample ({speakers} speakers x {per_emotion} clips per emotion)"
        )
        path = write_sample_corpus(Path(args.out) / CORPUS_FILE, speakers, per_emotion, seed)
    else:
        path = fetch_voice_corpus(source, archive, dataset.get(source, ""), args.out, args.partial)
    print(f"voice_download: wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")


if __name__ == "__main__":
    run_stage("voice_download", main)
