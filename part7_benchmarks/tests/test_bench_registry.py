"""Tests of bench_registry: the entries themselves, which experiments each
joins (joining), the skip logic against a build tree of stand-in binaries,
and check_registry (`bench.py --check-registry`), the check that a real
build holds every entry. That
check against the whole tree's build is registered in tests/CMakeLists.txt
(part7.bench.registry); here it runs against trees made to pass and fail.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_registry.py
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import unittest

from bench_testing import BENCH_PY, make_executable

import bench_registry as registry  # found through the path bench_testing set


class Entries(unittest.TestCase):
    def test_names_are_unique_and_paths_relative(self):
        names = [s.name for s in registry.REGISTRY]
        self.assertEqual(len(names), len(set(names)))
        for server in registry.REGISTRY:
            self.assertFalse(os.path.isabs(server.path), server)
            self.assertTrue(server.path.endswith(server.name), server)

    def test_lists_parts_one_to_three_and_the_later_servers(self):
        names = {s.name for s in registry.REGISTRY}
        for expected in ("sequential-server", "threaded-server", "threadpool-server", "chat-server",
                         "epoll-server", "completion-server", "asio-server", "asio-server-coro",
                         "qt-server", "qt-server-threads", "qt-server-pool"):
            self.assertIn(expected, names)
        self.assertIn(registry.BASELINE_SERVER, names)

    def test_the_client_matrix_names_registered_servers(self):
        names = {s.name for s in registry.REGISTRY}
        for server in registry.MATRIX_SERVERS:
            self.assertIn(server, names)
        self.assertEqual([c.name for c in registry.CLIENTS], ["asio-client", "qt-client"])

    def test_a_label_shows_the_extra_arguments(self):
        pool = next(s for s in registry.REGISTRY if s.name == "threadpool-server")
        self.assertEqual(pool.label, "threadpool-server --threads 4")
        self.assertEqual(registry.REGISTRY[0].label, "sequential-server")

    def test_echo_servers_leave_out_the_chat_server(self):
        self.assertNotIn("chat", {s.kind for s in registry.echo_servers(registry.REGISTRY)})
        self.assertEqual(len(registry.echo_servers(registry.REGISTRY)), len(registry.REGISTRY) - 1)


class Joining(unittest.TestCase):
    def test_the_worker_pool_server_joins_the_work_experiment_only(self):
        workers = next(s for s in registry.REGISTRY if s.name == "asio-server-workers")
        self.assertEqual((workers.chapter, workers.kind, workers.experiments),
                         (5, "event+workers", ("work",)))
        self.assertNotIn(workers, registry.joining(registry.REGISTRY, "throughput"))
        self.assertEqual(registry.joining(registry.REGISTRY, "work"), registry.REGISTRY)
        # Every other entry joins every experiment.
        others = [s for s in registry.REGISTRY if s is not workers]
        self.assertEqual(registry.joining(registry.REGISTRY, "goals"), others)

    def test_every_experiment_named_in_the_registry_exists(self):
        from bench_experiments import EXPERIMENTS
        for server in registry.REGISTRY:
            for name in server.experiments:
                self.assertIn(name, EXPERIMENTS, server.name)

    def test_the_idle_latency_servers_are_registered(self):
        names = {s.name for s in registry.REGISTRY}
        self.assertEqual(registry.IDLE_LATENCY_SERVERS, ("epoll-server", "asio-server", "qt-server"))
        for name in registry.IDLE_LATENCY_SERVERS:
            self.assertIn(name, names)


class SplitAvailable(unittest.TestCase):
    def test_a_missing_binary_is_skipped_with_its_reason(self):
        with tempfile.TemporaryDirectory() as build:
            make_executable(build, "part1_sequential/sequential-server")
            present, skipped = registry.split_available(registry.REGISTRY, build)
        self.assertEqual([s.name for s in present], ["sequential-server"])
        self.assertEqual(len(skipped), len(registry.REGISTRY) - 1)
        reasons = {s.name: reason for s, reason in skipped}
        self.assertIn("part4_iocp/epoll/epoll-server", reasons["epoll-server"])

    def test_a_file_that_is_not_executable_is_skipped(self):
        with tempfile.TemporaryDirectory() as build:
            path = os.path.join(build, "part1_sequential", "sequential-server")
            os.makedirs(os.path.dirname(path))
            open(path, "w").close()
            present, _ = registry.split_available(registry.REGISTRY[:1], build)
        self.assertEqual(present, [])

    def test_clients_are_split_the_same_way(self):
        with tempfile.TemporaryDirectory() as build:
            make_executable(build, "part5_asio/asio-client")
            present, skipped = registry.split_available(registry.CLIENTS, build)
        self.assertEqual([c.name for c in present], ["asio-client"])
        self.assertIn("part6_qt/qt-client", skipped[0][1])


def complete_build(build):
    """A build tree with every registered binary and loadgen (stand-ins)."""
    for entry in registry.REGISTRY + registry.CLIENTS:
        make_executable(build, entry.path)
    make_executable(build, "part7_benchmarks/loadgen/loadgen")


class CheckRegistry(unittest.TestCase):
    def check(self, build):
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = registry.check_registry(build)
        return status, stdout.getvalue(), stderr.getvalue()

    def test_it_fails_until_every_binary_is_built(self):
        with tempfile.TemporaryDirectory() as build:
            for entry in registry.REGISTRY + registry.CLIENTS:
                make_executable(build, entry.path)
            status, _, stderr = self.check(build)
            self.assertEqual(status, 1)  # loadgen is still missing
            self.assertIn("loadgen: not built: no part7_benchmarks/loadgen/loadgen", stderr)
            make_executable(build, "part7_benchmarks/loadgen/loadgen")
            status, stdout, _ = self.check(build)
            self.assertEqual(status, 0)
            self.assertIn(f"all {len(registry.REGISTRY)} servers, {len(registry.CLIENTS)} clients "
                          "and loadgen are in", stdout)
            os.remove(os.path.join(build, "part6_qt/qt-client"))
            status, _, stderr = self.check(build)
            self.assertEqual(status, 1)
            self.assertEqual(stderr, "bench: qt-client: not built: no part6_qt/qt-client "
                                     "in the build directory\n")

    def test_the_command_line_reports_the_same(self):
        # `bench.py --check-registry` as ctest runs it (part7.bench.registry).
        with tempfile.TemporaryDirectory() as build:
            complete_build(build)
            ok = subprocess.run([sys.executable, BENCH_PY, "--build-dir", build, "--check-registry"],
                                capture_output=True, text=True, timeout=60)
            os.remove(os.path.join(build, "part4_iocp/epoll/epoll-server"))
            missing = subprocess.run([sys.executable, BENCH_PY, "--build-dir", build, "--check-registry"],
                                     capture_output=True, text=True, timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("and loadgen are in", ok.stdout)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("epoll-server: not built: no part4_iocp/epoll/epoll-server", missing.stderr)


if __name__ == "__main__":
    unittest.main()
