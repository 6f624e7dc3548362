// Choosing OpenBLAS's kernels. Debian's OpenBLAS 0.3.21 picks its kernels at load time from the
// CPU model, and on processors newer than it knows (Sapphire Rapids, for one) it falls back to
// its SSE3 "Prescott" kernels, four to five times slower than the AVX-512 ones the CPU runs.
// OPENBLAS_CORETYPE overrides the choice but is read only when the library loads, so the
// executable sets it and re-executes itself before its first BLAS call.

import CBLAS
import Foundation

public enum OpenBLASCore {
    /// The kernel set OpenBLAS chose for this process, e.g. "SkylakeX" or "Prescott".
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The kernel set this CPU supports best among those OpenBLAS 0.3.21 ships, from the
    /// instruction-set flags in /proc/cpuinfo; `nil` when nothing better than the default applies.
    public static func preferred() -> String? {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The coretype to set before re-executing, or `nil` when the process should go on as it is:
    /// the user chose one already, OpenBLAS already runs a vector kernel set, or none is better.
    public static func override() -> String? {
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil { return nil }
        guard ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Unknown"].contains(current) else {
            return nil
        }
        return preferred()
    }
}
