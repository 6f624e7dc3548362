// Reading and writing the safetensors format (an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the raw data), for float32
// tensors only. Used for exported encoders that PyTorch loads and for the PyTorch test fixtures.

import Foundation

/// A named float32 tensor as stored in a safetensors file.
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "NamedTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }
}

/// What can go wrong reading a safetensors file.
public enum SafeTensorsError: Error, CustomStringConvertible {
    case truncated(path: String, detail: String)
    case malformedHeader(path: String, detail: String)
    case unsupportedType(path: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case .truncated(let path, let detail): "\(path): truncated safetensors file (\(detail))"
        case .malformedHeader(let path, let detail): "\(path): malformed safetensors header (\(detail))"
        case .unsupportedType(let path, let tensor, let dtype):
            "\(path): tensor \(tensor) has dtype \(dtype); only F32 is supported"
        }
    }
}

public enum SafeTensors {
    private struct Entry: Codable {
        var dtype: String
        var shape: [Int]
        var data_offsets: [Int]
    }

    /// Encodes `tensors` (written in name order) with optional string `metadata`. `integers`
    /// are written as 0-d I64 tensors (PyTorch's `num_batches_tracked` buffers).
    public static func encode(
        _ tensors: [String: NamedTensor], integers: [String: Int64] = [:], metadata: [String: String] = [:]
    ) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let bytes = tensors[name]!.values.count * 4
            header[name] = ["dtype": "F32", "shape": tensors[name]!.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        let integerNames = integers.keys.sorted()
        for name in integerNames {
            header[name] = ["dtype": "I64", "shape": [Int](), "data_offsets": [offset, offset + 8]]
            offset += 8
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names {
            tensors[name]!.values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        for name in integerNames {
            withUnsafeBytes(of: integers[name]!.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Decodes a whole file's bytes; `path` only names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> [String: NamedTensor] {
        guard data.count >= 8 else { throw SafeTensorsError.truncated(path: path, detail: "\(data.count) bytes") }
        let headerLength = data.prefix(8).withUnsafeBytes {
            Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)))
        }
        guard headerLength >= 2, headerLength <= data.count - 8 else {
            throw SafeTensorsError.truncated(path: path, detail: "header of \(headerLength) bytes in \(data.count)")
        }
        let headerData = data.subdata(in: 8..<(8 + headerLength))
        guard let object = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafeTensorsError.malformedHeader(path: path, detail: "not a JSON object")
        }
        let body = 8 + headerLength
        var tensors: [String: NamedTensor] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int],
                offsets.count == 2
            else { throw SafeTensorsError.malformedHeader(path: path, detail: "entry \(name)") }
            if dtype == "I64" { continue }  // integer bookkeeping (num_batches_tracked) is not read back
            guard dtype == "F32" else { throw SafeTensorsError.unsupportedType(path: path, tensor: name, dtype: dtype) }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] - offsets[0] == count * 4 else {
                throw SafeTensorsError.malformedHeader(path: path, detail: "\(name): byte range does not match shape")
            }
            guard body + offsets[1] <= data.count else {
                throw SafeTensorsError.truncated(path: path, detail: "\(name) ends past the file")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { target in
                _ = data.copyBytes(to: target, from: (body + offsets[0])..<(body + offsets[1]))
            }
            tensors[name] = NamedTensor(shape: shape, values: values)
        }
        return tensors
    }

    public static func read(_ url: URL) throws -> [String: NamedTensor] {
        try decode(try Data(contentsOf: url), path: url.path)
    }
}
