"""End-to-end voice latency per clip: WAV decode + resample + features.tflite + classifier.

    python -m benchmarks.voice_edge_latency --model models/voice/tflite --wav speech.wav [--runs 200]

One LiteRT thread, as on one core of a Raspberry Pi; LiteRT only (no TensorFlow). The WAV is
decoded from its bytes in every run, so a 44.1 kHz stereo file pays for mixing and resampling.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.latency_table import print_parts
from benchmarks.script import one_line_errors, positive_int
from stressvision.voice.audio import load_clip
from stressvision.voice.inference import VoiceClassifier
from stressvision.voice.speakers import MIN_SPEAKER_CLIPS


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a voice .tflite file or its folder")
    parser.add_argument("--wav", required=True, help="a speech recording")
    parser.add_argument("--runs", type=positive_int, default=200)
    args = parser.parse_args()

    model = VoiceClassifier(args.model, num_threads=1)
    data = Path(args.wav).read_bytes()
    seconds = model.samples / model.sample_rate
    # a speaker-normalised model scales by enrolled statistics; their values do not change the cost
    speaker = model.enrol([load_clip(data, model.sample_rate, seconds, args.wav)] * MIN_SPEAKER_CLIPS)

    def one_clip() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        clip = load_clip(data, model.sample_rate, seconds, args.wav)
        t1 = time.perf_counter()
        features = model.clip_features(clip)
        t2 = time.perf_counter()
        model.classify(features, speaker)
        return (t1 - t0) * 1000, (t2 - t1) * 1000, (time.perf_counter() - t2) * 1000

    for _ in range(10):  # warm-up
        one_clip()
    parts = {"decode": [], "features": [], "classify": [], "total": []}
    for _ in range(args.runs):
        decode, features, classify = one_clip()
        for name, value in zip(parts, (decode, features, classify, decode + features + classify)):
            parts[name].append(value)
    print(f"voice_edge_latency: {args.model} on {args.wav}, {seconds:g} s clips, 1 thread, {args.runs} runs")
    p95 = print_parts(parts)
    print(f"end-to-end p95 {p95:.2f} ms per {seconds:g} s clip ({p95 / (seconds * 1000):.2%} of real time)")


if __name__ == "__main__":
    main()
