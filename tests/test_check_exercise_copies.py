# check_exercise_copies.py must fail on a changed shipped file, a missing
# copy and an empty manifest, and pass when every hash matches; and it must
# not look at the copies' contents (a learner edits those in place).
import hashlib
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_exercise_copies  # noqa: E402


class CheckExerciseCopies(unittest.TestCase):
    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.root = pathlib.Path(directory.name)
        (self.root / "shipped.cpp").write_text("int shipped() { return 1; }\n")
        (self.root / "copy.cpp").write_text("// EXERCISE(part9-1)\nint shipped() { return 1; }\n")
        self.manifest = self.root / "copies.txt"

    def write_manifest(self, digest, copies="copy.cpp"):
        self.manifest.write_text("# comment\nshipped.cpp %s %s\n" % (digest, copies))

    def digest(self):
        return hashlib.sha256((self.root / "shipped.cpp").read_bytes()).hexdigest()

    def test_matching_hashes_pass(self):
        self.write_manifest(self.digest())
        self.assertEqual(check_exercise_copies.check(self.manifest, self.root), [])

    def test_a_changed_shipped_file_fails_and_names_the_copy_and_new_hash(self):
        self.write_manifest(self.digest())
        (self.root / "shipped.cpp").write_text("int shipped() { return 2; }\n")
        problems = check_exercise_copies.check(self.manifest, self.root)
        self.assertEqual(len(problems), 1)
        self.assertIn("copy.cpp", problems[0])
        self.assertIn(self.digest(), problems[0])

    def test_an_edited_copy_still_passes(self):
        self.write_manifest(self.digest())
        (self.root / "copy.cpp").write_text("// solved in place\n")
        self.assertEqual(check_exercise_copies.check(self.manifest, self.root), [])

    def test_a_missing_copy_fails(self):
        self.write_manifest(self.digest(), copies="copy.cpp gone.cpp")
        problems = check_exercise_copies.check(self.manifest, self.root)
        self.assertTrue(any("gone.cpp does not exist" in p for p in problems), problems)

    def test_an_empty_manifest_fails(self):
        self.manifest.write_text("# nothing\n")
        self.assertTrue(check_exercise_copies.check(self.manifest, self.root))

    def test_the_repository_manifest_is_current(self):
        self.assertEqual(check_exercise_copies.check(
            check_exercise_copies.ROOT / "tests" / "exercise_copies.txt"), [])


if __name__ == "__main__":
    unittest.main()
