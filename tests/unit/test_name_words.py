"""How names and searches are cut into the words the patient search compares."""

from chalicelib.store.accounts import fold_words


def test_words_are_lower_case_without_accents_or_punctuation():
    # Given a name with accents, a hyphen, an apostrophe and a capital letter
    name = "María-José O'Neil GARCÍA"

    # When it is cut into words
    words = fold_words(name)

    # Then each word is plain lower case, the hyphenated parts apart
    assert words == ["maria", "jose", "oneil", "garcia"]


def test_a_repeated_word_counts_once_and_blank_text_has_no_words():
    # Given a name with a word twice, and text with no letters
    # When both are cut into words
    repeated, blank = fold_words("Anna  anna Ånna Lee"), fold_words("  - , ")

    # Then the repeated word is kept once, and blank text gives none
    assert repeated == ["anna", "lee"]
    assert blank == []
