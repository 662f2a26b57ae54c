#!/usr/bin/env python3
"""Writes the seed corpora of the model-file fuzzers (caffe_text, caffemodel, tfjs, json;
clssd_file with clssd-convert) into tests/fuzz/corpus/. Pure Python, no protobuf library: the
few protobuf messages needed are encoded by hand.

    tests/fuzz/tools/make_model_seeds.py [CLSSD_CONVERT]

CLSSD_CONVERT (e.g. build/clssd-convert), when given, also converts the tiny Caffe net into
.clssd seeds. The Caffe net is the deploy prototxt embedded in tests/fuzz/fuzz_caffemodel.c
(read from there, so the harness and its seeds cannot drift apart)."""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
CORPUS = os.path.join(FUZZ, "corpus")


def write(kind, name, data):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def deploy_text():
    src = open(os.path.join(FUZZ, "fuzz_caffemodel.c")).read()
    body = src.split("/* DEPLOY BEGIN */")[1].split("/* DEPLOY END */")[0]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(parts).encode().decode("unicode_escape")


# ---------------------------------------------------------------- protobuf wire format
def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, v):
    return key(field, 0) + varint(v)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return key(field, 2) + varint(len(b)) + b


def blob(shape, values, style):
    """BlobProto: shape (7) or the legacy num/channels/height/width (1..4); data as packed
    floats (5), one fixed32 field per value (5, wire type 5), or packed doubles (8)."""
    if style == "legacy":
        dims = [1] * (4 - len(shape)) + list(shape)
        msg = b"".join(f_varint(i + 1, d) for i, d in enumerate(dims))
    else:
        msg = f_bytes(7, b"".join(f_varint(1, d) for d in shape))
    if style == "unpacked":
        msg += b"".join(key(5, 5) + struct.pack("<f", v) for v in values)
    elif style == "double":
        msg += f_bytes(8, struct.pack("<%dd" % len(values), *values))
    else:
        msg += f_bytes(5, struct.pack("<%df" % len(values), *values))
    return msg


def values(n, seed):
    return [((i * 7 + seed) % 11 - 5) / 16.0 for i in range(n)]


# The layers of the embedded deploy net that read weights: name -> blob shapes.
WEIGHTS = [
    ("conv1", [[4, 3, 3, 3], [4]]),
    ("bn1", [[4], [4], [1]]),
    ("sc1", [[4], [4]]),
    ("norm1", [[4]]),
    ("loc", [[8, 4, 1, 1], [8]]),
    ("conf", [[6, 4, 1, 1], [6]]),
]


def blob_values(layer, k, shape):
    n = 1
    for d in shape:
        n *= d
    if layer == "bn1":  # running sums: variance > 0, factor 1
        return [1.0] * n if k >= 1 else values(n, k)
    return values(n, k + len(layer))


def caffemodel(style, v1=False):
    net = f_bytes(1, "fuzz_tiny_ssd")
    for layer, shapes in WEIGHTS:
        blobs = b"".join(
            f_bytes(7 if not v1 else 6, blob(s, blob_values(layer, k, s), style))
            for k, s in enumerate(shapes))
        if v1:  # V1LayerParameter: name 4, type 5 (CONVOLUTION = 4), blobs 6
            body = f_bytes(4, layer) + f_varint(5, 4 if layer in ("conv1", "loc", "conf") else 0)
            net += f_bytes(2, body + blobs)
        else:  # LayerParameter: name 1, type 2, blobs 7
            net += f_bytes(100, f_bytes(1, layer) + f_bytes(2, "Layer") + blobs)
    return net


# ---------------------------------------------------------------- Caffe text seeds
LABELMAP = """item { name: "none_of_the_above" label: 0 display_name: "background" }
item { name: "face" label: 1 display_name: "face" }
item { name: "cat" label: 7 display_name: "\\"cat\\" \\303\\251" }
"""

# The V1 (`layers`, enum types) generation of the same kind of net, with an Eltwise.
V1_NET = """name: "v1_net"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 12 input_dim: 12
layers { name: "c1" type: CONVOLUTION bottom: "data" top: "c1"
  convolution_param { num_output: 2 kernel_h: 3 kernel_w: 3 pad_h: 1 pad_w: 1 group: 1 } }
layers { name: "r1" type: RELU bottom: "c1" top: "c1" }
layers { name: "c2" type: CONVOLUTION bottom: "data" top: "c2"
  convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
layers { name: "sum" type: ELTWISE bottom: "c1" bottom: "c2" top: "sum"
  eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
layers { name: "drop" type: DROPOUT bottom: "sum" top: "sum" dropout_param { dropout_ratio: 0.5 } }
layers { name: "p1" type: POOLING bottom: "sum" top: "p1"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layers { name: "split" type: SPLIT bottom: "p1" top: "a" top: "b" }
layers { name: "train_only" type: DROPOUT bottom: "a" top: "a" include { phase: TRAIN } }
"""


def tiny_caffe_variants(deploy):
    """Small edits of the embedded deploy that reach other branches of the importer."""
    return {
        # Input layer instead of net-level input fields; global AVE pooling; Scale without bias
        "input_layer.prototxt": deploy.replace(
            'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 16 dim: 16 }\n',
            'layer { name: "data" type: "Input" top: "data"\n'
            '  input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }\n').replace(
            "scale_param { bias_term: true }", "scale_param { bias_term: false }"),
        # step / img_size / clip / flip and ratios in PriorBox (4 priors a cell, so the heads
        # grow); a negative_slope ReLU
        "priorbox_variants.prototxt": deploy.replace(
            "offset: 0.5", "aspect_ratio: 2 flip: true clip: true step: 8 img_size: 16").replace(
            'type: "ReLU" bottom: "conv1" top: "conv1" }',
            'type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.1 } }').replace(
            "num_output: 8 ", "num_output: 16 ").replace("num_output: 6 ", "num_output: 12 "),
    }


# ---------------------------------------------------------------- TF.js seeds
def tfjs_seed(json_text, shard):
    """The fuzz_tfjs input layout: json length (u32 LE), model.json, then the shard."""
    j = json_text.encode()
    return struct.pack("<I", len(j)) + j + shard


def b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def tfjs_model(quantized):
    """A TF Object Detection API SSD in miniature, as the TF.js importer expects it: a resize
    and pixel affine preprocessor, conv + FusedBatchNorm + Relu6, a depthwise conv, box and
    class heads reshaped and concatenated, and the post-processor's decode (two Unpacks, the
    anchor corner subtractions, the scale-factor divisions, two Exps) and sigmoid scores.
    16x16 input, 8x8 cells, 2 anchors a cell (128), 3 classes (background first)."""
    nodes, weights, shard = [], [], bytearray()

    def node(name, op, inputs=(), **attr):
        nodes.append({"name": name, "op": op, "input": list(inputs), "attr": attr})

    def const(name, shape, vals, dtype="float32", quant=None):
        entry = {"name": name, "shape": shape, "dtype": dtype}
        if dtype == "int32":
            shard.extend(struct.pack("<%di" % len(vals), *vals))
        elif quant == "uint8":
            lo, scale = -1.0, 2.0 / 255
            entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo}
            shard.extend(bytes(max(0, min(255, round((v - lo) / scale))) for v in vals))
        elif quant == "float16":
            entry["quantization"] = {"dtype": "float16"}
            shard.extend(struct.pack("<%de" % len(vals), *vals))
        else:
            shard.extend(struct.pack("<%df" % len(vals), *vals))
        weights.append(entry)
        node(name, "Const", dtype={"type": "DT_INT32" if dtype == "int32" else "DT_FLOAT"})

    def conv(name, x, shape, stride, depthwise=False, quant=None):
        n = 1
        for d in shape:
            n *= d
        const(name + "/weights", shape, values(n, len(name)), quant=quant)
        node(name + "/Conv2D", "DepthwiseConv2dNative" if depthwise else "Conv2D",
             [x, name + "/weights"], padding={"s": b64("SAME")}, data_format={"s": b64("NHWC")},
             strides={"list": {"i": ["1", str(stride), str(stride), "1"]}},
             dilations={"list": {"i": ["1", "1", "1", "1"]}})
        return name + "/Conv2D"

    def bias(name, x, n, quant=None):
        const(name + "/biases", [n], values(n, 3), quant=quant)
        node(name + "/BiasAdd", "BiasAdd", [x, name + "/biases"])
        return name + "/BiasAdd"

    node("image_tensor", "Placeholder", dtype={"type": "DT_UINT8"},
         shape={"shape": {"dim": [{"size": "-1"}, {"size": "-1"}, {"size": "-1"}, {"size": "3"}]}})
    const("Preprocessor/size", [2], [16, 16], dtype="int32")
    node("Preprocessor/resize", "ResizeBilinear", ["image_tensor", "Preprocessor/size"],
         align_corners={"b": False}, half_pixel_centers={"b": quantized})
    const("Preprocessor/scale", [], [2.0 / 255])
    node("Preprocessor/mul", "Mul", ["Preprocessor/resize", "Preprocessor/scale"])
    const("Preprocessor/one", [], [1.0])
    node("Preprocessor/sub", "Sub", ["Preprocessor/mul", "Preprocessor/one"])
    x = conv("Conv", "Preprocessor/sub", [3, 3, 3, 4], 2)
    for k, pname in enumerate(["gamma", "beta", "mean", "variance"]):
        const("Conv/BatchNorm/" + pname, [4], [1.0, 0.5, 2.0, 1.5] if k != 2 else values(4, 1))
    node("Conv/BatchNorm", "FusedBatchNorm", [x] + ["Conv/BatchNorm/" + p for p in
                                                    ["gamma", "beta", "mean", "variance"]],
         epsilon={"f": 0.001}, is_training={"b": False})
    node("Conv/Relu6", "Relu6", ["Conv/BatchNorm"])
    x = bias("dw", conv("dw", "Conv/Relu6", [3, 3, 4, 1], 1, depthwise=True), 4)
    heads = {}
    for head, per, quant in (("Box", 8, "float16"), ("Class", 6, "uint8")):
        h = bias(head, conv(head, x, [1, 1, 4, per], 1, quant=quant if quantized else None), per,
                 quant=quant if quantized else None)
        const(head + "/shape", [3], [-1, 128, per // 2], dtype="int32")
        node(head + "/Reshape", "Reshape", [h, head + "/shape"])
        const(head + "/axis", [], [1], dtype="int32")
        node(head + "/concat", "ConcatV2", [head + "/Reshape", head + "/axis"])
        heads[head] = head + "/concat"
    node("Postprocessor/convert_scores", "Sigmoid", [heads["Class"]])
    const("Postprocessor/begin", [3], [0, 0, 1], dtype="int32")
    const("Postprocessor/size", [3], [-1, -1, -1], dtype="int32")
    node("Postprocessor/Slice", "Slice", ["Postprocessor/convert_scores", "Postprocessor/begin",
                                          "Postprocessor/size"])
    anchors = []
    for cell in range(64):
        cy, cx = (cell // 8 + 0.5) / 8, (cell % 8 + 0.5) / 8
        for size in (0.25, 0.4):
            anchors += [cy - size / 2, cx - size / 2, cy + size / 2, cx + size / 2]
    const("Postprocessor/anchors", [128, 4], anchors)
    node("Decode/transpose", "Transpose", ["Postprocessor/anchors"])
    node("Decode/anchors_unstack", "Unpack", ["Decode/transpose"], num={"i": "4"}, axis={"i": "0"})
    node("Decode/sub", "Sub", ["Decode/anchors_unstack:2", "Decode/anchors_unstack:0"])
    node("Decode/sub_1", "Sub", ["Decode/anchors_unstack:3", "Decode/anchors_unstack:1"])
    node("Decode/transpose_1", "Transpose", [heads["Box"]])
    node("Decode/unstack", "Unpack", ["Decode/transpose_1"], num={"i": "4"}, axis={"i": "0"})
    for k, scale in enumerate([10.0, 10.0, 5.0, 5.0]):
        const("Decode/scale_%d" % k, [], [scale])
        node("Decode/truediv_%d" % k, "RealDiv", ["Decode/unstack:%d" % k, "Decode/scale_%d" % k])
    node("Decode/Exp", "Exp", ["Decode/truediv_2"])
    node("Decode/Exp_1", "Exp", ["Decode/truediv_3"])
    model = {"modelTopology": {"node": nodes, "versions": {"producer": 38}},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": weights}]}
    return json.dumps(model, separators=(",", ":")), bytes(shard)


def json_seeds():
    return {
        "values.json": '{"a": [1, -2.5e-3, 0, true, false, null], "s": "x\\u00e9\\ud83d\\ude00\\n\\"",'
                       ' "o": {"": {}}, "e": [], "big": 12345678901234567890, "neg": -0.0}',
        "nested.json": "[[[[[[[[[[{\"k\": [\"v\"]}]]]]]]]]]]",
        "bom_string.json": "\ufeff\"caf\u00e9\"",
        "number.json": " 1E+308 ",
    }


def main():
    deploy = deploy_text()
    write("caffe_text", "tiny_ssd.prototxt", deploy)
    for name, text in tiny_caffe_variants(deploy).items():
        write("caffe_text", name, text)
    write("caffe_text", "labelmap.prototxt", LABELMAP)
    write("caffe_text", "v1_net.prototxt", V1_NET)

    write("caffemodel", "tiny_packed.caffemodel", caffemodel("packed"))
    write("caffemodel", "tiny_unpacked.caffemodel", caffemodel("unpacked"))
    write("caffemodel", "tiny_double_legacy.caffemodel", caffemodel("double"))
    write("caffemodel", "tiny_v1_legacy_shape.caffemodel", caffemodel("legacy", v1=True))

    for name, text in json_seeds().items():
        write("json", name, text)
    for quantized in (False, True):
        text, shard = tfjs_model(quantized)
        name = "tiny_ssd_quantized" if quantized else "tiny_ssd"
        write("tfjs", name + ".bin", tfjs_seed(text, shard))
        write("json", name + "_model.json", text)

    if len(sys.argv) > 1:
        convert = sys.argv[1]
        with tempfile.TemporaryDirectory() as tmp:
            dp = os.path.join(tmp, "deploy.prototxt")
            wp = os.path.join(tmp, "w.caffemodel")
            lp = os.path.join(tmp, "labels.prototxt")
            out = os.path.join(tmp, "out.clssd")
            open(dp, "w").write(deploy)
            open(wp, "wb").write(caffemodel("packed"))
            open(lp, "w").write(LABELMAP)
            subprocess.run([convert, "caffe", dp, wp, out, "--labelmap", lp, "--name", "tiny"],
                           check=True)
            write("clssd_file", "tiny_ssd_labels.clssd", open(out, "rb").read())
            subprocess.run([convert, "caffe", dp, "--random", "3", out, "--rgb"], check=True)
            write("clssd_file", "tiny_ssd_random.clssd", open(out, "rb").read())
            text, shard = tfjs_model(False)
            mp = os.path.join(tmp, "model.json")
            open(mp, "w").write(text)
            open(os.path.join(tmp, "group1-shard1of1.bin"), "wb").write(shard)
            subprocess.run([convert, "tfjs", mp, out], check=True)
            write("clssd_file", "tiny_tfjs_ssd.clssd", open(out, "rb").read())


if __name__ == "__main__":
    main()
