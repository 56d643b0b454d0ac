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
from pygments.style import Style
from pygments.styles import get_style_by_name
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


AA_TEXT = 4.5  # WCAG AA contrast for text


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two "#rrggbb" colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: str, background: str, ratio: float = AA_TEXT + 0.1) -> str:
    """`colour`, or the nearest shade of it (mixed towards black on a light background,
    white on a dark one) that has `ratio` contrast with `background`."""
    target = (255, 255, 255) if _luminance(background) < 0.18 else (0, 0, 0)
    rgb = [int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]
    for step in range(21):
        mixed = [round(c + (t - c) * step / 20) for c, t in zip(rgb, target, strict=True)]
        shade = "#" + "".join(f"{c:02x}" for c in mixed)
        if contrast(shade, background) >= ratio:
            return shade
    return shade


@lru_cache(maxsize=2)
def readable_style(name: str, background: str) -> type[Style]:
    """pygments' style `name` with each colour that would be hard to read on `background`
    (or on the token's own background) replaced by a readable shade of it: "default" has a
    few at 4.2-4.5:1 on our light code background, "monokai" its error red at 4.0:1."""
    base = get_style_by_name(name)
    styles = {}
    for token, spec in base:
        ground = f"#{spec['bgcolor']}" if spec["bgcolor"] else background
        words = [w for w in ("bold", "italic", "underline") if spec[w]]
        if spec["color"]:
            words.append(readable(f"#{spec['color']}", ground))
        if spec["bgcolor"]:
            words.append(f"bg:#{spec['bgcolor']}")
        styles[token] = " ".join(words)
    return type(f"Readable{base.__name__}", (Style,), {"styles": styles})


@lru_cache(maxsize=2)
def _formatter(style: str, background: str) -> HtmlFormatter:
    return HtmlFormatter(nowrap=True, noclasses=True, style=readable_style(style, background))


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
    formatter = _formatter(colours["style"], colours["background"])
    body = highlight(code, _lexer(language, code), formatter).rstrip("\n")
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
