"""Run a TFLite (LiteRT) or ONNX model on a batch, with clear errors for bad model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotui.models import ModelError


class TFLiteRunner:
    """A LiteRT interpreter whose batch size follows the input (reallocated only when it changes)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
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
