"""Dead units in a face model's dense ReLU layers: units that are zero for every face given.

    python -m benchmarks.dense_units --model models/keras/model.keras --data fer2013/test
        [--faces 2000] [--seed 0]

A ReLU unit that no face turns on passes no gradient and never recovers, so its weights are
stored and run for nothing. `--data` is any folder of face crops (class folders or not); up to
`--faces` of its images are drawn. Trained with Adam, `vgg_fer` loses most units of its first
dense layer unless `train.fc_batchnorm` is on (BENCHMARKS.md, "Dead units in the dense layers").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.script import one_line_errors, positive_int
from stressvision.datasets import IMAGE_SUFFIXES
from stressvision.edge import face_crop_from_file, visible_files
from stressvision.errors import DataError
from stressvision.models import dead_dense_units, load_face_model


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, type=Path, help="a trained .keras face model")
    parser.add_argument("--data", required=True, type=Path, help="a folder of face crop images")
    parser.add_argument("--faces", type=positive_int, default=2000, help="images drawn (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    args = parser.parse_args()

    if not args.data.is_dir():
        raise DataError(f"{args.data}: no such folder of face images")
    paths, _ = visible_files(args.data, IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"{args.data}: no images in it or its folders")
    model = load_face_model(args.model, num_classes=None)
    chosen = np.random.default_rng(args.seed).choice(len(paths), min(args.faces, len(paths)), replace=False)
    faces = np.stack([face_crop_from_file(paths[i]) for i in sorted(chosen)])
    units = dead_dense_units(model, faces)
    print(f"dense_units: {args.model} ({model.name}), {len(faces)} faces of {args.data}")
    if not units:
        print("no dense ReLU layers")
    for name, (dead, total) in units.items():
        print(f"{name:<10} {dead:>5} of {total:>5} units dead ({dead / total:.0%})")


if __name__ == "__main__":
    main()
