#!/usr/bin/env bash
# Run the pipeline with a named profile (profiles/NAME.yaml) as one `dvc exp run -S ...`.
#   bash scripts/run_profile.sh balanced
#   bash scripts/run_profile.sh real_default -S download.fer2013_archive=/path/to/fer2013.zip
#   bash scripts/run_profile.sh realtime --queue        # extra arguments go to dvc exp run
# The profile's keys are checked against params.yaml first; a bad one stops with one line.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/run_profile.sh NAME [dvc exp run arguments]; profiles: $(ls profiles | sed 's/\.yaml$//' | tr '\n' ' ')" >&2
  exit 2
fi
exec python -m stressvision.profiles run "$@"
