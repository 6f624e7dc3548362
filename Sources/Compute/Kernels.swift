// Elementwise and reduction loops of the hot path, written with SIMD vectors: the compiler does
// not vectorise a select between two pointers that may alias, nor reassociate a floating-point
// sum, so these loops say it themselves. Each processes `[start, end)` of flat arrays.

@usableFromInline typealias Vector = SIMD8<Float>

@inline(__always) @usableFromInline
func load(_ pointer: UnsafePointer<Float>) -> Vector {
    UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
}

@inline(__always) @usableFromInline
func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
}

public enum Kernels {
    /// `target = max(source, 0)`.
    @inlinable
    public static func relu(
        _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ range: Range<Int>
    ) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let v = load(source + i)
            store(v.replacing(with: 0, where: v .< 0), target + i)
            i += 8
        }
        while i < range.upperBound {
            target[i] = max(source[i], 0)
            i += 1
        }
    }

    /// `target = max(a + b, 0)`.
    @inlinable
    public static func addRelu(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>,
        _ range: Range<Int>
    ) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let v = load(a + i) + load(b + i)
            store(v.replacing(with: 0, where: v .< 0), target + i)
            i += 8
        }
        while i < range.upperBound {
            target[i] = max(a[i] + b[i], 0)
            i += 1
        }
    }

    /// `target = gradient` where `output > 0`, else 0: the backward of ReLU given its output.
    @inlinable
    public static func reluBackward(
        output: UnsafePointer<Float>, gradient: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>,
        _ range: Range<Int>
    ) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            store(load(gradient + i).replacing(with: 0, where: load(output + i) .<= 0), target + i)
            i += 8
        }
        while i < range.upperBound {
            target[i] = output[i] > 0 ? gradient[i] : 0
            i += 1
        }
    }

    /// `target += addend`.
    @inlinable
    public static func add(
        _ addend: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, _ range: Range<Int>
    ) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            store(load(target + i) + load(addend + i), target + i)
            i += 8
        }
        while i < range.upperBound {
            target[i] += addend[i]
            i += 1
        }
    }

    /// `(sum x, sum x^2)` of `count` values, accumulated in eight Float lanes and returned in Double.
    /// Callers keep `count` to a channel plane (at most a few thousand values), where Float lanes
    /// lose less than 1e-6 relative.
    @inlinable
    public static func sumAndSquares(_ x: UnsafePointer<Float>, count: Int) -> (Double, Double) {
        var sum = Vector(repeating: 0)
        var squares = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let v = load(x + i)
            sum += v
            squares += v * v
            i += 8
        }
        var total = Double(sum.sum())
        var totalSquares = Double(squares.sum())
        while i < count {
            total += Double(x[i])
            totalSquares += Double(x[i]) * Double(x[i])
            i += 1
        }
        return (total, totalSquares)
    }

    /// `(sum g, sum g * h)` of `count` values, as `sumAndSquares`.
    @inlinable
    public static func sumAndDot(_ g: UnsafePointer<Float>, _ h: UnsafePointer<Float>, count: Int) -> (Double, Double) {
        var sum = Vector(repeating: 0)
        var dot = Vector(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let v = load(g + i)
            sum += v
            dot += v * load(h + i)
            i += 8
        }
        var total = Double(sum.sum())
        var totalDot = Double(dot.sum())
        while i < count {
            total += Double(g[i])
            totalDot += Double(g[i]) * Double(h[i])
            i += 1
        }
        return (total, totalDot)
    }
}
