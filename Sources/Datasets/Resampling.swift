// Separable resampling with a triangle (bilinear) filter that widens when shrinking, so a large
// crop scaled down is averaged rather than aliased and a small crop scaled up is plain bilinear
// interpolation. Used by the augmenter for its crops and by `prepare` to resize images.

import Foundation

/// The taps of one axis: output position `o` reads `count` source positions from `first[o]` with
/// the weights `weights[o * maxTaps ..< o * maxTaps + count[o]]`, which sum to 1.
struct ResamplingAxis {
    var first: [Int32]
    var count: [Int32]
    var weights: [Float]
    var maxTaps: Int

    /// - Parameters:
    ///   - start, length: the source interval `[start, start + length)` (pixels) mapped onto the output.
    ///   - outputLength: number of output positions.
    ///   - mirrored: output position `o` takes the taps of `outputLength - 1 - o` (a horizontal flip).
    init(start: Int, length: Int, outputLength: Int, mirrored: Bool = false) {
        precondition(length > 0 && outputLength > 0, "ResamplingAxis: empty interval")
        let scale = Double(length) / Double(outputLength)
        let radius = max(scale, 1)
        maxTaps = Int((2 * radius).rounded(.up)) + 2
        first = [Int32](repeating: 0, count: outputLength)
        count = [Int32](repeating: 0, count: outputLength)
        weights = [Float](repeating: 0, count: outputLength * maxTaps)
        for position in 0..<outputLength {
            // Pixel centres sit at i + 0.5; taps outside the interval are dropped and the rest renormalised.
            let center = Double(start) + (Double(position) + 0.5) * scale
            let low = max(start, Int((center - radius).rounded(.down)))
            let high = min(start + length, Int((center + radius).rounded(.up)) + 1)
            let slot = mirrored ? outputLength - 1 - position : position
            var firstTap = -1
            var taps = 0
            var lastNonZero = 0
            var total = 0.0
            for source in low..<high {
                let weight = max(0, 1 - abs((Double(source) + 0.5 - center) / radius))
                if weight == 0 && firstTap < 0 { continue }
                if firstTap < 0 { firstTap = source }
                weights[slot * maxTaps + taps] = Float(weight)
                taps += 1
                if weight > 0 { lastNonZero = taps }
                total += weight
            }
            if total == 0 {
                // Only when the centre sits exactly on an interval edge with a zero weight everywhere.
                firstTap = min(max(Int(center), start), start + length - 1)
                weights[slot * maxTaps] = 1
                (lastNonZero, total) = (1, 1)
            }
            first[slot] = Int32(firstTap)
            count[slot] = Int32(lastNonZero)
            for tap in 0..<lastNonZero {
                weights[slot * maxTaps + tap] = Float(Double(weights[slot * maxTaps + tap]) / total)
            }
        }
    }

    /// The smallest and one past the largest source position any output reads.
    var sourceSpan: Range<Int> {
        var low = Int.max
        var high = Int.min
        for position in first.indices {
            low = min(low, Int(first[position]))
            high = max(high, Int(first[position] + count[position]))
        }
        return low..<high
    }
}

enum Resampler {
    /// Resamples a region of an RGB uint8 image into float planes in [0, 1].
    /// - Parameters:
    ///   - source: `[sourceHeight, sourceWidth, 3]` uint8.
    ///   - rows, columns: the axes (their intervals lie inside the image).
    ///   - output: `[3, rows.outputs, columns.outputs]` floats, values scaled by 1/255.
    static func resample(
        source: UnsafePointer<UInt8>, sourceWidth: Int, rows: ResamplingAxis, columns: ResamplingAxis,
        into output: UnsafeMutablePointer<Float>
    ) {
        let outputHeight = rows.first.count
        let outputWidth = columns.first.count
        let span = rows.sourceSpan
        let plane = outputHeight * outputWidth
        // Horizontal pass over the rows any output row reads: `[span, outputWidth, 3]`.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: span.count * outputWidth * 3) { horizontal in
            columns.weights.withUnsafeBufferPointer { weights in
                for (rowOffset, row) in span.enumerated() {
                    let sourceRow = source + row * sourceWidth * 3
                    let target = horizontal.baseAddress! + rowOffset * outputWidth * 3
                    for x in 0..<outputWidth {
                        let first = Int(columns.first[x])
                        let taps = Int(columns.count[x])
                        var red: Float = 0
                        var green: Float = 0
                        var blue: Float = 0
                        for tap in 0..<taps {
                            let weight = weights[x * columns.maxTaps + tap]
                            let pixel = sourceRow + (first + tap) * 3
                            red += weight * Float(pixel[0])
                            green += weight * Float(pixel[1])
                            blue += weight * Float(pixel[2])
                        }
                        target[3 * x] = red
                        target[3 * x + 1] = green
                        target[3 * x + 2] = blue
                    }
                }
            }
            // Vertical pass into planes, with the 1/255 scale folded in.
            rows.weights.withUnsafeBufferPointer { weights in
                for y in 0..<outputHeight {
                    let first = Int(rows.first[y]) - span.lowerBound
                    let taps = Int(rows.count[y])
                    let red = output + y * outputWidth
                    let green = red + plane
                    let blue = green + plane
                    for x in 0..<outputWidth {
                        var sums: (Float, Float, Float) = (0, 0, 0)
                        for tap in 0..<taps {
                            let weight = weights[y * rows.maxTaps + tap] * (1 / 255)
                            let pixel = horizontal.baseAddress! + ((first + tap) * outputWidth + x) * 3
                            sums.0 += weight * pixel[0]
                            sums.1 += weight * pixel[1]
                            sums.2 += weight * pixel[2]
                        }
                        red[x] = sums.0
                        green[x] = sums.1
                        blue[x] = sums.2
                    }
                }
            }
        }
    }

    /// Resizes an RGB image so its shorter side is `side`, then keeps the centred `side x side` square.
    static func resizeAndCenterCrop(_ image: RGBImage, side: Int) -> [UInt8] {
        if image.width == side && image.height == side { return image.pixels }
        let (rows, columns) = centerSquareAxes(height: image.height, width: image.width, side: side)
        var planes = [Float](repeating: 0, count: 3 * side * side)
        image.pixels.withUnsafeBufferPointer { pixels in
            planes.withUnsafeMutableBufferPointer { output in
                resample(
                    source: pixels.baseAddress!, sourceWidth: image.width, rows: rows, columns: columns,
                    into: output.baseAddress!)
            }
        }
        var result = [UInt8](repeating: 0, count: 3 * side * side)
        for index in 0..<(side * side) {
            for channel in 0..<3 {
                let value = planes[channel * side * side + index] * 255
                result[index * 3 + channel] = UInt8(min(255, max(0, value.rounded())))
            }
        }
        return result
    }

    /// Axes mapping the centred square of side `min(height, width)` onto `side x side`.
    static func centerSquareAxes(height: Int, width: Int, side: Int) -> (ResamplingAxis, ResamplingAxis) {
        let square = min(height, width)
        let rows = ResamplingAxis(start: (height - square) / 2, length: square, outputLength: side)
        let columns = ResamplingAxis(start: (width - square) / 2, length: square, outputLength: side)
        return (rows, columns)
    }
}
