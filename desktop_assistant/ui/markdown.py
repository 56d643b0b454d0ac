"""Markdown to the HTML subset Qt's rich-text engine draws, with highlighted code blocks.

markdown-it-py parses with raw HTML disabled, so any HTML in model output is escaped and shown
as text. Code blocks are highlighted by pygments with inline styles (Qt has no stylesheet
classes for rich text) and carry a "Copy" link `copy-code:N`; `Rendered.code_blocks[N]` is the
raw code to copy. Images are never loaded: they render as their alt text and address.
No Qt import here, so it is tested without a display.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

COPY_CODE_SCHEME = "copy-code"
LINK_SCHEMES = ("http:", "https:", "mailto:")
# Code block colours and pygments style, for light and dark themes.
CODE_COLOURS = {
    False: {"background": "#f6f8fa", "border": "#d0d7de", "label": "#57606a", "style": "default"},
    True: {"background": "#161b22", "border": "#30363d", "label": "#8b949e", "style": "monokai"},
}
_dark = False


def set_dark(dark: bool) -> None:
    """Draw code blocks for a dark background from now on."""
    global _dark
    _dark = dark


@dataclass
class Rendered:
    html: str
    code_blocks: list[str] = field(default_factory=list)


@lru_cache(maxsize=2)
def _formatter(style: str) -> HtmlFormatter:
    return HtmlFormatter(nowrap=True, noclasses=True, style=style)


def _lexer(language: str, code: str) -> Any:
    if language:
        try:
            return get_lexer_by_name(language)
        except ClassNotFound:
            return TextLexer()
    if len(code) > 20:
        try:
            return guess_lexer(code)
        except ClassNotFound:
            pass
    return TextLexer()


def _code_block_html(code: str, language: str, index: int) -> str:
    colours = CODE_COLOURS[_dark]
    body = highlight(code, _lexer(language, code), _formatter(colours["style"])).rstrip("\n")
    label = html.escape(language) if language else "code"
    return (
        f'<table width="100%" cellspacing="0" cellpadding="6" '
        f'style="background-color:{colours["background"]}; '
        f'border: 1px solid {colours["border"]};">'
        f'<tr><td><span style="color:{colours["label"]};">{label}</span>&nbsp;&nbsp;'
        f'<a href="{COPY_CODE_SCHEME}:{index}">Copy</a></td></tr>'
        f'<tr><td><pre style="white-space: pre-wrap; margin: 0;">{body}</pre></td></tr>'
        "</table>"
    )


def _build_parser() -> MarkdownIt:
    # breaks: a line break inside a paragraph stays one (a haiku, an address), as chat apps
    # show it; CommonMark alone joins such lines into one.
    options = {"html": False, "linkify": False, "typographer": False, "breaks": True}
    md = MarkdownIt("commonmark", options)
    md.enable(["table", "strikethrough"])
    # Only addresses a click can open (after showing them) become links; anything else
    # (relative, ftp:, file:, javascript:) stays the text it was written as.
    # markdown-it-py's documented hook for this, an attribute replaced on the instance
    md.validateLink = lambda url: url.strip().lower().startswith(LINK_SCHEMES)  # type: ignore[method-assign]

    def fence(renderer: Any, tokens: Any, idx: int, options: Any, env: dict) -> str:
        token = tokens[idx]
        blocks: list[str] = env.setdefault("code_blocks", [])
        language = token.info.strip().split(" ")[0] if token.info else ""
        blocks.append(token.content)
        index = env.get("first_block", 0) + len(blocks) - 1
        return _code_block_html(token.content, language, index)

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: dict) -> str:
        token = tokens[idx]
        alt = html.escape(token.content or "image")
        src = html.escape(str(token.attrGet("src") or ""))
        return f'[{alt}: <a href="{src}">{src}</a>]'

    md.add_render_rule("fence", fence)
    md.add_render_rule("code_block", fence)
    md.add_render_rule("image", image)
    return md


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return _build_parser()


def render_markdown(text: str, first_block: int = 0) -> Rendered:
    """`first_block`: the number of the first code block's Copy link (a part of an answer
    rendered after others)."""
    env: dict = {"first_block": first_block}
    body = _parser().render(text, env)
    return Rendered(html=body, code_blocks=list(env.get("code_blocks", [])))


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def settled_end(text: str) -> int:
    """Where the blocks that can no longer change end, in text still being written: after the
    last blank line outside a fenced code block (0 when there is none). Used to render only
    the rest again as an answer streams."""
    fence = ""
    end = 0
    at = 0
    for line in text.splitlines(keepends=True):
        at += len(line)
        match = _FENCE.match(line)
        if match:
            marker = match.group(1)
            if not fence:
                fence = marker
            elif (
                marker[0] == fence[0]
                and len(marker) >= len(fence)
                and not line.strip(marker[0] + " \n")
            ):
                fence = ""
        elif not fence and not line.strip() and line.endswith("\n"):
            end = at
    return end


def render_plain(text: str) -> str:
    """User messages: shown exactly as typed, line breaks kept."""
    return f'<p style="white-space: pre-wrap;">{html.escape(text)}</p>'
