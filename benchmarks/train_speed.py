"""Training speed of one model: steps/s on a train split, and the epoch time it implies.

    python -m benchmarks.train_speed --train data/balanced/train.npz --set model=resnet18 \
        --set input_size=64 --set precision=mixed_bfloat16 --steps 40

Runs the real input pipeline (cache, augmentation, prefetch) and the compiled train step of
`stressvision.training` (op determinism on, so no XLA, as in `train`) for `--warmup` untimed
and `--steps` timed batches, then extrapolates to one epoch of the whole file (batches per
epoch x seconds per batch).
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile
from pathlib import Path

from benchmarks.script import one_line_errors, positive_int
from stressvision.errors import DataError
from stressvision.hardware import cpu_flags, prefer_onednn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
prefer_onednn(cpu_flags())  # as the train stage runs (main() imports Keras before the package)


@one_line_errors
def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--train", required=True, help="a train split .npz (images, labels)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="train.KEY override (nested keys dotted: augmentation.warp=single)",
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=positive_int, default=30)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from stressvision.augment import build_augmenter
    from stressvision.errors import ParamsError
    from stressvision.fileio import load_arrays
    from stressvision.params import Section, load_params
    from stressvision.profiles import ProfileError, apply_overrides, parse_overrides
    from stressvision.training import (
        TrainConfig,
        build_model,
        compile_model,
        make_dataset,
        training_precision,
    )

    try:
        overrides = parse_overrides(args.set, "--set", "augmentation.warp=single", prefix="train.")
        params = apply_overrides(load_params(), overrides, "--set")["train"]
        config = TrainConfig.from_section(Section("train", params))
    except (ProfileError, ParamsError) as err:
        parser.error(str(err))
    if not Path(args.train).is_file():
        raise DataError(f"{args.train}: no such file; give a train split, e.g. data/balanced/train.npz")
    try:
        data = load_arrays(args.train)
        images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise DataError(f"{args.train}: not a train split .npz with images and labels arrays") from None
    num_classes = int(labels.max()) + 1
    augment = build_augmenter(config.augmentation, config.seed) if config.augment else None
    ds = make_dataset(images, labels, num_classes, config.batch_size, True, augment, cache=config.cache)
    precision = training_precision(config.precision)
    keras.mixed_precision.set_global_policy(precision)
    tf.config.experimental.enable_op_determinism()  # as training.train does (it also turns XLA off)
    model = build_model(config, num_classes)
    compile_model(model, config)

    batches = iter(ds.repeat())
    model.make_train_function()
    step = model.train_function
    for _ in range(args.warmup):
        step(iter([next(batches)]))
    started = time.perf_counter()
    for _ in range(args.steps):
        logs = step(iter([next(batches)]))
    float(logs["loss"])  # wait for the last step
    seconds = (time.perf_counter() - started) / args.steps
    per_epoch = -(-len(labels) // config.batch_size)
    print(
        f"train_speed: {config.model} {config.input_size}px width {config.width} {precision} "
        f"batch {config.batch_size}: {model.count_params():,} params, {1 / seconds:.2f} steps/s, "
        f"{config.batch_size / seconds:.0f} images/s; one epoch of {len(labels)} faces "
        f"({per_epoch} steps) ~ {per_epoch * seconds:.0f} s (extrapolated from {args.steps} steps, "
        f"{os.cpu_count()} CPUs); last loss {float(logs['loss']):.3f}"
    )


if __name__ == "__main__":
    main()
