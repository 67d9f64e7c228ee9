"""One battery over every registered method, plus known-answer rows (peft's printed counts)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from predictors.architecture import architecture_from_hf_config, count_parameters
from predictors.errors import InvalidInputError
from predictors.methods import (
    METHODS,
    PRODUCT_METHOD_NAMES,
    MethodSpec,
    calibration_family,
    default_method_name,
    get_method,
    parse_method,
    prompting_method_name,
    proxy_method_name,
    register_method,
)
from predictors.methods.lora import LoraConfig
from tests.factories import llama_config

REPO_ROOT = Path(__file__).resolve().parents[2]
LLAMA_7B = architecture_from_hf_config(llama_config())
GPT2 = architecture_from_hf_config(
    {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
)


def test_registry_holds_exactly_the_product_methods() -> None:
    assert set(METHODS) == PRODUCT_METHOD_NAMES


@pytest.mark.parametrize("name", sorted(PRODUCT_METHOD_NAMES))
def test_method_battery(name: str) -> None:
    spec = METHODS[name]
    config = spec.default_config()
    assert config.name == name
    # schema round-trip: the JSON Schema we serve validates the defaults, and a dump parses back equal
    schema = spec.json_schema()
    assert schema["properties"]["name"]["const" if "const" in schema["properties"]["name"] else "default"] == name
    assert spec.parse(json.loads(config.model_dump_json())) == config
    assert parse_method(config.model_dump()) == config
    arch = GPT2 if name == "bitfit" else LLAMA_7B
    trainable = spec.trainable_params(arch, config)
    assert 0 <= trainable <= count_parameters(arch).total_params
    if spec.kind != "finetune":
        assert trainable == 0
    else:
        assert trainable > 0
    for field_name, field in spec.config_cls.model_fields.items():
        if field_name != "name":
            assert field.description, f"{name}.{field_name} has no description"


KNOWN_ANSWERS: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "lora",
        {"rank": 16, "target_modules": ["q_proj", "v_proj"]},
        8_388_608,
        "peft print_trainable_parameters, Llama-2-7B r=16 q,v",
    ),
    ("lora", {"rank": 8, "target_modules": ["q_proj", "v_proj"]}, 4_194_304, "peft docs, Llama-2-7B r=8"),
    ("ia3", {}, 614_400, "peft IA3 docs, Llama-7B default targets k,v,down"),
    (
        "dora",
        {"rank": 8, "target_modules": ["q_proj", "v_proj"]},
        4_194_304 + 32 * 2 * 4096,
        "LoRA + one magnitude per output row",
    ),
    ("prompt_tuning", {"num_virtual_tokens": 20}, 20 * 4096, "Lester et al. 2021: p x e"),
    ("full", {}, 6_738_415_616, "Llama-2-7B published count"),
    ("top_k_layers", {"layers": 2}, 2 * 202_383_360, "two Llama-2-7B decoder blocks"),
    ("ln_tuning", {}, (32 * 2 + 1) * 4096, "RMSNorm weights: 2 per layer + final"),
]


@pytest.mark.parametrize(("name", "params", "expected", "source"), KNOWN_ANSWERS)
def test_known_answers_llama_2_7b(name: str, params: dict[str, Any], expected: int, source: str) -> None:
    spec = get_method(name)
    assert spec.trainable_params(LLAMA_7B, spec.parse({"name": name, **params})) == expected, source


def test_bitfit_on_gpt2_counts_every_bias() -> None:
    spec = get_method("bitfit")
    # per layer: c_attn 2304 + attn.c_proj 768 + c_fc 3072 + mlp.c_proj 768 + two LayerNorm biases 2 x 768; + ln_f bias
    assert spec.trainable_params(GPT2, spec.default_config()) == 12 * (2304 + 768 + 3072 + 768 + 2 * 768) + 768


def test_bitfit_on_a_bias_free_model_says_so() -> None:
    with pytest.raises(InvalidInputError, match="has none"):
        get_method("bitfit").trainable_params(LLAMA_7B, get_method("bitfit").default_config())


def test_lora_all_linear_targets_every_projection() -> None:
    config = parse_method({"name": "lora", "rank": 8, "target_modules": "all-linear"})
    per_layer = 8 * ((4096 + 4096) * 4 + (4096 + 11008) * 3)
    assert get_method("lora").trainable_params(LLAMA_7B, config) == 32 * per_layer


def test_lora_target_matching_no_module_names_the_field() -> None:
    config = parse_method({"name": "lora", "target_modules": ["query_key_value"]})
    with pytest.raises(InvalidInputError) as error:
        get_method("lora").trainable_params(LLAMA_7B, config)
    assert error.value.field == "method.target_modules"


def test_top_k_layers_above_depth_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as error:
        get_method("top_k_layers").trainable_params(LLAMA_7B, parse_method({"name": "top_k_layers", "layers": 33}))
    assert error.value.field == "method.layers"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "lora", "rank": 0}, "method.rank"),
        ({"name": "lora", "rank": "big"}, "method.rank"),
        ({"name": "lora", "target_modules": []}, "method.target_modules"),
        ({"name": "lora", "colour": 1}, "method.colour"),
        ({"name": "lorax"}, "method.name"),
        ({"rank": 4}, "method.name"),
        ({"name": "icl", "shots": 0}, "method.shots"),
        ({"name": "ia3", "target_modules": ["k_proj"], "feedforward_modules": ["down_proj"]}, "method"),
        (7, "method"),
    ],
)
def test_parse_method_errors_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_method(data)
    assert error.value.field == field


def test_registry_rejects_bad_registrations() -> None:
    lora = METHODS["lora"]
    with pytest.raises(KeyError, match="already registered"):
        register_method(lora)

    def spec_named(name: str, config_cls: type[BaseModel] = LoraConfig) -> MethodSpec:
        return MethodSpec(
            name=name,
            config_cls=config_cls,
            kind="finetune",
            summary="",
            reference="",  # type: ignore[arg-type]
            trainable_params=lora.trainable_params,
            worker_plan=lora.worker_plan,
        )

    with pytest.raises(ValueError, match="snake_case"):
        register_method(spec_named("LoRA"))
    with pytest.raises(ValueError, match="not in the product"):
        register_method(spec_named("not_a_module"))
    assert set(METHODS) == PRODUCT_METHOD_NAMES


MIXTRAL_8X7B = architecture_from_hf_config(
    {
        "model_type": "mixtral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    }
)
QWEN15_MOE = architecture_from_hf_config(
    {
        "model_type": "qwen2_moe",
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "vocab_size": 151936,
        "num_experts": 60,
        "num_experts_per_tok": 4,
        "moe_intermediate_size": 1408,
        "shared_expert_intermediate_size": 5632,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
    }
)


def test_lora_all_linear_on_mixtral_fuses_the_expert_gate_and_up_adapters() -> None:
    """peft 0.21 on transformers 5 (checked with get_peft_model on the meta-device Mixtral-8x7B: 359,665,664)."""
    config = parse_method({"name": "lora", "rank": 16, "target_modules": "all-linear"})
    h, i, e, r = 4096, 14336, 8, 16
    attention = r * (2 * (h + h) + 2 * (h + 1024))
    router = r * (h + e)
    gate_up = e * 2 * r * (h + 2 * i)  # one rank-2r adapter on gate_up_proj, not two rank-r ones
    down = e * r * (i + h)
    assert get_method("lora").trainable_params(MIXTRAL_8X7B, config) == 32 * (attention + router + gate_up + down)
    assert get_method("lora").trainable_params(MIXTRAL_8X7B, config) == 359_665_664


def test_lora_all_linear_on_qwen2_moe_skips_routed_experts_and_router() -> None:
    """peft 0.21 on transformers 5 leaves qwen2_moe's routed experts and router alone (meta-device check: 15,925,632)."""
    config = parse_method({"name": "lora", "rank": 16, "target_modules": "all-linear"})
    h, s, r = 2048, 5632, 16
    per_layer = r * (4 * (h + h) + 2 * (h + s) + (s + h) + (h + 1))  # attention, shared expert, shared_expert_gate
    assert get_method("lora").trainable_params(QWEN15_MOE, config) == 24 * per_layer == 15_925_632
    terms = get_method("lora").cost_terms(QWEN15_MOE, config)  # type: ignore[misc]
    assert terms.assumptions and "qwen2_moe" in terms.assumptions[0]


@pytest.mark.parametrize(
    ("name", "arch", "targets", "message"),
    [
        ("lora", MIXTRAL_8X7B, ["w1", "w2"], "fused"),
        ("qlora", MIXTRAL_8X7B, ["w3"], "fused"),
        ("lora", QWEN15_MOE, ["gate", "q_proj"], "router"),
        ("dora", MIXTRAL_8X7B, "all-linear", "DoRA"),
        ("dora", MIXTRAL_8X7B, ["gate"], "DoRA"),
    ],
)
def test_moe_targets_peft_refuses_are_refused(name: str, arch: Any, targets: Any, message: str) -> None:
    config = parse_method({"name": name, "target_modules": targets})
    with pytest.raises(InvalidInputError, match=message) as error:
        get_method(name).trainable_params(arch, config)
    assert error.value.field == "method.target_modules"


def test_dora_on_qwen2_moe_all_linear_counts_shared_expert_magnitudes() -> None:
    config = parse_method({"name": "dora", "rank": 16, "target_modules": "all-linear"})
    magnitudes = 24 * (4 * 2048 + 2 * 5632 + 2048 + 1)
    assert get_method("dora").trainable_params(QWEN15_MOE, config) == 15_925_632 + magnitudes


# Where a method name may appear outside its own module: tests and benchmarks (data), and these files, whose
# strings are not our method names: the provider's adapter kinds, the calibration's family keys, and the UI's
# preselected methods on the new-plan form (presentation).
NAME_LITERALS_ALLOWED = {
    "predictors/cost/api_prices.json": "Together's price keys per adapter kind (lora | full)",
    "predictors/cost/default_calibration.json": "calibration family keys (MethodSpec.calibration_family)",
    "api/ui/templates/new_plan.html": "the methods the new-plan form ticks by default",
    "api/ui/static/new_plan.js": "the same defaults in the new-plan page's script",
}
_PACKAGES = ("api", "predictors", "workers", "storage", "scaling")


def _name_literals(path: Path, names: set[str]) -> list[str]:
    text = path.read_text()
    if path.suffix == ".py":
        return [
            f"{node.lineno}: {node.value!r}"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
        ]
    quoted = re.compile("[\"'](" + "|".join(sorted(names, key=len, reverse=True)) + ")[\"']")
    return [f"{i}: {m.group(0)}" for i, line in enumerate(text.splitlines(), 1) for m in quoted.finditer(line)]


def test_no_method_name_appears_outside_its_module() -> None:
    """Everything outside ``predictors/methods/`` reads capabilities from the registry, never a method name."""
    offenders = {}
    for package in _PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if (
                not path.is_file()
                or path.suffix not in {".py", ".json", ".html", ".js", ".yaml", ".toml", ".md"}
                or relative.startswith("predictors/methods/")
                or relative in NAME_LITERALS_ALLOWED
            ):
                continue
            if hits := _name_literals(path, set(METHODS)):
                offenders[relative] = hits
    assert not offenders, f"method names outside predictors/methods/: {offenders}"


def test_every_module_of_the_package_is_one_registered_method() -> None:
    modules = {p.stem for p in (REPO_ROOT / "predictors" / "methods").glob("*.py")} - {"__init__", "base", "registry"}
    assert modules == PRODUCT_METHOD_NAMES == set(METHODS)
    for name, spec in METHODS.items():
        assert spec.config_cls.__module__ == f"predictors.methods.{name}" or spec.parent is not None, name


def test_capability_look_ups_find_one_method_each() -> None:
    assert METHODS[default_method_name()].kind == "finetune"
    assert METHODS[proxy_method_name()].proxy
    assert METHODS[prompting_method_name(0, "random")].demonstrations == ()
    for name, spec in METHODS.items():
        for selection in spec.demonstrations or ():
            assert prompting_method_name(4, selection) == name
        assert calibration_family(name) in {s.calibration_family for s in METHODS.values() if s.calibration_family}
