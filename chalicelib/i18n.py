"""The portal's languages: English (the source text) and Spanish, from gettext catalogs made with
Babel (`make translations`: extract into `locale/messages.pot`, update `locale/es/LC_MESSAGES/messages.po`,
compile `messages.mo`). Translations live in the catalogs, never in code.

- `translations(language)`: the gettext object for a language (English: the text as written).
- `gettext(text, language)`: one string; `N_` marks a string for the catalog where it is defined
  (a dict of notices, a mail's subject) and it is translated where it is shown.
- `negotiate(accept_language)`: a signed-out visitor's language from the browser's
  `Accept-Language` (q-values honoured) through Babel's `negotiate_locale`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gettext as _gettext

LANGUAGES = ("en", "es")
DEFAULT = "en"
NAMES = {"en": "English", "es": "Español"}  # each language named in itself, as a switch shows it
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
LANGUAGE_COOKIE = "portal_lang"  # a signed-out visitor's choice from the switch


def N_(text: str) -> str:  # noqa: N802 - gettext's own name for "mark, translate later"
    return text


def valid(language: str | None) -> str | None:
    """The language if the portal has it (`es`, `ES`, `es-MX` → `es`), else None."""
    if not language:
        return None
    base = language.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def of(language: str | None) -> str:
    """A stored or asked-for language, English when unset or unknown."""
    return valid(language) or DEFAULT


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalog of a language; English is the source text itself."""
    from babel.support import NullTranslations, Translations

    if of(language) == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [of(language)], domain=DOMAIN)


def gettext(text: str, language: str | None) -> str:
    """`text` (a catalog id) in `language`; English is the id itself (no catalog is loaded for it)."""
    if not text or of(language) == DEFAULT:
        return text
    return translations(of(language)).gettext(text)


def negotiate(accept_language: str | None) -> str | None:
    """The best of the portal's languages for an `Accept-Language` header, or None when the
    browser names none of them. Ranges are ordered by their q-value (q=0 means "not this one")."""
    from babel.core import negotiate_locale

    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    preferred = [tag for _, _, tag in sorted(ranked)]
    chosen = negotiate_locale(preferred, list(LANGUAGES), sep="-", aliases={})  # no aliases: "es-MX" counts as "es"
    return valid(chosen)
