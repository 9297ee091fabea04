import TrackerCore

/// The certificates a TLS listener serves now. `reload()` builds and validates a new set from
/// the same files (or, given `pairs`, from other files), then swaps it in whole: new handshakes
/// use it, connections already open keep the set they started with. A reload that fails leaves
/// the current set, and the files it was read from, in place.
public final class ReloadableTLSContexts: TLSContextProvider {
    private let state: Locked<(set: TLSContextSet, pairs: [(certificate: String, key: String)])>

    /// Loads the initial set; fails naming the file and the reason.
    public init(pairs: [(certificate: String, key: String)]) throws(TLSError) {
        state = Locked((try TLSContextSet(pairs: pairs), pairs))
    }

    public var current: TLSContextSet { state.withLock { $0.set } }

    /// The files the current set was read from.
    public var pairs: [(certificate: String, key: String)] { state.withLock { $0.pairs } }

    /// Re-reads every file (of `pairs` when given, else the current ones); returns the new set,
    /// or throws and keeps the old one.
    @discardableResult
    public func reload(pairs newPairs: [(certificate: String, key: String)]? = nil) throws(TLSError) -> TLSContextSet {
        let pairs = newPairs ?? self.pairs
        let fresh = try TLSContextSet(pairs: pairs)
        state.withLock { $0 = (fresh, pairs) }
        return fresh
    }
}
