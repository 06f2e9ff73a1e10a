"""check_doc_code.py must accept printed code that is the tree's and refuse
code that is not: each case writes a page and the files it names into a
scratch folder inside the repository (the checker reads paths from the
repository's root) and runs the checker on it."""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tests" / "check_doc_code.py"

SOURCE = textwrap.dedent("""\
    // Serves one client.
    void serve(int fd) {
      char buffer[4096];
      while (true) {
        const long n = read(fd, buffer, sizeof buffer);  // blocks
        if (n <= 0) break;
        write_all(fd, buffer, n);
      }
      close(fd);
    }
    """)
CHANGED = SOURCE.replace("  close(fd);\n", "  log(\"closing\");\n  close(fd);\n")
assert CHANGED != SOURCE


class CheckDocCodeTest(unittest.TestCase):
    def setUp(self):
        self.scratch = pathlib.Path(tempfile.mkdtemp(prefix=".doc-code-", dir=ROOT / "tests"))
        self.addCleanup(shutil.rmtree, self.scratch)
        self.rel = self.scratch.relative_to(ROOT).as_posix()
        (self.scratch / "a.cpp").write_text(SOURCE)
        (self.scratch / "b.cpp").write_text(CHANGED)

    def check(self, body, dedent=True):
        page = self.scratch / "page.md"
        page.write_text((textwrap.dedent(body) if dedent else body).replace("DIR", self.rel))
        result = subprocess.run([sys.executable, str(CHECKER), str(page)], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        return result.returncode, result.stdout + result.stderr

    def test_an_abridged_excerpt_passes(self):
        status, output = self.check("""\
            <!-- excerpt: DIR/a.cpp -->
            ```cpp
            void serve(int fd) {
              ...
                const long n = read(fd, buffer, sizeof buffer);  // the page's own note
                if (n <= 0) break;
              ...
              close(fd);
            }
            ```
            """)
        self.assertEqual(status, 0, output)

    def test_an_invented_line_fails(self):
        status, output = self.check("""\
            <!-- excerpt: DIR/a.cpp -->
            ```cpp
            void serve(int fd) {
              const long n = recv(fd, buffer, sizeof buffer, 0);
            ```
            """)
        self.assertEqual(status, 1, output)
        self.assertIn("does not occur", output)

    def test_lines_out_of_order_fail(self):
        status, output = self.check("""\
            <!-- excerpt: DIR/a.cpp -->
            ```cpp
            close(fd);
            void serve(int fd) {
            ```
            """)
        self.assertEqual(status, 1, output)
        self.assertIn("out of order", output)

    def test_a_cpp_block_without_a_marker_fails(self):
        status, output = self.check("""\
            <!-- excerpt: DIR/a.cpp -->
            ```cpp
            void serve(int fd) {
            ```

            ```cpp
            int main() {}
            ```
            """)
        self.assertEqual(status, 1, output)
        self.assertIn("no marker", output)

    def test_a_sketch_must_say_why(self):
        status, output = self.check("""\
            <!-- excerpt: DIR/a.cpp -->
            ```cpp
            void serve(int fd) {
            ```

            <!-- sketch: -->
            ```cpp
            int main() {}
            ```
            """)
        self.assertEqual(status, 1, output)

    def test_the_whole_diff_must_be_current(self):
        real = subprocess.run(["diff", "-u", f"{self.rel}/a.cpp", f"{self.rel}/b.cpp"], cwd=ROOT,
                              capture_output=True, text=True).stdout.splitlines()[2:]
        page = "<!-- diff: DIR/a.cpp DIR/b.cpp -->\n```diff\n" + "\n".join(real) + "\n```\n"
        self.assertEqual(self.check(page, dedent=False)[0], 0)
        stale = page.replace('+  log("closing");', '+  log("bye");')
        status, output = self.check(stale, dedent=False)
        self.assertEqual(status, 1, output)
        self.assertIn("not the real one", output)

    def test_a_diff_excerpt_is_one_run_of_the_diff(self):
        status, output = self.check("""\
            <!-- diff-excerpt: DIR/a.cpp DIR/b.cpp -->
            ```diff
                 write_all(fd, buffer, n);
               }
            +  log("closing");
               close(fd);
            ```
            """)
        self.assertEqual(status, 0, output)
        status, output = self.check("""\
            <!-- diff-excerpt: DIR/a.cpp DIR/b.cpp -->
            ```diff
            +  log("closing");
            +  close(fd);
            ```
            """)
        self.assertEqual(status, 1, output)

    def test_a_page_with_nothing_to_check_is_an_error(self):
        status, output = self.check("Just words.\n")
        self.assertEqual(status, 2, output)


if __name__ == "__main__":
    unittest.main()
