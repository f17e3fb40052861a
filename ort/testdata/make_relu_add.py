#!/usr/bin/python3
"""Generate relu_add.onnx, the tiny model used by the internal/ort tests.

The graph is y = Relu(x) + x with x, y: float32[2,3], opset 13.
Run from this directory with Debian's python3-onnx (1.12):

    /usr/bin/python3 make_relu_add.py
"""
import onnx
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
relu = helper.make_node("Relu", ["x"], ["r"], name="relu")
add = helper.make_node("Add", ["r", "x"], ["y"], name="add")
graph = helper.make_graph([relu, add], "relu_add", [x], [y])
model = helper.make_model(
    graph,
    producer_name="sharpq-testdata",
    opset_imports=[helper.make_opsetid("", 13)],
)
# Pin the IR version so the bytes do not depend on the onnx package version.
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, "relu_add.onnx")
