"""Qt widgets; ui/workers/chat.py adapts engines to Qt signals. PySide6 is imported only here."""
