import TrackerCore

/// A test step that took longer than it may.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "did not finish within \(limit)" }
}

/// `body`'s result, or `DeadlineExceeded` once `limit` has passed, whether or not `body` ever
/// returns: a hang fails the test within the limit instead of at the suite's time limit (a task
/// group would wait for the hung child; here it is left running, cancelled).
public func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        let once = ResumeOnce(c)
        let work = Task {
            do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: limit)
            once.resume(.failure(DeadlineExceeded(limit: limit)))
            work.cancel()
        }
    }
}

/// A continuation resumed by whichever comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Locked<CheckedContinuation<T, any Error>?>
    init(_ c: CheckedContinuation<T, any Error>) { continuation = Locked(c) }
    func resume(_ r: Result<T, any Error>) {
        continuation.withLock { c in
            defer { c = nil }
            return c
        }?.resume(with: r)
    }
}
