// Batch norm's bookkeeping: running statistics follow PyTorch's documented update, inference
// uses them, and a statistics reducer sees (and can replace) the per-channel sums.

import Compute
import Testing

@Suite("Batch-norm statistics")
struct BatchNormStatisticsTests {
    // running_mean = (1 - 0.1) * running_mean + 0.1 * batch_mean
    // running_var  = (1 - 0.1) * running_var  + 0.1 * batch_var * n / (n - 1)
    // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3) and channel 1
    // holds -2, 0, 2, 8 (mean 2, biased variance 14, unbiased 56/3), over 2 images of 1x2 pixels.
    @Test func runningStatisticsFollowTheDocumentedUpdate() {
        let store = ParameterStore()
        let norm = BatchNorm("bn", store: store, channels: 2)
        store.finalize()
        let x = Tensor([1, 2, -2, 0, 3, 4, 2, 8], shape: Shape(2, 2, 1, 2))
        let context = ComputeContext(threads: 1)
        let y = norm.forward(x, context: context)
        let state = store.state.array  // running_mean[2], running_var[2]
        #expect(abs(state[0] - 0.25) < 1e-6)
        #expect(abs(state[1] - 0.2) < 1e-6)
        #expect(abs(state[2] - (0.9 + 0.1 * 5 / 3)) < 1e-6)
        #expect(abs(state[3] - (0.9 + 0.1 * 56 / 3)) < 1e-5)
        // The output uses the biased variance: (1 - 2.5) / sqrt(1.25 + 1e-5).
        #expect(abs(y.array[0] - (-1.5 / (1.25 + 1e-5).squareRoot())) < 1e-5)

        // A second step moves the estimates again from where they are.
        _ = norm.forward(x, context: context)
        #expect(abs(store.state.array[0] - (0.9 * 0.25 + 0.25)) < 1e-6)

        // Inference uses the running estimates, not the batch.
        context.mode = .inference
        let inferred = norm.forward(x, context: context).array
        let mean = store.state.array[0]
        let variance = store.state.array[2]
        #expect(abs(inferred[0] - (1 - mean) / (variance + 1e-5).squareRoot()) < 1e-5)
    }

    final class RecordingReducer: BatchStatisticsReducer {
        var calls: [[Double]] = []
        func reduce(_ values: UnsafeMutableBufferPointer<Double>) { calls.append(Array(values)) }
    }

    // The reducer is handed [count, sums, sums of squares] in forward and [sum dy, sum dy xhat]
    // in backward: what a synchronised batch norm needs to all-reduce.
    @Test func reducerSeesPerChannelSums() {
        let store = ParameterStore()
        let norm = BatchNorm("bn", store: store, channels: 2)
        store.finalize()
        let context = ComputeContext(threads: 1)
        let reducer = RecordingReducer()
        context.batchStatisticsReducer = reducer
        let x = Tensor([1, 2, -2, 0, 3, 4, 2, 8], shape: Shape(2, 2, 1, 2))
        _ = norm.forward(x, context: context)
        #expect(reducer.calls.count == 1)
        #expect(reducer.calls[0] == [4, 10, 8, 30, 72])
        _ = norm.backward(Tensor([1, 1, 1, 1, 1, 1, 1, 1], shape: x.shape), context: context)
        #expect(reducer.calls.count == 2)
        #expect(reducer.calls[1].count == 4)
        #expect(reducer.calls[1][0] == 4 && reducer.calls[1][1] == 4)
    }
}
