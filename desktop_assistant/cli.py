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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="desktop-assistant",
        description="An offline AI assistant: chat with a local model, in a window or here.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--model", metavar="PATH", help="local Hugging Face model folder")
    # For our own checks and screenshots; not shown in --help.
    parser.add_argument("--quit-after-paint", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--send", metavar="PROMPT", help=argparse.SUPPRESS)
    parser.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ask = sub.add_parser("ask", help="answer one prompt on stdout, no window")
    ask.add_argument("prompt", metavar="PROMPT", help="the question; - reads it from stdin")
    ask.add_argument("--model", dest="ask_model", metavar="PATH", help="local model folder")
    ask.add_argument("--max-new-tokens", type=int, metavar="N", help="longest answer in tokens")
    ask.add_argument("--temperature", type=float, metavar="T", help="0 for greedy answers")
    ask.add_argument("--seed", type=int, metavar="N", help="seed for reproducible sampling")
    ask.add_argument("--system", metavar="TEXT", help="a system prompt")
    ask.add_argument("--precision", choices=PRECISIONS, help="weights precision (default auto)")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")

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
    chat.add_argument("--json", action="store_true")
    quality = bench_sub.add_parser("quality", help="agreement of a quantized model with fp32")
    quality.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    quality.add_argument("--quant", default="auto", choices=PRECISIONS)
    quality.add_argument("--tokens", type=int, default=2000, metavar="N")
    quality.add_argument("--json", action="store_true")
    history = bench_sub.add_parser("history", help="list, search and open over a big history")
    history.add_argument("--json", action="store_true")
    window = bench_sub.add_parser("window", help="how long the window stalls while streaming")
    window.add_argument("--model", dest="bench_model", metavar="PATH", required=True)
    window.add_argument("--new-tokens", type=int, default=128, metavar="N")
    window.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ask":
            return run_ask(args)
        if args.command == "bench":
            from desktop_assistant import bench

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
        )
    except ValueError as err:
        raise UserError(str(err)) from err
    model = resolve_model(args.ask_model or args.model)
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    precision = args.precision or settings.get("precision")
    engine = CausalLMEngine(model, precision, settings.get("threads"))
    engine.load()
    messages = [Message("system", args.system)] if args.system else []
    messages.append(Message("user", prompt))

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
        print(json.dumps(out, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return 0
