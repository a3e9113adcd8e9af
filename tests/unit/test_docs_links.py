"""The README is a front door: small, with a contents list, and every relative link in it, in
`docs/` and in `bench/README.md` leads to a file of the repository (and every `#anchor` to a heading
of the file it names)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_BYTES = 12 * 1024
DOCUMENTS = sorted([README, ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])

# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, where links and headings are Markdown."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def links(text: str) -> list[str]:
    """Every link target in the prose of a Markdown text, inline code spans left out."""
    found = []
    for line in prose_lines(text):
        found += LINK.findall(re.sub(r"`[^`]*`", "``", line))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text's headings (a repeated heading gets -1, -2, … as on GitHub)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(text):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(f"{base}-{count}" if count else base)
    return found


def is_relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)


def test_the_helpers_find_links_anchors_and_skip_code():
    # Given a small Markdown text with a link, an image, a link inside code, and headings
    text = ("# A map of the code\n## Two commands\n## Two commands\n"
            "See [map](#a-map-of-the-code) and ![shot](../docs/x.png \"title\") and `[no](nolink.md)`.\n"
            "```\n[not a link](inside-fence.md)\n# not a heading\n```\n")

    # When the helpers read it
    found = links(text)
    headings = {slug(h) for h in ("A map of the code", "The `portal` command line",
                                  "Follow-up: re-notices, escalation, the office digest, bad addresses")}

    # Then only the prose links count, and headings become GitHub's anchors
    assert found == ["#a-map-of-the-code", "../docs/x.png"]
    assert anchors(text) == {"a-map-of-the-code", "two-commands", "two-commands-1"}
    assert headings == {"a-map-of-the-code", "the-portal-command-line",
                        "follow-up-re-notices-escalation-the-office-digest-bad-addresses"}


def test_the_readme_is_a_front_door_of_at_most_12_kb_with_a_contents_list():
    # Given the README
    text = README.read_text(encoding="utf-8")

    # When its size and sections are read
    size = len(text.encode("utf-8"))
    contents = re.search(r"^## Contents\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)

    # Then it stays small, names both commands, and its contents list links every other section
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/"
    assert "make run" in text and "make test" in text
    assert contents, "README.md has no '## Contents' section"
    listed = set(re.findall(r"\]\(#([^)]+)\)", contents.group(1)))
    sections = {slug(h) for h in re.findall(r"^## (.+)$", text, re.MULTILINE)} - {"contents"}
    assert listed == sections


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading_of_the_repository(document):
    # Given a Markdown document of the repository
    assert document.exists(), document

    # When each of its relative links is followed from the document's folder
    broken = []
    for target in filter(is_relative, links(document.read_text(encoding="utf-8"))):
        file_part, _, anchor = unquote(target).partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists() or ROOT not in (linked, *linked.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor in {linked.relative_to(ROOT)}")

    # Then every one leads somewhere
    assert broken == []


def test_the_docs_folder_holds_the_chapters_the_readme_lists():
    # Given the chapters in docs/
    chapters = {path.name for path in (ROOT / "docs").glob("*.md")}

    # When the README's links into docs/ are read
    targets = links(README.read_text(encoding="utf-8"))
    linked = {Path(target.partition("#")[0]).name for target in targets if target.startswith("docs/")}

    # Then every chapter is reachable from the README
    assert chapters <= linked, f"chapters the README does not link: {sorted(chapters - linked)}"


def test_every_module_the_readme_map_names_is_in_the_folder_its_row_names():
    # Given the rows of the README's map of the code whose first cell links a folder
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## A map of the code\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## A map of the code' section"
    rows = re.findall(r"^\| \[`([^`]+/)`\]\([^)]*\)[^|]* \| (.*) \|$", section.group(1), re.MULTILINE)
    assert rows, "the map has no folder rows"

    # When each Python module a row names is looked for in that row's folder
    missing = [f"{folder}{name}" for folder, cell in rows for name in re.findall(r"`([\w/]+\.py)`", cell)
               if not (ROOT / folder / name).is_file()]

    # Then every one is there
    assert missing == []


# Specification files kept outside the repository once; the repository's own are docs/*.md and the
# OpenAPI document the portal serves.
OUTSIDE_NAMES = re.compile(r"[\w./-]*\b(?:API|PRODUCT|ARCHITECTURE)\.md\b|\bshared/[\w./-]+")
SOURCE_SUFFIXES = {".py", ".md", ".txt", ".html", ".json", ".toml", ".ini", ".cfg", ".yml", ".yaml"}
SKIPPED_FOLDERS = {"build", "node_modules", "__pycache__"}  # and hidden folders (.git, .venv*, .local, …)


def repository_text_files() -> list[Path]:
    """Makefile and every source or text file, outside virtualenvs, local tools and build output."""
    files = [ROOT / "Makefile"]
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name not in SKIPPED_FOLDERS
                         and not (Path(folder) / name / "pyvenv.cfg").exists()]
        files += [Path(folder) / name for name in names if Path(name).suffix in SOURCE_SUFFIXES]
    return files


def test_no_file_names_a_specification_the_repository_does_not_hold():
    # Given every source and documentation file of the repository
    files = repository_text_files()

    # When the names of specification files are looked for in them
    named = [f"{path.relative_to(ROOT)}:{number}: {name}"
             for path in files if path != Path(__file__).resolve()
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             for name in OUTSIDE_NAMES.findall(line) if not (ROOT / name).is_file()]

    # Then none is named: they point at docs/contract.md or GET /api/openapi.json instead
    assert named == []


# `path/in/the/repo` in the prose of the documents; `<placeholders>` are not paths.
NAMED_PATH = re.compile(r"`((?:app\.py|chalicelib|tests|bench|infra|portal_cli|bin|docs|\.chalice|\.ci)(?:/[\w.-]+)*/?)`")
WRITTEN_BY_COMMANDS = {"bench/results.json"}  # written by `make bench`, kept out of git


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_a_document_names_exists(document):
    # Given a Markdown document of the repository
    text = document.read_text(encoding="utf-8")

    # When the repository paths it names in code spans are looked up
    missing = [name for name in NAMED_PATH.findall(text)
               if name not in WRITTEN_BY_COMMANDS and not (ROOT / name).exists()]

    # Then each is there (a moved module is renamed in the documents too)
    assert missing == []
