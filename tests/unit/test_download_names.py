"""The name a saved copy of a document gets: its title made safe for any file system, the file
type's extension, and an RFC 6266 Content-Disposition with an ASCII fallback."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from chalicelib.services.publication.documents import content_disposition, download_name


@pytest.mark.parametrize(("title", "content_type", "expected"), [
    ("Lipid panel, 12 March", "application/pdf", ("Lipid panel, 12 March.pdf", "Lipid panel, 12 March.pdf")),
    ("Chest X-ray", "image/jpeg", ("Chest X-ray.jpg", "Chest X-ray.jpg")),
    ("Résumé: TSH/T4 — März", "text/plain", ("Resume TSH-T4 Marz.txt", "Résumé TSH-T4 — März.txt")),
    ("../../etc/passwd", "image/png", ("etc-passwd.png", "etc-passwd.png")),
    ('A "quoted"\r\ntitle', "application/pdf", ("A -quoted- title.pdf", "A -quoted- title.pdf")),
    ("   ", "application/pdf", ("document.pdf", "document.pdf")),
    ("血液検査", "application/pdf", ("document.pdf", "血液検査.pdf")),
])
def test_a_title_becomes_a_safe_file_name_with_the_types_extension(title, content_type, expected):
    # Given a document's title and file type; When its download name is made; Then it is safe and keeps the title
    assert download_name(title, content_type) == expected


def test_a_long_title_is_cut_and_an_unknown_type_gets_a_neutral_extension():
    # Given a 300-character title and a type the portal does not name
    fallback, name = download_name("a" * 300, "application/octet-stream")

    # Then the name keeps 100 characters of it and ends in .bin
    assert name == fallback == "a" * 100 + ".bin"


def test_an_ascii_name_is_given_plainly_and_any_other_in_filename_star():
    # Given an ASCII title and an accented one; When their headers are made
    plain = content_disposition("Thyroid panel", "application/pdf")
    accented = content_disposition("Résultat", "application/pdf")

    # Then the plain one has only filename=; the other adds RFC 8187's UTF-8 form after the fallback
    assert plain == 'inline; filename="Thyroid panel.pdf"'
    fallback, encoded = accented.split("; filename*=UTF-8''")
    assert fallback == 'inline; filename="Resultat.pdf"'
    assert unquote(encoded) == "Résultat.pdf" and all(ord(ch) < 128 and ch not in ' ";' for ch in encoded)
