"""A check of the pages' markup that the test suite runs on every page it renders
(`CHECK_ANSWERS=1`, as for the JSON answers): attributes run together, as a template writes them
when the space between two of them is lost (`requiredaria-describedby`, `value="x"required`).
A browser reads such a run as one unknown attribute, so screen readers lose both the hint and the
`required`. Nothing else of the page is judged here (axe-core does that in the browser tests)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# The attribute names the pages use (a run is two of these, or one of these and an aria-/data- one).
KNOWN = frozenset("""
accept action alt async autocomplete autofocus charset checked cite class cols colspan content
crossorigin d datetime decoding defer dir disabled download enctype fill for form headers height hidden
high href hreflang http-equiv id inputmode integrity label lang list loading low max maxlength media
method min minlength multiple name novalidate open optimum pattern placeholder preserveaspectratio
readonly referrerpolicy rel required reversed role rows rowspan scope selected shape-rendering size
sizes span spellcheck src srcset start step stroke stroke-width style tabindex target title
transform translate type value viewbox width wrap x x1 x2 xmlns y y1 y2 points text-anchor
font-size rx ry cx cy r opacity
""".split())
_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
# Inside a tag, each quoted value (a value holds no raw quote: it is escaped) and what follows it.
_QUOTED = re.compile(r"=\s*\"[^\"]*\"(.?)")


def _a_name(part: str) -> bool:
    return part in KNOWN or bool(re.fullmatch(r"(?:aria|data)-[a-z][a-z0-9-]*", part))


def _run_together(name: str) -> bool:
    """Two attribute names written as one (`requiredaria-describedby`)."""
    if _a_name(name):
        return False
    return any(name[:cut] in KNOWN and _a_name(name[cut:]) for cut in range(1, len(name)))


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, _ in attrs:
            if _run_together(name):
                self.found.append(f"<{tag}> {name}")


def attributes_run_together(html: str) -> list[str]:
    """Every attribute that runs into the next one, as `<tag> name` (or the tag's text)."""
    parser = _Attributes()
    parser.feed(html)
    parser.close()
    found = parser.found
    found += [tag.group(0)[:120] for tag in _TAG.finditer(html)
              if any(after.group(1) not in ("", " ", "\n", "\t", "/", ">") for after in _QUOTED.finditer(tag.group(0)))]
    return found
