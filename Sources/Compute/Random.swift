// Deterministic randomness. Every random number in a run comes from a `SeededGenerator` whose
// seed is derived from the run seed and a few integers (epoch, sample, view, layer), so that a
// value is a pure function of what it is for and not of which thread or process drew it.

import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state, one multiply-xorshift mix per draw.
/// Passes BigCrush; its streams from different seeds are statistically independent for our sizes.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for the stream named by `seed` and `keys`, e.g. `(runSeed, epoch, sample, view)`.
    public init(seed: UInt64, _ keys: UInt64...) {
        var mixed = SeededGenerator.mix(seed)
        for key in keys { mixed = SeededGenerator.mix(mixed ^ SeededGenerator.mix(key &+ 0x632B_E59B_D9B4_E019)) }
        state = mixed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededGenerator.mix(state)
    }

    /// The SplitMix64 finaliser: a bijective avalanche of 64 bits.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 24 random bits.
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in `[low, high)`.
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform() }

    /// Standard normal by Box-Muller, in Double for accuracy in the tails.
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
