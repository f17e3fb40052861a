#!/usr/bin/python3
"""Rewrites an ONNX CNN as newer exporters write it, to check that sharpq reads it alike.

    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --opset 26
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --functions
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --swish
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --uint8 0.2860,0.3530
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --probs

--opset N stamps the default-domain opset N (and the IR version of the ONNX release that
brought it) without touching the nodes: right for models whose operators did not change
since their opset (ResNet-20's from 13 to 26). --functions moves every BatchNormalization
that feeds a single Relu into a call of a model-local function BNRelu (domain torch_fn)
whose epsilon is an attribute reference, as PyTorch's dynamo exporter writes modules
before its optimiser inlines them. --swish writes every x·Sigmoid(x) (PyTorch's SiLU) as
opset 24's Swish, as ONNX's rewriters do, and stamps opset 24 when the model's is lower.
--uint8 MEAN,STD gives the model an input of uint8 pixel bytes, cast to float, divided by
255 and normalised, as exports for raw images do. --probs adds a second output, the
Softmax of the logits, as exports for serving do. A one-off tool for BENCHMARKS.md (python3-onnx), not
used by sharpq or its tests.
"""
import argparse

import onnx
from onnx import helper

IR_FOR_OPSET = {22: 10, 23: 11, 24: 12, 25: 13, 26: 13, 27: 13}


def with_functions(m):
    g = m.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    nodes, fused, calls = [], set(), 0
    for n in g.node:
        if id(n) in fused:
            continue
        users = consumers.get(n.output[0], [])
        if n.op_type == "BatchNormalization" and len(users) == 1 and users[0].op_type == "Relu":
            relu = users[0]
            fused.add(id(relu))
            call = helper.make_node("BNRelu", list(n.input), [relu.output[0]], name="bnrelu%d" % calls, domain="torch_fn")
            for a in n.attribute:
                if a.name == "epsilon":
                    call.attribute.append(helper.make_attribute("eps", a.f))
            nodes.append(call)
            calls += 1
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    bn = helper.make_node("BatchNormalization", ["X", "S", "B", "M", "V"], ["t"], name="bn")
    eps = onnx.AttributeProto(name="epsilon", ref_attr_name="eps", type=onnx.AttributeProto.FLOAT)
    bn.attribute.append(eps)
    relu = helper.make_node("Relu", ["t"], ["Y"], name="relu")
    own = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
    m.functions.append(helper.make_function("torch_fn", "BNRelu", ["X", "S", "B", "M", "V"], ["Y"], [bn, relu],
                                            [helper.make_opsetid("", own)], ["eps"]))
    m.opset_import.append(helper.make_opsetid("torch_fn", 1))
    m.ir_version = max(m.ir_version, 8)
    return calls


def with_swish(m):
    g = m.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    nodes, dropped, swishes = [], set(), 0
    for n in g.node:
        if id(n) in dropped:
            continue
        users = consumers.get(n.output[0], [])
        if n.op_type == "Sigmoid" and len(users) == 1 and users[0].op_type == "Mul" and n.input[0] in users[0].input:
            mul = users[0]
            dropped.add(id(mul))
            nodes.append(helper.make_node("Swish", [n.input[0]], [mul.output[0]], name=mul.name or n.name))
            swishes += 1
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 24:
            o.version = 24
    m.ir_version = max(m.ir_version, IR_FOR_OPSET[24])
    return swishes


def with_uint8(m, mean, std):
    g = m.graph
    inp = g.input[0]
    old = inp.name
    raw = old + "_u8"
    inp.name = raw
    inp.type.tensor_type.elem_type = onnx.TensorProto.UINT8
    g.initializer.extend([helper.make_tensor("pixel_max", onnx.TensorProto.FLOAT, [], [255.0]),
                          helper.make_tensor("pixel_mean", onnx.TensorProto.FLOAT, [], [mean]),
                          helper.make_tensor("pixel_std", onnx.TensorProto.FLOAT, [], [std])])
    pre = [helper.make_node("Cast", [raw], ["pixels_f"], to=onnx.TensorProto.FLOAT, name="pixels_cast"),
           helper.make_node("Div", ["pixels_f", "pixel_max"], ["pixels_unit"], name="pixels_unit"),
           helper.make_node("Sub", ["pixels_unit", "pixel_mean"], ["pixels_centred"], name="pixels_centre"),
           helper.make_node("Div", ["pixels_centred", "pixel_std"], [old], name="pixels_normalise")]
    nodes = pre + list(g.node)
    del g.node[:]
    g.node.extend(nodes)


def with_probs(m):
    g = m.graph
    logits = g.output[0]
    g.node.append(helper.make_node("Softmax", [logits.name], ["probs"], axis=1, name="probs"))
    probs = onnx.ValueInfoProto()
    probs.CopyFrom(logits)
    probs.name = "probs"
    g.output.append(probs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--opset", type=int)
    p.add_argument("--functions", action="store_true")
    p.add_argument("--swish", action="store_true")
    p.add_argument("--uint8", metavar="MEAN,STD")
    p.add_argument("--probs", action="store_true")
    a = p.parse_args()
    m = onnx.load(a.src)
    if a.opset:
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = a.opset
        m.ir_version = max(m.ir_version, IR_FOR_OPSET.get(a.opset, m.ir_version))
    if a.functions:
        print("%d BatchNormalization → Relu pairs as BNRelu calls" % with_functions(m))
    if a.swish:
        print("%d x·Sigmoid(x) as Swish" % with_swish(m))
    if a.uint8:
        mean, std = (float(v) for v in a.uint8.split(","))
        with_uint8(m, mean, std)
    if a.probs:
        with_probs(m)
    onnx.save(m, a.dst)


if __name__ == "__main__":
    main()
