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
