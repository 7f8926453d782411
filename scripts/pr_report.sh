#!/usr/bin/env bash
# Markdown report of what a change did to params and metrics, against BASE (a git revision).
# Used by .github/workflows/dvc-report.yml to comment on pull requests; runs anywhere.
set -euo pipefail
base="${1:?usage: scripts/pr_report.sh BASE_REVISION}"
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  echo "error [pr_report]: $base: not a git revision here (give a branch, tag or commit)" >&2
  exit 2
fi
table() {  # the markdown table of a `dvc ... diff --md` command, or $1 when it has no rows
  local none="$1" out
  shift
  out=$("$@")
  if [ "$(grep -c '^|' <<<"$out")" -gt 2 ]; then echo "$out"; else echo "$none"; fi
}
echo "## StressVision: changes against \`$base\`"
echo
echo "### Params"
table "_no param changes_" dvc params diff --md "$base"
echo
echo "### Key metrics"
echo
python -m stressvision.compare "$base" --markdown
echo
echo "<details><summary>All changed metrics</summary>"
echo
table "_no metric changes_" dvc metrics diff --md --precision 6 "$base"
echo
echo "</details>"
echo
echo "Deployment KPIs: \`kpi.*.pass\` in metrics/benchmark.json. Plots: \`dvc plots diff $base\`;"
echo "one page with both: \`python -m stressvision.compare $base\`."
