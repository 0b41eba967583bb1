"""The README comparison rules (tests/support/readme.py) accept what they should and no more."""

from __future__ import annotations

from tests.support import readme


def test_json_placeholders_scores_and_embeddings() -> None:
    expected = {"key": "<generated>", "score": 0.737, "n": 2, "e": "<3 numbers>", "t": "x"}
    ok = {"key": "sk-abc", "score": 0.7369, "n": 2, "e": [0.1, 0.2, 0.3], "t": "x"}
    assert readme.json_mismatches(expected, ok) == []
    for bad in (
        {**ok, "score": 0.74},  # beyond the tolerance
        {**ok, "n": 3},  # integers are exact
        {**ok, "e": [0.1, 0.2]},  # wrong length
        {**ok, "t": "y"},
        {k: v for k, v in ok.items() if k != "key"},  # a missing key
        {**ok, "extra": 1},  # an undocumented key
    ):
        assert readme.json_mismatches(expected, bad), bad


def test_text_lines_with_placeholders_and_scores() -> None:
    expected = "0.760  paris  Paris\nInsert completed in <seconds> seconds\n"
    assert (
        readme.text_mismatches(expected, "0.7605  paris  Paris\nInsert completed in 0.6 seconds\n")
        == []
    )
    assert readme.text_mismatches(expected, "0.770  paris  Paris\nInsert completed in 1 seconds\n")
    assert readme.text_mismatches(expected, "0.760  tcp  Paris\nInsert completed in 1 seconds\n")
    assert readme.text_mismatches(expected, "0.760  paris  Paris\n")


def test_sections_skip_comment_lines_in_code_blocks() -> None:
    source = "## A\n```bash\n# not a heading\necho 1\n```\n## B\n```bash\necho 2\n```\n"
    body = readme.section("A", source)
    assert [b.text for b in readme.bash_blocks(body)] == ["# not a heading\necho 1\n"]
