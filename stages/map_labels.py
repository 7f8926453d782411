"""Stage map_labels: decode FER-2013 and the user's photos, map emotions onto target classes."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "raw", "custom", "out", "metrics")

    import difflib

    from stressvision.datasets import (
        SKIP_UNKNOWN_FOLDER,
        concat,
        drop_empty_classes,
        map_to_classes,
        read_custom_folder,
        read_face_source,
        unit_labels,
    )
    from stressvision.download import find_raw_file
    from stressvision.fileio import save_arrays, write_json
    from stressvision.labels import (
        FER2013_EMOTIONS,
        LEARN_MODES,
        class_counts,
        class_of_unit,
        label_map_from_params,
    )
    from stressvision.params import Section

    params = Section.load("map_labels")
    label_map = label_map_from_params(params, FER2013_EMOTIONS)
    empty_classes = params.choice("empty_classes", ("drop", "error"))
    learn = params.choice("learn", LEARN_MODES)
    params.check_no_extra_keys()

    raw = find_raw_file(args.raw)
    print(f"map_labels: reading {raw}", flush=True)
    fer = read_face_source(raw)
    custom, unknown_folders = read_custom_folder(args.custom, label_map.classes)
    print(f"map_labels: {len(fer.labels)} FER-2013 faces, {len(custom.labels)} of your own photos")
    for name in unknown_folders:
        close = difflib.get_close_matches(name.lower(), label_map.classes, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(
            f"map_labels: warning: {args.custom}/{name} is not a class of this scheme "
            f"({', '.join(label_map.classes)}){hint}; its photos are skipped"
        )
    merged = concat(map_to_classes(fer, label_map, FER2013_EMOTIONS), custom)
    faces, classes, empty = drop_empty_classes(merged, label_map.classes, empty_classes)
    told = {SKIP_UNKNOWN_FOLDER.format(name) for name in unknown_folders}  # warned about just above
    for reason, n in sorted(faces.skipped.items()):
        if reason not in told:
            print(f"map_labels: warning: skipped {n} files: {faces.skipped.describe(reason)}")
    for name in empty:
        print(f"map_labels: warning: class {name!r} has no images and is left out of training")

    report = {
        "source": class_counts(fer.labels, FER2013_EMOTIONS),
        "custom": class_counts(custom.labels, label_map.classes),
        "mapped": class_counts(faces.labels, classes),
        "skipped": dict(sorted(faces.skipped.items())),
        "n": int(len(faces.labels)),
    }
    arrays = {"images": faces.images, "labels": faces.labels, "official_split": faces.official_split}
    learned = {}
    if learn == "emotions":  # the model learns the units and sums them into the classes
        arrays["units"], units = unit_labels(fer, custom, label_map)
        learned = {"units": {unit: class_of_unit(label_map, unit) for unit in units}}
        report["unit_counts"] = class_counts(arrays["units"], units)
        print(f"map_labels: the model learns {len(units)} units ({', '.join(units)})")
    out = Path(args.out)
    save_arrays(out / "faces.npz", **arrays)
    write_json(
        out / "meta.json",
        {
            "classes": list(classes),
            "dropped_empty_classes": empty,
            "mapping": label_map.mapping,
            "unknown_custom_folders": unknown_folders,
            **learned,
            **report,
        },
    )
    write_json(args.metrics, report)
    counts = ", ".join(f"{k} {v}" for k, v in report["mapped"].items())
    print(f"map_labels: {report['n']} faces in {len(classes)} classes ({counts})")


if __name__ == "__main__":
    run_stage("map_labels", main)
