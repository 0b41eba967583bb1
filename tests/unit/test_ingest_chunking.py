"""File readers and the token-counted chunker behind ``vectorgate ingest``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.pdf import write_pdf
from vectorgate_server.ingest import (
    Chunker,
    FileError,
    chunk_id,
    collect_files,
    iter_chunks,
    local_token_counter,
    read_file,
)


@pytest.fixture(scope="module")
def count() -> Callable[[str], int]:
    return local_token_counter()


def _sentences(prefix: str, n: int) -> str:
    return " ".join(f"{prefix} sentence {i} is about the weather today." for i in range(n))


def test_chunks_respect_the_size_and_end_on_sentences(count: Callable[[str], int]) -> None:
    text = "\n\n".join(_sentences(f"P{p}", 7) for p in range(5))
    chunks = Chunker(count, 48, 0).split(text)
    assert len(chunks) > 3
    assert all(count(c) <= 48 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    # no overlap: every sentence appears exactly once
    joined = " ".join(" ".join(c.split()) for c in chunks)
    assert joined == " ".join(text.split())


def test_overlap_repeats_the_last_sentences(count: Callable[[str], int]) -> None:
    chunks = Chunker(count, 48, 14).split(_sentences("A", 12))
    for previous, current in itertools.pairwise(chunks):
        last_sentence = previous.rsplit(". ", 1)[-1]
        assert current.startswith(last_sentence.rstrip(".")), (previous, current)
        assert count(current) <= 48


def test_paragraph_boundaries_are_preferred(count: Callable[[str], int]) -> None:
    first, second = _sentences("First", 3), _sentences("Second", 3)
    # room for the first paragraph and one more sentence: greedy packing would take it
    size = count(first) + count(second.split(". ")[0] + ".")
    assert size < count(first) + count(second)
    chunks = Chunker(count, size, 0).split(f"{first}\n\n{second}")
    assert chunks == [first, second]


def test_an_overlong_sentence_is_split_between_words(count: Callable[[str], int]) -> None:
    chunks = Chunker(count, 16, 4).split("word " * 100)
    assert len(chunks) >= 6
    assert all(count(c) <= 16 for c in chunks)


def test_bad_sizes_are_rejected(count: Callable[[str], int]) -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(count, 32, 32)
    with pytest.raises(ValueError, match="at least 8"):
        Chunker(count, 4, 0)


def test_readers(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        "<html><head><title> The  Title </title><script>var x = 1;</script></head>"
        "<body><p>One &lt;two&gt;.</p><style>p {}</style><div>Three</div></body></html>"
    )
    filetype, records = read_file(tmp_path / "a.html")
    assert filetype == "html" and len(records) == 1
    html = records[0]
    assert html.text == "One <two>.\n\nThree"
    assert html.metadata == {"title": "The Title"}
    (tmp_path / "b.md").write_text("Intro\n\n# Heading one #\n\nBody text.\n")
    assert read_file(tmp_path / "b.md")[1][0].metadata == {"title": "Heading one"}
    (tmp_path / "c.jsonl").write_text('{"text": "x", "n": 1, "d": {"k": [1]}}\n\n{"text": "y"}\n')
    filetype, rows = read_file(tmp_path / "c.jsonl")
    assert filetype == "jsonl"
    assert [(r.text, r.metadata) for r in rows] == [
        ("x", {"n": 1, "d": '{"k": [1]}', "line": 1}),
        ("y", {"line": 3}),
    ]
    write_pdf(tmp_path / "d.pdf", [["Hello PDF."], ["Page two."]], title="Doc")
    pdf = read_file(tmp_path / "d.pdf")[1][0]
    assert pdf.text == "Hello PDF.\n\nPage two." and pdf.metadata == {"title": "Doc"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.pdf", b"%PDF-1.4\n\x00garbage", "cannot read PDF"),
        ("bad.jsonl", b'{"no_text": 1}\n', "line 1: expected an object"),
        ("bad.txt", b"\xff\xfe\xfa", "not UTF-8"),
        ("bad.docx", b"PK", "unsupported file type"),
    ],
)
def test_bad_files_raise_file_error(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FileError, match=message):
        read_file(tmp_path / name)


def test_chunk_ids_are_stable_and_files_are_collected(
    tmp_path: Path, count: Callable[[str], int]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("Alpha. Beta.")
    (tmp_path / "y.bin").write_bytes(b"")
    files = collect_files([tmp_path, tmp_path / "sub" / "x.txt"])
    assert files == [(tmp_path / "sub" / "x.txt", tmp_path)]
    filetype, records = read_file(files[0][0])
    chunker = Chunker(count, 32, 0)
    first = list(iter_chunks(filetype, records, "sub/x.txt", chunker))
    again = list(iter_chunks(filetype, records, "sub/x.txt", chunker))
    assert first == again
    assert first[0].id == chunk_id("sub/x.txt", 0, "Alpha. Beta.")
    assert first[0].metadata == {"source": "sub/x.txt", "chunk": 0, "filetype": "txt"}
    assert chunk_id("other.txt", 0, "Alpha. Beta.") != first[0].id
