// 2-D convolution without bias (every convolution of a ResNet is followed by batch norm), any
// square kernel, stride and zero padding. Computed as GEMMs over chunks of the batch: im2col of a
// chunk into per-thread scratch, one GEMM for the chunk, then a scatter back to NCHW.

/// `y[n, o, :, :] = sum_i weight[o, i] (*) x[n, i, :, :]`, cross-correlation as in PyTorch.
///
/// Shapes: `x: [N, inChannels, H, W]`, `weight: [outChannels, inChannels, k, k]`,
/// `y: [N, outChannels, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1]`.
public final class Conv2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    /// Skip the input gradient (the first layer of a network needs none).
    public var needsInputGradient = true

    private unowned let store: ParameterStore
    private let weightOffset: Int
    private var input: Tensor?
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()

    /// Columns of the im2col matrix one GEMM aims for, and the scratch it may use per thread.
    private static let targetColumns = 1024
    private static let maxColumnFloats = 1 << 21

    /// Declares the weight in `store` with torchvision's ResNet initialisation (Kaiming normal,
    /// fan-out, ReLU gain).
    public init(
        _ name: String, store: ParameterStore, inChannels: Int, outChannels: Int,
        kernel: Int, stride: Int = 1, padding: Int = 0
    ) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.store = store
        let fanOut = Float(outChannels * kernel * kernel)
        weightOffset = store.declare(
            name + ".weight", shape: [outChannels, inChannels, kernel, kernel], kind: .weight,
            initializer: .normal(std: (2 / fanOut).squareRoot()))
    }

    public func outputShape(for input: Shape) -> Shape {
        precondition(input.c == inChannels, "Conv2d: expected \(inChannels) channels, got \(input)")
        let h = (input.h + 2 * padding - kernel) / stride + 1
        let w = (input.w + 2 * padding - kernel) / stride + 1
        precondition(h > 0 && w > 0, "Conv2d: input \(input) too small for kernel \(kernel)")
        return Shape(input.n, outChannels, h, w)
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    private var patchSize: Int { inChannels * kernel * kernel }

    /// Images per GEMM chunk for an output plane of `plane` pixels.
    private func chunkImages(plane: Int, batch: Int) -> Int {
        let wanted = (Conv2d.targetColumns + plane - 1) / plane
        let affordable = max(1, Conv2d.maxColumnFloats / (patchSize * plane))
        return max(1, min(wanted, affordable, batch))
    }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        let outShape = outputShape(for: x.shape)
        let y = output.tensor(outShape)
        input = x
        let plane = outShape.planeCount
        let chunk = chunkImages(plane: plane, batch: x.shape.n)
        let k = patchSize
        context.reserveScratch(count: (k + outChannels) * chunk * plane)
        let weight = store.values.base + weightOffset

        context.parallelFor(x.shape.n) { images, thread in
            let scratch = context.scratch(thread: thread, count: (k + outChannels) * chunk * plane)
            let columns = scratch
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(chunk, images.upperBound - first)
                let width = count * plane
                // A single image's product is already NCHW: write it in place.
                let product = count == 1 ? y.sample(first) : scratch + k * chunk * plane

                // Unfold the chunk's patches, then one GEMM: [out, k] x [k, count * plane].
                im2col(x, first: first, count: count, outShape: outShape, into: columns)
                BLAS.gemm(
                    transposeA: false, transposeB: false, m: outChannels, n: width, k: k,
                    alpha: 1, a: weight, lda: k, b: columns, ldb: width, beta: 0, c: product, ldc: width)

                // Scatter [out, image, plane] back to NCHW.
                for image in 0..<count where count > 1 {
                    let target = y.sample(first + image)
                    for o in 0..<outChannels {
                        (target + o * plane).update(from: product + o * width + image * plane, count: plane)
                    }
                }
                first += count
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, context: ComputeContext) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d: backward before forward") }
        let outShape = dy.shape
        let plane = outShape.planeCount
        let chunk = chunkImages(plane: plane, batch: x.shape.n)
        let k = patchSize
        let weightCount = outChannels * k
        let scratchCount = weightCount + (2 * k + outChannels) * chunk * plane
        context.reserveScratch(count: scratchCount)
        let dx = dInput.tensor(x.shape)
        let weight = store.values.base + weightOffset
        let needsInput = needsInputGradient
        let parts = min(context.threads, x.shape.n)

        context.parallelFor(x.shape.n) { images, thread in
            let scratch = context.scratch(thread: thread, count: scratchCount)
            let dWeight = scratch
            let columns = scratch + weightCount
            let dColumns = columns + k * chunk * plane
            dWeight.update(repeating: 0, count: weightCount)
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(chunk, images.upperBound - first)
                let width = count * plane
                // A single image's dy is already [out, plane]: read it in place.
                let dProduct = count == 1 ? dy.sample(first) : dColumns + k * chunk * plane

                // Gather dy of the chunk as [out, image, plane].
                for image in 0..<count where count > 1 {
                    let source = dy.sample(first + image)
                    for o in 0..<outChannels {
                        (dProduct + o * width + image * plane).update(from: source + o * plane, count: plane)
                    }
                }

                // (1) dWeight += dy [out, width] x columns^T [width, k].
                im2col(x, first: first, count: count, outShape: outShape, into: columns)
                BLAS.gemm(
                    transposeA: false, transposeB: true, m: outChannels, n: k, k: width,
                    alpha: 1, a: dProduct, lda: width, b: columns, ldb: width, beta: 1, c: dWeight, ldc: k)

                // (2) dColumns = weight^T [k, out] x dy [out, width], folded back onto dx.
                if needsInput {
                    BLAS.gemm(
                        transposeA: true, transposeB: false, m: k, n: width, k: outChannels,
                        alpha: 1, a: weight, lda: k, b: dProduct, ldb: width, beta: 0, c: dColumns, ldc: width)
                    col2im(dColumns, first: first, count: count, outShape: outShape, into: dx)
                }
                first += count
            }
        }

        // Sum the threads' partial weight gradients into the store.
        let dWeightTotal = store.gradients.base + weightOffset
        for thread in 0..<parts {
            let partial = context.scratch(thread: thread, count: scratchCount)
            for i in 0..<weightCount { dWeightTotal[i] += partial[i] }
        }
        return dx
    }

    /// Valid output columns `[low, high)` of a row for kernel offset `offset`: those whose input
    /// column `ox * stride - padding + offset` lies in `[0, size)`.
    private func validRange(offset: Int, size: Int, outSize: Int) -> (Int, Int) {
        let shifted = padding - offset
        let low = shifted <= 0 ? 0 : (shifted + stride - 1) / stride
        let last = size - 1 + padding - offset
        let high = last < 0 ? 0 : min(outSize, last / stride + 1)
        return (min(low, high), high)
    }

    /// For a stride-1 convolution whose output has the input's size, the im2col row of kernel
    /// offset (ky, kx) is the input plane shifted by `(ky - p) * W + (kx - p)`, with the rows and
    /// columns that fall outside zeroed: one long copy per plane instead of one per pixel row.
    /// Returns the shift, the valid output rows and the valid output columns.
    private func sameSizeShift(ky: Int, kx: Int, height: Int, width: Int) -> (Int, Range<Int>, Range<Int>) {
        let rows = max(0, padding - ky)..<min(height, height + padding - ky)
        let (low, high) = validRange(offset: kx, size: width, outSize: width)
        return ((ky - padding) * width + (kx - padding), rows, low..<high)
    }

    /// Writes columns `[k, count * plane]` for images `first..<first+count` of `x`.
    private func im2col(
        _ x: Tensor, first: Int, count: Int, outShape: Shape, into columns: UnsafeMutablePointer<Float>
    ) {
        let (height, width) = (x.shape.h, x.shape.w)
        let (outHeight, outWidth) = (outShape.h, outShape.w)
        let plane = outHeight * outWidth
        let rowLength = count * plane
        let sameSize = stride == 1 && outHeight == height && outWidth == width
        for channel in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = columns + ((channel * kernel + ky) * kernel + kx) * rowLength
                    if sameSize {
                        let (shift, rows, valid) = sameSizeShift(ky: ky, kx: kx, height: height, width: width)
                        for image in 0..<count {
                            let target = row + image * plane
                            let source = x.sample(first + image) + channel * plane
                            guard !rows.isEmpty && !valid.isEmpty else {
                                target.update(repeating: 0, count: plane)
                                continue
                            }
                            let start = rows.lowerBound * width + valid.lowerBound
                            let end = (rows.upperBound - 1) * width + valid.upperBound
                            target.update(repeating: 0, count: start)
                            (target + start).update(from: source + start + shift, count: end - start)
                            (target + end).update(repeating: 0, count: plane - end)
                            for oy in rows {
                                for ox in 0..<valid.lowerBound { target[oy * width + ox] = 0 }
                                for ox in valid.upperBound..<width { target[oy * width + ox] = 0 }
                            }
                        }
                        continue
                    }
                    let (low, high) = validRange(offset: kx, size: width, outSize: outWidth)
                    for image in 0..<count {
                        let source = x.sample(first + image) + channel * height * width
                        for oy in 0..<outHeight {
                            let target = row + image * plane + oy * outWidth
                            let iy = oy * stride - padding + ky
                            if iy < 0 || iy >= height || low >= high {
                                target.update(repeating: 0, count: outWidth)
                                continue
                            }
                            target.update(repeating: 0, count: low)
                            (target + high).update(repeating: 0, count: outWidth - high)
                            let sourceRow = source + iy * width - padding + kx
                            if stride == 1 {
                                (target + low).update(from: sourceRow + low, count: high - low)
                            } else {
                                for ox in low..<high { target[ox] = sourceRow[ox * stride] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds columns `[k, count * plane]` back onto images `first..<first+count` of `dx`, which it
    /// zeroes first: the adjoint of `im2col`.
    /// In the stride-1 same-size case the columns outside the valid range are zeroed first, so
    /// that one long shifted addition per plane adds nothing where it wraps between rows.
    private func col2im(
        _ columns: UnsafeMutablePointer<Float>, first: Int, count: Int, outShape: Shape, into dx: Tensor
    ) {
        let (height, width) = (dx.shape.h, dx.shape.w)
        let (outHeight, outWidth) = (outShape.h, outShape.w)
        let plane = outHeight * outWidth
        let rowLength = count * plane
        let sameSize = stride == 1 && outHeight == height && outWidth == width
        dx.sample(first).update(repeating: 0, count: count * dx.shape.sampleCount)
        for channel in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = columns + ((channel * kernel + ky) * kernel + kx) * rowLength
                    if sameSize {
                        let (shift, rows, valid) = sameSizeShift(ky: ky, kx: kx, height: height, width: width)
                        if rows.isEmpty || valid.isEmpty { continue }
                        let start = rows.lowerBound * width + valid.lowerBound
                        let end = (rows.upperBound - 1) * width + valid.upperBound
                        for image in 0..<count {
                            let source = row + image * plane
                            let target = dx.sample(first + image) + channel * plane + shift
                            for oy in rows {
                                for ox in 0..<valid.lowerBound { source[oy * width + ox] = 0 }
                                for ox in valid.upperBound..<width { source[oy * width + ox] = 0 }
                            }
                            for t in start..<end { target[t] += source[t] }
                        }
                        continue
                    }
                    let (low, high) = validRange(offset: kx, size: width, outSize: outWidth)
                    if low >= high { continue }
                    for image in 0..<count {
                        let target = dx.sample(first + image) + channel * height * width
                        for oy in 0..<outHeight {
                            let iy = oy * stride - padding + ky
                            if iy < 0 || iy >= height { continue }
                            let source = row + image * plane + oy * outWidth
                            let targetRow = target + iy * width - padding + kx
                            for ox in low..<high { targetRow[ox * stride] += source[ox] }
                        }
                    }
                }
            }
        }
    }
}
