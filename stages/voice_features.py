"""Stage voice_features: log-mel or MFCC features of every clip, with TensorFlow signal ops."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "mapped", "train", "val", "test", "out")

    import numpy as np

    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json
    from stressvision.params import Section
    from stressvision.voice.features import FeatureConfig, FeatureExtractor, standardization_statistics
    from stressvision.voice.speakers import speaker_normalize

    meta = read_json(Path(args.mapped) / "meta.json")
    config = FeatureConfig.from_section(
        Section.load("voice_features"), meta["sample_rate"], meta["clip_seconds"]
    )
    splits = {
        name: load_arrays(path)
        for name, path in (("train", args.train), ("val", args.val), ("test", args.test))
    }
    clips = {name: data["clips"].astype(np.float32) / 32768.0 for name, data in splits.items()}
    statistics = None
    if config.standardize:  # from the train split only: val and test speakers stay unseen
        statistics = standardization_statistics(config, FeatureExtractor(config).extract(clips["train"]))
    extractor = FeatureExtractor(config, statistics)
    out = Path(args.out)
    for split, data in splits.items():
        features = extractor.extract(clips[split])
        if config.speaker_norm:  # each speaker by their own clips: no labels, no other split
            features = speaker_normalize(features, data["speakers"])
        save_arrays(out / f"{split}.npz", features=features, labels=data["labels"], speakers=data["speakers"])
        print(
            f"voice_features: {split:5s} {len(features):5d} clips -> {config.kind} {features.shape[1:]}",
            flush=True,
        )
    write_json(out / "meta.json", extractor.meta())


if __name__ == "__main__":
    run_stage("voice_features", main)
