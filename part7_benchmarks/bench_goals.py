"""bench_goals.py - the performance goals, checked against one run's results.

evaluate_goals turns the results of the goals, throughput and chat
experiments into verdicts (goal, subject, what was measured, met or not);
the GOAL_* constants are the thresholds, and GOAL_SIZES the request sizes
the goals experiment measures. Pure: it reads result rows, runs nothing.
"""

from bench_format import find, format_number, format_ratio
from bench_registry import EVENT_DRIVEN_KINDS, THREADED_KINDS

GOAL_SIZES = (16, 1024)
GOAL_P50_US = 1000          # no delayed-ACK stall: p50 round trip under 1 ms
GOAL_EVENT_SHARE = 0.90     # event-driven designs vs the fastest, at 10 and 100 connections
GOAL_THREADED_SHARE = 0.70  # thread-per-client and pool designs vs the fastest, at 10
GOAL_CHAT_CLIENTS = (200, 400)
GOAL_CHAT_BACKLOG = 128


def evaluate_goals(results):
    """Checks the performance goals against one run's results. Returns a
    list of {"goal", "subject", "measured", "met"} (met: True, False, or
    None when the run has no data for it)."""
    verdicts = []

    def verdict(goal, subject, measured, met):
        verdicts.append({"goal": goal, "subject": subject, "measured": measured, "met": met})

    for r in results.get("goals", []):
        verdict(f"p50 < {GOAL_P50_US} us, 1 connection, nodelay off",
                f"{r['server']} {r['protocol']} {r['size']} B",
                f"p50 {format_number(r['p50_us'])} us",
                r["requests"] > 0 and r["p50_us"] < GOAL_P50_US)

    rows = [r for r in results.get("throughput", []) if r["protocol"] == "shift" and not r["nodelay"]]
    for connections in (10, 100):
        group = [r for r in rows if r["connections"] == connections]
        if not group:
            continue
        # The fastest that served every connection: a pool that serves 4 of 10
        # clients and starves the rest is not faster, only unfair.
        fair = [r for r in group if r.get("connections_served", connections) >= connections]
        fastest = max(fair or group, key=lambda r: r["rps"])
        for r in group:
            if r["kind"] in EVENT_DRIVEN_KINDS:
                share = GOAL_EVENT_SHARE
            elif r["kind"] in THREADED_KINDS and connections == 10:
                share = GOAL_THREADED_SHARE
            else:
                continue
            ratio = r["rps"] / fastest["rps"] if fastest["rps"] else None
            served = r.get("connections_served", connections)
            verdict(f">= {share:.0%} of the fastest at {connections} connections",
                    f"{r['server']} ({r['kind']})",
                    f"{format_number(r['rps'])}/s = {format_ratio(r['rps'], fastest['rps'])} "
                    f"of {fastest['server']}"
                    + (f" (served {served} of {connections})" if served < connections else ""),
                    # A server that starved some connections did not meet a
                    # goal about serving them, however fast the rest went.
                    served >= connections and ratio is not None and ratio >= share)

    chat = [r for r in results.get("chat", []) if r["broadcast"] == "queue"]
    top = max(GOAL_CHAT_CLIENTS)
    for backlog in sorted({r["backlog"] for r in chat if r["backlog"] >= GOAL_CHAT_BACKLOG}):
        at_top = find(chat, backlog=backlog, connections=top)
        if at_top is None:
            continue
        # Delivery: every message reaches every client in the room; how many
        # got into the room is the backlog's doing, reported beside it.
        verdict(f"queue keeps 100% delivery at {top} clients",
                f"backlog {backlog}",
                f"{at_top['lost']} lost, {at_top['clients_dropped']} dropped "
                f"({at_top['clients_in_room']}/{top} got in)",
                at_top["joined"] and at_top["lost"] == 0 and at_top["clients_dropped"] == 0)
        low = find(chat, backlog=backlog, connections=min(GOAL_CHAT_CLIENTS))
        if low is not None:
            verdict(f"queue throughput does not fall from {min(GOAL_CHAT_CLIENTS)} to {top} clients",
                    f"backlog {backlog}",
                    f"{format_number(low['rps'])} -> {format_number(at_top['rps'])} deliveries/s",
                    at_top["rps"] >= low["rps"])
    return verdicts
