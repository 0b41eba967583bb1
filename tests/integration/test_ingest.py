"""``vectorgate ingest``, ``search`` and ``collections`` end to end against a real server."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pdf import write_pdf
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, F
from vectorgate_server.cli import main

pytestmark = pytest.mark.integration

#: One passage per file type that the searches below must find.
MARKERS = {
    "txt": "The lighthouse keeper polished the giant brass lens every evening before the storm.",
    "md": "Sourdough bread needs a lively starter fed with rye flour and warm water.",
    "html": "The volcano erupted at dawn, sending rivers of molten lava down toward the sea.",
    "jsonl": "Emperor penguins huddle together to survive the dark Antarctic winter.",
    "pdf": "The violinist tuned her instrument backstage before the symphony concert began.",
}
QUERIES = {
    "txt": "lighthouse lens polished before a storm",
    "md": "baking sourdough bread with a rye starter",
    "html": "volcanic eruption and lava flowing to the ocean",
    "jsonl": "penguins in the Antarctic winter",
    "pdf": "violin tuning before an orchestra concert",
}
FILLER_TOPICS = [
    "the committee reviewed the quarterly budget spreadsheet",
    "the parking garage on level three was repainted",
    "the printer toner order was delayed by the supplier",
    "the new hire completed the security training module",
    "the office plants were watered by the facilities team",
    "the conference room projector needed a new cable",
]


def _filler(n: int, sentences: int = 3) -> str:
    topic = FILLER_TOPICS[n % len(FILLER_TOPICS)]
    return " ".join(
        f"Note {n}.{i}: {topic} and filed report {n * 10 + i}." for i in range(sentences)
    )


def make_corpus(root: Path) -> dict[str, int]:
    """Writes 56 files (11 per type and a corrupt PDF) under ``root``; returns counts by type."""
    counts: dict[str, int] = {}
    sub = root / "nested" / "deeper"
    sub.mkdir(parents=True)
    for i in range(11):
        folder = sub if i % 4 == 0 else root
        marker = i == 5
        body = MARKERS["txt"] if marker else _filler(i)
        long_tail = "\n\n".join(_filler(100 + i + k, 6) for k in range(4)) if i == 1 else ""
        (folder / f"note_{i:02d}.txt").write_text(f"{body}\n\n{long_tail}".strip() + "\n")
        md_body = MARKERS["md"] if marker else _filler(20 + i)
        (folder / f"page_{i:02d}.md").write_text(f"# Kitchen page {i}\n\n{md_body}\n")
        html_body = MARKERS["html"] if marker else _filler(40 + i)
        (folder / f"doc_{i:02d}.html").write_text(
            f"<!doctype html><html><head><title>Field report {i}</title>"
            "<style>body { color: red; } .secretStyle {}</style></head><body>"
            f"<h1>Report {i}</h1><p>{html_body}</p>"
            '<script>var secretToken = "do-not-index";</script>'
            "<p>Signed &amp; dated.</p></body></html>\n"
        )
        lines = [
            {"text": MARKERS["jsonl"] if marker and k == 1 else _filler(60 + i * 3 + k),
             "author": f"author-{i}", "tags": ["a", "b"], "extra": {"n": k}}
            for k in range(3)
        ]  # fmt: skip
        (folder / f"rows_{i:02d}.jsonl").write_text(
            "\n".join(json.dumps(line) for line in lines) + "\n"
        )
        pdf_text = MARKERS["pdf"] if marker else _filler(80 + i)
        write_pdf(folder / f"paper_{i:02d}.pdf", [[pdf_text], [_filler(90 + i, 1)]], f"Paper {i}")
    for filetype in MARKERS:
        counts[filetype] = 11
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R\n\x00\xff")
    (root / "ignored.bin").write_bytes(b"\x00\x01")
    return counts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("ingest") / "data")
    with ServerThread(config) as running:
        yield running


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root)
    return root


def _ingest(server: ServerThread, *args: str) -> int:
    return main(["ingest", *args, "--target", server.grpc_target])


def _summary(out: str) -> tuple[int, int, int, int]:
    match = re.search(
        r"ingested (\d+) file\(s\) .*: (\d+) chunks, (\d+) new, (\d+) already present", out
    )
    assert match, out
    files, chunks, new, present = (int(g) for g in match.groups())
    return files, chunks, new, present


@pytest.fixture(scope="module")
def ingested(server: ServerThread, corpus: Path) -> dict[str, object]:
    """Ingests the corpus twice; returns both outputs and counts."""
    # a module-scoped fixture cannot use capsys: capture by hand
    results: dict[str, object] = {}
    for run in ("first", "second"):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _ingest(server, str(corpus), "--collection", "docs", "--chunk-tokens", "64",
                           "--overlap", "12")  # fmt: skip
        with Client(server.grpc_target) as client:
            count = client.get_collection("docs").document_count
        results[run] = (code, out.getvalue(), err.getvalue(), count)
    return results


def test_first_run_ingests_every_good_file_and_reports_the_corrupt_pdf(
    ingested: dict[str, object],
) -> None:
    code, out, err, count = ingested["first"]  # type: ignore[misc]
    assert code == 0
    files, chunks, new, present = _summary(out)
    assert files == 55  # 11 of each of the 5 types; broken.pdf skipped, ignored.bin not picked up
    assert "1 file(s) skipped" in out
    assert "broken.pdf" in err and "cannot read PDF" in err
    assert "ignored.bin" not in err
    assert new == chunks == count
    assert present == 0
    # note_01.txt is long: split into several chunks of at most 64 tokens
    assert chunks > 55 + 2 * 11  # jsonl files have 3 records each


def test_second_run_adds_nothing(ingested: dict[str, object]) -> None:
    first = ingested["first"]
    code, out, _, count = ingested["second"]  # type: ignore[misc]
    assert code == 0
    _, chunks, new, present = _summary(out)
    assert new == 0
    assert present == chunks
    assert count == first[3]  # type: ignore[index]


@pytest.mark.parametrize("filetype", sorted(MARKERS))
def test_search_finds_the_passage_of_each_file_type(
    server: ServerThread, ingested: dict[str, object], filetype: str
) -> None:
    with Client(server.grpc_target) as client:
        hits = client.search("docs", text=QUERIES[filetype], top_k=3)
    top = hits[0]
    assert top.metadata["filetype"] == filetype
    assert MARKERS[filetype] in top.text
    assert top.metadata["source"].rsplit("/", 1)[-1].endswith(f"_05.{filetype}")
    assert top.metadata["chunk"] >= 0


def test_chunk_metadata(server: ServerThread, ingested: dict[str, object]) -> None:
    with Client(server.grpc_target) as client:
        by_type = {
            t: client.search("docs", text=QUERIES[t], top_k=1, filter=F("filetype") == t)[0]
            for t in MARKERS
        }
        long = client.search("docs", text="printer toner supplier", top_k=50,
                             filter=F("source") == "note_01.txt")  # fmt: skip
    assert by_type["md"].metadata["title"] == "Kitchen page 5"
    assert by_type["html"].metadata["title"] == "Field report 5"
    assert by_type["pdf"].metadata["title"] == "Paper 5"
    assert by_type["jsonl"].metadata["author"] == "author-5"
    assert by_type["jsonl"].metadata["tags"] == ["a", "b"]
    assert by_type["jsonl"].metadata["extra"] == '{"n": 1}'
    assert by_type["jsonl"].metadata["line"] == 2
    assert "title" not in by_type["txt"].metadata
    assert by_type["txt"].metadata["source"] == "note_05.txt"
    # HTML: tags stripped, script and style skipped, entities decoded
    html_hits = client_search_all(server, "html")
    assert all("secretToken" not in h and "secretStyle" not in h for h in html_hits)
    assert any("Signed & dated." in h for h in html_hits)
    # the long text file: several chunks, indexed from 0, overlapping
    chunks = sorted(long, key=lambda h: h.metadata["chunk"])
    assert [h.metadata["chunk"] for h in chunks] == list(range(len(chunks)))
    assert len(chunks) >= 4


def client_search_all(server: ServerThread, filetype: str) -> list[str]:
    with Client(server.grpc_target) as client:
        hits = client.search("docs", text="report", top_k=100, filter=F("filetype") == filetype)
    return [h.text for h in hits]


def test_only_bad_files_exit_1(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\ntruncated")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine"}\nnot json\n')
    assert _ingest(server, str(bad), str(rows), str(tmp_path / "missing.txt"),
                   "--collection", "bad_only") == 1  # fmt: skip
    captured = capsys.readouterr()
    assert "ingested 0 file(s)" in captured.out
    assert "3 file(s) skipped" in captured.out
    assert "line 2: invalid JSON" in captured.err
    assert "missing.txt" in captured.err


def test_search_command_prints_a_table(
    server: ServerThread, ingested: dict[str, object], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VECTORGATE_TARGET", server.grpc_target)
    code = main(["search", QUERIES["pdf"], "--collection", "docs", "--top-k", "3",
                 "--filter", '{"filetype": "pdf"}'])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    for column in ("rank", "score", "id", "source", "snippet"):
        assert column in out
    first_row = next(line for line in out.splitlines() if re.search(r"│\s+1\s+│", line))
    assert "paper_05.pdf#0" in first_row
    assert "violinist tuned" in first_row
    assert len([line for line in out.splitlines() if re.search(r"│\s+\d\s+│", line)]) == 3


def test_search_command_rejects_bad_filter_json(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "x", "--collection", "docs", "--filter", "{nope",
                 "--target", server.grpc_target])  # fmt: skip
    assert code == 2
    assert "--filter: invalid JSON" in capsys.readouterr().err


def test_collections_commands(
    server: ServerThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    target = ["--target", server.grpc_target]
    assert main(["collections", "create", "films", "--metric", "l2", *target]) == 0
    assert "created collection films" in capsys.readouterr().out
    assert main(["collections", *target, "list"]) == 0  # options before or after the action
    listing = capsys.readouterr().out
    assert re.search(r"│ films\s+│", listing)
    assert "l2" in listing
    assert main(["collections", "get", "films", *target]) == 0
    described = capsys.readouterr().out
    assert "documents" in described and "384" in described
    assert main(["collections", "delete", "films", *target]) == 0
    assert "deleted collection films" in capsys.readouterr().out
    assert main(["collections", "get", "films", *target]) == 1
    assert "films" in capsys.readouterr().err


def test_indexes_commands(
    server: ServerThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    target = ["--target", server.grpc_target]
    assert main(["collections", "create", "base", *target]) == 0
    with Client(server.grpc_target) as client:
        store = client.get_collection("base").store
    assert main(["indexes", "create", "pdf_only", "--collection", "base", "--store", store,
                 "--policy-filter", '{"filetype": "pdf"}', *target]) == 0  # fmt: skip
    assert main(["indexes", *target]) == 0
    listing = capsys.readouterr().out
    assert "pdf_only" in listing and "filetype" in listing
    assert main(["indexes", "delete", "pdf_only", *target]) == 0
    assert "deleted virtual index pdf_only" in capsys.readouterr().out
    assert main(["indexes", "list", *target]) == 0
    assert "no virtual indexes" in capsys.readouterr().out
