// Finite-difference checking shared by the compute tests.
//
// Every check compares a hand-written backward with central differences of the forward,
// (f(x + h) - f(x - h)) / 2h, on a scalar objective f = sum(r * y) with a fixed random r (or the
// loss itself). The forward runs in Float32, so the difference carries a rounding error of about
// eps32 * |f| / h on top of the O(h^2) truncation error; tolerances below are therefore stated
// relative to the largest gradient entry checked, and chosen per test from those two terms.

import Compute
import Testing

/// A deterministic tensor of standard normal values.
func randomTensor(_ shape: Shape, seed: UInt64, scale: Float = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor((0..<shape.count).map { _ in scale * generator.normal() }, shape: shape)
}

/// `sum(r * y)` in Double.
func dot(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape.count == b.shape.count)
    var sum = 0.0
    for i in 0..<a.shape.count { sum += Double(a.pointer[i]) * Double(b.pointer[i]) }
    return sum
}

/// Analytic derivatives next to one-sided finite differences for a set of probed coordinates.
///
/// A probe whose forward and backward differences disagree by more than the tolerance has a kink
/// (a ReLU or max-pool switching) within h of it, where no difference quotient is meaningful; such
/// probes are counted and left out, and a check fails if more than a quarter of its probes are.
/// Elsewhere the analytic value must match the central difference.
struct GradientReport: CustomStringConvertible {
    struct Probe {
        var name: String
        var analytic: Double
        var forward: Double
        var backward: Double
        var central: Double { (forward + backward) / 2 }
    }

    var probes: [Probe] = []

    mutating func record(name: String, analytic: Double, plus: Double, center: Double, minus: Double, step: Float) {
        let h = Double(step)
        probes.append(
            Probe(name: name, analytic: analytic, forward: (plus - center) / h, backward: (center - minus) / h))
    }

    /// The largest analytic derivative probed: the scale tolerances are relative to.
    var scale: Double { max(probes.map { abs($0.analytic) }.max() ?? 0, 1e-12) }

    func kinks(tolerance: Double) -> [Probe] {
        probes.filter { abs($0.forward - $0.backward) > tolerance * scale }
    }

    /// Worst `|analytic - central| / scale` over the smooth probes.
    func relativeError(tolerance: Double) -> Double {
        let smooth = probes.filter { abs($0.forward - $0.backward) <= tolerance * scale }
        return smooth.map { abs($0.analytic - $0.central) / scale }.max() ?? 0
    }

    func passes(tolerance: Double) -> Bool {
        relativeError(tolerance: tolerance) < tolerance && kinks(tolerance: tolerance).count * 4 <= probes.count
    }

    var description: String {
        let worst = probes.max { abs($0.analytic - $0.central) < abs($1.analytic - $1.central) }
        let kinkCount = kinks(tolerance: 1e-2).count
        return "probes=\(probes.count) scale=\(scale) kinks(1e-2)=\(kinkCount) worst: \(worst.map { "\($0)" } ?? "-")"
    }
}

/// Coordinates to probe: all of them when few, otherwise `limit` spread deterministically.
func probeIndices(count: Int, limit: Int, seed: UInt64) -> [Int] {
    if count <= limit { return Array(0..<count) }
    var generator = SeededGenerator(seed: seed)
    return (0..<limit).map { _ in Int(generator.next() % UInt64(count)) }
}

/// Checks `layer`'s input and parameter gradients against central differences of
/// `sum(r * layer(x))`.
func checkLayerGradients(
    _ layer: Layer, store: ParameterStore?, input: Tensor, context: ComputeContext, step h: Float,
    probes: Int = 40, seed: UInt64 = 7
) -> GradientReport {
    let output = layer.forward(input, context: context)
    let r = randomTensor(output.shape, seed: seed)
    store?.zeroGradients()
    let dInput = layer.backward(r, context: context).array
    let dParameters = store?.gradients.array ?? []

    func objective() -> Double { dot(layer.forward(input, context: context), r) }
    let center = objective()

    var report = GradientReport()
    for i in probeIndices(count: input.shape.count, limit: probes, seed: seed &+ 1) {
        let saved = input.pointer[i]
        input.pointer[i] = saved + h
        let plus = objective()
        input.pointer[i] = saved - h
        let minus = objective()
        input.pointer[i] = saved
        report.record(
            name: "input[\(i)]", analytic: Double(dInput[i]), plus: plus, center: center, minus: minus, step: h)
    }
    if let store {
        for segment in store.segments {
            for i in probeIndices(count: segment.count, limit: probes, seed: seed &+ 2) {
                let index = segment.offset + i
                let saved = store.values.base[index]
                store.values.base[index] = saved + h
                let plus = objective()
                store.values.base[index] = saved - h
                let minus = objective()
                store.values.base[index] = saved
                report.record(
                    name: "\(segment.name)[\(i)]", analytic: Double(dParameters[index]), plus: plus, center: center,
                    minus: minus, step: h)
            }
        }
    }
    return report
}
