#!/usr/bin/env python3
"""The PyTorch side of scripts/bench-recipe.sh: the reference recipe's full training step on the
CIFAR-10 JPEG folder, data included, as a PyTorch user would write it. ResNet-18 (CIFAR stem,
width 16) with the 128-128-128 head, batch 256 (512 views), NT-Xent at temperature 0.5, SGD with
momentum 0.9, torchvision's SimCLR augmentations (crop, flip, jitter s=0.5, grayscale) in a
DataLoader with worker processes. Prints views per second over the timed steps.

Usage: python3 scripts/bench-recipe-pytorch.py FOLDER [--steps N] [--warmup N] [--loader-workers N] [--json]
"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

fixture = import_module("make-pytorch-fixture")


class TwoViews:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image):
        return torch.stack([self.transform(image), self.transform(image)])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", help="the train folder of the CIFAR-10 JPEG copy (one subfolder per class)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--loader-workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    s = 0.5
    augment = transforms.Compose([
        transforms.RandomResizedCrop(32, scale=(0.08, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ])
    dataset = torchvision.datasets.ImageFolder(args.folder, transform=TwoViews(augment))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=256, shuffle=True, drop_last=True, num_workers=args.loader_workers,
        persistent_workers=args.loader_workers > 0)

    encoder = fixture.Encoder(16)
    head = torch.nn.Sequential(
        torch.nn.Linear(encoder.features, 128, bias=False), torch.nn.BatchNorm1d(128), torch.nn.ReLU(),
        torch.nn.Linear(128, 128))
    parameters = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(parameters, lr=0.12, momentum=0.9, weight_decay=5e-4)

    times = []
    iterator = iter(loader)
    start = time.perf_counter()
    for step in range(args.warmup + args.steps):
        views, _ = next(iterator)
        x = views.view(-1, 3, 32, 32)
        loss = fixture.nt_xent(head(encoder(x)), 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        end = time.perf_counter()
        if step >= args.warmup:
            times.append(end - start)
        start = end

    views_per_second = 512 * len(times) / sum(times)
    if args.json:
        print(json.dumps({"images_per_second": views_per_second, "steps": len(times)}))
    else:
        print(f"pytorch recipe: {views_per_second:.1f} views/s over {len(times)} steps (data included)")


if __name__ == "__main__":
    main()
