// Layers without parameters that act on each value or each channel plane: ReLU, 3x3/2 max
// pooling (the ImageNet stem) and global average pooling (the end of every encoder).

/// `y = max(x, 0)`. Shapes: `x, y: [N, C, H, W]`.
public final class ReLU: Layer {
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()

    public init() {}

    public func outputShape(for input: Shape) -> Shape { input }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let y = output.tensor(x.shape)
        let (source, target) = (x.pointer, y.pointer)
        context.parallelFor(x.shape.count) { range, _ in
            Kernels.relu(source, target, range)
        }
        return y
    }

    /// `dx = dy` where the output was positive, else 0 (PyTorch's choice at exactly 0).
    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        let y = output.tensor(dy.shape)
        let dx = dInput.tensor(dy.shape)
        let (values, gradient, target) = (y.pointer, dy.pointer, dx.pointer)
        context.parallelFor(dy.shape.count) { range, _ in
            Kernels.reluBackward(output: values, gradient: gradient, target, range)
        }
        return dx
    }
}

/// Max pooling with a square window, stride and implicit negative-infinity padding.
/// Shapes: `x: [N, C, H, W]`, `y: [N, C, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1]`.
/// Ties go to the first maximum in row-major window order, as in PyTorch.
public final class MaxPool2d: Layer {
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()
    /// For each output value, the index of its maximum inside the input plane.
    private var argmax: [Int32] = []
    private var inputShape = Shape(0, 0)

    public init(kernel: Int = 3, stride: Int = 2, padding: Int = 1) {
        precondition(kernel > 0 && stride > 0 && padding >= 0 && padding * 2 <= kernel)
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputShape(for input: Shape) -> Shape {
        let h = (input.h + 2 * padding - kernel) / stride + 1
        let w = (input.w + 2 * padding - kernel) / stride + 1
        precondition(h > 0 && w > 0, "MaxPool2d: input \(input) too small")
        return Shape(input.n, input.c, h, w)
    }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let shape = outputShape(for: x.shape)
        let y = output.tensor(shape)
        inputShape = x.shape
        if argmax.count < shape.count { argmax = Array(repeating: 0, count: shape.count) }
        let (height, width, outHeight, outWidth) = (x.shape.h, x.shape.w, shape.h, shape.w)
        let (kernel, stride, padding) = (self.kernel, self.stride, self.padding)
        argmax.withUnsafeMutableBufferPointer { argmax in
            let argmax = argmax.baseAddress!
            context.parallelFor(shape.n * shape.c) { planes, _ in
                for p in planes {
                    let source = x.pointer + p * height * width
                    for oy in 0..<outHeight {
                        for ox in 0..<outWidth {
                            var best = -Float.infinity
                            var bestIndex = -1
                            for ky in 0..<kernel {
                                let iy = oy * stride - padding + ky
                                if iy < 0 || iy >= height { continue }
                                for kx in 0..<kernel {
                                    let ix = ox * stride - padding + kx
                                    if ix < 0 || ix >= width { continue }
                                    let v = source[iy * width + ix]
                                    if v > best || v.isNaN || bestIndex < 0 {
                                        best = v
                                        bestIndex = iy * width + ix
                                    }
                                }
                            }
                            let o = (p * outHeight + oy) * outWidth + ox
                            y.pointer[o] = best
                            argmax[o] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
        return y
    }

    /// Routes each output gradient to the input position that was the maximum.
    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        let dx = dInput.tensor(inputShape)
        let inPlane = inputShape.planeCount
        let outPlane = dy.shape.planeCount
        argmax.withUnsafeBufferPointer { argmax in
            let argmax = argmax.baseAddress!
            context.parallelFor(dy.shape.n * dy.shape.c) { planes, _ in
                for p in planes {
                    let target = dx.pointer + p * inPlane
                    target.update(repeating: 0, count: inPlane)
                    for o in 0..<outPlane {
                        target[Int(argmax[p * outPlane + o])] += dy.pointer[p * outPlane + o]
                    }
                }
            }
        }
        return dx
    }
}

/// Mean over each channel plane. Shapes: `x: [N, C, H, W]`, `y: [N, C, 1, 1]`.
public final class GlobalAveragePool: Layer {
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()
    private var inputShape = Shape(0, 0)

    public init() {}

    public func outputShape(for input: Shape) -> Shape { Shape(input.n, input.c) }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let y = output.tensor(outputShape(for: x.shape))
        inputShape = x.shape
        let plane = x.shape.planeCount
        context.parallelFor(x.shape.n * x.shape.c) { planes, _ in
            for p in planes {
                let source = x.pointer + p * plane
                var sum: Float = 0
                for i in 0..<plane { sum += source[i] }
                y.pointer[p] = sum / Float(plane)
            }
        }
        return y
    }

    /// `dx[n, c, h, w] = dy[n, c] / (H * W)`.
    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        let dx = dInput.tensor(inputShape)
        let plane = inputShape.planeCount
        context.parallelFor(inputShape.n * inputShape.c) { planes, _ in
            for p in planes {
                (dx.pointer + p * plane).update(repeating: dy.pointer[p] / Float(plane), count: plane)
            }
        }
        return dx
    }
}

/// Fully connected layer. Shapes: `x: [N, in]` (any `[N, C, H, W]` with `C * H * W = in` is read as
/// flattened), `weight: [out, in]` (PyTorch's layout), `bias: [out]`, `y: [N, out]`.
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int

    private unowned let store: ParameterStore
    private let weightOffset: Int
    private let biasOffset: Int?
    private var input: Tensor?
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()

    /// Declares `weight` and optionally `bias` with PyTorch's default initialisation: uniform in
    /// `+-1/sqrt(in)` for both.
    public init(_ name: String, store: ParameterStore, inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.store = store
        let bound = 1 / Float(inFeatures).squareRoot()
        weightOffset = store.declare(
            name + ".weight", shape: [outFeatures, inFeatures], kind: .weight, initializer: .uniform(bound: bound))
        biasOffset =
            bias
            ? store.declare(name + ".bias", shape: [outFeatures], kind: .bias, initializer: .uniform(bound: bound))
            : nil
    }

    public func outputShape(for input: Shape) -> Shape {
        precondition(input.sampleCount == inFeatures, "Linear: expected \(inFeatures) features, got \(input)")
        return Shape(input.n, outFeatures)
    }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let y = output.tensor(outputShape(for: x.shape))
        input = x
        let n = x.shape.n

        // y = x [n, in] x weight^T [in, out] (+ bias).
        BLAS.gemm(
            transposeA: false, transposeB: true, m: n, n: outFeatures, k: inFeatures,
            alpha: 1, a: x.pointer, lda: inFeatures, b: store.values.base + weightOffset, ldb: inFeatures,
            beta: 0, c: y.pointer, ldc: outFeatures)
        if let biasOffset {
            let bias = store.values.base + biasOffset
            for row in 0..<n {
                let target = y.pointer + row * outFeatures
                for o in 0..<outFeatures { target[o] += bias[o] }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        guard let x = input else { preconditionFailure("Linear: backward before forward") }
        let n = x.shape.n
        let dx = dInput.tensor(x.shape)

        // (1) dWeight += dy^T [out, n] x x [n, in].
        BLAS.gemm(
            transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: n,
            alpha: 1, a: dy.pointer, lda: outFeatures, b: x.pointer, ldb: inFeatures,
            beta: 1, c: store.gradients.base + weightOffset, ldc: inFeatures)

        // (2) dBias += sum over rows of dy.
        if let biasOffset {
            let dBias = store.gradients.base + biasOffset
            for row in 0..<n {
                let source = dy.pointer + row * outFeatures
                for o in 0..<outFeatures { dBias[o] += source[o] }
            }
        }

        // (3) dx = dy [n, out] x weight [out, in].
        BLAS.gemm(
            transposeA: false, transposeB: false, m: n, n: inFeatures, k: outFeatures,
            alpha: 1, a: dy.pointer, lda: outFeatures, b: store.values.base + weightOffset, ldb: inFeatures,
            beta: 0, c: dx.pointer, ldc: inFeatures)
        return dx
    }
}
