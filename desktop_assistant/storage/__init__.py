"""SQLite history and attachments on disk (history issue)."""
