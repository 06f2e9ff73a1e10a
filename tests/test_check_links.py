"""Self-test of check_links.py: it must flag broken links, not just pass."""
import pathlib
import subprocess
import sys
import tempfile
import unittest

CHECKER = pathlib.Path(__file__).resolve().parent / "check_links.py"


def run_checker(root):
    return subprocess.run([sys.executable, str(CHECKER), "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


class CheckLinksTest(unittest.TestCase):
    def make_tree(self, files):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        root = pathlib.Path(directory.name)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        return root

    def test_good_links_pass(self):
        root = self.make_tree({
            "README.md": "See [the docs](docs/index.md#roadmap) and ![pic](docs/images/a.png).\n",
            "docs/index.md": "# Roadmap\n[back](../README.md) [web](https://example.com)\n",
            "docs/images/a.png": "png",
        })
        result = run_checker(root)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("3 passed, 0 failed", result.stdout)

    def test_missing_file_image_and_anchor_fail(self):
        root = self.make_tree({
            "README.md": "[gone](docs/missing.md) ![gone](docs/none.png) [bad](docs/index.md#nope)\n",
            "docs/index.md": "# Roadmap\n",
        })
        result = run_checker(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("docs/missing.md: no such file", result.stdout)
        self.assertIn("docs/none.png: no such file", result.stdout)
        self.assertIn("no heading for #nope", result.stdout)

    def test_links_in_code_are_ignored(self):
        root = self.make_tree({
            "README.md": "[ok](README.md) `[not](a-link.md)`\n```\n[not](either.md)\n```\n",
        })
        self.assertEqual(run_checker(root).returncode, 0)

    def test_no_links_at_all_fails(self):
        root = self.make_tree({"README.md": "nothing here\n"})
        self.assertEqual(run_checker(root).returncode, 1)


if __name__ == "__main__":
    unittest.main()
