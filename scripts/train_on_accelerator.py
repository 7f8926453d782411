"""Train FER-2013 teachers and distil deployable students on a GPU machine without TensorFlow.

    KERAS_BACKEND=jax python scripts/train_on_accelerator.py --archive fer2013.zip --out DIR
    python scripts/train_on_accelerator.py --archive fer2013.zip --pack faces.npz.xz  # to upload

Reads the archive with the pipeline's own reader, label schemes (params.yaml `map_labels`) and
split (params.yaml `split`: train/val from the official Training faces, test = PrivateTest),
so the scores compare with the pipeline's. Steps, each with a wall-clock budget that sets its
epoch count (timed on the device first, cosine schedule over exactly those epochs):
1. `--teachers` record VGG networks (`vgg_fer`, default full width) on the 7 emotions; a
   teacher no better on validation than the most common class is reported and dropped;
2. one student per scheme (`vgg_fer` at the `real_default` size by default), distilled from
   the teachers' average (summed into the stress classes for the stress student);
   `--schemes` with no scheme trains none.
Writes, as each is ready: teacher_N.npz (float16 weights), student_<scheme>.keras,
soft_labels.npz with `--soft-labels` (each teacher's 7-emotion probabilities on every face of the
archive, in its order, plain and mirrored: what a CPU needs to distil without running the
teachers) and results.json (params, epochs, time, PrivateTest accuracy plain and with flip
TTA). Then, on a CPU with TensorFlow: `python scripts/package_model.py` quantizes a student for pretrained/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import keras
import numpy as np

from stressvision.accelerated import (
    CollapsedError,
    DeviceTrainer,
    FitPlan,
    TooSlowError,
    augmentation_model,
    collapsed,
    ensemble,
    epochs_within,
    fit_network,
    new_output_folder,
    pack_faces,
    predict_tta,
    read_faces,
    save_weights_float16,
    scheme_splits,
    seconds_per_epoch,
    teacher_network,
    teacher_soft_labels,
)
from stressvision.augment import WARPS, AugmentConfig
from stressvision.fileio import atomic_path, save_arrays, write_json
from stressvision.labels import FER2013_EMOTIONS, merge_matrix
from stressvision.models import build_vgg_fer, float32_copy
from stressvision.params import Section, load_params
from stressvision.stage import run_stage

SCHEMES = ("emotions", "stress")


def scores(model: keras.Model, test: tuple[np.ndarray, np.ndarray]) -> dict:
    plain, tta = predict_tta(model, test[0])
    return {
        "test_accuracy": round(float((plain.argmax(1) == test[1]).mean()), 4),
        "test_accuracy_tta": round(float((tta.argmax(1) == test[1]).mean()), 4),
    }


def fit_within(
    build: Callable[[], keras.Model],
    splits: dict,
    teacher: keras.Model | None,
    budget_s: float,
    args: argparse.Namespace,
    seed: int,
    learning_rate: float,
    augment: AugmentConfig,
) -> tuple[keras.Model, dict]:
    """Fit a new network for as many epochs as `budget_s` allows; its best epoch and scores."""
    plan = FitPlan(epochs=1, batch_size=args.batch_size, learning_rate=learning_rate, seed=seed)
    keras.utils.set_random_seed(seed)

    def make() -> DeviceTrainer:
        return DeviceTrainer(
            build(),
            augmentation_model(augment, seed),
            teacher,
            args.alpha,
            args.temperature,
        )

    if args.epochs:  # no timing: processes sharing a GPU time each other's compilation, not training
        epochs = args.epochs
    else:
        epochs = epochs_within(budget_s, make, *splits["train"], plan, args.max_epochs, args.min_epochs)
    trainer = make()
    summary = fit_network(trainer, splits["train"], splits["val"], replace(plan, epochs=epochs))
    summary.update(scores(trainer.network, splits["test"]))
    return trainer.network, summary


def time_steps(faces, params: dict, augment: AugmentConfig, args: argparse.Namespace) -> None:
    """Seconds per epoch of the teacher and the student at each batch size and augmentation.

    A device whose every kernel launch is slow shows the same seconds per step at any network
    width; larger batches are then what pays.
    """
    keras.mixed_precision.set_global_policy(args.precision)
    _, classes, splits = scheme_splits(faces, "emotions", params)
    images, labels = splits["train"]
    networks = {
        "teacher": partial(
            teacher_network, len(classes), args.teacher_width, args.teacher_fc_units, args.teacher_dropout
        ),
        "student": partial(
            build_vgg_fer, len(classes), 48, args.student_dropout, width=args.student_width,
            fc_units=args.student_fc_units,
        ),
    }  # fmt: skip
    for batch in args.time_steps:
        for name, build in networks.items():
            for kind in ("none", *WARPS):
                layers = augmentation_model(replace(augment, warp=kind), 0) if kind != "none" else None
                epoch_s = seconds_per_epoch(
                    lambda build=build, layers=layers: DeviceTrainer(build(), layers),
                    images, labels, FitPlan(epochs=1, batch_size=batch),
                )  # fmt: skip
                steps = -(-len(labels) // batch)
                print(
                    f"device: {name} batch {batch:5d} warp {kind:6s} "
                    f"{epoch_s / steps * 1000:8.1f} ms/step {epoch_s:7.1f} s/epoch",
                    flush=True,
                )


def range_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with an option out of its range, or None."""
    at_least = {
        "teachers": 1, "max_epochs": 1, "batch_size": 1, "teacher_fc_units": 1, "student_fc_units": 1,
        "epochs": 0, "min_epochs": 0, "teacher_budget_s": 0, "student_budget_s": 0,
    }  # fmt: skip
    for name, low in at_least.items():
        if getattr(args, name) < low:
            return f"--{name.replace('_', '-')} must be at least {low}, got {getattr(args, name)}"
    for name in ("teacher_width", "student_width", "learning_rate"):
        if not getattr(args, name) > 0:
            return f"--{name.replace('_', '-')} must be above 0, got {getattr(args, name)}"
    if not all(rate > 0 for rate in args.teacher_learning_rates):
        return f"--teacher-learning-rates must be above 0, got {args.teacher_learning_rates}"
    for name in ("teacher_dropout", "student_dropout"):
        if not 0 <= getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(args, name)}"
    if not 0 <= args.alpha <= 1:
        return f"--alpha must be in [0, 1], got {args.alpha}"
    if not 1 <= args.temperature <= 20:  # as train.distill.temperature
        return f"--temperature must be in [1, 20], got {args.temperature}"
    if args.time_steps and min(args.time_steps) < 1:
        return f"--time-steps batch sizes must be at least 1, got {args.time_steps}"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--archive",
        required=True,
        help="FER-2013 zip (msambare/fer2013 layout), fer2013.csv or a --pack file",
    )
    p.add_argument("--pack", help="only write the decoded faces to this .npz.xz file (smaller upload)")
    p.add_argument("--out")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--teachers", type=int, default=1)
    p.add_argument("--teacher-width", type=float, default=1.0)
    p.add_argument("--teacher-fc-units", type=int, default=512)
    p.add_argument("--teacher-dropout", type=float, default=0.5)
    p.add_argument("--teacher-budget-s", type=float, default=240, help="training seconds per teacher")
    p.add_argument("--student-width", type=float, default=0.25)
    p.add_argument("--student-fc-units", type=int, default=512)
    p.add_argument("--student-dropout", type=float, default=0.3)
    p.add_argument("--student-budget-s", type=float, default=90, help="training seconds per student")
    p.add_argument("--max-epochs", type=int, default=150)
    p.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="train every network this many epochs, without timing it against the budgets (for "
        "several runs on one GPU: on an H200 two started together mis-timed each other by 1.5x)",
    )
    p.add_argument(
        "--min-epochs",
        type=int,
        default=0,
        help="stop (exit 1) before training when fewer epochs than this fit in a budget",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3, help="students' Adam peak, after warm-up")
    p.add_argument(
        "--teacher-learning-rates",
        type=float,
        nargs="+",
        metavar="LR",
        default=[7e-4],
        help="teacher N's peak is the Nth (cycled): full-width teachers at 1e-3 stayed at the "
        "majority class in 2 of 3 H200 runs; 7e-4 learnt",
    )
    p.add_argument("--seed", type=int, default=42, help="teacher N uses seed + N; the students seed")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the hard labels when distilling")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument(
        "--precision", default="mixed_bfloat16", choices=("float32", "mixed_bfloat16", "mixed_float16")
    )
    p.add_argument("--schemes", nargs="*", default=list(SCHEMES), choices=SCHEMES)
    p.add_argument(
        "--soft-labels",
        action="store_true",
        help="write soft_labels.npz: the kept teachers' probabilities on every face of the archive",
    )
    p.add_argument(
        "--time-steps",
        type=int,
        nargs="+",
        metavar="BATCH",
        help="only time train steps of the teacher and student at these batch sizes, without "
        "augmentation and with each kind, and print seconds per epoch (one compilation per row)",
    )
    p.add_argument(
        "--warp",
        default="single",
        choices=WARPS,
        help="single: one bilinear warp per face (fast anywhere); layers: Keras' rotation, shift, zoom",
    )
    args = p.parse_args()
    if problem := range_problem(args):
        p.error(problem)
    if args.pack:
        pack_faces(read_faces(args.archive), args.pack)
        return
    params = load_params(args.params)
    augment = AugmentConfig.from_section(Section("train.augmentation", params["train"]["augmentation"]))
    augment = replace(augment, warp=args.warp)  # the device's choice, not params.yaml's
    if args.time_steps:
        time_steps(read_faces(args.archive), params, augment, args)
        return
    if not args.out:
        p.error("--out is required unless --pack or --time-steps is given")

    out = new_output_folder(args.out)
    results: dict = {"backend": keras.backend.backend(), "precision": args.precision, "args": vars(args)}

    def record(key: str, value) -> None:
        results[key] = value
        write_json(out / "results.json", results)
        print(f"device: {key}: {json.dumps(value)}", flush=True)

    started = time.perf_counter()
    faces = read_faces(args.archive)
    data = {
        scheme: scheme_splits(faces, scheme, params) for scheme in dict.fromkeys(["emotions", *args.schemes])
    }
    print(f"device: {len(faces.labels)} faces decoded in {time.perf_counter() - started:.0f} s", flush=True)
    keras.mixed_precision.set_global_policy(args.precision)

    _, emotion_classes, emotion_splits = data["emotions"]
    teachers = []
    for t in range(args.teachers):
        build = partial(
            teacher_network,
            len(emotion_classes),
            args.teacher_width,
            args.teacher_fc_units,
            args.teacher_dropout,
        )
        rate = args.teacher_learning_rates[t % len(args.teacher_learning_rates)]
        teacher, summary = fit_within(
            build, emotion_splits, None, args.teacher_budget_s, args, args.seed + t, rate, augment
        )
        dropped = collapsed(summary)
        record(f"teacher_{t}", {**summary, "learning_rate": rate, "dropped": dropped})
        if dropped:  # it would only pull the students towards the most common class
            continue
        save_weights_float16(float32_copy(build, teacher), str(out / f"teacher_{t}.npz"))
        teachers.append(teacher)
    if not teachers:
        raise CollapsedError(
            "no teacher beats answering the most common class on validation: nothing to distil from; "
            "give them a larger --teacher-budget-s, lower --teacher-learning-rates or another --seed"
        )
    if len(teachers) > 1:
        record("teacher_ensemble", scores(ensemble(teachers), emotion_splits["test"]))
    if args.soft_labels:
        plain, mirrored = teacher_soft_labels(teachers, faces.images)
        save_arrays(
            out / "soft_labels.npz", plain=plain, mirrored=mirrored, classes=np.array(emotion_classes)
        )
        print(f"device: soft labels of {plain.shape[0]} teacher(s) on {plain.shape[1]} faces", flush=True)

    for scheme in args.schemes:
        label_map, classes, splits = data[scheme]
        merge = None if scheme == "emotions" else merge_matrix(FER2013_EMOTIONS, label_map, classes)
        teacher = ensemble(teachers, merge)
        if merge is not None:
            record(f"teachers_on_{scheme}", scores(teacher, splits["test"]))
        build = partial(
            build_vgg_fer,
            len(classes),
            48,
            args.student_dropout,
            width=args.student_width,
            fc_units=args.student_fc_units,
        )
        student, summary = fit_within(
            build, splits, teacher, args.student_budget_s, args, args.seed, args.learning_rate, augment
        )
        with atomic_path(out / f"student_{scheme}.keras") as tmp:
            float32_copy(build, student).save(tmp)
        record(f"student_{scheme}", {**summary, "classes": classes})
    print(f"device: done in {time.perf_counter() - started:.0f} s", flush=True)


def run() -> None:
    """main(); a device too slow or teachers that learnt nothing stop it with one line, status 1."""
    try:
        main()
    except (TooSlowError, CollapsedError) as error:
        sys.exit(f"train_on_accelerator: {error}")


if __name__ == "__main__":
    run_stage("train_on_accelerator", run, rerun="run it again with a new --out")
