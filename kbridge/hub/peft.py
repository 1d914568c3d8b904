"""LoRA adapters in PEFT's format: ``adapter_config.json`` + ``adapter_model.safetensors``.

A kbridge model converted from a Hugging Face checkpoint (``model_zoo``) knows which of its
layers is which HF module: its converter registers ``{HF module name: kbridge layer path}``
with :func:`register_module_map`. Then

- ``kbridge.hub.save(model, path, adapter_only=True)`` writes the LoRA factors of the
  model's LoRA layers as ``base_model.model.<hf module>.lora_A.weight`` (``(r, in)``) and
  ``.lora_B.weight`` (``(out, r)``), which ``peft.PeftModel.from_pretrained`` loads onto
  the matching ``transformers`` model;
- ``kbridge.hub.load_adapter(model, path)`` (or ``kbridge.hub.load(base, adapter=path)``)
  loads an adapter PEFT made: ``enable_lora`` on each target layer, then its factors.

PEFT scales by ``lora_alpha / r`` (``lora_alpha / sqrt(r)`` with ``use_rslora``), as
kbridge's ``lora_alpha / lora_rank``. Embedding adapters use ``lora_embedding_A/B``.

Example:
    >>> model = kbridge.hub.load("bert-checkpoint/", adapter="peft-adapter/")
    >>> model.enable_lora(8, target=["query", "value"]); model.fit(...)
    >>> kbridge.hub.save(model, "my-adapter/", adapter_only=True)
"""

import collections
import json
import math
import os
import re

import numpy as np

from kbridge.hub import safetensors_io
from kbridge.hub.errors import ReleaseError

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "load_adapter", "module_map",
           "register_module_map", "save_adapter"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."
_MODULE_MAPS = {}
_KEY = re.compile(r"^(?P<module>.+)\.(?P<kind>lora_A\.weight|lora_B\.weight|"
                  r"lora_embedding_A|lora_embedding_B)$")


def register_module_map(class_name, fn):
    """Let adapters name the layers of models of class ``class_name``: ``fn(config)``
    returns ``{HF module name: kbridge layer path}`` for the model's ``get_config()``."""
    _MODULE_MAPS[class_name] = fn


def _decoder_lm_map(config):
    """HF ``*ForCausalLM`` module names of a model_zoo ``DecoderLM`` (Llama family, unfused
    projections; Phi-3's fused ``qkv_proj`` / ``gate_up_proj`` have no single layer)."""
    out = {"model.embed_tokens": "embed_tokens"}
    if not config.get("tie_embeddings"):
        out["lm_head"] = "lm_head"
    for i in range(config["num_layers"]):
        for module, names in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
                              ("mlp", ("gate_proj", "up_proj", "down_proj"))):
            out.update({f"model.layers.{i}.{module}.{n}": f"layers_{i}/{module}/{n}"
                        for n in names})
    return out


_MODULE_MAPS["DecoderLM"] = _decoder_lm_map


def _layer_paths(model):
    from kbridge.layers.core import _LoRAQuantizeMixin

    out = {}
    for layer in model._flat_layers():
        if isinstance(layer, _LoRAQuantizeMixin) and layer.built:
            base = getattr(layer, layer._base)
            out[base.path[:len(base.path) - len(base.name)].rstrip("/")] = layer
    return out


def module_map(model):
    """``{HF module name: layer}`` of ``model`` (a model_zoo conversion of an HF model)."""
    from kbridge.hub import _ensure_zoo_loaders

    _ensure_zoo_loaders()
    fn = _MODULE_MAPS.get(type(model).__name__)
    if fn is None:
        raise ReleaseError(f"PEFT adapters need the HF module names of the model's layers; "
                           f"no converter registered them for {type(model).__name__} "
                           f"(known: {sorted(_MODULE_MAPS)})")
    layers = _layer_paths(model)
    return {hf: layers[path] for hf, path in fn(model.get_config()).items() if path in layers}


def _split(layer):
    shape = layer._base_shape
    k = layer._lora_split()
    return int(np.prod(shape[:k])), int(np.prod(shape[k:]))


def save_adapter(model, path, overwrite=True):
    """Write the LoRA factors of ``model`` as a PEFT adapter directory at ``path``."""
    from kbridge.layers.core import Embedding

    mapping = module_map(model)
    names = {id(layer): hf for hf, layer in mapping.items()}
    lora = [layer for layer in model._flat_layers()
            if getattr(layer, "lora_enabled", False)]
    if not lora:
        raise ReleaseError(f"Model '{model.name}' has no LoRA layers: call enable_lora() "
                           "before saving an adapter.")
    unnamed = [layer.name for layer in lora if id(layer) not in names]
    if unnamed:
        raise ReleaseError(f"LoRA layers without an HF module name: {unnamed[:5]}")
    if os.path.exists(os.path.join(path, ADAPTER_CONFIG)) and not overwrite:
        raise ReleaseError(f"{path} holds an adapter; pass overwrite=True to replace it.")
    tensors, ranks, alphas = {}, {}, {}
    for layer in lora:
        hf = names[id(layer)]
        a, b = (np.asarray(v.numpy(), "float32") for v in layer._lora_pair())
        rank = layer.lora_rank
        n_in, n_out = _split(layer)
        if isinstance(layer, Embedding):
            tensors[f"{_PREFIX}{hf}.lora_embedding_A"] = a.T.copy()
            tensors[f"{_PREFIX}{hf}.lora_embedding_B"] = b.T.copy()
        else:
            tensors[f"{_PREFIX}{hf}.lora_A.weight"] = a.reshape(n_in, rank).T.copy()
            tensors[f"{_PREFIX}{hf}.lora_B.weight"] = b.reshape(rank, n_out).T.copy()
        ranks[hf], alphas[hf] = rank, layer.lora_alpha
    r = collections.Counter(ranks.values()).most_common(1)[0][0]
    alpha = collections.Counter(alphas.values()).most_common(1)[0][0]
    chosen = set(ranks)
    short = sorted({hf.rsplit(".", 1)[-1] for hf in chosen})
    # Short names ("query") where they select exactly these modules, as PEFT users write.
    same = {hf for hf in mapping if hf.rsplit(".", 1)[-1] in short} == chosen
    config = {
        "peft_type": "LORA", "task_type": None, "base_model_name_or_path": None,
        "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "bias": "none",
        "target_modules": short if same else sorted(chosen),
        "rank_pattern": {k: v for k, v in ranks.items() if v != r},
        "alpha_pattern": {k: v for k, v in alphas.items() if v != alpha},
        "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
        "modules_to_save": None, "init_lora_weights": True, "inference_mode": True,
        "layers_to_transform": None, "layers_pattern": None,
    }
    os.makedirs(path, exist_ok=True)
    safetensors_io.write(os.path.join(path, ADAPTER_WEIGHTS), tensors, {"format": "pt"})
    with open(os.path.join(path, ADAPTER_CONFIG), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return path


def _pattern_value(pattern, module, default):
    """PEFT's rank/alpha pattern lookup: a key matching the end of the module name."""
    for key, value in (pattern or {}).items():
        if module == key or module.endswith("." + key) or re.fullmatch(rf"(.*\.)?{key}", module):
            return value
    return default


def load_adapter(model, path):
    """Load the PEFT LoRA adapter in directory ``path`` onto ``model``: LoRA is enabled on
    each layer the adapter targets, with its factors and scaling. Returns those layers."""
    from kbridge.hub.release import read_json

    config = read_json(os.path.join(path, ADAPTER_CONFIG))
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        raise ReleaseError(f"{ADAPTER_CONFIG}: expected peft_type 'LORA'. Received: "
                           f"{config.get('peft_type') if isinstance(config, dict) else config!r}")
    for key, ok in (("use_dora", False), ("bias", "none")):
        if config.get(key, ok) not in (ok, None):
            raise ReleaseError(f"{ADAPTER_CONFIG}: {key}={config[key]!r} is not supported "
                               f"(expected {ok!r})")
    if config.get("modules_to_save"):
        raise ReleaseError(f"{ADAPTER_CONFIG}: modules_to_save={config['modules_to_save']!r} "
                           "is not supported (only LoRA factors are loaded)")
    weights = os.path.join(path, ADAPTER_WEIGHTS)
    if not os.path.exists(weights):
        raise ReleaseError(f"{path}: no {ADAPTER_WEIGHTS} (adapter_model.bin is not read: "
                           "it is a pickle)")
    arrays = safetensors_io.read(weights)
    mapping = module_map(model)
    factors = collections.defaultdict(dict)
    for key, array in arrays.items():
        match = _KEY.match(key[len(_PREFIX):] if key.startswith(_PREFIX) else key)
        if match is None:
            raise ReleaseError(f"{ADAPTER_WEIGHTS}: unexpected tensor {key!r}")
        module, kind = match.group("module"), match.group("kind")
        parts = module.split(".")
        found = next((".".join(parts[i:]) for i in range(len(parts))
                      if ".".join(parts[i:]) in mapping), None)
        if found is None:
            raise ReleaseError(f"{ADAPTER_WEIGHTS}: module {module!r} has no layer in "
                               f"{type(model).__name__}")
        factors[found][kind.replace("embedding_", "")[:6]] = np.asarray(array, "float32")
    layers = []
    for module, pair in factors.items():
        if set(pair) != {"lora_A", "lora_B"}:
            raise ReleaseError(f"{ADAPTER_WEIGHTS}: {module} needs both lora_A and lora_B")
        layer, A, B = mapping[module], pair["lora_A"], pair["lora_B"]
        rank = A.shape[0]
        alpha = _pattern_value(config.get("alpha_pattern"), module, config.get("lora_alpha", 8))
        if config.get("use_rslora"):
            alpha = alpha * rank / math.sqrt(rank)  # scaling alpha / sqrt(r)
        n_in, n_out = _split(layer)
        shape = layer._base_shape
        k = layer._lora_split()
        if A.shape != (rank, n_in) or B.shape != (n_out, rank):
            raise ReleaseError(f"{ADAPTER_WEIGHTS}: {module}: lora_A {A.shape} / lora_B "
                               f"{B.shape} do not fit a ({n_in} -> {n_out}) layer of rank "
                               f"{rank}")
        a = A.T.reshape(shape[:k] + (rank,))
        b = B.T.reshape((rank,) + shape[k:])
        if layer.lora_enabled and layer.lora_rank != rank:
            raise ReleaseError(f"{module}: the layer has LoRA of rank {layer.lora_rank}; the "
                               f"adapter's is {rank}")
        if not layer.lora_enabled:
            layer.enable_lora(rank, lora_alpha=alpha)
        layer.lora_alpha = alpha
        va, vb = layer._lora_pair()
        va.assign(a)
        vb.assign(b)
        layers.append(layer)
    return layers
