#!/usr/bin/env python3
"""Checks that every relative link and image in the docs and READMEs resolves.

Scans README.md files anywhere in the repository and every Markdown file under
docs/. For each Markdown link or image whose target is relative (not http:,
https:, mailto: or a pure #anchor), the file it names must exist, relative to
the Markdown file. Anchors (#section) into Markdown files must match a heading
of that file. Exits 0 when all resolve, 1 listing every broken one.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent  # --root overrides it (self-test)
SKIPPED_DIRS = {"build", ".git", "node_modules", "__pycache__"}
# [text](target) and ![alt](target); the target ends at whitespace or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")


def markdown_files():
    for path in sorted(ROOT.rglob("*.md")):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED_DIRS:
            continue
        if path.name == "README.md" or path.relative_to(ROOT).parts[0] == "docs":
            yield path


def heading_anchors(path):
    """GitHub-style anchors of a Markdown file's headings."""
    anchors = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        title = re.sub(r"[^\w\- ]", "", title)
        anchors.add(title.replace(" ", "-"))
    return anchors


def links(path):
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # links inside code spans are not links
        for match in LINK.finditer(line):
            target = match.group(1)
            if not re.match(r"^[a-z]+:", target):  # http:, https:, mailto: are not checked
                yield number, target


def problems():
    for path in markdown_files():
        for number, target in links(path):
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                yield f"{where}: no such file"
            elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
                yield f"{where}: no heading for #{anchor}"


def main():
    global ROOT
    if len(sys.argv) == 3 and sys.argv[1] == "--root":
        ROOT = pathlib.Path(sys.argv[2]).resolve()
    found = list(problems())
    checked = sum(1 for path in markdown_files() for _ in links(path))
    for problem in found:
        print(problem)
    if checked == 0:
        print("no relative links found: the docs are missing or the scan is broken")
        return 1
    print(f"{checked - len(found)} passed, {len(found)} failed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
