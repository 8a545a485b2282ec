//! The feed's states, as the engine publishes them.

/// Feed states, as published in `HealthMetrics.feed_state` and `StateChange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// First connection.
    Connecting,
    /// Connected, waiting for the snapshot and the first bridging event.
    Syncing,
    /// Book in sync, publishing.
    Live,
    /// Latency too high for too long: about to reconnect.
    Lagging,
    /// Gap or corruption: rebuilding from a fresh snapshot.
    Resyncing,
    /// Connection lost: waiting to reconnect.
    Reconnecting,
    /// Too many failed reconnects: orders are refused until the feed is back.
    Halted,
    /// Shut down.
    Stopped,
}

impl FeedState {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Connecting => "connecting",
            FeedState::Syncing => "syncing",
            FeedState::Live => "live",
            FeedState::Lagging => "lagging",
            FeedState::Resyncing => "resyncing",
            FeedState::Reconnecting => "reconnecting",
            FeedState::Halted => "halted",
            FeedState::Stopped => "stopped",
        }
    }
}
