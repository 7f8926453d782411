"""Stage benchmark: LiteRT latency of each TFLite variant and the deployment KPIs."""

from pathlib import Path

from stressvision.stage import run_stage, stage_args


def main() -> None:
    args = stage_args(__doc__, "tflite", "test", "quantize-metrics", "metrics", "plots")

    from stressvision.benchmark import Kpis, timing_params
    from stressvision.errors import ParamsError
    from stressvision.fileio import load_arrays, read_json, write_json, write_text
    from stressvision.litert import VARIANTS, TFLiteClassifier, latency_summary, time_inference
    from stressvision.model_config import bundle_tta, load_model_config
    from stressvision.params import Section

    params = Section.load("benchmark")
    runs, warmup, threads = timing_params(params)
    kpis = Kpis.from_section(params.sub("kpi"), VARIANTS)
    params.check_no_extra_keys()

    quantized = read_json(args.quantize_metrics)
    if kpis.variant not in quantized:
        raise ParamsError(
            "benchmark.kpi.variant", f"{kpis.variant!r} was not exported; add it to quantize.variants"
        )
    tta = bundle_tta(load_model_config(args.tflite))  # one invocation per view of a face
    images = load_arrays(args.test)["images"][:64].astype("float32")
    metrics = {"threads": threads, "runs": runs, "tta": tta}
    rows = ["variant,p95_ms,mean_ms,accuracy,size_mb"]
    for variant, exported in quantized.items():
        classifier = TFLiteClassifier(Path(args.tflite) / f"{variant}.tflite", num_threads=threads)
        latency = latency_summary(time_inference(classifier, images, warmup, runs, tta))
        metrics[variant] = {**latency, "size_mb": exported["size_mb"], "accuracy": exported["accuracy"]}
        rows.append(
            f"{variant},{latency['p95_ms']},{latency['mean_ms']},{exported['accuracy']},{exported['size_mb']}"
        )
        print(
            f"benchmark: {variant:8s} mean {latency['mean_ms']:.3f} ms, p95 {latency['p95_ms']:.3f} ms"
            f"{'' if tta == 'none' else f' per face, TTA {tta}'}, "
            f"{latency['fps']:.0f} FPS, {exported['size_mb']:.3f} MB, accuracy {exported['accuracy']:.4f}"
        )
    deployed = metrics[kpis.variant]
    metrics["kpi"] = kpis.check(deployed["accuracy"], deployed["p95_ms"], deployed["size_mb"])
    write_json(args.metrics, metrics)
    write_text(Path(args.plots) / "latency.csv", "\n".join(rows) + "\n")
    for name in ("accuracy", "latency_p95_ms", "size_mb"):
        kpi = metrics["kpi"][name]
        print(
            f"benchmark: KPI {name:15s} {kpi['value']:>10} target {kpi['target']:>8} "
            f"{'PASS' if kpi['pass'] else 'MISS'}"
        )


if __name__ == "__main__":
    run_stage("benchmark", main)
