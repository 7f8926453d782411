"""Leave-speakers-out cross-validation of voice profiles on a speech corpus archive.

Every speaker is the test speaker of exactly one fold; another speaker validates, the rest
train (`--no-validation`: all the others train, for profiles that keep the last epoch);
features are standardised with the train speakers' statistics only, or, with
`voice_features.speaker_norm`, every speaker's by their own clips (no labels). With
`voice_balance.speed_perturb` the train speakers' clips are joined by their speed copies, as
the voice_balance stage does. Each fold's model is also exported to INT8 TFLite and scored
with LiteRT, features.tflite included. `-S key=value` overrides params for every profile.

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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from stressvision.errors import StressVisionError  # noqa: E402
from stressvision.fileio import write_bytes  # noqa: E402
from stressvision.hardware import cpu_flags, prefer_onednn  # noqa: E402
from stressvision.labels import label_map_from_params  # noqa: E402
from stressvision.params import Section, load_params  # noqa: E402
from stressvision.profiles import apply_overrides, load_profile  # noqa: E402
from stressvision.scores import confusion_report  # noqa: E402
from stressvision.voice.corpora import VOICE_EMOTIONS, read_voice_corpus  # noqa: E402
from stressvision.voice.speakers import per_speaker_accuracy, speaker_folds  # noqa: E402

prefer_onednn(cpu_flags())  # as the voice_train stage runs (TensorFlow loads later)


def profile_params(name: str, overrides: dict | None = None) -> dict:
    """params.yaml with a profile's overrides applied, then `overrides` (dotted keys, as -S)."""
    values = load_profile(name) | (overrides or {})
    return apply_overrides(load_params(), values, f"profiles/{name}.yaml and -S")


def cross_validate(
    name: str,
    clips: np.ndarray,  # int16, as the split stores them
    labels: np.ndarray,
    speakers: np.ndarray,
    classes,
    epochs: int,
    validation: bool = True,
    overrides: dict | None = None,
):
    import keras

    from stressvision.export import to_tflite
    from stressvision.litert import TFLiteClassifier
    from stressvision.voice.augment import speed_copies
    from stressvision.voice.features import FeatureConfig, FeatureExtractor, standardization_statistics
    from stressvision.voice.speakers import speaker_normalize
    from stressvision.voice.training import VoiceTrainConfig, train_voice_model

    params = profile_params(name, overrides)
    mapping = params["voice_map_labels"]
    if epochs:
        params["voice_train"]["epochs"] = epochs
    features = FeatureConfig.from_section(
        Section("voice_features", params["voice_features"]), mapping["sample_rate"], mapping["clip_seconds"]
    )
    config = VoiceTrainConfig.from_section(Section("voice_train", params["voice_train"]), features.kind)
    speeds = Section("voice_balance", params["voice_balance"]).float_list(
        "speed_perturb", minimum=0.5, maximum=2.0
    )
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
            int8 = TFLiteClassifier(path)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", required=True, help="corpus zip or folder (EmoDB, RAVDESS, TESS naming)")
    parser.add_argument("--profiles", nargs="+", default=["voice_functionals_mlp"])
    parser.add_argument("--epochs", type=int, default=0, help="override the profiles' epochs (quick runs)")
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
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"-S {item}: expected KEY=VALUE, e.g. voice_train.l2=0.02")
        overrides[key] = yaml.safe_load(value)
    mappings = []  # a bad profile or key stops here, in one line, before any decoding
    for name in args.profiles:
        try:
            mappings.append(profile_params(name, overrides)["voice_map_labels"])
        except StressVisionError as exc:
            parser.error(str(exc))
    if any(mapping != mappings[0] for mapping in mappings):
        parser.error("the profiles set voice_map_labels differently: benchmark them one at a time")
    if overrides:
        print("voice_speakers: every profile with " + ", ".join(f"{k}={v}" for k, v in overrides.items()))

    section = Section("voice_map_labels", mappings[0])  # the labels every profile is scored on
    sample_rate, seconds = section.int("sample_rate"), section.float("clip_seconds")
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
    results = [
        cross_validate(
            p, clips, labels, speakers, label_map.classes, args.epochs, not args.no_validation, overrides
        )
        for p in args.profiles
    ]

    print("\nleave-one-speaker-out, pooled over all folds")
    header = (
        f"{'profile':24s} {'model':16s} {'features':22s} {'params':>8s} {'acc':>6s} {'F1':>6s} {'INT8':>6s}"
    )
    print(header + f" {'worst/best speaker':>19s} {'s/fold':>7s}")
    for r in results:
        per = [v["accuracy"] for v in r["per_speaker"].values()]
        print(
            f"{r['profile']:24s} {r['model']:16s} {r['features']:22s} {r['params']:8d} {r['accuracy']:6.3f} "
            f"{r['f1_macro']:6.3f} {r['int8_accuracy']:6.3f} {min(per):9.3f}/{max(per):.3f} "
            f"{r['train_seconds_per_fold']:7.1f}"
        )
    for r in results:
        print(
            f"\n{r['profile']} per speaker: "
            + ", ".join(f"{s} {v['accuracy']:.3f}" for s, v in r["per_speaker"].items())
        )


if __name__ == "__main__":
    main()
