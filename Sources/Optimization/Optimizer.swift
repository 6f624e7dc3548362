// Optimizers that update a `ParameterStore` in place from its gradient buffer. Each keeps its
// state in one flat buffer that mirrors the parameters (momentum, or Adam's two moments), so a
// checkpoint or a joining worker moves it as one block.

import Compute
import Foundation

/// Which parameters weight decay applies to.
public enum WeightDecayPolicy: String, Sendable, Codable {
    /// Every parameter (PyTorch's default for SGD and AdamW).
    case all
    /// Weights only: biases and batch-norm scales and shifts are not decayed (SimCLR's LARS).
    case weightsOnly

    func applies(to kind: ParameterKind) -> Bool { self == .all || !kind.isBiasOrNorm }
}

/// One update rule over the flat parameter buffer.
public protocol Optimizer: AnyObject {
    /// Applies one update with learning rate `learningRate`, reading `store.gradients`.
    func step(learningRate: Float)
    /// Updates applied so far.
    var stepCount: Int { get set }
    /// The optimizer's state (momentum or moments), `k x store.count` floats.
    var state: FloatBuffer { get }
}

/// SGD with momentum and optional Nesterov, PyTorch's formulation (no dampening):
///
///     g = grad + decay * w;  v = momentum * v + g;  w -= lr * (nesterov ? g + momentum * v : v)
public final class SGD: Optimizer {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    public let weightDecayPolicy: WeightDecayPolicy
    public var stepCount = 0
    public let state: FloatBuffer
    private let store: ParameterStore

    public init(
        store: ParameterStore, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0,
        weightDecayPolicy: WeightDecayPolicy = .all
    ) {
        precondition(store.isFinalized, "SGD: finalize the store first")
        self.store = store
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.weightDecayPolicy = weightDecayPolicy
        state = FloatBuffer(count: store.count)
    }

    public func step(learningRate: Float) {
        let (w, grad, v) = (store.values.base, store.gradients.base, state.base)
        for segment in store.segments {
            let decay = weightDecayPolicy.applies(to: segment.kind) ? weightDecay : 0
            for i in segment.range {
                let g = grad[i] + decay * w[i]
                v[i] = momentum * v[i] + g
                w[i] -= learningRate * (nesterov ? g + momentum * v[i] : v[i])
            }
        }
        stepCount += 1
    }
}

/// LARS as in SimCLR's implementation (You et al. 2017, with SimCLR's exclusions): for each
/// parameter tensor,
///
///     g = grad + decay * w                       (weights only)
///     trust = eta * ||w|| / ||g||                 (weights only; 1 if either norm is 0)
///     v = momentum * v + lr * trust * g
///     w -= nesterov ? momentum * v + lr * trust * g : v
///
/// Biases and batch-norm parameters get neither weight decay nor the trust ratio.
public final class LARS: Optimizer {
    public let momentum: Float
    public let trustCoefficient: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public var stepCount = 0
    public let state: FloatBuffer
    private let store: ParameterStore

    public init(
        store: ParameterStore, momentum: Float = 0.9, trustCoefficient: Float = 0.001, weightDecay: Float = 0,
        nesterov: Bool = false
    ) {
        precondition(store.isFinalized, "LARS: finalize the store first")
        self.store = store
        self.momentum = momentum
        self.trustCoefficient = trustCoefficient
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        state = FloatBuffer(count: store.count)
    }

    public func step(learningRate: Float) {
        let (w, grad, v) = (store.values.base, store.gradients.base, state.base)
        for segment in store.segments {
            let adapted = !segment.kind.isBiasOrNorm
            let decay = adapted ? weightDecay : 0

            // Trust ratio from the norms of the weights and the decayed gradient, in Double.
            var rate = learningRate
            if adapted {
                var weightSquares = 0.0
                var gradientSquares = 0.0
                for i in segment.range {
                    let g = Double(grad[i] + decay * w[i])
                    weightSquares += Double(w[i]) * Double(w[i])
                    gradientSquares += g * g
                }
                if weightSquares > 0 && gradientSquares > 0 {
                    rate *= trustCoefficient * Float((weightSquares / gradientSquares).squareRoot())
                }
            }

            for i in segment.range {
                let g = grad[i] + decay * w[i]
                v[i] = momentum * v[i] + rate * g
                w[i] -= nesterov ? momentum * v[i] + rate * g : v[i]
            }
        }
        stepCount += 1
    }
}

/// AdamW (Loshchilov and Hutter 2019) in PyTorch's form: decoupled decay `w -= lr * decay * w`,
/// then Adam's bias-corrected step `w -= lr * m_hat / (sqrt(v_hat) + eps)`.
public final class AdamW: Optimizer {
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let weightDecayPolicy: WeightDecayPolicy
    public var stepCount = 0
    /// First moments, then second moments.
    public let state: FloatBuffer
    private let store: ParameterStore

    public init(
        store: ParameterStore, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0.01, weightDecayPolicy: WeightDecayPolicy = .all
    ) {
        precondition(store.isFinalized, "AdamW: finalize the store first")
        self.store = store
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.weightDecayPolicy = weightDecayPolicy
        state = FloatBuffer(count: 2 * store.count)
    }

    public func step(learningRate: Float) {
        stepCount += 1
        let (w, grad) = (store.values.base, store.gradients.base)
        let (m, v) = (state.base, state.base + store.count)
        let correction1 = 1 - Float(pow(Double(beta1), Double(stepCount)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
        for segment in store.segments {
            let decay = weightDecayPolicy.applies(to: segment.kind) ? weightDecay : 0
            for i in segment.range {
                w[i] -= learningRate * decay * w[i]
                m[i] = beta1 * m[i] + (1 - beta1) * grad[i]
                v[i] = beta2 * v[i] + (1 - beta2) * grad[i] * grad[i]
                let denominator = (v[i] / correction2).squareRoot() + epsilon
                w[i] -= learningRate * (m[i] / correction1) / denominator
            }
        }
    }
}
