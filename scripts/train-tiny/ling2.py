"""A compact PyTorch implementation of Ling 2.0 (BailingMoeV2ForCausalLM) for training.

Written for LingServe from the spec in docs/ling2-arch.md (sections 1-4); it reads and writes checkpoints in the
Hugging Face layout with exactly the tensor names of the published models. Routed experts are kept stacked
internally ([experts, out, in]) so that the MoE runs as a few batched matrix products; `load_hf_state_dict` /
`hf_state_dict` translate to and from the per-expert names of the file.

Semantics (matching the official remote code's eager path in f32):
  * RMSNorm normalises in f32, casts back to the activation dtype, then multiplies by the weight.
  * Fused QKV (rows q heads | k heads | v heads), per-head RMSNorm on q and k BEFORE partial NeoX RoPE on the
    first int(head_dim * partial_rotary_factor) channels, GQA (query head h uses kv head h // (nh/nkv)),
    scale 1/sqrt(head_dim).
  * Layers < first_k_dense_replace use a dense SwiGLU, the others a MoE: sigmoid router in f32, expert_bias for
    selection only, group score = sum of the top-2 biased scores of each contiguous group, keep topk_group groups,
    top-k by biased score inside them, unbiased weights normalised (+1e-20) times routed_scaling_factor, plus one
    shared SwiGLU expert of width moe_intermediate_size * num_shared_experts.
  * MTP layer at index num_hidden_layers: eh_proj(cat(enorm(embed(ids[t+1])), hnorm(h_t))) with h_t the
    final-normed hidden state, a full decoder block with a MoE mlp, final_layernorm, the shared lm_head.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LingConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    moe_intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    num_experts: int
    num_experts_per_tok: int
    num_shared_experts: int = 1
    first_k_dense_replace: int = 1
    n_group: int = 1
    topk_group: int = 1
    routed_scaling_factor: float = 2.5
    partial_rotary_factor: float = 0.5
    rope_theta: float = 600000.0
    rms_norm_eps: float = 1e-6
    num_nextn_predict_layers: int = 0
    mtp_loss_scaling_factor: float = 0.1
    extra: dict = field(default_factory=dict)

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.partial_rotary_factor)

    @classmethod
    def from_dict(cls, d: dict) -> "LingConfig":
        names = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kwargs = {k: d[k] for k in names if k in d and d[k] is not None}
        return cls(**kwargs, extra={k: v for k, v in d.items() if k not in names})

    @classmethod
    def from_file(cls, path: Path) -> "LingConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    dtype = x.dtype
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(dtype)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


def rope_tables(cfg: LingConfig, positions: torch.Tensor, dtype: torch.dtype):
    rd = cfg.rotary_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, rd, 2, dtype=torch.int64).float() / rd))  # [rd/2]
    freqs = positions.float()[:, None] * inv_freq[None, :]  # [T, rd/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [T, rd]
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rd: int) -> torch.Tensor:
    # x: [B, heads, T, d]; cos/sin: [T, rd]. NeoX rotate-half on the first rd channels.
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2 :]
    rot = torch.cat([-x2, x1], dim=-1)
    return torch.cat([xr * cos + rot * sin, xp], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LingConfig):
        super().__init__()
        self.cfg = cfg
        nh, nkv, d, h = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        self.query_key_value = nn.Linear(h, (nh + 2 * nkv) * d, bias=False)
        self.query_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.key_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.dense = nn.Linear(nh * d, h, bias=False)

    def forward(self, x, cos, sin):
        cfg = self.cfg
        nh, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        b, t, _ = x.shape
        qkv = self.query_key_value(x).view(b, t, nh + 2 * nkv, d)  # [B, T, heads, d]
        q, k, v = qkv.split([nh, nkv, nkv], dim=2)
        q = self.query_layernorm(q).transpose(1, 2)  # [B, nh, T, d]
        k = self.key_layernorm(k).transpose(1, 2)  # [B, nkv, T, d]
        v = v.transpose(1, 2)
        q = apply_rope(q, cos, sin, cfg.rotary_dim)
        k = apply_rope(k, cos, sin, cfg.rotary_dim)
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / math.sqrt(d))  # [B, nh, T, d]
        return self.dense(o.transpose(1, 2).reshape(b, t, nh * d))


class SwiGLU(nn.Module):
    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Router(nn.Module):
    def __init__(self, cfg: LingConfig):
        super().__init__()
        self.cfg = cfg
        self.weight = nn.Parameter(torch.empty(cfg.num_experts, cfg.hidden_size))
        self.register_buffer("expert_bias", torch.zeros(cfg.num_experts, dtype=torch.float32))

    def forward(self, x):  # x: [N, H] -> (idx [N, K], weights [N, K] f32)
        cfg = self.cfg
        n, e = x.shape[0], cfg.num_experts
        scores = torch.sigmoid(F.linear(x.float(), self.weight.float()))  # [N, E] f32, unbiased
        biased = scores.detach() + self.expert_bias  # selection only
        grouped = biased.view(n, cfg.n_group, e // cfg.n_group)
        group_scores = grouped.topk(2, dim=-1).values.sum(-1)  # [N, G]
        group_idx = group_scores.topk(cfg.topk_group, dim=-1, sorted=False).indices
        group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, group_idx, True)
        expert_mask = group_mask.unsqueeze(-1).expand(n, cfg.n_group, e // cfg.n_group).reshape(n, e)
        masked = biased.masked_fill(~expert_mask, float("-inf"))
        idx = masked.topk(cfg.num_experts_per_tok, dim=-1).indices  # [N, K]
        w = scores.gather(1, idx)
        w = w / (w.sum(-1, keepdim=True) + 1e-20) * cfg.routed_scaling_factor
        return idx, w


class Experts(nn.Module):
    """The routed experts, stacked: gate/up [E, I, H], down [E, H, I]."""

    def __init__(self, cfg: LingConfig):
        super().__init__()
        e, h, i = cfg.num_experts, cfg.hidden_size, cfg.moe_intermediate_size
        self.gate_proj = nn.Parameter(torch.empty(e, i, h))
        self.up_proj = nn.Parameter(torch.empty(e, i, h))
        self.down_proj = nn.Parameter(torch.empty(e, h, i))

    def forward(self, x, idx, w):  # x [N, H], idx/w [N, K] -> ([N, H], counts [E])
        n, k = idx.shape
        e = self.gate_proj.shape[0]
        flat = idx.reshape(-1)  # [N*K]
        order = torch.argsort(flat, stable=True)  # assignments grouped by expert
        counts = torch.bincount(flat, minlength=e)  # [E]
        token = order // k  # token of each sorted assignment
        xs = x[token]  # [N*K, H]
        outs = []
        for expert, (chunk, count) in enumerate(zip(xs.split(counts.tolist()), counts.tolist())):
            if count == 0:
                continue
            g = chunk @ self.gate_proj[expert].t()  # [count, I]
            u = chunk @ self.up_proj[expert].t()
            outs.append((F.silu(g) * u) @ self.down_proj[expert].t())  # [count, H]
        ys = torch.cat(outs).float() * w.reshape(-1)[order].unsqueeze(-1)  # [N*K, H] f32
        out = torch.zeros(n, x.shape[1], dtype=torch.float32, device=x.device)
        out.index_add_(0, token, ys)
        return out.to(x.dtype), counts


class MoE(nn.Module):
    def __init__(self, cfg: LingConfig):
        super().__init__()
        self.gate = Router(cfg)
        self.experts = Experts(cfg)
        self.shared_experts = SwiGLU(cfg.hidden_size, cfg.moe_intermediate_size * cfg.num_shared_experts)
        self.last_counts: torch.Tensor | None = None

    def forward(self, x):
        b, t, h = x.shape
        flat = x.reshape(b * t, h)
        idx, w = self.gate(flat)
        routed, counts = self.experts(flat, idx, w)
        self.last_counts = counts.detach()
        return (routed + self.shared_experts(flat)).view(b, t, h)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LingConfig, moe: bool):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.attention = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MoE(cfg) if moe else SwiGLU(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class MTPLayer(DecoderLayer):
    def __init__(self, cfg: LingConfig):
        super().__init__(cfg, moe=True)
        self.enorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.hnorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * cfg.hidden_size, cfg.hidden_size, bias=False)
        self.final_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, emb_next, h_final, cos, sin):
        z = self.eh_proj(torch.cat([self.enorm(emb_next), self.hnorm(h_final)], dim=-1))
        z = super().forward(z, cos, sin)
        return self.final_layernorm(z)


class LingModel(nn.Module):
    def __init__(self, cfg: LingConfig):
        super().__init__()
        self.cfg = cfg
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        layers: list[nn.Module] = [
            DecoderLayer(cfg, moe=i >= cfg.first_k_dense_replace) for i in range(cfg.num_hidden_layers)
        ]
        layers += [MTPLayer(cfg) for _ in range(cfg.num_nextn_predict_layers)]
        self.layers = nn.ModuleList(layers)
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LingForCausalLM(nn.Module):
    def __init__(self, cfg: LingConfig):
        super().__init__()
        self.cfg = cfg
        self.model = LingModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, mtp: bool = True):
        """ids [B, T] -> (logits [B, T, V] f32, mtp_logits [B, T, V] f32 or None).

        mtp_logits row t combines embed(ids[t+1]) with h_t and predicts ids[t+2]; the last row uses token 0 as the
        reference code does (roll then fill) and is not meaningful."""
        cfg = self.cfg
        m = self.model
        b, t = ids.shape
        x = m.word_embeddings(ids)
        cos, sin = rope_tables(cfg, torch.arange(t, device=ids.device), x.dtype)
        for layer in m.layers[: cfg.num_hidden_layers]:
            x = layer(x, cos, sin)
        h = m.norm(x)
        logits = self.lm_head(h).float()
        mtp_logits = None
        if mtp and cfg.num_nextn_predict_layers > 0:
            next_ids = torch.roll(ids, -1, dims=1)
            next_ids[:, -1] = 0
            z = m.layers[cfg.num_hidden_layers](m.word_embeddings(next_ids), h, cos, sin)
            mtp_logits = self.lm_head(z).float()
        return logits, mtp_logits

    def loss(self, ids: torch.Tensor, loss_mask: torch.Tensor | None = None):
        """Next-token loss plus mtp_loss_scaling_factor * MTP loss. loss_mask [B, T] marks target tokens."""
        logits, mtp_logits = self.forward(ids, mtp=True)
        v = self.cfg.vocab_size
        tgt = ids[:, 1:]
        mask = torch.ones_like(tgt, dtype=torch.float32) if loss_mask is None else loss_mask[:, 1:].float()
        ce = F.cross_entropy(logits[:, :-1].reshape(-1, v), tgt.reshape(-1), reduction="none")
        main = (ce * mask.reshape(-1)).sum() / mask.sum().clamp(min=1)
        total = main
        mtp_loss = torch.zeros(())
        if mtp_logits is not None:
            tgt2 = ids[:, 2:]
            mask2 = mask[:, 1:]
            ce2 = F.cross_entropy(mtp_logits[:, :-2].reshape(-1, v), tgt2.reshape(-1), reduction="none")
            mtp_loss = (ce2 * mask2.reshape(-1)).sum() / mask2.sum().clamp(min=1)
            total = main + self.cfg.mtp_loss_scaling_factor * mtp_loss
        return total, main.detach(), mtp_loss.detach()

    # ---- auxiliary-loss-free load balancing -----------------------------------------------------------------
    @torch.no_grad()
    def update_expert_bias(self, rate: float):
        """bias += rate * sign(mean load - expert load), per MoE layer, from the last forward's routing."""
        for module in self.modules():
            if isinstance(module, MoE) and module.last_counts is not None:
                load = module.last_counts.float()
                module.gate.expert_bias += rate * torch.sign(load.mean() - load)
                module.last_counts = None

    # ---- init -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, std: float = 0.02, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * std)
        # scale the residual-branch outputs down with depth (GPT-2 style)
        scale = 1.0 / math.sqrt(2 * (self.cfg.num_hidden_layers + self.cfg.num_nextn_predict_layers))
        for name, p in self.named_parameters():
            if name.endswith("attention.dense.weight") or name.endswith("down_proj.weight") or name.endswith(
                "experts.down_proj"
            ):
                p.mul_(scale)

    # ---- HF layout ------------------------------------------------------------------------------------------
    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, t in self.state_dict().items():
            if ".mlp.experts." in name:
                prefix, proj = name.rsplit(".", 1)  # model.layers.N.mlp.experts, gate_proj
                for e in range(t.shape[0]):
                    out[f"{prefix}.{e}.{proj}.weight"] = t[e]
            else:
                out[name] = t
        return out

    def load_hf_state_dict(self, tensors: dict[str, torch.Tensor]):
        own = self.state_dict()
        stacked: dict[str, list] = {}
        consumed = set()
        for name in own:
            if ".mlp.experts." in name:
                prefix, proj = name.rsplit(".", 1)
                parts = [tensors[f"{prefix}.{e}.{proj}.weight"] for e in range(self.cfg.num_experts)]
                for e in range(self.cfg.num_experts):
                    consumed.add(f"{prefix}.{e}.{proj}.weight")
                stacked[name] = torch.stack(parts)
            else:
                if name not in tensors:
                    raise KeyError(f"checkpoint lacks tensor {name}")
                consumed.add(name)
        extra = set(tensors) - consumed
        if extra:
            raise KeyError(f"checkpoint has unexpected tensors: {sorted(extra)[:5]}")
        new = {n: (stacked[n] if n in stacked else tensors[n]) for n in own}
        for n, t in new.items():
            if tuple(t.shape) != tuple(own[n].shape):
                raise ValueError(f"tensor {n}: shape {tuple(t.shape)} != expected {tuple(own[n].shape)}")
            own[n].copy_(t.to(own[n].dtype))


def load_checkpoint(directory: Path, dtype: torch.dtype = torch.float32) -> LingForCausalLM:
    from safetensors.torch import load_file

    directory = Path(directory)
    cfg = LingConfig.from_file(directory / "config.json")
    model = LingForCausalLM(cfg)
    tensors = load_file(str(directory / "model.safetensors"))
    model.load_hf_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return model.to(dtype) if dtype != torch.float32 else model


def save_checkpoint(model: LingForCausalLM, directory: Path, config_dict: dict):
    """Writes config.json and model.safetensors (bf16, expert_bias f32)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, t in model.hf_state_dict().items():
        dt = torch.float32 if name.endswith("expert_bias") else torch.bfloat16
        tensors[name] = t.detach().to(dt).contiguous().clone()
    tmp = directory / "model.safetensors.tmp"
    save_file(dict(sorted(tensors.items())), str(tmp), metadata={"format": "pt"})
    tmp.chmod(0o644)
    tmp.replace(directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(config_dict, indent=2) + "\n")
