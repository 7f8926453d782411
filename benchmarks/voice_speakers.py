"""Leave-speakers-out cross-validation of voice profiles on a speech corpus archive.

Every speaker is the test speaker of exactly one fold; another speaker validates, the rest
train (`--no-validation`: all the others train, for profiles that keep the last epoch);
features are standardised with the train speakers' statistics only, or, with
`voice_features.speaker_norm`, every speaker's by their own clips (no labels). With
`voice_balance.speed_perturb` the train speakers' clips are joined by their speed copies, as
the voice_balance stage does. Each fold's model is also exported to INT8 TFLite and scored
with LiteRT on the same TensorFlow-computed features (features.tflite is neither built nor run
here: `voice_edge_latency` and the voice_benchmark stage time and score it).
`-S key=value` overrides params for every profile; profiles and values are checked before any
decoding, so a typo costs no minutes.

    python -m benchmarks.voice_speakers --archive ../shared/datasets/emodb.zip \\
        --profiles voice_functionals_mlp voice_cnn_logmel voice_lstm_baseline

Runs in-process on the project's own code (no DVC), so it prints accuracies of the exact
models the pipeline trains, not of a re-implementation.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.script import one_line_errors, positive_int  # noqa: E402
from stressvision.errors import DataError, ParamsError, StressVisionError  # noqa: E402
from stressvision.fileio import write_bytes  # noqa: E402
from stressvision.hardware import cpu_flags, prefer_onednn  # noqa: E402
from stressvision.labels import label_map_from_params  # noqa: E402
from stressvision.params import Section, load_params  # noqa: E402
from stressvision.profiles import apply_overrides, available, load_profile, parse_overrides  # noqa: E402
from stressvision.scores import confusion_report  # noqa: E402
from stressvision.voice.corpora import VOICE_EMOTIONS, clip_format_params, read_voice_corpus  # noqa: E402
from stressvision.voice.speakers import per_speaker_accuracy, speaker_folds  # noqa: E402

if TYPE_CHECKING:
    from stressvision.voice.features import FeatureConfig
    from stressvision.voice.training import VoiceTrainConfig

prefer_onednn(cpu_flags())  # as the voice_train stage runs (TensorFlow loads later)


def voice_profiles() -> list[str]:
    """Profiles that set voice params only: a face profile would leave the voice model at its default."""
    return [name for name in available() if all(key.startswith("voice_") for key in load_profile(name))]


def profile_params(name: str, overrides: dict | None = None) -> dict:
    """params.yaml with a profile's overrides applied, then `overrides` (dotted keys, as -S)."""
    values = load_profile(name) | (overrides or {})
    return apply_overrides(load_params(), values, f"profiles/{name}.yaml and -S")


@dataclass(frozen=True)
class ProfileSetup:
    """One profile's checked configs, built before decoding so a bad value costs no minutes."""

    name: str
    mapping: dict  # voice_map_labels: the labels it is scored on
    features: FeatureConfig
    config: VoiceTrainConfig
    speeds: list[float]


def profile_setup(name: str, overrides: dict, epochs: int | None) -> ProfileSetup:
    """Build the profile's configs; a bad value names where it came from (-S, the profile, params.yaml)."""
    from stressvision.voice.features import FeatureConfig
    from stressvision.voice.training import VoiceTrainConfig

    params = profile_params(name, overrides)
    if epochs:
        params["voice_train"]["epochs"] = epochs
    mapping = Section("voice_map_labels", params["voice_map_labels"])
    try:
        features = FeatureConfig.from_section(
            Section("voice_features", params["voice_features"]),
            *clip_format_params(mapping),  # as the voice_map_labels stage checks them
        )
        config = VoiceTrainConfig.from_section(Section("voice_train", params["voice_train"]), features.kind)
        speeds = Section("voice_balance", params["voice_balance"]).float_list(
            "speed_perturb", minimum=0.5, maximum=2.0
        )
    except ParamsError as exc:
        problem = str(exc).removeprefix("params.yaml: ")
        if exc.key in overrides:
            raise StressVisionError(f"-S {problem}") from None
        if exc.key in load_profile(name):
            raise StressVisionError(f"profiles/{name}.yaml: {problem}") from None
        raise
    return ProfileSetup(name, params["voice_map_labels"], features, config, speeds)


def cross_validate(
    setup: ProfileSetup,
    clips: np.ndarray,  # int16, as the split stores them
    labels: np.ndarray,
    speakers: np.ndarray,
    classes: list[str],
    validation: bool = True,
) -> dict:
    import keras

    from stressvision.export import to_tflite
    from stressvision.litert import TFLiteClassifier
    from stressvision.voice.augment import speed_copies
    from stressvision.voice.features import FeatureExtractor, standardization_statistics
    from stressvision.voice.speakers import speaker_normalize
    from stressvision.voice.training import train_voice_model

    name, features, config, speeds = setup.name, setup.features, setup.config, setup.speeds
    # as voice_balance does: speed copies of every clip, used only when their speaker trains
    every = speed_copies({"clips": clips, "labels": labels, "speakers": speakers}, speeds)
    all_clips, all_labels = every["clips"].astype(np.float32) / 32768.0, every["labels"]
    origin = np.tile(speakers, len(speeds) + 1)  # the real speaker of each row, copies included
    original = np.arange(len(all_labels)) < len(labels)
    raw = FeatureExtractor(features).extract(all_clips)
    if features.speaker_norm:  # every speaker by their own clips, test speakers too: no labels used
        raw = speaker_normalize(raw, every["speakers"])
    folds = speaker_folds(speakers, len(set(speakers)))
    predicted = np.full(len(labels), -1)
    predicted_int8 = np.full(len(labels), -1)
    seconds, n_params = [], 0
    for k, test_speakers in enumerate(folds):
        val_speakers = folds[(k + 1) % len(folds)] if validation else []
        test_clip = np.isin(speakers, test_speakers)
        test = original & np.isin(origin, test_speakers)
        val = original & np.isin(origin, val_speakers)
        train = ~np.isin(origin, [*test_speakers, *val_speakers])
        statistics = standardization_statistics(features, raw[train]) if features.standardize else None
        extractor = FeatureExtractor(features, statistics)
        x = extractor.extract(all_clips) if statistics else raw
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            model, _, summary = train_voice_model(
                config, (x[train], all_labels[train]), (x[val], all_labels[val]), len(classes), work
            )
            seconds.append(time.perf_counter() - started)
            n_params = summary["params"]
            predicted[test_clip] = model.predict(x[test], verbose=0).argmax(1)
            path = os.path.join(work, "int8.tflite")
            calibration = x[train][np.random.default_rng(0).permutation(int(train.sum()))[:100]]
            write_bytes(path, to_tflite(model, "int8", calibration))
            int8 = TFLiteClassifier(path)  # the classifier alone, fed the features computed above
            predicted_int8[test_clip] = [
                int8.dequantize_output(int8.invoke_raw(int8.quantize_input(row[None]))[0]).argmax()
                for row in x[test]
            ]
        keras.backend.clear_session()
        fold_acc = float((predicted[test_clip] == labels[test_clip]).mean())
        print(
            f"  {name} fold {k + 1}/{len(folds)}: test {', '.join(test_speakers)} "
            f"accuracy {fold_acc:.3f} (val {', '.join(val_speakers) or 'none'}), {seconds[-1]:.0f}s",
            flush=True,
        )
    report = confusion_report(labels, predicted, classes)
    return {
        "profile": name,
        "model": config.model,
        "features": f"{features.kind} {features.shape}",
        "speeds": speeds,
        "params": n_params,
        "accuracy": report["accuracy"],
        "f1_macro": report["f1_macro"],
        "int8_accuracy": float((predicted_int8 == labels).mean()),
        "per_speaker": per_speaker_accuracy(labels, predicted, speakers),
        "train_seconds_per_fold": float(np.mean(seconds)),
        "confusion": report["confusion_matrix"],
    }


def speaker_extremes(per_speaker: dict[str, dict]) -> str:
    """`worst (speaker) / best (speaker)`, as BENCHMARKS.md reports them."""
    worst = min(per_speaker, key=lambda s: per_speaker[s]["accuracy"])
    best = max(per_speaker, key=lambda s: per_speaker[s]["accuracy"])
    return f"{per_speaker[worst]['accuracy']:.3f} ({worst}) / {per_speaker[best]['accuracy']:.3f} ({best})"


def print_table(results: list[dict]) -> None:
    """One row per profile, each column as wide as its longest cell (profile names reach 27)."""
    header = ("profile", "model", "features", "params", "acc", "F1", "INT8", "worst / best speaker", "s/fold")
    rows = [
        (
            r["profile"],
            r["model"],
            r["features"],
            f"{r['params']:,}",
            f"{r['accuracy']:.3f}",
            f"{r['f1_macro']:.3f}",
            f"{r['int8_accuracy']:.3f}",
            speaker_extremes(r["per_speaker"]),
            f"{r['train_seconds_per_fold']:.1f}",
        )
        for r in results
    ]
    widths = [max(len(cells[i]) for cells in (header, *rows)) for i in range(len(header))]
    text_columns = {0, 1, 2, 7}
    for cells in (header, *rows):
        print(
            " ".join(
                c.ljust(w) if i in text_columns else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()
        )


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", required=True, help="corpus zip or folder (EmoDB, RAVDESS, TESS naming)")
    parser.add_argument(
        "--profiles", nargs="+", default=["voice_functionals_mlp"], choices=voice_profiles(), metavar="NAME"
    )
    parser.add_argument("--epochs", type=positive_int, help="override the profiles' epochs (quick runs)")
    parser.add_argument(
        "--no-validation",
        action="store_true",
        help="no validation speaker: every speaker but the test one trains (as voice_split.val: 0)",
    )
    parser.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params key for every profile, as dvc exp run -S (voice_train.l2=0.02)",
    )
    args = parser.parse_args()
    if not Path(args.archive).exists():
        parser.error(f"--archive {args.archive}: no such file or folder")
    setups = []  # a bad -S item, profile, key or value stops here, in one line, before any decoding
    try:
        overrides = parse_overrides(args.set, "-S", "voice_train.l2=0.02")
        for name in args.profiles:
            setups.append(profile_setup(name, overrides, args.epochs))
    except StressVisionError as exc:
        parser.error(str(exc))
    if any(setup.mapping != setups[0].mapping for setup in setups):
        parser.error("the profiles set voice_map_labels differently: benchmark them one at a time")
    if overrides:
        print("voice_speakers: every profile with " + ", ".join(f"{k}={v}" for k, v in overrides.items()))

    section = Section("voice_map_labels", setups[0].mapping)  # the labels every profile is scored on
    sample_rate, seconds = clip_format_params(section)
    label_map = label_map_from_params(section, VOICE_EMOTIONS)
    started = time.perf_counter()
    corpus = read_voice_corpus(args.archive, sample_rate, seconds)
    labels = label_map.source_to_target_index(VOICE_EMOTIONS)[corpus.emotions]
    keep = labels >= 0
    clips = corpus.clips[keep]
    labels, speakers = labels[keep].astype(np.int64), corpus.speakers[keep]
    print(
        f"voice_speakers: {len(labels)} clips, {len(set(speakers))} speakers, "
        f"classes {', '.join(label_map.classes)} (decoded in {time.perf_counter() - started:.1f}s; "
        f"skipped: {corpus.skipped or 'none'})",
        flush=True,
    )
    needed = 2 if args.no_validation else 3  # a test, (a validation) and a train speaker
    if len(set(speakers)) < needed:
        raise DataError(
            f"{args.archive}: {len(set(speakers))} speaker(s) with usable clips; "
            f"leave-one-speaker-out needs {needed} or more"
        )
    results = [
        cross_validate(setup, clips, labels, speakers, label_map.classes, not args.no_validation)
        for setup in setups
    ]

    print("\nleave-one-speaker-out, pooled over all folds")
    print_table(results)
    for r in results:
        print(
            f"\n{r['profile']} per speaker: "
            + ", ".join(f"{s} {v['accuracy']:.3f}" for s, v in r["per_speaker"].items())
        )


if __name__ == "__main__":
    main()
