"""bench_charts.py - the PNG charts of a run, one per experiment.

draw_charts draws every experiment that has results (throughput, Nagle,
backlog, client x server, chat, idle memory, scaling, completion against
readiness) with matplotlib into
the run's output directory and returns which file shows which experiment,
for the report to link. Without matplotlib it says so and draws nothing.
"""

import os

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

    def grouped_bars(ax, groups, labels, series, fontsize=8, rotation=20):
        """One group of bars per entry of `groups` (ticked with `labels`),
        one bar per (legend label, value of a group) pair in `series`."""
        width = 0.8 / len(series)
        for i, (label, value) in enumerate(series):
            ax.bar([x + i * width for x in range(len(groups))], [value(g) for g in groups], width,
                   label=label)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], labels, rotation=rotation,
                      fontsize=fontsize)

    rows = [r for r in bench.results.get("throughput", []) if r["protocol"] == "shift"]
    if rows:
        servers = list(dict.fromkeys(r["server"] for r in rows))
        fig, ax = plt.subplots(figsize=(11, 4.5))
        combos = [(c, nd) for c in (1, 10, 100) for nd in (False, True)
                  if find(rows, connections=c, nodelay=nd)]
        grouped_bars(ax, servers, servers, [
            (f"{c} conn., nodelay {'on' if nd else 'off'}",
             lambda s, c=c, nd=nd: (find(rows, server=s, connections=c, nodelay=nd) or {}).get("rps", 0))
            for c, nd in combos])
        ax.set_ylabel("requests per second")
        ax.set_title("Throughput per design (shift, 64-byte requests)")
        ax.legend(fontsize=8)
        save(fig, "throughput.png", "throughput")

    rows = bench.results.get("nagle", [])
    if rows:
        fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.7), 4))
        labels = [f"{r['link']}\n{r['protocol']}\n{'split' if r['split_writes'] else 'one write'}\n"
                  f"nodelay {'on' if r['nodelay'] else 'off'}" for r in rows]
        ax.bar(range(len(rows)), [r["p50_us"] for r in rows], color="tab:orange")
        ax.set_xticks(range(len(rows)), labels, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("median round trip (us, log scale)")
        ax.set_title("Nagle x delayed ACK: one connection")
        save(fig, "nagle.png", "nagle")

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
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle("Bursts against the listen backlog")
        save(fig, "backlog.png", "backlog")

    rows = bench.results.get("clients", [])
    if rows:
        pairs = list(dict.fromkeys((r["client"], r["server"]) for r in rows))
        fig, ax = plt.subplots(figsize=(10, 4.5))
        combos = [(c, nd) for c in (1, 10) for nd in (False, True)]
        grouped_bars(ax, pairs, [f"{cl}\n-> {sv}" for cl, sv in pairs], [
            (f"{c} conn., nodelay {'on' if nd else 'off'}",
             lambda p, c=c, nd=nd: (find(rows, client=p[0], server=p[1], connections=c, nodelay=nd)
                                    or {}).get("requests", 0))
            for c, nd in combos], fontsize=7, rotation=0)
        ax.set_yscale("log")
        ax.set_ylabel("requests in the run (log scale)")
        ax.set_title("Client x server (framed, 64-byte requests)")
        ax.legend(fontsize=8)
        save(fig, "clients.png", "clients")

    rows = bench.results.get("chat", [])
    if rows:
        strategies = list(dict.fromkeys(r["broadcast"] for r in rows))
        backlogs = sorted({r["backlog"] for r in rows})
        fig, axes = plt.subplots(2, len(strategies), figsize=(4 * len(strategies), 7), squeeze=False)
        for col, strategy in enumerate(strategies):
            for backlog in backlogs:
                series = sorted((r for r in rows if r["broadcast"] == strategy and r["backlog"] == backlog),
                                key=lambda r: r["connections"])
                xs = [r["connections"] for r in series]
                axes[0][col].plot(xs, [100 * r["join_success_rate"] for r in series], marker="o",
                                  label=f"backlog {backlog}")
                axes[1][col].plot(xs, [r["rps"] for r in series], marker="o", label=f"backlog {backlog}")
            axes[0][col].set_title(strategy)
            axes[0][col].set_ylim(0, 105)
            axes[0][col].set_ylabel("% of clients in the room")
            axes[1][col].set_ylabel("deliveries per second")
            axes[1][col].set_xlabel("clients in the burst")
            axes[0][col].legend(fontsize=7)
        fig.suptitle("Chat: connection success and throughput, clients x backlog x strategy")
        save(fig, "chat.png", "chat")

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
        ax.legend(fontsize=8)
        save(fig, "idle.png", "idle")

    rows = bench.results.get("scaling", [])
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        for server in dict.fromkeys(r["server"] for r in rows):
            series = [r for r in rows if r["server"] == server]
            ax.plot([r["server_threads"] for r in series], [r["rps"] for r in series], marker="o",
                    label=server)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("server --threads")
        ax.set_ylabel("requests per second (16 connections)")
        ax.set_title("Scaling with --threads")
        ax.legend(fontsize=8)
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
            ax.legend(fontsize=8)
        fig.suptitle("Completion against readiness, pinned (16-byte requests)")
        save(fig, "completion.png", "completion")
    return charts
