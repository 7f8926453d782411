"""Stage split: stratified train/val/test split (keeping the official test set by default)."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "mapped", "out", "metrics")

    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json
    from stressvision.labels import class_counts, learned_labels
    from stressvision.params import Section
    from stressvision.splits import SplitConfig, split_indices

    config = SplitConfig.from_section(Section.load("split"))
    mapped = Path(args.mapped)
    classes = read_json(mapped / "meta.json")["classes"]
    data = load_arrays(mapped / "faces.npz")
    indices, how = split_indices(learned_labels(data), data["official_split"], config)

    out = Path(args.out)
    counts = {}
    kept = [key for key in ("images", "labels", "units") if key in data]
    for name, idx in indices.items():
        save_arrays(out / f"{name}.npz", **{key: data[key][idx] for key in kept})
        counts[name] = class_counts(data["labels"][idx], classes)
        print(f"split: {name:5s} {len(idx):6d} faces")
    for name in classes:
        if counts["test"][name] == 0:  # too few faces (a few own photos) to put one aside
            print(
                f"split: warning: class {name!r} has no test faces "
                f"({counts['train'][name]} train, {counts['val'][name]} val): its accuracy cannot "
                "be measured; add more of its photos"
            )
    write_json(out / "meta.json", {"classes": classes, "test_set": how, "counts": counts})
    write_json(args.metrics, counts)
    print(f"split: test set is the {how}")


if __name__ == "__main__":
    run_stage("split", main)
