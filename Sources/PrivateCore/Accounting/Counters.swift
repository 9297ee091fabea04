public import TrackerCore

/// What the accounting remembers of one peer (torrent, user, peer_id) between its announces,
/// over both address families and both hashes of a hybrid torrent: the highest counters it
/// has reported (high-water marks), when, and its state then.
public struct PeerBaseline: Sendable, Equatable {
    public var uploaded: UInt64
    public var downloaded: UInt64
    /// Unix seconds of the last announce that moved the baseline.
    public var at: UInt32
    /// Whether it was seeding (left = 0) then.
    public var seeder: Bool
    /// False after a `stopped` (until it announces again).
    public var active: Bool

    public init(uploaded: UInt64, downloaded: UInt64, at: UInt32, seeder: Bool, active: Bool = true) {
        (self.uploaded, self.downloaded, self.at, self.seeder, self.active) = (uploaded, downloaded, at, seeder, active)
    }
}

/// How an announce's counters relate to the peer's baseline.
public enum CounterStep: Sendable, Equatable {
    /// The first announce of a peer the accounting does not hold: it sets the baseline and
    /// credits nothing (UNIT3D-Announce's rule: a client's counters from before it was known
    /// are not this tracker's to credit).
    case new
    /// Both counters at or above the baseline: the difference is credited.
    case advanced
    /// A counter below the baseline with `event=started`, or after the dedup window since the
    /// peer's last announce: the client restarted. Its lost counters credit nothing, what was
    /// credited stays, and the baseline starts again from what it reports.
    case restarted
    /// A counter below the baseline inside the dedup window, without `started`: an older
    /// announce of the same peer arriving late (a dual-stack pair reordered, a same-address
    /// duplicate). It credits nothing and leaves the baseline as it was.
    case stale
}

/// One announce's step, as the accounting takes it.
public struct CounterOutcome: Sendable, Equatable {
    public var step: CounterStep
    /// Raw (unfactored) deltas to credit.
    public var uploaded: UInt64
    public var downloaded: UInt64
    /// The baseline to keep from now on.
    public var baseline: PeerBaseline
    /// A known peer that was leeching and now seeds (UNIT3D's completion rule; the `event`
    /// does not matter, and a restart, or a return after a stop on one family, may complete).
    /// A peer first seen seeding never completes, nor does a stale announce.
    public var completed: Bool
    /// The change in whether the peer counts as a seeder, and as a leecher (-1, 0, +1): a new
    /// or returning peer counts where it lands, a stopped one leaves where it was.
    public var seederDelta: Int
    public var leecherDelta: Int
}

/// The accounting's counter rule (see `CounterStep`): a high-water mark per peer, so a late or
/// duplicated announce never credits twice and a lower counter is a restart only when it can
/// be one.
public enum Counters {
    /// The step for an announce reporting `uploaded`, `downloaded` and `left` with `event` at
    /// unix second `now`, given the peer's baseline (nil: not held). `window` is the dedup
    /// window in seconds.
    public static func step(
        _ old: PeerBaseline?, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32, window: UInt32
    ) -> CounterOutcome {
        let seeder = left == 0
        let active = event != .stopped
        let reported = PeerBaseline(uploaded: uploaded, downloaded: downloaded, at: now, seeder: seeder, active: active)
        guard let old else {
            return CounterOutcome(
                step: .new, uploaded: 0, downloaded: 0, baseline: reported, completed: false,
                seederDelta: active && seeder ? 1 : 0, leecherDelta: active && !seeder ? 1 : 0)
        }
        let step: CounterStep
        // Instances' clocks may differ by a little: an announce "before" the baseline is no gap.
        let elapsed = now > old.at ? now - old.at : 0
        if uploaded >= old.uploaded && downloaded >= old.downloaded {
            step = .advanced
        } else if event == .started || elapsed > window {
            step = .restarted
        } else {
            step = .stale
        }
        guard step != .stale else {
            return CounterOutcome(
                step: .stale, uploaded: 0, downloaded: 0, baseline: old, completed: false, seederDelta: 0, leecherDelta: 0)
        }
        let credited = step == .advanced ? (uploaded - old.uploaded, downloaded - old.downloaded) : (0, 0)
        func counts(_ b: PeerBaseline) -> (seeder: Int, leecher: Int) { b.active ? (b.seeder ? (1, 0) : (0, 1)) : (0, 0) }
        let (was, now) = (counts(old), counts(reported))
        return CounterOutcome(
            step: step, uploaded: credited.0, downloaded: credited.1, baseline: reported,
            completed: !old.seeder && seeder,
            seederDelta: now.seeder - was.seeder, leecherDelta: now.leecher - was.leecher)
    }
}
