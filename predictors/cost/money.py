"""Dollars: GPU-hours at catalog prices, token-priced API fine-tunes, and the COSMOS cost equations.

References
----------
Wang, Albarghouthi, Sala 2025, "COSMOS: Predictable and Cost-Effective Adaptation of LLMs",
arXiv:2505.01449, Sec. 3.4: Eq. 3 c = c_adapt + c_eval; Eq. 4 c_predict = c_proxy + c_overhead + c_val;
Eq. 6 CRR = (C_full − C_ours) / C_full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from predictors.errors import InvalidInputError

__all__ = [
    "API_PRICES_FILE",
    "api_finetune_usd",
    "api_prices",
    "cost_reduction_ratio",
    "gpu_usd",
    "prediction_cost_usd",
    "total_cost_usd",
]

API_PRICES_FILE = "api_prices.json"
_PRICES: dict[str, Any] | None = None


def api_prices() -> dict[str, Any]:
    """The editable per-token price table shipped in ``predictors/cost/api_prices.json``."""
    global _PRICES
    if _PRICES is None:
        _PRICES = json.loads(resources.files("predictors.cost").joinpath(API_PRICES_FILE).read_text(encoding="utf-8"))
    return _PRICES


def gpu_usd(gpu_hours: float, usd_per_hour: float) -> float:
    """GPU-hours × hourly price (COSMOS Sec. 3.4, compute-based c_adapt)."""
    return gpu_hours * usd_per_hour


def api_finetune_usd(
    *,
    provider: str,
    total_params: int,
    train_tokens: float,
    epochs: float,
    adapter: str,
    provider_model: str | None = None,
    prices: Mapping[str, Any] | None = None,
) -> float:
    """Price of a provider-hosted fine-tune (COSMOS Sec. 3.4, token-based c_adapt).

    OpenAI: ``train_tokens × epochs × rate``. Together: ``train_tokens × epochs × rate(size bracket,
    lora|full)``, at least the minimum charge. Rates come from the editable table.
    """
    table = prices if prices is not None else api_prices()
    entry = table.get(provider)
    if not isinstance(entry, Mapping):
        raise InvalidInputError("method.provider", f"no price table for provider {provider!r}")
    billed = train_tokens * epochs
    if provider == "openai":
        models = entry["models"]
        key = provider_model or entry["default_model"]
        if key not in models:
            raise InvalidInputError(
                "method.provider_model", f"no OpenAI training price for {key!r}; known: {sorted(models)}"
            )
        return billed * float(models[key]["usd_per_1m_training_tokens"]) / 1e6
    brackets = entry["brackets"]
    for bracket in brackets:
        if total_params <= float(bracket["max_params"]):
            rate = float(bracket["usd_per_1m_tokens"][adapter])
            return max(billed * rate / 1e6, float(entry.get("minimum_usd", 0.0)))
    raise InvalidInputError("model", f"{total_params} parameters exceed Together's largest fine-tuning bracket")


def total_cost_usd(adapt_usd: float, eval_usd: float) -> float:
    """COSMOS Eq. 3: c(T, f) = c_adapt + c_eval."""
    return adapt_usd + eval_usd


def prediction_cost_usd(*, proxy_usd: float, overhead_usd: float = 0.0, validation_usd: float = 0.0) -> float:
    """COSMOS Eq. 4: c_predict = c_proxy + c_overhead + c_val (each non-negative)."""
    for name, value in (("proxy_usd", proxy_usd), ("overhead_usd", overhead_usd), ("validation_usd", validation_usd)):
        if value < 0:
            raise InvalidInputError(name, f"must be non-negative, got {value}")
    return proxy_usd + overhead_usd + validation_usd


def cost_reduction_ratio(exhaustive_usd: float, prediction_usd: float) -> float:
    """COSMOS Eq. 6 as a fraction: (C_full − C_ours) / C_full (0.9272 for the paper's 92.72 %)."""
    if exhaustive_usd <= 0:
        raise InvalidInputError("exhaustive_usd", f"must be positive, got {exhaustive_usd}")
    if prediction_usd < 0:
        raise InvalidInputError("prediction_usd", f"must be non-negative, got {prediction_usd}")
    return (exhaustive_usd - prediction_usd) / exhaustive_usd
