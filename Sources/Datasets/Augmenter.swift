// Turns one stored image into one normalised view. The random choices of a view are drawn first,
// as `ViewParameters`, from a generator keyed by (seed, epoch, sample, view) alone, then applied; so
// a view is the same bytes whichever thread, batch split or process makes it. Colour operations
// live in Augmenter+Color.swift.

import Compute
import Foundation

/// A crop rectangle in source pixels.
public struct CropRectangle: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// The colour jitter of one view (torchvision `ColorJitter` semantics).
public struct ColorJitterParameters: Equatable, Sendable {
    public enum Operation: Int, Sendable { case brightness, contrast, saturation, hue }
    /// The four operations in the order they are applied.
    public var order: [Operation]
    public var brightness: Float
    public var contrast: Float
    public var saturation: Float
    /// Hue shift as a fraction of the colour wheel.
    public var hue: Float

    public init(order: [Operation], brightness: Float, contrast: Float, saturation: Float, hue: Float) {
        self.order = order
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }
}

/// Every random choice of one view.
public struct ViewParameters: Equatable, Sendable {
    public var crop: CropRectangle
    /// True when ten draws found no crop inside the image and the centred fallback was used.
    public var usedFallbackCrop: Bool
    public var flip: Bool
    /// nil when the jitter was not applied to this view.
    public var jitter: ColorJitterParameters?
    public var grayscale: Bool
    /// Blur standard deviation in pixels, nil when not blurred.
    public var blurSigma: Float?

    public init(
        crop: CropRectangle, usedFallbackCrop: Bool, flip: Bool, jitter: ColorJitterParameters?, grayscale: Bool,
        blurSigma: Float?
    ) {
        self.crop = crop
        self.usedFallbackCrop = usedFallbackCrop
        self.flip = flip
        self.jitter = jitter
        self.grayscale = grayscale
        self.blurSigma = blurSigma
    }
}

/// Makes views of the samples of one dataset. Immutable and `Sendable`: threads share one.
public struct Augmenter: Sendable {
    public let dataset: PackedDataset
    public let configuration: AugmentationConfiguration
    public let seed: UInt64

    public init(dataset: PackedDataset, configuration: AugmentationConfiguration, seed: UInt64) {
        precondition(configuration.mean.count == 3 && configuration.std.count == 3, "Augmenter: 3 means and stds")
        self.dataset = dataset
        self.configuration = configuration
        self.seed = seed
    }

    /// Floats in one view: `3 * S * S`.
    public var viewCount: Int { 3 * configuration.imageSize * configuration.imageSize }

    /// The random choices of view `view` of sample `index` in `epoch`.
    public func parameters(index: Int, epoch: Int, view: Int) -> ViewParameters {
        var generator = SeededGenerator(
            seed: seed, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)),
            UInt64(bitPattern: Int64(view)))
        return Self.drawParameters(
            configuration: configuration, height: dataset.height, width: dataset.width, generator: &generator)
    }

    /// Writes view `view` of sample `index` in `epoch` to `output`: `[3, S, S]` normalised floats.
    public func writeView(index: Int, epoch: Int, view: Int, into output: UnsafeMutablePointer<Float>) {
        render(index: index, parameters: parameters(index: index, epoch: epoch, view: view), into: output)
    }

    /// Applies `parameters` to sample `index`, writing `[3, S, S]` normalised floats to `output`.
    public func render(index: Int, parameters: ViewParameters, into output: UnsafeMutablePointer<Float>) {
        let side = configuration.imageSize
        let crop = parameters.crop
        let rows = ResamplingAxis(start: crop.y, length: crop.height, outputLength: side)
        let columns = ResamplingAxis(start: crop.x, length: crop.width, outputLength: side, mirrored: parameters.flip)
        let source = dataset.pixels(at: index)
        Resampler.resample(
            source: source.baseAddress!, sourceWidth: dataset.width, rows: rows, columns: columns, into: output)

        let planes = ColorPlanes(base: output, count: side * side)
        if let jitter = parameters.jitter {
            for operation in jitter.order {
                switch operation {
                case .brightness: planes.adjustBrightness(jitter.brightness)
                case .contrast: planes.adjustContrast(jitter.contrast)
                case .saturation: planes.adjustSaturation(jitter.saturation)
                case .hue: planes.adjustHue(jitter.hue)
                }
            }
        }
        if parameters.grayscale { planes.makeGrayscale() }
        if let sigma = parameters.blurSigma {
            planes.blur(side: side, kernelSize: configuration.blurKernelSize, sigma: sigma)
        }
        planes.normalize(mean: configuration.mean, std: configuration.std)
    }

    /// Draws in a fixed sequence: crop, flip, jitter (apply, order, four factors), grayscale, blur
    /// (apply, sigma). Every draw is made whether or not its operation is used, so one choice never
    /// shifts the random numbers of another.
    static func drawParameters(
        configuration: AugmentationConfiguration, height: Int, width: Int, generator: inout SeededGenerator
    ) -> ViewParameters {
        guard configuration.mode != .evaluation else {
            let square = min(height, width)
            return ViewParameters(
                crop: CropRectangle(x: (width - square) / 2, y: (height - square) / 2, width: square, height: square),
                usedFallbackCrop: false, flip: false, jitter: nil, grayscale: false, blurSigma: nil)
        }
        let (crop, fallback) = drawCrop(configuration: configuration, height: height, width: width, &generator)
        let flip = generator.uniform() < configuration.flipProbability
        guard configuration.mode == .simclr else {
            return ViewParameters(
                crop: crop, usedFallbackCrop: fallback, flip: flip, jitter: nil, grayscale: false, blurSigma: nil)
        }

        let applyJitter = generator.uniform() < configuration.jitterProbability
        var order: [ColorJitterParameters.Operation] = [.brightness, .contrast, .saturation, .hue]
        for position in stride(from: 3, to: 0, by: -1) {
            order.swapAt(position, integer(below: position + 1, &generator))
        }
        let spread = 0.8 * configuration.strength
        let factors = (0..<3).map { _ in generator.uniform(max(0, 1 - spread), 1 + spread) }
        let hue = generator.uniform(-0.2 * configuration.strength, 0.2 * configuration.strength)
        let jitter = ColorJitterParameters(
            order: order, brightness: factors[0], contrast: factors[1], saturation: factors[2], hue: hue)
        let grayscale = generator.uniform() < configuration.grayscaleProbability
        let applyBlur = generator.uniform() < configuration.blurProbability
        let sigma = generator.uniform(configuration.blurSigma.lowerBound, configuration.blurSigma.upperBound)
        return ViewParameters(
            crop: crop, usedFallbackCrop: fallback, flip: flip, jitter: applyJitter ? jitter : nil,
            grayscale: grayscale, blurSigma: configuration.blur && applyBlur ? sigma : nil)
    }

    /// torchvision's RandomResizedCrop: ten tries at a uniform area fraction and a log-uniform
    /// ratio, rounded to pixels; if none fits, the largest centred crop within the ratio range.
    private static func drawCrop(
        configuration: AugmentationConfiguration, height: Int, width: Int, _ generator: inout SeededGenerator
    ) -> (CropRectangle, Bool) {
        let area = Float(height * width)
        let logLow = log(configuration.cropRatio.lowerBound)
        let logHigh = log(configuration.cropRatio.upperBound)
        for _ in 0..<10 {
            let target =
                area * generator.uniform(configuration.cropScale.lowerBound, configuration.cropScale.upperBound)
            let ratio = exp(generator.uniform(logLow, logHigh))
            let cropWidth = Int((target * ratio).squareRoot().rounded())
            let cropHeight = Int((target / ratio).squareRoot().rounded())
            if cropWidth > 0 && cropWidth <= width && cropHeight > 0 && cropHeight <= height {
                let y = integer(below: height - cropHeight + 1, &generator)
                let x = integer(below: width - cropWidth + 1, &generator)
                return (CropRectangle(x: x, y: y, width: cropWidth, height: cropHeight), false)
            }
        }
        let sourceRatio = Float(width) / Float(height)
        var cropWidth = width
        var cropHeight = height
        if sourceRatio < configuration.cropRatio.lowerBound {
            cropHeight = min(height, Int((Float(width) / configuration.cropRatio.lowerBound).rounded()))
        } else if sourceRatio > configuration.cropRatio.upperBound {
            cropWidth = min(width, Int((Float(height) * configuration.cropRatio.upperBound).rounded()))
        }
        let crop = CropRectangle(
            x: (width - cropWidth) / 2, y: (height - cropHeight) / 2, width: cropWidth, height: cropHeight)
        return (crop, true)
    }

    /// Uniform integer in `0..<bound` by a 32x32-bit multiply (bias below 2^-32 * bound).
    private static func integer(below bound: Int, _ generator: inout SeededGenerator) -> Int {
        Int(((generator.next() >> 32) &* UInt64(bound)) >> 32)
    }
}

extension Augmenter {
    /// Hex checksum of the views of `indices` in `epoch` (`viewsPerSample` each, in batch order):
    /// two processes that print the same digest made the same bytes.
    public func viewsDigest(indices: [Int], epoch: Int, viewsPerSample: Int) throws -> String {
        if let bad = indices.first(where: { $0 < 0 || $0 >= dataset.count }) {
            throw LoaderError.indexOutOfRange(index: bad, count: dataset.count)
        }
        var view = [Float](repeating: 0, count: viewCount)
        var running: UInt64 = 0
        for index in indices {
            for number in 0..<viewsPerSample {
                view.withUnsafeMutableBufferPointer {
                    writeView(index: index, epoch: epoch, view: number, into: $0.baseAddress!)
                }
                running = Checksum.combine(running, view.withUnsafeBytes { Checksum.hash($0) })
            }
        }
        return Checksum.hex(running)
    }
}
