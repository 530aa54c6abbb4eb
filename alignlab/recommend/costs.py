"""GPU memory and compute-time estimates of preference-alignment training, from a model's shape alone.

Each algorithm :mod:`alignlab.recommend` ranks declares a cost profile in its own module
(:class:`alignlab.run.algorithms.CostProfile`, read with :func:`profile_of`): the models it keeps
resident and the FLOPs it spends per token. :func:`estimate_memory` adds up the
resident bytes of one training setup term by term; :func:`estimate_trial_cost` counts the FLOPs and
seconds of one sweep trial. Models are :class:`~alignlab.shapes.ModelShape` (no torch).

Both are estimates for planning, good to perhaps 20-30 %: allocator fragmentation, framework
buffers and kernel choices move the real figures. Every term states its assumption where it is
computed. "GB" in this module means GiB (2**30 bytes), the unit ``nvidia-smi`` and torch report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from alignlab.run.algorithms import CostProfile, recommendables
from alignlab.shapes import ModelShape

GIB = 2**30
"""Bytes in one GB as this module reports it (GiB)."""

Method = Literal["lora", "qlora", "full"]
"""How the policy is trained: LoRA adapters on bf16 weights, LoRA on 4-bit weights, or all weights."""
METHODS: tuple[str, ...] = get_args(Method)

RECOMMENDABLE: tuple[str, ...] = tuple(recommendables())
"""The entries :mod:`alignlab.recommend` ranks and estimates, as registered when it was imported: the
names the rule table (alignlab.recommend.rules) may use. Each algorithm module declares its own
(alignlab.run.algorithms.Recommendable: DPO declares ``dpo`` and ``ipo``, DPO with ``loss_type: ipo``), so
a recommendation never names one alignlab cannot run; the ranking reads the registry afresh
(:func:`alignlab.run.algorithms.recommendables`), so an algorithm registered later is ranked too."""


def profile_of(algorithm: str) -> CostProfile:
    """What ``algorithm`` (a recommendable entry) keeps resident and computes, as its module declares."""
    entries = recommendables()
    if algorithm not in entries:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(entries)}")
    return entries[algorithm][1].cost


@dataclass(frozen=True)
class TrainSetup:
    """How the policy is trained: the knobs that move memory and time."""

    method: Method = "lora"
    """lora: bf16 weights + LoRA adapters; qlora: 4-bit weights + adapters; full: all weights trained."""
    seq_len: int = 1024
    """Tokens per sequence (prompt + response), i.e. TRL's ``max_length``; batches are padded to it."""
    batch_size: int = 8
    """Examples per optimizer micro-batch (TRL's ``per_device_train_batch_size``, default 8)."""
    gradient_checkpointing: bool = True
    """TRL's default: keep only each block's input and recompute the rest in the backward pass."""
    lora_r: int = 8
    """LoRA rank on all linear layers of each block (alignlab's default LoraSettings)."""
    response_fraction: float = 0.5
    """Online algorithms: fraction of ``seq_len`` that is the generated response."""
    reward_model_resident: bool = True
    """Online algorithms score samples with a reward model in memory; False for a reward function."""


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

BF16_BYTES = 2.0
"""Bytes per weight in bf16 (TRL's default dtype on GPUs)."""
NF4_BYTES = 0.55
"""Bytes per quantized weight with QLoRA: 4-bit NF4 (0.5 B) plus double-quantized block constants
(about 0.016 B) plus slack for bitsandbytes buffers (Dettmers et al. 2023). Embeddings, norms and the
output head stay in bf16."""
TRAINABLE_BYTES = 16.0
"""Bytes per trained parameter with AdamW in mixed precision (Rajbhandari et al. 2020, ZeRO §3):
full fine-tuning keeps bf16 weights (counted with the weights) + bf16 gradients (2) + fp32 master
weights, momentum and variance (12); LoRA adapters are fp32 weights (4) + fp32 gradients (4) + m and v (8)."""
ACTIVATION_BYTES_PER_LAYER = 34
"""Bytes per token per unit of hidden size that one block keeps for its backward pass in bf16
(Korthikanti et al. 2022, §4.1: 34·s·b·h, the 5·a·s²·b attention-score term dropped because flash/SDPA
attention does not store scores)."""
CHECKPOINT_BYTES_PER_LAYER = 2
"""With gradient checkpointing, each block keeps only its bf16 input (2·s·b·h bytes); one block's full
activations (34·s·b·h) are live again during its recomputation."""
LOGIT_BYTES = 8
"""Bytes per token per vocabulary entry for the trained model's output: fp32 logits and their fp32
log-softmax (TRL upcasts both to compute per-token log-probs); value heads have 1 output and skip this."""
OVERHEAD_BYTES = 1.0 * GIB
"""CUDA context, cuBLAS/NCCL workspaces and allocator slack, a flat 1 GiB."""


@dataclass(frozen=True)
class MemoryTerm:
    """One line of a memory breakdown."""

    name: str
    """What it is: ``policy weights``, ``optimizer states``, ``activations``..."""
    bytes: float
    """Resident bytes."""
    note: str
    """The assumption behind the figure."""

    @property
    def gb(self) -> float:
        return self.bytes / GIB


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak GPU memory of one training setup, term by term."""

    algorithm: str
    """Which algorithm (a recommendable entry)."""
    method: Method
    """How the policy is trained."""
    terms: tuple[MemoryTerm, ...]
    """The breakdown; zero terms are kept when they explain something (e.g. the LoRA reference)."""
    trainable_params: int
    """Parameters the optimizer updates in the policy (and the value model for PPO)."""

    @property
    def total_bytes(self) -> float:
        return sum(t.bytes for t in self.terms)

    @property
    def total_gb(self) -> float:
        return self.total_bytes / GIB

    def fits(self, gpu_memory_gb: float | None) -> bool | None:
        """Whether the total fits in ``gpu_memory_gb`` (GiB); None when the GPU memory is unknown."""
        return None if gpu_memory_gb is None else self.total_gb <= gpu_memory_gb

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_gb": round(self.total_gb, 2),
            "trainable_params": self.trainable_params,
            "terms": [{"name": t.name, "gb": round(t.gb, 3), "note": t.note} for t in self.terms],
        }


def weight_bytes(shape: ModelShape, method: Method) -> float:
    """Bytes of one copy of the weights: bf16, or with QLoRA 4-bit block linears and bf16 for the rest."""
    if method == "qlora":
        return (
            shape.block_linear_params * NF4_BYTES + (shape.n_params - shape.block_linear_params) * BF16_BYTES
        )
    return shape.n_params * BF16_BYTES


def activation_bytes(
    shape: ModelShape, sequences: int, seq_len: int, *, gradient_checkpointing: bool
) -> float:
    """Activations kept for the backward pass of ``sequences`` sequences of ``seq_len`` tokens (bf16)."""
    tokens_h = sequences * seq_len * shape.hidden_size
    if gradient_checkpointing:
        return tokens_h * (CHECKPOINT_BYTES_PER_LAYER * shape.num_layers + ACTIVATION_BYTES_PER_LAYER)
    return tokens_h * ACTIVATION_BYTES_PER_LAYER * shape.num_layers


def estimate_memory(shape: ModelShape, algorithm: str, setup: TrainSetup) -> MemoryEstimate:
    """Peak GPU memory of training ``shape`` with ``algorithm`` under ``setup`` (one GPU, no sharding).

    Assumptions beyond the per-term constants: the reward and value models have the policy's shape and
    its weight format; TRL 1.12's PPOTrainer applies ``peft_config`` to the policy only, so PPO's value
    model is trained in full whatever the method; forward-only passes (reference, reward) free their
    activations layer by layer, so only their weights count; generation keeps a bf16 KV cache for the
    micro-batch's samples.
    """
    prof = profile_of(algorithm)
    method = setup.method
    n = shape.n_params
    weights = weight_bytes(shape, method)
    terms: list[MemoryTerm] = []
    fmt = "4-bit NF4 block linears (0.55 B/param), the rest bf16" if method == "qlora" else "bf16, 2 B/param"
    terms.append(MemoryTerm("policy weights", weights, f"{n / 1e9:.3g}B params, {fmt}"))
    if method == "full":
        trainable = n
        terms.append(MemoryTerm("gradients", n * 2.0, "bf16 gradient per weight, 2 B/param"))
        terms.append(
            MemoryTerm("optimizer states", n * 12.0, "AdamW: fp32 master weights + m + v, 12 B/param")
        )
    else:
        trainable = shape.lora_params(setup.lora_r)
        terms.append(
            MemoryTerm(
                "adapter weights",
                trainable * 4.0,
                f"LoRA r={setup.lora_r} on all block linears, fp32, {trainable / 1e6:.3g}M params",
            )
        )
        terms.append(MemoryTerm("gradients", trainable * 4.0, "fp32 adapter gradients, 4 B/param"))
        terms.append(MemoryTerm("optimizer states", trainable * 8.0, "AdamW m + v in fp32, 8 B/param"))
    seqs = prof.trained_sequences * prof.samples_per_prompt * setup.batch_size
    ckpt = "with" if setup.gradient_checkpointing else "without"
    terms.append(
        MemoryTerm(
            "activations",
            activation_bytes(shape, seqs, setup.seq_len, gradient_checkpointing=setup.gradient_checkpointing),
            f"{seqs} sequences x {setup.seq_len} tokens, {ckpt} gradient checkpointing (Korthikanti et al. 2022)",
        )
    )
    terms.append(
        MemoryTerm(
            "logits",
            seqs * setup.seq_len * shape.vocab_size * float(LOGIT_BYTES),
            f"fp32 logits + log-softmax over a {shape.vocab_size}-token vocabulary",
        )
    )
    if prof.reference:
        if method == "full":
            terms.append(MemoryTerm("reference weights", weights, "a frozen bf16 copy of the policy"))
        else:
            terms.append(
                MemoryTerm(
                    "reference weights", 0.0, "the base weights with the adapter disabled: no second copy"
                )
            )
    if prof.reward_model and setup.reward_model_resident:
        terms.append(
            MemoryTerm(
                "reward model weights", weights, "a frozen reward model of the policy's size and format"
            )
        )
    if prof.value_model:
        trainable += n
        terms.append(MemoryTerm("value model weights", n * BF16_BYTES, "a critic of the policy's size, bf16"))
        terms.append(
            MemoryTerm(
                "value model gradients + optimizer",
                n * (TRAINABLE_BYTES - BF16_BYTES),
                "trained in full (TRL 1.12 puts the LoRA adapter on the policy only): 14 B/param",
            )
        )
        terms.append(
            MemoryTerm(
                "value model activations",
                activation_bytes(
                    shape, seqs, setup.seq_len, gradient_checkpointing=setup.gradient_checkpointing
                ),
                "as the policy's",
            )
        )
    if prof.generates:
        kv = seqs * setup.seq_len * shape.num_layers * 2 * shape.num_kv_heads * shape.head_dim * BF16_BYTES
        terms.append(
            MemoryTerm("KV cache", kv, f"bf16 keys and values of {seqs} sampled sequences during generation")
        )
    terms.append(MemoryTerm("overhead", OVERHEAD_BYTES, "CUDA context, workspaces, allocator slack"))
    return MemoryEstimate(algorithm, method, tuple(terms), trainable)


# --------------------------------------------------------------------------------------------
# Compute time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeAssumptions:
    """The hardware and efficiency figures behind a time estimate, stated in the output."""

    gpu: str = "NVIDIA H100 SXM"
    """The GPU the GPU-hours are counted on."""
    peak_tflops: float = 989.0
    """Its dense bf16 peak, in TFLOP/s (NVIDIA's datasheet, without sparsity)."""
    train_mfu: dict[str, float] = field(default_factory=lambda: {"full": 0.35, "lora": 0.35, "qlora": 0.25})
    """Model FLOPs utilisation of training and scoring passes per method (single-GPU HF/TRL loops reach
    roughly 30-40 %; QLoRA loses some to dequantization)."""
    generation_mfu: float = 0.05
    """Utilisation while sampling: decoding is memory-bound (HF ``generate`` at micro-batch 8-16)."""
    epochs_per_trial: float = 1.0
    """Passes over the training examples in one trial (preference tuning uses 1-3; pruning cuts many short)."""

    def describe(self) -> str:
        mfu = ", ".join(f"{k} {v:.0%}" for k, v in self.train_mfu.items())
        return (
            f"time on one {self.gpu} ({self.peak_tflops:g} TFLOP/s bf16 dense) at MFU {mfu}, "
            f"{self.generation_mfu:.0%} while generating; {self.epochs_per_trial:g} epoch per trial; "
            "~6N FLOPs per trained token, 2N per forward-only or generated token; evaluation time not counted"
        )


DEFAULT_COMPUTE = ComputeAssumptions()


@dataclass(frozen=True)
class TrialCost:
    """FLOPs and GPU time of one sweep trial (and of a once-per-study setup stage)."""

    algorithm: str
    """Which algorithm."""
    examples: int
    """Examples one epoch trains on (pairs, labelled completions, or prompts for online algorithms)."""
    tokens: int
    """Sequence tokens processed per trial (all passes' sequences, before the per-token FLOPs factor)."""
    train_flops: float
    """FLOPs of training and scoring passes per trial."""
    generation_flops: float
    """FLOPs of sampling responses per trial (online algorithms only)."""
    seconds: float
    """GPU seconds per trial under the assumptions."""
    setup_seconds: float
    """GPU seconds spent once per study before any trial (training a reward model from the data)."""
    derivation: str
    """How the per-token FLOPs add up."""

    def trials_affordable(self, gpu_hours: float | None) -> int | None:
        """Whole trials ``gpu_hours`` pays for after the setup stage; None when no budget is given."""
        if gpu_hours is None:
            return None
        left = gpu_hours * 3600.0 - self.setup_seconds
        return max(0, math.floor(left / self.seconds)) if self.seconds > 0 else 0

    def to_dict(self, gpu_hours: float | None = None) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "tokens_per_trial": self.tokens,
            "train_flops": float(f"{self.train_flops:.4g}"),
            "generation_flops": float(f"{self.generation_flops:.4g}"),
            "gpu_hours_per_trial": float(f"{self.seconds / 3600:.4g}"),
            "setup_gpu_hours": float(f"{self.setup_seconds / 3600:.4g}"),
            "trials_affordable": self.trials_affordable(gpu_hours),
            "flops_derivation": self.derivation,
        }


def estimate_trial_cost(
    shape: ModelShape,
    algorithm: str,
    setup: TrainSetup,
    *,
    examples: int,
    reward_model_examples: int = 0,
    reward_model_sequences: int = 2,
    assumptions: ComputeAssumptions = DEFAULT_COMPUTE,
) -> TrialCost:
    """GPU time of one trial: ``examples`` x ``epochs_per_trial`` x ``seq_len`` tokens at the algorithm's
    FLOPs per parameter-token, plus sampling for online algorithms.

    ``reward_model_examples`` > 0 adds a once-per-study stage that trains a reward model of the policy's
    size for one epoch on that many examples of ``reward_model_sequences`` sequences each (6N per token).
    """
    prof = profile_of(algorithm)
    n = shape.n_params
    epochs = assumptions.epochs_per_trial
    tokens = int(examples * epochs * setup.seq_len * prof.trained_sequences * prof.samples_per_prompt)
    train_flops = examples * epochs * setup.seq_len * prof.flops_per_token * n
    generated = 0.0
    if prof.generates:
        generated = examples * epochs * prof.samples_per_prompt * setup.seq_len * setup.response_fraction
    generation_flops = generated * 2 * n
    peak = assumptions.peak_tflops * 1e12
    mfu = assumptions.train_mfu[setup.method]
    seconds = train_flops / (peak * mfu) + generation_flops / (peak * assumptions.generation_mfu)
    setup_flops = reward_model_examples * reward_model_sequences * setup.seq_len * 6 * n
    return TrialCost(
        algorithm=algorithm,
        examples=examples,
        tokens=tokens,
        train_flops=train_flops,
        generation_flops=generation_flops,
        seconds=seconds,
        setup_seconds=setup_flops / (peak * mfu),
        derivation=f"{prof.flops_per_token}N per token: {prof.flops_derivation}",
    )
