"""Both themes keep text readable: WCAG AA contrast (4.5:1 for text) for every pair of text
and background colours the window shows, the message bubbles' tints included (issue 20)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette

from desktop_assistant.ui import markdown, theme
from desktop_assistant.ui.plain import faint

AA_TEXT = 4.5
R = QPalette.ColorRole
# (text role, background role) for every place text is drawn on a palette colour.
PAIRS = [
    (R.WindowText, R.Window),
    (R.Text, R.Base),
    (R.Text, R.AlternateBase),
    (R.PlaceholderText, R.Base),  # hints in the prompt box
    (R.PlaceholderText, R.Window),  # faint labels: figures, estimates, notes
    (R.ButtonText, R.Button),
    (R.HighlightedText, R.Highlight),
    (R.ToolTipText, R.ToolTipBase),
    (R.Link, R.Base),
    (R.Link, R.Window),
]


contrast = markdown.contrast  # WCAG's ratio, the one the app uses to pick readable colours


def over(tint: tuple[int, int, int, float], background: str) -> str:
    """A translucent tint painted over a colour."""
    *rgb, alpha = tint
    under = [int(background.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]
    mixed = [round(c * alpha + u * (1 - alpha)) for c, u in zip(rgb, under, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def test_contrast_is_measured_as_wcag_does():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just fails AA


@pytest.mark.parametrize("name", ["light", "dark"])
def test_every_text_colour_passes_aa_on_its_backgrounds(name):
    colours = theme.LIGHT if name == "light" else theme.DARK
    low = {
        f"{text.name} on {ground.name}": round(contrast(colours[text], colours[ground]), 2)
        for text, ground in PAIRS
        if contrast(colours[text], colours[ground]) < AA_TEXT
    }
    window = colours[R.Window]
    for role, tint in theme.BUBBLE_TINTS.items():
        bubble = over(tint, window)
        for text in (R.Text, R.WindowText, R.PlaceholderText, R.Link):
            if contrast(colours[text], bubble) < AA_TEXT:
                low[f"{text.name} on the {role} bubble"] = round(contrast(colours[text], bubble), 2)
    code = markdown.CODE_COLOURS[name == "dark"]
    if contrast(code["label"], code["background"]) < AA_TEXT:
        low["code block label"] = round(contrast(code["label"], code["background"]), 2)
    assert low == {}, low


@pytest.mark.parametrize("dark", [False, True])
def test_highlighted_code_is_readable_on_its_background(dark):
    from pygments.styles import get_style_by_name

    code = markdown.CODE_COLOURS[dark]
    style = markdown.readable_style(code["style"], code["background"])
    low = {}
    for token, spec in style:
        ground = f"#{spec['bgcolor']}" if spec["bgcolor"] else code["background"]
        if spec["color"] and contrast(f"#{spec['color']}", ground) < AA_TEXT:
            low[str(token)] = round(contrast(f"#{spec['color']}", ground), 2)
    assert low == {}, low
    # colours that were readable already are kept as they were
    original = dict(get_style_by_name(code["style"]))
    kept = [
        token
        for token, spec in style
        if (spec["color"] or "").lower() == (original[token]["color"] or "").lower()
    ]
    assert len(kept) > len(list(style)) * 0.7
    html = markdown.render_markdown("```python\n# a comment\nx = 1\n```").html
    assert "color:" in html


def test_readable_keeps_the_hue_and_reaches_the_ratio():
    assert markdown.readable("#000000", "#ffffff") == "#000000"
    darker = markdown.readable("#aa22ff", "#f6f8fa")
    assert contrast(darker, "#f6f8fa") >= AA_TEXT and darker != "#aa22ff"
    lighter = markdown.readable("#ed007e", "#161b22")
    assert contrast(lighter, "#161b22") >= AA_TEXT
    assert int(lighter[1:3], 16) > int(lighter[3:5], 16)  # still a red


def test_faint_labels_take_the_checked_colour(qapp):
    from PySide6.QtWidgets import QLabel

    label = faint(QLabel("first token 0.20 s"))
    dark = theme.palette_of("dark")
    label.setPalette(dark)
    assert label.palette().color(label.foregroundRole()).name() == theme.DARK[R.PlaceholderText]


def test_the_conversation_turns_dark_with_the_theme(qtbot, make_window):
    window, _ = make_window()
    window.resize(800, 500)
    try:
        window.settings.set("theme", "dark")
        qtbot.wait(50)
        shot = window.view.grab().toImage()
        empty = shot.pixelColor(shot.width() // 2, shot.height() - 20)  # below the examples
        assert empty.lightness() < 80, empty.name()
        window.settings.set("theme", "light")
        qtbot.wait(50)
        shot = window.view.grab().toImage()
        assert shot.pixelColor(shot.width() // 2, shot.height() - 20).lightness() > 200
    finally:
        theme.apply_theme("system")


def test_button_icons_follow_the_theme(qtbot, make_window):
    from desktop_assistant.ui.icons import BUTTON_ICONS, ICON_PROPERTY

    window, _ = make_window()
    composer = window.composer
    assert composer.button.property(ICON_PROPERTY) == "send"
    assert composer.attach_button.property(ICON_PROPERTY) == "picture"
    assert not composer.button.icon().isNull()

    def ink(button) -> int:
        image = button.icon().pixmap(24, 24).toImage()
        opaque = [
            image.pixelColor(x, y) for x in range(24) for y in range(24)
            if image.pixelColor(x, y).alpha() > 200
        ]  # fmt: skip
        return max(c.lightness() for c in opaque)

    try:
        window.settings.set("theme", "dark")
        assert ink(composer.button) > 180  # light ink on dark buttons
        window.settings.set("theme", "light")
        assert ink(composer.button) < 80
    finally:
        theme.apply_theme("system")
    composer.set_busy(True)
    assert composer.button.property(ICON_PROPERTY) == "stop"
    composer.set_busy(False)
    assert set(BUTTON_ICONS) >= {"send", "stop", "mic", "picture", "copy", "speak"}
