#!/usr/bin/env python3
"""Loads an encoder written by `simclr export` into torchvision's ResNet, the way the README shows,
and prints which keys were missing or unexpected. Exits non-zero unless only `fc` keys are missing.

Usage: python3 scripts/check-export.py ENCODER.safetensors [resnet18|resnet34|resnet50]
Needs: pip install torch torchvision safetensors
"""
import sys

import torch
import torchvision
from safetensors.torch import load_file

path = sys.argv[1]
arch = sys.argv[2] if len(sys.argv) > 2 else "resnet18"
state = load_file(path)
width = state["conv1.weight"].shape[0]
model = getattr(torchvision.models, arch)()
if width != 64:
    sys.exit(f"{path}: width {width}; torchvision's constructors build width 64 only")
model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # CIFAR stem
model.maxpool = torch.nn.Identity()
result = model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=False)
print("missing:", result.missing_keys)
print("unexpected:", result.unexpected_keys)
model.eval()
with torch.no_grad():
    features = torch.nn.Sequential(*list(model.children())[:-1])(torch.zeros(2, 3, 32, 32))
print("features:", tuple(features.flatten(1).shape))
sys.exit(0 if set(result.missing_keys) == {"fc.weight", "fc.bias"} and not result.unexpected_keys else 1)
