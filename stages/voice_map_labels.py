"""Stage voice_map_labels: decode every WAV to a fixed-length mono clip and map its emotion."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "raw", "out", "metrics")

    from stressvision.errors import DataError
    from stressvision.fileio import save_arrays, write_json
    from stressvision.labels import class_counts, label_map_from_params, labels_of_nonempty_classes
    from stressvision.params import Section
    from stressvision.voice.corpora import (
        VOICE_EMOTIONS,
        clip_format_params,
        cut_off_note,
        read_voice_corpus,
    )
    from stressvision.voice.download import CORPUS_FILE

    params = Section.load("voice_map_labels")
    sample_rate, clip_seconds = clip_format_params(params)
    label_map = label_map_from_params(params, VOICE_EMOTIONS)
    empty_classes = params.choice("empty_classes", ("drop", "error"))
    params.check_no_extra_keys()

    raw = Path(args.raw) / CORPUS_FILE
    if not raw.is_file():
        raise DataError(f"{raw} is missing; run `dvc repro voice_download`")
    print(f"voice_map_labels: decoding {raw} at {sample_rate} Hz, {clip_seconds:g} s clips", flush=True)
    corpus = read_voice_corpus(raw, sample_rate, clip_seconds)
    for reason, n in sorted(corpus.skipped.items()):
        print(f"voice_map_labels: warning: skipped {n} files: {reason}")
    if note := cut_off_note(corpus):
        print(f"voice_map_labels: warning: {note}")
    if len(corpus.emotions) == 0:
        raise DataError(f"{raw}: no usable labelled WAV files; see the skip reasons above")

    labels = label_map.source_to_target_index(VOICE_EMOTIONS)[corpus.emotions]
    keep = labels >= 0  # emotions the scheme leaves out (mapped to null)
    labels, classes, empty = labels_of_nonempty_classes(
        labels[keep],
        label_map.classes,
        empty_classes,
        "clips",
        "add recordings of it or set voice_map_labels.empty_classes: drop",
    )
    for name in empty:
        print(f"voice_map_labels: warning: class {name!r} has no clips and is left out of training")

    report = {
        "source": class_counts(corpus.emotions, VOICE_EMOTIONS),
        "mapped": class_counts(labels, classes),
        "speakers": int(len(set(corpus.speakers[keep]))),
        "skipped": dict(sorted(corpus.skipped.items())),
        "left_out_by_mapping": int((~keep).sum()),
        "n": int(keep.sum()),
    }
    out = Path(args.out)
    save_arrays(
        out / "clips.npz",
        clips=corpus.clips[keep],
        labels=labels,
        speakers=corpus.speakers[keep],
        files=corpus.files[keep],
    )
    write_json(
        out / "meta.json",
        {
            "classes": list(classes),
            "dropped_empty_classes": empty,
            "mapping": label_map.mapping,
            "sample_rate": sample_rate,
            "clip_seconds": clip_seconds,
            **report,
        },
    )
    write_json(args.metrics, report)
    counts_text = ", ".join(f"{k} {v}" for k, v in report["mapped"].items())
    print(
        f"voice_map_labels: {report['n']} clips from {report['speakers']} speakers "
        f"in {len(classes)} classes ({counts_text})"
    )


if __name__ == "__main__":
    run_stage("voice_map_labels", main)
