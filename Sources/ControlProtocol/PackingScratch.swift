// Memory for the C structs that protobuf-c packs: strings, arrays and nested messages copied out of
// Swift values, alive for exactly one encode and freed together at its end. Nothing here escapes.

/// Owns every C allocation made while one message is packed.
final class PackingScratch {
    private var releases: [() -> Void] = []

    private init() {}

    /// Runs `body` with a fresh scratch and frees everything it allocated once `body` returns.
    static func with<Result>(_ body: (PackingScratch) -> Result) -> Result {
        let scratch = PackingScratch()
        defer { for release in scratch.releases { release() } }
        return body(scratch)
    }

    /// A NUL-terminated UTF-8 copy of `string`. C sees it up to the first NUL, if `string` has one.
    func string(_ string: String) -> UnsafeMutablePointer<CChar> {
        let bytes = string.utf8CString
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        bytes.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: $0.count) }
        releases.append { copy.deallocate() }
        return copy
    }

    /// A copy of `values`, or nil when there are none (protobuf-c reads nothing behind a zero count).
    func array<Element>(_ values: [Element]) -> UnsafeMutablePointer<Element>? {
        guard !values.isEmpty else { return nil }
        let copy = UnsafeMutablePointer<Element>.allocate(capacity: values.count)
        values.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: $0.count) }
        releases.append {
            copy.deinitialize(count: values.count)
            copy.deallocate()
        }
        return copy
    }

    /// A C array of C copies of `strings`.
    func strings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        array(strings.map { Optional(string($0)) })
    }

    /// `message` moved to memory of its own, for a parent message to point at.
    func message<Message>(_ message: Message) -> UnsafeMutablePointer<Message> {
        let copy = UnsafeMutablePointer<Message>.allocate(capacity: 1)
        copy.initialize(to: message)
        releases.append {
            copy.deinitialize(count: 1)
            copy.deallocate()
        }
        return copy
    }
}
