"""Stage balance: balance the train split only (val and test keep the true distribution)."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "mapped", "split", "out", "metrics", "plots")

    from stressvision.augment import AugmentConfig
    from stressvision.balancing import BALANCE_METHODS, MAX_PER_CLASS, balance_train_set
    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json, write_text
    from stressvision.labels import class_counts, learned_labels
    from stressvision.params import Section
    from stressvision.reports import class_count_table, plot_class_counts
    from stressvision.soft_labels import face_keys

    params = Section.load("balance")
    method = params.choice("method", BALANCE_METHODS)
    target = params.raw("target_per_class", None)
    if target is not None:
        target = params.int("target_per_class", minimum=1, maximum=MAX_PER_CLASS)
    seed = params.seed()
    augmentation = AugmentConfig.from_section(params.sub("augmentation"))
    params.check_no_extra_keys()

    split_meta = read_json(Path(args.split) / "meta.json")
    classes = split_meta["classes"]
    mapped_meta = read_json(Path(args.mapped) / "meta.json")
    train = load_arrays(Path(args.split) / "train.npz")
    images, order, n_augmented = balance_train_set(
        train["images"], learned_labels(train), method, target, seed, augmentation
    )
    arrays = {key: train[key][order] for key in ("labels", "units") if key in train}
    arrays["keys"] = face_keys(train["images"])[order]  # each row's original face: its soft label
    after = class_counts(arrays["labels"], classes)
    report = {"method": method, "counts": after, "augmented_copies": n_augmented}
    if "units" in arrays:
        report["unit_counts"] = class_counts(arrays["units"], list(mapped_meta["units"]))
    save_arrays(Path(args.out) / "train.npz", images=images, **arrays)
    write_json(Path(args.out) / "meta.json", {"classes": classes, **report})
    write_json(args.metrics, report)

    stages = {
        "mapped": mapped_meta["mapped"],
        **split_meta["counts"],
        "balanced train": after,
    }
    write_text(Path(args.plots) / "class_counts.csv", class_count_table(stages, classes))
    plot_class_counts(
        stages,
        classes,
        f"Faces per class, source to balanced (balance: {method})",
        Path(args.plots) / "class_counts.png",
    )
    for name in classes:
        print(f"balance: {name:10s} {split_meta['counts']['train'][name]:6d} -> {after[name]:6d}")


if __name__ == "__main__":
    run_stage("balance", main)
