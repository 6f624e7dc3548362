// Storage and shapes for the compute core: `FloatBuffer` owns aligned memory that is allocated
// once and reused across steps, `Shape` names an NCHW extent, and `Tensor` pairs the two. Layers
// own the buffers of their outputs and input gradients; nothing here copies or grows on its own.

import Foundation

/// Aligned `Float` storage that lives as long as the object and never moves.
///
/// Shared-mutable by design: a layer fills it from several compute threads at once, each thread
/// writing a disjoint range, and hands it to the next layer only after `ComputeContext.parallelFor`
/// has returned. That hand-off is the invariant behind `@unchecked Sendable`.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of `Float` elements.
    public let count: Int
    /// First element; valid for the lifetime of the buffer.
    public let base: UnsafeMutablePointer<Float>

    /// Allocates `count` floats aligned to 64 bytes, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("FloatBuffer: cannot allocate \(bytes) bytes")
        }
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// Allocates and copies `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(base) }

    /// The elements as a Swift array (a copy; for tests, checkpoints and reports, not hot paths).
    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { base.update(repeating: value, count: count) }
}

/// An NCHW extent. Vectors and matrices use `h = w = 1`: a `[N, F]` matrix is `Shape(n, f, 1, 1)`.
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var n: Int
    public var c: Int
    public var h: Int
    public var w: Int

    public init(_ n: Int, _ c: Int, _ h: Int = 1, _ w: Int = 1) {
        precondition(n >= 0 && c >= 0 && h >= 0 && w >= 0, "Shape: negative extent")
        self.n = n
        self.c = c
        self.h = h
        self.w = w
    }

    /// Elements in one sample (`c * h * w`).
    public var sampleCount: Int { c * h * w }
    /// Elements in one channel plane (`h * w`).
    public var planeCount: Int { h * w }
    /// Elements in the whole tensor.
    public var count: Int { n * c * h * w }

    /// The same per-sample extent with another batch size.
    public func withBatch(_ n: Int) -> Shape { Shape(n, c, h, w) }

    public var description: String { "[\(n), \(c), \(h), \(w)]" }
}

/// A view of `shape.count` floats at the start of a buffer that may be larger (a layer reserves
/// for its largest batch and serves smaller ones from the same storage).
public struct Tensor: @unchecked Sendable {
    public let storage: FloatBuffer
    public let shape: Shape

    public init(storage: FloatBuffer, shape: Shape) {
        precondition(shape.count <= storage.count, "Tensor: shape \(shape) exceeds storage of \(storage.count)")
        self.storage = storage
        self.shape = shape
    }

    /// A fresh zero-filled tensor (allocates; use outside the step).
    public init(zeros shape: Shape) {
        self.init(storage: FloatBuffer(count: shape.count), shape: shape)
    }

    /// A fresh tensor holding `values` (allocates; use outside the step).
    public init(_ values: [Float], shape: Shape) {
        precondition(values.count == shape.count, "Tensor: \(values.count) values for shape \(shape)")
        self.init(storage: FloatBuffer(values), shape: shape)
    }

    public var pointer: UnsafeMutablePointer<Float> { storage.base }

    /// The first `shape.count` elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: storage.base, count: shape.count)) }

    /// Pointer to sample `index` of the batch.
    public func sample(_ index: Int) -> UnsafeMutablePointer<Float> {
        storage.base + index * shape.sampleCount
    }
}

/// A buffer that a layer grows on demand while warming up and then reuses: the first batches
/// allocate, every later batch of the same or smaller size does not.
public struct ReusableBuffer {
    public private(set) var buffer = FloatBuffer(count: 0)

    public init() {}

    /// Returns a tensor of `shape` backed by storage that is reallocated only when too small.
    public mutating func tensor(_ shape: Shape) -> Tensor {
        if buffer.count < shape.count { buffer = FloatBuffer(count: shape.count) }
        return Tensor(storage: buffer, shape: shape)
    }
}
