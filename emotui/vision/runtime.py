"""Run a TFLite (LiteRT) or ONNX model on a batch, with clear errors for bad model files."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from emotui.models import ModelError

# What LiteRT's native logger prints the first time an interpreter allocates its tensors (once a
# process). No environment variable or Python API quiets that logger (it does not read
# TF_CPP_MIN_LOG_LEVEL), so this line alone is taken out of what fd 2 receives meanwhile.
LITERT_BANNER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_STDERR_HELD = threading.Lock()  # one redirect of fd 2 at a time


@contextmanager
def _without_litert_banner() -> Iterator[None]:
    """Hold what is written to fd 2 while the block runs, then pass it on without LiteRT's banner:
    native and Python messages alike still reach stderr, just after the block."""
    with _STDERR_HELD, tempfile.TemporaryFile() as held:
        if sys.stderr:  # None when Python started without a stderr
            sys.stderr.flush()
        stderr = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(stderr, 2)
            held.seek(0)
            with open(stderr, "wb") as real_stderr:
                real_stderr.writelines(line for line in held if line.rstrip(b"\r\n") != LITERT_BANNER)


class TFLiteRunner:
    """A LiteRT interpreter whose batch size follows the input (reallocated only when it changes)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            with _without_litert_banner():
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{path} is not a usable TFLite model: {error}") from None
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self._batch = self.input_shape[0]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        if batch.shape[0] != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
            self._interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(d["index"]) for d in self._outputs]


class OnnxRunner:
    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelError(f"{path} is not a usable ONNX model: {error}") from None
        self._input_name = self._session.get_inputs()[0].name
        self.input_shape = tuple(self._session.get_inputs()[0].shape)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input_name: np.ascontiguousarray(batch, dtype=np.float32)})


def open_runner(path: Path, threads: int = 1) -> TFLiteRunner | OnnxRunner:
    """Pick the runtime by file extension."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return TFLiteRunner(path, threads)
    if suffix == ".onnx":
        return OnnxRunner(path, threads)
    raise ModelError(f"{path}: unsupported model format '{suffix}' (use .tflite or .onnx)")
