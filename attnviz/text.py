"""Text standardisation shared by training, the saved model and the app.

The same function is given to ``keras.layers.TextVectorization`` as ``standardize`` and is saved with the
model (it is registered as a Keras serialisable object), so the tokens the app shows are exactly the tokens
the model reads. Rules, for every language:

* lower-case (Unicode aware);
* apostrophes are removed inside words ("don't" -> "dont"), like Keras' default standardisation;
* every other punctuation mark, symbol (emoji included, with their variation selectors and keycap marks),
  control/format character and separator becomes a space. This also removes ``\\x85``, ``\\u2028`` and
  friends, which would otherwise break the vocabulary file on reload (it is read back with ``str.splitlines``);
* every Chinese (Han) character becomes a token of its own; Latin words and numbers stay whole.

Tokens are then split on spaces.
"""

from __future__ import annotations

import re
import unicodedata

import keras
import tensorflow as tf

APOSTROPHE_CHARACTERS = "'’`´"
APOSTROPHES = f"[{APOSTROPHE_CHARACTERS}]"
# Variation selectors and the keycap mark are combining marks (not symbols), so without naming them "❤️"
# would leave a lone U+FE0F token behind once the heart itself is removed. (first, last) code points:
EMOJI_MARK_RANGES = ((0xFE00, 0xFE0F), (0x20E3, 0x20E3), (0xE0100, 0xE01EF))
NON_WORD_CHARACTERS = (r"[\p{P}\p{S}\p{C}\p{Z}"
                       + "".join(f"\\x{{{first:X}}}-\\x{{{last:X}}}" for first, last in EMOJI_MARK_RANGES) + "]")
HAN_CHARACTER = r"(\p{Han})"


@keras.saving.register_keras_serializable(package="attnviz", name="standardize")
def standardize(texts: tf.Tensor) -> tf.Tensor:
    """Standardise a string tensor of any shape (see the module docstring for the rules)."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, APOSTROPHES, "")
    texts = tf.strings.regex_replace(texts, NON_WORD_CHARACTERS, " ")
    texts = tf.strings.regex_replace(texts, HAN_CHARACTER, r" \1 ")
    return tf.strings.strip(texts)


def is_word_character(character: str) -> bool:
    """``standardize`` for one character, in plain Python: True when it stays inside a word (letters, marks,
    digits; apostrophes, which are deleted and so join a word), False when it splits words."""
    if character in APOSTROPHE_CHARACTERS:
        return True
    code_point = ord(character)
    if any(first <= code_point <= last for first, last in EMOJI_MARK_RANGES):
        return False
    return unicodedata.category(character)[0] in "LMN"


def clean_unicode(text: str) -> str:
    """Make any Python string safe to hand to TensorFlow (valid UTF-8, NFC)."""
    # Lone surrogates cannot be encoded as UTF-8; replace them instead of failing.
    safe = text.encode("utf-8", errors="replace").decode("utf-8")
    return unicodedata.normalize("NFC", safe)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9\u00c0-\u024f]")


def detect_language(text: str) -> str:
    """Return ``"zh"`` when most letters of ``text`` are Chinese characters, else ``"en"``.

    A Latin word counts as one unit, like a Chinese character, because that is how the tokeniser splits.
    """
    han_count = len(_HAN.findall(text))
    # Apostrophes join words ("don't" is one token), as in standardize.
    latin_word_count = len(re.findall(r"[A-Za-z0-9\u00c0-\u024f]+", re.sub(APOSTROPHES, "", text)))
    return "zh" if han_count > latin_word_count else "en"
