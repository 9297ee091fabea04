import Foundation
import Synchronization
import Testing
import TrackerCore
import TrackerTestSupport

@testable import TrackerServer

#if canImport(Glibc)
    import Glibc
#endif

/// The bulk-work pool: jobs run off the caller's thread, a bound refuses the job past it, and
/// stopping cancels what runs and what waits.
@Suite struct BulkWorkTests {
    final class Seen: Sendable {
        let ran = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        let threads = Mutex<Set<String>>([])
        let release = Atomic<Bool>(false)
    }

    /// The calling thread's name, from `/proc/thread-self/comm`.
    static func threadName() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        defer { close(fd) }
        var name = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &name, name.count)
        return String(decoding: name.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    @Test func jobsRunOnThePoolsThreads() async throws {
        let work = BulkWork(threads: 2, limit: 8)
        let runner = work.start()
        let seen = Seen()
        for _ in 0..<4 {
            #expect(
                work.submit {
                    seen.ran.add(1, ordering: .relaxed); seen.threads.withLock { _ = $0.insert(Self.threadName()) }
                })
        }
        for _ in 0..<500 where seen.ran.load(ordering: .relaxed) < 4 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(seen.ran.load(ordering: .relaxed) == 4)
        #expect(seen.threads.withLock { $0 }.allSatisfy { $0.hasPrefix("TP-") }, "\(seen.threads.withLock { $0 })")
        work.stop()
        await runner.value
        await work.shutdownPool()
    }
}
