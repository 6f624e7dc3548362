// A labeled dataset made from a seed: ten shape classes drawn with random colours, scales,
// offsets and small rotations over striped, noisy backgrounds. Lets the README's commands run with
// no download, and is made so that a few minutes of SimCLR visibly learn the shapes from it.
//
// Two choices make that so, each measured by the kNN accuracy of untrained against pretrained
// encoders (the README's "Two commands" section has the figures):
// - Each image repeats its shape across the frame (a lattice of small copies, or, for the four
//   stripe and checker classes, a texture over the whole image), so a random crop still shows the
//   class. With one large shape per image, a small crop often holds background only.
// - Colours are muted: a random grey level with a random tint. With fully saturated random
//   colours, an image's three colours fingerprint it, and SimCLR matches the two views by colour
//   instead of by shape: pretraining then left kNN accuracy where it was, even with colour jitter
//   of strength 1. Colour is still random and independent of the class.

import Compute
import Foundation

public enum SyntheticDataset {
    /// The classes, in label order.
    public static let classNames = [
        "circle", "square", "triangle", "cross", "ring", "horizontal-bars", "vertical-bars", "diagonal-stripes",
        "checkerboard", "diamond",
    ]

    /// The label of sample `index`: classes cycle, so any 10 consecutive samples hold one of each.
    public static func label(of index: Int) -> Int { index % classNames.count }

    /// Draws sample `index` of the dataset named by `seed` into `output` (`[side, side, 3]` RGB uint8);
    /// a pure function of `(seed, index, side)`.
    public static func render(index: Int, seed: UInt64, side: Int, into output: UnsafeMutablePointer<UInt8>) {
        var generator = SeededGenerator(seed: seed, 0x5359_4E54, UInt64(index))
        let shape = label(of: index)
        let size = Float(side)

        // Background: two colours blended along a random sinusoid, plus the noise added per pixel.
        let backgroundA = randomColor(&generator)
        let backgroundB = randomColor(&generator)
        let wavelength = generator.uniform(0.15, 0.6) * size
        let waveAngle = generator.uniform(0, 2 * Float.pi)
        let waveX = cos(waveAngle) * 2 * Float.pi / wavelength
        let waveY = sin(waveAngle) * 2 * Float.pi / wavelength
        let wavePhase = generator.uniform(0, 2 * Float.pi)
        let waveAmount = generator.uniform(0, 0.6)
        let backgroundMean = zip(backgroundA, backgroundB).map { $0 + waveAmount * 0.5 * ($1 - $0) }

        // Foreground: a colour clearly apart from the background's mean, so the shape stays visible.
        var foreground = randomColor(&generator)
        for _ in 0..<16 where distance(foreground, backgroundMean) < 0.4 { foreground = randomColor(&generator) }

        // Shapes repeat on a lattice of `cell`-sized squares; stripes and checkers fill the frame,
        // with their period set by `radius`.
        let isTexture = (5...8).contains(shape)
        let cell = generator.uniform(0.3, 0.5) * size
        let radius = isTexture ? generator.uniform(0.22, 0.4) * size : 0.4 * cell
        let originX = generator.uniform(0, size)
        let originY = generator.uniform(0, size)
        var angle = generator.uniform(-0.3, 0.3)
        if shape == 7 { angle += (generator.uniform() < 0.5 ? 1 : -1) * Float.pi / 4 }
        let cosine = cos(angle)
        let sine = sin(angle)
        let noise = generator.uniform(0.02, 0.12)

        for y in 0..<side {
            for x in 0..<side {
                let u = Float(x) + 0.5 - originX
                let v = Float(y) + 0.5 - originY
                var a = cosine * u + sine * v
                var b = -sine * u + cosine * v
                if !isTexture {
                    a -= cell * (a / cell).rounded()
                    b -= cell * (b / cell).rounded()
                }
                let coverage = min(1, max(0, 0.5 - signedDistance(shape: shape, a, b, radius)))
                let wave = waveAmount * (0.5 + 0.5 * sin(waveX * Float(x) + waveY * Float(y) + wavePhase))
                let random = generator.next()
                for channel in 0..<3 {
                    let background = backgroundA[channel] + wave * (backgroundB[channel] - backgroundA[channel])
                    let bits = (random >> (UInt64(channel) * 20)) & 0xFFFFF
                    let jitter = (Float(bits) / Float(0xFFFFF) - 0.5) * 2 * noise
                    let value = background + coverage * (foreground[channel] - background) + jitter
                    output[(y * side + x) * 3 + channel] = UInt8(min(255, max(0, value * 255)).rounded())
                }
            }
        }
    }

    /// Signed distance in pixels (negative inside) from `(a, b)`, in the shape's rotated frame, to
    /// the outline of `shape` of size `radius`. Exact for round shapes, a close bound for the others,
    /// which is all the one-pixel antialiasing needs. The stripe and checker classes (5 to 8) are
    /// unbounded textures.
    static func signedDistance(shape: Int, _ a: Float, _ b: Float, _ radius: Float) -> Float {
        func box(_ halfWidth: Float, _ halfHeight: Float) -> Float { max(abs(a) - halfWidth, abs(b) - halfHeight) }
        func stripes(_ coordinate: Float, period: Float) -> Float {
            let phase = coordinate / period - (coordinate / period).rounded(.down)
            return (abs(phase - 0.5) - 0.25) * period
        }
        let length = (a * a + b * b).squareRoot()
        switch shape {
        case 0: return length - radius
        case 1: return box(0.8 * radius, 0.8 * radius)
        case 2:
            var distance = -Float.infinity
            for corner in 0..<3 {
                let normal = Float.pi / 2 + 2 * Float.pi * Float(corner) / 3
                distance = max(distance, cos(normal) * a + sin(normal) * b - 0.5 * radius)
            }
            return distance
        case 3: return min(box(radius, 0.3 * radius), box(0.3 * radius, radius))
        case 4: return abs(length - 0.7 * radius) - 0.22 * radius
        case 5: return stripes(b, period: 0.5 * radius)
        case 6: return stripes(a, period: 0.5 * radius)
        case 7: return stripes(a, period: 0.45 * radius)
        case 8:
            let cell = 0.5 * radius
            let column = (a / cell).rounded(.down)
            let row = (b / cell).rounded(.down)
            let inside = Int(column + row) & 1 == 0
            let edge =
                min(
                    min(a / cell - column, column + 1 - a / cell), min(b / cell - row, row + 1 - b / cell)) * cell
            return inside ? -edge : edge
        default: return (abs(a) + abs(b) - radius) * 0.7071
        }
    }

    /// A muted colour: a grey level in `[0, 1)` with each channel moved by up to ±0.175 (then
    /// clamped), so images differ in colour without their colours identifying them.
    private static func randomColor(_ generator: inout SeededGenerator) -> [Float] {
        let grey = generator.uniform()
        return (0..<3).map { _ in min(1, max(0, grey + 0.35 * (generator.uniform() - 0.5))) }
    }

    private static func distance(_ first: [Float], _ second: [Float]) -> Float {
        zip(first, second).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
    }
}
