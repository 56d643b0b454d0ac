"""The command line: the window by default, and headless subcommands for scripts and checks.

Errors are one `error: <what and what to do>` line on stderr, never a traceback: exit code 2
for bad input (a bad option, file or model folder), 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from desktop_assistant import __version__
from desktop_assistant.core.errors import UserError
from desktop_assistant.inference.loading import PRECISIONS

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
DETAILS = ("normal", "high")  # --detail: high splits pictures into tiles


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="desktop-assistant",
        description="An offline AI assistant: chat with a local model, in a window or here.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--model", metavar="PATH", help="local Hugging Face model folder, or an installed id"
    )
    # For our own checks and screenshots; not shown in --help.
    parser.add_argument("--quit-after-paint", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--send", metavar="PROMPT", help=argparse.SUPPRESS)
    parser.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ask = sub.add_parser("ask", help="answer one prompt on stdout, no window")
    ask.add_argument("prompt", metavar="PROMPT", help="the question; - reads it from stdin")
    ask.add_argument("--model", dest="ask_model", metavar="PATH", help="model folder or id")
    ask.add_argument("--max-new-tokens", type=int, metavar="N", help="longest answer in tokens")
    ask.add_argument("--temperature", type=float, metavar="T", help="0 for greedy answers")
    ask.add_argument("--seed", type=int, metavar="N", help="seed for reproducible sampling")
    ask.add_argument("--system", metavar="TEXT", help="a system prompt")
    ask.add_argument("--precision", choices=PRECISIONS, help="weights precision (default auto)")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ask.add_argument(
        "--image", action="append", default=[], metavar="FILE", help="a picture to ask about"
    )
    ask.add_argument("--detail", choices=DETAILS, default="normal", help="high: tiles (slower)")
    ask.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="a document to answer from (PDF, DOCX, Markdown, text, HTML, code); repeatable",
    )
    ask.add_argument(
        "--remote",
        metavar="URL",
        help="an OpenAI-compatible server (vLLM, llama.cpp server, Ollama), or the name of one "
        "set up in the window; its API key from $DESKTOP_ASSISTANT_API_KEY or the keyring",
    )
    ask.add_argument(
        "--remote-model", metavar="NAME", help="the server's model (default: its first)"
    )

    bench = sub.add_parser("bench", help="measure speed (prints figures)")
    bench_sub = bench.add_subparsers(dest="bench_command", parser_class=_Parser, required=True)
    startup = bench_sub.add_parser("startup", help="time from launch to the painted window")
    startup.add_argument("--runs", type=int, default=5, metavar="N")
    startup.add_argument("--json", action="store_true")
    chat = bench_sub.add_parser("chat", help="load time, first-token time and tokens/s")
    chat.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    chat.add_argument("--new-tokens", type=int, default=128, metavar="N")
    chat.add_argument("--prompt-tokens", type=int, default=256, metavar="N")
    chat.add_argument("--runs", type=int, default=3, metavar="N")
    chat.add_argument("--quant", default="auto", choices=PRECISIONS, help="weights precision")
    chat.add_argument(
        "--turns", type=int, default=1, metavar="N", help="time each turn's first token"
    )
    chat.add_argument(
        "--forward",
        default="own",
        choices=("own", "transformers"),
        help="our Llama/Qwen2 forward (default) or transformers' own",
    )
    chat.add_argument(
        "--lookup",
        default="on",
        choices=("on", "off"),
        help="prompt-lookup decoding (on in the app); off: one token per forward pass",
    )
    chat.add_argument("--json", action="store_true")
    docs = bench_sub.add_parser("documents", help="read, index and ask about a long PDF")
    docs.add_argument("--pdf", metavar="FILE", help="default: write a 300-page test PDF")
    docs.add_argument("--pages", type=int, default=300, metavar="N", help="of the test PDF")
    docs.add_argument("--model", dest="bench_model", metavar="PATH", help="first token too")
    docs.add_argument("--question", default=None, metavar="TEXT", help="with --pdf")
    docs.add_argument("--json", action="store_true")
    quality = bench_sub.add_parser("quality", help="agreement of a quantized model with fp32")
    quality.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    quality.add_argument("--quant", default="auto", choices=PRECISIONS)
    quality.add_argument("--tokens", type=int, default=2000, metavar="N")
    quality.add_argument("--json", action="store_true")
    image = bench_sub.add_parser("image", help="a question about a picture, and a follow-up")
    image.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    image.add_argument("--image", dest="bench_image", metavar="FILE", required=True)
    image.add_argument("--detail", choices=DETAILS, default="normal")
    image.add_argument("--new-tokens", type=int, default=32, metavar="N")
    image.add_argument("--runs", type=int, default=3, metavar="N")
    image.add_argument("--quant", default="auto", choices=PRECISIONS, help="weights precision")
    image.add_argument("--json", action="store_true")
    history = bench_sub.add_parser("history", help="list, search and open over a big history")
    history.add_argument("--json", action="store_true")
    window = bench_sub.add_parser("window", help="how long the window stalls while streaming")
    window.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    window.add_argument("--new-tokens", type=int, default=128, metavar="N")
    window.add_argument("--json", action="store_true")
    lookup = bench_sub.add_parser("lookup", help="decode speed with and without prompt lookup")
    lookup.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    lookup.add_argument("--new-tokens", type=int, default=200, metavar="N")
    lookup.add_argument("--runs", type=int, default=2, metavar="N")
    lookup.add_argument("--json", action="store_true")
    soak = bench_sub.add_parser("soak", help="many turns in the window: memory, threads, files")
    soak.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    soak.add_argument("--turns", type=int, default=200, metavar="N")
    soak.add_argument("--image", dest="bench_image", metavar="FILE", help="sent every 5 turns")
    soak.add_argument("--stt-model", metavar="PATH", help="a Whisper folder, for --audio")
    soak.add_argument("--audio", metavar="FILE", help="transcribed every 7 turns")
    soak.add_argument("--json", action="store_true")
    _add_voice_parsers(sub, bench_sub)
    from desktop_assistant.cli import models as models_cli

    models_cli.add_parser(sub, _Parser)
    doctor = sub.add_parser("doctor", help="check what this machine has for the app")
    doctor.add_argument("--verify", action="store_true", help="re-hash installed model files")
    doctor.add_argument("--json", action="store_true")
    return parser


BEAM_SIZE = 5  # inference/speech.py BEAM_SIZE (not imported here: it would load numpy for --help)
BEAM_HELP = f"hypotheses kept while decoding (default {BEAM_SIZE}; 1: greedy, faster)"


SPLIT_HELP = "sayings at even positions are for tuning, odd ones held out (default)"
LANGUAGE_HELP = "auto or en, fr, …; default: the app's setting stt_language (auto)"


def _add_voice_parsers(sub: Any, bench_sub: Any) -> None:
    """transcribe, eval speech and bench stt (run in speech_eval.py)."""
    transcribe = sub.add_parser("transcribe", help="print the text spoken in an audio file")
    transcribe.add_argument("file", metavar="FILE", help="WAV, FLAC, OGG/Opus, MP3 (M4A: PyAV)")
    transcribe.add_argument("--model", dest="stt_model", metavar="PATH", help="Whisper folder")
    transcribe.add_argument("--language", metavar="CODE", help=LANGUAGE_HELP)
    transcribe.add_argument("--json", action="store_true", help="print one JSON object")
    transcribe.add_argument("--beam-size", type=int, default=BEAM_SIZE, metavar="N", help=BEAM_HELP)
    evaluate = sub.add_parser("eval", help="measure accuracy")
    eval_sub = evaluate.add_subparsers(dest="eval_command", parser_class=_Parser, required=True)
    documents = eval_sub.add_parser("documents", help="retrieval: answer passage in the top 5")
    documents.add_argument("--qa", required=True, metavar="FILE", help="questions with keys")
    documents.add_argument("--docs", required=True, metavar="DIR", help="the documents")
    documents.add_argument("--split", choices=("held-out", "tune", "all"), default="held-out")
    speech = eval_sub.add_parser("speech", help="word error rate and intent accuracy")
    speech.add_argument("--model", dest="stt_model", metavar="PATH", required=True)
    speech.add_argument("--manifest", metavar="FILE", required=True, help="JSON lines of clips")
    speech.add_argument("--language", metavar="CODE", help=LANGUAGE_HELP)
    speech.add_argument("--full-window", action="store_true", help="encode 30 s windows")
    speech.add_argument("--beam-size", type=int, default=BEAM_SIZE, metavar="N", help=BEAM_HELP)
    speech.add_argument("--json", action="store_true")
    intents = eval_sub.add_parser("intents", help="how spoken sayings are understood (text)")
    intents.add_argument(
        "--sayings",
        metavar="FILE",
        required=True,
        help="JSON of sayings per intent and dictation (benchmarks/intents/sayings.json)",
    )
    intents.add_argument(
        "--split", choices=("tune", "held-out", "all"), default="held-out", help=SPLIT_HELP
    )
    intents.add_argument("--json", action="store_true")
    stt = bench_sub.add_parser("stt", help="speech to text: load, real-time factor, latency")
    stt.add_argument("--model", dest="stt_model", metavar="PATH", required=True)
    stt.add_argument("--audio", metavar="FILE", required=True)
    stt.add_argument(
        "--command", dest="command_audio", metavar="FILE", help="a short command (latency)"
    )
    stt.add_argument("--language", metavar="CODE", help=LANGUAGE_HELP)
    stt.add_argument("--runs", type=int, default=3, metavar="N")
    stt.add_argument("--beam-size", type=int, default=BEAM_SIZE, metavar="N", help=BEAM_HELP)
    stt.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    """Console script and `python -m desktop_assistant` entry point: offline from the first
    line (core/offline.py) and owner-only files (paths.make_private), then the command
    line."""
    from desktop_assistant.core import offline, paths

    offline.go_offline()
    offline.install_guard()
    paths.make_private()
    return run(argv)


def run(argv: list[str] | None = None) -> int:
    """The command line, in this process as it is (tests call this)."""
    args = build_parser().parse_args(argv)
    try:
        _resolve_model_ids(args)
        if args.command == "models":
            from desktop_assistant.cli import models as models_cli

            return models_cli.run(args)
        if args.command == "ask":
            return run_ask(args)
        if args.command == "doctor":
            from desktop_assistant.cli import doctor

            return doctor.run(args)
        if args.command == "eval" and args.eval_command == "documents":
            from desktop_assistant.cli.bench_documents import eval_documents

            print(json.dumps(eval_documents(args.qa, args.docs, args.split), indent=1))
            return 0
        if args.command in ("transcribe", "eval"):
            from desktop_assistant.cli import speech_eval

            return speech_eval.run(args)
        if args.command == "bench":
            from desktop_assistant.cli import bench

            return bench.run(args)
        from desktop_assistant.app import run_gui

        return run_gui(args)
    except UserError as err:
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line for the user, details only with the env var
        print(
            f"error: unexpected failure: {type(err).__name__}: {_one_line(str(err))}",
            file=sys.stderr,
        )
        if _debug():
            raise
        return EXIT_FAILURE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _debug() -> bool:
    import os

    return bool(os.environ.get("DESKTOP_ASSISTANT_DEBUG"))


def _resolve_model_ids(args: Any) -> None:
    """Every --model option also accepts an installed model's id (`models list`)."""
    from desktop_assistant.models.registry import resolve_model_arg

    for name in ("model", "ask_model", "stt_model", "bench_model"):
        value = getattr(args, name, None)
        if value:
            setattr(args, name, resolve_model_arg(value))


def resolve_model(explicit: str | None) -> str:
    """The --model option, else the model remembered in settings; UserError when neither."""
    if explicit:
        return explicit
    from desktop_assistant.core.settings import Settings

    remembered = Settings().get("model_path")
    if remembered:
        return remembered
    raise UserError(
        "no model configured; pass --model PATH to a local Hugging Face model folder "
        "(config.json, *.safetensors, tokenizer files)"
    )


def run_ask(args: Any) -> int:
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.inference.options import GenerationOptions

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UserError("the prompt is empty; say what you want to ask")
    settings = Settings()
    base = GenerationOptions.from_settings(settings)
    try:
        options = GenerationOptions(
            max_new_tokens=args.max_new_tokens or base.max_new_tokens,
            temperature=base.temperature if args.temperature is None else args.temperature,
            top_p=base.top_p,
            top_k=base.top_k,
            repetition_penalty=base.repetition_penalty,
            seed=base.seed if args.seed is None else args.seed,
            high_detail=args.detail == "high",
        )
    except ValueError as err:
        raise UserError(str(err)) from err
    documents = _read_documents(args.file) if args.file else None  # a bad file: said at once
    if args.remote:
        engine = _remote_engine(settings, args.remote, args.remote_model)
        images = _checked_images("", args.image)
    else:
        model = resolve_model(args.ask_model or args.model)
        images = _checked_images(model, args.image)
        from desktop_assistant.inference.factory import open_engine

        precision = args.precision or settings.get("precision")
        engine = open_engine(model, precision, settings.get("threads"), settings)
    from desktop_assistant.cli.progress import TerminalProgress

    with TerminalProgress() as progress:  # a GGUF is converted for a minute or more
        engine.load(progress)
    sources: list[Any] = []
    if args.file:
        prompt, sources = _with_documents(prompt, documents, engine, options.max_new_tokens)
    messages = [Message("system", args.system)] if args.system else []
    messages.append(Message("user", prompt, images))

    def on_text(text: str) -> None:
        if not args.json:
            sys.stdout.write(text)
            sys.stdout.flush()

    try:
        reply = engine.generate(messages, options, on_text)
    except KeyboardInterrupt:
        engine.cancel()
        raise
    if args.json:
        s = reply.stats
        out = {
            "text": reply.text,
            "prompt_tokens": s.prompt_tokens,
            "new_tokens": s.new_tokens,
            "ttft_s": round(s.ttft_s, 4),
            "decode_tok_s": round(s.decode_tok_s, 2),
        }
        if images:
            out["image_tokens"] = s.image_tokens
            out["preprocess_s"] = round(s.preprocess_s, 4)
            out["vision_s"] = round(s.vision_s, 4)
        if args.file:
            from desktop_assistant.core.grounding import cited

            numbers = range(1, len(sources) + 1)
            used = [sources[n - 1] for n in cited(reply.text, numbers)]
            out["sources"] = [{"document": s.document, "place": s.place} for s in used]
        print(json.dumps(out, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if args.file:
            from desktop_assistant.core.grounding import sources_footer

            sys.stdout.write("\n" + sources_footer(reply.text, sources) + "\n")
    return 0


def _read_documents(files: list[str]) -> Any:
    """The --file documents, read into the history database (cli/documents.py) before the
    model loads, so that a file that cannot be read is said at once."""
    from desktop_assistant.cli.documents import stored_documents
    from desktop_assistant.cli.progress import TerminalProgress
    from desktop_assistant.core import paths
    from desktop_assistant.storage.database import open_database
    from desktop_assistant.storage.documents import UNUSED_KEPT_S, DocumentStore

    store = DocumentStore(open_database(paths.history_file()).connection)
    store.forget_unused(older_than_s=UNUSED_KEPT_S)  # ones asked about a day ago or more
    with TerminalProgress() as progress:
        return store, stored_documents(store, files, progress)


def _with_documents(
    question: str, documents: Any, engine: Any, answer_tokens: int
) -> tuple[str, list[Any]]:
    """The question with the passages that answer it, as many as the model's context holds."""
    from desktop_assistant.storage.documents import grounded

    store, stored = documents
    prompt, hits, _numbers = grounded(store, question, stored, engine, answer_tokens)
    store.db.close()
    return prompt, hits


def _remote_engine(settings: Any, where: str, model: str | None) -> Any:
    """`ask --remote`: a server set up in the window (by its name), else the URL given, with
    the key from $DESKTOP_ASSISTANT_API_KEY (else the keyring's for a named one)."""
    from dataclasses import replace

    from desktop_assistant.core import remotes
    from desktop_assistant.inference.remote import RemoteChatEngine

    named = {r.name: r for r in remotes.list_remotes(settings)}.get(where)
    if named is not None:
        remote, key = named, remotes.key_from_environment() or remotes.get_api_key(where)
    else:
        remote = remotes.Remote("the server", remotes.base_url(where))
        key = remotes.key_from_environment()
    if model:
        remote = replace(remote, model=model)
    return RemoteChatEngine(remote, key)


def _checked_images(model: str, files: list[str]) -> tuple[Any, ...]:
    """The --image files, checked before the model loads: a bad picture or a text-only model
    is reported in a moment rather than after the load. `model` "": a remote server's."""
    if not files:
        return ()
    from pathlib import Path

    from desktop_assistant.core.images import open_image
    from desktop_assistant.inference.causal_lm import TEXT_ONLY
    from desktop_assistant.inference.factory import is_vision_model
    from desktop_assistant.models.model_folder import check_model_folder

    if model:
        check_model_folder(model)  # its own message when the folder is unusable
    if model and not is_vision_model(model):
        raise UserError(TEXT_ONLY)
    for name in files:
        open_image(Path(name))
    return tuple(Path(name) for name in files)
