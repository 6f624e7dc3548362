// Batch normalisation over the channel axis of `[N, C, H, W]` (BatchNorm2d) or `[N, C]`
// (BatchNorm1d, `h = w = 1`), with PyTorch's conventions: biased batch variance to normalise,
// unbiased variance in the running estimate, momentum 0.1, eps 1e-5. Per-channel sums go through
// `ComputeContext.batchStatisticsReducer`, which is how the cluster synchronises batch norm.

/// `y = scale * (x - mean) / sqrt(var + eps) + shift`, per channel.
///
/// Training: `mean` and `var` are the batch's (over N, H, W, and over every worker's batch when a
/// reducer sums the statistics); `running = (1 - momentum) * running + momentum * batch`, with
/// the batch variance multiplied by `count / (count - 1)`. Inference: the running statistics.
public final class BatchNorm: Layer {
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    /// Whether the layer has a learned shift (`false` for SimCLR's last head layer, which keeps
    /// only the scale).
    public let hasShift: Bool

    private unowned let store: ParameterStore
    private let scaleOffset: Int
    private let shiftOffset: Int?
    private let runningMeanOffset: Int
    private let runningVarianceOffset: Int

    private var normalized = ReusableBuffer()
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()
    private var lastMode = Mode.training
    /// `[count, sum_c..., sumOfSquares_c...]` in forward; `[sum dy_c..., sum dy*xhat_c...]` in backward.
    private let statistics: UnsafeMutablePointer<Double>
    /// Per-channel `1 / sqrt(var + eps)` of the last forward.
    private let inverseStd: UnsafeMutablePointer<Float>
    private var lastCount: Double = 0

    public init(
        _ name: String, store: ParameterStore, channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5,
        hasShift: Bool = true
    ) {
        precondition(channels > 0)
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        self.hasShift = hasShift
        self.store = store
        scaleOffset = store.declare(name + ".weight", shape: [channels], kind: .normScale, initializer: .constant(1))
        shiftOffset =
            hasShift
            ? store.declare(name + ".bias", shape: [channels], kind: .normShift, initializer: .constant(0)) : nil
        runningMeanOffset = store.declareState(name + ".running_mean", shape: [channels], value: 0)
        runningVarianceOffset = store.declareState(name + ".running_var", shape: [channels], value: 1)
        statistics = .allocate(capacity: 1 + 2 * channels)
        inverseStd = .allocate(capacity: channels)
    }

    deinit {
        statistics.deallocate()
        inverseStd.deallocate()
    }

    public func outputShape(for input: Shape) -> Shape {
        precondition(input.c == channels, "BatchNorm: expected \(channels) channels, got \(input)")
        return input
    }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let shape = outputShape(for: x.shape)
        let y = output.tensor(shape)
        let xhat = normalized.tensor(shape)
        let (n, plane, c) = (shape.n, shape.planeCount, channels)
        let scale = store.values.base + scaleOffset
        let shift = shiftOffset.map { store.values.base + $0 }
        let runningMean = store.state.base + runningMeanOffset
        let runningVariance = store.state.base + runningVarianceOffset
        lastMode = context.mode
        let statistics = self.statistics
        let inverseStd = self.inverseStd

        if context.mode == .training {
            precondition(n * plane > 1, "BatchNorm: training needs more than one value per channel, got \(shape)")

            // Local per-channel sums in Double, then the cluster-wide sums if a reducer is set.
            statistics[0] = Double(n * plane)
            context.parallelFor(c) { range, _ in
                for channel in range {
                    var sum = 0.0
                    var squares = 0.0
                    for image in 0..<n {
                        let (planeSum, planeSquares) = Kernels.sumAndSquares(
                            x.sample(image) + channel * plane, count: plane)
                        sum += planeSum
                        squares += planeSquares
                    }
                    statistics[1 + channel] = sum
                    statistics[1 + c + channel] = squares
                }
            }
            context.batchStatisticsReducer?.reduce(UnsafeMutableBufferPointer(start: statistics, count: 1 + 2 * c))

            // Batch mean and biased variance; running estimates with the unbiased variance.
            let count = statistics[0]
            lastCount = count
            for channel in 0..<c {
                let mean = statistics[1 + channel] / count
                let variance = max(0, statistics[1 + c + channel] / count - mean * mean)
                inverseStd[channel] = Float(1 / (variance + Double(epsilon)).squareRoot())
                statistics[1 + channel] = mean
                runningMean[channel] = (1 - momentum) * runningMean[channel] + momentum * Float(mean)
                let unbiased = count > 1 ? variance * count / (count - 1) : variance
                runningVariance[channel] = (1 - momentum) * runningVariance[channel] + momentum * Float(unbiased)
            }
        } else {
            for channel in 0..<c {
                statistics[1 + channel] = Double(runningMean[channel])
                inverseStd[channel] = 1 / (runningVariance[channel] + epsilon).squareRoot()
            }
        }

        // Normalise, keep xhat for backward, scale and shift.
        context.parallelFor(n) { images, _ in
            for image in images {
                for channel in 0..<c {
                    let mean = Float(statistics[1 + channel])
                    let invStd = inverseStd[channel]
                    let (gamma, beta) = (scale[channel], shift?[channel] ?? 0)
                    let offset = channel * plane
                    let source = x.sample(image) + offset
                    let normalizedValues = xhat.sample(image) + offset
                    let target = y.sample(image) + offset
                    for i in 0..<plane {
                        let v = (source[i] - mean) * invStd
                        normalizedValues[i] = v
                        target[i] = gamma * v + beta
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        let shape = dy.shape
        let xhat = normalized.tensor(shape)
        let dx = dInput.tensor(shape)
        let (n, plane, c) = (shape.n, shape.planeCount, channels)
        let scale = store.values.base + scaleOffset
        let dScale = store.gradients.base + scaleOffset
        let dShift = shiftOffset.map { store.gradients.base + $0 }
        let statistics = self.statistics
        let inverseStd = self.inverseStd

        // (1) Local sums: sum dy is dShift, sum dy * xhat is dScale.
        context.parallelFor(c) { range, _ in
            for channel in range {
                var sumDy = 0.0
                var sumDyXhat = 0.0
                for image in 0..<n {
                    let offset = channel * plane
                    let (planeSum, planeDot) = Kernels.sumAndDot(
                        dy.sample(image) + offset, xhat.sample(image) + offset, count: plane)
                    sumDy += planeSum
                    sumDyXhat += planeDot
                }
                statistics[channel] = sumDy
                statistics[c + channel] = sumDyXhat
            }
        }
        for channel in 0..<c {
            dScale[channel] += Float(statistics[c + channel])
            dShift?[channel] += Float(statistics[channel])
        }

        // (2) In training the batch statistics depend on x: sum the two terms over the cluster's
        // batch, then dx = scale * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)).
        let training = lastMode == .training
        if training {
            context.batchStatisticsReducer?.reduce(UnsafeMutableBufferPointer(start: statistics, count: 2 * c))
        }
        let count = lastCount
        context.parallelFor(n) { images, _ in
            for image in images {
                for channel in 0..<c {
                    let offset = channel * plane
                    let gradient = dy.sample(image) + offset
                    let normalizedValues = xhat.sample(image) + offset
                    let target = dx.sample(image) + offset
                    let factor = scale[channel] * inverseStd[channel]
                    if training {
                        let meanDy = Float(statistics[channel] / count)
                        let meanDyXhat = Float(statistics[c + channel] / count)
                        for i in 0..<plane {
                            target[i] = factor * (gradient[i] - meanDy - normalizedValues[i] * meanDyXhat)
                        }
                    } else {
                        for i in 0..<plane { target[i] = factor * gradient[i] }
                    }
                }
            }
        }
        return dx
    }
}
