//! Book update throughput: level updates applied to the engine's book, and whole depth events
//! through Binance's sequencing (`BookSync`), on a book of about 1,000 levels a side; and the parse
//! of depth frames, in levels a second.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use feed_handler::binance::{parse_frame, DepthUpdate, MarketEvent, Snapshot};
use feed_handler::book::{BookSide, Level, OrderBook};
use feed_handler::fixed;
use feed_handler::sync::BookSync;
use rand::{rngs::StdRng, Rng, SeedableRng};

const MID: u64 = 15_830_000; // 0.1583 in 10⁻⁸ units
const TICK: u64 = 10_000; // 0.0001

fn seeded_book() -> (Vec<Level>, Vec<Level>) {
    let bids = (1..=1000)
        .map(|i| Level {
            price: MID - i * TICK,
            qty: 1_000 * (i + 1),
        })
        .collect();
    let asks = (0..1000)
        .map(|i| Level {
            price: MID + i * TICK,
            qty: 1_000 * (i + 2),
        })
        .collect();
    (bids, asks)
}

/// Updates concentrated near the touch, as real diffs are; one in five removes its level.
fn updates(n: usize, rng: &mut StdRng) -> Vec<(BookSide, u64, u64)> {
    (0..n)
        .map(|_| {
            let depth = (rng.gen::<f64>().powi(3) * 200.0) as u64 + 1;
            let qty = if rng.gen_ratio(1, 5) {
                0
            } else {
                rng.gen_range(1..1_000_000)
            };
            if rng.gen_bool(0.5) {
                (BookSide::Bid, MID - depth * TICK, qty)
            } else {
                (BookSide::Ask, MID + (depth - 1) * TICK, qty)
            }
        })
        .collect()
}

fn level_updates(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let ups = updates(100_000, &mut rng);
    let (bids, asks) = seeded_book();
    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(ups.len() as u64));
    g.bench_function("level_updates", |b| {
        b.iter_batched_ref(
            || {
                let mut book = OrderBook::with_capacity(2048);
                book.reset(1, &bids, &asks);
                book
            },
            |book| {
                for &(side, p, q) in &ups {
                    book.set(side, p, q);
                }
                black_box(book.best_bid());
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn sequenced_events(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(11);
    let (bids, asks) = seeded_book();
    // Depth events of 1 to 8 level changes that never cross the book (bids below MID, asks at or above).
    let mut id = 1000u64;
    let events: Vec<DepthUpdate> = (0..20_000)
        .map(|_| {
            let n = rng.gen_range(1..=8);
            let ups = updates(n, &mut rng);
            let ev = DepthUpdate {
                event_ms: id,
                first_id: id + 1,
                final_id: id + n as u64,
                prev_final_id: None,
                bids: ups
                    .iter()
                    .filter(|u| u.0 == BookSide::Bid)
                    .map(|u| Level {
                        price: u.1,
                        qty: u.2.max(1),
                    })
                    .collect(),
                asks: ups
                    .iter()
                    .filter(|u| u.0 == BookSide::Ask)
                    .map(|u| Level {
                        price: u.1,
                        qty: u.2.max(1),
                    })
                    .collect(),
            };
            id += n as u64;
            ev
        })
        .collect();
    let levels: u64 = events
        .iter()
        .map(|e| (e.bids.len() + e.asks.len()) as u64)
        .sum();
    let mut g = c.benchmark_group("sync");
    g.throughput(Throughput::Elements(levels));
    g.bench_function("depth_events_level_updates", |b| {
        b.iter_batched_ref(
            || {
                let mut book = OrderBook::with_capacity(2048);
                let mut sync = BookSync::new();
                let snap = Snapshot {
                    last_update_id: 1000,
                    bids: bids.clone(),
                    asks: asks.clone(),
                };
                sync.on_event(&events[0], &mut book).unwrap();
                sync.on_snapshot(&snap, &mut book).unwrap();
                (book, sync)
            },
            |(book, sync)| {
                for ev in &events[1..] {
                    black_box(sync.on_event(ev, book).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A combined-stream depth frame as Binance writes it: `levels` changes a side, 8-decimal strings.
fn depth_frame(levels: u64) -> String {
    let side = |from: u64, step: i64| {
        (0..levels)
            .map(|i| {
                let price = (from as i64 + step * i as i64) as u64;
                format!(
                    r#"["{}","{}"]"#,
                    fixed::to_string(price),
                    fixed::to_string(1_000_000 * (i + 1) + 12_345)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"stream":"polusdt@depth@100ms","data":{{"e":"depthUpdate","E":1760130000000,"s":"POLUSDT","U":5006140418,"u":5006140971,"b":[{}],"a":[{}]}}}}"#,
        side(MID - TICK, -(TICK as i64)),
        side(MID, TICK as i64)
    )
}

/// Frames of a few and of a few hundred levels, the two kinds of a crash's diffs (most carry a few
/// changes; a move of the whole book rewrites every level).
fn frame_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for levels in [4u64, 200] {
        let frame = depth_frame(levels);
        assert!(matches!(parse_frame(&frame), Ok(MarketEvent::Depth(_))));
        g.throughput(Throughput::Elements(2 * levels));
        g.bench_function(format!("depth_frame_{}_levels", 2 * levels), |b| {
            b.iter(|| black_box(parse_frame(black_box(&frame)).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, level_updates, sequenced_events, frame_parse);
criterion_main!(benches);
