"""`desktop-assistant models …`: list, download, import, remove, and choose default models.

Errors follow cli.py: one `error:` line; exit 2 for bad input (an unknown id, a refused or
gated model, a broken file), 1 for the rest (no network, disk full, a damaged download).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from desktop_assistant.core.errors import UserError
from desktop_assistant.models.catalog import ROLES, human_duration, human_size

BAD_INPUT_KINDS = ("not_found", "gated", "refused")


def add_parser(sub: Any, parser_class: type) -> None:
    """The `models` subcommands, on cli.py's subparsers (`parser_class`: its error format)."""
    models = sub.add_parser("models", help="list, download, import and remove models")
    cmd = models.add_subparsers(dest="models_command", parser_class=parser_class, required=True)
    listing = cmd.add_parser("list", help="installed models and the catalog")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    download = cmd.add_parser("download", help="download a model (the only network use)")
    download.add_argument("model_id", metavar="ID", help="e.g. openai/whisper-base")
    imported = cmd.add_parser("import", help="install a model folder or a .gguf file you have")
    imported.add_argument("path", metavar="PATH", help="a Hugging Face model folder or .gguf")
    remove = cmd.add_parser("remove", help="delete an installed model (frees the disk)")
    remove.add_argument("model_id", metavar="ID")
    default = cmd.add_parser("default", help="the model used for a role by default")
    default.add_argument("role", choices=ROLES)
    default.add_argument("model_id", metavar="ID")


def run(args: Any) -> int:
    from desktop_assistant.core.settings import Settings

    settings = Settings()
    command = args.models_command
    if command == "list":
        return _list(settings, args.json)
    if command == "download":
        return _download(settings, args.model_id)
    if command == "import":
        return _import(settings, args.path)
    if command == "remove":
        return _remove(settings, args.model_id)
    from desktop_assistant.models import registry

    model = registry.set_default(args.role, args.model_id, settings)
    print(f"{model.id} is now the {args.role} model ({model.path})")
    return 0


def _list(settings: Any, as_json: bool) -> int:
    from desktop_assistant.core import paths
    from desktop_assistant.models import registry
    from desktop_assistant.models.catalog import load_catalog

    installed = registry.list_installed()
    defaults = {
        str(m.path) for role in ROLES if (m := registry.default_model(role, settings)) is not None
    }
    free_disk = registry.free_disk(paths.models_dir())
    available = [e for e in load_catalog().entries if registry.find_installed(e.id) is None]
    if as_json:
        out = {
            "models_dir": str(paths.models_dir()),
            "free_disk": free_disk,
            "installed": [
                {
                    "id": m.id,
                    "role": m.role,
                    "path": str(m.path),
                    "source": m.source,
                    "size": m.size,
                    "architecture": m.architecture,
                    "revision": m.revision,
                    "default": str(m.path) in defaults,
                }
                for m in installed
            ],
            "available": [
                {
                    "id": e.id,
                    "role": e.role,
                    "parameters": e.parameters,
                    "download_bytes": e.download_bytes,
                    "min_ram": e.min_ram,
                    "context": e.context,
                    "licence": e.licence,
                    "gated": e.gated,
                    "description": e.description,
                    "ram": registry.ram_fit(e.min_ram).verdict,
                    "disk": registry.disk_fit(e.download_bytes, free=free_disk).verdict,
                }
                for e in available
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"Installed (in {paths.models_dir()}):")
    if not installed:
        print("  none yet: `desktop-assistant models download ID` or `models import PATH`")
    for m in installed:
        mark = "  default" if str(m.path) in defaults else ""
        print(f"  {m.role:<7} {m.id:<46} {human_size(m.size):>8}{mark}")
    print(f"Available to download (sizes approximate; {human_size(free_disk)} free on disk):")
    for e in available:
        ram = registry.ram_fit(e.min_ram)
        gated = "  (gated)" if e.gated else ""
        print(
            f"  {e.role:<7} {e.id:<46} {human_size(e.download_bytes):>8}  "
            f"RAM {human_size(e.min_ram)}: {ram.verdict}{gated}"
        )
    return 0


class _ProgressLine:
    """One line on stderr redrawn in place, on a terminal only: scripts get just the result
    on stdout, or one `error:` line."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _download(settings: Any, model_id: str) -> int:
    from desktop_assistant.models import registry
    from desktop_assistant.models.downloads import Download, DownloadError, DownloadProgress

    line = _ProgressLine()

    def show(p: DownloadProgress) -> None:
        if not p.total:
            line.show(f"{model_id}: asking the hub…")
            return
        eta = f", {human_duration(p.eta_s)} left" if p.eta_s is not None else ""
        speed = f" at {human_size(p.speed)}/s" if p.speed else ""
        line.show(f"{model_id}: {human_size(p.done)} of {human_size(p.total)}{speed}{eta}")

    try:
        model = Download(model_id, show).run()
    except DownloadError as err:
        line.end()  # before the error line
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2 if err.kind in BAD_INPUT_KINDS else 1
    finally:
        line.end()
    note = " (now the default)" if registry.default_if_unset(model, settings) else ""
    print(f"{model.id} installed in {model.path}{note}")
    return 0


def _import(settings: Any, path: str) -> int:
    from desktop_assistant.models import registry
    from desktop_assistant.models.importer import import_model

    line = _ProgressLine()
    started = time.monotonic()
    try:
        model = import_model(path, lambda text, fraction: line.show(f"{text} {fraction:.0%}"))
    finally:
        line.end()
    note = " (now the default)" if registry.default_if_unset(model, settings) else ""
    took = time.monotonic() - started
    print(f"{model.id} ({model.role}) installed in {model.path} in {took:.0f} s{note}")
    return 0


def _remove(settings: Any, model_id: str) -> int:
    from desktop_assistant.models import registry

    if registry.find_installed(model_id) is None:
        freed = registry.discard_partial(model_id)
        if freed:
            print(f"discarded the unfinished download of {model_id} ({human_size(freed)})")
            return 0
        raise UserError(f"{model_id} is not installed (see `desktop-assistant models list`)")
    freed = registry.remove(model_id, settings)
    print(f"removed {model_id}; {human_size(freed)} freed")
    return 0
