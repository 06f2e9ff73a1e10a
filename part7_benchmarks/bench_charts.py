"""bench_charts.py - the PNG charts of a run, one per experiment.

draw_charts draws every experiment that has results (throughput, Nagle,
backlog, client x server, chat, idle memory, scaling, completion against
readiness, CPU-heavy requests) with matplotlib into
the run's output directory and returns which file shows which experiment,
for the report to link. Without matplotlib it says so and draws nothing.
throughput_figure, nagle_figure, clients_figure, chat_figure and
work_figure draw their charts and return them unsaved, so that the tests
can read their axes; every legend stands beside or below its panels, never
over their data.
"""

import os

from bench_experiments import CHAT_GENERATOR_BUSY, chat_peak, fewest_served, generator_busy, work_ceiling
from bench_format import find, log


def draw_charts(bench):
    """One PNG per experiment; returns {experiment: file name}."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing: no charts (apt-get install python3-matplotlib)")
        return {}
    charts = {}

    def save(fig, name, experiment):
        fig.tight_layout()
        fig.savefig(os.path.join(bench.out_dir, name), dpi=110)
        plt.close(fig)
        charts[experiment] = name

    rows = [r for r in bench.results.get("throughput", []) if r["protocol"] == "shift"]
    if rows:
        save(throughput_figure(plt, rows), "throughput.png", "throughput")

    rows = bench.results.get("nagle", [])
    if rows:
        save(nagle_figure(plt, rows), "nagle.png", "nagle")

    rows = bench.results.get("backlog", [])
    if rows:
        servers = list(dict.fromkeys(r["server"] for r in rows))
        backlogs = sorted({r["backlog"] for r in rows})
        bursts = sorted({r["connections"] for r in rows})
        fig, axes = plt.subplots(len(backlogs), 1, figsize=(10, 3.2 * len(backlogs)), squeeze=False)
        for row, backlog in enumerate(backlogs):
            ax = axes[row][0]
            grouped_bars(ax, servers, servers, [
                (f"burst of {clients}",
                 lambda s, b=backlog, n=clients: 100 * (find(rows, server=s, backlog=b, connections=n)
                                                        or {}).get("success_rate", 0))
                for clients in bursts])
            ax.set_ylim(0, 105)
            ax.set_ylabel("% served in time")
            ax.set_title(f"--backlog {backlog}", fontsize=10)
            legend_outside(ax)
        fig.suptitle("Bursts against the listen backlog")
        save(fig, "backlog.png", "backlog")

    rows = bench.results.get("clients", [])
    if rows:
        save(clients_figure(plt, rows), "clients.png", "clients")

    rows = bench.results.get("chat", [])
    if rows:
        save(chat_figure(plt, rows), "chat.png", "chat")

    rows = bench.results.get("idle", [])
    if rows:
        servers = list(dict.fromkeys(r["server"] for r in rows))
        counts = sorted({r["connections"] for r in rows})
        fig, ax = plt.subplots(figsize=(10, 4.5))
        grouped_bars(ax, servers, servers, [
            (f"{count:,} idle connections",
             lambda s, n=count: (find(rows, server=s, connections=n) or {}).get("kib_per_connection") or 0)
            for count in counts])
        ax.set_ylabel("server RSS per idle connection (KiB)")
        ax.set_title("Memory per idle connection")
        legend_outside(ax)
        save(fig, "idle.png", "idle")

    rows = bench.results.get("scaling", [])
    if rows:
        from matplotlib.lines import Line2D
        fig, ax = plt.subplots(figsize=(9, 4))
        for server in dict.fromkeys(r["server"] for r in rows):
            series = [r for r in rows if r["server"] == server]
            line, = ax.plot([r["server_threads"] for r in series], [r["rps"] for r in series],
                            marker="o", label=server)
            partial = [r for r in series if "connections" in r and fewest_served(r) is not None]
            if partial:
                ax.plot([r["server_threads"] for r in partial], [r["rps"] for r in partial],
                        linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                        markeredgecolor=line.get_color(), markeredgewidth=1.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("server --threads")
        ax.set_ylabel("requests per second (16 connections)")
        ax.set_title("Scaling with --threads")
        legend_outside(ax, [Line2D([], [], linestyle="none", marker="o", markersize=9,
                                   markerfacecolor="white", markeredgecolor="0.3",
                                   markeredgewidth=1.5,
                                   label="hollow: served only some of\nthe 16 connections")])
        save(fig, "scaling.png", "scaling")

    rows = bench.results.get("completion", [])
    if rows:
        servers = list(dict.fromkeys(r["server"] for r in rows))
        points = list(dict.fromkeys((r["protocol"], r["connections"]) for r in rows))
        labels = [f"{protocol}\n{connections} conn." for protocol, connections in points]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, key, ylabel in ((axes[0], "rps", "requests per second (median round)"),
                                (axes[1], "server_cpu_per_10k_median_s",
                                 "server CPU s per 10,000 requests (median)")):
            grouped_bars(ax, points, labels, [
                (server, lambda p, s=server, k=key: (find(rows, server=s, protocol=p[0], connections=p[1])
                                                     or {}).get(k) or 0)
                for server in servers], rotation=0)
            ax.set_ylabel(ylabel, fontsize=9)
        legend_outside(axes[1])
        fig.suptitle("Completion against readiness, pinned (16-byte requests)")
        save(fig, "completion.png", "completion")

    rows = bench.results.get("work", [])
    if rows:
        save(work_figure(plt, rows), "work.png", "work")
    return charts


def grouped_bars(ax, groups, labels, series, fontsize=8, rotation=20, partial=None):
    """One group of bars per entry of `groups` (ticked with `labels`),
    one bar per (legend label, value of a group) pair in `series`. With
    `partial(series index, group)` true, that bar is hatched: a server
    that served only some of its connections (its rate compares with
    nothing)."""
    width = 0.8 / len(series)
    for i, (label, value) in enumerate(series):
        bars = ax.bar([x + i * width for x in range(len(groups))], [value(g) for g in groups],
                      width, label=label)
        if partial is not None:
            for bar, group in zip(bars, groups):
                if partial(i, group):
                    bar.set_hatch("////")
                    bar.set_edgecolor("black")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], labels, rotation=rotation,
                  fontsize=fontsize)


def legend_outside(ax, extra=()):
    """The legend to the right of the panel, where it covers no bar."""
    handles, labels = ax.get_legend_handles_labels()
    for handle in extra:
        handles.append(handle)
        labels.append(handle.get_label())
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def hatched_handle():
    """The legend entry of grouped_bars' hatched bars."""
    from matplotlib.patches import Patch
    return Patch(facecolor="white", edgecolor="black", hatch="////",
                 label="hatched: served only some of\nits connections (not comparable)")


def throughput_figure(plt, rows):
    """Experiment 1's chart, returned unsaved: requests per second per
    server, one bar per connection count and nodelay setting; a bar whose
    server served only some of its connections is hatched, and the legend
    stands right of the panel."""
    servers = list(dict.fromkeys(r["server"] for r in rows))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    combos = [(c, nd) for c in (1, 10, 100) for nd in (False, True)
              if find(rows, connections=c, nodelay=nd)]

    def cell(s, c, nd):
        return find(rows, server=s, connections=c, nodelay=nd) or {}

    def partial(i, s):
        c, nd = combos[i]
        row = cell(s, c, nd)
        return bool(row) and fewest_served(row) is not None

    grouped_bars(ax, servers, servers, [
        (f"{c} conn., nodelay {'on' if nd else 'off'}",
         lambda s, c=c, nd=nd: cell(s, c, nd).get("rps", 0))
        for c, nd in combos], partial=partial)
    ax.set_ylabel("requests per second")
    ax.set_title("Throughput per design (shift, 64-byte requests, median of the rounds)")
    legend_outside(ax, [hatched_handle()])
    return fig


def nagle_figure(plt, rows):
    """Experiment 2's chart, returned unsaved: the median round trip of one
    connection on a log axis, one group per link and protocol, one colour
    per way of writing a request (one write or two, nodelay off or on)."""
    # Groups: link x protocol; bars: the four ways to write a request,
    # each its own colour, so the one stalled bar per group stands out.
    groups = list(dict.fromkeys((r["link"], r["protocol"]) for r in rows))
    ways = [(split, nodelay) for split in (False, True) for nodelay in (False, True)]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    grouped_bars(ax, groups, [f"{link}, {protocol}" for link, protocol in groups], [
        (f"{'two writes' if split else 'one write'}, nodelay {'on' if nodelay else 'off'}",
         lambda g, split=split, nodelay=nodelay: (find(rows, link=g[0], protocol=g[1],
                                                       split_writes=split, nodelay=nodelay)
                                                  or {}).get("p50_us") or 0)
        for split, nodelay in ways], fontsize=9, rotation=0)
    label_log_y(ax)
    ax.set_ylabel("median round trip, us (log scale)")
    ax.set_title("Nagle x delayed ACK: one connection, 64-byte requests")
    legend_outside(ax)
    return fig


def clients_figure(plt, rows):
    """The client x server chart (experiment 1's second part), returned
    unsaved: requests per second of every client -> server pair, one panel
    per connection count, one bar per nodelay setting. The bars lie horizontal, so each pair's label reads
    on one line, and carry their values; both panels share one linear
    axis, so that 1 and 10 connections compare at a glance."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    pairs = list(dict.fromkeys((r["client"], r["server"]) for r in rows))
    counts = sorted({r["connections"] for r in rows})
    settings = (False, True)
    fig, axes = plt.subplots(1, len(counts), figsize=(11, 1.2 + 0.55 * len(pairs)),
                             sharex=True, sharey=True, squeeze=False)
    height = 0.8 / len(settings)
    for ax, count in zip(axes[0], counts):
        for i, nodelay in enumerate(settings):
            values = [(find(rows, client=c, server=s, connections=count, nodelay=nodelay)
                       or {}).get("rps") or 0 for c, s in pairs]
            # The first pair on top: rows count down from len(pairs) - 1.
            places = [len(pairs) - 1 - y + 0.4 - (i + 0.5) * height for y in range(len(pairs))]
            bars = ax.barh(places, values, height, label=f"nodelay {'on' if nodelay else 'off'}",
                           color=f"C{i}")
            ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=2, fontsize=7)
        ax.set_title(f"{count} connection{'s' if count != 1 else ''}", fontsize=10)
        ax.set_xlabel("requests per second")
        ax.grid(True, axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # wide labels: few of them
        ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
    axes[0][0].set_yticks(range(len(pairs)),
                          [f"{c} -> {s}" for c, s in reversed(pairs)], fontsize=8)
    # Room right of the longest bar for its value label.
    right = max((r.get("rps") or 0) for r in rows)
    axes[0][0].set_xlim(0, right * 1.18 if right > 0 else 1)
    legend_outside(axes[0][-1])
    fig.suptitle("Client x server (framed, 64-byte requests)")
    return fig


def plain_number(value, _=None):
    """A tick label in plain numbers: 20,000 rather than 2x10^4."""
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def label_log_y(ax):
    """A logarithmic y axis with ticks at 1, 2 and 5 of every decade,
    labelled in plain numbers, and a grid on them."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=40))
    ax.yaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", alpha=0.3)


def chat_figure(plt, rows):
    """The chat grid's chart, returned unsaved: one column per broadcast
    strategy; the share of the burst that got into the room (top row), the
    deliveries per second (second row) and the p99 delivery latency (third
    row) against the clients of the burst, one line per listen backlog. The
    panels of a row share their y axis, so that the strategies compare at a
    glance.

    Throughput and latency are on logarithmic axes (a small backlog keeps
    most of a burst out, and its room delivers a fraction of a full one's)
    with ticks at 1, 2 and 5 of every decade, labelled in plain numbers. A
    star marks each line's peak (chat_peak); a hollow marker, a cell where
    loadgen was busy for CHAT_GENERATOR_BUSY of the window or more
    (generator_busy), so that its rate may be the generator's limit. A
    cell whose room never formed has no throughput or latency to show. The
    legend has a row of its own below the panels, so that it covers no
    data."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    strategies = list(dict.fromkeys(r["broadcast"] for r in rows))
    backlogs = sorted({r["backlog"] for r in rows})
    clients = sorted({r["connections"] for r in rows})
    fig = plt.figure(figsize=(max(9.0, 4.2 * len(strategies)), 11.0))
    grid = fig.add_gridspec(4, len(strategies), height_ratios=(0.8, 1, 1, 0.25))
    panels = [[], [], []]
    for row in range(3):
        for col in range(len(strategies)):
            panels[row].append(fig.add_subplot(grid[row, col], sharey=panels[row][0] if col else None))

    colours = plt.get_cmap("tab10").colors
    handles = []
    for i, backlog in enumerate(backlogs):
        style = {"color": colours[i % len(colours)], "marker": "o", "markersize": 5, "linewidth": 1.4}
        for col, strategy in enumerate(strategies):
            cells = sorted((r for r in rows if r["broadcast"] == strategy and r["backlog"] == backlog),
                           key=lambda r: r["connections"])
            panels[0][col].plot([r["connections"] for r in cells],
                                [100 * r["join_success_rate"] for r in cells], **style)
            chatted = [r for r in cells if r.get("joined") and r["rps"] > 0]
            for row, value in ((1, lambda r: r["rps"]), (2, lambda r: r["p99_us"] / 1000)):
                shown = [r for r in chatted if value(r) > 0]
                ax = panels[row][col]
                ax.plot([r["connections"] for r in shown], [value(r) for r in shown], **style)
                busy = [r for r in shown if (generator_busy(r) or 0) >= CHAT_GENERATOR_BUSY]
                if busy:
                    ax.plot([r["connections"] for r in busy], [value(r) for r in busy], linestyle="none",
                            marker="o", markersize=8, markerfacecolor="white",
                            markeredgecolor=style["color"], markeredgewidth=1.5)
            peak = chat_peak(cells)
            if peak is not None and peak["rps"] > 0:
                panels[1][col].plot([peak["clients"]], [peak["rps"]], linestyle="none", marker="*",
                                    markersize=14, color=style["color"], markeredgecolor="black",
                                    markeredgewidth=0.6)
        handles.append(Line2D([], [], label=f"backlog {backlog}", **style))
    handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12, color="0.5",
                          markeredgecolor="black", markeredgewidth=0.6, label="peak of the line"))
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=8, markerfacecolor="white",
                          markeredgecolor="0.3", markeredgewidth=1.5,
                          label=f"hollow: loadgen busy >= {CHAT_GENERATOR_BUSY:.0%} of the window"))

    ylabels = ("% of the burst in the room", "deliveries per second (log scale)",
               "p99 delivery latency, ms (log scale)")
    for row, ylabel in enumerate(ylabels):
        for col, strategy in enumerate(strategies):
            ax = panels[row][col]
            ax.xaxis.set_major_locator(FixedLocator(clients))
            ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.tick_params(axis="x", labelsize=8)
            ax.set_xlim(0, max(clients) * 1.06)
            if row == 0:
                ax.set_ylim(0, 105)
                ax.grid(True, alpha=0.3)
                ax.set_title(strategy, fontsize=10)
            else:
                label_log_y(ax)
            if row == 2:
                ax.set_xlabel("clients in the burst", fontsize=9)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=9)
    legend_row = fig.add_subplot(grid[3, :])
    legend_row.axis("off")
    legend_row.legend(handles=handles, loc="center", ncol=min(len(handles), 5), fontsize=8, frameon=False)
    fig.suptitle("Chat at saturation: room size, throughput and p99 latency, clients x backlog x strategy "
                 "(every client sends in a closed loop)")
    return fig


def work_figure(plt, rows):
    """The work experiment's chart, returned unsaved: requests per second
    (top row) and p99 round trip (middle row) against --work-us, one column
    per connection count, one line per server, the panels of a row sharing
    their y axis so that the columns compare at a glance.

    --work-us runs from 0, which a log axis cannot show, so the x axis is
    symmetric-log: linear from 0 to 10, logarithmic above, and 0, 10, 100
    and 1,000 equally spaced and labelled. Both y axes are logarithmic with
    ticks at 1, 2 and 5 of every decade, labelled in plain numbers. A
    hollow marker is a point where the server did not serve every
    connection (fewest_served); the dashed line is the ceiling the work
    alone sets (work_ceiling). The legend has a row of its own below the
    panels, so that it covers no data."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    connections = sorted({r["connections"] for r in rows})
    works = sorted({r["work_us"] for r in rows})
    servers = list(dict.fromkeys(r["server"] for r in rows))
    cpus = next((r["cpus"] for r in rows if r.get("cpus")), None)
    fig = plt.figure(figsize=(max(9.0, 5.0 * len(connections)), 10.5))
    grid = fig.add_gridspec(3, len(connections), height_ratios=(1, 1, 0.45))
    panels = [[], []]
    for row in range(2):
        for col in range(len(connections)):
            panels[row].append(fig.add_subplot(grid[row, col], sharey=panels[row][0] if col else None))

    # Twelve servers need twelve colours a reader can tell apart: tab20's
    # strong colours first, then its light ones, and a marker each besides.
    colours = plt.get_cmap("tab20").colors
    palette = colours[0::2] + colours[1::2]
    markers = "osD^vP*Xh<>p"
    handles = []
    for i, server in enumerate(servers):
        style = {"color": palette[i % len(palette)], "marker": markers[i % len(markers)],
                 "markersize": 5, "linewidth": 1.4}
        for col, count in enumerate(connections):
            points = sorted((r for r in rows if r["server"] == server and r["connections"] == count),
                            key=lambda r: r["work_us"])
            for row, key in ((0, "rps"), (1, "p99_median_us")):
                # A log axis cannot show 0 (a server that answered nothing).
                shown = [r for r in points if r.get(key)]
                panels[row][col].plot([r["work_us"] for r in shown], [r[key] for r in shown], **style)
                starved = [r for r in shown if fewest_served(r) is not None]
                if starved:
                    panels[row][col].plot([r["work_us"] for r in starved],
                                          [r[key] for r in starved], linestyle="none",
                                          marker=style["marker"], markersize=8, markerfacecolor="white",
                                          markeredgecolor=style["color"], markeredgewidth=1.5)
        handles.append(Line2D([], [], label=server, **style))

    heavy = [w for w in works if work_ceiling(w, cpus) is not None]
    for ax in panels[0]:
        if heavy:
            ax.plot(heavy, [work_ceiling(w, cpus) for w in heavy], color="black", linestyle="--",
                    linewidth=1)
    if heavy:
        handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1,
                              label=f"ceiling: {cpus} CPUs doing only the work"))
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=8, markerfacecolor="white",
                          markeredgecolor="0.3", markeredgewidth=1.5,
                          label="hollow: served only some of its connections"))

    for row, ylabel in ((0, "requests per second (log scale)"), (1, "p99 round trip, us (log scale)")):
        for col, count in enumerate(connections):
            ax = panels[row][col]
            ax.set_xscale("symlog", linthresh=10, linscale=1)
            ax.set_xlim(-3, max(max(works), 10) * 1.6)
            ax.xaxis.set_major_locator(FixedLocator(works))
            ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
            ax.xaxis.set_minor_locator(NullLocator())
            label_log_y(ax)
            ax.set_xlabel("--work-us: CPU microseconds per request", fontsize=9)
            if row == 0:
                ax.set_title(f"{count} connections", fontsize=10)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=9)
    legend_row = fig.add_subplot(grid[2, :])
    legend_row.axis("off")
    legend_row.legend(handles=handles, loc="center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("CPU-heavy requests: requests per second and p99 against --work-us "
                 "(shift, 64-byte requests, not pinned)")
    return fig
