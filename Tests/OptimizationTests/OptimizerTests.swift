// Optimizers against steps computed by hand, on a store of one weight vector [2] and one bias [1].

import Compute
import Foundation
import Optimization
import Testing

/// A store with `w = [1, -2]` (weight) and `b = [0.5]` (bias), gradients `[0.1, 0.2]` and `[0.3]`.
func tinyStore() -> ParameterStore {
    let store = ParameterStore()
    _ = store.declare("w", shape: [2], kind: .weight, initializer: .constant(0))
    _ = store.declare("b", shape: [1], kind: .bias, initializer: .constant(0))
    store.finalize()
    store.values.base.update(from: [1, -2, 0.5], count: 3)
    setGradients(store, [0.1, 0.2, 0.3])
    return store
}

func setGradients(_ store: ParameterStore, _ values: [Float]) { store.gradients.base.update(from: values, count: 3) }

func expectClose(_ actual: [Float], _ expected: [Double], _ tolerance: Double = 1e-6) {
    for (a, e) in zip(actual, expected) { #expect(abs(Double(a) - e) < tolerance, "\(actual) vs \(expected)") }
}

@Suite("Optimizers match hand-computed steps")
struct OptimizerTests {
    // lr 0.1, momentum 0.9, decay 0.01 on all. Step 1: g = grad + 0.01 w = [0.11, 0.18, 0.305],
    // v = g, w -= 0.1 v. Step 2 with the same gradient: g' = grad + 0.01 w1, v = 0.9 v + g'.
    @Test func sgdMomentum() {
        let store = tinyStore()
        let sgd = SGD(store: store, momentum: 0.9, weightDecay: 0.01)
        sgd.step(learningRate: 0.1)
        let w1 = [1 - 0.1 * 0.11, -2 - 0.1 * 0.18, 0.5 - 0.1 * 0.305]
        expectClose(store.values.array, w1)
        sgd.step(learningRate: 0.1)
        let g2 = [0.1 + 0.01 * w1[0], 0.2 + 0.01 * w1[1], 0.3 + 0.01 * w1[2]]
        let v2 = [0.9 * 0.11 + g2[0], 0.9 * 0.18 + g2[1], 0.9 * 0.305 + g2[2]]
        expectClose(store.values.array, (0..<3).map { w1[$0] - 0.1 * v2[$0] })
    }

    // Nesterov: w -= lr (g + momentum v); on the first step v = g, so w -= lr * 1.9 g.
    @Test func sgdNesterov() {
        let store = tinyStore()
        SGD(store: store, momentum: 0.9, nesterov: true).step(learningRate: 0.1)
        expectClose(store.values.array, [1 - 0.19 * 0.1, -2 - 0.19 * 0.2, 0.5 - 0.19 * 0.3])
    }

    // The weights-only policy leaves the bias undecayed.
    @Test func weightDecayPolicySkipsBias() {
        let store = tinyStore()
        SGD(store: store, momentum: 0, weightDecay: 0.5, weightDecayPolicy: .weightsOnly).step(learningRate: 1)
        expectClose(store.values.array, [1 - (0.1 + 0.5), -2 - (0.2 - 1.0), 0.5 - 0.3])
    }

    // LARS, lr 0.1, momentum 0.9, eta 0.001, decay 0.01. The weight: g = [0.11, 0.18],
    // trust = 0.001 * ||[1, -2]|| / ||g||, v = 0.1 * trust * g, w -= v. The bias: no decay, no
    // trust ratio, so v = 0.1 * 0.3 and b -= v.
    @Test func larsFirstAndSecondStep() {
        let store = tinyStore()
        let lars = LARS(store: store, momentum: 0.9, trustCoefficient: 0.001, weightDecay: 0.01)
        lars.step(learningRate: 0.1)
        let gradientNorm1: Double = (0.11 * 0.11 + 0.18 * 0.18).squareRoot()
        let trust1: Double = 0.001 * 5.0.squareRoot() / gradientNorm1
        let v1 = [0.1 * trust1 * 0.11, 0.1 * trust1 * 0.18, 0.1 * 0.3]
        let w1 = [1 - v1[0], -2 - v1[1], 0.5 - v1[2]]
        expectClose(store.values.array, w1, 1e-7)

        lars.step(learningRate: 0.1)
        let g2 = [0.1 + 0.01 * w1[0], 0.2 + 0.01 * w1[1]]
        let weightNorm2: Double = (w1[0] * w1[0] + w1[1] * w1[1]).squareRoot()
        let gradientNorm2: Double = (g2[0] * g2[0] + g2[1] * g2[1]).squareRoot()
        let trust2: Double = 0.001 * weightNorm2 / gradientNorm2
        let v2: [Double] = [
            0.9 * v1[0] + 0.1 * trust2 * g2[0], 0.9 * v1[1] + 0.1 * trust2 * g2[1], 0.9 * v1[2] + 0.1 * 0.3,
        ]
        expectClose(store.values.array, [w1[0] - v2[0], w1[1] - v2[1], w1[2] - v2[2]], 1e-7)
    }

    // A zero gradient gives a trust ratio of 1 rather than a division by zero.
    @Test func larsZeroGradientIsSafe() {
        let store = tinyStore()
        setGradients(store, [0, 0, 0])
        LARS(store: store, weightDecay: 0).step(learningRate: 0.1)
        expectClose(store.values.array, [1, -2, 0.5])
    }

    // AdamW, lr 0.01, decay 0.1. Step 1: w *= 1 - 0.001; m = 0.1 g, v = 0.001 g^2; the
    // bias-corrected step is g / (|g| + eps) = sign(g) (to 1e-7).
    @Test func adamWFirstTwoSteps() {
        let store = tinyStore()
        let adam = AdamW(store: store, weightDecay: 0.1)
        adam.step(learningRate: 0.01)
        let grad: [Double] = [0.1, 0.2, 0.3]
        let start: [Double] = [1.0, -2, 0.5]
        var w1: [Double] = []
        for i in 0..<3 {
            let step: Double = grad[i] / (grad[i] + 1e-8)
            w1.append(start[i] * (1 - 0.001) - 0.01 * step)
        }
        expectClose(store.values.array, w1)

        adam.step(learningRate: 0.01)
        var w2: [Double] = []
        for i in 0..<3 {
            let m: Double = 0.19 * grad[i]  // 0.9 * 0.1 g + 0.1 g
            let v: Double = (0.999 * 0.001 + 0.001) * grad[i] * grad[i]
            let mHat: Double = m / (1 - 0.81)
            let vHat: Double = v / (1 - 0.999 * 0.999)
            w2.append(w1[i] * (1 - 0.001) - 0.01 * mHat / (vHat.squareRoot() + 1e-8))
        }
        expectClose(store.values.array, w2)
    }
}

@Suite("Learning-rate schedule and scaling")
struct ScheduleTests {
    @Test func warmupThenCosine() {
        let schedule = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 14)
        expectClose((0..<4).map { schedule.rate(at: $0) }, [0.25, 0.5, 0.75, 1])
        #expect(schedule.rate(at: 4) == 1)
        #expect(abs(schedule.rate(at: 9) - 0.5) < 1e-6)
        #expect(abs(schedule.rate(at: 14)) < 1e-7)
        #expect(schedule.rate(at: 20) == 0)
    }

    @Test func paperScalingRules() {
        #expect(LearningRateScaling.linear.peak(base: 0.3, batchSize: 4096) == 4.8)
        #expect(abs(LearningRateScaling.squareRoot.peak(base: 0.075, batchSize: 4096) - 4.8) < 1e-6)
        #expect(LearningRateScaling.linear.peak(base: 0.3, batchSize: 256) == 0.3)
        #expect(LearningRateScaling.none.peak(base: 0.12, batchSize: 256) == 0.12)
    }
}
