"""Qt-free domain: conversations, prompt building, settings, paths, errors."""
