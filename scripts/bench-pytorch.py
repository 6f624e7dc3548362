#!/usr/bin/env python3
"""The PyTorch side of scripts/bench-compute.sh: forward + NT-Xent + backward of the same SimCLR
model as `simclr bench` (ResNet with the CIFAR stem and a width multiplier, two-layer 128-d head,
temperature 0.5) on random images, printed in the same form. Needs `pip install torch`.

Usage: python3 scripts/bench-pytorch.py [--width N] [--batch-size N] [--image-size N] [--threads N]
                                        [--steps N] [--warmup N] [--json]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

fixture = import_module("make-pytorch-fixture")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    encoder = fixture.Encoder(args.width)
    head = torch.nn.Sequential(
        torch.nn.Linear(encoder.features, 128, bias=False), torch.nn.BatchNorm1d(128), torch.nn.ReLU(),
        torch.nn.Linear(128, 128))
    parameters = list(encoder.parameters()) + list(head.parameters())
    views = 2 * args.batch_size
    x = torch.randn(views, 3, args.image_size, args.image_size)

    forward, backward = [], []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        loss = fixture.nt_xent(head(encoder(x)), 0.5)
        middle = time.perf_counter()
        for p in parameters:
            p.grad = None
        loss.backward()
        end = time.perf_counter()
        if step >= args.warmup:
            forward.append(middle - start)
            backward.append(end - middle)

    steps = sorted(f + b for f, b in zip(forward, backward))
    median = steps[len(steps) // 2]
    figures = {
        "arch": "resnet18", "width": args.width, "views": views, "image_size": args.image_size,
        "threads": args.threads, "step_ms_median": median * 1000,
        "forward_ms_median": sorted(forward)[len(forward) // 2] * 1000,
        "backward_ms_median": sorted(backward)[len(backward) // 2] * 1000,
        "images_per_second": views / median, "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        print(f"pytorch resnet18 width {args.width}, {views} views of {args.image_size}px, {args.threads} threads: "
              f"{views / median:.1f} images/s (step {median * 1000:.0f} ms: forward {figures['forward_ms_median']:.0f}, "
              f"backward {figures['backward_ms_median']:.0f})")


if __name__ == "__main__":
    main()
