"""Reading documents into pages and passages (issue 22): each kind, and each way a file is
not a readable document, with a message that says so."""

from __future__ import annotations

import threading

import pytest

from desktop_assistant.core import documents
from desktop_assistant.core.documents import DocumentError, passages, read_document


def make_pdf(path, pages, password=None, image_only=False):
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if image_only:
            pdf.rect(20, 20, 100, 60, style="F")  # a "scan": marks, no text
        else:
            pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def test_a_pdf_page_by_page_with_progress(tmp_path):
    pages = [f"Page {n} is about topic number {n}. " * 20 for n in range(1, 6)]
    pages[2] = "The lighthouse keeper's name was Abigail Stone. " + pages[2]
    pdf = make_pdf(tmp_path / "report.pdf", pages)
    seen = []
    doc = read_document(pdf, progress=lambda done, total: seen.append((done, total)))
    assert doc.kind == "pdf" and doc.name == "report.pdf" and len(doc.pages) == 5
    assert "Abigail Stone" in doc.pages[2].text and doc.pages[2].number == 3
    assert seen[-1] == (5, 5) and len(seen) == 5
    found = passages(doc)
    where = [p for p in found if "Abigail" in p.text]
    assert where and where[0].page == 3 and where[0].place == "page 3"
    assert all(len(p.text.split()) <= documents.PASSAGE_WORDS for p in found)
    assert [p.position for p in found] == list(range(len(found)))
    again = read_document(pdf)
    assert again.sha256 == doc.sha256  # the same bytes: read once, found by hash


def test_a_pdf_renamed_txt_is_still_a_pdf(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", ["Hidden in plain sight."])
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(pdf.read_bytes())
    assert read_document(renamed).kind == "pdf"


@pytest.mark.parametrize(
    "case, words",
    [
        ("scanned", ["no text to read", "no OCR"]),
        ("password", ["password"]),
        ("damaged", ["damaged PDF"]),
        ("fake", ["not a PDF"]),
    ],
)
def test_pdfs_that_cannot_be_read_say_why(tmp_path, case, words):
    path = tmp_path / "doc.pdf"
    if case == "scanned":
        make_pdf(path, ["x", "y"], image_only=True)
    elif case == "password":
        make_pdf(path, ["secret"], password="pw")
    elif case == "damaged":
        make_pdf(path, ["some text " * 50])
        path.write_bytes(path.read_bytes()[:400])
    else:
        path.write_text("just words, named .pdf")
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert all(w in str(caught.value) for w in words), str(caught.value)


def test_reading_a_long_pdf_can_be_stopped(tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", [f"page {n}" for n in range(30)])
    stop = threading.Event()

    def progress(done, total):
        if done == 3:
            stop.set()

    with pytest.raises(DocumentError, match="stopped"):
        read_document(pdf, progress=progress, cancel=stop)


def test_word_html_markdown_text_and_code(tmp_path):
    import docx

    word = docx.Document()
    word.add_paragraph("The meeting is on Tuesday.")
    table = word.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Room", "4B"
    word.save(tmp_path / "minutes.docx")
    doc = read_document(tmp_path / "minutes.docx")
    assert doc.kind == "docx" and "Tuesday" in doc.text and "Room | 4B" in doc.text
    (tmp_path / "page.html").write_text(
        "<html><head><title>t</title><script>var secret = 1;</script></head>"
        "<body><h1>Opening hours</h1><p>Mon&ndash;Fri 9&nbsp;to 5</p><style>p{}</style></body>"
    )
    page = read_document(tmp_path / "page.html")
    assert page.kind == "html" and "Opening hours" in page.text and "Mon–Fri 9 to 5" in page.text
    assert "secret" not in page.text and "p{}" not in page.text
    (tmp_path / "notes.md").write_text("# Title\n\nSome *notes*.\n")
    assert read_document(tmp_path / "notes.md").kind == "markdown"
    (tmp_path / "old.txt").write_bytes("Caf\xe9 cr\xe8me".encode("cp1252"))
    assert read_document(tmp_path / "old.txt").text == "Café crème"
    code = tmp_path / "tool.py"
    code.write_text("\n".join(f"line_{n} = {n}" for n in range(1, 151)))
    source = read_document(code)
    assert source.kind == "code" and [p.number for p in source.pages] == [1, 61, 121]
    assert source.place(source.pages[1]) == "line 61"
    assert passages(source)[0].place == "line 1"


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("empty.txt", b"", ["empty"]),
        ("blob.bin", b"\x00\x01\x02" * 100, ["not a text file"]),
        ("old.doc", b"\xd0\xcf\x11\xe0 old word", ["DOC files are not read"]),
        ("archive.txt", b"PK\x03\x04 not really", ["archive"]),
    ],
)
def test_files_that_are_not_documents(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert all(w in str(caught.value) for w in words), str(caught.value)


def test_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(DocumentError, match="cannot open"):
        read_document(tmp_path / "nope.pdf")
    with pytest.raises(DocumentError, match="is a folder"):
        read_document(tmp_path)


def test_pdfs_read_on_several_threads_at_once_come_out_whole(tmp_path):
    """The window reads dropped files on a pool of threads; PDFium must not be called from
    two at once (it would crash the process), so reading takes turns and each file comes out
    whole."""
    from concurrent.futures import ThreadPoolExecutor

    pdfs = [make_pdf(tmp_path / f"d{i}.pdf", [f"file {i} page {n}" for n in range(20)])
            for i in range(4)]  # fmt: skip
    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(read_document, pdfs * 3))
    for i, doc in enumerate(read):
        assert [p.text for p in doc.pages] == [f"file {i % 4} page {n}" for n in range(20)]
