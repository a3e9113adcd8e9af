"""The message catalogs: every string a person reads is in the catalog, the Spanish catalog
translates every entry (an untranslated or fuzzy entry counts as missing), keeps each placeholder,
and the compiled `messages.mo` the portal loads is the one its `.po` makes. See docs/language.md."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
LOCALE = CHALICELIB / "locale"
POT = LOCALE / "messages.pot"
PO = LOCALE / "es" / "LC_MESSAGES" / "messages.po"
MO = LOCALE / "es" / "LC_MESSAGES" / "messages.mo"
PAGES = CHALICELIB / "web" / "templates"
MAILS = CHALICELIB / "mail" / "templates"

# Templates left in English on purpose, each named (none today). The test below fails for every
# other template with a readable English word outside {% trans %} / _().
ENGLISH_ONLY: set[str] = set()
# The contract's machine-readable line in a mail's text part stays the same in every language.
CONTRACT_LINES = ("Temporary password:",)


def catalog(path: Path):
    with path.open("rb") as f:
        return read_po(f, locale="es" if path.suffix == ".po" else None)


def entries(cat) -> dict:
    return {msg.id if isinstance(msg.id, str) else tuple(msg.id): msg for msg in cat if msg.id}


# ---------------------------------------------------------------- the Spanish catalog

def test_the_spanish_catalog_translates_every_entry():
    # Given the template of every string and the Spanish catalog
    wanted, spanish = entries(catalog(POT)), entries(catalog(PO))
    # When each entry is looked up / Then it is there, translated (every plural form), and not fuzzy
    missing = [key for key in wanted if key not in spanish]
    untranslated = [key for key, msg in spanish.items() if key in wanted and (
        msg.fuzzy or not (all(msg.string) if isinstance(msg.string, tuple | list) else msg.string))]
    assert missing == [], f"not in the Spanish catalog (run `make translations`): {missing}"
    assert untranslated == [], f"untranslated or fuzzy in the Spanish catalog: {untranslated}"


PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}|<a href=\"[^\"]*\">")


@pytest.mark.parametrize("msg", [m for m in catalog(PO) if m.id], ids=lambda m: str(m.id)[:40])
def test_each_translation_keeps_the_placeholders_and_links(msg):
    # Given an entry / Then its translation names the same values and links as the English
    sources = [msg.id] if isinstance(msg.id, str) else list(msg.id)
    targets = [msg.string] if isinstance(msg.string, str) else list(msg.string)
    expected = sorted(PLACEHOLDER.findall(sources[-1]))
    for target in targets:
        assert sorted(PLACEHOLDER.findall(target)) == expected, target


def test_the_compiled_catalog_is_the_one_the_po_file_makes():
    # Given the committed messages.mo / When the .po is compiled afresh / Then they hold the same translations
    fresh = io.BytesIO()
    write_mo(fresh, catalog(PO))
    fresh.seek(0)
    with MO.open("rb") as f:
        committed = read_mo(f)

    def pairs(cat):
        return {str(m.id): str(m.string) for m in cat if m.id}

    assert pairs(committed) == pairs(read_mo(fresh)), "messages.mo is stale: run `make translations`"


def test_every_marked_string_is_in_the_catalog_template():
    # Given every string marked in the code and the templates today (as `make translations` extracts them)
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    marked = {msgid if isinstance(msgid, str) else msgid[0]
              for _, _, msgid, _, _ in extract_from_dir(str(CHALICELIB), method_map, options_map,
                                                         keywords={**DEFAULT_KEYWORDS, "N_": None})}
    # Then the catalog template holds each one
    in_template = {key if isinstance(key, str) else key[0] for key in entries(catalog(POT))}
    assert sorted(marked - in_template) == [], "marked but not in messages.pot: run `make translations`"


# ---------------------------------------------------------------- nothing readable outside the catalog

TRANS_BLOCK = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", re.S)
COMMENT = re.compile(r"{#.*?#}", re.S)
EXPRESSION = re.compile(r"{{.*?}}|{%.*?%}", re.S)
TAG = re.compile(r"<[^>]*>", re.S)
READABLE_ATTRIBUTE = re.compile(r"\b(?:alt|title|aria-label|placeholder)=\"([^\"]*)\"")
WORD = re.compile(r"\b(?=[A-Za-z]*[a-z])[A-Za-z]{2,}")  # a word, not an acronym (PDF reads the same in Spanish)
# A capitalised string literal inside {{ }} or {% %} that no _() / gettext() / ngettext() wraps:
# a label handed to a macro, or text chosen by a condition ("Document" if ... else ...).
BARE_LITERAL = re.compile(r"(?<![(\w])(?<!\(\s)\"([A-Z][a-z][^\"]*)\"")


def readable_leftovers(source: str, *, html: bool) -> list[str]:
    """What a person would read that does not go through the catalog."""
    found = []
    body = COMMENT.sub("", source)
    body = TRANS_BLOCK.sub("", body)
    for expression in EXPRESSION.findall(body):
        unwrapped = re.sub(r"(?:_|gettext|ngettext)\((?:[^()]|\([^()]*\))*\)", "", expression)
        unwrapped = re.sub(r"(?:==|!=)\s*\"[^\"]*\"", "", unwrapped)  # compared with, not shown
        found += [f"literal {text!r}" for text in BARE_LITERAL.findall(unwrapped)]
    without_code = EXPRESSION.sub(" ", body)
    if html:
        for value in READABLE_ATTRIBUTE.findall(without_code):
            if WORD.search(value):
                found.append(f"attribute {value!r}")
        without_code = re.sub(r"<(script|style)\b.*?</\1>", " ", without_code, flags=re.S)
        without_code = TAG.sub(" ", without_code)
    for line in without_code.splitlines():
        text = line.strip()
        for allowed in CONTRACT_LINES:
            text = text.removeprefix(allowed).strip()
        text = re.sub(r"(?<!\S)/\S*", "", text)  # a path after a link's address (/profile/records)
        if WORD.search(text):
            found.append(f"text {text!r}")
    return found


TEMPLATES = sorted([*PAGES.glob("*.html"), *MAILS.glob("*.html"), *MAILS.glob("*.txt")])


@pytest.mark.parametrize("path", [p for p in TEMPLATES if p.name not in ENGLISH_ONLY], ids=lambda p: p.name)
def test_every_readable_string_of_a_template_goes_through_the_catalog(path):
    # Given a template the portal shows in the reader's language
    # When its text outside {% trans %} and _() is read / Then no English word is left there
    assert readable_leftovers(path.read_text(), html=path.suffix == ".html") == []


def test_the_check_finds_a_sentence_a_label_and_an_attribute_left_in_english():
    # Given a template fragment with an English sentence, a bare macro label and an aria-label
    source = ('<p>Your results are ready.</p>{{ field("name", "Full name") }}<nav aria-label="Main">'
              '{% trans %}Fine{% endtrans %}{{ _("Also fine") }}</nav>')
    # Then each of the three is found, and the wrapped ones are not
    assert readable_leftovers(source, html=True) == [
        "literal 'Full name'", "attribute 'Main'", "text 'Your results are ready.'"]


def test_the_english_only_list_names_only_templates_that_exist():
    # Given the templates left in English / Then each still exists (a renamed one cannot hide here)
    names = {p.name for p in TEMPLATES}
    assert sorted(ENGLISH_ONLY - names) == []
