"""Exports torchvision models of the families around ResNet and MobileNet (random weights, not
trained), 3x224x224, BN running statistics set by a few train-mode passes on random images,
BN kept (training=PRESERVE, no constant folding), opset 13, dynamic batch: the fixtures of
scripts/families.sh, which runs sharpq's whole convert path on each. Accuracy means nothing.
Needs torch and torchvision (Debian: python3-torchvision); never a dependency of sharpq.
GoogLeNet and Inception v3 are exported with transform_input (each input channel picked by a
Gather, rescaled and concatenated again, as their pretrained weights use), Inception v3 at
3x299x299. SIZE=N in the environment exports at 3xNxN instead (64 makes quick fixtures of
large models: EfficientNetV2-S, ConvNeXt-Tiny); FOLD=1 exports as torch.onnx.export does by
default (constant folding, BN folded into the convolutions), FOLD=constants folds constants but
keeps BN. OPSET=N exports at opset N instead of 13 (17 writes ConvNeXt's LayerNorm as one
LayerNormalization node, as PyTorch 2's default opset does). STATIC=1 exports without dynamic
axes, at a fixed batch of 1 (with constant folding, a channel shuffle's view then holds the 1).
usage: [SIZE=N] [FOLD=1|constants] [OPSET=N] [STATIC=1] /usr/bin/python3 scripts/torchvision-families.py OUTDIR [MODEL...]"""
import os, sys
import torch, torchvision

DEFAULT = ["mobilenet_v3_small", "efficientnet_b0", "mnasnet0_5", "regnet_x_400mf",
           "shufflenet_v2_x0_5", "densenet121", "resnext50_32x4d", "squeezenet1_1"]
out = sys.argv[1]
names = sys.argv[2:] or DEFAULT
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(2)
for name in names:
    kw = dict(transform_input=True, aux_logits=False, init_weights=True) if name in ("googlenet", "inception_v3") else {}
    size = int(os.environ.get("SIZE", 299 if name == "inception_v3" else 224))
    m = getattr(torchvision.models, name)(weights=None, **kw)
    if kw:
        # Their initialisation (std 0.1) grows activations layer by layer; three passes at
        # momentum 0.1 leave the running variances far below them and the eval-mode outputs
        # at 1e8. A cumulative average makes the statistics those of the passes.
        for bn in m.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.momentum = None
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3, size, size))
    m.eval()
    fold = os.environ.get("FOLD")
    dynamic = {} if os.environ.get("STATIC") == "1" else {"input": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(m, torch.zeros(1, 3, size, size), os.path.join(out, f"{name}.onnx"), input_names=["input"],
                      output_names=["logits"], opset_version=int(os.environ.get("OPSET", 13)), dynamic_axes=dynamic,
                      **({} if fold == "1" else
                         dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=fold == "constants")))
    print(name, "ok", flush=True)
