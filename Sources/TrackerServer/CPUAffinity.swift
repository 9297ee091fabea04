#if canImport(Glibc)
    import Glibc
#endif

/// CPUs this process may run on (its affinity mask, as set by taskset or a cpuset), at least 1.
/// NIO's `System.coreCount` counts the machine's CPUs; event loops beyond the allowed CPUs only
/// take turns on them, paying a context switch each time. Read once at startup from
/// `/proc/self/status` (`Cpus_allowed`, a hex mask), since Glibc's `sched_getaffinity` is not
/// exported to Swift.
public func allowedCPUCount() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), f) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard text.hasPrefix("Cpus_allowed:") else { continue }
        let bits = text.dropFirst("Cpus_allowed:".count).reduce(0) { count, c in
            count + (c.hexDigitValue.map { $0.nonzeroBitCount } ?? 0)
        }
        return max(1, bits)
    }
    return 1
}
