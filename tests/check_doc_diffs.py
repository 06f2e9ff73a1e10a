#!/usr/bin/env python3
"""Checks that a diff printed in the docs is the real diff between two files.

A page prints a diff as a ```diff fence preceded, on the line just before
the fence, by a marker naming the two files (paths from the repository's
root):

    <!-- diff: part5_asio/asio_server.cpp part5_asio/asio_server_coro.cpp -->

The fence must hold exactly what `diff -u OLD NEW` prints today, without its
first two lines (the ---/+++ lines, which carry file times). A file edited
without its page, or a page edited by hand, fails the check, which prints
the real diff's difference from the printed one.

Usage: check_doc_diffs.py PAGE.md...   (paths relative to the repository)
Exits 0 when every marked diff is current, 1 otherwise, 2 when a page has
no marker at all (a check that checks nothing is a defect).
"""
import difflib
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!--\s*diff:\s*(\S+)\s+(\S+)\s*-->\s*$")


def real_diff(old, new):
    # diff(1) rather than difflib: the page tells the reader to run diff, and
    # the two can choose different hunks. Status 1 means "the files differ".
    result = subprocess.run(["diff", "-u", old, new], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit("diff %s %s failed: %s" % (old, new, result.stderr.strip()))
    return result.stdout.splitlines()[2:]


def printed_diffs(page):
    """(line number, old, new, printed lines) for each marked fence."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        if index + 1 >= len(lines) or lines[index + 1].strip() != "```diff":
            raise SystemExit("%s:%d: a diff marker must be followed at once by a ```diff fence"
                             % (page, index + 1))
        end = index + 2
        while end < len(lines) and lines[end] != "```":
            end += 1
        found.append((index + 1, match.group(1), match.group(2), lines[index + 2:end]))
    return found


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    status = 0
    for name in argv:
        page = ROOT / name
        diffs = printed_diffs(page)
        if not diffs:
            print("%s: no <!-- diff: OLD NEW --> marker: nothing to check" % name)
            return 2
        for line_number, old, new, printed in diffs:
            real = real_diff(old, new)
            if printed == real:
                print("%s:%d: diff %s %s is current (%d lines)" % (name, line_number, old, new,
                                                                 len(real)))
                continue
            status = 1
            print("%s:%d: the printed diff of %s and %s is not the real one; paste the output of"
                  " `diff -u %s %s | tail -n +3`. Printed (-) against real (+):"
                  % (name, line_number, old, new, old, new))
            for difference in difflib.unified_diff(printed, real, "printed", "real", lineterm=""):
                print(difference)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
