"""The project's own reference (docs/reference.md) is complete and is the only place pointed to.

Users get the repository and nothing beside it: a pointer to a document outside it (the
project's former spec, the source documents' file names) is a dead end for them. And a
reference that forgets a column, a config key or a command is a reference users stop trusting.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from reglink.config_schema import LINKAGE_KEYS, RULE_KEYS, SCHEMA
from reglink.schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
# spelled in pieces so that this file does not match itself
FORBIDDEN = ("CONTRACTS" + ".md", "../" + "shared", "seed " + "00")
# the source documents' file names: three digits, an underscore, sixteen hex digits, .txt
SOURCE_FILE_NAME = re.compile(r"\b00\d_[0-9a-f]{16}" + r"\.txt\b")


def tracked_files() -> list[Path]:
    """Every file git tracks (the .venv and build outputs are not tracked)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository():
    hits = []
    for path in tracked_files():
        if ".venv" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files
        for n, line in enumerate(text.splitlines(), 1):
            for bad in FORBIDDEN:
                if bad.lower() in line.lower():
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {bad}")
            if SOURCE_FILE_NAME.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: a source document's file name")
    assert not hits, "pointers outside the repository:\n" + "\n".join(hits)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = m.group(1).strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            out.add(text.replace(" ", "-"))
    return out


def test_every_pointer_to_the_reference_lands_on_a_heading():
    known = anchors(REFERENCE.read_text(encoding="utf-8"))
    missing = []
    for path in tracked_files():
        if path.suffix not in (".py", ".md", ".json", ".yaml", ".html", ".j2") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for anchor in re.findall(r"reference\.md#([\w\-]+)", text):
            if anchor not in known:
                missing.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert not missing, "anchors not in docs/reference.md:\n" + "\n".join(missing)


def test_readme_links_the_reference():
    assert "(docs/reference.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("source", sorted(SCHEMAS))
def test_every_canonical_column_is_in_the_reference(source):
    """Each register's section lists each of its columns, required ones marked as such."""
    text = REFERENCE.read_text(encoding="utf-8")
    section = text.split(f"### {source}\n", 1)[1].split("\n#", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|([^|]*)\|", section, re.M)}
    schema = SCHEMAS[source]
    assert list(rows) == schema.names
    for col in schema.columns:
        assert ("yes" in rows[col.name]) == col.required, col.name
        for code in col.codes:
            assert f"`{code}`" in section, (col.name, code)


def test_every_config_key_is_in_the_reference():
    text = REFERENCE.read_text(encoding="utf-8")
    config = text.split("## Pipeline configuration", 1)[1].split("\n## ", 1)[0]
    for key in list(SCHEMA) + list(LINKAGE_KEYS):
        assert f"`{key}`" in config, key
    from dataclasses import fields

    from reglink.tables.settings import TableSettings

    tables = config.split("### `tables:`", 1)[1].split("\n### ", 1)[0]
    for f in fields(TableSettings):
        if f.name not in ("home_country", "rule", "observed_until"):
            assert f"`{f.name}`" in tables, f.name
    rules = text.split("## Residence rules", 1)[1].split("\n## ", 1)[0]
    for key in RULE_KEYS:
        assert f"`{key}`" in rules, key


def test_every_command_is_in_the_reference():
    from reglink.cli import app

    text = REFERENCE.read_text(encoding="utf-8")
    for cmd in app.registered_commands:
        name = cmd.name or cmd.callback.__name__
        assert f"### reglink {name}" in text, name


def test_links_between_docs_land_on_headings():
    """A link `page.md#anchor` in README or docs/ names a page that exists and a heading in it."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w\-]+))?\)",
                                         page.read_text(encoding="utf-8")):
            dest = (page.parent / target).resolve()
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} does not exist")
            elif anchor and anchor not in anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor} has no such heading")
    assert not broken, "\n".join(broken)
