"""Stage balance: balance the train split only (val and test keep the true distribution)."""

import argparse
from pathlib import Path

from stressvision.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from stressvision.augment import AugmentConfig
    from stressvision.balancing import BALANCE_METHODS, balance_train_set
    from stressvision.datasets import class_counts
    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json
    from stressvision.params import Section

    params = Section.load("balance")
    method = params.choice("method", BALANCE_METHODS)
    target = params.raw("target_per_class", None)
    if target is not None:
        target = params.int("target_per_class", minimum=1)
    seed = params.int("seed")
    augmentation = AugmentConfig.from_section(params.sub("augmentation"))
    params.check_no_extra_keys()

    classes = read_json(Path(args.split) / "meta.json")["classes"]
    train = load_arrays(Path(args.split) / "train.npz")
    images, labels, n_augmented = balance_train_set(
        train["images"], train["labels"], method, target, seed, augmentation
    )
    before, after = class_counts(train["labels"], classes), class_counts(labels, classes)
    save_arrays(Path(args.out) / "train.npz", images=images, labels=labels)
    write_json(
        Path(args.out) / "meta.json",
        {
            "classes": classes,
            "method": method,
            "before": before,
            "after": after,
            "augmented_copies": n_augmented,
        },
    )
    for name in classes:
        print(f"balance: {name:10s} {before[name]:6d} -> {after[name]:6d}")


if __name__ == "__main__":
    run_stage("balance", main)
