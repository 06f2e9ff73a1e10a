# The `timeline` subcommand: draws the records of one or more `run`s (their
# JSON files) as timelines, one row per client: when it arrived, how long it
# waited for the server, how long it was served, and inside that, each
# request (each write of the client that asks for a reply): a tick when it
# was sent and a line to the moment its last reply byte arrived. A request
# that waited behind another client's work, or a reply held back by Nagle's
# algorithm and a delayed ACK, shows as a long line. Several runs are
# stacked on a shared time axis, so sequential, threaded and pooled servers
# can be compared in one picture. matplotlib is imported only here.
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional, Tuple

import sim_protocols

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NO_MATPLOTLIB = 2
OUTPUT_FORMATS = (".png", ".svg", ".pdf")

ARRIVAL_COLOUR = "black"
WAITING_COLOUR = "#999999"
SERVED_COLOUR = "#2b7bba"
FAILED_COLOUR = "#d62728"
REQUEST_COLOUR = "#ffb000"  # amber: stands out on the blue bar and on white
REPLY_WAIT_COLOUR = "#1a1a1a"
WAITING_WIDTH = 1.5  # points: a thin line
REPLY_WAIT_WIDTH = 1.2
SERVED_HEIGHT = 0.5  # row units: a thick bar
REQUEST_TICK_HEIGHT = 0.8  # of the bar's height
ARRIVAL_MARKER_SIZE = 14
ROW_INCHES = 0.35
PANEL_EXTRA_INCHES = 0.9  # title and margins of each panel
LEGEND_INCHES = 0.35  # a strip under the panels, so the legend hides no bar
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
    # The axis fits the runs; a floor keeps a run that took no time drawable.
    end = max([latest_time(run) for run in runs] + [0.01])
    axes[-1, 0].set_xlim(-X_MARGIN * end, (1 + X_MARGIN) * end)
    axes[-1, 0].set_xlabel("time since the run started (s)")
    any_failed = any(not record.get("ok") for run in runs for record in run["records"])
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, LEGEND_INCHES / total_height, 1, 1))
    # The legend goes in the strip tight_layout left free, its top at the
    # strip's top: right under the time axis's label, with no gap between.
    figure.legend(handles=legend_handles(any_failed), loc="upper center",
                  bbox_to_anchor=(0.5, LEGEND_INCHES / total_height), ncol=5, frameon=False,
                  fontsize="small", handlelength=1.5, columnspacing=1.2)
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
        draw_requests(panel, row, request_spans(record, run.get("protocol", "")))
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


def request_spans(record: dict, protocol: str) -> List[Tuple[float, Optional[float]]]:
    """For each send that asks for a reply: when it was sent, and when the
    last byte of its reply arrived (None if it never did). The protocol's
    reference model says how many reply bytes each send asks for, so the
    reply bytes are matched to the sends in order, however the stream was
    split; a send that asks for nothing (bytes outside a shift message) is
    not a request. Records of an unknown protocol have none."""
    if protocol not in sim_protocols.MODELS:
        return []
    model = sim_protocols.new_model(protocol)
    owed = len(model.greeting)  # reply bytes due once every send so far is answered
    received = 0
    pending: List[list] = []  # [sent at, bytes due when answered, answered at]
    for event in record.get("events", []):
        data = str(event["data"]).encode("latin-1")
        if event["dir"] == "send":
            wanted = len(model.feed(data))
            if wanted:
                owed += wanted
                pending.append([event["t"], owed, None])
        else:
            received += len(data)
            for span in pending:
                if span[2] is None and span[1] <= received:
                    span[2] = event["t"]
    return [(sent, answered) for sent, _, answered in pending]


def draw_requests(panel, row: int, spans: List[Tuple[float, Optional[float]]]) -> None:
    """An amber tick across the bar where each request was sent, and a dark
    line from there to its last reply byte (or to nothing, if unanswered)."""
    half = SERVED_HEIGHT * REQUEST_TICK_HEIGHT / 2
    for sent, answered in spans:
        if answered is not None and answered > sent:
            panel.hlines(row, sent, answered, colors=REPLY_WAIT_COLOUR,
                         linewidth=REPLY_WAIT_WIDTH, zorder=2)
        panel.vlines(sent, row - half, row + half, colors=REQUEST_COLOUR, linewidth=1.5, zorder=2)


def legend_handles(any_failed: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [
        Line2D([], [], marker="|", markersize=ARRIVAL_MARKER_SIZE, markeredgewidth=2,
               linestyle="none", color=ARRIVAL_COLOUR, label="arrival (connect)"),
        Line2D([], [], color=WAITING_COLOUR, linewidth=WAITING_WIDTH,
               label="waiting for the server (connect to first byte)"),
        Patch(facecolor=SERVED_COLOUR, label="being served (first byte to close)"),
        Line2D([], [], marker="|", markersize=8, markeredgewidth=1.5, linestyle="none",
               color=REQUEST_COLOUR, label="request sent"),
        Line2D([], [], color=REPLY_WAIT_COLOUR, linewidth=REPLY_WAIT_WIDTH,
               label="until its last reply byte"),
    ]
    if any_failed:
        handles.append(Patch(facecolor=FAILED_COLOUR, label="failed"))
    return handles


def _error(message: str) -> int:
    print("timeline: error: %s" % message, file=sys.stderr)
    return EXIT_ERROR
