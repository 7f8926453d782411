"""Stage voice_balance: even out the classes of the voice train split (val and test untouched)."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "mapped", "split", "out", "metrics", "plots")

    import numpy as np

    from stressvision.balancing import balance_indices
    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json, write_text
    from stressvision.labels import class_counts
    from stressvision.params import Section
    from stressvision.reports import class_count_table, plot_class_counts
    from stressvision.voice.augment import augment_clip, speed_copies

    params = Section.load("voice_balance")
    method = params.choice("method", ("none", "oversample", "augment"))
    speeds = params.float_list("speed_perturb", minimum=0.5, maximum=2.0)
    seed = params.seed()
    params.check_no_extra_keys()

    meta = read_json(Path(args.mapped) / "meta.json")
    train = load_arrays(Path(args.split) / "train.npz")
    order, augment_mask = balance_indices(train["labels"], method, None, seed)
    balanced = {key: values[order] for key, values in train.items()}
    rng = np.random.default_rng(seed)
    for row in np.flatnonzero(augment_mask):
        balanced["clips"][row] = augment_clip(balanced["clips"][row], rng, meta["sample_rate"])
    balanced = speed_copies(balanced, speeds)
    save_arrays(Path(args.out) / "train.npz", **balanced)
    report = {
        "method": method,
        "before": class_counts(train["labels"], meta["classes"]),
        "after": class_counts(balanced["labels"], meta["classes"]),
        "augmented": int(augment_mask.sum()),
        "speed_copies": int(len(order) * len(speeds)),
        "n": int(len(balanced["labels"])),
    }
    write_json(args.metrics, report)
    split_meta = read_json(Path(args.split) / "meta.json")
    stages = {
        "mapped": meta["mapped"],
        "train": report["before"],
        "balanced train": report["after"],
        "val": split_meta["val"]["classes"],
        "test": split_meta["test"]["classes"],
    }
    write_text(Path(args.plots) / "class_counts.csv", class_count_table(stages, meta["classes"]))
    plot_class_counts(
        stages,
        meta["classes"],
        "Voice clips per class at each data stage (val and test: unseen speakers)",
        Path(args.plots) / "class_counts.png",
        unit="clips",
    )
    print(
        f"voice_balance: {method}: {len(train['labels'])} -> {report['n']} train clips "
        f"({report['augmented']} augmented, {report['speed_copies']} speed copies at {speeds or 'none'})"
    )


if __name__ == "__main__":
    run_stage("voice_balance", main)
