// `simclr bench compute`: times forward + NT-Xent + backward of a SimCLR model on random images,
// the compute part of a training step, and prints images per second. scripts/bench-compute.sh
// runs it next to the same measurement in PyTorch.

import Compute
import Foundation

enum BenchCommand: Command {
    static let name = "bench"
    static let summary = "time the compute of a training step (forward, loss, backward)"
    static let usage = """
        Usage: simclr bench [--arch resnet18|resnet34|resnet50] [--width N] [--batch-size N]
                            [--image-size N] [--threads N] [--steps N] [--warmup N] [--json]

        Times forward + NT-Xent + backward of encoder and projection head on random images,
        `--batch-size` samples (twice as many views) per step. Defaults: resnet18, width 16,
        batch 128, 32 pixels, all cores, 10 timed steps after 2 warm-up steps.
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json"])
        let depth = try ResNetDepth(rawValue: arguments.string("arch", default: "resnet18")).orThrow(
            UsageError("--arch must be one of resnet18, resnet34, resnet50"))
        let width = try arguments.int("width") ?? 16
        let batch = try arguments.int("batch-size") ?? 128
        let size = try arguments.int("image-size") ?? 32
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        let steps = try arguments.int("steps") ?? 10
        let warmup = try arguments.int("warmup") ?? 2
        let json = arguments.flag("json")
        try arguments.finish()
        guard width > 0, batch > 0, size >= 8, threads > 0, steps > 0, warmup >= 0 else {
            throw UsageError("sizes and counts must be positive (image size at least 8)")
        }

        let model = SimCLRModel(
            encoder: ResNetConfiguration(depth: depth, stem: size >= 128 ? .imagenet : .cifar, width: width),
            head: ProjectionHeadConfiguration(), seed: 1)
        let context = ComputeContext(threads: threads)
        let normalize = L2Normalize()
        let loss = ContrastiveLoss(temperature: 0.5)
        var generator = SeededGenerator(seed: 2)
        let views = 2 * batch
        let x = Tensor(
            (0..<(views * 3 * size * size)).map { _ in generator.normal() }, shape: Shape(views, 3, size, size))

        var forwardSeconds: [Double] = []
        var backwardSeconds: [Double] = []
        for step in 0..<(warmup + steps) {
            let start = DispatchTime.now().uptimeNanoseconds
            let u = normalize.forward(model.forward(x, context: context), context: context)
            _ = loss.forward(u, rows: 0..<views)
            let middle = DispatchTime.now().uptimeNanoseconds
            model.store.zeroGradients()
            model.backward(normalize.backward(loss.backward(), context: context), context: context)
            let end = DispatchTime.now().uptimeNanoseconds
            if step >= warmup {
                forwardSeconds.append(Double(middle - start) / 1e9)
                backwardSeconds.append(Double(end - middle) / 1e9)
            }
        }

        let stepSeconds = zip(forwardSeconds, backwardSeconds).map { $0 + $1 }.sorted()
        let median = stepSeconds[stepSeconds.count / 2]
        let imagesPerSecond = Double(views) / median
        let figures: [String: Any] = [
            "arch": depth.rawValue, "width": width, "batch_size": batch, "views": views, "image_size": size,
            "threads": threads, "parameters": model.store.count,
            "step_ms_median": median * 1000, "forward_ms_median": forwardSeconds.sorted()[steps / 2] * 1000,
            "backward_ms_median": backwardSeconds.sorted()[steps / 2] * 1000,
            "images_per_second": imagesPerSecond,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format:
                        "%@ width %d, %d views of %dpx, %d threads: %.1f images/s (step %.0f ms: forward %.0f, backward %.0f)",
                    depth.rawValue, width, views, size, threads, imagesPerSecond, median * 1000,
                    forwardSeconds.sorted()[steps / 2] * 1000, backwardSeconds.sorted()[steps / 2] * 1000))
        }
    }
}

extension Optional {
    /// The value, or `error` thrown when there is none.
    func orThrow(_ error: @autoclosure () -> Error) throws -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}
