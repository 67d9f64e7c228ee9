"""What every adaptation method declares: its parameter schema and its parameter accounting.

A method module (``lora.py``, ``icl.py``, …) subclasses :class:`MethodConfig` for its parameters and
ends with one ``register_method(...)`` call (see :mod:`predictors.methods.registry`). The package
discovers its modules (``pkgutil``); the cost model, request validation, ``GET /v1/methods``, the
accuracy tiers and the workers read only the registered :class:`MethodSpec` (its cost terms in the
generic form below, its capabilities and its worker plan), so adding a method touches one module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.validation import EdgeModel

__all__ = [
    "ApiPricingFn",
    "CostTerms",
    "CostTermsFn",
    "LinearTargetsConfig",
    "MethodConfig",
    "MethodSpec",
    "TrainableParamsFn",
    "WorkerPlanFn",
    "check_target_modules",
    "is_parameter_wrapped",
    "linear_targets",
    "match_target_modules",
]


class MethodConfig(EdgeModel):
    """Base of every method's parameters; ``name`` is the registry key (a Literal in each subclass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


TrainableParamsFn = Callable[[Architecture, Any], int]
"""(architecture, config) -> trainable parameter count (adapter weights for PEFT methods)."""

WorkerPlanFn = Callable[[Any], dict[str, Any]]
"""config -> a plain description of what a worker builds, read by ``workers.finetune.apply_method``:

* ``{"train": True, "peft_config": "<peft class name>", "peft_kwargs": {...}}``: ``peft.get_peft_model``
  with that config class (``task_type`` CAUSAL_LM added); ``peft_run_kwargs`` maps further arguments to
  facts of the run (``{"total_step": "steps"}``) and ``after_step`` names a method of the peft model the
  worker calls with the step number after each optimizer step (AdaLoRA's ``update_and_allocate``);
* ``{"train": True, "trainable": {...}}``: a subset of the base parameters trains, selected by ``every``
  (all of them), ``name_suffixes`` (parameter names ending so), ``module_types`` (modules whose class name
  contains one of these, lower case) and ``last_layers`` (the last k decoder blocks; ``last_layers_field``
  names the method field an error blames);
* ``"head": {"num_labels": n, "pooling": ...}``: a linear head on frozen pooled states trains instead;
* ``"quantization": {...}``: the frozen base loads 4-bit (bitsandbytes);
* ``{"train": False, ...}``: nothing trains (inference methods, provider fine-tunes).
"""

ApiPricingFn = Callable[[Any], dict[str, Any]]
"""config -> the provider, its model and adapter kind: the keyword arguments of
``predictors.cost.money.api_finetune_usd`` besides the token counts (provider-hosted fine-tunes)."""


@dataclass(frozen=True, slots=True)
class CostTerms:
    """What a training method changes in the forward/backward pass, in the terms the cost model needs.

    Each fine-tuning method module returns one of these from its ``cost_terms(arch, config)`` function;
    :mod:`predictors.cost` turns it into FLOPs (which matmuls run a weight- and/or an input-gradient) and
    saved activations (which tensors autograd keeps). Module names are the architecture's
    ``LinearModule.name`` values.

    Attributes
    ----------
    base_trainable : bool
        Every base weight trains (full fine-tuning), embeddings and ``lm_head`` included.
    top_layers_trainable : int
        The last ``k`` decoder blocks train in full (top-k layers); 0 for none.
    adapter_ranks : tuple of (str, int)
        Low-rank adapters: (module name, rank r) for every adapted linear layer; each token runs
        x·Aᵀ (r × d_in) then ·Bᵀ (d_out × r) beside the frozen matmul.
    adapter_factors_trainable : bool
        A and B train (LoRA); False when they are frozen (VeRA's shared random projections), so the
        backward runs no weight-gradient matmul for them, only the input gradient through B.
    adapter_input_summed : bool
        The adapter's first factor is no matmul: x is summed over d_in / r groups of r (MiSS), so only
        x·B runs per token and the module input is not kept.
    dense_adapters : tuple of str
        Modules whose adapter rebuilds a dense ΔW (d_out × d_in) from its factors every forward and runs
        x·ΔWᵀ beside the frozen matmul (LoHa, LoKr); ΔW is kept for the backward.
    input_rotations : tuple of (str, int)
        (module name, block width b): the module's input is multiplied per token by a trained block-diagonal
        matrix of b × b blocks before the frozen matmul (OFT), whose input gradient then always runs.
    rebuilt_weights : tuple of str
        Modules whose frozen weight is replaced each forward by one rebuilt from trained factors (HRA's
        W0·H): the module's own matmul then also runs its weight gradient and keeps its input.
    adapter_weight_flops : tuple of (str, float)
        Per adapted module, matmul FLOPs run once per forward on the weights, not per token (DoRA's
        B·A for the column norm of W0 + BA, LoHa's two factor products).
    adapter_weight_backward_flops : tuple of (str, float)
        The same, once per backward (the factors' gradients through that rebuild).
    adapter_weight_saved : tuple of (str, float)
        Per adapted module, elements of rebuilt weights autograd keeps once per forward (OFT's rotation and
        its Cayley-Neumann powers), in the compute dtype.
    adapter_saved_outputs : int
        Extra tensors of the module's output width autograd keeps per adapted module and token (DoRA's
        norm-scaled output: 1).
    adapter_kernels_factor : int
        Kernel launches per adapted module, in units of a LoRA adapter's (DoRA: 3).
    scaled_modules, scaled_input_modules : tuple of str
        IA3: modules whose output (resp. input, for feed-forward modules) is scaled by a trained vector.
    norms_trainable, biases_trainable : bool
        LN tuning / BitFit: norm weights (and biases) or every bias vector train.
    input_virtual_tokens : int
        Prompt tuning: trained embeddings prepended to every sequence (the sequence grows by this).
    prefix_tokens : int
        Prefix tuning: trained key/value prefixes attended by every layer (keys grow by this).
    head_only : bool
        Linear probe: a forward pass to pooled hidden states and a tiny head; no backward into the model.
    added_frozen_params : int
        Parameters or buffers the method adds to the model that do not train, in 4-byte units beside the
        weights (VeRA's shared fp32 projections A and B; an int64 index buffer counts twice).
    adapter_params_are_new : bool
        The trainable parameters are added to the model (adapters, prompts, heads) rather than a subset
        of the base weights (full, top-k, BitFit, LN tuning).
    base_params_trained : int
        With ``adapter_params_are_new``, how many of the trainable parameters are base weights all the same
        (TinyTL's biases beside its lite residuals).
    quantized_base : str or None
        The frozen base is stored quantised regardless of ``training.precision`` (QLoRA: ``"nf4"``).
    double_quant : bool
        The quantisation constants are quantised too (QLoRA Sec. 3), for a quantised base.
    prompt_tokens : int
        Tokens the method adds to every evaluation prompt (ICL: shots × demonstration tokens).
    assumptions : tuple of str
        What the method's accounting assumed about the model (e.g. which matched modules peft leaves
        unadapted), for the estimate's ``assumptions`` list.
    """

    base_trainable: bool = False
    top_layers_trainable: int = 0
    adapter_ranks: tuple[tuple[str, int], ...] = ()
    adapter_factors_trainable: bool = True
    adapter_input_summed: bool = False
    dense_adapters: tuple[str, ...] = ()
    input_rotations: tuple[tuple[str, int], ...] = ()
    rebuilt_weights: tuple[str, ...] = ()
    adapter_weight_flops: tuple[tuple[str, float], ...] = ()
    adapter_weight_saved: tuple[tuple[str, float], ...] = ()
    adapter_weight_backward_flops: tuple[tuple[str, float], ...] = ()
    adapter_saved_outputs: int = 0
    adapter_kernels_factor: int = 1
    scaled_modules: tuple[str, ...] = ()
    scaled_input_modules: tuple[str, ...] = ()
    norms_trainable: bool = False
    biases_trainable: bool = False
    input_virtual_tokens: int = 0
    prefix_tokens: int = 0
    head_only: bool = False
    added_frozen_params: int = 0
    adapter_params_are_new: bool = True
    base_params_trained: int = 0
    quantized_base: str | None = None
    double_quant: bool = True
    prompt_tokens: int = 0
    assumptions: tuple[str, ...] = ()


CostTermsFn = Callable[[Architecture, Any], CostTerms]
"""(architecture, config) -> the method's :class:`CostTerms` (what training and evaluation add)."""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A registered adaptation method.

    ``kind`` says how the method adapts: ``finetune`` trains weights on a worker, ``inference`` only
    prompts the frozen model (zero-shot, ICL, RAG-ICL), ``api`` is a provider-hosted fine-tune.
    ``base_weights_trainable`` is true only for full fine-tuning (its gradients and optimizer states
    cover the base); ``parent`` names the method a variant reuses (DoRA and QLoRA reuse LoRA).
    ``cost_terms`` describes for the cost model how the method changes the forward and backward pass
    (and the evaluation prompt); ``None`` for methods that change neither.

    Capabilities, read instead of method names:

    * ``demonstrations``: for prompting methods, the demonstration selections it measures (``()`` for
      none: the zero-shot point of the COSMOS ICL law, Eq. 5); ``None`` for methods that do not prompt;
    * ``proxy``: the cheap COSMOS proxy (Wang et al. 2025, arXiv:2505.01449, Sec. 4.1) whose accuracy
      maps onto real fine-tunes; it is not itself an anchor of the training tiers;
    * ``task_kinds``: the task kinds it can run on (``None``: every kind);
    * ``default_for_runs``: the method of a run whose candidate names none;
    * ``calibration_family``: the calibration family whose measured runs time it (``None``: its
      parent's, else the family of the method marked ``times_unmeasured``);
    * ``examples``: a few parameter sets the shared tests run (its defaults are always run too).
    """

    name: str
    config_cls: type[MethodConfig]
    kind: Literal["finetune", "inference", "api"]
    summary: str
    reference: str
    trainable_params: TrainableParamsFn
    worker_plan: WorkerPlanFn
    base_weights_trainable: bool = False
    parent: str | None = None
    cost_terms: CostTermsFn | None = None
    api_pricing: ApiPricingFn | None = None
    demonstrations: tuple[str, ...] | None = None
    proxy: bool = False
    task_kinds: frozenset[str] | None = None
    default_for_runs: bool = False
    calibration_family: str | None = None
    times_unmeasured: bool = False
    examples: tuple[dict[str, Any], ...] = ()

    def parse(self, data: dict[str, Any]) -> MethodConfig:
        return self.config_cls.model_validate(data)

    def default_config(self) -> MethodConfig:
        return self.config_cls.model_validate({"name": self.name})

    @property
    def default_learning_rate(self) -> float:
        """The AdamW learning rate a run uses when its options name none (workers/finetune.py), and the
        reference rate of the fine-tuning phase axis (:mod:`predictors.accuracy.phase`): 1e-4 when every
        base weight trains (full fine-tuning), 1e-3 for the few weights of adapters and heads."""
        return 1e-4 if self.base_weights_trainable else 1e-3

    def json_schema(self) -> dict[str, Any]:
        return self.config_cls.model_json_schema()


def is_parameter_wrapped(module: LinearModule) -> bool:
    """A routed-expert matrix or the router: transformers >= 5 stores them as 3-D parameters / a custom
    module, not an ``nn.Linear``, so peft adapts them with ``lora.ParamWrapper`` (or not at all)."""
    return module.n_experts > 1 or not module.is_nn_linear


def match_target_modules(arch: Architecture, targets: list[str] | str) -> list[LinearModule]:
    """The decoder-layer linear modules a peft ``target_modules`` value selects.

    peft matches a module when its qualified name equals a target or ends with ``"." + target``;
    ``"all-linear"`` selects every linear layer except the output head. Matching our module
    inventory (qualified suffixes such as ``attn.c_proj``) the same way gives peft's selection.
    """
    if targets == "all-linear" or targets == ["all-linear"]:
        return list(arch.linear_modules)
    wanted = [targets] if isinstance(targets, str) else list(targets)
    return [
        module
        for module in arch.linear_modules
        if any(module.name == t or module.name.endswith("." + t) for t in wanted)
    ]


def check_target_modules(value: list[str] | str) -> list[str] | str:
    """A peft ``target_modules`` value: at least one 1-128 character name, or ``"all-linear"``."""
    if isinstance(value, list):
        if not value:
            raise ValueError("must name at least one module, or be 'all-linear'")
        if value == ["all-linear"]:
            return "all-linear"
        for name in value:
            if not name or len(name) > 128:
                raise ValueError(f"module name {name!r} must be 1 to 128 characters")
    return value


class LinearTargetsConfig(MethodConfig):
    """Parameters of a method that adapts chosen ``nn.Linear`` layers (peft's ``target_modules``)."""

    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description='Hugging Face module names to adapt (suffix match, as peft does), or "all-linear".',
    )

    @field_validator("target_modules")
    @classmethod
    def _targets_not_empty(cls, value: list[str] | str) -> list[str] | str:
        return check_target_modules(value)


def linear_targets(arch: Architecture, config: Any, *, method: str) -> list[LinearModule]:
    """The ``nn.Linear`` modules ``config.target_modules`` selects; an error naming the field when none match or
    when one is an MoE expert or router that transformers >= 5 stores as a 3-D parameter (peft's non-LoRA tuners
    adapt ``nn.Linear`` layers only)."""
    modules = match_target_modules(arch, config.target_modules)
    if not modules:
        available = ", ".join(m.name for m in arch.linear_modules)
        raise InvalidInputError(
            "method.target_modules",
            f"{config.target_modules!r} matches no linear layer of a {arch.model_type} model; it has: {available}",
        )
    wrapped = [m.name for m in modules if is_parameter_wrapped(m)]
    if wrapped:
        raise InvalidInputError(
            "method.target_modules",
            f"peft's {method} adapts nn.Linear layers only; {', '.join(wrapped)} are 3-D expert parameters or a "
            f"router in {arch.model_type} (transformers >= 5): target the attention projections",
        )
    return modules
