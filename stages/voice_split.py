"""Stage voice_split: speaker-independent train/val/test (no speaker in two of them)."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "mapped", "out", "metrics")

    import numpy as np

    from stressvision.fileio import load_arrays, read_json, save_arrays, write_json
    from stressvision.labels import class_counts
    from stressvision.params import Section
    from stressvision.voice.speakers import SPLITS, SpeakerSplitConfig, assign_speakers

    config = SpeakerSplitConfig.from_section(Section.load("voice_split"))
    mapped = load_arrays(Path(args.mapped) / "clips.npz")
    classes = read_json(Path(args.mapped) / "meta.json")["classes"]
    speakers = assign_speakers(mapped["speakers"], config)

    out, report = Path(args.out), {}
    for split in SPLITS:
        members = np.isin(mapped["speakers"], speakers[split])
        save_arrays(out / f"{split}.npz", **{key: values[members] for key, values in mapped.items()})
        report[split] = {
            "n": int(members.sum()),
            "speakers": speakers[split],
            "classes": class_counts(mapped["labels"][members], classes),
        }
        names = ", ".join(speakers[split]) or "-"
        print(f"voice_split: {split:5s} {report[split]['n']:5d} clips, speakers {names}")
    write_json(out / "meta.json", report)
    write_json(args.metrics, report)


if __name__ == "__main__":
    run_stage("voice_split", main)
