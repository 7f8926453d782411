#!/usr/bin/env bash
# Markdown report of what a change did to params and metrics, against BASE (a git revision).
# Used by .github/workflows/dvc-report.yml to comment on pull requests; runs anywhere.
set -euo pipefail
base="${1:?usage: scripts/pr_report.sh BASE_REVISION}"
echo "## StressVision: changes against \`$base\`"
echo
echo "### Params"
dvc params diff --md "$base" || echo "_no param changes_"
echo
echo "### Metrics"
dvc metrics diff --md --precision 4 "$base" || echo "_no metric changes_"
echo
echo "Deployment KPIs: \`kpi.*.pass\` in metrics/benchmark.json. Plots: \`dvc plots diff $base\`."
