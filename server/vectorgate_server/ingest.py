"""Reading documents from files and splitting them into token-counted chunks.

Used by ``vectorgate ingest``: :func:`read_file` turns a ``.txt``, ``.md``,
``.html``, ``.jsonl`` or ``.pdf`` file into :class:`Record` objects (text and
metadata; one per file, or one per line of a JSONL file), and :class:`Chunker`
splits their text into chunks of at most ``chunk_tokens`` tokens that end on
sentence or paragraph boundaries, with ``overlap`` tokens of the previous chunk
repeated at the start of the next. :func:`iter_chunks` yields the chunks of a
file with idempotent ids, so loading the same files twice writes the same ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final

import orjson

from .errors import InvalidArgument
from .jsondepth import MAX_JSON_DEPTH, check_depth

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "Chunker",
    "FileError",
    "Record",
    "chunk_id",
    "collect_files",
    "iter_chunks",
    "local_token_counter",
    "read_file",
]

#: File types read by :func:`read_file`, by suffix.
SUPPORTED_SUFFIXES: Final = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
}

_PARAGRAPH_RE: Final = re.compile(r"\n[ \t]*\n+")
_SENTENCE_RE: Final = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")
_SPACE_RE: Final = re.compile(r"[ \t\r\f\v]+")
_MD_TITLE_RE: Final = re.compile(r"^\s*#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_BLOCKS: Final = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article",
        "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
    }
)  # fmt: skip


class FileError(Exception):
    """A file cannot be read or parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Record:
    """Text to chunk with the metadata every chunk of it carries."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk ready to upsert."""

    id: str
    text: str
    metadata: dict[str, Any]


# -- readers ---------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    """Text of an HTML document: tags stripped, script/style skipped, blocks as paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HTML_BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HTML_BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title_parts.append(data)
        else:
            self.parts.append(data)


def _normalise(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks (blank lines)."""
    paragraphs = (_SPACE_RE.sub(" ", p).strip() for p in _PARAGRAPH_RE.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise FileError(f"not UTF-8 text: {err}") from None


def _read_html(path: Path) -> list[Record]:
    parser = _HTMLText()
    parser.feed(_read_text(path))
    parser.close()
    text = _normalise("".join(parser.parts))
    title = " ".join("".join(parser.title_parts).split())
    return [Record(text, {"title": title} if title else {})]


def _read_markdown(path: Path) -> list[Record]:
    text = _read_text(path)
    match = _MD_TITLE_RE.search(text)
    return [Record(_normalise(text), {"title": match.group(1)} if match else {})]


def _metadata_value(value: Any) -> Any:
    """A JSON value as a metadata value: scalars and string lists as is, the rest as JSON."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


_TOO_DEEP: Final = f"JSON nested deeper than {MAX_JSON_DEPTH} levels (the limit)"


def _read_jsonl(path: Path) -> list[Record]:
    records: list[Record] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        # orjson (not json): it parses without recursing on the interpreter's stack, and
        # the nesting is held to the server's JSON limit before anything walks the value.
        try:
            obj = orjson.loads(line)
            check_depth(obj)
        except orjson.JSONDecodeError as err:
            if "depth" in err.msg:
                raise FileError(f"line {number}: {_TOO_DEEP}") from None
            raise FileError(f"line {number}: invalid JSON: {err.msg}") from None
        except InvalidArgument:
            raise FileError(f"line {number}: {_TOO_DEEP}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise FileError(f"line {number}: expected an object with a string 'text' field")
        meta = {
            key: _metadata_value(value)
            for key, value in obj.items()
            if key != "text" and value is not None
        }
        meta["line"] = number
        records.append(Record(_normalise(obj["text"]), meta))
    return records


def _read_pdf(path: Path) -> list[Record]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs recoverable damage as warnings; a file it cannot parse raises.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path, strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.title) if info is not None and info.title else ""
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise FileError(f"cannot read PDF: {err or type(err).__name__}") from None
    text = _normalise("\n\n".join(pages))
    return [Record(text, {"title": title} if title else {})]


def read_file(path: Path) -> tuple[str, list[Record]]:
    """The file type and records of ``path``.

    Raises:
        FileError: unsupported type, unreadable, or malformed content.
    """
    filetype = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if filetype is None:
        raise FileError(f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        if filetype == "html":
            records = _read_html(path)
        elif filetype == "md":
            records = _read_markdown(path)
        elif filetype == "jsonl":
            records = _read_jsonl(path)
        elif filetype == "pdf":
            records = _read_pdf(path)
        else:
            records = [Record(_normalise(_read_text(path)))]
    except OSError as err:
        raise FileError(f"cannot read: {err.strerror or err}") from None
    return filetype, [r for r in records if r.text]


def collect_files(paths: list[Path]) -> list[tuple[Path, Path]]:
    """``(file, root)`` pairs: each file given, and every supported file under each directory.

    ``root`` is what the file's ``source`` is relative to: the directory given,
    or the file's own directory for a file given directly. Sorted, no duplicates.
    """
    seen: set[Path] = set()
    result: list[tuple[Path, Path]] = []
    for given in paths:
        if given.is_dir():
            found = sorted(
                p
                for p in given.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
            pairs = [(p, given) for p in found]
        else:
            pairs = [(given, given.parent)]
        for file, root in pairs:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                result.append((file, root))
    return result


# -- chunking --------------------------------------------------------------------------------


def local_token_counter() -> Callable[[str], int]:
    """Token count with the local model's tokenizer (no special tokens, no truncation)."""
    from .rag_context import TokenCounter

    counter = TokenCounter()
    counter.count("")  # load (and verify) the shared tokenizer now, not on the first chunk
    return counter.count


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    tokens: int
    paragraph_end: bool


class Chunker:
    """Splits text into chunks of at most ``chunk_tokens`` tokens, ``overlap`` tokens shared.

    Chunks end at sentence ends, and at a paragraph end when the chunk is at
    least half full and the next paragraph would not fit. A sentence longer
    than ``chunk_tokens`` is split between words.
    """

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap: int) -> None:
        if chunk_tokens < 8:
            raise ValueError("chunk size must be at least 8 tokens")
        if not 0 <= overlap < chunk_tokens:
            raise ValueError("overlap must be at least 0 and smaller than the chunk size")
        self.count_tokens = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap

    def _split_long(self, sentence: str) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for word in sentence.split():
            tokens = self.count_tokens(word)
            if current and used + tokens > self.chunk_tokens:
                pieces.append(" ".join(current))
                current, used = [], 0
            current.append(word)
            used += tokens
        if current:
            pieces.append(" ".join(current))
        return pieces

    def _units(self, text: str) -> list[_Unit]:
        units: list[_Unit] = []
        for paragraph in _PARAGRAPH_RE.split(text):
            sentences = [s.strip() for s in _SENTENCE_RE.split(paragraph.strip()) if s.strip()]
            pieces: list[tuple[str, int]] = []
            for sentence in sentences:
                sentence = " ".join(sentence.split())
                tokens = self.count_tokens(sentence)
                if tokens <= self.chunk_tokens:
                    pieces.append((sentence, tokens))
                else:
                    pieces.extend((p, self.count_tokens(p)) for p in self._split_long(sentence))
            for i, (piece, tokens) in enumerate(pieces):
                units.append(_Unit(piece, tokens, paragraph_end=i == len(pieces) - 1))
        return units

    @staticmethod
    def _join(units: list[_Unit]) -> str:
        out: list[str] = []
        for i, unit in enumerate(units):
            out.append(unit.text)
            if i < len(units) - 1:
                out.append("\n\n" if unit.paragraph_end else " ")
        return "".join(out)

    def _paragraph_tokens(self, units: list[_Unit], start: int) -> int:
        total = 0
        for unit in units[start:]:
            total += unit.tokens
            if unit.paragraph_end:
                break
        return total

    def split(self, text: str) -> list[str]:
        """The chunks of ``text``, in order."""
        units = self._units(text)
        chunks: list[str] = []
        current: list[_Unit] = []
        used = 0
        fresh = 0  # units in ``current`` that are not overlap from the previous chunk
        i = 0
        while i < len(units):
            unit = units[i]
            full = bool(current) and used + unit.tokens > self.chunk_tokens
            at_paragraph = (
                fresh > 0
                and current[-1].paragraph_end
                and used >= self.chunk_tokens // 2
                and used + self._paragraph_tokens(units, i) > self.chunk_tokens
            )
            if full or at_paragraph:
                chunks.append(self._join(current))
                carried: list[_Unit] = []
                carried_tokens = 0
                for previous in reversed(current):
                    if carried_tokens + previous.tokens > self.overlap:
                        break
                    carried.insert(0, previous)
                    carried_tokens += previous.tokens
                if carried_tokens + unit.tokens > self.chunk_tokens:
                    carried, carried_tokens = [], 0
                current, used, fresh = carried, carried_tokens, 0
            current.append(unit)
            used += unit.tokens
            fresh += 1
            i += 1
        if fresh:
            chunks.append(self._join(current))
        return chunks


def chunk_id(source: str, index: int, text: str) -> str:
    """Idempotent id of a chunk: sha256 of its source path, index and text."""
    digest = hashlib.sha256(f"{source}\0{index}\0{text}".encode()).hexdigest()
    return digest[:40]


def iter_chunks(
    filetype: str, records: list[Record], source: str, chunker: Chunker
) -> Iterator[Chunk]:
    """The chunks of a file's records, indexed from 0 across the whole file."""
    index = 0
    for record in records:
        for text in chunker.split(record.text):
            metadata: dict[str, Any] = {
                **record.metadata,
                "source": source,
                "chunk": index,
                "filetype": filetype,
            }
            yield Chunk(chunk_id(source, index, text), text, metadata)
            index += 1
