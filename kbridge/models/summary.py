"""``Model.summary()``: the layer table Keras users know."""

import numpy as np


def _count(weights):
    return int(sum(np.prod(w.shape, dtype=np.int64) for w in weights))


def _bytes(weights):
    from kbridge.backend.common.dtypes import numpy_dtype

    return int(sum(np.prod(w.shape, dtype=np.int64) * numpy_dtype(w.dtype).itemsize
                   for w in weights))


def _human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def _output_shape(layer):
    shape = getattr(layer, "_last_output_shape", None)
    if shape is None and hasattr(layer, "batch_shape"):
        shape = layer.batch_shape
    return "?" if shape is None else str(shape)


def print_summary(model, line_length=None, print_fn=None, show_trainable=False):
    print_fn = print_fn or print
    widths = [34, 26, 14] + ([10] if show_trainable else [])
    if line_length:
        scale = line_length / (sum(widths) + len(widths) + 1)
        widths = [max(8, int(w * scale)) for w in widths]
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Trainable"] if show_trainable else [])
    layers = list(model.layers)  # a Sequential's Input is not among them, as in Keras

    def row(cells, left="│", mid="│", right="│"):
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            text = str(cell)
            if len(text) > w - 2:
                text = text[: w - 3] + "…"
            parts.append(" " + (text.rjust(w - 2) if i == 2 else text.ljust(w - 2)) + " ")
        return left + mid.join(parts) + right

    def rule(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    lines = [f'Model: "{model.name}"', rule("┏", "┳", "┓", "━"),
             row(headers, "┃", "┃", "┃"), rule("┡", "╇", "┩", "━")]
    for i, layer in enumerate(layers):
        params = _count(layer.weights) if layer.built else 0
        cells = [f"{layer.name} ({type(layer).__name__})", _output_shape(layer), f"{params:,}"]
        if show_trainable:
            cells.append("Y" if layer.trainable else "N")
        lines.append(row(cells))
        if i != len(layers) - 1:
            lines.append(rule("├", "┼", "┤", "─"))
    lines.append(rule("└", "┴", "┘", "─"))
    trainable, non_trainable = model.trainable_weights, model.non_trainable_weights
    total = trainable + non_trainable
    lines.append(f" Total params: {_count(total):,} ({_human(_bytes(total))})")
    lines.append(f" Trainable params: {_count(trainable):,} ({_human(_bytes(trainable))})")
    lines.append(f" Non-trainable params: {_count(non_trainable):,} "
                 f"({_human(_bytes(non_trainable))})")
    print_fn("\n".join(lines))
