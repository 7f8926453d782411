"""Make the soft-labels file that `train.distill.soft_labels` distils from, and score its teachers.

    python scripts/soft_labels.py --archive fer2013.zip --out soft_labels.npz \\
        --teacher-outputs gpu_a/soft_labels.npz gpu_b/soft_labels.npz --teacher-weights teacher_0.npz

`--teacher-outputs`: files of scripts/train_on_accelerator.py `--soft-labels` (each teacher's
probabilities on every face of the same archive, in its order, plain and mirrored);
`--teacher-weights`: its float16 teacher_N.npz weights, run here (minutes on a CPU). Every view
of every teacher is averaged per face and stored under a key of the face's pixels (the official
test faces left out). Prints each teacher's and the average's accuracy on the archive's official
test faces (PrivateTest), on the 7 emotions and on the params.yaml scheme's classes, plain and
with the mirror images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stressvision.accelerated import (
    load_teacher_outputs,
    load_weights_float16,
    read_faces,
    teacher_network,
    teacher_soft_labels,
)
from stressvision.datasets import OFFICIAL_TEST
from stressvision.labels import FER2013_EMOTIONS, label_map_from_params, merge_matrix
from stressvision.params import Section, load_params
from stressvision.soft_labels import SoftLabels
from stressvision.stage import run_stage


def scores_on_test(plain: np.ndarray, mirrored: np.ndarray, labels: np.ndarray, merge: np.ndarray) -> dict:
    """Accuracy on the 7 emotions and summed into the scheme's classes, plain and flip-averaged."""
    target = merge[labels].argmax(axis=1)
    kept = merge[labels].sum(axis=1) > 0  # faces whose emotion the scheme keeps
    out = {}
    for name, p in (("plain", plain), ("flip", (plain + mirrored) / 2)):
        out[f"emotions_{name}"] = round(float((p.argmax(1) == labels).mean()), 4)
        out[f"scheme_{name}"] = round(float(((p @ merge).argmax(1) == target)[kept].mean()), 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archive", required=True, help="the FER-2013 zip (or a --pack file) the teachers saw")
    p.add_argument("--out", required=True)
    p.add_argument("--teacher-outputs", nargs="*", default=[], metavar="NPZ")
    p.add_argument("--teacher-weights", nargs="*", default=[], metavar="NPZ")
    p.add_argument("--teacher-width", type=float, default=1.0, help="the --teacher-weights' network")
    p.add_argument("--teacher-fc-units", type=int, default=512)
    p.add_argument("--params", default="params.yaml")
    args = p.parse_args()
    if not args.teacher_outputs and not args.teacher_weights:
        p.error("give --teacher-outputs or --teacher-weights")
    if not args.teacher_width > 0 or args.teacher_fc_units < 1:
        p.error("--teacher-width must be above 0 and --teacher-fc-units at least 1")
    if any(folder.exists() and not folder.is_dir() for folder in Path(args.out).parents):
        p.error(f"--out {args.out}: a folder on its path is a file")

    faces = read_faces(args.archive)
    views: list[tuple[str, np.ndarray, np.ndarray]] = []
    for path in args.teacher_outputs:
        plain, mirrored = load_teacher_outputs(path, len(faces.labels))
        views += [(f"{path}[{t}]", pl, mi) for t, (pl, mi) in enumerate(zip(plain, mirrored))]
    for path in args.teacher_weights:
        network = teacher_network(len(FER2013_EMOTIONS), args.teacher_width, args.teacher_fc_units, 0.5)
        plain, mirrored = teacher_soft_labels([load_weights_float16(network, path)], faces.images)
        views.append((path, plain[0], mirrored[0]))

    params = load_params(args.params)
    label_map = label_map_from_params(Section("map_labels", params["map_labels"]), FER2013_EMOTIONS)
    merge = merge_matrix(FER2013_EMOTIONS, label_map, list(label_map.classes))
    test = faces.official_split == OFFICIAL_TEST
    as_float = [(name, pl.astype(np.float32), mi.astype(np.float32)) for name, pl, mi in views]
    for name, pl, mi in as_float:
        print(json.dumps({"teacher": name, **scores_on_test(pl[test], mi[test], faces.labels[test], merge)}))
    plain = np.mean([pl for _, pl, _ in as_float], axis=0)
    mirrored = np.mean([mi for _, _, mi in as_float], axis=0)
    average = scores_on_test(plain[test], mirrored[test], faces.labels[test], merge)
    print(json.dumps({"teacher": f"average of {len(views)}", **average}))

    train = ~test  # the test faces' rows stay out of what training reads
    soft = SoftLabels.from_views(faces.images[train], [plain[train], mirrored[train]], FER2013_EMOTIONS)
    soft.save(args.out)
    print(f"soft_labels: {len(soft.keys)} faces, {len(views)} teacher(s), plain and mirrored, -> {args.out}")


if __name__ == "__main__":
    run_stage("soft_labels", main, rerun="run it again")
