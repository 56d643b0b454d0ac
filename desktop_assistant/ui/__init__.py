"""Qt widgets; ui/workers.py adapts engines to Qt signals. PySide6 is imported only here."""
