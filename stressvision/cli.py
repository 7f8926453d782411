"""`stressvision`: use a trained TFLite model, with nothing but LiteRT (no TensorFlow).

stressvision predict --model models/tflite photo.jpg folder/ ...      # JSON lines per face
stressvision predict --model models/tflite meeting.mp4 --camera 0     # stress monitor, per frame
stressvision evaluate --model models/tflite --data labelled/ [--json]
stressvision evaluate --model <stress model> --model <7-emotion model> --data labelled/   # averaged
stressvision predict --model models/voice/tflite speech.wav folder/   # JSON lines per 2 s clip
arecord -f S16_LE -r 16000 -c 1 | stressvision predict --model models/voice/tflite -
stressvision predict --model <speaker-normalised voice model> --enroll me/ speech.wav
stressvision evaluate --model models/voice/tflite --data emodb/wav/ [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np

from stressvision.errors import StressVisionError, a_few
from stressvision.tta import TTA_MODES


def _warn(note: str) -> None:
    print(f"warning: {note}", file=sys.stderr)


def _files(item: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The file itself, or a folder's files with one of `suffixes`, sorted, hidden ones left out;
    a folder without any is an error, not silence, and other files left out are named."""
    from stressvision.edge import visible_files

    path = Path(item)
    if path.is_dir():
        files, others = visible_files(path, suffixes)
        if not files:
            raise StressVisionError(f"{item}: a folder with no {'/'.join(suffixes)} files")
        if others:
            named = [str(p.relative_to(path)) for p in others]
            _warn(f"{item}: {len(others)} file(s) of other types left out ({a_few(named)})")
        return files
    return [path]


def _each_file(inputs: list[str], suffixes: tuple[str, ...]) -> Iterator[Path | StressVisionError]:
    """The files of each input in turn; in place of an input that has none, the error it is."""
    for item in inputs:
        try:
            yield from _files(item, suffixes)
        except StressVisionError as exc:
            yield exc


def _is_voice_model(path: str) -> bool:
    from stressvision.model_config import resolve_model

    return resolve_model(path)[1].get("modality") == "voice"


def _prediction(classes: list[str], probs, **fields) -> dict:
    """One output record: where it comes from (`fields`), the top class and every probability."""
    return {
        **fields,
        "label": classes[int(probs.argmax())],
        "probabilities": {c: round(float(p), 4) for c, p in zip(classes, probs)},
    }


def predict_voice(args: argparse.Namespace) -> int:
    """One JSON line per clip window of each WAV file, or of audio read from stdin (`-`)."""
    from stressvision.voice.inference import VoiceClassifier, read_windows, stream_windows
    from stressvision.voice.speakers import SpeakerStatistics

    model = VoiceClassifier(args.model, num_threads=args.threads)
    if args.camera is not None:
        raise StressVisionError("--camera needs a face model; for live voice pipe raw PCM to `predict -`")
    if args.enroll and not model.speaker_norm:
        raise StressVisionError(f"{args.model}: not a speaker-normalised voice model; drop --enroll")
    if model.speaker_norm and "-" in args.inputs and not args.enroll:
        raise StressVisionError(
            "this voice model is speaker-normalised: to stream, first enrol the speaker with "
            "--enroll <WAV files or folder of them>"
        )

    def featurised(windows):
        """(start, features) of each clip window: features.tflite runs once per window."""
        return ((start, model.clip_features(clip.astype(np.float32))) for start, clip in windows)

    def recordings():
        """(name, windows' features) per input, or the StressVisionError that input raised."""
        for item in args.inputs:
            if item == "-":
                rate = args.pcm_rate or model.sample_rate
                yield (
                    "-",
                    featurised(stream_windows(sys.stdin.buffer, rate, model.sample_rate, model.samples)),
                )
                continue
            for file in _each_file([item], (".wav",)):
                if isinstance(file, StressVisionError):
                    yield item, file
                    continue
                try:
                    windows = read_windows(file, model.sample_rate, model.samples)
                    yield str(file), featurised(windows)
                except StressVisionError as exc:
                    yield str(file), exc

    def enrolment_clips(items: list[str]) -> list[np.ndarray]:
        """Every window of the enrolment WAVs; an unreadable one is named and left out (too few
        clips left is then enrol's one-line error)."""
        clips = []
        for file in (file for item in items for file in _files(item, (".wav",))):
            try:
                windows = read_windows(file, model.sample_rate, model.samples)
                clips += [clip.astype(np.float32) for _, clip in windows]
            except StressVisionError as exc:
                _warn(f"{exc}; left out of the enrolment")
        return clips

    failures = 0

    def failed(exc: StressVisionError) -> None:
        nonlocal failures
        failures += 1
        print(f"error: {exc}", file=sys.stderr)

    speaker = None
    inputs = recordings()
    if model.speaker_norm:
        if args.enroll:
            speaker = model.enrol(enrolment_clips(args.enroll), "--enroll")
        else:  # the inputs are the speaker's enrolment: read them all (naming the bad ones) first
            read = [(name, w if isinstance(w, StressVisionError) else list(w)) for name, w in inputs]
            inputs = []
            for name, windows in read:
                if isinstance(windows, StressVisionError):
                    failed(windows)
                else:
                    inputs.append((name, windows))
            features = [f for _, w in inputs for _, f in w]
            speaker = SpeakerStatistics.of(np.array(features), "the inputs (one speaker; no --enroll given)")
    for name, windows in inputs:
        if isinstance(windows, StressVisionError):
            failed(windows)
            continue
        try:  # a stream is read as it is scored: its errors come now
            for start, features in windows:
                probs = model.classify(features, speaker)
                line = _prediction(model.classes, probs, file=name, start_s=start / model.sample_rate)
                print(json.dumps(line), flush=True)
        except StressVisionError as exc:
            failed(exc)
    return 1 if failures else 0


def monitor_video(args: argparse.Namespace, model, detector, source: str | int) -> int:
    """One JSON line per frame with a face: the largest face's classes, the smoothed stress
    score and the alert state (a line with `"alert_changed": true` when the alert flips);
    then, also when stopped (Ctrl-C on a camera), one summary line on stderr. Returns the
    number of frames with a face."""
    from stressvision.monitor import FaceTracker, StressMonitor, stress_classes, video_frames

    try:
        stress = stress_classes(model.classes, model.source_to_class)
    except StressVisionError as exc:
        hint = f"(--model {args.model}); give a stress or an emotion model"
        raise StressVisionError(f"{source}: {exc} {hint}") from None
    monitor = StressMonitor(stress, args.window, args.threshold, args.hysteresis)
    tracker = FaceTracker(detector)
    read = classified = with_face = alerts = width = 0
    try:
        for index, (t_s, gray) in enumerate(video_frames(source, args.max_frames, _warn)):
            read += 1
            if index % args.every:
                continue
            classified += 1
            width = gray.shape[1]
            boxes = tracker.faces(gray)
            probs = model.predict(detector.crop(gray, boxes[0])[None])[0] if boxes else None
            was = monitor.alert
            score, alert = monitor.update(t_s, probs)
            if probs is None:
                continue
            with_face += 1
            alerts += alert and not was
            fields = {"file": str(source), "frame": index, "t_s": round(t_s, 3), "box": list(boxes[0])}
            line = _prediction(model.classes, probs, **fields)
            line |= {"stress_score": round(score, 4), "alert": alert, "alert_changed": alert != was}
            print(json.dumps(line), flush=True)
    finally:
        what = f"camera {source}" if isinstance(source, int) else source
        if classified and not with_face:
            hint = detector.small_face_hint(width)
            _warn(f"{what}: no face in any of the {classified} frames classified{hint}")
        elif read:
            print(
                f"{what}: {read} frames, {classified} classified, a face in {with_face}, "
                f"alert raised {alerts} times",
                file=sys.stderr,
            )
    return with_face


def predict_image(path: Path, model, detector) -> int:
    """One JSON line per face found in an image (`detector` None: the image is a face crop);
    returns the number of faces."""
    from stressvision.edge import face_crop_from_file, read_gray

    if detector is None:  # the file is a face crop: decode it once, as in training
        crops, boxes = [face_crop_from_file(path)], [None]
    else:
        gray = read_gray(path)
        try:
            boxes = detector.faces(gray)
        except StressVisionError as exc:  # it knows the image, not the file
            raise StressVisionError(f"{path}: {exc}") from None
        crops = [detector.crop(gray, box) for box in boxes]
    if not crops:
        small = max(gray.shape) <= 4 * detector.min_size
        hint = (
            "; if the images are face crops, add --no-detect"
            if small
            else detector.small_face_hint(gray.shape[1])
        )
        _warn(f"{path}: no face found{hint}")
        return 0
    probabilities = model.predict(np.stack(crops))
    for box, probs in zip(boxes, probabilities):
        line = _prediction(model.classes, probs, file=str(path), box=list(box) if box else None)
        print(json.dumps(line), flush=True)
    return len(crops)


def predict(args: argparse.Namespace) -> int:
    """One JSON line per face found, inputs in the order given (a folder's images and videos
    sorted); a bad input prints one error line and the rest go on. Exit status 1 when an
    input failed or no input had a face, so a script can tell an empty answer from one."""
    if args.voice:
        return predict_voice(args)
    from stressvision.datasets import IMAGE_SUFFIXES
    from stressvision.edge import PHOTO_DETECT_WIDTH, VIDEO_DETECT_WIDTH, FaceDetector, load_face_models
    from stressvision.monitor import VIDEO_SUFFIXES, is_video

    if args.enroll or args.pcm_rate:
        raise StressVisionError("--enroll and --pcm-rate are for voice models; drop them for a face model")
    model = load_face_models(args.models, num_threads=args.threads, tta=args.tta)
    detectors: dict[bool, FaceDetector] = {}

    def detector(video: bool) -> FaceDetector:
        if video not in detectors:
            default = VIDEO_DETECT_WIDTH if video else PHOTO_DETECT_WIDTH
            detectors[video] = FaceDetector(detect_width=args.detect_width or default)
        return detectors[video]

    failures = faces = 0
    camera = [args.camera] if args.camera is not None else []
    for source in chain(_each_file(args.inputs, IMAGE_SUFFIXES + VIDEO_SUFFIXES), camera):
        try:
            if isinstance(source, StressVisionError):
                raise source
            if isinstance(source, int) or is_video(source):
                if args.no_detect:
                    raise StressVisionError(
                        f"{source}: --no-detect is for face-crop images; a video needs face detection: "
                        "give it in a call without --no-detect"
                    )
                faces += monitor_video(args, model, detector(video=True), source)
            else:
                faces += predict_image(source, model, None if args.no_detect else detector(video=False))
        except StressVisionError as exc:
            failures += 1
            print(f"error: {exc}", file=sys.stderr)
    if not faces and not failures:
        print("error: no face found in any input (warnings above)", file=sys.stderr)
    return 1 if failures or not faces else 0


def evaluate_voice(args: argparse.Namespace) -> int:
    """Score a WAV set in EmoDB, RAVDESS, TESS or folder-per-emotion naming. Files and, for a
    speaker-normalised model, speakers it cannot score are skipped and counted, so one odd file
    costs its own score, not the whole set's; cut-off files are scored and counted."""
    from stressvision.scores import confusion_report
    from stressvision.voice.corpora import (
        VOICE_EMOTIONS,
        cut_off_note,
        read_voice_corpus,
        speaker_naming,
    )
    from stressvision.voice.inference import VoiceClassifier
    from stressvision.voice.speakers import MIN_SPEAKER_CLIPS, too_few_clips

    model = VoiceClassifier(args.model, num_threads=args.threads)
    corpus = read_voice_corpus(
        args.data, model.sample_rate, model.samples / model.sample_rate, progress_every=0
    )
    for reason, n in sorted(corpus.skipped.items()):
        _warn(f"skipped {n} files: {reason}")
    targets = [model.source_to_class.get(e, e if e in model.classes else None) for e in VOICE_EMOTIONS]
    labels = np.array(
        [model.classes.index(targets[e]) if targets[e] else -1 for e in corpus.emotions], np.int64
    )
    known = labels >= 0
    if not known.any():
        raise StressVisionError(f"{args.data}: no readable WAV files of emotions this model knows")
    few = np.zeros_like(known)
    if model.speaker_norm:  # each speaker is enrolled from their own clips
        few[known] = too_few_clips(corpus.speakers[known])
    if few.any():
        fix = (
            f"a speaker-normalised model enrols each speaker from >= {MIN_SPEAKER_CLIPS} of their clips; "
            f"speakers come from file names ({speaker_naming(corpus.speakers[few])}): "
            "add clips or rename them after their speaker"
        )
        if not (known & ~few).any():
            raise StressVisionError(f"{args.data}: no speaker has >= {MIN_SPEAKER_CLIPS} clips; {fix}")
        _warn(
            f"skipped {few.sum()} clip(s) of {len(set(corpus.speakers[few]))} speaker(s) with "
            f"under {MIN_SPEAKER_CLIPS} clips ({a_few(sorted(set(corpus.speakers[few])))}): {fix}"
        )
    keep = known & ~few
    cut = keep & corpus.cut_off
    if note := cut_off_note(corpus, cut):
        _warn(note)
    clips = corpus.clips[keep].astype(np.float32) / 32768.0
    predicted = model.predict(clips, corpus.speakers[keep]).argmax(axis=1)  # speakers: for speaker_norm
    report = confusion_report(labels[keep], predicted, model.classes)
    report["skipped_unreadable"] = sum(corpus.skipped.values())
    report["skipped_other_emotions"] = int((~known).sum())
    report["skipped_speakers_too_few_clips"] = int(few.sum())
    report["scored_cut_off"] = int(cut.sum())
    return _print_report(report, model.classes, args.json)


def _print_report(report: dict, classes: list[str], as_json: bool) -> int:
    report["macro_f1"] = report.pop("f1_macro")
    if as_json:
        print(json.dumps(report))
        return 0
    print(f"accuracy {report['accuracy']:.4f}   macro F1 {report['macro_f1']:.4f}   n {report['n']}")
    print(f"{'class':12s} {'precision':>9s} {'recall':>7s} {'f1':>7s} {'support':>8s}")
    for name, row in report["per_class"].items():
        print(f"{name:12s} {row['precision']:9.4f} {row['recall']:7.4f} {row['f1']:7.4f} {row['support']:8d}")
    print("confusion matrix (rows: true, columns: predicted):")
    width = max(8, *(len(c) for c in classes))
    print(" " * width + "".join(f"{c:>{width}s}" for c in classes))
    for name, row in zip(classes, report["confusion_matrix"]):
        print(f"{name:{width}s}" + "".join(f"{v:>{width}d}" for v in row))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Score a folder-per-class set of face crops; folders may be classes or source emotions."""
    if args.voice:
        return evaluate_voice(args)

    from stressvision.edge import face_crop_from_file, labelled_faces, load_face_models
    from stressvision.scores import confusion_report

    model = load_face_models(args.models, num_threads=args.threads, tta=args.tta)
    paths, labels, skipped_folders, other_files = labelled_faces(args.data, model)
    for name, images in skipped_folders.items():
        _warn(
            f"{args.data}/{name}: not a class of this model ({', '.join(model.classes)}); "
            f"its {images} image(s) skipped"
        )
    if other_files:
        _warn(
            f"{args.data}: {len(other_files)} file(s) other than images in class folders "
            f"left out ({a_few(other_files)})"
        )
    faces, kept, unreadable = [], [], 0
    for path, label in zip(paths, labels):
        try:
            faces.append(face_crop_from_file(path))
            kept.append(label)
        except StressVisionError as exc:
            unreadable += 1
            _warn(f"{exc}; skipped")
    if not faces:
        raise StressVisionError(f"{args.data}: no readable images in folders named after the model's classes")
    predicted = model.predict(np.stack(faces)).argmax(axis=1)
    report = confusion_report(np.asarray(kept), predicted, model.classes)
    report["skipped_unreadable"] = unreadable
    report["skipped_other_classes"] = sum(skipped_folders.values())
    report["skipped_other_files"] = len(other_files)
    return _print_report(report, model.classes, args.json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stressvision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="class probabilities for every face in images, or every voice clip")
    p.add_argument(
        "inputs",
        nargs="*",
        help="images, videos, WAV files, folders, or - (voice: raw PCM or a WAV on stdin)",
    )
    p.add_argument("--camera", type=int, default=None, help="also monitor this camera index (0: the first)")
    p.add_argument("--window", type=float, default=5.0, help="video: seconds the stress score averages over")
    p.add_argument(
        "--threshold", type=float, default=0.6, help="video: smoothed stress score that raises the alert"
    )
    p.add_argument(
        "--hysteresis", type=float, default=0.1, help="video: the alert ends below threshold - this"
    )
    p.add_argument("--every", type=int, default=1, help="video: classify every Nth frame")
    p.add_argument("--max-frames", type=int, default=0, help="video: stop after this many frames (0: all)")
    p.add_argument("--no-detect", action="store_true", help="inputs are face crops: skip face detection")
    p.add_argument(
        "--detect-width",
        type=int,
        default=0,
        help="find faces on a copy this wide at most (default: 1280 for photos, 320 for video); "
        "faces under about 24 px x image width / this are missed",
    )
    p.add_argument(
        "--pcm-rate",
        type=int,
        default=0,
        help="sample rate of raw 16-bit mono PCM on stdin (default: the model's); a WAV header on stdin "
        "gives its own",
    )
    p.add_argument(
        "--enroll",
        action="append",
        default=[],
        help="voice, speaker-normalised models: a WAV or folder of WAVs of the speaker, any emotion, "
        ">= 5 clips in all (repeat for more)",
    )
    p.set_defaults(func=predict)
    e = sub.add_parser("evaluate", help="accuracy, macro F1, per-class report on a labelled folder")
    e.add_argument(
        "--data",
        required=True,
        help="<class or emotion>/ folders of face crops, or a WAV set (folder or zip)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=evaluate)
    for command in (p, e):
        command.add_argument(
            "--model",
            dest="models",
            action="append",
            required=True,
            help=".tflite file or folder with model_config.json; face models: repeat to average "
            "several in the first one's classes (e.g. a stress model, then a 7-emotion model)",
        )
        command.add_argument("--threads", type=int, default=None, help="LiteRT threads")
        command.add_argument(
            "--tta",
            choices=TTA_MODES,
            default=None,
            help="face models: average each face's views: none (one invocation), flip (with its "
            "mirror image: two), flip_zoom (also two centre zooms: six); default: the model's "
            "model_config.json",
        )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    args = parser.parse_args(argv)
    if problem := _argument_problem(args):
        parser.error(problem)
    args.model = args.models[0]
    try:
        voice = [path for path in args.models if _is_voice_model(path)]
        if voice and len(args.models) > 1:
            raise StressVisionError(f"{voice[0]} is a voice model; it runs alone: give one --model")
        args.voice = bool(voice)  # read once: predict and evaluate branch on it
        face_only = {
            "--tta": args.tta is not None,
            "--no-detect": getattr(args, "no_detect", False),
            "--every": getattr(args, "every", 1) != 1,
            "--detect-width": getattr(args, "detect_width", 0),
        }
        given = [name for name, used in face_only.items() if used]
        if given and voice:
            raise StressVisionError(f"{given[0]} is for face models; leave it out for a voice model")
        return args.func(args)
    except StressVisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # how a camera session ends
        return 130
    except BrokenPipeError:  # `stressvision predict ... | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stressvision")
    except PackageNotFoundError:
        return "(not installed)"


def _argument_problem(args: argparse.Namespace) -> str | None:
    """The first out-of-range option, as argparse's usage error: a camera index of -1 crashes
    OpenCV, and a threshold of 2 would never raise the alert."""
    from stressvision.voice.audio import MAX_RATE, MIN_RATE

    if args.threads is not None and args.threads < 1:
        return "--threads must be >= 1"
    if args.command != "predict":
        return None
    if not args.inputs and args.camera is None:
        return "predict needs inputs (files, folders, -) or --camera N"
    checks = {
        "--camera must be >= 0": args.camera is None or args.camera >= 0,
        "--every must be >= 1": args.every >= 1,
        "--max-frames must be >= 0 (0: all)": args.max_frames >= 0,
        "--window must be a number of seconds > 0": math.isfinite(args.window) and args.window > 0,
        "--threshold must be in (0, 1]": 0 < args.threshold <= 1,
        "--hysteresis must be >= 0 and below --threshold": 0 <= args.hysteresis < args.threshold,
        "--detect-width must be 0 (the default) or >= 48": args.detect_width == 0 or args.detect_width >= 48,
        f"--pcm-rate must be 0 (the model's) or from {MIN_RATE} to {MAX_RATE}": args.pcm_rate == 0
        or MIN_RATE <= args.pcm_rate <= MAX_RATE,
        "- (stdin) can be read once": args.inputs.count("-") <= 1,
    }
    return next((problem for problem, ok in checks.items() if not ok), None)


if __name__ == "__main__":
    sys.exit(main())
