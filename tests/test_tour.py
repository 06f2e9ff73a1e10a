"""What ./run demo relies on and no other test would notice breaking:

- it installs only TOUR_PACKAGES, so the tour's servers must configure and
  build without GoogleTest (the tree is configured as ./run demo does it on
  a fresh machine, with BUILD_TESTING=OFF and GTest made unfindable);
- it builds only TOUR_TARGETS, so every server the tour starts must be one
  of them, and must be where demo() looks for it;
- the tour packages are a subset of the full list ./run test installs.

Run by ctest (run.tour) with CS_BUILD_DIR set to the build tree; the tour's
server paths are checked against that tree, where they are already built.
"""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN_TEXT = (ROOT / "run").read_text()


def bash_array(name):
    """The words of `NAME=( ... )` in ./run, comments left out."""
    match = re.search(rf"^{name}=\(", RUN_TEXT, re.M)
    if match is None:
        raise AssertionError(f"./run defines no array {name}")
    words = []
    for line in RUN_TEXT[match.end():].splitlines():
        code = line.split("#", 1)[0]
        words += code.split(")", 1)[0].split()
        if ")" in code:
            return words
    raise AssertionError(f"./run's array {name} never ends")


def demo_server_paths():
    """The servers demo() and cpu_heavy_stop() start, relative to the build
    tree: every "$servers/PATH" in ./run, options left out."""
    return sorted(set(re.findall(r'\$servers/([A-Za-z0-9_/.-]+)', RUN_TEXT)))


class TourTest(unittest.TestCase):
    def test_tour_packages_are_among_the_packages(self):
        packages = set(bash_array("PACKAGES"))
        tour = bash_array("TOUR_PACKAGES")
        self.assertTrue(tour)
        self.assertLessEqual(set(tour), packages)
        # What the tour must not install: the point of a short list.
        for heavy in ["mingw-w64", "wine", "wine64", "clang-14", "libgtest-dev"]:
            self.assertNotIn(heavy, tour)

    def test_every_server_the_tour_starts_is_a_tour_target_and_is_built(self):
        targets = set(bash_array("TOUR_TARGETS"))
        paths = demo_server_paths()
        self.assertGreaterEqual(len(paths), 6, paths)
        build = pathlib.Path(os.environ.get("CS_BUILD_DIR", ROOT / "build" / "default"))
        for path in paths:
            self.assertIn(pathlib.Path(path).name, targets, f"{path} is not in TOUR_TARGETS")
            self.assertTrue((build / path).is_file(), f"demo() starts {build / path}: no such file")
        started = {pathlib.Path(path).name for path in paths}
        self.assertEqual(started, targets, "TOUR_TARGETS builds a server the tour never starts")

    def test_the_tour_targets_configure_and_resolve_without_googletest(self):
        python = os.environ.get("CS_PYTHON", shutil.which("python3"))
        with tempfile.TemporaryDirectory(prefix="cs-tour-") as build:
            configure = subprocess.run(
                ["cmake", "-S", str(ROOT), "-B", build, "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Debug", "-DBUILD_TESTING=OFF",
                 "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON", f"-DCS_PYTHON={python}"],
                capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
            self.assertEqual(configure.returncode, 0, configure.stdout + configure.stderr)
            # A dry run (ninja -n): every target exists and its whole build
            # graph resolves; the compiling itself is the main build's.
            dry_run = subprocess.run(
                ["cmake", "--build", build, "--target", *bash_array("TOUR_TARGETS"), "--", "-n"],
                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            self.assertEqual(dry_run.returncode, 0, dry_run.stdout + dry_run.stderr)
            # And nothing of the tests came along.
            self.assertNotIn("gtest", dry_run.stdout.lower())


if __name__ == "__main__":
    unittest.main()
