"""Exports torchvision models of the families around ResNet and MobileNet (random weights, not
trained), 3x224x224, BN running statistics set by a few train-mode passes on random images,
BN kept (training=PRESERVE, no constant folding), opset 13, dynamic batch: the fixtures of
scripts/families.sh, which runs sharpq's whole convert path on each. Accuracy means nothing.
Needs torch and torchvision (Debian: python3-torchvision); never a dependency of sharpq.
usage: /usr/bin/python3 scripts/torchvision-families.py OUTDIR [MODEL...]"""
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
    m = getattr(torchvision.models, name)(weights=None)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3, 224, 224))
    m.eval()
    torch.onnx.export(m, torch.zeros(1, 3, 224, 224), os.path.join(out, f"{name}.onnx"), input_names=["input"],
                      output_names=["logits"], opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    print(name, "ok", flush=True)
