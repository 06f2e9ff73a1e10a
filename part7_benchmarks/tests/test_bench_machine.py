"""Tests of bench_machine: the machine's facts the report states, read from
this machine's /proc (so only their presence and shape are checked).

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_machine.py
"""

import os
import unittest

import bench_testing  # noqa: F401  (puts part7_benchmarks/ on sys.path)
import bench_machine as machine


class MachineFacts(unittest.TestCase):
    def test_every_tcp_setting_is_a_fact(self):
        facts = machine.machine_facts()
        for name in machine.TCP_SETTINGS:
            self.assertIn(name.replace("/", "."), facts)
        for key in ("CPU model", "CPUs", "memory", "kernel", "RLIMIT_NOFILE (runner)"):
            self.assertIn(key, facts)
        self.assertEqual(facts["CPUs"], str(os.cpu_count()))
        self.assertTrue(all(isinstance(v, str) for v in facts.values()))

    def test_read_sysctl(self):
        with open("/proc/sys/net/core/somaxconn") as f:
            self.assertEqual(machine.read_sysctl("net/core/somaxconn"), f.read().strip())
        self.assertEqual(machine.read_sysctl("net/no/such/setting"), "unknown")
        # Multi-valued settings (tcp_rmem) read with spaces, not tabs, for the report's table.
        self.assertNotIn("\t", machine.read_sysctl("net/ipv4/tcp_rmem"))


if __name__ == "__main__":
    unittest.main()
