"""The bundle's entry point (PyInstaller runs this script): the same as `desktop-assistant`."""

from desktop_assistant.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
