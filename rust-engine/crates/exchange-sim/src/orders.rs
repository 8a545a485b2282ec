//! Orders of the simulated account and what they produce: the request ([`NewOrder`]), the venue's
//! record of an order ([`Order`]), its fills and the account's trades, the `executionReport`s and
//! balance events of the user data stream, and the refusals with Binance's codes. The matching
//! that makes them is in [`crate::matching`].

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderSide {
    /// BUY.
    Buy,
    /// SELL.
    Sell,
}

impl OrderSide {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        }
    }
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// LIMIT.
    Limit,
    /// MARKET.
    Market,
    /// LIMIT_MAKER (post-only).
    LimitMaker,
}

impl OrderKind {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Limit => "LIMIT",
            OrderKind::Market => "MARKET",
            OrderKind::LimitMaker => "LIMIT_MAKER",
        }
    }
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tif {
    /// Good till canceled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

impl Tif {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tif::Gtc => "GTC",
            Tif::Ioc => "IOC",
            Tif::Fok => "FOK",
        }
    }
}

/// Order status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// On the book, nothing filled.
    New,
    /// On the book, partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled by the user.
    Canceled,
    /// Expired (IOC/FOK/MARKET remainder).
    Expired,
}

impl Status {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
        }
    }

    /// True for NEW and PARTIALLY_FILLED.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }
}

/// Execution type of an `executionReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// NEW.
    New,
    /// TRADE.
    Trade,
    /// CANCELED.
    Canceled,
    /// EXPIRED.
    Expired,
}

impl Exec {
    /// Binance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Exec::New => "NEW",
            Exec::Trade => "TRADE",
            Exec::Canceled => "CANCELED",
            Exec::Expired => "EXPIRED",
        }
    }
}

/// A new order as requested (already parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Side.
    pub side: OrderSide,
    /// Type.
    pub kind: OrderKind,
    /// Time in force (LIMIT only).
    pub tif: Option<Tif>,
    /// Base quantity, units.
    pub qty: Option<u64>,
    /// Quote quantity (MARKET only), units.
    pub quote_qty: Option<u64>,
    /// Limit price, units.
    pub price: Option<u64>,
    /// Client order id.
    pub client_id: String,
}

/// An order as the venue keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// Client order id.
    pub client_id: String,
    /// Side.
    pub side: OrderSide,
    /// Type.
    pub kind: OrderKind,
    /// Time in force (GTC for MARKET and LIMIT_MAKER, as Binance shows them).
    pub tif: Tif,
    /// Limit price (0 for MARKET), units.
    pub price: u64,
    /// Ordered base quantity (0 for a MARKET order by quote quantity), units.
    pub orig_qty: u64,
    /// Ordered quote quantity (MARKET by quote quantity), units.
    pub orig_quote_qty: u64,
    /// Filled base quantity, units.
    pub executed: u64,
    /// Quote transacted, units.
    pub cum_quote: u64,
    /// Status.
    pub status: Status,
    /// Creation time, ms.
    pub time: i64,
    /// Last change, ms.
    pub update_time: i64,
    /// When it was put on the book, ms.
    pub working_time: Option<i64>,
    /// Still locked by this order (quote for a buy, base for a sell), units.
    pub locked: u64,
}

impl Order {
    /// Quantity left to fill.
    pub fn remaining(&self) -> u64 {
        self.orig_qty.saturating_sub(self.executed)
    }
}

/// One fill of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Price, units.
    pub price: u64,
    /// Base quantity, units.
    pub qty: u64,
    /// Commission, units.
    pub commission: u64,
    /// Commission asset.
    pub commission_asset: String,
    /// Trade id.
    pub trade_id: u64,
}

/// One of the account's trades, as `GET /api/v3/myTrades` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTrade {
    /// The fill.
    pub fill: Fill,
    /// Order id.
    pub order_id: u64,
    /// Side of the order.
    pub side: OrderSide,
    /// Maker (resting) fill.
    pub maker: bool,
    /// Time, ms.
    pub time: i64,
}

/// An order state change, for the `executionReport` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The order after the change.
    pub order: Order,
    /// Execution type.
    pub exec: Exec,
    /// The fill of a TRADE.
    pub fill: Option<Fill>,
    /// Maker side of a TRADE.
    pub maker: bool,
    /// Client id of the cancel request (`c` of a CANCELED report, `C` then holds the order's).
    pub cancel_client_id: Option<String>,
    /// Transaction time, ms.
    pub time: i64,
    /// Execution id.
    pub exec_id: u64,
}

/// One asset's balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Free, units.
    pub free: u64,
    /// Locked by open orders, units.
    pub locked: u64,
}

/// What the user data stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An `executionReport`.
    Report(Box<Report>),
    /// An `outboundAccountPosition`: the balances of the assets that changed.
    Position {
        /// Event time, ms.
        time: i64,
        /// Asset, balance.
        balances: Vec<(String, Balance)>,
    },
}

/// Why an order was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// -1013 with the filter's name.
    Filter(&'static str),
    /// -2010 "Account has insufficient balance for requested action."
    Insufficient,
    /// -2010 "Order would immediately match and take."
    WouldTake,
    /// -2010 "Duplicate order sent."
    Duplicate,
    /// -2013 "Order does not exist." (query)
    NoSuchOrder,
    /// -2011 "Unknown order sent." (cancel)
    UnknownOrder,
}

impl OrderError {
    /// Binance's code and message.
    pub fn code_msg(&self) -> (i64, &'static str) {
        match self {
            OrderError::Filter("PRICE_FILTER") => (-1013, "Filter failure: PRICE_FILTER"),
            OrderError::Filter("LOT_SIZE") => (-1013, "Filter failure: LOT_SIZE"),
            OrderError::Filter("MARKET_LOT_SIZE") => (-1013, "Filter failure: MARKET_LOT_SIZE"),
            OrderError::Filter(_) => (-1013, "Filter failure: NOTIONAL"),
            OrderError::Insufficient => (
                -2010,
                "Account has insufficient balance for requested action.",
            ),
            OrderError::WouldTake => (-2010, "Order would immediately match and take."),
            OrderError::Duplicate => (-2010, "Duplicate order sent."),
            OrderError::NoSuchOrder => (-2013, "Order does not exist."),
            OrderError::UnknownOrder => (-2011, "Unknown order sent."),
        }
    }
}
