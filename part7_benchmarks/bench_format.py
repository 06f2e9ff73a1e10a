"""bench_format.py - the small pure helpers the rest of the runner shares.

How numbers and ratios are printed (format_number, format_ratio), Markdown
tables (markdown_table), looking one row up in a list of results (find), and
log(), the runner's one line on stderr per event. The report, the goals, the
charts and the experiments all use them; none of them runs anything.
"""

import sys


def format_ratio(value, baseline):
    """'x2.50' for value/baseline ('x0.0028' for tiny ratios, 'x250' for
    large ones); 'n/a' when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return "n/a"
    ratio = value / baseline
    if ratio == 0:
        return "x0"
    if ratio < 0.1:
        return f"x{ratio:.2g}"
    return f"x{ratio:.2f}" if ratio < 100 else f"x{ratio:.0f}"


def format_number(value, digits=3):
    """A compact human number: 12345.6 -> '12346', 0.01234 -> '0.0123'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def markdown_table(rows, columns):
    """A Markdown table. columns: list of (header, key or function of row)."""
    lines = ["| " + " | ".join(h for h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for _, key in columns:
            value = key(row) if callable(key) else row.get(key)
            cells.append(value if isinstance(value, str) else format_number(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find(rows, **where):
    """The first row whose fields equal every keyword given, or None."""
    return next((r for r in rows if all(r.get(k) == v for k, v in where.items())), None)


def log(text):
    """One progress line on stderr, prefixed "bench:"."""
    print(f"bench: {text}", file=sys.stderr, flush=True)
