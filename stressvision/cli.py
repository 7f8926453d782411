"""`stressvision`: use a trained TFLite model on images, with nothing but LiteRT (no TensorFlow).

stressvision predict --model models/tflite photo.jpg folder/ ...      # JSON lines per face
stressvision evaluate --model models/tflite --data labelled/ [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stressvision.errors import StressVisionError


def _image_files(inputs: list[str]) -> list[Path]:
    from stressvision.datasets import IMAGE_SUFFIXES

    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(item)
    return files


def predict(args: argparse.Namespace) -> int:
    """One JSON line per face found; a bad input prints one error line and the rest go on."""
    import numpy as np

    from stressvision.edge import FaceDetector, face_crop_from_file, load_edge_model, read_gray

    model = load_edge_model(args.model, num_threads=args.threads)
    detector = None if args.no_detect else FaceDetector()
    failures = 0
    for path in _image_files(args.inputs):
        try:
            if detector is None:  # the file is a face crop: decode it once, as in training
                crops, boxes = [face_crop_from_file(path)], [None]
            else:
                gray = read_gray(path)
                boxes = detector.faces(gray)
                crops = [detector.crop(gray, box) for box in boxes]
            if not crops:
                print(f"warning: {path}: no face found", file=sys.stderr)
                continue
            probabilities = model.classifier.predict(np.stack(crops).astype(np.float32))
            for box, probs in zip(boxes, probabilities):
                print(
                    json.dumps(
                        {
                            "file": str(path),
                            "box": list(box) if box else None,
                            "label": model.classes[int(probs.argmax())],
                            "probabilities": {c: round(float(p), 4) for c, p in zip(model.classes, probs)},
                        }
                    ),
                    flush=True,
                )
        except StressVisionError as exc:
            failures += 1
            print(f"error: {exc}", file=sys.stderr)
    return 1 if failures else 0


def evaluate(args: argparse.Namespace) -> int:
    """Score a folder-per-class set of face crops; folders may be classes or source emotions."""
    import numpy as np

    from stressvision.edge import face_crop_from_file, labelled_faces, load_edge_model
    from stressvision.scores import confusion_report

    model = load_edge_model(args.model, num_threads=args.threads)
    paths, labels, skipped_folders = labelled_faces(args.data, model)
    for name in skipped_folders:
        print(
            f"warning: {args.data}/{name}: not a class of this model ({', '.join(model.classes)}); skipped",
            file=sys.stderr,
        )
    faces, kept, unreadable = [], [], 0
    for path, label in zip(paths, labels):
        try:
            faces.append(face_crop_from_file(path))
            kept.append(label)
        except StressVisionError as exc:
            unreadable += 1
            print(f"warning: {exc}; skipped", file=sys.stderr)
    if not faces:
        raise StressVisionError(f"{args.data}: no readable images in folders named after the model's classes")
    predicted = model.classifier.predict(np.stack(faces).astype(np.float32)).argmax(axis=1)
    report = confusion_report(np.asarray(kept), predicted, model.classes)
    report["macro_f1"] = report.pop("f1_macro")
    report["skipped_unreadable"] = unreadable
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"accuracy {report['accuracy']:.4f}   macro F1 {report['macro_f1']:.4f}   n {report['n']}")
    print(f"{'class':12s} {'precision':>9s} {'recall':>7s} {'f1':>7s} {'support':>8s}")
    for name, row in report["per_class"].items():
        print(f"{name:12s} {row['precision']:9.4f} {row['recall']:7.4f} {row['f1']:7.4f} {row['support']:8d}")
    print("confusion matrix (rows: true, columns: predicted):")
    width = max(8, *(len(c) for c in model.classes))
    print(" " * width + "".join(f"{c:>{width}s}" for c in model.classes))
    for name, row in zip(model.classes, report["confusion_matrix"]):
        print(f"{name:{width}s}" + "".join(f"{v:>{width}d}" for v in row))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stressvision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="class probabilities for every face in images or folders")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--no-detect", action="store_true", help="inputs are face crops: skip face detection")
    p.set_defaults(func=predict)
    e = sub.add_parser("evaluate", help="accuracy, macro F1, per-class report on a labelled folder")
    e.add_argument("--data", required=True, help="folder of <class or emotion>/ folders of face crops")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=evaluate)
    for command in (p, e):
        command.add_argument("--model", required=True, help=".tflite file or folder with model_config.json")
        command.add_argument("--threads", type=int, default=None, help="LiteRT threads")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StressVisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
