"""Preset sentences for the Explore page, chosen by running the shipped model on candidates.

Each preset says what a person would answer (``human_label``) and, in its comment, what the provisional
English model (models/en, test accuracy ≈ 0.78 when these were picked) did with it. The model can change
when it is retrained: the tests only rely on the "clearly" presets being classified as a person would.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnviz.analysis import NEGATIVE, POSITIVE


@dataclass(frozen=True)
class Preset:
    """A sentence for the preset menu."""

    name: str          # short menu label, e.g. "Clearly positive"
    text: str          # the sentence itself
    human_label: str   # "positive" / "negative": what a person would say ("" when it is genuinely mixed)
    language: str = "en"
    note: str = ""     # one plain-language sentence shown under the menu: why this example is interesting


PRESETS: tuple[Preset, ...] = (
    # Model: P(positive) ≈ 0.997, logit ≈ +6. "moving" and "gorgeous" carry most of the logit. The repeated
    # "a" and "film" show that every position keeps its own row and column in the heatmap.
    Preset("Clearly positive", "a gorgeous, witty and moving film: a film to love", POSITIVE,
           note="Praise words get most of the credit. The words 'a' and 'film' appear twice: each copy "
                "has its own row and column."),
    # Model: P(positive) ≈ 0.0000, logit ≈ −10. Both copies of "boring" pull hard towards negative.
    Preset("Clearly negative", "a dull, boring film with a boring plot", NEGATIVE,
           note="Both copies of 'boring' push the score strongly towards negative."),
    # Model: P(positive) ≈ 0.0005 (negative, wrong): "bad" alone contributes ≈ −6.5 and "not" barely moves
    # anything. The architecture averages words; nothing lets "not" flip the meaning of "bad".
    Preset("Negation: not bad at all", "not bad at all", POSITIVE,
           note="A person reads this as praise. The model mostly sees the word 'bad': averaging words "
                "cannot express that 'not' flips the next word."),
    # Model: P(positive) ≈ 0.54, 74 tokens, one unknown word ("restaurant"). A mostly positive review with
    # complaints: many small contributions, none dominant; good for the 256-token heatmap without numbers.
    Preset("A long review",
           "It begins slowly, and for the first half hour I wondered where it was going, but the director "
           "knows exactly what she is doing: the characters grow on you, the jokes land, the music is lovely "
           "and by the end the quiet story of two sisters running a failing restaurant becomes one of the "
           "most moving films of the year, even if a few scenes drag and the ending is a little too neat.",
           POSITIVE,
           note="In a long text each word gets only a little attention, so many small pushes add up."),
    # Model: P(positive) ≈ 0.98 (positive, wrong). "funny" and "smart" are strong positive words and the two
    # "not"s contribute only ≈ −0.4 each.
    Preset("One the model gets wrong", "it is not funny and not smart", NEGATIVE,
           note="The model says positive: it counts 'funny' and 'smart' and nearly ignores both 'not's."),
)


def presets_for(language: str = "en") -> list[Preset]:
    """The presets of one language, in menu order; ``"auto"`` (the model that picks by script) gets all."""
    if language == "auto":
        return list(PRESETS)
    return [preset for preset in PRESETS if preset.language == language]


def preset_by_name(name: str) -> Preset | None:
    return next((preset for preset in PRESETS if preset.name == name), None)
