"""Stage voice_train: fit the voice model named in params on the train split's features."""

from pathlib import Path

from stressvision.hardware import cpu_flags, prefer_onednn
from stressvision.stage import run_stage, stage_args

prefer_onednn(cpu_flags())  # before main() loads TensorFlow


def main() -> None:
    args = stage_args(__doc__, "mapped", "features", "model-dir", "metrics", "plots", "live-dir")

    from stressvision.fileio import load_arrays, read_json, write_json
    from stressvision.fitting import fit_and_save
    from stressvision.model_config import save_model_config
    from stressvision.params import Section
    from stressvision.reports import plot_training_curves, write_history_csv
    from stressvision.voice.model_config import make_voice_model_config
    from stressvision.voice.training import VoiceTrainConfig, train_voice_model

    meta = read_json(Path(args.mapped) / "meta.json")
    feature_meta = read_json(Path(args.features) / "meta.json")
    config = VoiceTrainConfig.from_section(Section.load("voice_train"), feature_meta["features"]["kind"])
    train_set = load_arrays(Path(args.features) / "train.npz")
    val_set = load_arrays(Path(args.features) / "val.npz")
    classes = meta["classes"]
    step = "L-BFGS iteration" if config.solver == "lbfgs" else "epoch"
    length = f"at most {config.epochs} {step}s" if config.solver == "lbfgs" else f"{config.epochs} epochs"
    print(
        f"voice_train: {config.model} on {len(train_set['labels'])} clips "
        f"({feature_meta['features']['kind']} {tuple(feature_meta['shape'])}), {len(classes)} classes, "
        f"{length}; "
        f"validation on {len(val_set['labels'])} clips of other speakers",
        flush=True,
    )
    model_dir = Path(args.model_dir)
    history, summary = fit_and_save(
        lambda work_dir, callbacks: train_voice_model(
            config,
            (train_set["features"], train_set["labels"]),
            (val_set["features"], val_set["labels"]),
            num_classes=len(classes),
            work_dir=work_dir,
            extra_callbacks=callbacks,
        ),
        args.live_dir,
        model_dir / "model.keras",
    )
    save_model_config(
        model_dir, make_voice_model_config(config.model, classes, meta["mapping"], feature_meta)
    )
    write_json(args.metrics, summary)
    write_history_csv(history, Path(args.plots) / "history.csv")
    plot_training_curves(
        history,
        f"voice {config.model}: training curves (validation = unseen speakers)",
        Path(args.plots) / "curves.png",
        kept_epoch=summary["kept_epoch"],
        kept_label=f"kept {step}, {config.keep}",
        step_name=step,
    )
    validation = "no validation"
    if "val_accuracy" in summary:
        validation = f"val accuracy {summary['val_accuracy']:.4f}"
    print(
        f"voice_train: kept {step} {summary['kept_epoch']}/{summary['epochs_run']} ({config.keep}), "
        f"train accuracy {summary['accuracy']:.4f}, {validation}, "
        f"{summary['params']} params, {summary['train_seconds']:.0f}s"
    )


if __name__ == "__main__":
    run_stage("voice_train", main)
