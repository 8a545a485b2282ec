//! Stream names, as Binance spot spells them (binance-spot-api-docs `web-socket-streams.md`): the
//! symbol in lower case, then `@depth@100ms`, `@depth` (1000 ms), `@aggTrade` or `@trade`.

/// Maximum streams on one connection (Binance: 1024).
pub const MAX_STREAMS: usize = 1024;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `depthUpdate` every 100 ms (`<symbol>@depth@100ms`).
    Depth100ms,
    /// `depthUpdate` every 1000 ms (`<symbol>@depth`).
    Depth1s,
    /// `aggTrade` (`<symbol>@aggTrade`).
    AggTrade,
    /// `trade` (`<symbol>@trade`).
    Trade,
}

impl StreamKind {
    /// The kind named by `name` for the symbol `symbol_lower`, if the venue serves it.
    pub fn parse(name: &str, symbol_lower: &str) -> Option<Self> {
        let (sym, rest) = name.split_once('@')?;
        if sym != symbol_lower {
            return None;
        }
        match rest {
            "depth@100ms" => Some(StreamKind::Depth100ms),
            "depth" => Some(StreamKind::Depth1s),
            "aggTrade" => Some(StreamKind::AggTrade),
            "trade" => Some(StreamKind::Trade),
            _ => None,
        }
    }

    /// True for the depth streams.
    pub fn is_depth(self) -> bool {
        matches!(self, StreamKind::Depth100ms | StreamKind::Depth1s)
    }
}

/// Why a set of stream names was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// No stream named.
    #[error("Invalid request: no stream names")]
    Empty,
    /// A name the venue does not serve.
    #[error("Invalid request: unknown stream name '{0}'")]
    Unknown(String),
    /// More than [`MAX_STREAMS`].
    #[error("Invalid request: more than {MAX_STREAMS} streams")]
    TooMany,
}

/// The streams of one connection, in the order asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    list: Vec<(String, StreamKind)>,
}

impl Subscriptions {
    /// Parses stream names for the symbol `symbol_lower`; a name given twice counts once.
    ///
    /// # Errors
    /// [`StreamError`] for no names, an unknown name, or too many names.
    pub fn parse<'a>(
        names: impl IntoIterator<Item = &'a str>,
        symbol_lower: &str,
    ) -> Result<Self, StreamError> {
        let mut subs = Subscriptions::default();
        for name in names {
            let kind = StreamKind::parse(name, symbol_lower)
                .ok_or_else(|| StreamError::Unknown(name.to_owned()))?;
            if subs.name_of(kind).is_none() {
                subs.list.push((name.to_owned(), kind));
            }
        }
        match subs.list.len() {
            0 => Err(StreamError::Empty),
            n if n > MAX_STREAMS => Err(StreamError::TooMany),
            _ => Ok(subs),
        }
    }

    /// The name under which `kind` was asked for, if it was.
    pub fn name_of(&self, kind: StreamKind) -> Option<&str> {
        self.list
            .iter()
            .find(|(_, k)| *k == kind)
            .map(|(n, _)| n.as_str())
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestCase {
        input: &'static str,
        expected: Option<StreamKind>,
    }

    #[test]
    fn names() {
        let cases = [
            TestCase {
                input: "polusdt@depth@100ms",
                expected: Some(StreamKind::Depth100ms),
            },
            TestCase {
                input: "polusdt@depth",
                expected: Some(StreamKind::Depth1s),
            },
            TestCase {
                input: "polusdt@aggTrade",
                expected: Some(StreamKind::AggTrade),
            },
            TestCase {
                input: "polusdt@trade",
                expected: Some(StreamKind::Trade),
            },
            TestCase {
                input: "POLUSDT@trade",
                expected: None,
            },
            TestCase {
                input: "btcusdt@trade",
                expected: None,
            },
            TestCase {
                input: "polusdt@kline_1m",
                expected: None,
            },
            TestCase {
                input: "polusdt@depth@500ms",
                expected: None,
            },
            TestCase {
                input: "polusdt@aggtrade",
                expected: None,
            },
            TestCase {
                input: "polusdt",
                expected: None,
            },
            TestCase {
                input: "",
                expected: None,
            },
        ];
        for c in cases {
            assert_eq!(
                StreamKind::parse(c.input, "polusdt"),
                c.expected,
                "{}",
                c.input
            );
        }
    }

    #[test]
    fn subscriptions() {
        let s = Subscriptions::parse(
            [
                "polusdt@depth@100ms",
                "polusdt@aggTrade",
                "polusdt@aggTrade",
            ],
            "polusdt",
        )
        .unwrap();
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            vec!["polusdt@depth@100ms", "polusdt@aggTrade"]
        );
        assert_eq!(s.name_of(StreamKind::AggTrade), Some("polusdt@aggTrade"));
        assert_eq!(s.name_of(StreamKind::Trade), None);
        assert_eq!(
            Subscriptions::parse(["polusdt@trade", "x@y"], "polusdt"),
            Err(StreamError::Unknown("x@y".into()))
        );
        assert_eq!(Subscriptions::parse([], "polusdt"), Err(StreamError::Empty));
    }
}
