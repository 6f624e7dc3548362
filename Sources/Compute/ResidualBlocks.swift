// The two residual blocks of ResNet (He et al. 2016), in torchvision's v1.5 form: the stride sits
// on the 3x3 convolution, and a 1x1 convolution with batch norm projects the shortcut whenever
// the shape changes. Parameter names follow torchvision so checkpoints map onto its models.

/// `relu(main(x) + shortcut(x))` with the final ReLU fused into the addition.
public final class ResidualBlock: Layer {
    /// The residual branch: conv-bn-relu-conv-bn (basic) or conv-bn-relu x2 then conv-bn (bottleneck).
    public let main: Sequential
    /// `nil` for the identity shortcut; otherwise 1x1 conv with stride, then batch norm.
    public let shortcut: Sequential?

    private var output = ReusableBuffer()
    private var dSum = ReusableBuffer()

    /// The expansion factor of the block's output channels over its `width`.
    public enum Kind: Sendable {
        case basic
        case bottleneck

        public var expansion: Int { self == .basic ? 1 : 4 }
    }

    /// - Parameters:
    ///   - name: parameter prefix, e.g. `layer2.0`.
    ///   - width: channels inside the block; the block outputs `width * kind.expansion`.
    public init(
        _ name: String, kind: Kind, store: ParameterStore, inChannels: Int, width: Int, stride: Int
    ) {
        let outChannels = width * kind.expansion
        switch kind {
        case .basic:
            main = Sequential([
                Conv2d(
                    name + ".conv1", store: store, inChannels: inChannels, outChannels: width, kernel: 3,
                    stride: stride, padding: 1),
                BatchNorm(name + ".bn1", store: store, channels: width),
                ReLU(),
                Conv2d(name + ".conv2", store: store, inChannels: width, outChannels: width, kernel: 3, padding: 1),
                BatchNorm(name + ".bn2", store: store, channels: width),
            ])
        case .bottleneck:
            main = Sequential([
                Conv2d(name + ".conv1", store: store, inChannels: inChannels, outChannels: width, kernel: 1),
                BatchNorm(name + ".bn1", store: store, channels: width),
                ReLU(),
                Conv2d(
                    name + ".conv2", store: store, inChannels: width, outChannels: width, kernel: 3,
                    stride: stride, padding: 1),
                BatchNorm(name + ".bn2", store: store, channels: width),
                ReLU(),
                Conv2d(name + ".conv3", store: store, inChannels: width, outChannels: outChannels, kernel: 1),
                BatchNorm(name + ".bn3", store: store, channels: outChannels),
            ])
        }
        if stride != 1 || inChannels != outChannels {
            shortcut = Sequential([
                Conv2d(
                    name + ".downsample.0", store: store, inChannels: inChannels, outChannels: outChannels,
                    kernel: 1, stride: stride),
                BatchNorm(name + ".downsample.1", store: store, channels: outChannels),
            ])
        } else {
            shortcut = nil
        }
    }

    public func outputShape(for input: Shape) -> Shape { main.outputShape(for: input) }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let residual = main.forward(x, context: context)
        let skip = shortcut?.forward(x, context: context) ?? x
        let y = output.tensor(residual.shape)
        let (main, identity, target) = (residual.pointer, skip.pointer, y.pointer)
        context.parallelFor(y.shape.count) { range, _ in
            Kernels.addRelu(main, identity, target, range)
        }
        return y
    }

    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        let y = output.tensor(dy.shape)
        let d = dSum.tensor(dy.shape)

        // (1) Through the fused ReLU.
        let (values, gradient, target) = (y.pointer, dy.pointer, d.pointer)
        context.parallelFor(dy.shape.count) { range, _ in
            Kernels.reluBackward(output: values, gradient: gradient, target, range)
        }

        // (2) Both branches see the same gradient; their input gradients add up. The main
        // branch's dx buffer belongs to its first convolution and is free to accumulate into.
        let dx = main.backward(d, context: context)
        let dSkip = shortcut?.backward(d, context: context) ?? d
        let (sum, addend) = (dx.pointer, dSkip.pointer)
        context.parallelFor(dx.shape.count) { range, _ in
            Kernels.add(addend, into: sum, range)
        }
        return dx
    }
}
