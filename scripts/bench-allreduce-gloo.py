"""Bus bandwidth of PyTorch's Gloo all-reduce between processes on this machine, the figure
`simclr bench-allreduce` prints for our ring: W processes, float32 buffers of each size, median of
N timed iterations after two warm-ups, bus bandwidth = 2(W-1)/W x bytes / time.

Usage: python scripts/bench-allreduce-gloo.py [--workers W] [--sizes-mb 1,4,16,64] [--iterations N] [--json]
"""
import argparse
import json
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank, workers, port, sizes, iterations, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=workers)
    results = []
    for megabytes in sizes:
        tensor = torch.ones(megabytes * (1 << 20) // 4, dtype=torch.float32)
        times = []
        for iteration in range(iterations + 2):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(tensor)
            elapsed = time.perf_counter() - start
            if iteration >= 2:
                times.append(elapsed)
        # The slowest rank decides when an all-reduce is over.
        slowest = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        median = sorted(slowest.tolist())[len(times) // 2]
        bus = 2 * (workers - 1) / workers * tensor.numel() * 4 / median / 1e9
        results.append({"megabytes": megabytes, "median_ms": median * 1000, "bus_gb_per_s": bus})
    if rank == 0:
        queue.put(results)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes-mb", default="1,4,16,64")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes_mb.split(",")]
    context = mp.get_context("spawn")
    queue = context.Queue()
    port = free_port()
    processes = [
        context.Process(target=rank_main, args=(rank, args.workers, port, sizes, args.iterations, queue))
        for rank in range(args.workers)
    ]
    for p in processes:
        p.start()
    results = queue.get()
    for p in processes:
        p.join()
    if args.json:
        print(json.dumps({"workers": args.workers, "transport": "gloo-tcp", "results": results}))
    else:
        print(f"gloo: ranks {args.workers}, {args.iterations} timed iterations each")
        print("      MB    median ms       bus GB/s")
        for r in results:
            print("%8d %12.2f %14.3f" % (r["megabytes"], r["median_ms"], r["bus_gb_per_s"]))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
