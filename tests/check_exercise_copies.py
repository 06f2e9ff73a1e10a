#!/usr/bin/env python3
"""Fails when a shipped file that exercises copy has changed since the copies
were last brought in line with it (tests/exercise_copies.txt).

An exercise's starting point is a copy of shipped code plus the exercise's
marked change (EXERCISE(partN-k)), so that a learner edits one
self-contained file. When the shipped file changes (a fix, a new option),
nothing else would notice that the copy, and the solution beside it, now
teach the old code. This check pins each shipped file's SHA-256: a change
to it fails here, naming the copies to update and printing the new hash to
record once they are. It reads only the shipped files, never the copies,
so a learner who solves an exercise in place keeps a green run.

Usage: check_exercise_copies.py [MANIFEST]   (default tests/exercise_copies.txt;
paths in it are relative to the repository's root)
"""
import hashlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def entries(manifest):
    """(line number, shipped path, recorded hash, [copy paths]) per entry."""
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 3:
            raise SystemExit("%s:%d: expected SHIPPED SHA256 COPY..., got %r"
                             % (manifest, number, line))
        yield number, fields[0], fields[1], fields[2:]


def check(manifest, root=ROOT):
    """The problems found, as lines to print (empty: all current)."""
    problems = []
    count = 0
    for number, shipped, recorded, copies in entries(manifest):
        count += 1
        for path in [shipped] + copies:
            if not (root / path).is_file():
                problems.append("%s:%d: %s does not exist" % (manifest, number, path))
        if not (root / shipped).is_file():
            continue
        actual = hashlib.sha256((root / shipped).read_bytes()).hexdigest()
        if actual != recorded:
            problems.append(
                "%s:%d: %s changed since its copies were brought in line with it.\n"
                "  Carry the change into %s (see `git log -p %s`),\n"
                "  run their exercise checks, then record the new hash: %s"
                % (manifest, number, shipped, " and ".join(copies), shipped, actual))
    if count == 0:
        problems.append("%s: no entries (a check that checks nothing is a defect)" % manifest)
    return problems


def main(argv):
    manifest = pathlib.Path(argv[1]) if len(argv) > 1 else ROOT / "tests" / "exercise_copies.txt"
    problems = check(manifest)
    for problem in problems:
        print(problem)
    if not problems:
        print("exercise copies: every shipped file is as its copies expect")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
