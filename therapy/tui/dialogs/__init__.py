"""Modal dialogs that a screen or the palette opens over what is on screen."""
