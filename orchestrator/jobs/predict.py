"""The reference predict job: one label per input text, plain or as JSON Lines with scores.

Input is UTF-8: one text per line, or JSON Lines (``{"id": ..., "text": ...}`` per line) for texts
that hold newlines. A line that is not UTF-8, or not such an object, is named with its line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.remote.hub import Hub

from .model import Model, UntrustedModelError, load
from .retrain import MODEL_FILE, deployed_model, model_store
from .settings import JobLabel, JobSettings

BATCH = 512


def load_model(settings: JobSettings, label: JobLabel, path: Path | None, scratch: Path, hub: Hub | None = None) -> Model:
    """``path`` if given, else the deployed model of ``label`` (read through ``hub``, default: one built
    from the settings)."""
    if path is not None:
        return load_file(path)
    model = deployed_model(model_store(label, hub or Hub(settings.hub)), scratch)
    if model is None:
        raise ConfigError(
            f"no model is deployed for label {label.name!r} yet",
            hint=f"run `orchestrator retrain --label {label.name}` first, or pass --model PATH ({MODEL_FILE})",
        )
    return model


def load_file(path: Path) -> Model:
    """A model file, or a clear error: missing, unreadable, not a skops file, or holding foreign types."""
    hint = f"pass a {MODEL_FILE} written by `orchestrator retrain`"
    if not path.is_file():
        raise ConfigError(f"the model file {path} does not exist", hint=hint)
    try:
        return load(path)
    except UntrustedModelError as exc:
        raise ConfigError(f"cannot use the model: {exc}", hint=hint) from None
    except Exception as exc:  # noqa: BLE001 - skops raises zipfile, JSON and key errors for a file that is not its own
        raise ConfigError(
            f"cannot use the model: {path} is not a skops model file ({type(exc).__name__}: {exc})", hint=hint
        ) from None


@dataclass(frozen=True)
class Item:
    text: str
    id: Any = None
    blank: bool = False


def read_input(handle: Iterable[bytes], *, input_format: str = "lines") -> Iterator[Item]:
    """The texts of a binary input, decoded as UTF-8; a blank line is kept as a blank item."""
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"input line {number} is not UTF-8 text (byte {exc.start + 1}: {raw[exc.start:exc.start + 1]!r})",
                hint="convert the input to UTF-8 first, e.g. iconv -f latin1 -t utf-8 (the model is not the problem)",
            ) from None
        if not line.strip():
            yield Item("", blank=True)
        elif input_format == "jsonl":
            yield _record(line, number)
        else:
            yield Item(line)


def _record(line: str, number: int) -> Item:
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"input line {number} is not JSON ({exc.msg})", hint='each line must be {"id": ..., "text": "..."}') from None
    if not isinstance(document, dict) or not isinstance(document.get("text"), str):
        raise ConfigError(
            f'input line {number} has no "text" string', hint='each line must be {"id": ..., "text": "..."} (id optional)'
        )
    return Item(document["text"], document.get("id"))


def predict_input(model: Model, handle: Iterable[bytes], *, input_format: str = "lines", scores: bool = False) -> Iterator[str]:
    """Predict in batches. Plain input gives one label per line (JSON Lines with ``--json``); JSON Lines
    input gives JSON Lines with each record's ``id``. Blank input lines give blank output lines."""
    batch: list[Item] = []
    as_json = scores or input_format == "jsonl"

    def flush() -> Iterator[str]:
        texts = [item.text for item in batch if not item.blank]
        labels = iter(model.predict(texts) if texts else [])
        probabilities = iter(model.predict_scores(texts) if scores and texts else [])
        for item in batch:
            if item.blank:
                yield ""
                continue
            label = next(labels)
            if not as_json:
                yield label
                continue
            row: dict[str, Any] = {"id": item.id} if input_format == "jsonl" else {"text": item.text}
            row["label"] = label
            if scores:
                row["scores"] = next(probabilities)
            yield json.dumps(row, ensure_ascii=False)
        batch.clear()

    for item in read_input(handle, input_format=input_format):
        batch.append(item)
        if len(batch) >= BATCH:
            yield from flush()
    yield from flush()

