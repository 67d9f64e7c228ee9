"""Retrieval-augmented ICL: the k demonstrations nearest the query, by BM25 or embeddings.

References
----------
Liu et al. 2022, "What Makes Good In-Context Examples for GPT-3?", arXiv:2101.06804.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from predictors.methods.base import MethodSpec
from predictors.methods.icl import IclConfig, demonstration_cost_terms
from predictors.methods.registry import register_method

__all__ = ["RagIclConfig"]


class RagIclConfig(IclConfig):
    name: Literal["rag_icl"] = "rag_icl"  # type: ignore[assignment]
    retriever: Literal["bm25", "embedding"] = Field("bm25", description="How demonstrations are retrieved.")
    selection: Literal["retrieved"] = Field("retrieved", description="Demonstrations are retrieved per query.")  # type: ignore[assignment]


register_method(
    MethodSpec(
        name="rag_icl",
        config_cls=RagIclConfig,
        kind="inference",
        summary="k retrieved (BM25 or embedding-nearest) demonstrations in the prompt.",
        reference="Liu et al. 2022, arXiv:2101.06804",
        trainable_params=lambda arch, config: 0,
        worker_plan=lambda config: {"train": False, "shots": config.shots, "retriever": config.retriever},
        parent="icl",
        cost_terms=demonstration_cost_terms,
        demonstrations=("bm25", "embedding"),
        examples=({"shots": 8},),
    )
)
