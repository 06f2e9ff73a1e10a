#!/usr/bin/env python3
"""Checks that the docs' and the code's references to files resolve.

Three checks, each listing every broken reference it finds:

1. Links. Scans README.md files anywhere in the repository and every
   Markdown file under docs/. For each Markdown link or image whose target is
   relative (not http:, https:, mailto: or a pure #anchor), the file it names
   must exist, relative to the Markdown file. Anchors (#section) into Markdown
   files must match a heading of that file.
2. Paths in code comments. In the comments of C++ files (.cpp, .hpp, .h),
   Python files (# comments and docstrings) and CMake files (CMakeLists.txt,
   .cmake), every path that starts with one of the repository's top-level
   directories (docs/part4_epoll.md, common/include/cs/request_timer.hpp)
   must name a file or directory that exists, relative to the repository's
   root or to a directory that contains the commenting file (a chapter's
   code may name its own tests/...); an #anchor into a Markdown
   file must match one of its headings.
3. Binary paths in the docs. Every path of the form build/PRESET/... (PRESET
   one of CMakePresets.json's binary directories: default, release, asan,
   tsan, windows) that a Markdown file names, in prose or in code, must be a
   binary the build produces or a directory that contains one. The list of
   binaries is derived from the sources, without a build tree: each
   add_executable(NAME ...) in DIR/CMakeLists.txt produces
   build/PRESET/DIR/NAME (the top-level CMakeLists adds every directory
   with add_subdirectory at its own path); a name made of ${variables}
   matches any name there. What CMake itself writes there
   (CMakeCache.txt, compile_commands.json, Testing/) and the wine prefix
   that ./run creates in build/windows are not binaries and pass; so does a
   path with a part in capitals (build/release/DIR/NAME), a placeholder.

Exits 0 when every reference resolves, 1 listing every broken one.
"""
import ast
import io
import pathlib
import re
import sys
import tokenize

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


def link_problems():
    for path in markdown_files():
        for number, target in links(path):
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                yield f"{where}: no such file"
            elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
                yield f"{where}: no heading for #{anchor}"


# --- 2. paths in code comments ---------------------------------------------------

CODE_SUFFIXES = {".cpp", ".hpp", ".h", ".cc", ".py", ".cmake"}
# A path: a top-level directory, then path characters; it ends before
# trailing punctuation. Placeholders (<...>, {...}, *, ...) are not paths.
PATH_CHARS = r"[A-Za-z0-9_.+\-/#]"


def top_level_dirs():
    return sorted(p.name for p in ROOT.iterdir()
                  if p.is_dir() and p.name not in SKIPPED_DIRS and not p.name.startswith("."))


def code_files():
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if set(relative.parts) & SKIPPED_DIRS or any(p.startswith(".") for p in relative.parts):
            continue
        if path.is_file() and (path.suffix in CODE_SUFFIXES or path.name == "CMakeLists.txt"):
            yield path


def cpp_comments(text):
    """(line, comment text) of every // and /* */ comment, skipping string
    and character literals (raw strings included)."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield line, text[i + 2:end]
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end
            body = text[i + 2:end]
            for offset, part in enumerate(body.split("\n")):
                yield line + offset, part
            line += body.count("\n")
            i = end + 2
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i)
            delimiter = text[i + 2:open_paren]
            end = text.find(")" + delimiter + '"', open_paren)
            end = n if end < 0 else end + len(delimiter) + 2
            line += text.count("\n", i, end)
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            i += 1


def python_comments(text):
    """(line, text) of every # comment and every docstring."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string[1:]
    except (tokenize.TokenError, SyntaxError):
        pass
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                first = body[0].lineno
                for offset, part in enumerate(body[0].value.value.split("\n")):
                    yield first + offset, part


def cmake_comments(text):
    """(line, text) of every # comment (a # inside a quoted argument is not one)."""
    for number, line in enumerate(text.splitlines(), 1):
        in_quotes = False
        for index, c in enumerate(line):
            if c == '"' and (index == 0 or line[index - 1] != "\\"):
                in_quotes = not in_quotes
            elif c == "#" and not in_quotes:
                yield number, line[index + 1:]
                break


def comments(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        return python_comments(text)
    if path.suffix == ".cmake" or path.name == "CMakeLists.txt":
        return cmake_comments(text)
    return cpp_comments(text)


def is_placeholder(path):
    """docs/NAME.md, fuzz/corpus/NAME/SEED: a part in capitals stands for a name."""
    return any(re.fullmatch(r"[A-Z][A-Z0-9_]+", part.split(".")[0]) for part in path.split("/")[1:])


def comment_references(path, tops):
    pattern = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, tops)) + r")/" + PATH_CHARS + r"*)")
    for number, comment in comments(path):
        for match in pattern.finditer(comment):
            target = match.group(1).rstrip(".,:;)-/")
            rest = comment[match.end():match.end() + 1]
            if rest in ("<", "{", "*", "$") or "..." in target or is_placeholder(target):
                continue  # a pattern, not a path
            yield number, target


def comment_problems():
    tops = top_level_dirs()
    checked = 0
    found = []
    for path in code_files():
        for number, target in comment_references(path, tops):
            checked += 1
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            candidates = [ROOT / file_part] + [d / file_part for d in path.parents
                                                if d == ROOT or ROOT in d.parents]
            resolved = next((c for c in candidates if c.exists()), None)
            if resolved is None:
                found.append(f"{where}: no such file (in a comment)")
            elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
                found.append(f"{where}: no heading for #{anchor} (in a comment)")
    return checked, found


# --- 3. binary paths in the docs ---------------------------------------------------

# What a build directory holds besides binaries, which the docs may name:
# files CMake writes, and the wine prefix ./run creates in build/windows.
NOT_BINARIES = {"CMakeCache.txt", "compile_commands.json", "Testing", "wineprefix"}
BINARY_PATH = re.compile(r"(?<![\w./-])build/([A-Za-z0-9_-]+)/([A-Za-z0-9_.+/-]*[A-Za-z0-9_+-])")


def preset_dirs():
    """The build directories of CMakePresets.json's configure presets."""
    presets = ROOT / "CMakePresets.json"
    if not presets.exists():
        return set()
    return set(re.findall(r'"binaryDir"\s*:\s*"\$\{sourceDir\}/build/([^"/]+)"',
                          presets.read_text(encoding="utf-8")))


def cmake_commands(text):
    """(command name in lower case, its argument words) of a CMake file."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        yield match.group(1).lower(), text[match.end():end - 1].split()


def produced_binaries():
    """(DIR, regular expression for NAME), one per add_executable target:
    the binary is DIR/NAME under a preset's build directory. A foreach(VAR a b c)
    around add_executable(${VAR} ...) gives a, b and c; any other variable
    in a name matches any name."""
    patterns = []
    for cmake in sorted(ROOT.rglob("CMakeLists.txt")):
        relative = cmake.parent.relative_to(ROOT)
        if set(relative.parts) & SKIPPED_DIRS:
            continue
        directory = "" if str(relative) == "." else relative.as_posix()
        loops = []  # (variable, [items]) of the enclosing foreach() commands
        for command, words in cmake_commands(cmake.read_text(encoding="utf-8")):
            if command == "foreach":
                literal = len(words) > 1 and words[1] not in ("RANGE", "IN")
                loops.append((words[0] if words else "", words[1:] if literal else None))
            elif command == "endforeach" and loops:
                loops.pop()
            elif command == "add_executable" and words:
                names = [words[0]]
                for variable, items in loops:
                    if items is not None:
                        names = [n.replace("${" + variable + "}", item) for n in names for item in items]
                for name in names:
                    if re.fullmatch(r"\$\{[^}]*\}", name):
                        continue  # a helper function's parameter: its callers name the targets
                    pieces = re.split(r"\$\{[^}]*\}", name)
                    patterns.append((directory, re.compile("[^/]+".join(map(re.escape, pieces)))))
    return patterns


def binary_references(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in BINARY_PATH.finditer(line):
            yield number, match.group(1), match.group(2)


def binary_problems():
    presets = preset_dirs()
    binaries = produced_binaries()
    checked = 0
    found = []
    for path in markdown_files():
        for number, preset, rest in binary_references(path):
            if preset not in presets:
                continue
            checked += 1
            target = rest.rstrip(".")
            if target.split("/")[0] in NOT_BINARIES or is_placeholder("build/" + target):
                continue
            if preset == "windows" and target.endswith(".exe"):
                target = target[:-len(".exe")]
            folder, _, name = target.rpartition("/")
            exact = any(d == folder and pattern.fullmatch(name) for d, pattern in binaries)
            directory = any(d == target or d.startswith(target + "/") for d, _ in binaries)
            if not (exact or directory):
                found.append(f"{path.relative_to(ROOT)}:{number}: build/{preset}/{rest}: "
                             "no add_executable in the sources produces it")
    return checked, found


def problems():
    found = list(link_problems())
    _, in_comments = comment_problems()
    _, binaries = binary_problems()
    return found + in_comments + binaries


def main():
    global ROOT
    if len(sys.argv) == 3 and sys.argv[1] == "--root":
        ROOT = pathlib.Path(sys.argv[2]).resolve()
    links_found = list(link_problems())
    links_checked = sum(1 for path in markdown_files() for _ in links(path))
    comments_checked, comments_found = comment_problems()
    binaries_checked, binaries_found = binary_problems()
    for problem in links_found + comments_found + binaries_found:
        print(problem)
    if links_checked == 0:
        print("no relative links found: the docs are missing or the scan is broken")
        return 1
    failed = len(links_found) + len(comments_found) + len(binaries_found)
    checked = links_checked + comments_checked + binaries_checked
    print(f"links: {links_checked - len(links_found)} passed, {len(links_found)} failed; "
          f"paths in comments: {comments_checked - len(comments_found)} passed, "
          f"{len(comments_found)} failed; binary paths: "
          f"{binaries_checked - len(binaries_found)} passed, {len(binaries_found)} failed")
    print(f"{checked - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
