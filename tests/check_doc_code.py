#!/usr/bin/env python3
"""Checks that the code a page prints is code that exists.

Two kinds of printed code are checked, each marked by an HTML comment on the
line just before its fence:

    <!-- diff: part5_asio/callback_session.hpp part5_asio/coroutine_session.hpp -->
    ```diff

The fence must hold exactly what `diff -u OLD NEW` prints today, without its
first two lines (the ---/+++ lines, which carry file times).

    <!-- diff-excerpt: part1_sequential/sequential_server.cpp part2_threads/threaded_server.cpp -->
    ```diff

The fence holds one unbroken run of that diff (its @@ hunk headers left out,
spaces at line ends ignored): the part of a change a page is about.

    <!-- excerpt: part6_qt/qt_connection.cpp -->
    ```cpp

An excerpt may be abridged, never invented: each of its lines must occur in
the file, in the same order, where `...` stands for code left out (any
text, over any number of lines), runs of spaces match any whitespace (a
line may be re-wrapped), and a comment at the end of a line is the page's
own annotation (ignored). A line that is nothing but a comment must occur
as written.

A diff fence must carry one of the two diff markers. A C++ fence with
neither excerpt marker must say why it is not code from the tree:

    <!-- sketch: two columns side by side, abridged beyond an excerpt -->

so a new snippet cannot go unchecked by accident. A file edited without its
page, or a page edited by hand, fails the check, which names the line.

Usage: check_doc_code.py PAGE.md...   (paths relative to the repository)
Exits 0 when every marked block is current, 1 otherwise, 2 when the pages
hold nothing to check (a check that checks nothing is a defect).
"""
import difflib
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!--\s*(diff|diff-excerpt|excerpt|sketch):\s*(.*?)\s*-->\s*$")
CPP_FENCE = re.compile(r"^```(cpp|c\+\+)\s*$")


def real_diff(old, new):
    # diff(1) rather than difflib: the page tells the reader to run diff, and
    # the two can choose different hunks. Status 1 means "the files differ".
    result = subprocess.run(["diff", "-u", old, new], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit("diff %s %s failed: %s" % (old, new, result.stderr.strip()))
    return result.stdout.splitlines()[2:]


def blocks(page):
    """(line number of the fence, kind, argument, fence language, lines) for
    every fenced block; kind and argument are None when unmarked."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith("```") or lines[index].strip() == "```":
            index += 1
            continue
        language = lines[index][3:].strip()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        kind, argument = (marker.group(1), marker.group(2)) if marker else (None, None)
        found.append((index + 1, kind, argument, language, lines[index + 1:end]))
        index = end + 1
    return found


def code_of(line):
    """A printed line without its trailing annotation comment."""
    if line.lstrip().startswith("//"):
        return line.strip()
    # A '//' inside a string literal is not a comment; the snippets here
    # have none, so the first '//' outside quotes ends the code.
    in_string = False
    for position, char in enumerate(line):
        if char == '"' and (position == 0 or line[position - 1] != "\\"):
            in_string = not in_string
        elif not in_string and line.startswith("//", position):
            return line[:position].strip()
    return line.strip()


def line_pattern(line):
    pieces = []
    for part in re.split(r"(\.\.\.)", line):
        if part == "...":
            pieces.append(r".*?")
        else:
            words = part.split()
            escaped = r"\s+".join(re.escape(word) for word in words)
            if part[:1].isspace():
                escaped = r"\s*" + escaped
            if part[-1:].isspace():
                escaped += r"\s*"
            pieces.append(escaped)
    return re.compile("".join(pieces), re.S)


def check_excerpt(path, printed):
    """None when every printed line occurs in order, else the first one that
    does not (with why)."""
    source = (ROOT / path).read_text(encoding="utf-8")
    position = 0
    for line in printed:
        code = code_of(line)
        if not code:
            continue
        match = line_pattern(code).search(source, position)
        if match is None:
            elsewhere = line_pattern(code).search(source)
            why = "occurs only earlier, out of order" if elsewhere else "does not occur"
            return "%r %s in %s" % (line.strip(), why, path)
        position = match.end()
    return None


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    status = 0
    checked = 0
    for name in argv:
        page = pathlib.Path(name)
        page = page if page.is_absolute() else ROOT / name
        for line_number, kind, argument, language, printed in blocks(page):
            where = "%s:%d" % (name, line_number)
            if kind == "diff":
                old, new = argument.split()
                real = real_diff(old, new)
                checked += 1
                if printed == real:
                    print("%s: diff %s %s is current (%d lines)" % (where, old, new, len(real)))
                    continue
                status = 1
                print("%s: the printed diff of %s and %s is not the real one; paste the output"
                      " of `diff -u %s %s | tail -n +3`. Printed (-) against real (+):"
                      % (where, old, new, old, new))
                for difference in difflib.unified_diff(printed, real, "printed", "real",
                                                       lineterm=""):
                    print(difference)
            elif kind == "diff-excerpt":
                old, new = argument.split()
                body = [line.rstrip() for line in real_diff(old, new) if not line.startswith("@@")]
                shown = [line.rstrip() for line in printed]
                checked += 1
                if shown and any(body[at:at + len(shown)] == shown
                                 for at in range(len(body) - len(shown) + 1)):
                    print("%s: %d lines of diff %s %s, current" % (where, len(shown), old, new))
                    continue
                status = 1
                print("%s: the printed lines are not one run of `diff -u %s %s` today; print"
                      " a run of its output again" % (where, old, new))
            elif kind == "excerpt":
                checked += 1
                if not (ROOT / argument).is_file():
                    status = 1
                    print("%s: the excerpt names %s, which does not exist" % (where, argument))
                    continue
                problem = check_excerpt(argument, printed)
                if problem is None:
                    print("%s: excerpt of %s is current (%d lines)" % (where, argument,
                                                                      len(printed)))
                else:
                    status = 1
                    print("%s: the excerpt is not the code: %s" % (where, problem))
            elif kind == "sketch":
                if not argument:
                    status = 1
                    print("%s: a sketch marker must say why the block is not an excerpt" % where)
            elif CPP_FENCE.match("```" + language):
                status = 1
                print("%s: a C++ block with no marker; put <!-- excerpt: PATH --> (or"
                      " <!-- sketch: WHY -->) on the line before its fence" % where)
            elif language == "diff":
                status = 1
                print("%s: a diff with no marker; put <!-- diff: OLD NEW --> (or diff-excerpt)"
                      " on the line before its fence" % where)
    if checked == 0 and status == 0:
        print("no <!-- diff --> or <!-- excerpt --> block in %s: nothing to check" % " ".join(argv))
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
