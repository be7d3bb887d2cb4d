"""The results page of a study: the summary of ``chromalab study results`` as tables, and one small inline SVG
per method (and per preference pair): its rate, the Wilson interval, the bootstrap interval and chance (50 %).
Plain HTML written here, nothing fetched from another host."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from chromalab.study.plan import StudyPlan

# pixels of one plot; the axis spans the width less the margins
PLOT_WIDTH, PLOT_HEIGHT, PLOT_MARGIN = (
    420,
    64,
    20,
)


def results_page(summary: dict, plan: StudyPlan, token: str) -> str:
    excluded = summary["excluded"]
    csv_link = f"/api/study/{quote(plan.name)}/results.csv?token={quote(token)}"
    sections = [
        _section(
            "Turing test: how often a colorization was taken for the real photo", summary["turing"], "fooled"
        ),
        _section(
            "Preference: how often the first method looked more realistic", summary["preference"], "wins"
        ),
        _section(
            "Attention checks: the real photo told from random colours",
            {"truth vs random colours": summary["attention"]},
            "passed",
        ),
    ]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>chromalab study {escape(plan.name)}: results</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/style.css">
  <link rel="stylesheet" href="/static/study.css">
</head>
<body>
  <header><h1>Study {escape(plan.name)}: results</h1>
    <p>{summary["answers"]} counted answers from {summary["participants"]} participants ({summary["finished"]}
    finished); {excluded["participants"]} excluded ({excluded["answers"]} answers).
    <a href="{escape(csv_link)}">Every answer (CSV)</a></p>
    <p class="help">Excluded: {escape(excluded["rule"])}.</p>
    <p class="help">{escape(summary["intervals"])}.</p>
  </header>
  <main>{"".join(s for s in sections if s)}</main>
</body>
</html>
"""


def _section(title: str, entries: dict[str, dict], field: str) -> str:
    if not entries:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td>{_counts(entry, field)}</td>'
        f"<td>{rate_plot(label, entry)}</td></tr>"
        for label, entry in entries.items()
    )
    return (
        f'<section class="results-section"><h2>{escape(title)}</h2><table class="results-table">'
        f"<thead><tr><th>compared</th><th>{field}</th><th>rate (bar), Wilson 95 % (thick line), bootstrap "
        f"95 % (thin)"
        f"</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _counts(entry: dict, field: str) -> str:
    if not entry["trials"]:
        return "no answer yet"
    low, high = entry["ci95"]
    return (
        f"{entry[field]} of {entry['trials']}: {entry['rate']:.1%}<br>ci95 {low:.1%} to {high:.1%}"
        f"<br>p = {entry['p_value']:.3g} ({entry['participants']} participants)"
    )


def rate_plot(label: str, entry: dict) -> str:
    """An inline SVG of one proportion: the rate as a bar, its Wilson interval as a thick whisker, the
    bootstrap interval as a thin one below, chance (50 %) as a dashed line."""
    span = PLOT_WIDTH - 2 * PLOT_MARGIN

    def x(rate: float) -> float:
        return PLOT_MARGIN + rate * span

    parts = [f'<line x1="{x(0)}" y1="44" x2="{x(1)}" y2="44" stroke="#888"/>']
    parts += [
        f'<text x="{x(t)}" y="58" font-size="10" text-anchor="middle">{t:.0%}</text>' for t in (0, 0.5, 1)
    ]
    parts.append(f'<line x1="{x(0.5)}" y1="4" x2="{x(0.5)}" y2="44" stroke="#888" stroke-dasharray="3 3"/>')
    if entry["trials"]:
        (low, high), (boot_low, boot_high) = entry["ci95"], entry["bootstrap95"]
        parts += [
            f'<rect class="rate" x="{x(0)}" y="8" width="{entry["rate"] * span:.1f}" height="16" '
            f'fill="#3a6fd0"/>',
            f'<line x1="{x(low):.1f}" y1="16" x2="{x(high):.1f}" y2="16" stroke="#111" stroke-width="3"/>',
            f'<line x1="{x(boot_low):.1f}" y1="32" x2="{x(boot_high):.1f}" y2="32" stroke="#111"/>',
        ]
    return (
        f'<svg class="rate-plot" role="img" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
        f'viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}: {_title(entry)}</title>{''.join(parts)}</svg>"
    )


def _title(entry: dict) -> str:
    return "no answer yet" if not entry["trials"] else f"{entry['rate']:.1%} of {entry['trials']} trials"
