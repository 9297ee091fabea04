import Foundation
import PrivateCore
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// The `api` registry kept in a file with the memory store (`private.state_file`): one line per
/// API call (`RegistryCall.line`), appended and synced as each call is applied, so a restart,
/// planned or not, loses none. At startup the file is read, then rewritten as the calls that
/// rebuild what it held; it is rewritten so again once it holds twice as many lines as that.
/// Mode 0600: it holds passkeys.
final class RegistryJournal: Sendable {
    let path: String
    private struct State {
        var fd: Int32
        var lines: Int
        var compactAt: Int
    }
    private let state: Locked<State>

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads `path` (a missing file is an empty registry), rewrites it compacted, and opens it
    /// for appending.
    init(path: String) throws(LoadError) {
        self.path = path
        var registry = Registry()
        if let data = FileManager.default.contents(atPath: path) {
            for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
                guard let change = RegistryCall(line: line)?.change else {
                    throw LoadError(description: "private.state_file: \(path) line \(n + 1) is not a registry change")
                }
                try? registry.apply(change)
            }
        }
        loaded = registry
        let calls = RegistryCall.snapshot(registry)
        let fd = try Self.rewrite(path, calls)
        state = Locked(State(fd: fd, lines: calls.count, compactAt: max(10_000, 2 * calls.count)))
    }

    /// What the file held at startup.
    let loaded: Registry

    deinit { state.withLock { _ = close($0.fd) } }

    /// Appends `change` and syncs it; when the file has grown to twice its compacted size,
    /// rewrites it from `current` (the registry with the change applied).
    func append(_ change: RegistryChange, current: () -> Registry) {
        let line = Array((RegistryCall(change).line + "\n").utf8)
        state.withLock { s in
            _ = line.withUnsafeBytes { write(s.fd, $0.baseAddress, $0.count) }
            _ = fsync(s.fd)
            s.lines += 1
            guard s.lines >= s.compactAt else { return }
            let calls = RegistryCall.snapshot(current())
            if let fd = try? Self.rewrite(path, calls) {
                _ = close(s.fd)
                (s.fd, s.lines, s.compactAt) = (fd, calls.count, max(10_000, 2 * calls.count))
            }
        }
    }

    /// Writes `calls` to a new file beside `path`, syncs it, renames it over `path`; returns it
    /// open for appending.
    private static func rewrite(_ path: String, _ calls: [RegistryCall]) throws(LoadError) -> Int32 {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LoadError(description: "private.state_file: cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var text = [UInt8]()
        for c in calls { text += Array((c.line + "\n").utf8) }
        var ok = text.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0 && rename(tmp, path) == 0
        guard ok else {
            let why = String(cString: strerror(errno))
            _ = close(fd)
            throw LoadError(description: "private.state_file: cannot write \(path): \(why)")
        }
        // The rename is durable once the directory is synced too.
        let dir = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY)
        if dir >= 0 {
            _ = fsync(dir)
            _ = close(dir)
        }
        _ = lseek(fd, 0, SEEK_END)
        return fd
    }
}
