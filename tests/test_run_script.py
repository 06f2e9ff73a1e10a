"""Tests of ./run's own behaviour that a green build would not show: what
it says on a machine without apt, and how it treats unknown commands."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN = ROOT / "run"
# What ./run needs before it looks for apt; everything else is left out.
TOOLS = ["bash", "dirname", "sed", "grep", "tr", "id", "cat"]


class RunScriptTest(unittest.TestCase):
    def run_script(self, *args, path=None):
        env = dict(os.environ)
        if path is not None:
            env["PATH"] = path
        return subprocess.run([str(RUN), *args], capture_output=True, text=True,
                              timeout=60, env=env, stdin=subprocess.DEVNULL)

    def run_without_apt(self, *args):
        """./run with a PATH that holds only TOOLS: a machine with no apt."""
        with tempfile.TemporaryDirectory() as directory:
            for tool in TOOLS:
                os.symlink(shutil.which(tool), os.path.join(directory, tool))
            return self.run_script(*args, path=directory)

    def test_without_apt_setup_lists_the_packages_and_fails(self):
        result = self.run_without_apt("setup")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("has no apt", result.stderr)
        for package in ["g++", "cmake", "ninja-build", "libgtest-dev", "libcli11-dev",
                        "python3-matplotlib"]:
            self.assertIn(package, result.stderr)

    def test_without_apt_demo_lists_only_the_tour_packages(self):
        result = self.run_without_apt("demo")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        listed = result.stderr.split("yourself", 1)[1].split("(at least", 1)[0].split()
        for package in ["g++", "cmake", "libboost-dev", "qt6-base-dev", "python3-matplotlib"]:
            self.assertIn(package, listed)
        for package in ["libgtest-dev", "mingw-w64", "wine", "clang-14"]:
            self.assertNotIn(package, listed)

    def listed_without_apt(self, *args):
        result = self.run_without_apt(*args)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        return result.stderr.split("yourself", 1)[1].split("(at least", 1)[0].split()

    def test_without_apt_build_lists_what_its_preset_needs(self):
        default = self.listed_without_apt("build")
        self.assertIn("libgtest-dev", default)
        self.assertIn("qt6-base-dev", default)
        self.assertNotIn("wine", default)
        self.assertNotIn("clang-14", default)
        windows = self.listed_without_apt("build", "windows")
        self.assertIn("mingw-w64", windows)
        self.assertIn("wine64", windows)
        self.assertIn("clang-14", self.listed_without_apt("build", "fuzz"))
        self.assertIn("iproute2", self.listed_without_apt("bench"))

    def test_unknown_command_fails_with_usage(self):
        result = self.run_script("frobnicate")
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown command 'frobnicate'", result.stderr)
        self.assertIn("./run test", result.stderr)

    def test_no_command_prints_usage(self):
        result = self.run_script()
        self.assertEqual(result.returncode, 0)
        self.assertIn("./run demo", result.stdout)

    # These get past ./run's package check (the packages a test run needs
    # are installed by then) and stop at the argument, before any build.
    def test_bench_refuses_an_unknown_argument(self):
        result = self.run_script("bench", "--fast")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("bench takes --quick and --only EXPERIMENT (got '--fast')", result.stderr)

    def test_bench_only_needs_an_experiment(self):
        result = self.run_script("bench", "--quick", "--only")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("--only needs an experiment's name", result.stderr)


if __name__ == "__main__":
    unittest.main()
