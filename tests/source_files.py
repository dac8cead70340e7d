"""Real files generated for the document-ingest tests (nothing binary is committed): PDFs by fpdf2, an encrypted
PDF by pypdf's writer, a DOCX by python-docx, HTML/Markdown/text as strings."""
from __future__ import annotations

import io
from datetime import UTC, datetime

FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    """A PDF with one page per entry of ``pages`` (text pages)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)  # the same pages give the same bytes (and sha256)
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def image_only_pdf() -> bytes:
    """A 'scanned' page: a drawn rectangle, no text."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(["A confidential page."]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str], title: str | None = None) -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def filler(topic: str, words: int) -> str:
    """Plain sentences about ``topic`` (``words`` words in all)."""
    sentence = f"This part of the report discusses {topic} in general terms and without specifics."
    units = sentence.split()
    return " ".join(units[i % len(units)] for i in range(words))


REPORT_PAGES = [filler("quarterly budgets", 120),
                filler("staffing", 40) + " The Zorblax turbine was installed in Trondheim in 1987. "
                + filler("staffing", 40),
                filler("office furniture", 120)]


def three_page_report() -> bytes:
    """Page 2 carries the answer sentence; pages 1 and 3 are about other things."""
    return pdf_bytes(REPORT_PAGES, title="Annual report")


def three_page_text(page: int) -> str:
    """The text pypdf extracts from ``page`` (1-based) of ``three_page_report``: what chunk offsets index."""
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(three_page_report())).pages[page - 1].extract_text()


HTML_PAGE = ("<!DOCTYPE html><html><head><title>Glaciers</title></head><body><article><h1>Glaciers</h1>"
             "<p>Glaciers carve U-shaped valleys as they move slowly downhill over many centuries.</p>"
             "<p>Meltwater from glaciers feeds rivers throughout the dry summer months in the Alps.</p>"
             "</article></body></html>")
MARKDOWN = "# Bees\n\nHoneybees communicate the direction of food with a **waggle dance** inside the hive.\n"
TEXT = "Copper conducts electricity well and is used in most household wiring.\n"
