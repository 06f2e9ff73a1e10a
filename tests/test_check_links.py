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

    # --- paths in code comments ---------------------------------------------------

    COMMENT_TREE = {
        "README.md": "[docs](docs/index.md)\n",
        "docs/index.md": "# Roadmap\n",
        "common/include/cs/timer.hpp": "// see docs/index.md#roadmap and common/src/timer.cpp\n",
        "common/src/timer.cpp": "/* the header: common/include/cs/timer.hpp */\nint x;\n",
        "part1_demo/tests/helper.hpp": "// nothing\n",
        "tests/check.py": "# nothing to check\n",
        "part1_demo/tests/a_test.cpp": "// tests/helper.hpp is the chapter's own\n",
        "part1_demo/tool.py": '"""Reads docs/index.md."""\n# and common/src/timer.cpp\n',
        "part1_demo/CMakeLists.txt": "# built from common/src/timer.cpp\nmessage(\"#docs/gone.md\")\n",
    }

    def test_paths_in_comments_that_exist_pass(self):
        result = run_checker(self.make_tree(self.COMMENT_TREE))
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("paths in comments: 7 passed, 0 failed", result.stdout)

    def test_a_missing_path_in_each_kind_of_comment_fails(self):
        cases = {
            "common/src/a.cpp": ("// see docs/missing.md\n", "docs/missing.md"),
            "common/src/b.hpp": ("/* one line\n   common/include/cs/gone.hpp */\n", "common/include/cs/gone.hpp"),
            "part1_demo/c.py": ("# docs/nope.md\n", "docs/nope.md"),
            "part1_demo/d.py": ('"""Docstring naming part1_demo/absent.py."""\n', "part1_demo/absent.py"),
            "part1_demo/sub/CMakeLists.txt": ("# see common/cmake/none.cmake\n", "common/cmake/none.cmake"),
            "common/src/e.cpp": ("// docs/index.md#no-such-heading\n", "no heading for #no-such-heading"),
        }
        for name, (text, expected) in cases.items():
            with self.subTest(file=name):
                result = run_checker(self.make_tree({**self.COMMENT_TREE, name: text}))
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(expected, result.stdout)
                self.assertIn(f"{name}:", result.stdout)

    def test_paths_in_strings_and_patterns_are_not_checked(self):
        root = self.make_tree({**self.COMMENT_TREE,
                               "common/src/f.cpp": 'const char* p = "docs/not-a-comment.md"; // ok\n'
                                                   'auto r = R"(// docs/raw.md)";\n',
                               "part1_demo/g.py": 'x = "docs/in-a-string.md"  # docs/<chapter>.md\n'
                                                  '# writes part1_demo/corpus/NAME/SEED\n'})
        result = run_checker(root)
        self.assertEqual(result.returncode, 0, result.stdout)

    # --- binary paths in the docs ------------------------------------------------------

    BUILD_TREE = {
        "CMakePresets.json": '{"configurePresets": [{"name": "default", "binaryDir": "${sourceDir}/build/default"},'
                             ' {"name": "release", "binaryDir": "${sourceDir}/build/release"}]}\n',
        "CMakeLists.txt": "add_subdirectory(part1_demo)\n",
        "part1_demo/CMakeLists.txt": "add_executable(demo-server demo_server.cpp)\n"
                                     "foreach(tool demo-client demo-stress)\n"
                                     "  add_executable(${tool} tool.cpp)\nendforeach()\n"
                                     "function(add_check name)\n  add_executable(${name} c.cpp)\nendfunction()\n",
        "part1_demo/loadgen/CMakeLists.txt": "add_executable(loadgen main.cpp)  # add_executable(old x)\n",
        "README.md": "[docs](docs/index.md)\n",
    }

    def test_binary_paths_the_build_produces_pass(self):
        root = self.make_tree({**self.BUILD_TREE, "docs/index.md": (
            "Run `build/default/part1_demo/demo-server 9090` or build/release/part1_demo/demo-client.\n"
            "```sh\nbuild/release/part1_demo/loadgen/loadgen --port 1\nls build/default/part1_demo/\n```\n"
            "See build/default/compile_commands.json and build/release/DIR/NAME.\n"
            "Standalone: cmake -B build/part1 (not a preset) then build/part1/anything.\n")})
        result = run_checker(root)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("binary paths: 6 passed, 0 failed", result.stdout)

    def test_a_binary_the_build_does_not_produce_fails(self):
        for bad in ("build/default/part1_demo/old", "build/release/part1_demo/demo-servr",
                    "build/default/part2_gone/demo-server", "build/release/part1_demo/loadgen/demo-server"):
            with self.subTest(path=bad):
                root = self.make_tree({**self.BUILD_TREE, "docs/index.md": f"```sh\n{bad} 9090\n```\n"})
                result = run_checker(root)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(f"{bad}: no add_executable in the sources produces it", result.stdout)

    def test_no_links_at_all_fails(self):
        root = self.make_tree({"README.md": "nothing here\n"})
        self.assertEqual(run_checker(root).returncode, 1)


if __name__ == "__main__":
    unittest.main()
