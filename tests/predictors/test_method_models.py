"""Every fine-tuning method of the registry, built by the worker (``workers.finetune.apply_method``) on tiny
random-weight models on the CPU, against its module's accounting:

* trainable parameters exactly as peft (or the method's own selection) builds them, and the frozen parameters
  and buffers it adds (in 4-byte units);
* matmul FLOPs of one forward + backward against ``torch.utils.flop_counter.FlopCounterMode`` (eager attention);
* the activations autograd keeps for the backward (every tensor a ``saved_tensors_hooks`` pack sees, counted
  once per storage, parameters and buffers excluded) against the cost model's saved-activation terms.

A new method module is covered here by its defaults and ``MethodSpec.examples``; nothing lists method names.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from predictors.architecture import architecture_from_hf_config, count_parameters  # noqa: E402
from predictors.cost import trace_training_pass  # noqa: E402
from predictors.errors import InvalidInputError  # noqa: E402
from predictors.methods import METHODS, parse_method  # noqa: E402
from tests.factories import tiny_llama_config  # noqa: E402
from workers.finetune import apply_method  # noqa: E402

FAMILIES: dict[str, dict[str, Any]] = {
    "llama": tiny_llama_config(hidden_size=128, intermediate_size=256, vocab_size=256),
    # biased q/k/v projections (BitFit has something to train), grouped-query attention, tied embeddings
    "qwen2": tiny_llama_config(
        model_type="qwen2", hidden_size=128, intermediate_size=256, vocab_size=256, tie_word_embeddings=True
    ),
}
BATCH, SEQ_LEN = 4, 48
SAVED_TOLERANCE = 0.15  # relative; the per-tensor account of passes.py, not fitted


def _cpu_trained(name: str) -> bool:
    spec = METHODS[name]
    plan = spec.worker_plan(spec.default_config())
    return spec.kind == "finetune" and "quantization" not in plan and plan.get("head") is None


CASES = [
    (family, {"name": name, **params})
    for name in sorted(METHODS)
    if _cpu_trained(name)
    for params in ({}, *METHODS[name].examples)
    for family in FAMILIES
]


def _model(family: str, method: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(model built through the worker, architecture, parsed config); skips where the module refuses the pair."""
    arch = architecture_from_hf_config(FAMILIES[family])
    config = parse_method(method)
    spec = METHODS[config.name]
    try:
        spec.trainable_params(arch, config)
    except InvalidInputError as exc:
        pytest.skip(f"{config.name} on {family}: {exc.message}")
    hf_config = transformers.AutoConfig.for_model(**FAMILIES[family])
    hf_config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config)
    model = apply_method(model, spec.worker_plan(config), method_name=config.name, steps=10)
    model.train()
    return model, arch, config


def _ids() -> Any:
    return torch.randint(0, 256, (BATCH, SEQ_LEN), generator=torch.Generator().manual_seed(1))


def _ids_name(case: tuple[str, dict[str, Any]]) -> str:
    family, method = case
    return f"{family}-" + "-".join(f"{v}" for v in method.values())


@pytest.mark.parametrize("case", CASES, ids=[_ids_name(c) for c in CASES])
def test_trainable_and_added_parameters_match_the_built_model(case: tuple[str, dict[str, Any]]) -> None:
    family, method = case
    model, arch, config = _model(family, method)
    spec = METHODS[config.name]
    terms = spec.cost_terms(arch, config) if spec.cost_terms else None
    assert terms is not None
    params = list(model.parameters())
    assert spec.trainable_params(arch, config) == sum(p.numel() for p in params if p.requires_grad)
    base_buffers = ("rotary_emb.inv_freq", "rotary_emb.original_inv_freq")
    buffers = sum(b.numel() * b.element_size() // 4 for n, b in model.named_buffers() if not n.endswith(base_buffers))
    added = sum(p.numel() for p in params) + buffers - count_parameters(arch).total_params
    if terms.adapter_params_are_new and not (terms.input_virtual_tokens or terms.prefix_tokens):
        new = spec.trainable_params(arch, config) - terms.base_params_trained
        assert added == new + terms.added_frozen_params
    elif not terms.adapter_params_are_new:
        assert added == terms.added_frozen_params == 0


@pytest.mark.parametrize("case", CASES, ids=[_ids_name(c) for c in CASES])
def test_training_flops_match_flop_counter(case: tuple[str, dict[str, Any]]) -> None:
    family, method = case
    model, arch, config = _model(family, method)
    terms = METHODS[config.name].cost_terms(arch, config)  # type: ignore[misc]
    counter = FlopCounterMode(display=False)
    ids = _ids()
    with counter:
        model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
    ours = trace_training_pass(
        arch, terms, batch=BATCH, seq_len=SEQ_LEN, precision="fp32", attention="eager", gradient_checkpointing=False
    )
    assert ours.train_flops == pytest.approx(counter.get_total_flops(), rel=0.02)


def _saved_activation_bytes(model: Any, ids: Any) -> int:
    """Bytes of the distinct storages autograd saves for the backward (parameters and buffers excluded)."""
    persistent = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in persistent:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(input_ids=ids, use_cache=False)
    return sum(seen.values())


@pytest.mark.parametrize("case", CASES, ids=[_ids_name(c) for c in CASES])
def test_saved_activations_match_the_memory_terms(case: tuple[str, dict[str, Any]]) -> None:
    family, method = case
    model, arch, config = _model(family, method)
    terms = METHODS[config.name].cost_terms(arch, config)  # type: ignore[misc]
    measured = _saved_activation_bytes(model, _ids())
    ours = trace_training_pass(
        arch, terms, batch=BATCH, seq_len=SEQ_LEN, precision="fp32", attention="eager", gradient_checkpointing=False
    )
    assert ours.layers_saved_bytes + ours.head_saved_bytes == pytest.approx(measured, rel=SAVED_TOLERANCE)
