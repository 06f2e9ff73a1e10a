"""bench_report.py - what a run writes besides its charts.

report_text is report.md: the machine's facts, the servers skipped, and one
section per experiment with its notes, its table, every ratio against a
baseline from the same run, its chart, and the performance goals' verdicts.
It is pure: everything it says comes in as arguments. write_csvs writes one
CSV per experiment from the run's rows.
"""

import csv
import os

from bench_format import find, format_number, format_ratio, markdown_table
from bench_goals import (GOAL_PUBLISHED, burst_counted, completion_idle, completion_pairs, paired_range,
                         evaluate_goals, percore_shapes, percore_subject, published_figure, served_all)
from bench_experiments import (CHAT_COLLAPSE_SHARE, CHAT_FLAT_SHARE, CHAT_GENERATOR_BUSY, chat_peak,
                               fewest_served, generator_busy, work_ceiling)
from bench_registry import BASELINE_SERVER, COMPLETION_SERVERS, LIMITED_KINDS, PERCORE_BASELINE


def write_csvs(bench):
    for experiment, rows in bench.results.items():
        keys = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        with open(os.path.join(bench.out_dir, f"{experiment}.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)


def report_text(facts, bench_results, notes, skipped, charts, started, elapsed, quick, command):
    """The Markdown report (pure: everything it says comes in as arguments)."""
    out = [f"# Benchmark report ({'quick' if quick else 'full'} run)", "",
           f"Started {started} UTC, took {elapsed:.0f} s. Command: `{command}`.", "",
           "Numbers from one run on one machine; a shared or virtual machine makes them noisy. "
           "Every ratio below is against a baseline measured in this same run.", "",
           "## Machine", "", markdown_table([{"k": k, "v": v} for k, v in facts.items()],
                                            [("fact", "k"), ("value", "v")]), ""]
    if skipped:
        out += ["## Servers skipped", ""]
        out += [f"- {s.name} (part {s.chapter}, {s.kind}): {reason}" for s, reason in skipped]
        out.append("")

    def section(title, experiment, body, has_results=False):
        rows = bench_results.get(experiment, [])
        out.extend([f"## {title}", ""])
        for line in notes.get(experiment, []):
            out.append(f"- {line}")
        if notes.get(experiment):
            out.append("")
        if not rows and not has_results:
            out.extend(["No results.", ""])
            return
        out.extend([body(rows), ""])
        if experiment in charts:
            out.extend([f"![{title}]({charts[experiment]})", ""])

    def throughput_body(rows):
        text = []
        for protocol in dict.fromkeys(r["protocol"] for r in rows):
            base = find(rows, server=BASELINE_SERVER, protocol=protocol, connections=1, nodelay=False)
            base_rps = base["rps"] if base else None
            text.append(f"Protocol {protocol}; ratio against {BASELINE_SERVER}, 1 connection, "
                        f"nodelay off ({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table([r for r in rows if r["protocol"] == protocol], [
                ("server", "server"), ("kind", "kind"), ("conns", "connections"),
                ("nodelay", "nodelay"), ("requests/s", "rps"),
                ("lowest, highest", lambda r: "n/a" if "rps_min" not in r else
                 f"{format_number(r['rps_min'])}, {format_number(r['rps_max'])}"),
                ("vs baseline", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("max us", "max_us"),
                ("served conns", "connections_served"), ("errors", "errors"),
                ("server CPU s /10k req", "server_cpu_per_10k_s"),
                ("loadgen CPU s", "loadgen_cpu_s")]))
            text.append("")
        return "\n".join(text)

    def nagle_body(rows):
        text = []
        for link in dict.fromkeys(r["link"] for r in rows):
            group = [r for r in rows if r["link"] == link]
            base = find(group, protocol="shift", split_writes=False, nodelay=False)
            base_rps = base["rps"] if base else None
            text.append(f"{link}: ratio against one write, nodelay off, shift, on the same link "
                        f"({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table(group, [
                ("link", "link"), ("protocol", "protocol"),
                ("writes", lambda r: "split" if r["split_writes"] else "one"),
                ("nodelay", "nodelay"), ("requests/s", "rps"),
                ("vs baseline", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("errors", "errors")]))
            text.append("")
        return "\n".join(text)

    def backlog_body(rows):
        return markdown_table(rows, [
            ("server", "server"), ("backlog", "backlog"), ("clients", "connections"),
            ("served", "served"), ("% served", lambda r: f"{100 * r['success_rate']:.1f}"),
            ("refused", "refused"), ("timed out", "timed_out"), ("errors", "errors"),
            ("p50 s to serve", lambda r: format_number(r["p50_us"] / 1e6)),
            ("max s to serve", lambda r: format_number(r["max_us"] / 1e6))])

    def clients_body(rows):
        base = find(rows, client=rows[0]["client"], server=rows[0]["server"], connections=1, nodelay=False)
        base_n = base["requests"] if base else None
        return (f"Ratio against {rows[0]['client']} -> {rows[0]['server']}, 1 connection, nodelay off "
                f"({format_number(base_n)} requests).\n\n" + markdown_table(rows, [
                    ("client", "client"), ("server", "server"), ("conns", "connections"),
                    ("nodelay", "nodelay"), ("requests", "requests"), ("seconds", "seconds"),
                    ("requests/s", "rps"),
                    ("vs baseline", lambda r, b=base_n: format_ratio(r["requests"], b)),
                    ("errors", "errors"), ("server CPU s", "server_cpu_s")]))

    verdicts = evaluate_goals(bench_results)

    def goals_body(rows):
        met = sum(1 for v in verdicts if v["met"])
        text = [f"{met} of {len(verdicts)} checks met.\n",
                markdown_table(verdicts, [
                    ("goal", "goal"), ("subject", "subject"), ("measured", "measured"),
                    ("met", lambda v: "n/a" if v["met"] is None else ("yes" if v["met"] else "**no**"))]),
                ""]
        if not rows:
            # A run of some experiments only (--only) checks the goals of
            # those it ran.
            text.append("The first goal's round trips were not measured in this run (experiment goals).")
            return "\n".join(text)
        text.extend(["The round trips behind the first goal:\n",
                     markdown_table(rows, [
                         ("server", "server"), ("protocol", "protocol"), ("bytes", "size"),
                         ("requests/s", "rps"), ("p50 us", "p50_us"), ("p99 us", "p99_us"),
                         ("errors", "errors")])])
        return "\n".join(text)

    def idle_body(rows):
        return markdown_table(rows, [
            ("server", "server"), ("kind", "kind"), ("connections", "connections"),
            ("held", "held"), ("greeted", "ready"), ("RSS before KiB", "rss_kib_before"), ("RSS KiB", "rss_kib"),
            ("KiB / conn", "kib_per_connection"), ("threads before", "threads_before"),
            ("threads", "threads"), ("threads / conn", "threads_per_connection")])

    def scaling_body(rows):
        text = []
        cpu_rows = [r for r in bench_results.get("throughput", [])
                    if r["protocol"] == "shift" and r["connections"] == 10 and not r["nodelay"]]
        if cpu_rows:
            text.append("CPU time (user + sys) per 10,000 requests, per design: shift, 10 "
                        "connections, nodelay off, from experiment 1.\n")
            text.append(markdown_table(cpu_rows, [
                ("server", "server"), ("kind", "kind"), ("requests/s", "rps"),
                ("server CPU s /10k req", "server_cpu_per_10k_s"),
                ("loadgen CPU s", "loadgen_cpu_s")]))
            text.append("")
        for server in dict.fromkeys(r["server"] for r in rows):
            group = [r for r in rows if r["server"] == server]
            base = find(group, server_threads=1)
            base_rps = base["rps"] if base else None
            text.append(f"{server}; ratio against --threads 1 ({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table(group, [
                ("--threads", "server_threads"), ("requests/s", "rps"),
                ("vs 1 thread", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("served conns", "connections_served"),
                ("server CPU s /10k req", "server_cpu_per_10k_s")]))
            text.append("")
        return "\n".join(text)

    def completion_body(rows):
        base_name, name = COMPLETION_SERVERS
        points = [{"protocol": protocol, "connections": connections,
                   "base_rps": (base or {}).get("rps"), "rps": (mine or {}).get("rps"),
                   "base_cpu": (base or {}).get("server_cpu_per_10k_median_s"),
                   "cpu": (mine or {}).get("server_cpu_per_10k_median_s"), "paired": mine or {}}
                  for protocol, connections, base, mine in completion_pairs(rows)]
        text = [f"requests/s: the round with the median rate; CPU: server CPU seconds (user + sys) per "
                f"10,000 requests, the median over the rounds; each ratio is {name} over {base_name} "
                "at the same point; rounds' ratios: each round's over the same round's, the median and "
                "the range (the goals are judged on these medians).\n",
                markdown_table(points, [
                    ("protocol", "protocol"), ("connections", "connections"),
                    ("epoll req/s", "base_rps"), ("completion req/s", "rps"),
                    ("ratio completion/epoll", lambda p: format_ratio(p["rps"], p["base_rps"])),
                    ("rounds' ratios: median (range)", lambda p: paired_range(p["paired"]) or ""),
                    ("epoll CPU s/10k", "base_cpu"), ("completion CPU s/10k", "cpu"),
                    ("CPU ratio", lambda p: format_ratio(p["cpu"], p["base_cpu"])),
                    ("rounds' CPU ratios: median", lambda p: format_ratio(p["paired"].get("cpu_ratio_paired"), 1.0))]),
                ""]
        idle = completion_idle(bench_results.get("completion_idle", []))
        if not idle:
            text.append("Idle memory: no results.")
        else:
            count, base_kib, mine_kib = idle
            difference = (None if base_kib is None or mine_kib is None else
                          f"{'+' if mine_kib >= base_kib else ''}{format_number(mine_kib - base_kib)}")
            text.append(f"Idle memory, {count} idle connections: {base_name} "
                        f"{format_number(base_kib)} KiB per connection, {name} "
                        f"{format_number(mine_kib)} KiB per connection, difference "
                        f"{difference or 'n/a'} KiB ({name} minus {base_name}).")
        return "\n".join(text)

    def percore_body(rows):
        return "\n".join(percore_text(rows))

    def published_body(rows):
        return "\n".join(published_text(rows))

    section("Performance goals", "goals", goals_body, has_results=bool(verdicts))
    section("1a. Throughput per design", "throughput", throughput_body)
    section("1b. Client x server: requests per run", "clients", clients_body)
    section("2. Nagle's algorithm and delayed ACKs", "nagle", nagle_body)
    section("3a. Listen backlog under bursts", "backlog", backlog_body)
    section("3b. Chat: clients x backlog x broadcast strategy, saturated", "chat",
            lambda rows: "\n".join(chat_text(rows)))
    section("3c. A burst against every server's default settings", "burst",
            lambda rows: "\n".join(burst_text(rows)))
    section("4. Memory and threads per idle connection", "idle", idle_body)
    section("4b. One active client beside idle ones", "idle_latency",
            lambda rows: "\n".join(idle_latency_text(rows)))
    section("5. Scaling the pool, and CPU per request", "scaling", scaling_body)
    section("6. Completion against readiness (pinned)", "completion", completion_body)
    section("7a. Per-core efficiency (pinned)", "percore", percore_body)
    section("7b. Requests in 10 seconds, against the published benchmark", "percore_published",
            published_body)
    section("8. CPU-heavy requests (--work-us)", "work", lambda rows: "\n".join(work_text(rows)))
    out.append("Raw results: results.jsonl (one loadgen result per line) and one CSV per experiment.")
    return "\n".join(out) + "\n"


def chat_peaks(rows):
    """The chat grid's peaks: one chat_peak per strategy and backlog, in
    the order measured, each with its strategy and backlog; a pair whose
    room never formed is left out."""
    found = []
    for strategy, backlog in dict.fromkeys((r["broadcast"], r["backlog"]) for r in rows):
        peak = chat_peak([r for r in rows if r["broadcast"] == strategy and r["backlog"] == backlog])
        if peak is not None:
            found.append({"broadcast": strategy, "backlog": backlog, **peak})
    return found


def chat_text(rows):
    """The chat grid's tables (the lines of the report's section): where
    each strategy's throughput peaks at each backlog and what follows
    (chat_peaks), then one table per strategy with every cell: the share
    that got into the room, deliveries per second against global-lock's in
    the same cell, the delivery latency, what was lost, and how busy the
    generator was (generator_busy; marked at CHAT_GENERATOR_BUSY or above)."""
    def busy(r):
        share = generator_busy(r)
        if share is None:
            return "n/a"
        return f"{100 * share:.0f}" + (" (limit?)" if share >= CHAT_GENERATOR_BUSY else "")

    def beyond(p):
        if p["after_clients"] is None:
            return "none measured"
        return (f"{format_number(p['after_rps'])} at {p['after_clients']} ({p['after_in_room']} in) = "
                f"{format_ratio(p['after_rps'], p['rps'])}")

    text = ["Every client in the room sends as fast as the room delivers (a closed loop), so each "
            "cell's deliveries per second (messages received by clients, per second of the measured "
            "window) is what that strategy can deliver to that room. The peak is the cell with the "
            "most; beyond it, the lowest cell with more clients: the strategy holds when that stays "
            f"at or above {CHAT_FLAT_SHARE:.0%} of the peak, collapses below {CHAT_COLLAPSE_SHARE:.0%}, "
            "falls in between, and rises when the peak is at the most clients measured. Clients: "
            "those of the burst; in: those that got into the room.\n",
            markdown_table(chat_peaks(rows), [
                ("strategy", "broadcast"), ("backlog", "backlog"),
                ("peak deliveries/s", "rps"),
                ("at clients (in)", lambda p: f"{p['clients']} ({p['in_room']})"),
                ("lowest beyond the peak", beyond), ("shape", "shape")]),
            ""]
    for strategy in dict.fromkeys(r["broadcast"] for r in rows):
        group = [r for r in rows if r["broadcast"] == strategy]

        def same_cell_global_lock(r):
            base = find(rows, broadcast="global-lock", backlog=r["backlog"], connections=r["connections"])
            return format_ratio(r["rps"], base["rps"] if base else None)

        text.append(f"{strategy}; deliveries/s against global-lock with the same backlog and clients; "
                    "latency from the send to each receipt; lost: deliveries of the measured messages "
                    "that never came; loadgen busy: its CPU time over the measured window (one "
                    "thread: near 100%, the rate may be the generator's limit).\n")
        text.append(markdown_table(group, [
            ("backlog", "backlog"), ("clients", "connections"),
            ("% joined", lambda r: f"{100 * r['join_success_rate']:.1f}"),
            ("in room", "clients_in_room"),
            ("deliveries/s", "rps"),
            ("vs global-lock", same_cell_global_lock),
            ("p50 us", "p50_us"), ("p99 us", "p99_us"),
            ("lost", "lost"), ("corrupt", "corrupt"), ("dropped", "clients_dropped"),
            ("loadgen busy %", busy), ("server CPU s", "server_cpu_s")]))
        text.append("")
    return text


def percore_text(rows):
    """Experiment 7's tables, one per shape (the lines of the report's
    section): each server's median rate, its share of PERCORE_BASELINE's
    at the same shape, and its median CPU per 10,000 requests. A server
    that did not serve every connection has its share in parentheses,
    "not counted", and its served count says whether that is its design's
    limit (LIMITED_KINDS) or a fault."""
    def served(r):
        count = r.get("connections_served", r["connections"])
        if served_all(r):
            return str(count)
        return f"{count} of {r['connections']}" + (": its design's limit" if r["kind"] in LIMITED_KINDS else "")

    text = [f"requests/s: the round with the median rate; vs {PERCORE_BASELINE}: that rate over "
            f"{PERCORE_BASELINE}'s at the same shape; rounds' ratios: each round's rate over "
            f"{PERCORE_BASELINE}'s in the same round, the median and the range (the goals are judged on "
            "that median); CPU: server CPU seconds (user + "
            "sys) per 10,000 requests, the median over the rounds. A server that did not serve every "
            "connection has its ratio in parentheses: it is not counted as meeting anything (the "
            "sequential server serves one client at a time, a pool as many as it has threads: its "
            "design's limit).\n"]
    for protocol, connections, base, group in percore_shapes(rows):
        base_rps = base["rps"] if base else None
        base_cpu = base.get("server_cpu_per_10k_median_s") if base else None
        text.append(f"{protocol}, {connections} connections: {PERCORE_BASELINE} "
                    f"{format_number(base_rps)} requests/s.\n")
        text.append(markdown_table(group, [
            ("server", percore_subject), ("kind", "kind"), ("requests/s", "rps"),
            ("lowest, highest", lambda r: "n/a" if "rps_min" not in r else
             f"{format_number(r['rps_min'])}, {format_number(r['rps_max'])}"),
            (f"vs {PERCORE_BASELINE}", lambda r, b=base_rps: format_ratio(r["rps"], b) if served_all(r)
             else f"({format_ratio(r['rps'], b)}) not counted"),
            ("rounds' ratios: median (range)", lambda r: paired_range(r) or ""),
            ("server CPU s/10k", "server_cpu_per_10k_median_s"),
            ("CPU vs " + PERCORE_BASELINE, lambda r, b=base_cpu: format_ratio(
                r.get("server_cpu_per_10k_median_s"), b)),
            ("served conns", served)]))
        text.append("")
    return text


def published_text(rows):
    """Experiment 7's comparison with the published benchmark (the lines of
    the report's section): our count of requests in 10 s beside its figure
    for the same pair and shape, where it has one, with where that figure
    was measured."""
    def figure_cell(r, key):
        figure = published_figure(r)
        if figure is None:
            return "none from one host" if key == "requests" else "n/a"
        # As published: a mean of 10 counts, to one decimal.
        return f"{figure[key]:.1f}" if key == "requests" else figure[key]

    return [f"requests: the round with the median count. published: that benchmark's figure for the same "
            f"pair and number of connections (mean of 10 runs, its client and server on one host over "
            f"localhost), measured on another machine than this run's, so the ratio compares machines as "
            f"much as servers; its goal is {GOAL_PUBLISHED:g}x. It has no one-host figure for 10 "
            "connections: its 10-client runs went between two machines over a LAN cable.\n",
            markdown_table(rows, [
                ("client", "client"), ("server", "server"), ("conns", "connections"),
                ("bytes", "payload_bytes"), ("requests", "requests"),
                ("lowest, highest", lambda r: "n/a" if "requests_min" not in r else
                 f"{format_number(r['requests_min'])}, {format_number(r['requests_max'])}"),
                ("seconds", "seconds"), ("errors", "errors"),
                ("published", lambda r: figure_cell(r, "requests")),
                ("published on", lambda r: figure_cell(r, "machine")),
                ("ratio", lambda r: format_ratio(r["requests"], (published_figure(r) or {}).get("requests"))),
                ("server CPU s", "server_cpu_s")])]


def work_text(rows):
    """The work experiment's tables (the lines of the report's section): for
    each connection count, requests per second and then p99 with one row
    per server and one column per --work-us. A column's header names its
    ceiling (work_ceiling: what the run's CPUs could compute at that cost
    and nothing else); the last column is the rate at the highest --work-us
    as a share of that ceiling. A figure of a server that did not serve
    every connection (fewest_served) is followed by [served/offered]."""
    works = sorted({r["work_us"] for r in rows})
    cpus = next((r["cpus"] for r in rows if r.get("cpus")), None)
    heaviest = works[-1]

    def marked(row, text):
        served = fewest_served(row)
        return text if served is None else f"{text} [{served}/{row['connections']}]"

    def cell(row, key):
        return "n/a" if row is None else marked(row, format_number(row.get(key)))

    def share_cell(row):
        ceiling = work_ceiling(heaviest, cpus)
        if row is None or row.get("rps") is None or ceiling is None:
            return "n/a"
        share = 100 * row["rps"] / ceiling
        return marked(row, f"{share:.0f}%" if share >= 10 else f"{share:.2g}%")

    def header(work_us, key):
        ceiling = work_ceiling(work_us, cpus) if key == "rps" else None
        return f"{work_us} us" + ("" if ceiling is None else f" (ceiling {ceiling:,.0f})")

    text = [f"requests/s: the round with the median rate; p99: the round trip's 99th percentile in "
            f"microseconds, the median over the rounds. A column's ceiling is what {cpus or 'n/a'} "
            "CPUs can compute at that --work-us and nothing else (CPUs x 1,000,000 / work-us "
            "requests/s); loadgen shares the same CPUs. [s/c]: the server served only s of its c "
            "connections in some round; its figures describe those s, not comparable with the "
            "others.\n"]
    for connections in sorted({r["connections"] for r in rows}):
        group = [r for r in rows if r["connections"] == connections]
        servers = [find(group, server=name) for name in dict.fromkeys(r["server"] for r in group)]

        def columns(key, group=group):
            return [("server", "server"), ("kind", "kind")] + [
                (header(w, key), lambda s, w=w, k=key: cell(find(group, server=s["server"], work_us=w), k))
                for w in works]

        text.append(f"{connections} connections, requests per second:\n")
        text.append(markdown_table(servers, columns("rps") + [
            (f"share of the ceiling at {heaviest} us",
             lambda s, g=group: share_cell(find(g, server=s["server"], work_us=heaviest)))]))
        text.append("")
        text.append(f"{connections} connections, p99 round trip (us):\n")
        text.append(markdown_table(servers, columns("p99_median_us")))
        text.append("")
    return text


def idle_latency_text(rows):
    """The idle_latency experiment's table (the lines of the report's
    section): one row per server and count of idle connections, with the
    active connection's median rate and its p50 and p99 (medians over the
    rounds), each against the same server with no idle connection, the
    server's CPU per 10,000 requests, and the fewest idle connections held
    and greeted in any round (marked when fewer than asked)."""
    def base(r):
        return find(rows, server=r["server"], idle_connections=0) or {}

    def held(r):
        held, greeted = r.get("idle_held_min"), r.get("idle_greeted_min")
        text = f"{format_number(held)} / {format_number(greeted)}"
        short = held is not None and greeted is not None and min(held, greeted) < r["idle_connections"]
        return f"{text} (of {r['idle_connections']})" if short else text

    order = list(dict.fromkeys(r["server"] for r in rows))
    ordered = sorted(rows, key=lambda r: (order.index(r["server"]), r["idle_connections"]))
    return ["requests/s: the round with the median rate of the one active connection; p50, p99: its "
            "round trip, the median over the rounds; vs 0 idle: against the same server with no idle "
            "connection, in this run; server CPU: seconds per 10,000 requests, the median over the "
            "rounds; held / greeted: the fewest idle connections held and greeted in any round.\n",
            markdown_table(ordered, [
                ("server", "server"), ("kind", "kind"), ("idle conns", "idle_connections"),
                ("held / greeted", held), ("requests/s", "rps"),
                ("p50 us", "p50_median_us"), ("p99 us", "p99_median_us"),
                ("p50 vs 0 idle", lambda r: format_ratio(r.get("p50_median_us"),
                                                         base(r).get("p50_median_us"))),
                ("p99 vs 0 idle", lambda r: format_ratio(r.get("p99_median_us"),
                                                         base(r).get("p99_median_us"))),
                ("server CPU s /10k req", "server_cpu_per_10k_median_s")])]


def burst_text(rows):
    """The burst check's table (the lines of the report's section): each
    server's lowest, median and highest share of the burst served over the
    rounds, what its worst round lost and how, the slowest client served,
    and whether the goal counts it. A design that serves fewer clients at
    once than the burst holds (burst_counted) is shown with its limit, not
    as a failure."""
    def serves(r):
        if not r["limited"]:
            return "all"
        return "its threads" if r["serves_at_once"] is None else str(r["serves_at_once"])

    def counted(r):
        if burst_counted(r):
            return "yes"
        limit = {None: "as many clients at a time as its pool has threads",
                 1: "one client at a time"}.get(r["serves_at_once"],
                                                f"{r['serves_at_once']} clients at a time")
        return f"no: its design serves {limit}"

    def percent(key):
        return lambda r: f"{100 * r[key]:.1f}"

    return [f"Share of the burst served (greeted, and one request answered, within the time limit), "
            "lowest / median / highest over the rounds; refused (reset or closed before being "
            "served), timed out and wrong replies are those of the worst round; \"serves at once\": "
            "clients its design serves at the same time (the sequential server one, a pool as many as "
            "it has threads, by default); \"counted\": whether the burst goal applies.\n",
            markdown_table(rows, [
                ("server", "server"), ("kind", "kind"), ("clients", "connections"),
                ("serves at once", serves), ("rounds", "rounds"),
                ("% lowest", percent("success_rate_min")), ("% median", percent("success_rate_median")),
                ("% highest", percent("success_rate_max")),
                ("refused", "refused_worst"), ("timed out", "timed_out_worst"), ("wrong", "errors_worst"),
                ("slowest served s",
                 lambda r: "n/a" if r["max_us"] is None else format_number(r["max_us"] / 1e6)),
                ("counted", counted)])]
