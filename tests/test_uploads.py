"""Upload rules for the Train page: every bad file gets a clear message, never a crash."""

from __future__ import annotations

import pytest

from attnviz.uploads import (
    MAX_TEXT_CHARACTERS,
    ModelNameError,
    UploadError,
    label_to_class,
    safe_directory_for,
    validate_model_name,
    validate_training_csv,
)


def make_csv(rows: list[tuple[str, str]], header: str = "text,label", separator: str = ",") -> bytes:
    lines = [header] + [f'"{text}"{separator}{label}' for text, label in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def balanced_rows(n_per_class: int = 12, positive: str = "1", negative: str = "0") -> list[tuple[str, str]]:
    rows = []
    for index in range(n_per_class):
        rows.append((f"a wonderful film number {index}", positive))
        rows.append((f"a dreadful film number {index}", negative))
    return rows


def test_valid_upload_maps_labels_to_zero_and_one():
    upload = validate_training_csv(make_csv(balanced_rows()))
    assert list(upload.frame.columns) == ["text", "label"]
    assert upload.class_counts == {0: 12, 1: 12}
    assert upload.frame.loc[upload.frame["text"].str.contains("wonderful"), "label"].eq(1).all()
    assert upload.encoding == "utf-8"
    assert upload.notes == []


@pytest.mark.parametrize(("positive", "negative"), [("pos", "neg"), ("Positive", "NEGATIVE"), ("true", "false"),
                                                    ("1.0", "0.0"), (" yes ", "no"), ("fresh", "rotten")])
def test_label_spellings(positive, negative):
    upload = validate_training_csv(make_csv(balanced_rows(positive=positive, negative=negative)))
    assert upload.class_counts == {0: 12, 1: 12}


def test_label_to_class_rejects_other_values():
    assert label_to_class("2") is None
    assert label_to_class("maybe") is None
    assert label_to_class("POS") == 1


def test_utf8_bom_and_header_case_and_extra_columns():
    rows = "\n".join(f"café très bon {i},pos,x\ncafé mauvais {i},neg,y" for i in range(12))
    content = ("\ufeff Text , LABEL ,source\n" + rows).encode("utf-8")
    upload = validate_training_csv(content)
    assert upload.frame["text"].iloc[0] == "café très bon 0"
    assert any("extra column" in note for note in upload.notes)


def test_windows_1252_fallback_is_noted():
    rows = "\n".join(f"café très bon {i},1\ncafé mauvais {i},0" for i in range(12))
    upload = validate_training_csv(("text,label\n" + rows).encode("cp1252"))
    assert upload.encoding == "cp1252"
    assert upload.frame["text"].iloc[0] == "café très bon 0"
    assert any("Windows-1252" in note for note in upload.notes)


def test_utf16_with_bom():
    rows = "\n".join(f"good {i},1\nbad {i},0" for i in range(12))
    upload = validate_training_csv(("text,label\n" + rows).encode("utf-16"))
    assert upload.class_counts == {0: 12, 1: 12}


def test_semicolon_separated_file():
    upload = validate_training_csv(make_csv(balanced_rows(), header="text;label", separator=";"))
    assert upload.class_counts == {0: 12, 1: 12}


def test_empty_rows_and_duplicates_are_dropped_with_notes():
    rows = [*balanced_rows(), ("", "1"), ("   ", "0"), ("no label here", "")]
    rows += [("a wonderful film number 0", "1")]
    upload = validate_training_csv(make_csv(rows))
    assert len(upload.frame) == 24
    assert any("Dropped 3 row" in note for note in upload.notes)
    assert any("duplicate" in note for note in upload.notes)


def test_long_texts_are_cut():
    rows = [*balanced_rows(), ("word " * 3000, "1")]
    upload = validate_training_csv(make_csv(rows))
    assert upload.frame["text"].str.len().max() <= MAX_TEXT_CHARACTERS
    assert any("Cut 1 text" in note for note in upload.notes)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"text,label\n", "No row"),
    (b"\x00\x01PK\x03\x04binary", "binary"),
    (b"review,score\nnice,1\n", "columns `text` and `label`"),
    (b"sentence\nnice\n", "missing: text, label"),
    (b"text,label\n" + b"good,1\n" * 3 + b"bad,2\n", "not one of the two classes"),
    (b"text,label\n" + b"".join(f"good {i},1\n".encode() for i in range(30)), "All labels are positive"),
    (make_csv(balanced_rows(3)), "Too few examples: 3 negative, 3 positive"),
    (b'text,label\n"unterminated,1\n', "not a valid CSV"),
])
def test_bad_uploads_have_clear_messages(content, message):
    with pytest.raises(UploadError, match=message):
        validate_training_csv(content)


def test_size_and_row_limits():
    with pytest.raises(UploadError, match="limit is"):
        validate_training_csv(make_csv(balanced_rows()), max_bytes=100)
    with pytest.raises(UploadError, match="rows; the limit is 20"):
        validate_training_csv(make_csv(balanced_rows()), max_rows=20)


def test_non_csv_extension_is_refused():
    with pytest.raises(UploadError, match="Only CSV"):
        validate_training_csv(make_csv(balanced_rows()), filename="data.xlsx")


def test_upload_error_is_an_attnviz_error():
    import attnviz

    assert issubclass(UploadError, attnviz.AttnvizError)
    assert issubclass(ModelNameError, attnviz.AttnvizError)


@pytest.mark.parametrize("name", ["my-model", "a", "reviews_2026", "x" * 40, "0abc"])
def test_good_model_names(name):
    assert validate_model_name(name, existing_names=["other"], bundled_names=["en"]) == name


@pytest.mark.parametrize("name", ["", " ", "My-Model", "../en", "..", ".hidden", "a/b", "a\\b", "x" * 41,
                                  "-start", "_start", "name with space", "en", "auto", "zh", "café", " ok",
                                  "ok\n", "a.b", "%2e%2e", "con"])
def test_bad_model_names(name):
    with pytest.raises(ModelNameError):
        validate_model_name(name, bundled_names=["en"])


def test_existing_user_model_name_is_refused():
    with pytest.raises(ModelNameError, match="already exists"):
        validate_model_name("mine", existing_names=["mine"])


def test_bundled_names_are_refused_even_when_not_reserved():
    with pytest.raises(ModelNameError, match="shipped"):
        validate_model_name("fr-small", bundled_names=["fr-small"])


def test_safe_directory_stays_inside_the_root(tmp_path):
    assert safe_directory_for("mine", tmp_path) == (tmp_path / "mine").resolve()
    for trick in ("../escape", "..", "a/b", "/etc"):
        with pytest.raises(ModelNameError):
            safe_directory_for(trick, tmp_path)
