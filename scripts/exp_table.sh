#!/usr/bin/env bash
# `dvc exp show` with the columns that decide a model: test accuracy and macro F1, accuracy
# per TFLite variant, INT8 size (voice: and features.tflite's, which every variant runs), p95
# latency per variant, the KPI verdict, and the params that usually differ, for the face and
# the voice branch (metrics/voice/...). Extra arguments go to dvc (e.g. --csv, --sort-by).
set -euo pipefail
metrics='.*evaluate\.json:accuracy$|(.*evaluate\.json:)?f1_macro$|.*quantize\.json:.*\.accuracy$|.*quantize\.json:int8\.size_mb$|(.*quantize\.json:)?features_size_mb$|.*\.p95_ms$|kpi\.all_pass$'
params='^((voice_)?train\.(model|input_size|epochs)|map_labels\.scheme|(voice_)?download\.source|voice_features\.kind)$'
names='^Experiment$'
[[ " $* " == *" --csv "* ]] && names+='|^rev$'  # CSV names the baselines (workspace, main) in rev only
exec dvc exp show --no-pager --drop '.*' --keep "$names|$metrics|$params" "$@"
