// The augmentations against their specification: the distribution of random choices over many
// draws (with binomial bounds of 5 standard deviations, so a correct implementation fails about
// once in 1.7 million runs per check), and the pixel operations on images with known answers.

import Datasets
import Foundation
import Testing

@Suite struct AugmentationTests {
    /// Bound for an observed rate of an event with probability `p` over `n` draws: 5 sigma.
    func binomialBound(_ p: Double, _ n: Int) -> Double { 5 * (p * (1 - p) / Double(n)).squareRoot() }

    /// A 400x400 single-image dataset: large enough that rounding crops to whole pixels moves
    /// an area fraction by under 1% and a log-ratio by under 0.011.
    func largeDataset(_ folder: ScratchFolder) throws -> PackedDataset {
        try makeDataset(
            at: folder.file("large.simclr"), height: 400, width: 400,
            images: [testImage(width: 400, height: 400, seed: 0)])
    }

    @Test(arguments: [Float(0.5), 1.0])
    func randomChoicesFollowTheSpecification(strength: Float) throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        var configuration = AugmentationConfiguration.simclr(imageSize: 32, strength: strength)
        configuration.blur = true
        let augmenter = Augmenter(dataset: try largeDataset(folder), configuration: configuration, seed: 42)
        let draws = 20_000
        var flips = 0
        var grays = 0
        var jitters = 0
        var blurs = 0
        var fallbacks = 0
        var firstOperation = [Int](repeating: 0, count: 4)
        var areas: [Double] = []
        var logRatios: [Double] = []
        var factors: [Float] = []
        var hues: [Float] = []
        var sigmas: [Float] = []
        for draw in 0..<draws {
            let parameters = augmenter.parameters(index: 0, epoch: draw / 2, view: draw % 2)
            if parameters.flip { flips += 1 }
            if parameters.grayscale { grays += 1 }
            if parameters.usedFallbackCrop {
                fallbacks += 1
            } else {
                areas.append(Double(parameters.crop.width * parameters.crop.height) / 160_000)
                logRatios.append(log(Double(parameters.crop.width) / Double(parameters.crop.height)))
            }
            if let jitter = parameters.jitter {
                jitters += 1
                firstOperation[jitter.order[0].rawValue] += 1
                #expect(Set(jitter.order.map(\.rawValue)) == [0, 1, 2, 3])
                factors += [jitter.brightness, jitter.contrast, jitter.saturation]
                hues.append(jitter.hue)
            }
            if let sigma = parameters.blurSigma {
                blurs += 1
                sigmas.append(sigma)
            }
        }
        #expect(abs(Double(flips) / Double(draws) - 0.5) < binomialBound(0.5, draws))
        #expect(abs(Double(grays) / Double(draws) - 0.2) < binomialBound(0.2, draws))
        #expect(abs(Double(jitters) / Double(draws) - 0.8) < binomialBound(0.8, draws))
        #expect(abs(Double(blurs) / Double(draws) - 0.5) < binomialBound(0.5, draws))
        for count in firstOperation {
            #expect(abs(Double(count) / Double(jitters) - 0.25) < binomialBound(0.25, jitters))
        }

        // Crops: area fraction in [0.08, 1] and log-ratio in [log 3/4, log 4/3], up to pixel rounding,
        // with both ends of each range reached; the log-ratio is symmetric about 0 (mean within 5 SE).
        #expect(Double(fallbacks) / Double(draws) < 0.01)
        #expect(areas.min()! >= 0.08 * 0.99 && areas.max()! <= 1)
        #expect(areas.min()! < 0.1 && areas.max()! > 0.9)
        let logBound = log(4.0 / 3.0)
        #expect(logRatios.min()! >= -logBound - 0.011 && logRatios.max()! <= logBound + 0.011)
        #expect(logRatios.min()! < -logBound + 0.02 && logRatios.max()! > logBound - 0.02)
        let meanLogRatio = logRatios.reduce(0, +) / Double(logRatios.count)
        #expect(abs(meanLogRatio) < 5 * 0.166 / Double(logRatios.count).squareRoot())

        // Jitter factors in [1 - 0.8 s, 1 + 0.8 s], hue in [-0.2 s, 0.2 s], sigma in [0.1, 2]; with
        // thousands of uniform draws each end is approached within 1% of the range.
        let low = max(0, 1 - 0.8 * strength)
        let high = 1 + 0.8 * strength
        #expect(factors.min()! >= low && factors.max()! <= high)
        #expect(factors.min()! < low + 0.01 * (high - low) && factors.max()! > high - 0.01 * (high - low))
        #expect(hues.min()! >= -0.2 * strength && hues.max()! <= 0.2 * strength)
        #expect(hues.min()! < -0.19 * strength && hues.max()! > 0.19 * strength)
        #expect(sigmas.min()! >= 0.1 && sigmas.max()! <= 2.0 && sigmas.min()! < 0.12 && sigmas.max()! > 1.98)
    }

    @Test func modesDrawOnlyTheirOperations() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let dataset = try largeDataset(folder)
        let plain = Augmenter(dataset: dataset, configuration: .simclr(imageSize: 32), seed: 1)
        let cropFlip = Augmenter(dataset: dataset, configuration: .cropAndFlip(imageSize: 32), seed: 1)
        let evaluation = Augmenter(dataset: dataset, configuration: .evaluation(imageSize: 32), seed: 1)
        #expect(
            !AugmentationConfiguration.simclr(imageSize: 32).blur
                && AugmentationConfiguration.simclr(imageSize: 96).blur)
        for epoch in 0..<200 {
            #expect(plain.parameters(index: 0, epoch: epoch, view: 0).blurSigma == nil)  // blur off under 64 px
            let random = cropFlip.parameters(index: 0, epoch: epoch, view: 1)
            #expect(random.jitter == nil && !random.grayscale && random.blurSigma == nil)
            // Crop and flip draw the same numbers as in the full recipe.
            #expect(random.crop == plain.parameters(index: 0, epoch: epoch, view: 1).crop)
            let fixed = evaluation.parameters(index: 0, epoch: epoch, view: 1)
            #expect(
                fixed.crop == CropRectangle(x: 0, y: 0, width: 400, height: 400) && !fixed.flip && fixed.jitter == nil)
        }
    }

    /// Renders `parameters` with mean 0 and std 1, so the output is the view in [0, 1]: `[3, side, side]`.
    func render(_ dataset: PackedDataset, _ parameters: ViewParameters, side: Int) -> [Float] {
        var configuration = AugmentationConfiguration.simclr(imageSize: side)
        configuration.mean = [0, 0, 0]
        configuration.std = [1, 1, 1]
        let augmenter = Augmenter(dataset: dataset, configuration: configuration, seed: 0)
        var output = [Float](repeating: .nan, count: augmenter.viewCount)
        output.withUnsafeMutableBufferPointer {
            augmenter.render(index: 0, parameters: parameters, into: $0.baseAddress!)
        }
        return output
    }

    @Test func colourOperationsMatchTheirDefinitions() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        // A 1x1 crop of each pixel onto a 1x1 output isolates the colour maths (tolerance 1e-5:
        // a few float roundings of values in [0, 1]).
        let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 30, 60, 90]
        let dataset = try makeDataset(at: folder.file("c.simclr"), height: 1, width: 6, images: [pixels])
        func pixel(_ x: Int, _ jitter: ColorJitterParameters?, grayscale: Bool = false) -> [Float] {
            let parameters = ViewParameters(
                crop: CropRectangle(x: x, y: 0, width: 1, height: 1), usedFallbackCrop: false, flip: false,
                jitter: jitter, grayscale: grayscale, blurSigma: nil)
            return render(dataset, parameters, side: 1)
        }
        func jitter(_ operation: ColorJitterParameters.Operation, _ value: Float) -> ColorJitterParameters {
            ColorJitterParameters(
                order: [operation], brightness: operation == .brightness ? value : 1,
                contrast: operation == .contrast ? value : 1, saturation: operation == .saturation ? value : 1,
                hue: operation == .hue ? value : 0)
        }
        func close(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 } }

        func rgb(_ red: Float, _ green: Float, _ blue: Float) -> [Float] { [red / 255, green / 255, blue / 255] }
        let white: [Float] = [1, 1, 1]
        let green: [Float] = [0, 1, 0]
        let blue: [Float] = [0, 0, 1]

        #expect(close(pixel(5, nil), rgb(30, 60, 90)))
        #expect(close(pixel(5, jitter(.brightness, 1.5)), rgb(45, 90, 135)))
        #expect(close(pixel(4, jitter(.brightness, 1.5)), white))  // clamped
        // Hue: a third of the wheel takes red to green and green to blue.
        #expect(close(pixel(0, jitter(.hue, 1.0 / 3)), green))
        #expect(close(pixel(1, jitter(.hue, 1.0 / 3)), blue))
        #expect(close(pixel(3, jitter(.hue, 0.3)), rgb(128, 128, 128)))  // gray has no hue
        // Saturation 0 and grayscale both give the luma 0.2989 R + 0.587 G + 0.114 B.
        let luma: Float = 0.2989 * 30 + 0.587 * 60 + 0.114 * 90
        #expect(close(pixel(5, jitter(.saturation, 0)), rgb(luma, luma, luma)))
        #expect(close(pixel(5, nil, grayscale: true), rgb(luma, luma, luma)))
        // Contrast on a one-pixel view blends towards that pixel's own luma.
        let blended = rgb((30 + luma) / 2, (60 + luma) / 2, (90 + luma) / 2)
        #expect(close(pixel(5, jitter(.contrast, 0.5)), blended))
    }

    @Test func flipMirrorsAndEvaluationKeepsTheImage() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let side = 12
        let image = testImage(width: side, height: side, seed: 9)
        let dataset = try makeDataset(at: folder.file("f.simclr"), height: side, width: side, images: [image])
        var parameters = ViewParameters(
            crop: CropRectangle(x: 0, y: 0, width: side, height: side), usedFallbackCrop: false, flip: false,
            jitter: nil, grayscale: false, blurSigma: nil)
        let straight = render(dataset, parameters, side: side)
        parameters.flip = true
        let mirrored = render(dataset, parameters, side: side)
        for channel in 0..<3 {
            for y in 0..<side {
                for x in 0..<side {
                    let index = (channel * side + y) * side + x
                    // Scaling by 1/255 rather than dividing: within one float rounding (1e-6).
                    #expect(abs(straight[index] - Float(image[(y * side + x) * 3 + channel]) / 255) < 1e-6)
                    #expect(mirrored[index] == straight[(channel * side + y) * side + side - 1 - x])
                }
            }
        }
        // Evaluation mode with the default normalisation: (x - mean) / std, tolerance 1e-5.
        let evaluation = Augmenter(dataset: dataset, configuration: .evaluation(imageSize: side), seed: 3)
        var output = [Float](repeating: 0, count: evaluation.viewCount)
        output.withUnsafeMutableBufferPointer {
            evaluation.writeView(index: 0, epoch: 5, view: 1, into: $0.baseAddress!)
        }
        let configuration = AugmentationConfiguration.evaluation(imageSize: side)
        for index in 0..<output.count {
            let channel = index / (side * side)
            let expected = (straight[index] - configuration.mean[channel]) / configuration.std[channel]
            #expect(abs(output[index] - expected) < 1e-5)
        }
    }

    @Test func blurSmoothsButKeepsAFlatImageFlat() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let side = 64
        let flat = [UInt8](repeating: 77, count: side * side * 3)
        let dataset = try makeDataset(at: folder.file("b.simclr"), height: side, width: side, images: [flat])
        let parameters = ViewParameters(
            crop: CropRectangle(x: 0, y: 0, width: side, height: side), usedFallbackCrop: false, flip: false,
            jitter: nil, grayscale: false, blurSigma: 2)
        // The kernel sums to 1 and borders reflect, so a flat image stays flat (tolerance 1e-5).
        #expect(render(dataset, parameters, side: side).allSatisfy { abs($0 - 77 / 255) < 1e-5 })
    }
}
