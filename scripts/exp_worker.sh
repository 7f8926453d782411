#!/usr/bin/env bash
# One machine's share of a batch of experiments, shared through the Git and DVC remotes, so
# that several machines (or CI jobs) can split one batch:
#
#   bash scripts/exp_worker.sh EXPERIMENTS_FILE WORKER_INDEX WORKER_COUNT [GIT_REMOTE]
#
# EXPERIMENTS_FILE has one experiment per line, "<name> <dvc exp run arguments>", e.g.
#   input-96   -S train.input_size=96
#   lr-low     -S train.learning_rate=0.0005 -S train.epochs=40
# (blank lines and lines starting with # are skipped). Worker i of n runs lines i, i+n, ...
# after `dvc pull` (so only the stages an experiment changes rerun), each from the committed
# params (`dvc exp run --temp`: one experiment's -S values never leak into the next, and the
# workspace is left as it was), then `dvc exp push`es each result (its Git ref to GIT_REMOTE,
# default origin; its outputs to the DVC remote). Rerun after an interruption, a worker pushes
# the experiments it already has again instead of rerunning them. An experiment that fails is
# named and skipped, the rest of the share still runs, and the worker then exits with status 1.
# Credentials in the committed .dvc/config stop it first: every experiment commit holds that
# file, and `dvc exp push` would publish them (keep them in .dvc/config.local: `--local`).
# Afterwards, anywhere: `dvc exp pull origin -A` and `bash scripts/exp_table.sh`.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: bash scripts/exp_worker.sh EXPERIMENTS_FILE WORKER_INDEX WORKER_COUNT [GIT_REMOTE]" >&2
  exit 2
fi
file=$1 index=$2 count=$3 remote=${4:-origin}
if [[ ! -f "$file" ]]; then
  echo "error [exp_worker]: $file: no such experiments file" >&2
  exit 2
fi
if ! [[ "$index" =~ ^[0-9]+$ && "$count" =~ ^[1-9][0-9]*$ ]] || (( index >= count )); then
  echo "error [exp_worker]: worker index must be 0..WORKER_COUNT-1, got $index of $count" >&2
  exit 2
fi
secret_options='access_key_id|secret_access_key|session_token|password|passphrase|connection_string|account_key|sas_token|client_secret|token|key_secret'
secret=$(dvc config --project --list </dev/null | grep -m1 -E "^remote\.[^=]*\.($secret_options)=" | cut -d= -f1 || true)
if [[ -n "$secret" ]]; then
  echo "error [exp_worker]: .dvc/config holds $secret, which every experiment commit would push to" \
    "$remote; move it to .dvc/config.local (dvc remote modify --local ...)" >&2
  exit 2
fi
dvc pull --allow-missing </dev/null
done_here=$(dvc exp list --name-only </dev/null)
line_number=0
failed=()
while read -r name args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if (( line_number % count == index )); then
    if grep -qxF "$name" <<<"$done_here"; then
      echo "exp_worker $index/$count: $name was run here before: pushing it (dvc exp remove $name to rerun it)" >&2
    else
      echo "exp_worker $index/$count: running $name" >&2
      # shellcheck disable=SC2086  # the arguments are meant to split into words
      if ! dvc exp run --temp -n "$name" $args </dev/null; then
        echo "exp_worker $index/$count: $name failed; going on with the rest" >&2
        failed+=("$name")
        line_number=$((line_number + 1))
        continue
      fi
    fi
    dvc exp push "$remote" "$name" </dev/null
  fi
  line_number=$((line_number + 1))
done <"$file"
if (( ${#failed[@]} )); then
  echo "error [exp_worker]: ${#failed[@]} experiment(s) failed, the others were pushed: ${failed[*]}" >&2
  exit 1
fi
