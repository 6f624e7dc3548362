// The contract every layer of the compute core follows, and `Sequential`, which chains layers.
//
// A layer owns the buffers of its output and of its input gradient and returns views of them, so
// a returned tensor stays valid until the layer's next forward or backward. Backward must follow
// the forward it differentiates; it accumulates parameter gradients into the model's
// `ParameterStore` (`+=`, as PyTorch does) and returns the gradient with respect to the input.

public protocol Layer: AnyObject {
    /// Shape of the output for an input of shape `input`.
    func outputShape(for input: Shape) -> Shape
    /// Computes the output and keeps what backward needs.
    func forward(_ input: Tensor, context: ComputeContext) -> Tensor
    /// Given `dOutput` (shape of the last output), accumulates parameter gradients and returns
    /// `dInput` (shape of the last input).
    func backward(_ dOutput: Tensor, context: ComputeContext) -> Tensor
}

/// Layers applied one after another.
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }

    public func outputShape(for input: Shape) -> Shape {
        layers.reduce(input) { $1.outputShape(for: $0) }
    }

    public func forward(_ input: Tensor, context: ComputeContext) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x, context: context) }
        return x
    }

    public func backward(_ dOutput: Tensor, context: ComputeContext) -> Tensor {
        var d = dOutput
        for layer in layers.reversed() { d = layer.backward(d, context: context) }
        return d
    }
}
