# The `timeline` subcommand: draws the records of one or more `run`s (their
# JSON files) as timelines, one row per client: when it arrived, how long it
# waited for the server, how long it was served. Several runs are stacked
# on a shared time axis, so sequential, threaded and pooled servers can be
# compared in one picture. matplotlib is imported only here.
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NO_MATPLOTLIB = 2
OUTPUT_FORMATS = (".png", ".svg", ".pdf")

ARRIVAL_COLOUR = "black"
WAITING_COLOUR = "#999999"
SERVED_COLOUR = "#2b7bba"
FAILED_COLOUR = "#d62728"
WAITING_WIDTH = 1.5  # points: a thin line
SERVED_HEIGHT = 0.5  # row units: a thick bar
ARRIVAL_MARKER_SIZE = 14
ROW_INCHES = 0.35
PANEL_EXTRA_INCHES = 0.9  # title and margins of each panel
LEGEND_INCHES = 0.5  # a strip under the panels, so the legend hides no bar
TITLE_INCHES = 0.4
FIGURE_WIDTH_INCHES = 10
X_MARGIN = 0.02  # of the time span, so that markers at t=0 stay visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IN.json",
                        help="records written by run --json")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png|OUT.svg",
                        help="picture to write; the format follows the extension")
    parser.add_argument("--title", help="title of the whole figure")
    parser.add_argument("--label", action="append", default=[], metavar="LABEL",
                        help="panel title for an input, in the order of the inputs "
                             "(repeat; default: target and protocol)")


def main(args: argparse.Namespace) -> int:
    if os.path.splitext(args.output)[1].lower() not in OUTPUT_FORMATS:
        return _error("the output must end in one of %s" % ", ".join(OUTPUT_FORMATS))
    if len(args.label) > len(args.inputs):
        return _error("%d labels for %d inputs" % (len(args.label), len(args.inputs)))
    try:
        runs = [load_run(path) for path in args.inputs]
    except (OSError, ValueError, KeyError) as error:
        return _error("cannot read the records: %s" % error)
    pyplot = import_pyplot()
    if pyplot is None:
        print("timeline: matplotlib cannot be imported by %s; install python3-matplotlib "
              "(Debian/Ubuntu: apt-get install python3-matplotlib) and run with /usr/bin/python3"
              % sys.executable, file=sys.stderr)
        return EXIT_NO_MATPLOTLIB
    labels = args.label + [default_label(run) for run in runs[len(args.label):]]
    figure = draw(pyplot, runs, labels, args.title)
    figure.savefig(args.output)
    pyplot.close(figure)
    print("wrote %s" % args.output)
    return EXIT_OK


def import_pyplot():
    """matplotlib.pyplot with the headless Agg backend, or None if missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return None
    return pyplot


def load_run(path: str) -> dict:
    """Read one run's JSON; raises ValueError if it has no records."""
    with open(path, encoding="utf-8") as source:
        run = json.load(source)
    if not isinstance(run.get("records"), list):
        raise ValueError("%s has no 'records' list (is it from run --json?)" % path)
    return run


def default_label(run: dict) -> str:
    """'sequential-server, shift protocol, 3 clients': the binary's name
    without its directory, then its arguments."""
    words = str(run.get("target", "?")).split()
    words[0] = os.path.basename(words[0]) or words[0]
    return "%s, %s protocol, %d clients" % (" ".join(words), run.get("protocol", "?"),
                                            len(run["records"]))


def draw(pyplot, runs: List[dict], labels: List[str], title: Optional[str]):
    """The figure: one panel per run, stacked, sharing the time axis."""
    heights = [len(run["records"]) * ROW_INCHES + PANEL_EXTRA_INCHES for run in runs]
    total_height = sum(heights) + LEGEND_INCHES + (TITLE_INCHES if title else 0)
    figure, axes = pyplot.subplots(
        len(runs), 1, sharex=True, squeeze=False,
        figsize=(FIGURE_WIDTH_INCHES, total_height),
        gridspec_kw={"height_ratios": heights})
    for panel, run, label in zip(axes[:, 0], runs, labels):
        draw_panel(panel, run, label)
    end = max([latest_time(run) for run in runs] + [1.0])
    axes[-1, 0].set_xlim(-X_MARGIN * end, (1 + X_MARGIN) * end)
    axes[-1, 0].set_xlabel("time since the run started (s)")
    any_failed = any(not record.get("ok") for run in runs for record in run["records"])
    figure.legend(handles=legend_handles(any_failed), loc="lower center",
                  ncol=4, frameon=False, fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, LEGEND_INCHES / total_height, 1, 1))
    return figure


def latest_time(run: dict) -> float:
    """The last moment recorded in a run."""
    times = [record.get(key) for record in run["records"]
             for key in ("connect_start", "first_byte", "finished")]
    return max([time for time in times if time is not None] + [0.0])


def draw_panel(panel, run: dict, label: str) -> None:
    """One row per client, first client on top."""
    records = run["records"]
    for row, record in enumerate(records):
        draw_client(panel, row, record)
    panel.set_yticks(range(len(records)))
    panel.set_yticklabels([record["name"] for record in records])
    panel.set_ylim(len(records) - 0.4, -0.6)  # inverted: conn0 at the top
    panel.set_title(label, fontsize="medium")
    panel.grid(axis="x", linestyle=":", linewidth=0.5)


def draw_client(panel, row: int, record: dict) -> None:
    """Arrival marker, waiting line (connect_start -> first_byte), served bar
    (first_byte -> finished); a client that failed is drawn in red."""
    arrived, first, finished = record["connect_start"], record["first_byte"], record["finished"]
    if arrived is None:
        return
    bar_colour = SERVED_COLOUR if record.get("ok") else FAILED_COLOUR
    waited_until = first if first is not None else finished
    if waited_until is not None:
        panel.hlines(row, arrived, waited_until, colors=WAITING_COLOUR, linewidth=WAITING_WIDTH)
    if first is not None and finished is not None:
        panel.broken_barh([(first, finished - first)], (row - SERVED_HEIGHT / 2, SERVED_HEIGHT),
                          facecolors=bar_colour)
    panel.plot([arrived], [row], marker="|", markersize=ARRIVAL_MARKER_SIZE,
               markeredgewidth=2, color=ARRIVAL_COLOUR, zorder=3)
    if not record.get("ok") and finished is not None:
        panel.plot([finished], [row], marker="x", color=FAILED_COLOUR)


def legend_handles(any_failed: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [
        Line2D([], [], marker="|", markersize=ARRIVAL_MARKER_SIZE, markeredgewidth=2,
               linestyle="none", color=ARRIVAL_COLOUR, label="arrival (connect)"),
        Line2D([], [], color=WAITING_COLOUR, linewidth=WAITING_WIDTH,
               label="waiting for the server (connect to first byte)"),
        Patch(facecolor=SERVED_COLOUR, label="being served (first byte to close)"),
    ]
    if any_failed:
        handles.append(Patch(facecolor=FAILED_COLOUR, label="failed"))
    return handles


def _error(message: str) -> int:
    print("timeline: error: %s" % message, file=sys.stderr)
    return EXIT_ERROR
