"""Turning a list of messages into prompt token ids for a causal language model.

Models with a chat template use it. Models without one (GPT-2 and other base models) get a plain
"User: / Assistant:" transcript, and generation stops when the model starts the next "User:" turn.
A conversation that ends with an assistant message (a stopped answer) is continued: the prompt
ends inside that answer instead of opening a new one.
Everything here works on a tokenizer object and plain lists: no torch import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import UserError

PLAIN_STOP_MARKERS = ("\nUser:", "\nuser:")
# End-of-turn tokens of the common chat formats; generation stops at any that the vocabulary has.
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<end_of_utterance>")


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def continues(messages: Sequence[Message]) -> bool:
    """True when the last message is an unfinished answer to continue."""
    return bool(messages) and messages[-1].role == "assistant"


def plain_transcript(messages: Sequence[Message]) -> str:
    """The fallback prompt for models with no chat template."""
    lines = []
    for message in messages:
        if message.role == "system":
            lines.append(message.content.strip() + "\n")
        else:
            speaker = "User" if message.role == "user" else "Assistant"
            lines.append(f"{speaker}: {message.content.strip()}")
    if continues(messages):
        return "\n".join(lines[:-1] + [f"Assistant: {messages[-1].content.lstrip()}"])
    lines.append("Assistant:")
    return "\n".join(lines)


def _apply_template(tokenizer: Any, dicts: list[dict[str, str]], cont: bool) -> Any:
    return tokenizer.apply_chat_template(
        dicts, add_generation_prompt=not cont, continue_final_message=cont, tokenize=True
    )


def _templated_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    dicts = [m.as_dict() for m in messages]
    cont = continues(messages)
    try:
        ids = _apply_template(tokenizer, dicts, cont)
    except Exception as err:  # jinja2 TemplateError: e.g. a template that forbids "system"
        if not messages or messages[0].role != "system":
            raise UserError(f"the model's chat template rejected the conversation: {err}") from err
        merged = _merge_system(messages)
        ids = _apply_template(tokenizer, [m.as_dict() for m in merged], cont)
    if hasattr(ids, "keys"):  # a BatchEncoding in some transformers versions
        ids = ids["input_ids"]
    return list(ids)


def _merge_system(messages: Sequence[Message]) -> list[Message]:
    system, rest = messages[0], list(messages[1:])
    if rest and rest[0].role == "user":
        rest[0] = Message("user", f"{system.content}\n\n{rest[0].content}")
    return rest


def prompt_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    if has_chat_template(tokenizer):
        return _templated_ids(tokenizer, messages)
    return list(tokenizer(plain_transcript(messages))["input_ids"])


def fit_to_context(
    tokenizer: Any, messages: Sequence[Message], context_tokens: int, reply_tokens: int
) -> tuple[list[int], int, int]:
    """Prompt ids that leave room for a reply, dropping the oldest turns if needed.

    Keeps a leading system message and the newest message. Returns the ids, the number of
    reply tokens that still fit (at most `reply_tokens`) and how many messages were left out.
    The fewest messages to leave out are found by bisection (the prompt only shrinks as more
    are left out), so a 500-message chat is tokenized about ten times, not 500.
    Raises `UserError` when the newest message alone does not fit.
    """
    msgs = list(messages)
    min_reply = min(reply_tokens, 16)
    first = 1 if msgs and msgs[0].role == "system" else 0

    def ids_without(dropped: int) -> list[int]:
        return prompt_ids(tokenizer, msgs[:first] + msgs[first + dropped :])

    def fits(ids: list[int]) -> bool:
        return len(ids) + min_reply <= context_tokens

    ids = ids_without(0)
    if fits(ids):
        return ids, min(reply_tokens, context_tokens - len(ids)), 0
    # Whole turns go: what is kept starts with a user message (templates such as Llama's
    # and Mistral's refuse a conversation that starts with an answer). The newest stays.
    last = len(msgs) - first - 1
    cuts = [k for k in range(1, last) if msgs[first + k].role == "user"] + [last]
    ids = ids_without(cuts[-1])
    if not fits(ids):
        raise UserError(
            f"the message is too long for this model: {len(ids)} tokens, and the model reads "
            f"at most {context_tokens} tokens including its answer; shorten it"
        )
    low, high = -1, len(cuts) - 1  # cuts[high] fits; cuts[low] (or no cut) does not
    best = ids
    while high - low > 1:
        middle = (low + high) // 2
        candidate = ids_without(cuts[middle])
        if fits(candidate):
            high, best = middle, candidate
        else:
            low = middle
    return best, min(reply_tokens, context_tokens - len(best)), cuts[high]


def stop_token_ids(tokenizer: Any, eos: int | list[int] | None) -> list[int]:
    """The model's end-of-sequence ids plus the end-of-turn tokens its vocabulary knows.

    Looks tokens up one by one: `get_vocab()` copies a 150k-entry vocabulary while holding the
    GIL (80 ms measured), which would freeze the window.
    """
    ids: list[int] = [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    unknown = getattr(tokenizer, "unk_token_id", None)
    for token in TURN_END_TOKENS:
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != unknown:
            ids.append(found)
    return sorted(set(ids))
