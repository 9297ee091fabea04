import TrackerCore

/// The certificates a TLS listener serves now. `reload()` builds and validates a new set from
/// the same files, then swaps it in whole: new handshakes use it, connections already open
/// keep the set they started with. A reload that fails leaves the current set in place.
public final class ReloadableTLSContexts: TLSContextProvider {
    public let pairs: [(certificate: String, key: String)]
    private let state: Locked<TLSContextSet>

    /// Loads the initial set; fails naming the file and the reason.
    public init(pairs: [(certificate: String, key: String)]) throws(TLSError) {
        self.pairs = pairs
        state = Locked(try TLSContextSet(pairs: pairs))
    }

    public var current: TLSContextSet { state.withLock { $0 } }

    /// Re-reads every file; returns the new set, or throws and keeps the old one.
    @discardableResult
    public func reload() throws(TLSError) -> TLSContextSet {
        let fresh = try TLSContextSet(pairs: pairs)
        state.withLock { $0 = fresh }
        return fresh
    }
}
