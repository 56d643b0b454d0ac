"""desktop_assistant: an offline, on-device AI assistant."""

__version__ = "0.1.0"
APP_NAME = "desktop-assistant"
APP_ID = "io.github.desktop_assistant.DesktopAssistant"  # desktop entry and AppStream id
