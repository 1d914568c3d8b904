"""Process-wide numeric settings, as in ``keras.config``."""

from kbridge.errors import ArgumentError

_epsilon = 1e-7
_image_data_format = "channels_last"


def epsilon():
    """The fuzz factor used in numeric expressions (default 1e-7)."""
    return _epsilon


def set_epsilon(value):
    global _epsilon
    _epsilon = float(value)


def image_data_format():
    """'channels_last' (default) or 'channels_first'."""
    return _image_data_format


_DATA_FORMATS = ("channels_last", "channels_first")


def _data_format_error(data_format):
    return ArgumentError("`data_format` must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")


def set_image_data_format(data_format):
    global _image_data_format
    if data_format not in _DATA_FORMATS:
        raise _data_format_error(data_format)
    _image_data_format = data_format


def standardize_data_format(data_format):
    if data_format is None:
        return _image_data_format
    if data_format not in _DATA_FORMATS:
        raise _data_format_error(data_format)
    return data_format
