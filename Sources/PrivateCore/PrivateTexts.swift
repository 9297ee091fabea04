/// Every text a private announce can be answered with: UNIT3D-Announce's, byte for byte
/// (`unit3d-contract.md` §1.5, §1.6), so a site's help pages and its users' habits still fit,
/// and Squall's own few.
public enum PrivateTexts {
    // Refusals (`failure reason`).
    public static let abnormalAccess = "Abnormal access blocked."
    public static let invalidUserAgent = "Invalid user agent."
    public static let userAgentTooLong = "The user agent of this client is too long."
    public static let blacklistedClient = "Client is not acceptable. Please check our blacklist."
    public static let browser = "Browser, crawler or cheater is not allowed."
    public static func illegalPort(_ port: UInt16) -> String { "Illegal port: \(port). Port should be between 6881-64999." }
    public static let invalidPasskey = "Invalid passkey."
    public static let unknownInfoHash = "InfoHash not found."
    public static let torrentNotFound = "Torrent not found."
    public static let torrentDeleted = "Torrent has been deleted."
    public static let torrentNotApproved = "Torrent not approved."
    public static let unknownPasskey = "Passkey does not exist. Please re-download the .torrent file."
    public static let unknownUser = "User does not exist. Please re-download the .torrent file."
    public static let downloadDisabled = "Your downloading privileges have been disabled."
    public static let groupNotFound = "Group not found."
    public static func accountNotEnabled(_ slug: String) -> String { "Your account is not enabled. (Current: \(slug))." }
    public static func tooManyPeers(max: Int) -> String { "You already have \(max) peers on this torrent. Ignoring." }

    // Warning-style replies (a normal-looking reply, so clients neither back off nor loop).
    public static let torrentPending = "Torrent is pending moderation."
    public static let torrentRejected = "Torrent has been rejected."
    public static let torrentPostponed = "Torrent has been postponed."
    public static let unknownStoppedPeer = "Stopped peer doesn't exist."

    // Warnings on a successful announce.
    public static let rateLimited = "Rate limit exceeded. Please wait."
    public static let downloadSlotsReached = "Download slot limit reached"

    // Squall's own.
    /// A private announce over plain HTTP with `private.require_https`.
    public static let httpsRequired = "This tracker requires HTTPS: use the https:// announce URL of your .torrent file."
    /// An announce or scrape without a passkey on a private tracker.
    public static let passkeyRequired = "This is a private tracker: announce with the passkey URL of your .torrent file."

    /// The intervals of a refusal (UNIT3D-Announce sends 5400 with every `failure reason`).
    public static let failureInterval = 5400
    /// The interval of a moderation warning: the client asks again soon.
    public static let moderationInterval = 30
}
