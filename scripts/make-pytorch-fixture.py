#!/usr/bin/env python3
"""Writes Tests/ComputeTests/Fixtures/resnet18-w4-pytorch.safetensors: the forward and backward of a
small SimCLR model (ResNet-18, CIFAR stem, width 4, two-layer head 32-32-16, NT-Xent with
temperature 0.5) computed by PyTorch, for the Swift tests to match. Needs only `pip install torch`.

The model mirrors torchvision's ResNet-18 names (conv1, bn1, layer1.0.conv1, ..., downsample.0/1)
with the CIFAR stem (3x3 stride-1 first convolution, no max-pool) and a width multiplier, which
torchvision's constructor does not offer for basic blocks. The loss treats rows 2i and 2i+1 as the
two views of sample i, as the Swift code does.

Usage: python3 scripts/make-pytorch-fixture.py [OUTPUT]
"""
import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTH, SAMPLES, SIZE, TEMPERATURE = 4, 4, 16, 0.5
HIDDEN, OUT = 32, 16


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class Encoder(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        channels = width
        for stage in range(4):
            planes = width << stage
            blocks = []
            for block in range(2):
                blocks.append(BasicBlock(channels, planes, 2 if stage > 0 and block == 0 else 1))
                channels = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.features = channels

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in range(4):
            x = getattr(self, f"layer{stage + 1}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def nt_xent(z, temperature):
    u = F.normalize(z, dim=1)
    similarities = u @ u.t() / temperature
    rows = torch.arange(z.shape[0])
    similarities = similarities.masked_fill(torch.eye(z.shape[0], dtype=torch.bool), float("-inf"))
    return F.cross_entropy(similarities, rows ^ 1)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else "Tests/ComputeTests/Fixtures/resnet18-w4-pytorch.safetensors"
    torch.manual_seed(20201)
    encoder = Encoder(WIDTH)
    head = nn.Sequential(
        nn.Linear(encoder.features, HIDDEN, bias=False), nn.BatchNorm1d(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    model = nn.ModuleDict({"encoder": encoder, "head": head})
    # Non-trivial batch-norm affine parameters, so the test sees them at work.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    model.train()

    def name(key):
        return key[len("encoder."):] if key.startswith("encoder.") else key

    tensors = {}
    for key, value in model.state_dict().items():
        if "num_batches_tracked" not in key:
            tensors["param." + name(key)] = value.clone()

    x = torch.randn(2 * SAMPLES, 3, SIZE, SIZE)
    features = encoder(x)
    z = head(features)
    loss = nt_xent(z, TEMPERATURE)
    loss.backward()

    tensors["input"] = x
    tensors["features"] = features
    tensors["projections"] = z
    tensors["loss"] = loss.reshape(1)
    for key, parameter in model.named_parameters():
        tensors["grad." + name(key)] = parameter.grad
    for key, value in model.state_dict().items():
        if "running" in key:
            tensors["after." + name(key)] = value
    write_safetensors(output, tensors)
    print(f"wrote {output}: {len(tensors)} tensors, loss {loss.item():.6f}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
