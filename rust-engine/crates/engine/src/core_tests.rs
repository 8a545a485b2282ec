//! Unit tests of the core loop's helpers (beside it, in their own file).

use super::*;
use common::message::{Liquidity, OrderStatus, OrderType, TimeInForce};

use crate::flatten::{on_step, split};
use crate::position_file::PositionFile;

fn fill(side: Side, qty: &str, fee: &str, asset: &str) -> OrderExecution {
    OrderExecution {
        command_id: None,
        ts_ns: 1,
        client_order_id: "c".into(),
        exchange_order_id: "1".into(),
        symbol: "POLUSDT".into(),
        side,
        trade_id: 1,
        last_price: "0.2".parse().unwrap(),
        last_quantity: qty.parse().unwrap(),
        cumulative_quantity: qty.parse().unwrap(),
        order_quantity: qty.parse().unwrap(),
        status: OrderStatus::Filled,
        liquidity: Liquidity::Taker,
        fee: fee.parse().unwrap(),
        fee_asset: asset.into(),
    }
}

/// A buy's fee taken from the coins bought leaves less held; a fee in the quote asset or in BNB
/// does not change what is held.
#[test]
fn a_fee_in_the_base_asset_is_held_less() {
    for (side, qty, fee, asset, held) in [
        (Side::Buy, "500", "0.5", "POL", "499.5"),
        (Side::Buy, "500", "0.1", "USDT", "500"),
        (Side::Buy, "500", "0.01", "BNB", "500"),
        (Side::Sell, "499.5", "0.1", "USDT", "-499.5"),
        (Side::Buy, "500", "0", "", "500"),
    ] {
        let change = held_change(&fill(side, qty, fee, asset), "POLUSDT");
        assert_eq!(
            change,
            Some(held.parse::<Decimal>().unwrap()),
            "{side:?} {qty} fee {fee} {asset}"
        );
    }
}

/// The fills of the fee cases every venue of the system shares (`tests/fee_cases/cases.json`):
/// the engine's net position moves as the venue's base balance does.
#[test]
fn held_change_follows_the_shared_fee_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/fee_cases/cases.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_owned();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let side: Side = serde_json::from_value(case["side"].clone()).unwrap();
        let f = fill(
            side,
            &s(case, "qty"),
            &s(case, "fee"),
            &s(case, "fee_asset"),
        );
        assert_eq!(
            held_change(&f, &s(&doc, "symbol")),
            Some(s(case, "base_change").parse::<Decimal>().unwrap()),
            "{}",
            s(case, "name")
        );
    }
}

/// A flatten sells what is held on the symbol's step: 511.7877 held (512.3 bought, 0.5123 of
/// fee) sells 511.7 on a 0.1 step; less than a step sells nothing.
#[test]
fn a_flatten_is_rounded_down_to_the_step() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(on_step(d("511.7877"), d("0.1")), d("511.7"));
    assert_eq!(on_step(d("511.7"), d("0.1")), d("511.7"));
    assert_eq!(on_step(d("0.0877"), d("0.1")), Decimal::ZERO);
    assert_eq!(on_step(d("511.7877"), Decimal::ZERO), d("511.7877"));
}

/// A paper engine core on the repository's config (POLUSDT, step 0.1, tick 0.0001), its channels
/// held by the test; `name` makes its config folder unique.
struct Rig {
    core: Core,
    responses: mpsc::Receiver<Response>,
    _config: crate::reload::tests::TempConfig,
    _data: mpsc::Receiver<DataMessage>,
    _feed_state: watch::Sender<FeedState>,
}

fn rig(name: &str) -> Rig {
    use execution_engine::PaperExecutor;
    let config = crate::reload::tests::temp_config(name);
    let loaded = crate::reload::Loaded::load(&config).unwrap();
    let cfg = loaded.config.clone();
    let filters = execution_engine::fixtures::polusdt_filters();
    let (limits, fees, fill_rule) = executor_settings(&cfg);
    let (responses_tx, responses) = mpsc::channel(64);
    let (data_tx, data) = mpsc::channel(64);
    let (feed_state_tx, feed_state) = watch::channel(FeedState::Live);
    let core = Core {
        executor: Executor::Paper(Box::new(PaperExecutor::new(
            filters, limits, fees, fill_rule,
        ))),
        results: mpsc::unbounded_channel().1,
        banned: watch::channel(None).1,
        flatten_on_halt: false,
        position_limits: PositionLimits::from_config(&cfg),
        feed: BookFeed {
            book: feed_handler::SharedBook::default(),
            symbol: "POLUSDT".into(),
            levels: 10,
            max_hz: 10,
        },
        commands: mpsc::channel(1).1,
        trades: mpsc::channel(1).1,
        responses: responses_tx,
        data: data_tx,
        feed_state,
        halts: Halts::default(),
        held: Held::default(),
        position_file: None,
        watchdog: mpsc::channel(1).1,
        reload: Reloadable {
            feed: watch::channel(cfg.feed.clone()).0,
            watchdog: watch::channel(crate::watchdog::WatchdogConfig::from_config(&cfg)).0,
            loaded,
            log: None,
        },
        round_trips: Default::default(),
        pending_flatten: None,
    };
    Rig {
        core,
        responses,
        _config: config,
        _data: data,
        _feed_state: feed_state_tx,
    }
}

fn place(order_type: OrderType, quantity: &str, price: Option<&str>) -> Command {
    Command::PlaceOrder(PlaceOrder {
        command_id: "big".into(),
        ts_ns: 1,
        client_order_id: "fc-big".into(),
        symbol: "POLUSDT".into(),
        side: Side::Buy,
        order_type,
        time_in_force: (order_type == OrderType::Limit).then_some(TimeInForce::Gtc),
        quantity: quantity.parse().unwrap(),
        price: price.map(|p| p.parse().unwrap()),
    })
}

/// An order whose figures overflow the exposure arithmetic (quantity × price past the largest
/// decimal) is refused with a VALIDATION error naming `quantity` and the figures, and the engine
/// goes on serving: a limit order at its price, and a market order at the touch.
#[tokio::test]
async fn an_order_too_large_to_value_is_refused_not_a_crash() {
    let mut r = rig("overflow");
    {
        let mut st = r.core.feed.book.write();
        let units = |s: &str| (s.parse::<f64>().unwrap() * 1e8) as u64;
        st.book.reset(
            1,
            &[feed_handler::book::Level {
                price: units("9"),
                qty: units("100"),
            }],
            &[feed_handler::book::Level {
                price: units("10"),
                qty: units("100"),
            }],
        );
        st.synced = true;
    }
    let cases = [
        (
            place(
                OrderType::Limit,
                "1000000000000000000000",
                Some("1000000000"),
            ),
            ["1000000000000000000000", "1000000000"],
        ),
        (
            place(OrderType::Market, "10000000000000000000000000000", None),
            ["10000000000000000000000000000", "10"],
        ),
    ];
    for (cmd, figures) in cases {
        assert_eq!(r.core.on_command(cmd).await, None);
        let Ok(Response::Error(e)) = r.responses.try_recv() else {
            panic!("expected an Error response");
        };
        assert_eq!(e.code, ErrorCode::Validation, "{e:?}");
        assert_eq!(e.field.as_deref(), Some("quantity"), "{e:?}");
        for figure in figures {
            assert!(e.message.contains(figure), "{figure} in {:?}", e.message);
        }
        assert!(r.responses.try_recv().is_err());
    }
    // Still serving: an ordinary order goes through.
    let ok = place(OrderType::Limit, "100", Some("0.2"));
    assert_eq!(r.core.on_command(ok).await, None);
    assert!(matches!(
        r.responses.try_recv(),
        Ok(Response::OrderPlaced(_))
    ));
}

/// This is a long-only spot system: a flatten only ever sells what is held. A short net position
/// (a restarted engine that took over a partly filled sell) flattens nothing.
#[test]
fn a_flatten_never_buys() {
    let mut r = rig("flatten");
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    r.core.held.position = d("511.7877");
    let [f] = r.core.flatten_orders("halt", 5_000_000).try_into().unwrap();
    assert_eq!((f.side, f.quantity.0), (Side::Sell, d("511.7")));
    assert_eq!(f.order_type, OrderType::Market);
    for position in ["-250", "-0.05", "0", "0.05"] {
        r.core.held.position = d(position);
        assert_eq!(r.core.flatten_orders("halt", 5_000_000), [], "{position}");
    }
}

/// A net long worth more than one order may be (three entries of 2,500 at 0.2, 1,500 USDT against
/// `[risk] max_order_notional` 1,000) is flattened by an `EmergencyHalt` in as many market sells
/// as it takes, each within the limit, instead of one sell the limit refuses.
#[tokio::test]
async fn a_flatten_larger_than_one_order_may_be_is_sold_in_several() {
    let mut r = rig("flatten-split");
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    book_at(&r.core, "0.2000", "0.2001");
    r.core.held.position = d("7492.5");
    r.core
        .on_command(Command::EmergencyHalt(EmergencyHalt {
            command_id: "halt1".into(),
            ts_ns: now_ns(),
            reason: "test".into(),
            flatten: true,
        }))
        .await;
    let mut sold = Decimal::ZERO;
    let mut ids = Vec::new();
    while let Ok(resp) = r.responses.try_recv() {
        match resp {
            Response::Error(e) => panic!("{e:?}"),
            Response::OrderExecution(x) => sold += x.last_quantity.0,
            Response::OrderPlaced(p) => ids.push(p.client_order_id),
            _ => {}
        }
    }
    assert_eq!(sold, d("7492.5"));
    assert_eq!(ids.len(), 2, "{ids:?}"); // 1,000 / 0.2 = 5,000 a sell at most
    assert!(
        ids[1].starts_with(&ids[0]) && ids[1].ends_with("-1"),
        "{ids:?}"
    );
    assert_eq!(r.core.held.position, Decimal::ZERO);
}

/// A flatten is cut in as few orders as the largest allows, of about equal size: 5,004 in two of
/// 2,502 (not 5,000 and a 4 the minimum notional would refuse); the quantities add up on the step.
#[test]
fn a_flatten_is_split_in_about_equal_orders() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    for (total, chunk, want) in [
        ("5004", "5000", vec!["2502", "2502"]),
        ("10000.3", "5000", vec!["3333.4", "3333.4", "3333.5"]),
        ("100", "5000", vec!["100"]),
        ("0.3", "0.05", vec!["0.3"]), // a chunk under one step: one order
    ] {
        let got = split(d(total), d(chunk), d("0.1"));
        let want: Vec<Decimal> = want.into_iter().map(d).collect();
        assert_eq!(got, want, "{total} by {chunk}");
        assert_eq!(got.iter().copied().sum::<Decimal>(), d(total));
    }
}

/// Paper mode, `flatten_on_halt`: the feed down past its reconnects (its book out of sync) halts
/// the engine, and the net long is sold on the last book, as a real flatten goes to the venue.
#[tokio::test]
async fn a_paper_feed_halt_flattens_on_the_last_book() {
    let mut r = rig("paper-feed-halt");
    r.core.flatten_on_halt = true;
    r.core.held.position = "500".parse().unwrap();
    book_at(&r.core, "0.2000", "0.2001");
    r.core.feed.book.write().synced = false;
    r.core.on_feed_state(FeedState::Halted).await;
    assert_eq!(r.core.held.position, Decimal::ZERO);
    // New orders are still refused on the unsynced book.
    r.core.halts = Halts::default();
    r.core
        .on_command(place(OrderType::Market, "100", None))
        .await;
    let mut answers = Vec::new();
    while let Ok(x) = r.responses.try_recv() {
        answers.push(x);
    }
    assert!(
        matches!(answers.last(), Some(Response::Error(e)) if e.code == ErrorCode::NotSynced),
        "{answers:?}"
    );
}

/// A reload is checked against the venue's filters as the start is: a `[strategy] price_tick`
/// off the venue's tick is refused naming it, and nothing is applied.
#[tokio::test]
async fn a_reload_refuses_a_price_tick_the_start_would() {
    let mut r = rig("reload-tick");
    let path = r.core.reload.loaded.path.clone();
    crate::reload::tests::set_key(&path, "strategy", "price_tick", "\"0.00015\"");
    let answer = r.core.reload_config("reload", 1).await;
    let Response::Error(e) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(e.field.as_deref(), Some("strategy.price_tick"));
    assert!(
        e.message.contains("PRICE_FILTER tickSize 0.0001"),
        "{}",
        e.message
    );
    assert_eq!(
        r.core.reload.loaded.config.strategy.price_tick,
        "0.0001".parse().unwrap()
    );
}

/// A book with one level a side, deep enough for any test order.
fn book_at(core: &Core, bid: &str, ask: &str) {
    let units = |s: &str| (s.parse::<f64>().unwrap() * 1e8).round() as u64;
    let level = |p: &str| feed_handler::book::Level {
        price: units(p),
        qty: units("1000000"),
    };
    let mut st = core.feed.book.write();
    st.book.reset(1, &[level(bid)], &[level(ask)]);
    st.synced = true;
}

/// A fill whose quantity would take the net position past the largest decimal is not added (it
/// cannot be real), and the engine does not crash on it.
#[tokio::test]
async fn a_fill_that_overflows_the_position_leaves_it_unchanged() {
    let mut r = rig("position-overflow");
    let max = Decimal::MAX.to_string();
    r.core.held.position = "1".parse().unwrap();
    let huge = Response::OrderExecution(fill(Side::Buy, &max, "0", "USDT"));
    r.core.respond(vec![huge]).await;
    assert_eq!(r.core.held.position, Decimal::ONE);
    assert!(matches!(
        r.responses.try_recv(),
        Ok(Response::OrderExecution(_))
    ));
    // A sell whose base fee takes it past the smallest decimal is left out the same way.
    let change = held_change(&fill(Side::Sell, &max, "1", "POL"), "POLUSDT");
    assert_eq!(change, None);
    let normal = Response::OrderExecution(fill(Side::Buy, "500", "0.5", "POL"));
    r.core.respond(vec![normal]).await;
    assert_eq!(r.core.held.position, "500.5".parse::<Decimal>().unwrap());
}

/// An `OpenOrders` answer carries the net position with the fills published before it counted and
/// the ones after it not: what the strategy, applying them in order, must hold when it reads it.
#[tokio::test]
async fn open_orders_tell_the_net_position_as_of_their_place_in_the_answers() {
    let mut r = rig("open-orders-position");
    let open = || {
        Response::OpenOrders(common::message::OpenOrders {
            command_id: Some("q".into()),
            ts_ns: 1,
            symbol: Some("POLUSDT".into()),
            orders: vec![],
            net_position: None,
        })
    };
    let mut second = fill(Side::Buy, "200", "0", "USDT");
    second.trade_id = 2;
    r.core
        .respond(vec![
            Response::OrderExecution(fill(Side::Buy, "300", "0.3", "POL")),
            open(),
            Response::OrderExecution(second),
        ])
        .await;
    let mut told = vec![];
    while let Ok(resp) = r.responses.try_recv() {
        if let Response::OpenOrders(o) = resp {
            told.push(o.net_position.map(|d| d.0));
        }
    }
    assert_eq!(told, [Some("299.7".parse::<Decimal>().unwrap())]);
    assert_eq!(r.core.held.position, "499.7".parse::<Decimal>().unwrap());
}

/// A fill of another symbol (a manual order on the same account) is forwarded but leaves the net
/// position unchanged; a fill of the engine's symbol moves it.
#[tokio::test]
async fn a_fill_of_another_symbol_leaves_the_position_unchanged() {
    let mut r = rig("other-symbol");
    let mut btc = fill(Side::Buy, "2", "0", "USDT");
    btc.symbol = "BTCUSDT".into();
    r.core.respond(vec![Response::OrderExecution(btc)]).await;
    assert_eq!(r.core.held.position, Decimal::ZERO);
    let Ok(Response::OrderExecution(e)) = r.responses.try_recv() else {
        panic!("expected the fill to be forwarded");
    };
    assert_eq!(e.symbol, "BTCUSDT");
    let pol = fill(Side::Buy, "3", "0", "USDT");
    r.core.respond(vec![Response::OrderExecution(pol)]).await;
    assert_eq!(r.core.held.position, "3".parse::<Decimal>().unwrap());
}

/// Real mode keeps the net position in its file: every batch of fills that moves it is written
/// (a batch that does not, such as another symbol's fill, writes nothing), and an engine started on
/// that file flattens what it held. A fill reported again after the restart (an order taken over
/// reports its fills from the venue's trade list) is not counted twice; a new one is. A write that
/// fails is counted and the engine goes on.
#[tokio::test]
async fn the_net_position_is_kept_in_its_file() {
    let dir = std::env::temp_dir().join(format!("flashcrash-core-position-{}", std::process::id()));
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let with_id = |mut e: OrderExecution, id: u64| {
        e.trade_id = id;
        Response::OrderExecution(e)
    };
    let file = PositionFile::new(&dir, "POLUSDT", "http://venue");
    let path = file.path().to_owned();
    let mut r = rig("position-file");
    r.core.position_file = Some(PositionStore::Now(file.clone()));
    let buys = vec![
        with_id(fill(Side::Buy, "300", "0.3", "POL"), 1),
        with_id(fill(Side::Buy, "200", "0.2", "POL"), 2),
    ];
    r.core.respond(buys.clone()).await;
    let saved = file.load().unwrap().unwrap().held;
    assert_eq!(saved.position, d("499.5"));
    assert_eq!(saved.counted_trades, [1, 2]);
    let mut btc = fill(Side::Sell, "2", "0", "USDT");
    btc.symbol = "BTCUSDT".into();
    std::fs::remove_file(&path).unwrap();
    r.core.respond(vec![with_id(btc, 3)]).await;
    assert!(!path.exists(), "a batch that moved nothing wrote the file");

    let mut restarted = rig("position-file-restart");
    file.save(&saved, None, None, 1).unwrap();
    restarted.core.held = file.load().unwrap().unwrap().held;
    restarted.core.position_file = Some(PositionStore::Now(file.clone()));
    restarted.core.respond(buys).await; // the same two fills, reported again
    assert_eq!(restarted.core.held.position, d("499.5"));
    restarted
        .core
        .respond(vec![with_id(fill(Side::Sell, "99.5", "0.02", "USDT"), 4)])
        .await;
    assert_eq!(restarted.core.held.position, d("400"));
    assert_eq!(file.load().unwrap().unwrap().held.counted_trades, [1, 2, 4]);
    let [f] = restarted
        .core
        .flatten_orders("halt", 5_000_000)
        .try_into()
        .unwrap();
    assert_eq!((f.side, f.quantity.0), (Side::Sell, d("400")));

    // A file that cannot be written (its folder is a file): counted, logged, the fill still counts.
    let errors = EngineMetrics::global().position_file_errors.get();
    r.core.position_file = Some(PositionStore::Now(PositionFile::new(
        &path,
        "POLUSDT",
        "http://venue",
    )));
    r.core
        .respond(vec![with_id(fill(Side::Sell, "99.5", "0.02", "USDT"), 5)])
        .await;
    assert_eq!(r.core.held.position, d("400"));
    assert_eq!(
        EngineMetrics::global().position_file_errors.get(),
        errors + 1
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Paper mode keeps its paper account in the file too: an order placed is saved with its account,
/// and an executor restored from the file has it resting again.
#[tokio::test]
async fn the_paper_account_is_kept_in_the_file() {
    let dir = std::env::temp_dir().join(format!("flashcrash-core-paper-{}", std::process::id()));
    let file = PositionFile::paper(&dir, "POLUSDT", "http://127.0.0.1:9");
    let mut r = rig("paper-file");
    r.core.position_file = Some(PositionStore::Now(file.clone()));
    {
        let mut st = r.core.feed.book.write();
        let units = |s: &str| (s.parse::<f64>().unwrap() * 1e8).round() as u64;
        let level = |p: &str, q: &str| feed_handler::book::Level {
            price: units(p),
            qty: units(q),
        };
        st.book
            .reset(1, &[level("0.2", "1000")], &[level("0.2001", "1000")]);
        st.synced = true;
    }
    let out = {
        let book = r.core.feed.book.read();
        r.core
            .executor
            .order(place(OrderType::Limit, "100", Some("0.1500")), &book, 1)
    };
    assert!(matches!(out[0], Response::OrderPlaced(_)), "{out:?}");
    r.core.respond(out).await;
    let account = file
        .load()
        .unwrap()
        .unwrap()
        .paper
        .expect("the paper account");
    assert_eq!(account.orders.len(), 1);
    assert_eq!(account.orders[0].info.client_order_id, "fc-big");
    let restored = execution_engine::PaperExecutor::new(
        execution_engine::fixtures::polusdt_filters(),
        execution_engine::Limits {
            max_order_notional: "1000".parse().unwrap(),
            max_open_orders: 5,
        },
        executor_settings(&r.core.reload.loaded.config).1,
        execution_engine::paper::FillRule::TradeThrough,
    )
    .restore(account)
    .unwrap();
    assert_eq!(restored.open_count(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[path = "core_real_tests.rs"]
mod real;

/// An `EmergencyHalt` is written to the position file with its reason. An engine started again
/// from that file starts halted (announced so, with the reason), refuses a buy, and `Resume` lifts
/// the halt and clears it from the file.
#[tokio::test]
async fn an_emergency_halt_outlives_a_restart_until_resume() {
    let dir = std::env::temp_dir().join(format!("flashcrash-core-halt-{}", std::process::id()));
    let file = PositionFile::new(&dir, "POLUSDT", "http://venue");
    let mut r = rig("halt-file");
    r.core.position_file = Some(PositionStore::Now(file.clone()));
    r.core
        .on_command(Command::EmergencyHalt(EmergencyHalt {
            command_id: "h1".into(),
            ts_ns: now_ns(),
            reason: "drawdown".into(),
            flatten: false,
        }))
        .await;
    let halt = file.load().unwrap().unwrap().halt;
    assert_eq!(halt.as_deref(), Some("drawdown"));

    // Started again: halted from the first state it announces, and the bid resting at its venue
    // (the paper account restored) canceled at once.
    let mut started = rig("halt-file-start");
    book_at(&started.core, "0.2000", "0.2001");
    started
        .core
        .on_command(place(OrderType::Limit, "100", Some("0.1500")))
        .await;
    assert!(matches!(
        started.responses.try_recv(),
        Ok(Response::OrderPlaced(_))
    ));
    started.core.halts.emergency = halt.clone();
    let (stop, signal) = watch::channel(false);
    let mut data = std::mem::replace(&mut started._data, mpsc::channel(1).1);
    let run = tokio::spawn(started.core.run(signal));
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), data.recv())
        .await
        .unwrap();
    let Some(DataMessage::StateChange(s)) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        (s.component.as_str(), s.current.as_str()),
        ("engine", "halted")
    );
    assert!(s.reason.contains("drawdown"), "{s:?}");
    let canceled =
        tokio::time::timeout(std::time::Duration::from_secs(5), started.responses.recv())
            .await
            .unwrap();
    assert!(
        matches!(canceled, Some(Response::OrderCanceled(_))),
        "{canceled:?}"
    );
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();

    let mut restarted = rig("halt-file-restart");
    restarted.core.halts.emergency = halt;
    restarted.core.position_file = Some(PositionStore::Now(file.clone()));
    book_at(&restarted.core, "0.2000", "0.2001");
    restarted
        .core
        .on_command(place(OrderType::Limit, "100", Some("0.1999")))
        .await;
    match restarted.responses.try_recv() {
        Ok(Response::Error(e)) => assert_eq!(e.code, ErrorCode::Halted, "{e:?}"),
        other => panic!("{other:?}"),
    }
    restarted
        .core
        .on_command(Command::Resume(common::message::Resume {
            command_id: "r1".into(),
            ts_ns: now_ns(),
            reason: "checked".into(),
        }))
        .await;
    assert!(!restarted.core.halts.any());
    assert_eq!(file.load().unwrap().unwrap().halt, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An engine started halted with `flatten_on_halt` and a net long, before its feed has a book (as
/// every engine started again is: the book comes a few seconds later): its flatten waits for the
/// first bid rather than being refused for want of a price, then sells what is held. A `Resume`
/// while it waits drops it: nothing is sold when the book comes.
#[tokio::test]
async fn a_restart_flatten_waits_for_the_book() {
    use std::time::Duration;
    let started_halted = |name: &str| {
        let mut r = rig(name);
        r.core.flatten_on_halt = true;
        r.core.held.position = "500".parse().unwrap();
        r.core.halts.emergency = Some("drawdown".into());
        let (commands, rx) = mpsc::channel(8);
        r.core.commands = rx;
        (r, commands)
    };
    let (mut r, _commands) = started_halted("restart-flatten-book");
    let book = r.core.feed.book.clone();
    let mut responses = std::mem::replace(&mut r.responses, mpsc::channel(1).1);
    let (stop, signal) = watch::channel(false);
    let core = r.core;
    let run = tokio::spawn(core.run(signal));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut early = Vec::new();
    while let Ok(x) = responses.try_recv() {
        early.push(x);
    }
    assert!(early.is_empty(), "{early:?}"); // no sale, and no refusal
    book_at_shared(&book, "0.2000", "0.2001");
    let mut sold = Decimal::ZERO;
    while sold < "500".parse().unwrap() {
        match tokio::time::timeout(Duration::from_secs(5), responses.recv()).await {
            Ok(Some(Response::OrderExecution(e))) => {
                assert!(e.client_order_id.starts_with("flatten-"), "{e:?}");
                assert_eq!(e.side, Side::Sell);
                sold += e.last_quantity.0;
            }
            Ok(Some(Response::Error(e))) => panic!("{e:?}"),
            Ok(Some(_)) => {}
            other => panic!("the flatten never sold: {other:?}"),
        }
    }
    assert_eq!(sold, "500".parse::<Decimal>().unwrap());
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();

    // A Resume while it waits for the book drops it.
    let (mut r, commands) = started_halted("restart-flatten-resume");
    let book = r.core.feed.book.clone();
    let mut responses = std::mem::replace(&mut r.responses, mpsc::channel(1).1);
    let (stop, signal) = watch::channel(false);
    let run = tokio::spawn(r.core.run(signal));
    tokio::time::sleep(Duration::from_millis(300)).await;
    commands
        .send(Command::Resume(common::message::Resume {
            command_id: "r1".into(),
            ts_ns: now_ns(),
            reason: "checked".into(),
        }))
        .await
        .unwrap();
    let resumed = tokio::time::timeout(Duration::from_secs(5), responses.recv())
        .await
        .unwrap();
    assert!(
        matches!(&resumed, Some(Response::Success(s)) if s.command_id.as_deref() == Some("r1")),
        "{resumed:?}"
    );
    book_at_shared(&book, "0.2000", "0.2001");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut later = Vec::new();
    while let Ok(x) = responses.try_recv() {
        later.push(x);
    }
    assert!(later.is_empty(), "{later:?}");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
}

/// [`book_at`] on the book of a core moved into its task.
fn book_at_shared(book: &feed_handler::SharedBook, bid: &str, ask: &str) {
    let units = |s: &str| (s.parse::<f64>().unwrap() * 1e8).round() as u64;
    let level = |p: &str| feed_handler::book::Level {
        price: units(p),
        qty: units("1000000"),
    };
    let mut st = book.write();
    st.book.reset(1, &[level(bid)], &[level(ask)]);
    st.synced = true;
}

/// A command never overtakes a market trade already queued for the executor: a venue matches a
/// trade before publishing it, so a cancel the strategy sent on one trade reaches the book after
/// the trades printed with it. Here a trade through a resting bid waits in the trades channel when
/// the cancel comes: the bid fills on it first (as at the venue, and as the backtest's venue fills
/// it), then the cancel ends what is left.
#[tokio::test]
async fn a_command_waits_for_the_trades_queued_before_it() {
    use common::message::{Aggressor, CancelOrder};
    let mut r = rig("trades-before-command");
    book_at(&r.core, "0.2000", "0.2001");
    r.core
        .on_command(place(OrderType::Limit, "500", Some("0.1540")))
        .await;
    assert!(matches!(
        r.responses.try_recv(),
        Ok(Response::OrderPlaced(_))
    ));
    let (trade_tx, trades) = mpsc::channel(8);
    let (cmd_tx, commands) = mpsc::channel(8);
    r.core.trades = trades;
    r.core.commands = commands;
    let trade = Trade {
        symbol: "POLUSDT".into(),
        exchange_ts_ns: 1,
        local_ts_ns: 1,
        trade_id: 7,
        price: 0.1538,
        quantity: 30.6,
        aggressor: Aggressor::Sell,
    };
    trade_tx.send(trade).await.unwrap();
    cmd_tx
        .send(Command::CancelOrder(CancelOrder {
            command_id: "c1".into(),
            ts_ns: 2,
            symbol: "POLUSDT".into(),
            client_order_id: "fc-big".into(),
        }))
        .await
        .unwrap();
    let (stop, signal) = watch::channel(false);
    let run = tokio::spawn(r.core.run(signal));
    let mut answers = Vec::new();
    while !answers
        .iter()
        .any(|a| matches!(a, Response::OrderCanceled(_)))
    {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), r.responses.recv())
            .await
            .expect("an answer within 5 s")
            .expect("the core answers");
        answers.push(next);
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    match answers.as_slice() {
        [Response::OrderExecution(fill), Response::OrderCanceled(c)] => {
            assert_eq!(fill.last_quantity, Dec("30.6".parse().unwrap()));
            assert_eq!(c.filled_quantity, Dec("30.6".parse().unwrap()));
        }
        other => panic!("the queued trade's fill, then the cancel: {other:?}"),
    }
}
