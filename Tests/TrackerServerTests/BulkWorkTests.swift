import Foundation
import Logging
import MemoryStore
import Synchronization
import Testing
import TrackerCore
import TrackerProtocol
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

    /// A full scrape (a walk over every torrent) is bulk work, never an event loop's: while the
    /// bulk work is full it is answered 503 at once, and once there is room its files come from
    /// one of the pool's threads.
    @Test func aFullScrapeIsBulkWork() async throws {
        var config = SquallConfig()
        config.scrape.fullScrape = true
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = MemoryPeerStore(clock: ManualTrackerClock(), peerTTL: 1860)
        let work = BulkWork(threads: 1, limit: 1)
        let runner = work.start()
        let router = TrackerRouter(store: store, config: config, logger: logger, bulk: work)
        func get(_ target: String) async -> (HTTPReply, String) {
            let text = "GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n"
            guard case .head(let head, _) = Array(text.utf8).withUnsafeBytes({ HTTPHeadParser.parse($0, maxHeadBytes: 8192) }) else {
                Issue.record("no head")
                return (.text(500, ""), "")
            }
            return await withCheckedContinuation { c in
                router.route(head, remote: .v4(IPv4Address(127, 0, 0, 1))) { c.resume(returning: ($0, Self.threadName())) }
            }
        }
        _ = await get(announceTarget(hash: testHash(3), peer: testPeer("a"), left: 0))
        // The one slot taken by a job held until released.
        let seen = Seen()
        #expect(work.submit { while !seen.release.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) } })
        let (busy, _) = await get("/scrape")
        #expect(busy.status == 503 && busy.extraHeaders.contains("Retry-After: 1"), "\(busy)")
        seen.release.store(true, ordering: .relaxed)
        for _ in 0..<500 where work.load > 0 { try await Task.sleep(for: .milliseconds(10)) }
        let (reply, thread) = await get("/scrape")
        #expect(reply.status == 200 && thread.hasPrefix("TP-"), "\(reply.status) on \(thread)")
        #expect(try BencodeValue.decode(reply.body)["files"]?.dictEntries?.map(\.0) == [testHash(3)])
        // A scrape of named hashes stays inline.
        let (named, inline) = await get("/scrape?info_hash=" + PercentDecoding.encode(testHash(3)))
        #expect(named.status == 200 && !inline.hasPrefix("TP-"), "\(inline)")
        work.stop()
        await runner.value
        await work.shutdownPool()
    }
}
