"""Per-row int8: weights quantised per row (:func:`quantize_rows`, as torchao's int8 weights) and the ``onnx-int8``
rewrite of an exported ONNX graph (:func:`quantize_rows_int8`): every weight matmul becomes uint8 x int8 with one scale and
zero point per activation row (token), taken from the row itself, and one symmetric scale per weight column, so no
scale depends on the batch (ONNX Runtime's ``quantize_dynamic`` takes one scale per tensor: the whole padded batch's).
Used by :func:`spandec.models.runtime.export_onnx`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["quantize_rows", "quantize_rows_int8"]


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8 quantisation (as torchao's int8 weights): (int8 weight, float32 scale per row)."""
    scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    return torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8), scale.float()


def quantize_rows_int8(source: Path, target: Path) -> None:
    """Rewrite ``source``'s weight matmuls (MatMul with a constant 2-D right side) as per-row int8 (module docstring)
    into ``target``. CoNLL++ test: token 86.09 (fp32 86.28; symmetric rows 85.95). Attention and embeddings stay
    float32."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in onnx.shape_inference.infer_shapes(model).graph.value_info
             if v.type.tensor_type.HasField("shape")}
    ranks |= {v.name: len(v.type.tensor_type.shape.dim) for v in graph.input}
    weights = {t.name: t for t in graph.initializer}  # and those exported as Constant nodes (SpanDec's key/value matrix)
    weights |= {n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == "Constant" and n.attribute[0].name == "value"}
    new_inits = [numpy_helper.from_array(np.array(v, dtype=dt), name) for name, v, dt in (
        ("q_eps", 1e-8, np.float32), ("q_inv255", 1.0 / 255, np.float32), ("q_255", 255.0, np.float32),
        ("q_0", 0.0, np.float32), ("q_minus1", [-1], np.int64), ("q_0i", [0], np.int64), ("q_last", [-1], np.int64),
        ("q_axis1", [1], np.int64))]
    quantized: dict[str, tuple[str, str, str, str]] = {}  # activation -> (uint8 rows, row scales, its shape, zero points)
    nodes, used_weights = [], set()
    for node in graph.node:
        w = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if w is None or len(w.dims) != 2:
            nodes.append(node)
            continue
        a, flat = node.input[0], ranks.get(node.input[0]) == 2  # already (rows, K): no reshapes around the matmul
        if a not in quantized:  # once per activation (the three attention projections share theirs)
            p = f"rowq_{len(quantized)}"
            nodes += _quantize_rows_nodes(a, p, flat)
            quantized[a] = (p + "_u8", p + "_scol", p + "_shape", p + "_zcol")
        tag = f"q{len(used_weights)}_{node.name or node.output[0]}".replace("/", "_")
        used_weights.add(node.input[1])
        nodes += _int8_matmul_nodes(numpy_helper.to_array(w), tag, quantized[a], node.output[0], flat, new_inits)
    still_used = {i for n in nodes for i in n.input}
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] not in used_weights or n.output[0] in still_used]
    keep = [t for t in graph.initializer if t.name not in used_weights or t.name in still_used]
    names = set()
    new_inits = [t for t in new_inits if t.name in still_used and not (t.name in names or names.add(t.name))]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(keep + new_inits)
    onnx.save(model, str(target))


def _quantize_rows_nodes(a: str, p: str, flat: bool) -> list:
    """Nodes that quantize activation ``a`` to uint8 rows ``p_u8`` (rows, K) with per-row scale ``p_scol`` and zero
    point ``p_zcol`` (rows, 1); ``a`` is first reshaped to (rows, K) unless ``flat``."""
    from onnx import TensorProto, helper

    x, nodes = (a, []) if flat else (p + "_x", [
        helper.make_node("Shape", [a], [p + "_shape"]),
        helper.make_node("Gather", [p + "_shape", "q_last"], [p + "_k"]),
        helper.make_node("Concat", ["q_minus1", p + "_k"], [p + "_2d"], axis=0),
        helper.make_node("Reshape", [a, p + "_2d"], [p + "_x"])])  # (rows, K)
    return nodes + [
        helper.make_node("ReduceMax", [x], [p + "_hi"], axes=[1], keepdims=0),
        helper.make_node("ReduceMin", [x], [p + "_lo"], axes=[1], keepdims=0),
        helper.make_node("Max", [p + "_hi", "q_0"], [p + "_hi0"]),  # 0 stays exact
        helper.make_node("Min", [p + "_lo", "q_0"], [p + "_lo0"]),
        helper.make_node("Sub", [p + "_hi0", p + "_lo0"], [p + "_range"]),
        helper.make_node("Max", [p + "_range", "q_eps"], [p + "_rangee"]),
        helper.make_node("Mul", [p + "_rangee", "q_inv255"], [p + "_scale"]),  # (rows,)
        helper.make_node("Neg", [p + "_lo0"], [p + "_neg"]),
        helper.make_node("Div", [p + "_neg", p + "_scale"], [p + "_zdiv"]),
        helper.make_node("Round", [p + "_zdiv"], [p + "_zr"]),
        helper.make_node("Clip", [p + "_zr", "q_0", "q_255"], [p + "_zf"]),
        helper.make_node("Cast", [p + "_zf"], [p + "_zp"], to=TensorProto.UINT8),
        helper.make_node("QuantizeLinear", [x, p + "_scale", p + "_zp"], [p + "_u8"], axis=0),
        helper.make_node("Unsqueeze", [p + "_scale", "q_axis1"], [p + "_scol"]),
        helper.make_node("Unsqueeze", [p + "_zf", "q_axis1"], [p + "_zcol"])]


def _int8_matmul_nodes(w: np.ndarray, tag: str, rows: tuple[str, str, str, str], output: str, flat: bool,
                       inits: list) -> list:
    """Nodes computing ``output`` = the quantized rows x ``w`` (K, N) as int8 with per-column weight scales (the
    initializers they need are appended to ``inits``); reshaped back to the activation's leading axes unless ``flat``."""
    from onnx import TensorProto, helper, numpy_helper

    u8, scale, shape, zero = rows
    q, col_scale = quantize_rows(torch.from_numpy(w.T.copy()))  # (N, K): a weight column per row
    n = "q_n" + str(w.shape[1])
    inits += [numpy_helper.from_array(q.numpy().T.copy(), tag + "_w"),
              numpy_helper.from_array(col_scale.numpy(), tag + "_ws"),
              numpy_helper.from_array(q.float().sum(1).numpy(), tag + "_wsum"),  # (N,) column sums
              numpy_helper.from_array(np.array([w.shape[1]], dtype=np.int64), n)]
    nodes = [helper.make_node("MatMulInteger", [u8, tag + "_w"], [tag + "_i32"]),
             helper.make_node("Cast", [tag + "_i32"], [tag + "_f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", [zero, tag + "_wsum"], [tag + "_zw"]),  # the rows' zero points x columns
             helper.make_node("Sub", [tag + "_f", tag + "_zw"], [tag + "_c"]),
             helper.make_node("Mul", [tag + "_c", scale], [tag + "_rs"]),
             helper.make_node("Mul", [tag + "_rs", tag + "_ws"], [output if flat else tag + "_y"])]
    if not flat:
        nodes += [helper.make_node("Slice", [shape, "q_0i", "q_minus1"], [tag + "_lead"]),
                  helper.make_node("Concat", [tag + "_lead", n], [tag + "_oshape"], axis=0),
                  helper.make_node("Reshape", [tag + "_y", tag + "_oshape"], [output])]
    return nodes
