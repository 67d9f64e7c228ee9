"""A GGUF file's architecture, read from its header alone (no torch, no ``gguf`` package, no weights read),
so the API can check a ``.gguf`` path is the model it claims and fits the GPU before a worker loads it.

The layout is ggml's GGUF spec (versions 2 and 3): magic ``GGUF``, version, tensor count, metadata count,
then typed key/value pairs (``general.architecture``, ``<arch>.block_count``, …) and the tensor table.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["GgufError", "gguf_hf_config"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
MAX_METADATA_ENTRIES = 100_000
MAX_STRING_BYTES = 1 << 20
# GGUF architecture names -> Hugging Face model_type, for the families whose tensors follow llama's layout
MODEL_TYPES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "gemma": "gemma", "gemma2": "gemma2"}
_HF_FIELDS = {
    "block_count": "num_hidden_layers",
    "embedding_length": "hidden_size",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "context_length": "max_position_embeddings",
    "vocab_size": "vocab_size",
}


class GgufError(ValueError):
    """Not a GGUF file this reader understands (why in the message)."""


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GgufError("the file ends inside its header")
    return struct.unpack(fmt, data)[0]


def _string(handle: BinaryIO) -> str:
    length = _read(handle, "<Q")
    if length > MAX_STRING_BYTES:
        raise GgufError(f"a header string of {length} bytes")
    return bytes(handle.read(length)).decode("utf-8", errors="replace")


def _value(handle: BinaryIO, value_type: int, *, keep: bool) -> Any:
    if value_type in _SCALARS:
        return _read(handle, _SCALARS[value_type])
    if value_type == _STRING:
        return _string(handle)
    if value_type == _ARRAY:
        item_type, count = _read(handle, "<I"), _read(handle, "<Q")
        if item_type in _SCALARS and not keep:  # skip fixed-size items without reading them one by one
            handle.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
            return count
        items = [_value(handle, item_type, keep=keep) for _ in range(count)]
        return items if keep else count
    raise GgufError(f"unknown metadata value type {value_type}")


def _header(handle: BinaryIO) -> tuple[dict[str, Any], set[str]]:
    """(metadata, tensor names). Arrays are kept as their length (a 49,152-token vocabulary is a count)."""
    if handle.read(4) != b"GGUF":
        raise GgufError("no GGUF magic")
    version = _read(handle, "<I")
    if version not in (2, 3):
        raise GgufError(f"GGUF version {version} (2 and 3 are read)")
    tensor_count, entry_count = _read(handle, "<Q"), _read(handle, "<Q")
    if entry_count > MAX_METADATA_ENTRIES or tensor_count > MAX_METADATA_ENTRIES:
        raise GgufError(f"{entry_count} metadata entries, {tensor_count} tensors")
    metadata: dict[str, Any] = {}
    for _ in range(entry_count):
        key = _string(handle)
        metadata[key] = _value(handle, _read(handle, "<I"), keep=False)
    names: set[str] = set()
    for _ in range(tensor_count):
        names.add(_string(handle))
        dims = _read(handle, "<I")
        handle.seek(8 * dims + 4 + 8, 1)  # the dimensions, the ggml type, the data offset
    return metadata, names


def gguf_hf_config(path: Path) -> dict[str, Any]:
    """The Hugging Face ``config.json`` fields the cost model reads, from a GGUF header; raises
    :class:`GgufError` for a file it cannot read or an architecture outside :data:`MODEL_TYPES`."""
    try:
        with open(path, "rb") as handle:
            metadata, tensors = _header(handle)
    except OSError as exc:
        raise GgufError(f"cannot read {path}: {exc.strerror}") from None
    architecture = str(metadata.get("general.architecture", ""))
    if architecture not in MODEL_TYPES:
        raise GgufError(f"GGUF architecture {architecture or 'missing'!r} (read: {', '.join(sorted(MODEL_TYPES))})")
    config: dict[str, Any] = {"model_type": MODEL_TYPES[architecture]}
    for gguf_key, hf_field in _HF_FIELDS.items():
        value = metadata.get(f"{architecture}.{gguf_key}")
        if isinstance(value, int | float):
            config[hf_field] = int(value)
    if "vocab_size" not in config and isinstance(metadata.get("tokenizer.ggml.tokens"), int):
        config["vocab_size"] = metadata["tokenizer.ggml.tokens"]
    config["tie_word_embeddings"] = "output.weight" not in tensors  # llama.cpp drops a tied output matrix
    return config
