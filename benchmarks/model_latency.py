"""Model-only latency of face models side by side, timed as the pipeline's benchmark stage times
one (LiteRT, a few test faces, warm-up runs first, one invocation per TTA view), in rounds that
take the models in turn, so that each sees the same machine: a shared or throttled CPU moves
one model's figure as much as the other's.

    python -m benchmarks.model_latency --model pretrained/face_fer2013_stress --model new_bundle
        --data fer2013/test [--rounds 5] [--runs 100] [--threads 2] [--tta none]

Each `--model` (a bundle folder or a .tflite file with model_config.json beside it) is timed on
its own, with the TTA its model_config.json names unless `--tta` says otherwise. The faces are
`--faces` drawn from the class folders of `--data`. Printed: mean, p50 and p95 ms per face over
all rounds, the spread of the round means, and each model's mean against the first's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.script import draw_faces, one_line_errors, positive_int
from stressvision.edge import face_crop_from_file, load_edge_model
from stressvision.litert import latency_summary, time_inference
from stressvision.tta import TTA_MODES


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", required=True, help="a face model; repeat to compare")
    parser.add_argument("--data", required=True, type=Path, help="a folder of class (or emotion) folders")
    parser.add_argument(
        "--faces", type=positive_int, default=64, help="faces timed (default 64, as the stage)"
    )
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds of all models (default 5)")
    parser.add_argument("--runs", type=positive_int, default=100, help="timed faces per model and round")
    parser.add_argument(
        "--warmup", type=positive_int, default=10, help="untimed faces per model and round (default 10)"
    )
    parser.add_argument(
        "--threads", type=positive_int, default=2, help="LiteRT threads (default 2, as the stage)"
    )
    parser.add_argument("--tta", choices=TTA_MODES, help="test-time augmentation of every model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faces drawn (default 0)")
    args = parser.parse_args()

    models = [load_edge_model(path, num_threads=args.threads, tta=args.tta) for path in args.model]
    rng = np.random.default_rng(args.seed)
    paths, _ = draw_faces(args.data, models[0], None, rng)  # every face: draws nothing from rng
    chosen = rng.permutation(len(paths))[: args.faces]
    faces = np.stack([face_crop_from_file(paths[i]) for i in sorted(chosen)]).astype(np.float32)
    print(
        f"model_latency: {len(faces)} faces of {args.data}, LiteRT {args.threads} threads, "
        f"{args.rounds} rounds of {args.runs} timed runs after {args.warmup} warm-up, models in turn"
    )
    times: list[list[np.ndarray]] = [[] for _ in models]
    for round_ in range(args.rounds):
        for model, rounds in zip(models, times):
            rounds.append(time_inference(model.classifier, faces, args.warmup, args.runs, model.tta))
        print(
            f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{r[-1].mean():.3f}" for r in times),
            flush=True,
        )

    summaries = [latency_summary(np.concatenate(rounds)) for rounds in times]
    width = max(len(path) for path in args.model)
    print(
        f"{'model':{width}s} {'TTA':>9s} {'mean ms':>8s} {'p50 ms':>8s} {'p95 ms':>8s}  round means  x first"
    )
    for path, model, rounds, s in zip(args.model, models, times, summaries):
        means = [r.mean() for r in rounds]
        print(
            f"{path:{width}s} {model.tta:>9s} {s['mean_ms']:8.3f} {s['p50_ms']:8.3f} {s['p95_ms']:8.3f}  "
            f"{min(means):.3f}-{max(means):.3f}  {s['mean_ms'] / summaries[0]['mean_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
