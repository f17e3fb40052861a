"""Exports CNNs whose activations are not ReLU (random weights, not trained), 3x112x112, BN
running statistics set by a few train-mode passes on random images, BN kept
(training=PRESERVE, no constant folding), dynamic batch: fixtures for scripts/families.sh,
which runs sharpq's whole convert path on each. Accuracy means nothing.
  iresnet18_prelu   insightface's IResNet-18 layout (BN-Conv-BN-PReLU-Conv-BN blocks, a
                    PReLU slope per channel, Linear to a 512-d embedding and BatchNorm1d)
  resnet18_mish     torchvision's resnet18 with every ReLU a Mish (opset 13: exported as
                    x * tanh(softplus(x)))
  resnet18_gelu     the same with GELU (exported with Erf)
  mobilenet_v2_elu  torchvision's mobilenet_v2 with every ReLU6 an ELU
  mobilenet_v2_selu the same with SELU
Needs torch and torchvision (Debian: python3-torchvision); never a dependency of sharpq.
usage: /usr/bin/python3 scripts/activation-families.py OUTDIR [MODEL...]"""
import os, sys
import torch, torchvision
from torch import nn


class IBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.body(x) + (x if self.down is None else self.down(x))


class IResNet18(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        blocks, cin = [], 64
        for cout in (64, 128, 256, 512):
            blocks += [IBasicBlock(cin, cout, 2), IBasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        side = size // 16
        self.fc = nn.Linear(512 * side * side, 512)
        self.features = nn.BatchNorm1d(512)

    def forward(self, x):
        x = self.bn(self.blocks(self.stem(x)))
        return self.features(self.fc(torch.flatten(x, 1)))


def swap(module, old, make):
    for name, child in module.named_children():
        if isinstance(child, old):
            setattr(module, name, make())
        else:
            swap(child, old, make)
    return module


BUILD = {
    "iresnet18_prelu": lambda: IResNet18(112),
    "resnet18_mish": lambda: swap(torchvision.models.resnet18(weights=None), nn.ReLU, nn.Mish),
    "resnet18_gelu": lambda: swap(torchvision.models.resnet18(weights=None), nn.ReLU, nn.GELU),
    "mobilenet_v2_elu": lambda: swap(torchvision.models.mobilenet_v2(weights=None), nn.ReLU6, nn.ELU),
    "mobilenet_v2_selu": lambda: swap(torchvision.models.mobilenet_v2(weights=None), nn.ReLU6, nn.SELU),
}

out = sys.argv[1]
names = sys.argv[2:] or list(BUILD)
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(2)
for name in names:
    m = BUILD[name]()
    for bn in m.modules():
        if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn.momentum = None  # running statistics = those of the passes below
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3, 112, 112))
    m.eval()
    torch.onnx.export(m, torch.zeros(1, 3, 112, 112), os.path.join(out, f"{name}.onnx"), input_names=["input"],
                      output_names=["logits"], opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    print(name, "ok", flush=True)
