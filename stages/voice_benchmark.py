"""Stage voice_benchmark: LiteRT latency per clip (features + classifier) of each variant."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "tflite", "test-clips", "quantize-metrics", "metrics", "plots")

    import numpy as np

    from stressvision.benchmark import timing_params
    from stressvision.fileio import load_arrays, read_json, write_json, write_text
    from stressvision.litert import latency_summary
    from stressvision.params import Section
    from stressvision.voice.inference import VoiceClassifier

    params = Section.load("voice_benchmark")
    runs, warmup, threads = timing_params(params)
    params.check_no_extra_keys()

    quantized = read_json(args.quantize_metrics)
    clips = load_arrays(args.test_clips)["clips"][:32].astype(np.float32) / 32768.0
    metrics, rows = {"threads": threads, "runs": runs}, ["variant,p95_ms,mean_ms,accuracy,size_mb"]
    for variant in (v for v in quantized if v != "features_size_mb"):
        classifier = VoiceClassifier(Path(args.tflite) / f"{variant}.tflite", num_threads=threads)
        seconds = classifier.samples / classifier.sample_rate
        latency = latency_summary(classifier.time_clips(clips, warmup, runs))
        exported = quantized[variant]
        metrics[variant] = {**latency, "size_mb": exported["size_mb"], "accuracy": exported["accuracy"]}
        rows.append(
            f"{variant},{latency['p95_ms']},{latency['mean_ms']},{exported['accuracy']},{exported['size_mb']}"
        )
        print(
            f"voice_benchmark: {variant:8s} {latency['mean_ms']:.3f} ms mean, {latency['p95_ms']:.3f} ms p95 "
            f"per {seconds:g} s clip (features included), {exported['size_mb']:.3f} MB, "
            f"accuracy {exported['accuracy']:.4f}"
        )
    write_json(args.metrics, metrics)
    write_text(Path(args.plots) / "latency.csv", "\n".join(rows) + "\n")


if __name__ == "__main__":
    run_stage("voice_benchmark", main)
