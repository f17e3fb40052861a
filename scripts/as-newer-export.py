#!/usr/bin/python3
"""Rewrites an ONNX CNN as newer exporters write it, to check that sharpq reads it alike.

    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --opset 26
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --functions
    /usr/bin/python3 scripts/as-newer-export.py IN.onnx OUT.onnx --swish

--opset N stamps the default-domain opset N (and the IR version of the ONNX release that
brought it) without touching the nodes: right for models whose operators did not change
since their opset (ResNet-20's from 13 to 26). --functions moves every BatchNormalization
that feeds a single Relu into a call of a model-local function BNRelu (domain torch_fn)
whose epsilon is an attribute reference, as PyTorch's dynamo exporter writes modules
before its optimiser inlines them. --swish writes every x·Sigmoid(x) (PyTorch's SiLU) as
opset 24's Swish, as ONNX's rewriters do, and stamps opset 24 when the model's is lower. A
one-off tool for BENCHMARKS.md (python3-onnx), not
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--opset", type=int)
    p.add_argument("--functions", action="store_true")
    p.add_argument("--swish", action="store_true")
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
    onnx.save(m, a.dst)


if __name__ == "__main__":
    main()
