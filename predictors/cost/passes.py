"""One training step of a decoder, traced module by module: matmul FLOPs and the activations autograd keeps.

The trace follows which tensors require a gradient (``rg``) through one decoder block the way PyTorch
autograd does: a frozen matmul whose input needs no gradient runs no backward, a frozen matmul whose
input does runs only the input-gradient matmul, a trained one also the weight-gradient matmul. That is
what makes frozen-base methods cost ≈ 4N per token, top-k layers cost less (backpropagation stops at
the lowest trained block) and prompt tuning the full backward (the gradient must reach the input).

What is counted
---------------
FLOPs are matrix-multiply FLOPs only (2·m·n·k per product), forward and backward, exactly the
operators ``torch.utils.flop_counter.FlopCounterMode`` counts: the linear layers (including adapters
and ``lm_head``) and the two attention products ``Q·Kᵀ`` and ``P·V`` over the full (unmasked) score
matrix. Norms, activations, softmax, rotary embeddings, the loss and the optimizer are not counted
(they are memory-bound; the time model covers them through the fitted efficiency). Attention backward
is 2× its forward for eager/math attention (four products, only those whose operand needs a
gradient) and 2.5× for fused kernels (SDPA/flash recompute ``Q·Kᵀ``), as FlopCounterMode's formulas.

Gradient checkpointing adds one forward of every block that back-propagates, minus what PyTorch's
non-reentrant checkpoint does not recompute (it stops once the last saved tensor is rebuilt: a frozen
feed-forward output projection at the end of a block). MoE experts count the routed
``num_experts_per_token`` copies per token: which experts a token reaches depends on the data, but
every token reaches exactly that many, so the total is fixed (checked against FlopCounterMode on
tiny CPU models with transformers' eager experts; its default ``grouped_mm`` has no flop formula).

Saved activations are the bytes autograd keeps between forward and backward for one micro-batch, for
the Hugging Face implementation (RMSNorm/LayerNorm upcast to fp32, autocast to bf16/fp16 compute with
fp32 trainable weights, peft's LoRA input cast, SDPA/flash saving q, k, v, output and log-sum-exp, an
eager softmax saving the fp32 probabilities).

References
----------
Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361, Sec. 2.1, Table 1
(forward 2N per token, training ≈ 6N).
Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
arXiv:2205.05198, Sec. 4.1, Eq. 1 (activations per layer s·b·h·(34 + 5·a·s/h) bytes in 16-bit; our
per-tensor account reproduces its structure for the HF block and adds the fp32 norm upcasts).
Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost", arXiv:1604.06174 (checkpointing:
one extra forward, only block inputs kept).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from predictors.architecture import Architecture, LinearModule
from predictors.methods.base import CostTerms, is_parameter_wrapped

__all__ = [
    "LayerPass",
    "ModelPass",
    "PassColumns",
    "PassPolynomial",
    "forward_flops",
    "trace_training_pass",
    "training_pass_polynomial",
]

_BLOCK_KERNELS = 34  # non-matmul kernels of one HF block forward: 2 norms x 8, rotary ~10, SDPA + views, act, adds
_ADAPTER_KERNELS = 6  # per LoRA-adapted module: two casts, A, B, scale, add
_HEAD_KERNELS = 16  # final norm, lm_head, fp32 upcast, cross-entropy forward and backward


@dataclass(frozen=True, slots=True)
class LayerPass:
    """One decoder block: forward/backward matmul FLOPs, saved bytes, whether its output needs a gradient."""

    forward_flops: float
    backward_flops: float
    saved_bytes: float
    output_requires_grad: bool
    runs_backward: bool
    recompute_flops: float
    forward_kernels: int


@dataclass(frozen=True, slots=True)
class ModelPass:
    """A whole micro-batch step (per GPU, before data parallelism).

    ``layers_saved_bytes`` is the sum over blocks without checkpointing; ``max_layer_saved_bytes`` the
    largest single block (what checkpointing re-materialises at once). ``head_*`` covers the final norm
    and ``lm_head``; ``logit_tokens`` the positions whose logits are computed.
    """

    forward_flops: float
    backward_flops: float
    recompute_flops: float
    layers_saved_bytes: float
    max_layer_saved_bytes: float
    head_saved_bytes: float
    backward_layers: int
    logit_tokens: int
    kernel_launches: int = 0

    @property
    def train_flops(self) -> float:
        return self.forward_flops + self.backward_flops + self.recompute_flops


@dataclass(frozen=True, slots=True)
class _Roles:
    attn_in: tuple[LinearModule, ...]
    attn_out: tuple[LinearModule, ...]
    mlp_in: tuple[LinearModule, ...]
    mlp_out: tuple[LinearModule, ...]
    gated: bool
    parallel: bool
    mult: dict[str, int]  # routed copies per token (MoE experts per token, else 1)
    attn_in_names: tuple[str, ...]
    expert_in_names: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def _roles(arch: Architecture) -> _Roles:
    """Which linear modules feed attention, leave it, feed and leave the feed-forward block (memoised)."""
    attention = [m for m in arch.linear_modules if m.kind == "attention"]
    mlp = [m for m in arch.linear_modules if m.kind in {"mlp", "router"}]
    mlp_out = [m for m in mlp if m.name in arch.mlp_output_modules] or mlp[-1:]
    mlp_in = [m for m in mlp if m not in mlp_out]
    expert_in = [m for m in mlp_in if m.kind == "mlp"]
    gated = len(expert_in) >= 2 or any(m.out_features == 2 * arch.intermediate_size for m in expert_in)
    mult = {m.name: _active(arch, m) for m in arch.linear_modules}
    roles = _Roles(
        tuple(attention[:-1]),
        tuple(attention[-1:]),
        tuple(mlp_in),
        tuple(mlp_out),
        gated,
        arch.parallel_blocks,
        mult,
        tuple(m.name for m in attention[:-1]),
        tuple(m.name for m in expert_in),
    )
    return roles


def _active(arch: Architecture, module: LinearModule) -> int:
    """Copies of ``module`` one token passes through (routed experts for MoE, else 1)."""
    return min(module.n_experts, arch.num_experts_per_token) if module.n_experts > 1 else 1


@dataclass(frozen=True, slots=True)
class _Dtypes:
    compute: int  # bytes of the autocast compute dtype (2 for bf16/fp16 compute, 4 for fp32)
    residual: int  # bytes of the residual stream (4 when the embedding weights are fp32)
    frozen_norm_fp32: bool  # frozen norm weights stored in fp32
    trainable_fp32: bool  # trained base weights are fp32 (top-k layers in a half-precision model)


@dataclass(slots=True)
class _Tally:
    """Running FLOP and byte totals, added to in the order the forward runs."""

    forward_flops: float = 0.0
    backward_flops: float = 0.0
    saved_bytes: float = 0.0

    def add(self, forward_flops: float, backward_flops: float, saved_bytes: float) -> None:
        self.forward_flops += forward_flops
        self.backward_flops += backward_flops
        self.saved_bytes += saved_bytes


@dataclass(frozen=True, slots=True)
class _StageInput:
    """What the linear layers of one stage share: their input, the block's settings, the method's terms."""

    tokens: int
    input_rg: bool  # the shared input needs a gradient
    input_bytes: int  # bytes per element of the shared input
    trainable: bool  # the block's base weights train
    terms: CostTerms
    ranks: dict[str, int]
    compute: int  # bytes of the compute dtype
    mults: dict[str, int]


def _wrapped_low_rank(tally: _Tally, stage: _StageInput, module: LinearModule, rank: int, base: float) -> None:
    """LoRA on a 3-D expert parameter or a bare router weight (peft's ``lora.ParamWrapper``).

    transformers >= 5 keeps experts as 3-D parameters and the router as a bare weight; peft adapts them
    with a parametrisation W + B·A (a baddbmm over experts) registered on every forward: torch's
    register_parametrization evaluates it once to check it, then the forward evaluates it again. Tokens
    then run the base matmul on a weight that needs a gradient: the routed weight-gradient matmul runs,
    and both low-rank factors get a gradient (two more bmm).
    """
    delta = 2.0 * module.n_experts * module.out_features * rank * module.in_features  # 2r on a fused gate/up half
    tally.forward_flops += 2.0 * delta
    tally.backward_flops += (0.0 if stage.trainable else base) + 2.0 * delta
    # the gathered expert input, kept for the weight gradient
    tally.saved_bytes += stage.compute * stage.tokens * module.in_features * stage.mults[module.name]


def _low_rank(tally: _Tally, stage: _StageInput, module: LinearModule, rank: int) -> bool:
    """x·Aᵀ·Bᵀ beside the frozen matmul (LoRA and its relatives); True when it needs the shared input kept."""
    terms, compute, tokens, mult = stage.terms, stage.compute, stage.tokens, stage.mults[module.name]
    a_flops = 0.0 if terms.adapter_input_summed else 2.0 * tokens * module.in_features * rank * mult
    b_flops = 2.0 * tokens * rank * module.out_features * mult
    tally.forward_flops += a_flops + b_flops
    if terms.adapter_input_summed:  # MiSS: x summed over d_in / r groups (no matmul, no weight), then ·B
        tally.backward_flops += b_flops + (b_flops if stage.input_rg else 0.0)
    elif terms.adapter_factors_trainable:
        tally.backward_flops += 2.0 * b_flops + a_flops + (a_flops if stage.input_rg else 0.0)
    else:  # frozen A and B (VeRA): the gradient only passes through B (to d) and A (to x)
        tally.backward_flops += b_flops + (a_flops if stage.input_rg else 0.0)
    # peft casts x to the fp32 adapter dtype, autocast casts it back: one copy per adapted module, kept
    # for A's weight gradient (nothing is kept when A is frozen)
    shared_needed = False
    if not terms.adapter_factors_trainable or terms.adapter_input_summed:
        pass
    elif compute != 4:
        tally.saved_bytes += compute * tokens * module.in_features * mult
    else:
        shared_needed = True
    tally.saved_bytes += compute * tokens * rank * mult
    return shared_needed


def _dense_delta(tally: _Tally, stage: _StageInput, module: LinearModule, base: float) -> bool:
    """ΔW rebuilt from its factors (LoHa, LoKr): x·ΔWᵀ beside the frozen matmul, ΔW's gradient and the
    input's; F.linear keeps x (a cast copy off fp32, as LoRA's) and ΔW in the compute dtype. True when
    it needs the shared input kept."""
    compute, mult = stage.compute, stage.mults[module.name]
    tally.forward_flops += base
    tally.backward_flops += base + (base if stage.input_rg else 0.0)
    shared_needed = False
    if compute != 4:
        tally.saved_bytes += compute * stage.tokens * module.in_features * mult
    else:
        shared_needed = True
    tally.saved_bytes += compute * module.out_features * module.in_features * mult
    return shared_needed


def _input_rotation(tally: _Tally, stage: _StageInput, module: LinearModule, block_size: int) -> bool:
    """OFT: x·R per token (block-diagonal, b × b blocks) before the frozen matmul; R's gradient and x's.
    True when it needs the shared input kept."""
    compute, mult = stage.compute, stage.mults[module.name]
    rotate = 2.0 * stage.tokens * module.in_features * block_size * mult
    tally.forward_flops += rotate
    tally.backward_flops += rotate + (rotate if stage.input_rg else 0.0)
    if compute != 4:
        tally.saved_bytes += compute * stage.tokens * module.in_features * mult
        return False
    return True


def _adapter_weight_terms(tally: _Tally, stage: _StageInput, module: LinearModule) -> None:
    """Once-per-forward work on an adapter's weights (DoRA's B·A for the column norm, OFT's R and its
    Cayley terms) and the adapted output it keeps."""
    terms, compute, name, mult = stage.terms, stage.compute, module.name, stage.mults[module.name]
    if terms.adapter_weight_flops:
        tally.forward_flops += dict(terms.adapter_weight_flops)[name] * mult
    if terms.adapter_weight_backward_flops:
        tally.backward_flops += dict(terms.adapter_weight_backward_flops)[name] * mult
    if terms.adapter_saved_outputs:
        tally.saved_bytes += terms.adapter_saved_outputs * compute * stage.tokens * module.out_features * mult
    if terms.adapter_weight_saved:
        tally.saved_bytes += compute * dict(terms.adapter_weight_saved)[name] * mult


def _linear_module(tally: _Tally, stage: _StageInput, module: LinearModule) -> tuple[bool, bool]:
    """One linear layer and whatever adapter it carries: (its output needs a gradient, it needs the
    shared input kept for a weight gradient)."""
    terms, compute, tokens, name = stage.terms, stage.compute, stage.tokens, module.name
    mult = stage.mults[name]
    base = 2.0 * tokens * module.in_features * module.out_features * mult
    rank = stage.ranks.get(name, 0) if stage.ranks else 0
    scaled = bool(terms.scaled_modules) and name in terms.scaled_modules
    scaled_in = bool(terms.scaled_input_modules) and name in terms.scaled_input_modules
    dense = bool(terms.dense_adapters) and name in terms.dense_adapters
    rotation = dict(terms.input_rotations).get(name, 0) if terms.input_rotations else 0
    rebuilt = bool(terms.rebuilt_weights) and name in terms.rebuilt_weights
    weight_rg = stage.trainable or rebuilt  # HRA: the matmul runs on W0·H, rebuilt each forward from trained factors
    bias_trains = terms.biases_trainable and module.bias
    adapted_rg = rank > 0 or scaled or scaled_in or dense or rotation > 0
    out_rg = stage.input_rg or weight_rg or bias_trains or adapted_rg
    shared_needed = False
    tally.forward_flops += base
    if stage.input_rg or scaled_in or rotation:  # an IA3 scale or an OFT rotation of the input needs its gradient
        tally.backward_flops += base
    if weight_rg:
        tally.backward_flops += base
        if stage.input_bytes != compute:
            tally.saved_bytes += compute * tokens * module.in_features  # autocast casts the fp32 input once
        else:
            shared_needed = True
    if rank and is_parameter_wrapped(module):
        _wrapped_low_rank(tally, stage, module, rank, base)
    elif rank:
        shared_needed = _low_rank(tally, stage, module, rank) or shared_needed
    elif dense:
        shared_needed = _dense_delta(tally, stage, module, base) or shared_needed
    elif rotation:
        shared_needed = _input_rotation(tally, stage, module, rotation) or shared_needed
    if rank or dense or rotation or rebuilt:
        _adapter_weight_terms(tally, stage, module)
    if scaled:
        tally.saved_bytes += compute * tokens * module.out_features * mult
    if scaled_in:
        tally.saved_bytes += compute * tokens * module.in_features * mult
    return bool(out_rg), shared_needed


def _stage(
    arch: Architecture,
    modules: tuple[LinearModule, ...],
    tokens: int,
    input_rg: bool,
    input_bytes: int,
    *,
    trainable: bool,
    terms: CostTerms,
    ranks: dict[str, int],
    dt: _Dtypes,
    mults: dict[str, int],
) -> tuple[float, float, float, dict[str, bool]]:
    """Linear layers reading one shared input: (forward FLOPs, backward FLOPs, saved bytes, output rg)."""
    stage = _StageInput(
        tokens=tokens,
        input_rg=input_rg,
        input_bytes=input_bytes,
        trainable=trainable,
        terms=terms,
        ranks=ranks,
        compute=dt.compute,
        mults=mults,
    )
    tally = _Tally()
    shared_needed = False
    outputs: dict[str, bool] = {}
    for module in modules:
        outputs[module.name], needs_input = _linear_module(tally, stage, module)
        shared_needed = shared_needed or needs_input
    if shared_needed and modules:
        tally.saved_bytes += max(dt.compute, input_bytes) * tokens * modules[0].in_features
    return tally.forward_flops, tally.backward_flops, tally.saved_bytes, outputs


def _norm_saved(arch: Architecture, tokens: int, input_rg: bool, weight_rg: bool, dt: _Dtypes) -> float:
    """An RMSNorm/LayerNorm keeps its input upcast to fp32 (and its normalised output if its weight trains)."""
    saved = 4.0 * tokens * arch.hidden_size if input_rg else 0.0
    if weight_rg and arch.norm != "nonparametric":
        saved += dt.residual * tokens * arch.hidden_size
    return saved


@dataclass(frozen=True, slots=True)
class _Block:
    """What every stage of one decoder block reads: the architecture, the method's terms, the tokens."""

    arch: Architecture
    terms: CostTerms
    roles: _Roles
    trainable: bool  # the block's own base weights train (full fine-tuning, top-k layers)
    tokens: int  # batch · s_q
    ranks: dict[str, int]
    adapted: frozenset[str]  # modules an adapter of any kind touches
    dt: _Dtypes
    norm_weight_rg: bool  # the norms' weights (or biases) train
    norm_output_bytes: int  # bytes of a norm's output, the next linears' input

    def linears(
        self, modules: tuple[LinearModule, ...], input_rg: bool, input_bytes: int
    ) -> tuple[float, float, float, dict[str, bool]]:
        """:func:`_stage` of ``modules`` reading one shared input."""
        return _stage(
            self.arch,
            modules,
            self.tokens,
            input_rg,
            input_bytes,
            trainable=self.trainable,
            terms=self.terms,
            ranks=self.ranks,
            dt=self.dt,
            mults=self.roles.mult,
        )

    def norm_saved(self, input_rg: bool) -> float:
        return _norm_saved(self.arch, self.tokens, input_rg, self.norm_weight_rg, self.dt)


def _block(arch: Architecture, terms: CostTerms, *, trainable: bool, tokens: int, dt: _Dtypes) -> _Block:
    ranks = dict(terms.adapter_ranks)
    norm_weight_rg = (
        trainable or terms.norms_trainable or (terms.biases_trainable and arch.norm_bias)
    ) and arch.norm != "nonparametric"
    upcast_norm = dt.residual == 4 or dt.frozen_norm_fp32 or (trainable and dt.trainable_fp32)
    return _Block(
        arch=arch,
        terms=terms,
        roles=_roles(arch),
        trainable=trainable,
        tokens=tokens,
        ranks=ranks,
        adapted=frozenset({*ranks, *terms.dense_adapters, *dict(terms.input_rotations), *terms.rebuilt_weights}),
        dt=dt,
        norm_weight_rg=norm_weight_rg,
        norm_output_bytes=4 if upcast_norm else dt.compute,
    )


@dataclass(frozen=True, slots=True)
class _AttentionFlow:
    core_rg: bool  # queries, keys or values need a gradient: the attention kernel runs backward
    output_rg: bool  # the output projection's output needs a gradient


def _attention_core(
    block: _Block, tally: _Tally, *, rg: tuple[bool, bool, bool], batch: int, s_q: int, s_k: int, fused: bool
) -> None:
    """Q·Kᵀ and P·V: FLOPs both ways and what the kernel keeps (SDPA/flash: Q, K, V, output and the
    log-sum-exp; eager: the fp32 probabilities and their 16-bit copy)."""
    arch, compute = block.arch, block.dt.compute
    q_rg, k_rg, v_rg = rg
    heads, kv_heads, head_dim = arch.num_attention_heads, arch.num_key_value_heads, arch.head_dim
    one_product = 2.0 * batch * heads * s_q * s_k * head_dim
    tally.forward_flops += 2.0 * one_product
    if not (q_rg or k_rg or v_rg):
        return
    if fused:
        tally.backward_flops += 5.0 * one_product
        tally.saved_bytes += (
            compute * batch * (2 * s_q * heads * head_dim + 2 * s_k * kv_heads * head_dim) + 4.0 * batch * heads * s_q
        )
        return
    n_products = (1 if (q_rg or k_rg) else 0) + (1 if v_rg else 0) + (1 if q_rg else 0) + (1 if k_rg else 0)
    tally.backward_flops += n_products * one_product
    probs = batch * heads * s_q * s_k
    tally.saved_bytes += compute * batch * (s_q * heads * head_dim + 2 * s_k * heads * head_dim)
    tally.saved_bytes += 4.0 * probs + (compute * probs if compute != 4 else 0.0)


def _attention_block(
    block: _Block, tally: _Tally, *, x_rg: bool, batch: int, s_q: int, s_k: int, fused: bool
) -> _AttentionFlow:
    """Norm, the Q/K/V projections, the attention kernel and the output projection."""
    roles, compute = block.roles, block.dt.compute
    tally.saved_bytes += block.norm_saved(x_rg)
    forward, backward, saved, outputs = block.linears(
        roles.attn_in, x_rg or block.norm_weight_rg, block.norm_output_bytes
    )
    tally.add(forward, backward, saved)
    q_rg = any(outputs.values())
    if len(roles.attn_in) >= 3:
        names = roles.attn_in_names
        q_rg, k_rg, v_rg = outputs[names[0]], outputs[names[1]], outputs[names[2]]
    else:
        k_rg = v_rg = q_rg
    if block.terms.prefix_tokens:
        k_rg = v_rg = True
    core_rg = q_rg or k_rg or v_rg
    _attention_core(block, tally, rg=(q_rg, k_rg, v_rg), batch=batch, s_q=s_q, s_k=s_k, fused=fused)
    out_module = roles.attn_out
    forward, backward, saved, out_outputs = block.linears(out_module, core_rg, compute)
    if not fused and core_rg and out_module:
        module = out_module[0]
        if block.trainable or module.name in block.adapted:
            saved += compute * block.tokens * module.in_features  # eager: transpose(1, 2).contiguous() feeds o_proj
    if fused and out_module and block.trainable and not block.ranks.get(out_module[0].name):
        saved -= compute * block.tokens * out_module[0].in_features  # o_proj reads the SDPA output (already saved)
    tally.add(forward, backward, saved)
    return _AttentionFlow(core_rg=core_rg, output_rg=any(out_outputs.values()))


@dataclass(frozen=True, slots=True)
class _FeedForwardFlow:
    residual_rg: bool  # the residual stream entering the feed-forward block needs a gradient
    activation_rg: bool  # the activation feeding the output projections needs a gradient
    output_rg: bool  # the output projections' output needs a gradient
    trailing_flops: float  # forward FLOPs that checkpointing does not recompute


def _feed_forward_block(block: _Block, tally: _Tally, *, x_rg: bool, attention_output_rg: bool) -> _FeedForwardFlow:
    """Norm (none of its own in a parallel block with one norm), the input projections, the activation
    (a gated one keeps gate, up and their product) and the output projections."""
    arch, roles, compute, tokens = block.arch, block.roles, block.dt.compute, block.tokens
    if roles.parallel:
        residual_rg = x_rg
        if arch.norms_per_layer >= 2:
            tally.saved_bytes += block.norm_saved(x_rg)
    else:
        residual_rg = x_rg or attention_output_rg
        tally.saved_bytes += block.norm_saved(residual_rg)
    normed_rg = residual_rg or block.norm_weight_rg
    forward, backward, saved, outputs = block.linears(roles.mlp_in, normed_rg, block.norm_output_bytes)
    tally.add(forward, backward, saved)
    expert_in = roles.expert_in_names
    activation_rg = any(outputs[name] for name in expert_in) if expert_in else normed_rg
    # every output projection (routed experts x experts-per-token, plus a shared expert) reads its own
    # activation, and each was built from a gate and an up projection when gated
    if roles.mlp_out:
        inter_active = sum(module.in_features * roles.mult[module.name] for module in roles.mlp_out)
    else:
        inter_active = arch.intermediate_size
    if activation_rg:
        tally.saved_bytes += (3.0 if roles.gated else 1.0) * compute * tokens * inter_active
    forward, backward, saved, outputs = block.linears(roles.mlp_out, activation_rg, compute)
    tally.add(forward, backward, saved)
    # Non-reentrant checkpointing stops recomputing once the last saved tensor is rebuilt: a trailing
    # feed-forward output projection that saves nothing (frozen, no adapter) is not recomputed.
    trailing = 0.0
    for module in roles.mlp_out:
        if not (block.trainable or module.name in block.adapted):
            trailing += 2.0 * tokens * module.in_features * module.out_features * roles.mult[module.name]
    return _FeedForwardFlow(
        residual_rg=residual_rg,
        activation_rg=activation_rg,
        output_rg=any(outputs.values()),
        trailing_flops=trailing,
    )


def _layer(
    arch: Architecture,
    terms: CostTerms,
    *,
    x_rg: bool,
    trainable: bool,
    batch: int,
    s_q: int,
    s_k: int,
    attention: str,
    dt: _Dtypes,
) -> LayerPass:
    """One decoder block of ``batch`` sequences (``s_q`` queries over ``s_k`` keys) whose input needs a
    gradient when ``x_rg``: the attention block, then the feed-forward block, then the sandwich norms."""
    block = _block(arch, terms, trainable=trainable, tokens=batch * s_q, dt=dt)
    tally = _Tally()
    attention_flow = _attention_block(
        block, tally, x_rg=x_rg, batch=batch, s_q=s_q, s_k=s_k, fused=attention != "eager"
    )
    mlp_flow = _feed_forward_block(block, tally, x_rg=x_rg, attention_output_rg=attention_flow.output_rg)
    out_rg = mlp_flow.residual_rg or mlp_flow.output_rg or (block.roles.parallel and attention_flow.output_rg)
    runs_backward = out_rg or attention_flow.core_rg or mlp_flow.activation_rg
    if arch.norms_per_layer > 2:  # sandwich norms (Gemma-2) save their inputs too
        tally.saved_bytes += (arch.norms_per_layer - 2) * _norm_saved(
            arch, block.tokens, out_rg, block.norm_weight_rg, dt
        )
    kernels = _BLOCK_KERNELS + len(arch.linear_modules)
    kernels += _ADAPTER_KERNELS * len(block.adapted) * terms.adapter_kernels_factor
    kernels += len(terms.scaled_modules) + len(terms.scaled_input_modules)
    return LayerPass(
        tally.forward_flops,
        tally.backward_flops,
        tally.saved_bytes,
        out_rg,
        runs_backward,
        tally.forward_flops - mlp_flow.trailing_flops,
        kernels,
    )


_UNIT_SHAPES = ((1, 1, 1), (1, 1, 2), (2, 1, 1), (1, 2, 2))  # (batch, s_q, s_k)
_SCALED_FIELDS = ("forward_flops", "backward_flops", "saved_bytes", "recompute_flops")


Coef = tuple[float, float, float, float]
"""A quantity of one micro-batch as ``X·T + Z·K + Y·P + F`` (see :func:`_layer_coefficients`): (X, Z, Y, F)."""


@functools.lru_cache(maxsize=65_536)
def _layer_coefficients(
    arch: Architecture,
    terms: CostTerms,
    *,
    x_rg: bool,
    trainable: bool,
    attention: str,
    dt: _Dtypes,
) -> tuple[tuple[Coef, ...], LayerPass]:
    """A block's FLOPs and bytes as functions of the micro-batch shape, and its shape-independent facts.

    Every FLOP and byte of a block is ``X·T + Z·K + Y·P + F`` with T = batch·s_q (query tokens),
    K = batch·s_k (keys and values), P = batch·s_q·s_k (attention products, an eager score matrix)
    and F fixed (DoRA's per-forward weight norm); which tensors need a gradient does not depend on the
    shape. The shapes (1,1,1), (1,1,2), (2,1,1), (1,2,2) determine X, Z, Y, F exactly. Returns the
    coefficients of :data:`_SCALED_FIELDS` and the (1,1,1) trace (for the flags and kernel count).
    """
    unit_passes = [
        _layer(arch, terms, x_rg=x_rg, trainable=trainable, batch=b, s_q=q, s_k=k, attention=attention, dt=dt)
        for b, q, k in _UNIT_SHAPES
    ]
    coefficients = []
    for name in _SCALED_FIELDS:
        va, vb, vc, vd = (getattr(unit, name) for unit in unit_passes)
        per_token = vc - vb
        per_pair = (vd - vc) / 2.0
        per_key = vb - va - per_pair
        coefficients.append((per_token, per_key, per_pair, va - per_token - per_key - per_pair))
    return tuple(coefficients), unit_passes[0]


def _scaled_layer(
    arch: Architecture,
    terms: CostTerms,
    *,
    x_rg: bool,
    trainable: bool,
    batch: int,
    s_q: int,
    s_k: int,
    attention: str,
    dt: _Dtypes,
) -> LayerPass:
    """:func:`_layer` for any shape from its coefficients (:func:`_layer_coefficients`): a few multiplications."""
    coef, unit = _layer_coefficients(arch, terms, x_rg=x_rg, trainable=trainable, attention=attention, dt=dt)
    tokens = float(batch * s_q)
    keys = float(batch * s_k)
    pairs = tokens * s_k
    fwd, bwd, saved, recompute = (x * tokens + z * keys + y * pairs + f for x, z, y, f in coef)
    return LayerPass(fwd, bwd, saved, unit.output_requires_grad, unit.runs_backward, recompute, unit.forward_kernels)


def _dtypes(precision: str, terms: CostTerms) -> _Dtypes:
    compute = 4 if precision == "fp32" else 2
    base_fp32 = precision in {"fp32", "bf16-mixed"}
    residual = 4 if base_fp32 else 2
    trainable_fp32 = not (terms.base_trainable and precision in {"bf16", "fp16"})
    return _Dtypes(compute=compute, residual=residual, frozen_norm_fp32=base_fp32, trainable_fp32=trainable_fp32)


def _layer_segments(arch: Architecture, terms: CostTerms) -> list[tuple[int, bool]]:
    """Runs of consecutive blocks as (count, base weights train): all, none, or the top k."""
    n_layers = arch.num_hidden_layers
    k_top = min(terms.top_layers_trainable, n_layers) if terms.top_layers_trainable else 0
    if terms.base_trainable:
        return [(n_layers, True)]
    if k_top:
        return [(n_layers - k_top, False), (k_top, True)]
    return [(n_layers, False)]


@dataclass(slots=True)
class _PassTally:
    """A training pass's running totals over the blocks, added to from the first block to the last."""

    forward_flops: float = 0.0
    backward_flops: float = 0.0
    recompute_flops: float = 0.0
    saved_bytes: float = 0.0
    max_layer_saved_bytes: float = 0.0
    backward_layers: int = 0
    kernels: int = _HEAD_KERNELS


def _trace_blocks(
    tally: _PassTally,
    segments: list[tuple[int, bool]],
    block_pass: Callable[[bool, bool], LayerPass],
    *,
    input_rg: bool,
    gradient_checkpointing: bool,
) -> bool:
    """Add every block to ``tally``; a run of blocks whose input and output agree on needing a gradient
    counts at once. Returns whether the last block's output needs a gradient."""
    for count, trainable in segments:
        remaining = count
        while remaining > 0:
            layer_pass = block_pass(input_rg, trainable)
            repeats = remaining if layer_pass.output_requires_grad == input_rg else 1
            tally.forward_flops += repeats * layer_pass.forward_flops
            tally.backward_flops += repeats * layer_pass.backward_flops
            tally.kernels += repeats * layer_pass.forward_kernels
            if layer_pass.runs_backward:
                tally.backward_layers += repeats
                tally.kernels += repeats * layer_pass.forward_kernels * (3 if gradient_checkpointing else 2)
                tally.saved_bytes += repeats * layer_pass.saved_bytes
                tally.max_layer_saved_bytes = max(tally.max_layer_saved_bytes, layer_pass.saved_bytes)
                if gradient_checkpointing:
                    tally.recompute_flops += repeats * layer_pass.recompute_flops
            remaining -= repeats
            input_rg = layer_pass.output_requires_grad
    return input_rg


def _trace_head(
    tally: _PassTally, arch: Architecture, terms: CostTerms, *, input_rg: bool, tokens: int, dt: _Dtypes
) -> float:
    """Add the final norm and ``lm_head`` to ``tally``; returns the bytes they save for the backward."""
    hidden = arch.hidden_size
    head_flops = 2.0 * tokens * hidden * arch.vocab_size
    tally.forward_flops += head_flops
    final_norm_rg = terms.base_trainable or terms.norms_trainable or (terms.biases_trainable and arch.norm_bias)
    head_saved = _norm_saved(arch, tokens, input_rg, final_norm_rg, dt)
    if input_rg or final_norm_rg:
        tally.backward_flops += head_flops
    if terms.base_trainable:  # lm_head trains with the base weights
        tally.backward_flops += head_flops
        head_saved += dt.compute * tokens * hidden
    return head_saved


def trace_training_pass(
    arch: Architecture,
    terms: CostTerms,
    *,
    batch: int,
    seq_len: int,
    precision: str,
    attention: str,
    gradient_checkpointing: bool,
) -> ModelPass:
    """Trace one micro-batch (``batch`` sequences of ``seq_len`` tokens) of a training step.

    Under gradient checkpointing the input embeddings are assumed to require a gradient (as
    ``enable_input_require_grads`` makes them for PEFT models in transformers' Trainer), so every block
    back-propagates and is recomputed once.
    """
    dt = _dtypes(precision, terms)
    s_q = seq_len + terms.input_virtual_tokens
    s_k = s_q + terms.prefix_tokens
    n_layers = arch.num_hidden_layers
    input_rg = (
        terms.base_trainable or terms.input_virtual_tokens > 0 or (gradient_checkpointing and not terms.head_only)
    )
    if terms.head_only:
        frozen = _layer(
            arch, CostTerms(), x_rg=False, trainable=False, batch=batch, s_q=s_q, s_k=s_k, attention=attention, dt=dt
        )
        return ModelPass(
            n_layers * frozen.forward_flops, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, n_layers * frozen.forward_kernels
        )
    cache: dict[tuple[bool, bool], LayerPass] = {}

    def block_pass(rg: bool, trainable: bool) -> LayerPass:
        key = (rg, trainable)
        if key not in cache:
            cache[key] = _scaled_layer(
                arch, terms, x_rg=rg, trainable=trainable, batch=batch, s_q=s_q, s_k=s_k, attention=attention, dt=dt
            )
        return cache[key]

    tally = _PassTally()
    output_rg = _trace_blocks(
        tally,
        _layer_segments(arch, terms),
        block_pass,
        input_rg=input_rg,
        gradient_checkpointing=gradient_checkpointing,
    )
    tokens = batch * s_q
    head_saved = _trace_head(tally, arch, terms, input_rg=output_rg, tokens=tokens, dt=dt)
    return ModelPass(
        tally.forward_flops,
        tally.backward_flops,
        tally.recompute_flops,
        tally.saved_bytes,
        tally.max_layer_saved_bytes,
        head_saved,
        tally.backward_layers,
        tokens,
        tally.kernels,
    )


def forward_flops(arch: Architecture, *, batch: int, s_q: int, s_k: int, logit_tokens: int) -> float:
    """Matmul FLOPs of one inference forward: ``batch`` sequences of ``s_q`` new tokens over ``s_k`` keys.

    Prefill is ``s_q = s_k = prompt``; one decode step is ``s_q = 1, s_k = context``. ``logit_tokens``
    positions go through ``lm_head`` (generation keeps only the last one).
    """
    tokens = batch * s_q
    per_token = sum(2.0 * m.in_features * m.out_features * _active(arch, m) for m in arch.linear_modules)
    attention = 4.0 * batch * arch.num_attention_heads * s_q * s_k * arch.head_dim
    return (
        arch.num_hidden_layers * (tokens * per_token + attention)
        + 2.0 * logit_tokens * arch.hidden_size * arch.vocab_size
    )


def forward_kernel_launches(arch: Architecture) -> int:
    """Kernels one inference forward launches (our estimate; the calibration's third term)."""
    return arch.num_hidden_layers * (_BLOCK_KERNELS + len(arch.linear_modules)) + _HEAD_KERNELS


def _scale(coef: Coef, n: float) -> Coef:
    return (coef[0] * n, coef[1] * n, coef[2] * n, coef[3] * n)


def _add(a: Coef, b: Coef) -> Coef:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


_ZERO: Coef = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class PassColumns:
    """:class:`ModelPass` fields for arrays of micro-batch shapes (one entry per candidate)."""

    forward_flops: NDArray[np.float64]
    backward_flops: NDArray[np.float64]
    recompute_flops: NDArray[np.float64]
    layers_saved_bytes: NDArray[np.float64]
    max_layer_saved_bytes: NDArray[np.float64]
    head_saved_bytes: NDArray[np.float64]
    logit_tokens: NDArray[np.float64]
    backward_layers: int
    kernel_launches: int

    @property
    def train_flops(self) -> NDArray[np.float64]:
        return self.forward_flops + self.backward_flops + self.recompute_flops


@dataclass(frozen=True, slots=True)
class PassPolynomial:
    """A training micro-step as a function of its shape: each :class:`ModelPass` field is ``X·T + Z·K +
    Y·P + F`` (``max_layer_saved_bytes`` the largest of a few such), with T, K, P from the batch and the
    sequence length as in :func:`trace_training_pass`; the rest does not depend on the shape."""

    forward: Coef
    backward: Coef
    recompute: Coef
    layers_saved: Coef
    max_layer_saved: tuple[Coef, ...]
    head_saved: Coef
    backward_layers: int
    kernel_launches: int
    virtual_tokens: int
    prefix_tokens: int
    computes_logits: bool = True  # the linear probe's pass stops at the pooled states

    def evaluate(self, batch: NDArray[np.float64], seq_len: NDArray[np.float64]) -> PassColumns:
        s_q = seq_len + self.virtual_tokens
        tokens = batch * s_q
        keys = batch * (s_q + self.prefix_tokens)
        pairs = tokens * (s_q + self.prefix_tokens)

        def value(c: Coef) -> NDArray[np.float64]:
            return np.asarray(c[0] * tokens + c[1] * keys + c[2] * pairs + c[3], dtype=float)

        largest = np.zeros_like(tokens, dtype=float)
        for coef in self.max_layer_saved:
            largest = np.maximum(largest, value(coef))
        return PassColumns(
            forward_flops=value(self.forward),
            backward_flops=value(self.backward),
            recompute_flops=value(self.recompute),
            layers_saved_bytes=value(self.layers_saved),
            max_layer_saved_bytes=largest,
            head_saved_bytes=value(self.head_saved),
            logit_tokens=np.asarray(tokens if self.computes_logits else np.zeros_like(tokens), dtype=float),
            backward_layers=self.backward_layers,
            kernel_launches=self.kernel_launches,
        )


def training_pass_polynomial(
    arch: Architecture, terms: CostTerms, *, precision: str, attention: str, gradient_checkpointing: bool
) -> PassPolynomial:
    """:func:`trace_training_pass` for every micro-batch shape at once: the same walk over the blocks, on
    coefficients (:func:`_layer_coefficients`) instead of numbers."""
    dt = _dtypes(precision, terms)
    n_layers = arch.num_hidden_layers
    x_rg = terms.base_trainable or terms.input_virtual_tokens > 0 or (gradient_checkpointing and not terms.head_only)

    def coefficients(rg: bool, trainable: bool, layer_terms: CostTerms = terms) -> tuple[tuple[Coef, ...], LayerPass]:
        return _layer_coefficients(arch, layer_terms, x_rg=rg, trainable=trainable, attention=attention, dt=dt)

    if terms.head_only:
        (frozen_fwd, *_), frozen = coefficients(False, False, _FROZEN_TERMS)
        return PassPolynomial(
            _scale(frozen_fwd, n_layers), _ZERO, _ZERO, _ZERO, (), _ZERO, 0, n_layers * frozen.forward_kernels,
            terms.input_virtual_tokens, terms.prefix_tokens, computes_logits=False,
        )  # fmt: skip
    k_top = min(terms.top_layers_trainable, n_layers) if terms.top_layers_trainable else 0
    segments: list[tuple[int, bool]] = []
    if terms.base_trainable:
        segments.append((n_layers, True))
    elif k_top:
        segments.extend([(n_layers - k_top, False), (k_top, True)])
    else:
        segments.append((n_layers, False))
    fwd = bwd = recompute = saved = _ZERO
    largest: list[Coef] = []
    backward_layers = 0
    kernels = _HEAD_KERNELS
    for count, trainable in segments:
        remaining = count
        while remaining > 0:
            (l_fwd, l_bwd, l_saved, l_recompute), lp = coefficients(x_rg, trainable)
            n = remaining if lp.output_requires_grad == x_rg else 1
            fwd, bwd = _add(fwd, _scale(l_fwd, n)), _add(bwd, _scale(l_bwd, n))
            kernels += n * lp.forward_kernels
            if lp.runs_backward:
                backward_layers += n
                kernels += n * lp.forward_kernels * (3 if gradient_checkpointing else 2)
                saved = _add(saved, _scale(l_saved, n))
                if l_saved not in largest:
                    largest.append(l_saved)
                if gradient_checkpointing:
                    recompute = _add(recompute, _scale(l_recompute, n))
            remaining -= n
            x_rg = lp.output_requires_grad
    # final norm and lm_head: per query token
    h, vocab = arch.hidden_size, arch.vocab_size
    head: Coef = (2.0 * h * vocab, 0.0, 0.0, 0.0)
    fwd = _add(fwd, head)
    final_norm_rg = terms.base_trainable or terms.norms_trainable or (terms.biases_trainable and arch.norm_bias)
    head_saved: Coef = (_norm_saved(arch, 1, x_rg, final_norm_rg, dt), 0.0, 0.0, 0.0)
    if x_rg or final_norm_rg:
        bwd = _add(bwd, head)
    if terms.base_trainable:
        bwd = _add(bwd, head)
        head_saved = (head_saved[0] + dt.compute * h, 0.0, 0.0, 0.0)
    return PassPolynomial(
        fwd, bwd, recompute, saved, tuple(largest), head_saved, backward_layers, kernels,
        terms.input_virtual_tokens, terms.prefix_tokens,
    )  # fmt: skip


_FROZEN_TERMS = CostTerms()
