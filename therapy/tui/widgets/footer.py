"""The keys of a screen on one line, each one whole: when they do not all fit, the spacing
tightens, then the least important keys go (from the right) and '…' says so; F1, whose help
lists every key, always stays."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

GAPS = ("  ", " ")  # between keys: roomy, then tight before any key is left out
MORE = Content.styled("…", "$footer-description-foreground")


def offered(screen: Screen) -> list[Binding]:
    """The keys to show, most important first (the screen's, the app's, the palette); F1 last.

    Only those the viewer may use: a key whose check_action says no or not now is not offered."""
    keys: dict[str, Binding] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if active.enabled and binding.description and binding.show:
            keys.setdefault(binding.action, binding)  # a second key for the same thing: once
    app = screen.app
    palette = screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
    if app.ENABLE_COMMAND_PALETTE and palette is not None:
        keys.setdefault(palette.binding.action, palette.binding)
    help_key = keys.pop("help", None)
    return [*keys.values(), *([help_key] if help_key else [])]


def label(screen: Screen, binding: Binding) -> Content:
    """'a Add complaint', that a click presses."""
    click = f"@click=app.simulate_key({binding.key!r})"
    return Content.assemble(
        (screen.app.get_key_display(binding), f"bold $footer-key-foreground {click}"),
        " ",
        (binding.description, f"$footer-description-foreground {click}"),
    )


def fitted(labels: list[Content], width: int) -> Content:
    """As many labels as fit in `width` cells, the last one always."""
    *others, last = labels
    for kept in range(len(others), -1, -1):
        shown = [*others[:kept], *([MORE] if kept < len(others) else []), last]
        for gap in GAPS:
            line = Content(gap).join(shown)
            if line.cell_length <= width:
                return line
    return last


class KeyFooter(Widget):
    """Textual's Footer scrolls what does not fit out of sight, cut mid-word: this one never
    cuts a key, and keeps F1 in view."""

    DEFAULT_CSS = """
    KeyFooter { dock: bottom; height: 1; padding: 0 1; background: $footer-background; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def render(self) -> Content:
        labels = [label(self.screen, binding) for binding in offered(self.screen)]
        return fitted(labels, self.content_size.width) if labels else Content("")
