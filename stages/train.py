"""Stage train: fit the model named in params on the balanced train split."""

from pathlib import Path

from stressvision.hardware import cpu_flags, prefer_onednn
from stressvision.stage import run_stage, stage_args

prefer_onednn(cpu_flags())  # before main() loads TensorFlow


def main() -> None:
    args = stage_args(__doc__, "mapped", "train", "val", "model-dir", "metrics", "plots", "live-dir")

    from stressvision.errors import ParamsError
    from stressvision.fileio import load_arrays, read_json, write_json
    from stressvision.fitting import fit_and_save
    from stressvision.heads import averaging_kernel
    from stressvision.labels import LabelMap, learned_labels, merge_matrix
    from stressvision.model_config import make_model_config, save_model_config
    from stressvision.models import sum_into_classes
    from stressvision.params import Section
    from stressvision.reports import plot_training_curves, write_history_csv
    from stressvision.soft_labels import SoftLabels, learned_targets
    from stressvision.training import TrainConfig, train

    config = TrainConfig.from_section(Section.load("train"))
    meta = read_json(Path(args.mapped) / "meta.json")
    classes = meta["classes"]
    # map_labels.learn: emotions gives finer units to learn, summed into the classes after
    units = meta.get("units", {})
    unit_classes = merge_matrix(tuple(units), LabelMap(tuple(classes), units), classes)
    if config.class_head and not units:
        raise ParamsError(
            "train.class_head", "no units to put a class head beside: set map_labels.learn: emotions"
        )
    train_set, val_set = load_arrays(args.train), load_arrays(args.val)
    validate = len(val_set["labels"]) > 0  # split.val: 0 leaves none: the last epoch is kept
    print(
        f"train: {config.model} at {config.input_size}px on {len(train_set['labels'])} faces, "
        f"{len(classes)} classes"
        + (f" learnt as {len(units)} units" if units else "")
        + (" and as the classes (two heads, averaged)" if config.class_head else "")
        + f", up to {config.epochs} epochs",
        flush=True,
    )

    soft_targets = None
    if config.distill.soft_labels:
        soft_targets, held = learned_targets(
            SoftLabels.load(config.distill.soft_labels),
            train_set["keys"],
            learned_labels(train_set),
            list(units or classes),
            meta["mapping"],
        )
        print(
            f"train: soft labels for {held} of {len(soft_targets)} faces, hard labels for the rest",
            flush=True,
        )

    def fit(work_dir, callbacks):
        model, history, summary = train(
            config,
            (train_set["images"], learned_labels(train_set)),
            (val_set["images"], learned_labels(val_set)),
            num_classes=len(units or classes),
            work_dir=work_dir,
            extra_callbacks=callbacks,
            soft_targets=soft_targets,
            unit_classes=unit_classes,
        )
        if config.class_head:
            model = sum_into_classes(model, averaging_kernel(unit_classes))
        elif units:
            model = sum_into_classes(model, unit_classes)
        if units and validate:
            predicted = model.predict(val_set["images"], batch_size=256, verbose=0).argmax(1)
            summary["val_class_accuracy"] = float((predicted == val_set["labels"]).mean())
        return model, history, summary

    model_dir = Path(args.model_dir)
    history, summary = fit_and_save(fit, args.live_dir, model_dir / "model.keras")
    save_model_config(
        model_dir, make_model_config(config.model, classes, meta["mapping"], config.input_size, units)
    )
    write_json(args.metrics, summary)
    write_history_csv(history, Path(args.plots) / "history.csv")
    plot_training_curves(
        history,
        f"{config.model}: training curves",
        Path(args.plots) / "curves.png",
        **({} if validate else {"kept_epoch": summary["kept_epoch"], "kept_label": "kept: the last epoch"}),
    )
    if validate:
        kept = f"best epoch {summary['best_epoch']}/{summary['epochs_run']}"
        kept += f", val accuracy {summary['val_accuracy']:.4f}"
        kept += f" ({summary['val_class_accuracy']:.4f} in the classes)" if units else ""
    else:
        kept = f"kept the last epoch, {summary['kept_epoch']} (no validation faces)"
        kept += f", train accuracy {summary['accuracy']:.4f}"
    print(f"train: {kept}, {summary['params']} params, {summary['train_seconds']:.0f}s")


if __name__ == "__main__":
    run_stage("train", main)
