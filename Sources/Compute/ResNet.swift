// ResNet encoders (18, 34, 50) with torchvision's structure and names, a CIFAR stem option and a
// width multiplier, and the SimCLR model: encoder, projection head, and the features between.

/// Which ResNet, by depth.
public enum ResNetDepth: String, Sendable, Codable, CaseIterable {
    case resnet18
    case resnet34
    case resnet50

    var blockKind: ResidualBlock.Kind { self == .resnet50 ? .bottleneck : .basic }

    var blocksPerStage: [Int] { self == .resnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3] }
}

/// The first layers of the encoder.
public enum ResNetStem: String, Sendable, Codable {
    /// 7x7 stride-2 convolution, batch norm, ReLU, 3x3 stride-2 max-pool (224-pixel inputs).
    case imagenet
    /// 3x3 stride-1 convolution, batch norm, ReLU, no max-pool (32-pixel inputs, as in SimCLR's
    /// CIFAR experiments).
    case cifar
}

/// Everything that fixes an encoder's structure.
public struct ResNetConfiguration: Sendable, Codable, Equatable {
    public var depth: ResNetDepth
    public var stem: ResNetStem
    /// Channels of the stem and first stage (64 in the paper; 16 gives a small model). Stages
    /// have `width`, `2 width`, `4 width`, `8 width` channels, times 4 for bottlenecks.
    public var width: Int
    /// Classes of a final fully connected layer, or `nil` for a feature encoder.
    public var classes: Int?
    public var inputChannels: Int

    public init(
        depth: ResNetDepth = .resnet18, stem: ResNetStem = .cifar, width: Int = 64, classes: Int? = nil,
        inputChannels: Int = 3
    ) {
        self.depth = depth
        self.stem = stem
        self.width = width
        self.classes = classes
        self.inputChannels = inputChannels
    }

    /// Channels of the pooled features (`8 width x expansion`).
    public var featureCount: Int { 8 * width * depth.blockKind.expansion }
}

/// A ResNet: stem, four stages of residual blocks, global average pooling, optional `fc`.
/// Shapes: `x: [N, inputChannels, H, W]` to `[N, featureCount]` (or `[N, classes]` with `fc`).
public final class ResNet: Layer {
    public let configuration: ResNetConfiguration
    private let body: Sequential

    public init(_ configuration: ResNetConfiguration, store: ParameterStore, prefix: String = "") {
        self.configuration = configuration
        let width = configuration.width
        var layers: [Layer] = []

        // Stem.
        let stemConv: Conv2d
        switch configuration.stem {
        case .imagenet:
            stemConv = Conv2d(
                prefix + "conv1", store: store, inChannels: configuration.inputChannels, outChannels: width,
                kernel: 7, stride: 2, padding: 3)
        case .cifar:
            stemConv = Conv2d(
                prefix + "conv1", store: store, inChannels: configuration.inputChannels, outChannels: width,
                kernel: 3, stride: 1, padding: 1)
        }
        stemConv.needsInputGradient = false
        layers += [stemConv, BatchNorm(prefix + "bn1", store: store, channels: width), ReLU()]
        if configuration.stem == .imagenet { layers.append(MaxPool2d(kernel: 3, stride: 2, padding: 1)) }

        // Four stages; the first block of stages 2-4 halves the resolution.
        let kind = configuration.depth.blockKind
        var channels = width
        for (stage, blocks) in configuration.depth.blocksPerStage.enumerated() {
            let stageWidth = width << stage
            for block in 0..<blocks {
                let stride = (stage > 0 && block == 0) ? 2 : 1
                layers.append(
                    ResidualBlock(
                        prefix + "layer\(stage + 1).\(block)", kind: kind, store: store, inChannels: channels,
                        width: stageWidth, stride: stride))
                channels = stageWidth * kind.expansion
            }
        }

        // Head of the classifier or the feature vector.
        layers.append(GlobalAveragePool())
        if let classes = configuration.classes {
            layers.append(Linear(prefix + "fc", store: store, inFeatures: channels, outFeatures: classes))
        }
        body = Sequential(layers)
    }

    public func outputShape(for input: Shape) -> Shape { body.outputShape(for: input) }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor { body.forward(x, context: context) }

    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor { body.backward(dy, context: context) }
}

/// SimCLR's projection head g(h): `layers - 1` hidden blocks of linear (no bias), batch norm and
/// ReLU, then a linear output layer. With `outputBatchNorm`, the output layer has no bias and is
/// followed by batch norm without a shift, as in SimCLR v2's code; by default it keeps its bias
/// and has no batch norm, the common PyTorch form ("batch norm after the first layer" for two
/// layers). Shapes: `h: [N, inFeatures]` to `z: [N, outFeatures]`.
public struct ProjectionHeadConfiguration: Sendable, Codable, Equatable {
    public var layers: Int
    public var hiddenFeatures: Int
    public var outFeatures: Int
    public var outputBatchNorm: Bool

    public init(layers: Int = 2, hiddenFeatures: Int = 128, outFeatures: Int = 128, outputBatchNorm: Bool = false) {
        precondition(layers >= 1, "ProjectionHeadConfiguration: at least one layer")
        self.layers = layers
        self.hiddenFeatures = hiddenFeatures
        self.outFeatures = outFeatures
        self.outputBatchNorm = outputBatchNorm
    }
}

/// Builds the projection head as a `Sequential` with parameters named `head.<i>.*`.
public enum ProjectionHead {
    public static func make(
        _ configuration: ProjectionHeadConfiguration, inFeatures: Int, store: ParameterStore, prefix: String = "head"
    ) -> Sequential {
        var layers: [Layer] = []
        var features = inFeatures
        var index = 0
        for _ in 0..<(configuration.layers - 1) {
            layers.append(
                Linear(
                    "\(prefix).\(index)", store: store, inFeatures: features,
                    outFeatures: configuration.hiddenFeatures, bias: false))
            layers.append(BatchNorm("\(prefix).\(index + 1)", store: store, channels: configuration.hiddenFeatures))
            layers.append(ReLU())
            features = configuration.hiddenFeatures
            index += 3
        }
        layers.append(
            Linear(
                "\(prefix).\(index)", store: store, inFeatures: features, outFeatures: configuration.outFeatures,
                bias: !configuration.outputBatchNorm))
        if configuration.outputBatchNorm {
            layers.append(
                BatchNorm("\(prefix).\(index + 1)", store: store, channels: configuration.outFeatures, hasShift: false))
        }
        return Sequential(layers)
    }
}

/// Encoder f and projection head g with their parameters in one store: `h = f(x)`, `z = g(h)`.
public final class SimCLRModel {
    public let store: ParameterStore
    public let encoder: ResNet
    public let head: Sequential
    public let encoderConfiguration: ResNetConfiguration
    public let headConfiguration: ProjectionHeadConfiguration

    public init(encoder: ResNetConfiguration, head: ProjectionHeadConfiguration, seed: UInt64) {
        precondition(encoder.classes == nil, "SimCLRModel: the encoder ends at its pooled features")
        store = ParameterStore(seed: seed)
        self.encoder = ResNet(encoder, store: store)
        self.head = ProjectionHead.make(head, inFeatures: encoder.featureCount, store: store)
        encoderConfiguration = encoder
        headConfiguration = head
        store.finalize()
    }

    /// `x: [N, C, H, W]` to the projections `z: [N, outFeatures]`; the features stay available
    /// as the head's input until the next forward.
    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        head.forward(encoder.forward(x, context: context), context: context)
    }

    /// Backpropagates `dz` through head and encoder; parameter gradients accumulate in `store`.
    public func backward(_ dz: Tensor, context: ComputeContext) {
        _ = encoder.backward(head.backward(dz, context: context), context: context)
    }
}
