"""``RemoteMonitor``: POST each epoch's logs to an HTTP server."""

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from kbridge.callbacks.callback import Callback


class RemoteMonitor(Callback):
    """Send ``{"epoch": epoch, **logs}`` to ``root + path`` by HTTP POST at each epoch end.

    The payload is JSON: the whole body (``send_as_json=True``, content type
    ``application/json``) or the value of the form field ``field``. Uses the standard
    library (no ``requests`` needed). An unreachable server gives a warning, not an error.

    Args:
        root: the server's root URL.
        path: the path, relative to ``root``, that receives the events.
        field: the form field holding the JSON (form mode only).
        headers: extra HTTP headers (a dict).
        send_as_json: send the JSON as the request body.
        timeout: seconds to wait for the server.

    Example:
        >>> monitor = kbridge.callbacks.RemoteMonitor(root="http://localhost:9000")
        >>> model.fit(x, y, epochs=5, callbacks=[monitor])
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False, timeout=10.0):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json
        self.timeout = timeout

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            # numpy scalars and 0-d arrays are not JSON types: send their Python value.
            send[key] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the server answered (with an error status): it was reached, as in Keras
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                          stacklevel=2)
