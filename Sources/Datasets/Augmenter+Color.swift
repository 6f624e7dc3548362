// The per-pixel colour operations of the augmenter, on three float planes in [0, 1]: torchvision's
// brightness, contrast, saturation and hue adjustments (each clamped to [0, 1]), grayscale,
// Gaussian blur with reflected borders, and the final normalisation.

import Foundation

/// Three consecutive planes `[3, count]` (R, G, B) of one view, modified in place.
struct ColorPlanes {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    var red: UnsafeMutablePointer<Float> { base }
    var green: UnsafeMutablePointer<Float> { base + count }
    var blue: UnsafeMutablePointer<Float> { base + 2 * count }

    /// ITU-R 601 luma, torchvision's grayscale weights.
    @inline(__always) private static func luma(_ r: Float, _ g: Float, _ b: Float) -> Float {
        0.2989 * r + 0.587 * g + 0.114 * b
    }

    @inline(__always) private static func clamp(_ value: Float) -> Float { min(1, max(0, value)) }

    func adjustBrightness(_ factor: Float) {
        for index in 0..<(3 * count) { base[index] = Self.clamp(base[index] * factor) }
    }

    /// Blends with the mean luma of the whole view.
    func adjustContrast(_ factor: Float) {
        var total: Float = 0
        for index in 0..<count { total += Self.luma(red[index], green[index], blue[index]) }
        let offset = (1 - factor) * total / Float(count)
        for index in 0..<(3 * count) { base[index] = Self.clamp(factor * base[index] + offset) }
    }

    /// Blends each pixel with its own luma.
    func adjustSaturation(_ factor: Float) {
        for index in 0..<count {
            let gray = (1 - factor) * Self.luma(red[index], green[index], blue[index])
            red[index] = Self.clamp(factor * red[index] + gray)
            green[index] = Self.clamp(factor * green[index] + gray)
            blue[index] = Self.clamp(factor * blue[index] + gray)
        }
    }

    /// Rotates the hue by `shift` (fraction of the wheel) through HSV.
    func adjustHue(_ shift: Float) {
        for index in 0..<count {
            let r = red[index]
            let g = green[index]
            let b = blue[index]
            let value = max(r, g, b)
            let chroma = value - min(r, g, b)
            guard chroma > 0 else { continue }  // gray pixels have no hue to rotate
            let saturation = chroma / value
            var hue: Float
            if value == r {
                hue = (g - b) / chroma
            } else if value == g {
                hue = 2 + (b - r) / chroma
            } else {
                hue = 4 + (r - g) / chroma
            }
            hue = hue / 6 + shift
            hue -= hue.rounded(.down)
            let sector = hue * 6
            let whole = sector.rounded(.down)
            let fraction = sector - whole
            let p = Self.clamp(value * (1 - saturation))
            let q = Self.clamp(value * (1 - saturation * fraction))
            let t = Self.clamp(value * (1 - saturation * (1 - fraction)))
            switch Int(whole) % 6 {
            case 0: (red[index], green[index], blue[index]) = (value, t, p)
            case 1: (red[index], green[index], blue[index]) = (q, value, p)
            case 2: (red[index], green[index], blue[index]) = (p, value, t)
            case 3: (red[index], green[index], blue[index]) = (p, q, value)
            case 4: (red[index], green[index], blue[index]) = (t, p, value)
            default: (red[index], green[index], blue[index]) = (value, p, q)
            }
        }
    }

    func makeGrayscale() {
        for index in 0..<count {
            let gray = Self.luma(red[index], green[index], blue[index])
            red[index] = gray
            green[index] = gray
            blue[index] = gray
        }
    }

    /// Separable Gaussian of `kernelSize` taps, borders reflected (without repeating the edge pixel).
    func blur(side: Int, kernelSize: Int, sigma: Float) {
        let radius = kernelSize / 2
        guard radius > 0, side > radius else { return }
        var kernel = (-radius...radius).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        @inline(__always) func reflect(_ position: Int) -> Int {
            position < 0 ? -position : (position >= side ? 2 * side - 2 - position : position)
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: side * side) { scratch in
            let temporary = scratch.baseAddress!
            for channel in 0..<3 {
                let plane = base + channel * count
                for y in 0..<side {
                    for x in 0..<side {
                        var sum: Float = 0
                        for tap in -radius...radius { sum += kernel[tap + radius] * plane[y * side + reflect(x + tap)] }
                        temporary[y * side + x] = sum
                    }
                }
                for y in 0..<side {
                    for x in 0..<side {
                        var sum: Float = 0
                        for tap in -radius...radius {
                            sum += kernel[tap + radius] * temporary[reflect(y + tap) * side + x]
                        }
                        plane[y * side + x] = sum
                    }
                }
            }
        }
    }

    func normalize(mean: [Float], std: [Float]) {
        for channel in 0..<3 {
            let plane = base + channel * count
            let shift = mean[channel]
            let scale = 1 / std[channel]
            for index in 0..<count { plane[index] = (plane[index] - shift) * scale }
        }
    }
}
