from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_assistant.ui.markdown import render_markdown, render_plain


def test_raw_html_is_shown_as_text():
    out = render_markdown('Look: <b>bold</b> <img src="x.png"> <script>alert(1)</script>').html
    assert "<b>" not in out and "<script>" not in out and "<img" not in out
    assert "&lt;b&gt;bold&lt;/b&gt;" in out and "&lt;script&gt;" in out


def test_code_blocks_are_highlighted_and_kept_for_copying():
    text = (
        "Here:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
        "and\n\n```\nplain <text>\n```\n"
    )
    rendered = render_markdown(text)
    assert rendered.code_blocks == ["def add(a, b):\n    return a + b\n", "plain <text>\n"]
    assert 'href="copy-code:0"' in rendered.html and 'href="copy-code:1"' in rendered.html
    assert "style=" in rendered.html and "color" in rendered.html  # pygments inline colours
    assert "plain &lt;text&gt;" in rendered.html


def test_images_are_never_loaded():
    out = render_markdown("![a cat](file:///etc/passwd)").html
    assert "<img" not in out and "a cat" in out


def test_markdown_basics():
    out = render_markdown("# Title\n\n- **one**\n- `two`\n\n| a | b |\n|---|---|\n| 1 | 2 |").html
    for tag in ("<h1>", "<li>", "<strong>", "<code>", "<table>"):
        assert tag in out


def test_user_text_is_escaped_and_keeps_lines():
    out = render_plain("a <b>\nsecond line")
    assert "&lt;b&gt;" in out and "pre-wrap" in out


@settings(deadline=None)  # timing is not what this checks; a busy CI machine is slow
@given(st.text())
def test_any_text_renders_without_raw_tags(text):
    rendered = render_markdown(text)
    assert "<script" not in rendered.html.lower()
    assert isinstance(rendered.code_blocks, list)


class _Tags:
    """Every tag and attribute of rendered HTML."""

    def __init__(self, markup: str) -> None:
        from html.parser import HTMLParser

        self.tags: list[tuple[str, dict[str, str | None]]] = []
        parser = HTMLParser()
        parser.handle_starttag = lambda tag, attrs: self.tags.append((tag, dict(attrs)))
        parser.feed(markup)
        parser.close()


ACTIVE = {"img", "script", "iframe", "object", "embed", "style", "link", "meta", "form", "input"}
SCHEMES = ("http:", "https:", "mailto:", "copy-code:")

markdownish = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "<img src=/dev/zero>",
                "![x](file:///etc/passwd)",
                "[a](javascript:alert(1))",
                "[b](https://example.org)",
                "[c](file:///home)",
                "[e](relative/path)",
                "[f](ftp://x.org/a)",
                "<script>x</script>",
                "```html\n<b>x</b>\n```",
                "| a | b |\n|---|---|\n| <i> | [d](data:text/html,x) |",
                "<a href='file:///x' onclick='y'>z</a>",
                "*em* **strong** `code`",
            ]
        ),
    ),
    max_size=8,
).map("\n\n".join)


@settings(deadline=None, max_examples=300)
@given(markdownish)
def test_rendered_markdown_has_no_active_html_and_only_safe_links(text):
    """Issue 18: never active HTML; a link is only ever an address that can be shown first
    (http, https, mailto) or a code block's Copy."""
    for tag, attrs in _Tags(render_markdown(text).html).tags:
        assert tag not in ACTIVE
        assert not any(name.startswith("on") for name in attrs)
        if tag == "a":
            assert (attrs.get("href") or "").lower().startswith(SCHEMES), attrs


STREAMED = (
    "# Plan\n\nFirst a paragraph with **bold** and `code`.\n\n"
    "```python\nprint('one')\n\nprint('two')\n```\n\n"
    "- item one\n- item two\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "Then more text, and another block:\n\n~~~\nplain\n~~~\n\nThe end."
)


def _words(widget) -> list[str]:
    return widget.body.toPlainText().split()


def test_a_streamed_answer_rendered_in_parts_shows_what_a_whole_render_shows(qtbot):
    """Issue 17: while an answer streams only its unsettled end is rendered again; the words,
    the code blocks and their Copy links are those of a whole render at every step, and the
    final render is the whole one."""
    from desktop_assistant.ui.conversation_view import MessageWidget

    streamed, whole = MessageWidget("assistant"), MessageWidget("assistant")
    qtbot.addWidget(streamed)
    qtbot.addWidget(whole)
    for end in range(1, len(STREAMED) + 1, 7):
        streamed.set_text(STREAMED[:end], streaming=True)
        whole.set_text(STREAMED[:end])
        assert _words(streamed) == _words(whole), STREAMED[:end]
        assert streamed.code_blocks == whole.code_blocks
    assert streamed.partial
    shown = streamed.body.toHtml()  # each block's Copy link, numbered across the parts
    assert 'href="copy-code:0"' in shown and 'href="copy-code:1"' in shown
    streamed.set_text(STREAMED)
    whole.set_text(STREAMED)
    assert not streamed.partial and streamed.body.toHtml() == whole.body.toHtml()
    html = render_markdown(STREAMED).html
    assert 'href="copy-code:0"' in html and 'href="copy-code:1"' in html


def test_settled_end_never_splits_a_code_block():
    from desktop_assistant.ui.markdown import settled_end

    for end in range(len(STREAMED) + 1):
        text = STREAMED[:end]
        settled = settled_end(text)
        assert text[:settled].count("```") % 2 == 0 and text[:settled].count("~~~") % 2 == 0
        assert settled == 0 or text[:settled].endswith("\n\n")


def test_line_breaks_inside_a_paragraph_are_kept():
    out = render_markdown("Whispers of fall,\nSnowflakes dance softly,\nSilent night.").html
    assert out.count("<br") == 2
    assert "Whispers of fall," in out and "Silent night." in out
