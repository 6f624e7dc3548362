// What the augmenter does to an image: SimCLR's full recipe (paper appendix A, torchvision
// semantics for the colour jitter), crop-and-flip only for fine-tuning and supervised baselines,
// or no augmentation for evaluation. Plain data, so a run can store it and workers can compare it.

import Foundation

/// The augmentation recipe and its constants; the defaults are SimCLR's CIFAR-10 settings.
public struct AugmentationConfiguration: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Random resized crop, flip, colour jitter, grayscale, optional blur, normalisation.
        case simclr
        /// Random resized crop and flip, then normalisation (fine-tuning, supervised baseline).
        case cropAndFlip
        /// Shorter side resized to `imageSize`, centre crop, normalisation; no randomness.
        case evaluation
    }

    public var mode: Mode
    /// Side `S` of the square output views.
    public var imageSize: Int
    /// Colour jitter strength `s`: brightness, contrast and saturation factors in
    /// `[max(0, 1 - 0.8 s), 1 + 0.8 s]`, hue shift in `[-0.2 s, 0.2 s]` (0.5 for CIFAR, 1.0 for ImageNet).
    public var strength: Float
    /// Whether Gaussian blur is part of the recipe (the paper leaves it out for CIFAR).
    public var blur: Bool
    /// Fraction of the source area a crop covers.
    public var cropScale: ClosedRange<Float> = 0.08...1
    /// Aspect ratio (width / height) of a crop, drawn uniformly in log space.
    public var cropRatio: ClosedRange<Float> = 0.75...(4.0 / 3.0)
    public var flipProbability: Float = 0.5
    public var jitterProbability: Float = 0.8
    public var grayscaleProbability: Float = 0.2
    public var blurProbability: Float = 0.5
    public var blurSigma: ClosedRange<Float> = 0.1...2.0
    /// Per-channel (RGB) normalisation: `(x - mean) / std` with `x` in [0, 1].
    public var mean: [Float] = [0.4914, 0.4822, 0.4465]
    public var std: [Float] = [0.2470, 0.2435, 0.2616]

    /// - Parameter blur: defaults to on for images of 64 pixels and more, as in the paper.
    public init(mode: Mode = .simclr, imageSize: Int = 32, strength: Float = 0.5, blur: Bool? = nil) {
        precondition(imageSize > 0, "AugmentationConfiguration: image size must be positive")
        self.mode = mode
        self.imageSize = imageSize
        self.strength = strength
        self.blur = blur ?? (imageSize >= 64)
    }

    /// SimCLR's recipe at `imageSize`.
    public static func simclr(imageSize: Int = 32, strength: Float = 0.5) -> AugmentationConfiguration {
        AugmentationConfiguration(mode: .simclr, imageSize: imageSize, strength: strength)
    }

    /// Random resized crop and flip only.
    public static func cropAndFlip(imageSize: Int = 32) -> AugmentationConfiguration {
        AugmentationConfiguration(mode: .cropAndFlip, imageSize: imageSize)
    }

    /// Deterministic resize, centre crop and normalisation.
    public static func evaluation(imageSize: Int = 32) -> AugmentationConfiguration {
        AugmentationConfiguration(mode: .evaluation, imageSize: imageSize)
    }

    /// Odd blur kernel of about 10% of the side (SimCLR's rule: radius `(S / 10) / 2`).
    public var blurKernelSize: Int { 2 * ((imageSize / 10) / 2) + 1 }
}
