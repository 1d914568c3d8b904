"""Hugging Face Llama-family checkpoints <-> :class:`~model_zoo.text.llm.DecoderLM`.

``load_hf_llm(directory, backend)`` reads the ``config.json`` and safetensors weights (one file
or shards named by ``model.safetensors.index.json``) of a ``LlamaForCausalLM``,
``MistralForCausalLM``, ``Qwen2ForCausalLM``, ``Qwen3ForCausalLM``, ``GemmaForCausalLM``,
``Gemma2ForCausalLM`` or ``Phi3ForCausalLM`` (``model_type`` in :data:`MODEL_TYPES`) and returns
the :class:`DecoderLM` on ``backend``. Importing this module registers it with
``kbridge.hub.register_checkpoint_loader``, so ``kbridge.hub.load(dir, backend=B)`` does the
same. ``export_llm_to_hf(model, directory)`` writes a model back in the layout of its
``model_type``; transformers loads it and gives the same logits.

Layouts: torch ``Linear`` weights are ``[out, in]``, kbridge Dense kernels ``[in, out]`` (so every
projection is transposed); Phi-3 fuses q/k/v (``qkv_proj``) and gate/up (``gate_up_proj``), which
are split on the way in and concatenated on the way out. Reading and writing go through
:mod:`model_zoo.hf_checkpoint` (numpy only: no torch, no transformers).
"""

import json
import os

import numpy as np

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import export_config, write_hf

__all__ = ["MODEL_TYPES", "config_from_hf", "config_to_hf", "detect", "export_llm_to_hf",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "load_hf_llm", "register"]

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3")
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                  "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                  "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
                  "phi3": "Phi3ForCausalLM"}
_GEMMAS = ("gemma", "gemma2")
_TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")
# Per-layer norms (HF name == kbridge layer name) and projections: (HF module, kbridge path).
_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
          "post_feedforward_layernorm")
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")


def detect(path, config):
    """True for a Hugging Face checkpoint whose ``model_type`` is in :data:`MODEL_TYPES`."""
    return isinstance(config, dict) and config.get("model_type") in MODEL_TYPES


def _bad(key, value, expected):
    return ReleaseError(f"config.json: {key} must be {expected}. Received: {key}={value!r}")


def _rope(hf):
    """``(theta, scaling or None, partial_rotary_factor)`` from the transformers 5
    ``rope_parameters`` or the older ``rope_theta`` + ``rope_scaling``."""
    from model_zoo.text.llm import ROPE_TYPES

    params = dict(hf.get("rope_parameters") or {})
    if "full_attention" in params:  # per-layer-type rope parameters: one set is supported
        kinds = {json.dumps(v, sort_keys=True) for v in params.values()}
        if len(kinds) != 1:
            raise _bad("rope_parameters", params, "the same for every layer type")
        params = dict(params["full_attention"])
    scaling = dict(hf.get("rope_scaling") or {})
    params = {**scaling, **params}
    theta = params.pop("rope_theta", hf.get("rope_theta", 10000.0))
    partial = params.pop("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    kind = params.pop("rope_type", params.pop("type", "default"))
    if kind not in ROPE_TYPES:
        raise _bad("rope_type", kind, f"one of {list(ROPE_TYPES)}")
    if kind == "default":
        return float(theta), None, float(partial)
    needed = ("factor",) + (("low_freq_factor", "high_freq_factor",
                             "original_max_position_embeddings") if kind == "llama3" else ())
    missing = [k for k in needed if params.get(k) is None]
    if missing:
        raise ReleaseError(f"config.json: rope_type {kind!r} needs {missing}")
    return float(theta), {"rope_type": kind, **{k: params[k] for k in needed}}, float(partial)


def config_from_hf(hf):
    """``DecoderLM`` keyword arguments from an HF ``config.json`` dict (ReleaseError naming the
    field for values this architecture does not implement).

    Example:
        >>> config_from_hf({"model_type": "llama", "vocab_size": 100, "hidden_size": 32, ...})
    """
    from model_zoo.text.gpt2 import ACTIVATIONS

    kind = hf.get("model_type")
    if kind not in MODEL_TYPES:
        raise _bad("model_type", kind, f"one of {list(MODEL_TYPES)}")
    try:
        layers, heads = int(hf["num_hidden_layers"]), int(hf["num_attention_heads"])
        hidden, inner = int(hf["hidden_size"]), int(hf["intermediate_size"])
        vocab = int(hf["vocab_size"])
    except KeyError as e:
        raise ReleaseError(f"config.json: {e.args[0]!r} is missing") from None
    act = hf.get("hidden_activation") if kind == "gemma2" else None
    act = act or hf.get("hidden_act") or ("gelu_pytorch_tanh" if kind in _GEMMAS else "silu")
    if act not in ACTIVATIONS:
        raise _bad("hidden_act", act, f"one of {sorted(ACTIVATIONS)}")
    theta, scaling, partial = _rope(hf)
    if partial != 1.0 and kind != "phi3":
        raise _bad("partial_rotary_factor", partial, f"1.0 for {kind}")
    attention_bias = bool(hf.get("attention_bias", False))
    config = {
        "vocabulary_size": vocab, "num_layers": layers, "num_heads": heads,
        "hidden_dim": hidden, "intermediate_dim": inner,
        "num_key_value_heads": int(hf.get("num_key_value_heads") or heads),
        "head_dim": int(hf.get("head_dim") or hidden // heads), "activation": act,
        "rms_norm_epsilon": float(hf.get("rms_norm_eps", 1e-6)),
        "norm_offset": kind in _GEMMAS, "scale_embeddings": kind in _GEMMAS,
        "tie_embeddings": bool(hf.get("tie_word_embeddings", kind in _GEMMAS)),
        "rope_theta": theta, "rope_scaling": scaling, "partial_rotary_factor": partial,
        "max_position_embeddings": int(hf.get("max_position_embeddings", 2048)),
        "qkv_bias": kind == "qwen2" or attention_bias,
        "output_bias": attention_bias and kind != "qwen2",
        "mlp_bias": bool(hf.get("mlp_bias", False)), "qk_norm": kind == "qwen3",
        "initializer_range": float(hf.get("initializer_range", 0.02)),
    }
    window = hf.get("sliding_window")
    types = hf.get("layer_types")
    if kind in ("qwen2", "qwen3"):
        window = window if hf.get("use_sliding_window", False) else None
        if window is None:
            types = None
        elif types is None:
            start = int(hf.get("max_window_layers", layers))
            types = ["sliding_attention" if i >= start else "full_attention"
                     for i in range(layers)]
    elif kind == "gemma2":
        window = hf.get("sliding_window", 4096)
        types = types or ["sliding_attention" if (i + 1) % 2 else "full_attention"
                          for i in range(layers)]
        config.update(sandwich_norm=True,
                      query_pre_attn_scalar=hf.get("query_pre_attn_scalar", 256),
                      attn_logit_softcapping=hf.get("attn_logit_softcapping", 50.0),
                      final_logit_softcapping=hf.get("final_logit_softcapping", 30.0))
    elif kind in ("mistral", "phi3"):
        types = None  # every layer slides when sliding_window is set
    else:
        window, types = None, None
    if types is not None and (len(types) != layers or not set(types) <= {
            "full_attention", "sliding_attention"}):
        raise _bad("layer_types", types,
                   f"{layers} entries of 'full_attention' / 'sliding_attention'")
    if window is not None and (not isinstance(window, int) or window < 1):
        raise _bad("sliding_window", window, "a positive int or null")
    config.update(sliding_window=window, layer_types=types)
    return config


def _infer_model_type(config):
    if config.get("sandwich_norm"):
        return "gemma2"
    if config.get("norm_offset"):
        return "gemma"
    if config.get("qk_norm"):
        return "qwen3"
    if config.get("qkv_bias") and not config.get("output_bias"):
        return "qwen2"
    if config.get("partial_rotary_factor", 1.0) != 1.0:
        return "phi3"
    return "mistral" if config.get("sliding_window") else "llama"


def _check_representable(config, kind):
    """ReleaseError if an HF ``kind`` model cannot hold ``config`` exactly."""
    problems = []
    gemma, gemma2 = kind in _GEMMAS, kind == "gemma2"
    expect = {"norm_offset": gemma, "scale_embeddings": gemma, "sandwich_norm": gemma2,
              "qk_norm": kind == "qwen3"}
    problems += [f"{k}={config.get(k)}" for k, v in expect.items() if bool(config.get(k)) != v]
    if not gemma2 and (config.get("attn_logit_softcapping") or config.get(
            "final_logit_softcapping") or config.get("query_pre_attn_scalar")):
        problems.append("soft-capping / query_pre_attn_scalar")
    if config.get("partial_rotary_factor", 1.0) != 1.0 and kind != "phi3":
        problems.append(f"partial_rotary_factor={config['partial_rotary_factor']}")
    biases = (config.get("qkv_bias"), config.get("output_bias"))
    allowed_biases = {"qwen2": [(True, False)], "mistral": [(False, False)],
                      "phi3": [(False, False)]}.get(kind, [(False, False), (True, True)])
    if biases not in [tuple(b) for b in allowed_biases]:
        problems.append(f"qkv_bias={biases[0]}, output_bias={biases[1]}")
    if config.get("mlp_bias") and kind != "llama":
        problems.append("mlp_bias=True")
    types = set(config.get("layer_types") or [])
    if "sliding_attention" in types:
        if kind in ("llama", "gemma"):
            problems.append("sliding_window")
        elif kind in ("mistral", "phi3") and types != {"sliding_attention"}:
            problems.append("a mix of sliding and full attention layers")
    if problems:
        raise ReleaseError(f"export_llm_to_hf: a {kind!r} checkpoint cannot represent "
                           f"{', '.join(problems)}")


def config_to_hf(config, model_type=None):
    """An HF ``config.json`` dict for a ``DecoderLM`` config (``model_type`` inferred from the
    features when not given).

    Example:
        >>> config_to_hf(model.get_config())["model_type"]
        'llama'
    """
    kind = model_type or _infer_model_type(config)
    if kind not in MODEL_TYPES:
        raise ReleaseError(f"export_llm_to_hf: model_type must be one of {list(MODEL_TYPES)}. "
                           f"Received: {kind!r}")
    _check_representable(config, kind)
    scaling = config.get("rope_scaling")
    hf = {"architectures": [_ARCHITECTURES[kind]], "model_type": kind,
          "vocab_size": config["vocabulary_size"], "hidden_size": config["hidden_dim"],
          "intermediate_size": config["intermediate_dim"],
          "num_hidden_layers": config["num_layers"],
          "num_attention_heads": config["num_heads"],
          "num_key_value_heads": config["num_key_value_heads"],
          "head_dim": config["head_dim"], "hidden_act": config["activation"],
          "rms_norm_eps": config["rms_norm_epsilon"],
          "tie_word_embeddings": config["tie_embeddings"],
          "max_position_embeddings": config["max_position_embeddings"],
          "initializer_range": config["initializer_range"],
          "rope_theta": config["rope_theta"], "rope_scaling": dict(scaling) if scaling else None,
          "attention_dropout": 0.0}
    if kind not in ("qwen2", "mistral", "phi3"):
        hf["attention_bias"] = bool(config["qkv_bias"])
    if kind == "llama":
        hf["mlp_bias"] = bool(config["mlp_bias"])
    window, types = config.get("sliding_window"), config.get("layer_types")
    if kind in ("qwen2", "qwen3"):
        sliding = "sliding_attention" in (types or [])
        hf.update(use_sliding_window=sliding, sliding_window=window if sliding else None,
                  layer_types=types, max_window_layers=config["num_layers"])
    elif kind in ("mistral", "phi3"):
        hf["sliding_window"] = window if "sliding_attention" in (types or []) else None
    if kind == "phi3":
        hf.update(partial_rotary_factor=config["partial_rotary_factor"],
                  original_max_position_embeddings=config["max_position_embeddings"],
                  resid_pdrop=0.0, embd_pdrop=0.0)
    if kind == "gemma2":
        hf.update(hidden_activation=config["activation"], sliding_window=window,
                  layer_types=types, query_pre_attn_scalar=config["query_pre_attn_scalar"],
                  attn_logit_softcapping=config["attn_logit_softcapping"],
                  final_logit_softcapping=config["final_logit_softcapping"])
    return hf


def hf_to_kbridge_weights(arrays, config, model_type="llama"):
    """``{kbridge variable path: array}`` from HF weights (``{name: array}``; the ``model.``
    prefix of ``*ForCausalLM`` optional). Projections are transposed; Phi-3's fused ones split.
    """
    arrays = {k[len("model."):] if k.startswith("model.") else k: v for k, v in arrays.items()}
    arrays = {k: v for k, v in arrays.items() if not k.endswith(".rotary_emb.inv_freq")}
    what = model_type

    def pop(key):
        return hf_checkpoint.pop(arrays, key, what)

    out = {"embed_tokens/embeddings": pop("embed_tokens.weight"), "norm/scale": pop("norm.weight")}
    q_out = config["num_heads"] * config["head_dim"]
    kv_out = config["num_key_value_heads"] * config["head_dim"]
    for i in range(config["num_layers"]):
        hf, ours = f"layers.{i}", f"layers_{i}"
        for norm in _NORMS[:4 if config.get("sandwich_norm") else 2]:
            out[f"{ours}/{norm}/scale"] = pop(f"{hf}.{norm}.weight")
        if f"{hf}.self_attn.qkv_proj.weight" in arrays:  # Phi-3 (row slices: read in parts)
            qkv = pop(f"{hf}.self_attn.qkv_proj.weight")
            arrays.update({f"{hf}.self_attn.q_proj.weight": qkv[:q_out],
                           f"{hf}.self_attn.k_proj.weight": qkv[q_out:q_out + kv_out],
                           f"{hf}.self_attn.v_proj.weight": qkv[q_out + kv_out:]})
        if f"{hf}.mlp.gate_up_proj.weight" in arrays:
            gate_up = pop(f"{hf}.mlp.gate_up_proj.weight")
            half = gate_up.shape[0] // 2
            arrays.update({f"{hf}.mlp.gate_proj.weight": gate_up[:half],
                           f"{hf}.mlp.up_proj.weight": gate_up[half:]})
        for module, names, biased in (
                ("self_attn", _ATTENTION[:3], config["qkv_bias"]),
                ("self_attn", _ATTENTION[3:], config["output_bias"]),
                ("mlp", _MLP, config["mlp_bias"])):
            for name in names:
                out[f"{ours}/{module}/{name}/kernel"] = pop(f"{hf}.{module}.{name}.weight").T
                if biased:
                    out[f"{ours}/{module}/{name}/bias"] = pop(f"{hf}.{module}.{name}.bias")
        if config.get("qk_norm"):
            for name in ("q_norm", "k_norm"):
                out[f"{ours}/self_attn/{name}/scale"] = pop(f"{hf}.self_attn.{name}.weight")
    head = arrays.pop("lm_head.weight", None)
    if arrays:
        raise ReleaseError(f"{what} checkpoint: weights this configuration does not have: "
                           f"{sorted(arrays)[:5]}")
    if config["tie_embeddings"]:
        if head is not None and not np.array_equal(np.asarray(head),
                                                   np.asarray(out["embed_tokens/embeddings"])):
            raise ReleaseError(f"{what} checkpoint: lm_head.weight differs from "
                               "embed_tokens.weight but config.json says tie_word_embeddings")
    elif head is None:
        raise ReleaseError(f"{what} checkpoint: weight 'lm_head.weight' is missing "
                           "(tie_word_embeddings is false)")
    else:
        out["lm_head/kernel"] = head.T
    return out


def kbridge_to_hf_weights(arrays, config, model_type="llama"):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF *ForCausalLM name: array}``."""
    out = {"model.embed_tokens.weight": arrays["embed_tokens/embeddings"],
           "model.norm.weight": arrays["norm/scale"]}
    for i in range(config["num_layers"]):
        hf, ours = f"model.layers.{i}", f"layers_{i}"
        for norm in _NORMS[:4 if config.get("sandwich_norm") else 2]:
            out[f"{hf}.{norm}.weight"] = arrays[f"{ours}/{norm}/scale"]
        for module, names in (("self_attn", _ATTENTION), ("mlp", _MLP)):
            for name in names:
                out[f"{hf}.{module}.{name}.weight"] = arrays[f"{ours}/{module}/{name}/kernel"].T
                if f"{ours}/{module}/{name}/bias" in arrays:
                    out[f"{hf}.{module}.{name}.bias"] = arrays[f"{ours}/{module}/{name}/bias"]
        if config.get("qk_norm"):
            for name in ("q_norm", "k_norm"):
                out[f"{hf}.self_attn.{name}.weight"] = arrays[f"{ours}/self_attn/{name}/scale"]
        if model_type == "phi3":
            out[f"{hf}.self_attn.qkv_proj.weight"] = np.concatenate(
                [out.pop(f"{hf}.self_attn.{n}.weight") for n in _ATTENTION[:3]], axis=0)
            out[f"{hf}.mlp.gate_up_proj.weight"] = np.concatenate(
                [out.pop(f"{hf}.mlp.{n}.weight") for n in _MLP[:2]], axis=0)
    if not config["tie_embeddings"]:
        out["lm_head.weight"] = arrays["lm_head/kernel"].T
    return out


def _weight_files(directory):
    """``{HF name: file}`` from the shard index (empty for a single ``model.safetensors``)."""
    path = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict(json.load(f).get("weight_map", {}))


def load_hf_llm(directory, backend=None, dtype=None, name=None, quantize=None):
    """A :class:`~model_zoo.text.llm.DecoderLM` on ``backend`` with an HF checkpoint's weights.

    Args:
        directory: holds ``config.json`` and ``model.safetensors`` (or shards + index).
        backend: "numpy", "jax", "torch" or "tensorflow" (default: the active backend).
        dtype: variable dtype (default float32; half-precision checkpoints are upcast).
        name: the model's name (default: the ``model_type``).

    Example:
        >>> model = load_hf_llm("Qwen2.5-0.5B/", backend="jax")
        >>> model.generate(np.array([[9707, 11]]), max_new_tokens=8)
    """
    from kbridge.hub import release
    from model_zoo.text.llm import DecoderLM

    directory = os.fspath(directory)
    hf_config = hf_checkpoint.read_config(directory)
    config = config_from_hf(hf_config)
    kind = hf_config["model_type"]
    arrays = hf_to_kbridge_weights(hf_checkpoint.read_weights(directory), config, kind)
    model = hf_checkpoint.build(DecoderLM, backend, **config, dtype=dtype, name=name or kind)
    # Shapes checked here, to name the HF weight and the file that holds it.
    files = _weight_files(directory)
    for path, variable in release.weight_map(model).items():
        array = arrays.get(path)
        if array is not None and tuple(array.shape) != tuple(variable.shape):
            hf_name = _hf_name(path, kind)
            file = files.get(hf_name, "model.safetensors")
            raise ReleaseError(
                f"{os.path.join(directory, file)}: weight {hf_name!r} does not fit config.json "
                f"(kbridge {path!r} is {tuple(variable.shape)}, the checkpoint holds "
                f"{tuple(array.T.shape if path.endswith('kernel') else array.shape)}"
                ", as stored)")
    # Not architecture, but what an export should write back (export_llm_to_hf).
    model.hf_model_type = kind
    model.hf_token_ids = {k: hf_config.get(k) for k in _TOKEN_IDS}
    return hf_checkpoint.assign(model, arrays, directory, quantize=quantize)


def _hf_name(path, kind):
    """The HF weight name of a kbridge variable path (the fused one for Phi-3)."""
    if path == "lm_head/kernel":
        return "lm_head.weight"
    parts = path.split("/")
    leaf = {"kernel": "weight", "scale": "weight", "embeddings": "weight"}.get(parts[-1],
                                                                               parts[-1])
    parts = [p.replace("layers_", "layers.") for p in parts[:-1]]
    if kind == "phi3" and parts[-1] in ("q_proj", "k_proj", "v_proj"):
        parts[-1] = "qkv_proj"
    if kind == "phi3" and parts[-1] in ("gate_proj", "up_proj"):
        parts[-1] = "gate_up_proj"
    return "model." + ".".join(parts + [leaf])


def export_llm_to_hf(model, directory, model_type=None):
    """Write ``model`` (a :class:`DecoderLM`) as an HF checkpoint in ``directory``.

    ``model_type`` defaults to the one the model was loaded from, else the simplest that
    holds its features. Writes ``config.json`` and ``model.safetensors``; transformers'
    ``AutoModelForCausalLM.from_pretrained(directory)`` gives the same logits. Returns
    ``directory``.

    Example:
        >>> export_llm_to_hf(model, "exported/")
        >>> transformers.AutoModelForCausalLM.from_pretrained("exported/")
    """
    from model_zoo.text.llm import DecoderLM

    config = export_config(model, DecoderLM, "export_llm_to_hf")
    hf_config = config_to_hf(config, model_type or getattr(model, "hf_model_type", None))
    hf_arrays = kbridge_to_hf_weights(hf_checkpoint.model_arrays(model), config,
                                      hf_config["model_type"])
    # The special token ids of the checkpoint the model came from (else none: transformers'
    # defaults, e.g. Phi-3's pad id 32000, may not fit the vocabulary).
    hf_config.update({k: getattr(model, "hf_token_ids", {}).get(k) for k in _TOKEN_IDS})
    return write_hf(directory, hf_config, hf_arrays, "model.embed_tokens.weight")


def register():
    """Register the converter with ``kbridge.hub`` (done when this module is imported)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-llm", detect, load_hf_llm)


register()
