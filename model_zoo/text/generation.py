"""Text generation for :class:`~model_zoo.text.llm.DecoderLM` with a fixed-capacity KV cache.

The cache holds, per layer, keys and values ``[batch, capacity, kv_heads, head_dim]``
allocated once; each step writes its keys/values at a slot index passed as a *tensor*
(``ops.slice_update``) and attends over every slot under a mask. Shapes therefore never
change while decoding: on JAX the step is a ``jax.jit`` function traced once per
``(batch, capacity)`` (plus once for the prompt's length), on TensorFlow a ``tf.function``
traced as rarely; torch and numpy run it eagerly.

Token selection runs on the host with numpy (greedy, or sampling with temperature, top-k and
top-p), so a seed gives the same tokens on every backend. Batched prompts are LEFT-padded:
``attention_mask`` marks the padding, and positions count real tokens only (as Hugging Face's
``generate`` does).

Example:
    >>> from model_zoo.text.generation import generate
    >>> generate(model, np.array([[0, 5, 9], [4, 2, 7]]), max_new_tokens=8,
    ...          attention_mask=np.array([[0, 1, 1], [1, 1, 1]]), eos_token_id=2)
"""

import numpy as np

from kbridge.errors import KbridgeError

__all__ = ["generate", "select_tokens", "step_function"]


class _Step:
    """``(cache, ids, mask, positions, index) -> (last logits, cache)`` for one model and
    backend; ``traces[n]`` counts how often the body ran (for compiled backends: was traced)
    with ``n`` new tokens."""

    def __init__(self, model):
        self.model, self.traces = model, {}
        self.backend = model.backend_name
        self._run = getattr(self, f"_build_{self.backend}", self._build_eager)()

    def _body(self, cache, ids, mask, positions, index):
        n = int(ids.shape[1])
        self.traces[n] = self.traces.get(n, 0) + 1
        logits, cache = self.model(ids, attention_mask=mask, position_ids=positions,
                                   cache=cache, cache_index=index)
        return logits[:, -1, :], cache

    def _build_eager(self):
        return self._body

    def _build_jax(self):
        import jax

        model = self.model

        def pure(trainable, non_trainable, cache, ids, mask, positions, index):
            from kbridge.backend.common.stateless import StatelessScope

            pairs = list(zip(model.trainable_variables, trainable)) + list(
                zip(model.non_trainable_variables, non_trainable))
            with StatelessScope(pairs):
                return self._body(cache, ids, mask, positions, index)

        jitted = jax.jit(pure)

        def run(cache, ids, mask, positions, index):
            return jitted([v.value for v in model.trainable_variables],
                          [v.value for v in model.non_trainable_variables], cache,
                          *(jax.numpy.asarray(a) for a in (ids, mask, positions, index)))

        return run

    def _build_tensorflow(self):
        import tensorflow as tf

        traced = tf.function(self._body, reduce_retracing=False)

        def run(cache, ids, mask, positions, index):
            return traced(cache, *(tf.constant(a) for a in (ids, mask, positions, index)))

        return run

    def __call__(self, cache, ids, mask, positions, index):
        return self._run(cache, np.asarray(ids, "int32"), np.asarray(mask, "int32"),
                         np.asarray(positions, "int32"), np.asarray(index, "int32"))


def step_function(model):
    """The model's (cached) compiled decoding step; ``.traces`` counts its traces by the
    number of new tokens (``{prompt_length: 1, 1: 1}`` after one generation on JAX).

    Example:
        >>> generate(model, prompt, 8)
        >>> step_function(model).traces
        {5: 1, 1: 1}
    """
    step = getattr(model, "_generation_step", None)
    if step is None or step.backend != model.backend_name:
        step = _Step(model)
        model._generation_step = step
    return step


def select_tokens(logits, do_sample=False, temperature=1.0, top_k=None, top_p=None, rng=None):
    """One token per row of ``logits [batch, vocabulary]``: argmax, or a sample after
    temperature, top-k and top-p (nucleus) filtering, in Hugging Face's order.

    Example:
        >>> select_tokens(np.array([[0.1, 2.0, 0.3]]))
        array([1])
    """
    logits = np.asarray(logits, dtype=np.float64)
    if not do_sample:
        return np.argmax(logits, axis=-1)
    logits = logits / float(temperature)
    if top_k is not None and int(top_k) < logits.shape[-1]:
        kth = -np.sort(-logits, axis=-1)[:, int(top_k) - 1:int(top_k)]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and float(top_p) < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        ranked = np.take_along_axis(probs, order, axis=-1)
        # Keep the smallest prefix whose mass reaches top_p (at least one token).
        keep_ranked = (np.cumsum(ranked, axis=-1) - ranked) < float(top_p)
        keep_ranked[:, 0] = True
        keep = np.zeros_like(keep_ranked)
        np.put_along_axis(keep, order, keep_ranked, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    rng = rng if rng is not None else np.random.default_rng()
    return np.array([rng.choice(len(row), p=row) for row in probs])


def generate(model, input_ids, max_new_tokens, attention_mask=None, do_sample=False,
             temperature=1.0, top_k=None, top_p=None, eos_token_id=None, pad_token_id=None,
             seed=None, capacity=None):
    """Append up to ``max_new_tokens`` tokens to each (left-padded) prompt.

    Args:
        model: a :class:`~model_zoo.text.llm.DecoderLM` (any backend).
        input_ids: int ``[batch, seq]`` (or one prompt ``[seq]``), padding on the LEFT.
        max_new_tokens: the most tokens to add.
        attention_mask: ``[batch, seq]``, 0 on padding (default: all ones).
        do_sample: sample (``True``) or take the argmax (greedy).
        temperature, top_k, top_p: sampling filters (ignored when greedy).
        eos_token_id: an id or a list of ids that end a row; finished rows are filled with
            ``pad_token_id`` (default: the first eos id) and decoding stops when all rows
            have finished.
        pad_token_id: see ``eos_token_id``.
        seed: seed of the host sampler.
        capacity: slots of the KV cache (default: the padded prompt plus
            ``max_new_tokens``, rounded up to a power of two).

    Prompts are padded further on the left to a power-of-two length (at least 8; the extra
    columns are masked, so the tokens do not change). JAX and ``tf.function`` then trace the
    prompt step once per such length and the one-token step once per (batch, capacity),
    whatever the prompts' lengths.

    Returns:
        numpy int32 ``[batch, seq + new]`` (``new <= max_new_tokens``), ``[seq + new]`` for 1-D
        input.

    Example:
        >>> generate(model, np.array([[1, 5, 9]]), 4, do_sample=True, top_p=0.9, seed=0)
    """
    from kbridge import ops

    tokens = np.asarray(input_ids if isinstance(input_ids, (np.ndarray, list, tuple))
                        else ops.convert_to_numpy(input_ids)).astype("int32")
    squeeze = tokens.ndim == 1
    tokens = tokens[None] if squeeze else tokens
    if tokens.ndim != 2 or tokens.shape[1] == 0:
        raise KbridgeError("`input_ids` must be [batch, seq] with seq >= 1. Received: "
                           f"shape={tokens.shape}")
    batch, length = tokens.shape
    mask = (np.ones_like(tokens) if attention_mask is None
            else np.asarray(ops.convert_to_numpy(attention_mask)).astype("int32"))
    mask = mask[None] if mask.ndim == 1 else mask
    if mask.shape != tokens.shape:
        raise KbridgeError(f"`attention_mask` must have the shape of `input_ids` {tokens.shape}. "
                           f"Received: {mask.shape}")
    if not mask[:, -1].all():
        raise KbridgeError("generate expects LEFT padding: the last column of "
                           "`attention_mask` must be all ones")
    if do_sample and (temperature <= 0 or (top_k is not None and int(top_k) < 1)
                      or (top_p is not None and not 0 < float(top_p) <= 1)):
        raise KbridgeError("sampling needs temperature > 0, top_k >= 1 and 0 < top_p <= 1. "
                           f"Received: temperature={temperature}, top_k={top_k}, top_p={top_p}")
    max_new_tokens = int(max_new_tokens)
    if capacity is not None and int(capacity) < length + max_new_tokens - 1:
        raise KbridgeError(f"`capacity` {capacity} cannot hold {length} prompt tokens and "
                           f"{max_new_tokens} new ones")
    prompt = tokens
    bucket = _bucket(length)
    if capacity is not None and int(capacity) < bucket + max_new_tokens - 1:
        bucket = length  # the given cache has no room for the extra padding
    if bucket > length:  # masked columns on the left: same tokens, fewer traces
        tokens = np.pad(tokens, ((0, 0), (bucket - length, 0)))
        mask = np.pad(mask, ((0, 0), (bucket - length, 0)))
        length = bucket
    capacity = int(capacity or _bucket(length + max_new_tokens))
    eos = np.asarray([] if eos_token_id is None else np.ravel(eos_token_id), dtype="int64")
    pad = int(pad_token_id if pad_token_id is not None else (eos[0] if eos.size else 0))
    rng = np.random.default_rng(seed)

    step = step_function(model)
    full_mask = np.zeros((batch, capacity), "int32")
    full_mask[:, :length] = mask
    positions = np.where(mask == 1, np.cumsum(mask, axis=-1) - 1, 0).astype("int32")
    cache = model.init_cache(batch, capacity)
    out, finished = [], np.zeros(batch, bool)
    if max_new_tokens > 0:
        logits, cache = step(cache, tokens, full_mask, positions, 0)
    next_position = positions[:, -1:] + 1
    for i in range(max_new_tokens):
        chosen = select_tokens(ops.convert_to_numpy(logits), do_sample, temperature, top_k,
                               top_p, rng).astype("int32")
        chosen = np.where(finished, pad, chosen)
        out.append(chosen)
        finished |= np.isin(chosen, eos)
        if finished.all() or i == max_new_tokens - 1:
            break
        full_mask[:, length + i] = 1
        logits, cache = step(cache, chosen[:, None], full_mask, next_position, length + i)
        next_position = next_position + 1
    result = np.concatenate([prompt] + [t[:, None] for t in out], axis=1)
    return result[0] if squeeze else result


def _bucket(n, smallest=8):
    """The power of two at or above ``n`` (at least ``smallest``)."""
    return max(smallest, 1 << (int(n) - 1).bit_length())
