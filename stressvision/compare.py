"""One HTML page comparing the workspace with another revision: params, metrics and plots.

    python -m stressvision.compare main [--out dvc_plots/compare]
    python -m stressvision.compare main --markdown     # the key metrics table of scripts/pr_report.sh

It puts `dvc params diff` and `dvc metrics diff` tables above the plots of `dvc plots diff`
(training curves, confusion matrices per revision, class counts, latency, accuracy against
latency and size), so a reviewer reads one page.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>StressVision: {title}</title>
{scripts}
<style>
  body {{ font-family: sans-serif; margin: 24px; color: #222; }}
  h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; }}
  table.diff {{ border-collapse: collapse; font-size: 13px; margin-bottom: 12px; }}
  table.diff th, table.diff td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
  table.diff th {{ background: #f2f2f2; }}
  td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
  td.up {{ color: #11772d; }} td.down {{ color: #b3261e; }}  /* better / worse */
</style>
</head>
<body>
<h1>{title}</h1>
{tables}
<h2>Plots</h2>
{{plot_divs}}
</body>
</html>
"""


def last_line(text: str) -> str:
    """DVC's own error line (the last of its output), or a note that it said nothing."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


def _dvc_json(*args: str) -> dict:
    result = subprocess.run(["dvc", *args, "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: dvc {' '.join(args)} failed: {last_line(result.stderr)}")
    return json.loads(result.stdout or "{}")


def _text(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("–" if value is None else str(value))


def _cell(value) -> str:
    return "<td>–</td>" if value is None else f'<td class="num">{html.escape(_text(value))}</td>'


LOWER_IS_BETTER = ("_ms", "size_mb", "loss", "seconds")  # green when these go down


def judgement(key: str, delta) -> str | None:
    """Whether a numeric change of metric `key` (kpi.X.value judged as X) is "better" or
    "worse"; None when it did not change or is not a number."""
    if not isinstance(delta, (int, float)) or isinstance(delta, bool) or not delta:
        return None
    lower_is_better = key.removesuffix(".value").endswith(LOWER_IS_BETTER)
    return "better" if (delta < 0) == lower_is_better else "worse"


def diff_table(diff: dict, base: str, kind: str, judge: bool = True) -> str:
    """An HTML table of a `dvc params|metrics diff --json` result (changed entries only);
    with `judge`, each numeric change is coloured better (green) or worse (red)."""
    rows = []
    for path, entries in sorted(diff.items()):
        for key, change in sorted(entries.items()):
            delta = change.get("diff")
            verdict = judgement(key, delta) if judge else None
            css = {"better": ' class="num up"', "worse": ' class="num down"', None: ""}[verdict]
            delta_cell = f"<td{css}>{delta:+.4g}</td>" if css else _cell(delta)
            rows.append(
                f"<tr><td>{html.escape(path)}</td><td>{html.escape(key)}</td>"
                f"{_cell(change.get('old'))}{_cell(change.get('new'))}{delta_cell}</tr>"
            )
    if not rows:
        return f"<h2>{kind}</h2><p>No {kind.lower()} changed against {html.escape(base)}.</p>"
    head = f"<tr><th>file</th><th>name</th><th>{html.escape(base)}</th><th>workspace</th><th>change</th></tr>"
    return f'<h2>{kind}</h2><table class="diff">{head}{"".join(rows)}</table>'


KEY_METRICS = re.compile(
    r"^(accuracy|f1_macro|auc_ovr|\w+\.accuracy|int8\.size_mb|\w+\.p95_ms|kpi\.\w+\.(value|pass)|kpi\.all_pass)$"
)


def key_metrics(diff: dict) -> dict:
    """The deciding metrics: test accuracy and F1, accuracy, size and latency per variant, KPIs."""
    return {
        path: {k: v for k, v in entries.items() if KEY_METRICS.match(k)}
        for path, entries in diff.items()
        if Path(path).name in ("evaluate.json", "quantize.json", "benchmark.json")
    }


def markdown_key_metrics(diff: dict, base: str) -> str:
    """The deciding metrics of a `dvc metrics diff --all --json` result as a markdown table,
    unchanged ones too (a KPI that still passes is news a reviewer wants), worse changes marked."""
    rows = []
    for path, entries in sorted(key_metrics(diff).items()):
        for key, change in sorted(entries.items()):
            delta = change.get("diff")
            verdict = judgement(key, delta)
            old, new = (_text(change.get(side)) for side in ("old", "new"))
            change_cell = f"{delta:+.4g} ({verdict})" if verdict else ""
            rows.append(f"| {path} | {key} | {old} | {new} | {change_cell} |")
    if not rows:
        return "_no key metrics in either revision_"
    head = f"| file | metric | {base} | workspace | change |\n| --- | --- | ---: | ---: | ---: |"
    return "\n".join([head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="git revision to compare the workspace with (branch, tag, commit)")
    parser.add_argument("--out", default="dvc_plots/compare", help="output folder (index.html)")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the key metrics (unchanged too) as a markdown table instead (the PR report's headline)",
    )
    args = parser.parse_args()

    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{args.base}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        sys.exit(f"error: {args.base}: not a git revision here (give a branch, tag or commit)")
    if args.markdown:
        print(markdown_key_metrics(_dvc_json("metrics", "diff", "--all", args.base), args.base))
        return
    metrics = _dvc_json("metrics", "diff", args.base)
    tables = (
        diff_table(_dvc_json("params", "diff", args.base), args.base, "Params", judge=False)
        + diff_table(key_metrics(metrics), args.base, "Key metrics")
        + "<details><summary>All changed metrics</summary>"
        + diff_table(metrics, args.base, "Metrics")
        + "</details>"
    )
    title = f"workspace compared with {html.escape(args.base)}"
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "page.html"
        template.write_text(PAGE.format(title=title, tables=tables, scripts="{scripts}"))
        result = subprocess.run(
            ["dvc", "plots", "diff", args.base, "--html-template", str(template), "-o", args.out],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        sys.exit(f"error: dvc plots diff failed: {last_line(result.stderr)}")
    page = Path(args.out) / "index.html"
    if not page.is_file():  # DVC writes nothing when neither revision has plots: the tables alone
        page.parent.mkdir(parents=True, exist_ok=True)
        no_plots = "<p>No plots in either revision.</p>"
        page.write_text(PAGE.format(title=title, tables=tables, scripts="").replace("{plot_divs}", no_plots))
    print(f"compare: wrote {page}")


if __name__ == "__main__":
    main()
