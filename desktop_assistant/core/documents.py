"""Reading the documents a user brings (issue 22) into pages of plain text, and those into
passages small enough to retrieve and quote.

What reads what: PDFium (pypdfium2) a PDF's text layer (no OCR: a scanned PDF has none, and
the message says so), python-docx a DOCX's paragraphs and tables, the standard library's
`html.parser` an HTML page's text (scripts and styles left out), and Markdown, plain text and
source files are text already. The kind is taken from the bytes where they say it (a PDF or a
DOCX renamed .txt is still read as one), else from the suffix.

A PDF's pages are its pages; any other document is cut into "pages" of `TEXT_PAGE_LINES`
lines, named by their first line ("line 120"), so that an answer can say where it read.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_assistant.core.errors import UserError

MAX_FILE_BYTES = 200 << 20
TEXT_PAGE_LINES = 60  # a "page" of a text file
PASSAGE_WORDS = 160  # a passage: about a paragraph or two
OVERLAP_WORDS = 30  # shared by neighbouring passages, so no sentence is only ever cut
_TEXT_SUFFIXES = """
    .txt .text .md .markdown .rst .org .log .csv .tsv .json .yaml .yml .toml .ini .cfg .conf
    .xml .tex .py .pyi .js .mjs .ts .tsx .jsx .c .h .cc .cpp .hpp .cs .java .kt .go .rs .rb
    .php .pl .lua .r .jl .swift .m .scala .sh .bash .zsh .fish .ps1 .bat .sql .css .scss .vue
    .svelte .dart .hs .ml .ex .exs .erl .clj .el .vim .dockerfile .mk .cmake .gradle
    .properties .env
"""
TEXT_SUFFIXES = frozenset(_TEXT_SUFFIXES.split())
KINDS = "PDF, Word (DOCX), Markdown, plain text, HTML or source code"
Progress = Callable[[int, int], None]  # (pages read, pages in all)


class DocumentError(UserError):
    """A file that cannot be read as a document; the message says why and what to do."""


@dataclass(frozen=True)
class Page:
    number: int  # a PDF's page number, else the line the "page" starts at
    text: str


@dataclass(frozen=True)
class Document:
    name: str
    kind: str  # pdf, docx, html, markdown, text, code
    sha256: str
    pages: tuple[Page, ...]

    @property
    def paged(self) -> bool:
        """Its pages are real pages (a PDF): places are "page N", else "line N"."""
        return self.kind == "pdf"

    def place(self, page: Page) -> str:
        return f"page {page.number}" if self.paged else f"line {page.number}"

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages)


@dataclass(frozen=True)
class Passage:
    position: int  # order in its document
    page: int  # Page.number it starts on
    place: str  # "page 12" / "line 120"
    text: str


_OFFICE_SUFFIXES = (".doc", ".odt", ".rtf", ".pages", ".epub", ".xls", ".xlsx", ".ppt", ".pptx")
_DOCUMENT_SUFFIXES = frozenset(
    (".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", *_OFFICE_SUFFIXES)
)


def looks_like_document(path: Path) -> bool:
    """Whether a dropped file is meant as a document (by its first bytes, then its name):
    the window sends these to the documents, pictures and the rest to the image checks."""
    try:
        with path.open("rb") as f:
            if f.read(4) == b"%PDF":
                return True
    except OSError:
        return False
    suffix = path.suffix.lower()
    return (
        suffix in _DOCUMENT_SUFFIXES
        or suffix in TEXT_SUFFIXES
        or path.name.lower() in ("makefile", "dockerfile", "readme")
    )


FOLDER_LIMIT = 2000  # documents read from one folder (a collection)


def documents_in(folder: Path, limit: int = FOLDER_LIMIT) -> list[Path]:
    """The documents in a folder and its subfolders, by path (hidden files and folders, and
    links out of it, left out); `DocumentError` when it holds more than `limit`."""
    found = []
    root = folder.resolve()
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root) or not looks_like_document(path):
            continue
        found.append(path)
        if len(found) > limit:
            raise DocumentError(
                f"{folder.name} holds more than {limit} documents; add a smaller folder"
            )
    return found


def read_document(
    path: str | Path,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Document:
    """The document's text, page by page; `DocumentError` for anything that is not a readable
    document. `progress(done, total)` after each page of a PDF; `cancel` stops between
    pages (`DocumentError`: "stopped")."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise DocumentError(f"cannot open {path.name}: {err.strerror or err}") from err
    if path.is_dir():
        raise DocumentError(f"{path.name} is a folder; add it as a collection instead")
    if size > MAX_FILE_BYTES:
        raise DocumentError(f"{path.name} is {size >> 20} MB; documents up to 200 MB are read")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    kind = _kind(path, data)
    if kind == "pdf":
        pages = _pdf_pages(path.name, data, progress, cancel)
    elif kind == "docx":
        pages = _text_pages(_docx_text(path.name, data))
    else:
        text = _decode(path.name, data)
        if kind == "html":
            text = _html_text(text)
        pages = _text_pages(text)
    if not any(p.text.strip() for p in pages):
        if kind == "pdf":
            raise DocumentError(
                f"{path.name} has no text to read: it looks scanned (pictures of pages). "
                "Text in pictures is not read (no OCR); a PDF with a text layer works"
            )
        raise DocumentError(f"{path.name} is empty")
    return Document(path.name, kind, digest, tuple(pages))


def _kind(path: Path, data: bytes) -> str:
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return "docx"
        except zipfile.BadZipFile:
            pass
        raise DocumentError(f"{path.name} is an archive, not a document; {KINDS} files are read")
    suffix = path.suffix.lower()
    if suffix in (".pdf", ".docx"):
        raise DocumentError(f"{path.name} is not a {suffix[1:].upper()} file inside (damaged?)")
    if suffix in (".html", ".htm", ".xhtml"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix in TEXT_SUFFIXES or path.name.lower() in ("makefile", "dockerfile", "readme"):
        return "code" if suffix not in (".txt", ".text", ".rst", ".log") else "text"
    if suffix in _OFFICE_SUFFIXES:
        raise DocumentError(f"{path.name}: {suffix[1:].upper()} files are not read; {KINDS} are")
    if b"\0" in data[:8192]:
        raise DocumentError(f"{path.name} is not a text file; {KINDS} files are read")
    return "text"


def _decode(name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\0" in data[:8192]:
        raise DocumentError(f"{name} is not a text file; {KINDS} files are read")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # older Windows files


# PDFium is not thread-safe, not even across documents (pypdfium2's docs: calls from two threads
# at once crash the process); the window reads dropped files on a pool of threads.
_PDFIUM = threading.Lock()
_PDFIUM_PASSWORD = 4  # FPDF_ERR_PASSWORD


def _pdf_pages(
    name: str, data: bytes, progress: Progress | None, cancel: threading.Event | None
) -> list[Page]:
    """A PDF's pages' text, read with PDFium (pypdfium2): 15x faster than pypdf on a real
    300-page manual (0.19 s against 2.9 s on a Zen 4) with the same words. Everything it
    opens is closed here, under the lock, rather than by finalizers on another thread."""
    import pypdfium2 as pdfium

    pages = []
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as err:
            if getattr(err, "err_code", None) == _PDFIUM_PASSWORD:
                raise DocumentError(
                    f"{name} is protected by a password; save a copy without one"
                ) from err
            raise DocumentError(f"{name} is a damaged PDF ({err})") from err
        try:
            total = len(document)
            if total == 0:
                raise DocumentError(f"{name} is a damaged PDF (no pages found)")
            for number in range(1, total + 1):
                if cancel is not None and cancel.is_set():
                    raise DocumentError(f"reading {name} was stopped")
                pages.append(Page(number, _tidy(_pdf_page_text(document, number - 1))))
                if progress is not None:
                    progress(number, total)
        finally:
            document.close()
    return pages


def _pdf_page_text(document: Any, index: int) -> str:
    """One page's text layer ("" when the page is broken: the others are still read)."""
    page = text = None
    try:
        page = document[index]
        text = page.get_textpage()
        raw = text.get_text_range()
    except Exception:  # one broken page must not lose the others
        return ""
    finally:
        if text is not None:
            text.close()
        if page is not None:
            page.close()
    # PDFium ends lines with CR LF and marks a word broken at a line end with U+FFFE or U+0002
    return raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "").replace("\x02", "")


def _docx_text(name: str, data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises many kinds on a damaged file
        raise DocumentError(f"{name} is a damaged Word file ({type(err).__name__})") from err
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


class _HtmlText(html.parser.HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
         "article", "pre", "blockquote", "table", "ul", "ol"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    """Runs of spaces as one, at most one empty line in a row."""
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\n\s*\n\s*(?:\n\s*)+", "\n\n", text).strip()


def _text_pages(text: str) -> list[Page]:
    lines = text.splitlines()
    return [
        Page(start + 1, "\n".join(lines[start : start + TEXT_PAGE_LINES]).strip())
        for start in range(0, max(len(lines), 1), TEXT_PAGE_LINES)
    ]


def passages(document: Document) -> list[Passage]:
    """The document cut into passages of about `PASSAGE_WORDS` words, overlapping by
    `OVERLAP_WORDS`, each starting on the page it names (never spanning two pages: an answer
    names one page)."""
    found: list[Passage] = []
    step = PASSAGE_WORDS - OVERLAP_WORDS
    for page in document.pages:
        words = page.text.split()
        if not words:
            continue
        for start in range(0, len(words), step):
            chunk = words[start : start + PASSAGE_WORDS]
            if start and len(chunk) <= OVERLAP_WORDS:
                break  # all of it is in the previous passage already
            found.append(Passage(len(found), page.number, document.place(page), " ".join(chunk)))
    return found
