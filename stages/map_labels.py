"""Stage map_labels: decode the archive's faces and map source emotions to target classes."""

import argparse
from pathlib import Path

from stressvision.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archive", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from stressvision.datasets import apply_label_map, class_counts, read_fer_archive
    from stressvision.fileio import save_arrays, write_json
    from stressvision.labels import FER2013_EMOTIONS, label_map_from_params
    from stressvision.params import Section

    params = Section.load("map_labels")
    label_map = label_map_from_params(params, FER2013_EMOTIONS)
    empty_classes = params.choice("empty_classes", ("drop", "error"))
    params.check_no_extra_keys()

    print(f"map_labels: decoding {args.archive}", flush=True)
    faces = read_fer_archive(args.archive)
    for reason, n in sorted(faces.skipped.items()):
        print(f"map_labels: warning: skipped {n} files: {reason}")
    mapped, classes, empty = apply_label_map(faces, label_map, FER2013_EMOTIONS, empty_classes)
    for name in empty:
        print(f"map_labels: warning: class {name!r} has no images and is left out of training")

    out = Path(args.out)
    save_arrays(
        out / "faces.npz", images=mapped.images, labels=mapped.labels, official_split=mapped.official_split
    )
    meta = {
        "classes": list(classes),
        "dropped_empty_classes": empty,
        "mapping": label_map.mapping,
        "source_counts": class_counts(faces.labels, FER2013_EMOTIONS),
        "mapped_counts": class_counts(mapped.labels, classes),
        "skipped": dict(faces.skipped),
        "n": int(len(mapped.labels)),
    }
    write_json(out / "meta.json", meta)
    counts = ", ".join(f"{k} {v}" for k, v in meta["mapped_counts"].items())
    print(f"map_labels: {meta['n']} faces in {len(classes)} classes ({counts})")


if __name__ == "__main__":
    run_stage("map_labels", main)
