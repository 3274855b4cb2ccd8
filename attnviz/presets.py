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
    # ----- Chinese (models/zh: product, hotel and book reviews; one token per character). Numbers are from the
    # zh model trained on 2026-12-04 (test accuracy ≈ 0.82).
    # Model: P(positive) ≈ 0.95, logit ≈ +3. 净 (clean), 好 (good) carry it; no single character dominates.
    Preset("中文：好评", "服务态度很好，房间也很干净，下次还会再来。", POSITIVE, language="zh",
           note="Chinese: 'Friendly service, clean room, will come again.' Each character is one token, so the "
                "matrix has one row and one column per character."),
    # Model: P(positive) ≈ 0.001, logit ≈ −6.7. 失 (of 失望, disappointed) ≈ −3.7 and 差 (poor) ≈ −2.
    Preset("中文：差评", "质量太差了，非常失望，千万别买。", NEGATIVE, language="zh",
           note="Chinese: 'Terrible quality, very disappointed, don't buy it.' The characters of 失望 "
                "(disappointed) and 差 (poor) push hardest towards negative."),
    # Model: P(positive) ≈ 1.0, logit ≈ +10. 错 (wrong) ≈ +5.5 each, 不 (not) ≈ −1 each.
    Preset("中文：不错", "不错不错，物流很快，下次还来。", POSITIVE, language="zh",
           note="不错 ('not wrong') means 'good'. The model reads characters one by one, so it has learned that "
                "错 ('wrong') is a very positive character: it almost always appears in 不错."),
    # Model: P(positive) ≈ 0.33 (negative, wrong): 太 (too) ≈ −1.4 outweighs 好 (good) ≈ +0.8.
    Preset("中文：模型判错", "这部电影太好看了", POSITIVE, language="zh",
           note="'This film is so good!' The model says negative: in its training reviews 太 ('too') "
                "mostly appears in complaints such as 太差了 ('too poor'), and there are no film reviews."),
)


def presets_for(language: str = "en") -> list[Preset]:
    """The presets of one language, in menu order; ``"auto"`` (the model that picks by script) gets all."""
    if language == "auto":
        return list(PRESETS)
    return [preset for preset in PRESETS if preset.language == language]


def preset_by_name(name: str) -> Preset | None:
    return next((preset for preset in PRESETS if preset.name == name), None)
