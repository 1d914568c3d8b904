"""Hugging Face tokenizers and chat templates, without transformers.

:class:`Tokenizer` reads a checkpoint's ``tokenizer.json`` with the ``tokenizers`` package and
its ``tokenizer_config.json`` (special tokens, ``chat_template``).
:meth:`Tokenizer.apply_chat_template` renders the Jinja chat template in jinja2's
*immutable sandbox*, since a template that comes with a checkpoint is untrusted input, with
the same environment settings and globals as transformers (``trim_blocks``,
``lstrip_blocks``, ``raise_exception``, ``strftime_now``, a ``tojson`` that keeps non-ASCII).

Example:
    >>> tok = Tokenizer.from_pretrained("Qwen2.5-0.5B-Instruct/")
    >>> ids = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=True)
    >>> batch = tok(["a prompt", "another, longer prompt"])   # left-padded for generation
"""

import json
import os

import numpy as np

from kbridge.hub.errors import ReleaseError

__all__ = ["Tokenizer", "render_chat_template"]

_SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token",
            "mask_token")


def _token_text(value):
    # tokenizer_config.json stores a special token as a string or as {"content": ...}.
    return value.get("content") if isinstance(value, dict) else value


def _compile(template):
    import datetime

    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat_template(template, messages, add_generation_prompt=True, **variables):
    """The text of ``messages`` (``[{"role", "content"}]``) under a Jinja chat ``template``,
    rendered in jinja2's immutable sandbox; ``variables`` (``bos_token``, ``tools`` ...) are
    visible to the template.

    Example:
        >>> render_chat_template("{% for m in messages %}{{ m.content }};{% endfor %}",
        ...                      [{"role": "user", "content": "hi"}])
        'hi;'
    """
    if not isinstance(messages, (list, tuple)) or not all(isinstance(m, dict) for m in messages):
        raise ReleaseError("chat messages must be a list of dicts like "
                           f"{{'role': 'user', 'content': '...'}}. Received: {messages!r:.200}")
    return _compile(template).render(messages=[dict(m) for m in messages],
                                      add_generation_prompt=add_generation_prompt, **variables)


class Tokenizer:
    """A ``tokenizer.json`` tokenizer with the special tokens and chat template of its
    ``tokenizer_config.json``.

    Args:
        tokenizer_file: path of ``tokenizer.json``.
        config: the ``tokenizer_config.json`` dict (or None).

    Example:
        >>> tok = Tokenizer.from_pretrained("checkpoint/")
        >>> tok.decode(tok.encode("hello world"))
        'hello world'
    """

    def __init__(self, tokenizer_file, config=None):
        import tokenizers

        try:
            self._tokenizer = tokenizers.Tokenizer.from_file(os.fspath(tokenizer_file))
        except Exception as e:  # tokenizers raises a bare Exception on malformed files
            raise ReleaseError(f"{tokenizer_file}: not a readable tokenizer.json ({e})") from None
        self.config = dict(config or {})
        for name in _SPECIAL:
            setattr(self, name, _token_text(self.config.get(name)))
        self.chat_template = self.config.get("chat_template")
        if isinstance(self.chat_template, list):  # [{"name": "default", "template": ...}]
            named = {t.get("name"): t.get("template") for t in self.chat_template}
            self.chat_template = named.get("default")

    @classmethod
    def from_pretrained(cls, directory):
        """The tokenizer of a checkpoint directory (``tokenizer.json`` +
        ``tokenizer_config.json``, and ``chat_template.jinja`` when present)."""
        directory = os.fspath(directory)
        path = os.path.join(directory, "tokenizer.json")
        if not os.path.exists(path):
            raise ReleaseError(f"{directory}: no tokenizer.json (only fast, tokenizers-format "
                               "tokenizers are supported)")
        config_path = os.path.join(directory, "tokenizer_config.json")
        config = {}
        if os.path.exists(config_path):
            try:
                with open(config_path, encoding="utf-8") as f:
                    config = json.load(f)
            except ValueError as e:
                raise ReleaseError(f"{config_path}: not valid JSON ({e})") from None
        jinja_path = os.path.join(directory, "chat_template.jinja")
        if os.path.exists(jinja_path) and not config.get("chat_template"):
            with open(jinja_path, encoding="utf-8") as f:
                config["chat_template"] = f.read()
        return cls(path, config)

    def token_to_id(self, token):
        return None if token is None else self._tokenizer.token_to_id(token)

    @property
    def eos_token_id(self):
        return self.token_to_id(self.eos_token)

    @property
    def bos_token_id(self):
        return self.token_to_id(self.bos_token)

    @property
    def pad_token_id(self):
        return self.token_to_id(self.pad_token)

    def encode(self, text, add_special_tokens=True):
        """Token ids (a list of ints) of ``text``."""
        return self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids, skip_special_tokens=False):
        """The text of ``ids`` (a list or 1-D array)."""
        return self._tokenizer.decode([int(i) for i in np.ravel(ids)],
                                      skip_special_tokens=skip_special_tokens)

    def __call__(self, texts, add_special_tokens=True, padding_side="left"):
        """``(input_ids, attention_mask)`` int32 ``[batch, longest]`` of ``texts``, padded
        on the left (what :func:`model_zoo.text.generation.generate` expects) with the pad
        token (else the eos token, else 0)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = [self.encode(t, add_special_tokens) for t in texts]
        width = max(len(r) for r in rows)
        pad = next((i for i in (self.pad_token_id, self.eos_token_id) if i is not None), 0)
        ids = np.full((len(rows), width), pad, "int32")
        mask = np.zeros((len(rows), width), "int32")
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if padding_side == "left" else slice(0, len(row))
            ids[i, span], mask[i, span] = row, 1
        return ids, mask

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False,
                            chat_template=None, **variables):
        """Render ``messages`` with the chat template (text, or ids with ``tokenize=True``,
        encoded without adding special tokens, as transformers does).

        Example:
            >>> tok.apply_chat_template([{"role": "user", "content": "Hi"}])
            '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
        """
        template = chat_template or self.chat_template
        if not template:
            raise ReleaseError("tokenizer_config.json has no chat_template (pass "
                               "chat_template=...)")
        special = {name: getattr(self, name) for name in _SPECIAL if getattr(self, name)}
        text = render_chat_template(template, messages, add_generation_prompt,
                                    **{**special, **variables})
        return self.encode(text, add_special_tokens=False) if tokenize else text
