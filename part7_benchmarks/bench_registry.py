"""bench_registry.py - which servers and clients the benchmarks run.

REGISTRY lists every server binary of the tutorial (Server entries), CLIENTS
the chapters' own load clients; split_available sorts them into the ones a
build directory holds and the ones it lacks (skipped, with a reason), and
check_registry is `bench.py --check-registry`: a test of the whole tree's
build that fails on any entry missing from it. A server joins the matrix by
one entry here.
"""

import os
from dataclasses import dataclass

from bench_format import log



@dataclass(frozen=True)
class Server:
    """One server binary of the tutorial, as the benchmarks start it.

    name: the binary's name; chapter: 1-7; path: relative to the build dir;
    kind: its concurrency model (sequential, threads, pool, event,
    completion, coroutine, event+workers: an event loop that hands the
    requests' work to a pool, chat); protocols: what --protocol accepts
    (("chat",) for the chat server, which takes no --protocol); args: extra
    arguments always passed; threads_option: it takes --threads N
    (experiment 5 varies it); experiments: the names of the experiments
    (EXPERIMENTS in bench_experiments.py) it takes part in, when not every
    one (empty: every one; see joining).
    """
    name: str
    chapter: int
    path: str
    kind: str
    protocols: tuple = ("shift", "framed")
    args: tuple = ()
    threads_option: bool = False
    experiments: tuple = ()

    @property
    def label(self):
        return f"{self.name}{' ' + ' '.join(self.args) if self.args else ''}"


# Every server with the path the whole tree's build gives it; an entry whose
# binary is missing is skipped and named in the report, and `--check-registry`
# (a test of the top-level build) fails on any missing one.
REGISTRY = [
    Server("sequential-server", 1, "part1_sequential/sequential-server", "sequential"),
    Server("threaded-server", 2, "part2_threads/threaded-server", "threads"),
    Server("pthread-server", 2, "part2_threads/pthread-server", "threads"),
    Server("threadpool-server", 3, "part3_threadpool/threadpool-server", "pool",
           args=("--threads", "4"), threads_option=True),
    Server("epoll-server", 4, "part4_iocp/epoll/epoll-server", "event"),
    Server("completion-server", 4, "part4_iocp/servers/completion-server", "completion",
           threads_option=True),
    Server("asio-server", 5, "part5_asio/asio-server", "event", threads_option=True),
    Server("asio-server-coro", 5, "part5_asio/asio-server-coro", "coroutine",
           threads_option=True),
    # The event loop plus worker pool: only the CPU-heavy requests (work)
    # are its point. Without --work-us it is asio-server with a hop to the
    # pool and back on every request, a cost the work experiment's 0 us
    # point shows beside asio-server's; in every other experiment it would
    # add minutes to a full run and repeat asio-server's row.
    Server("asio-server-workers", 5, "part5_asio/asio-server-workers", "event+workers",
           experiments=("work",)),
    Server("qt-server", 6, "part6_qt/qt-server", "event"),
    Server("qt-server-threads", 6, "part6_qt/qt-server-threads", "threads"),
    Server("qt-server-pool", 6, "part6_qt/qt-server-pool", "pool", threads_option=True),
    Server("chat-server", 2, "part2_threads/chat/chat-server", "chat", protocols=("chat",)),
]

# The baseline of the throughput ratios: the simplest design, measured in
# the same run.
BASELINE_SERVER = "sequential-server"


@dataclass(frozen=True)
class Client:
    """A chapter's own load client (asio-client, qt-client): it prints one
    JSON line with "requests", "requests_per_second" and "errors"."""
    name: str
    chapter: int
    path: str
    kind: str = "client"


CLIENTS = [
    Client("asio-client", 5, "part5_asio/asio-client"),
    Client("qt-client", 6, "part6_qt/qt-client"),
]

# The servers of the client x server matrix: the Asio and Qt ones.
MATRIX_SERVERS = ("asio-server", "asio-server-coro", "qt-server", "qt-server-threads")

# Experiment 6 (completion): the readiness baseline, then the completion-port
# framework's server measured against it.
COMPLETION_SERVERS = ("epoll-server", "completion-server")

# Experiment 7 (percore): every echo server pinned to one core, each rate a
# share of this one's in the same run (the plain loop every event-driven
# design is measured against); the servers also measured with --threads 1,
# since on one core their default thread count is one of the things compared.
PERCORE_BASELINE = "epoll-server"
PERCORE_ONE_THREAD = ("asio-server", "asio-server-coro")
# The servers whose design serves fewer clients at once than it is offered
# (one at a time, or as many as the pool has threads): a connection left
# waiting is their limit, not a fault.
LIMITED_KINDS = ("sequential", "pool")
# The published Asio/Qt benchmark's comparison: our server, and the chapter's
# own client that plays the published client of the same library.
PUBLISHED_PAIRS = (("asio-server", "asio-client"), ("qt-server-threads", "qt-client"))

# The idle_latency experiment: Qt's event loop, which waits in poll(), and
# two that wait in epoll_wait (the plain loop and Asio's).
IDLE_LATENCY_SERVERS = ("epoll-server", "asio-server", "qt-server")

# Kinds the performance goals group servers by.
EVENT_DRIVEN_KINDS = ("event", "completion", "coroutine")
THREADED_KINDS = ("threads", "pool")


def split_available(registry, build_dir):
    """Returns (present, skipped): the entries (servers or clients) whose
    binary exists and is executable, and (entry, reason) for the others."""
    present, skipped = [], []
    for server in registry:
        path = os.path.join(build_dir, server.path)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            present.append(server)
        else:
            skipped.append((server, f"not built: no {server.path} in the build directory"))
    return present, skipped


def echo_servers(servers):
    return [s for s in servers if s.kind != "chat"]


def joining(servers, experiment):
    """The servers that take part in `experiment`: every one whose
    `experiments` is empty or names it."""
    return [s for s in servers if not s.experiments or experiment in s.experiments]


def check_registry(build_dir):
    """Exit status 0 when every REGISTRY and CLIENTS binary and loadgen are
    in `build_dir`, else 1 with the missing ones on stderr."""
    _, skipped = split_available(REGISTRY + CLIENTS, build_dir)
    missing = [f"{entry.name}: {reason}" for entry, reason in skipped]
    if not os.access(os.path.join(build_dir, "part7_benchmarks/loadgen/loadgen"), os.X_OK):
        missing.append("loadgen: not built: no part7_benchmarks/loadgen/loadgen in the build directory")
    for line in missing:
        log(line)
    if not missing:
        print(f"bench: all {len(REGISTRY)} servers, {len(CLIENTS)} clients and loadgen are in {build_dir}")
    return 1 if missing else 0
