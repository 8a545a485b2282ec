//! The jitter buffer (the Python `flashcrash.event_detector.jitter`): events wait `delay_ns` of
//! event time, then leave in time order, so feed jitter and messages overtaking each other (a book
//! ahead of the trades behind it) reach the indicators in the order they happened. Pushing and
//! releasing are O(log n) (a heap).
//!
//! Events leave ordered by `(ts, insertion number)`, as the Python heap of `(ts, seq, item)`: events
//! of the same time leave in the order they were pushed.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One buffered event; ordered by `(ts, seq)` only, so the item need not be ordered.
#[derive(Clone, Debug)]
struct Entry<T> {
    ts: i64,
    seq: u64,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (i64, u64) {
        (self.ts, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Events waiting `delay_ns` of event time, released oldest first.
///
/// Serialized (for the detector's snapshots) as `delay_ns`, `newest_ns`, `next_seq` and `events`,
/// the buffered `[ts, seq, item]` in release order.
#[derive(Clone, Debug)]
pub struct JitterBuffer<T> {
    delay_ns: i64,
    newest_ns: i64,
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
}

impl<T> JitterBuffer<T> {
    /// An empty buffer holding events until one more than `delay_ns` newer has been pushed.
    pub fn new(delay_ns: i64) -> Self {
        Self {
            delay_ns,
            newest_ns: 0,
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// How long events wait, in event time (ns).
    pub fn delay_ns(&self) -> i64 {
        self.delay_ns
    }

    /// The newest event time pushed (0 before the first, and while every one pushed is older).
    pub fn newest_ns(&self) -> i64 {
        self.newest_ns
    }

    /// The number of events buffered.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Buffers `item`, which happened at `ts_ns`.
    pub fn push(&mut self, ts_ns: i64, item: T) {
        self.heap.push(Reverse(Entry {
            ts: ts_ns,
            seq: self.next_seq,
            item,
        }));
        self.next_seq += 1;
        if ts_ns > self.newest_ns {
            self.newest_ns = ts_ns;
        }
    }

    /// The oldest event, if it is older than the newest one by more than `delay_ns`.
    fn pop_ready(&mut self, horizon: i128) -> Option<(i64, T)> {
        if i128::from(self.heap.peek()?.0.ts) < horizon {
            self.heap.pop().map(|Reverse(e)| (e.ts, e.item))
        } else {
            None
        }
    }

    /// `newest_ns - delay_ns`, exactly (as Python's integers).
    fn horizon(&self) -> i128 {
        i128::from(self.newest_ns) - i128::from(self.delay_ns)
    }

    /// Yields, oldest first, the events older than the newest one by more than `delay_ns` (those not
    /// taken stay buffered).
    pub fn release(&mut self) -> impl Iterator<Item = (i64, T)> + '_ {
        let horizon = self.horizon();
        std::iter::from_fn(move || self.pop_ready(horizon))
    }

    /// `release` without an iterator: calls `apply(ts, item)` for each, oldest first.
    pub fn release_to(&mut self, mut apply: impl FnMut(i64, T)) {
        let horizon = self.horizon();
        while let Some((ts, item)) = self.pop_ready(horizon) {
            apply(ts, item);
        }
    }

    /// `push`, then `release_to`, in one call (the detector's per-event path).
    pub fn push_release(&mut self, ts_ns: i64, item: T, apply: impl FnMut(i64, T)) {
        self.push(ts_ns, item);
        self.release_to(apply);
    }

    /// Yields every buffered event, oldest first (end of the session; those not taken stay
    /// buffered).
    pub fn drain(&mut self) -> impl Iterator<Item = (i64, T)> + '_ {
        std::iter::from_fn(move || self.heap.pop().map(|Reverse(e)| (e.ts, e.item)))
    }

    /// The buffered entries in release order.
    fn sorted(&self) -> Vec<&Entry<T>> {
        let mut entries: Vec<&Entry<T>> = self.heap.iter().map(|Reverse(e)| e).collect();
        entries.sort_unstable();
        entries
    }
}

impl<T: PartialEq> PartialEq for JitterBuffer<T> {
    /// Equal settings, newest time and next insertion number, and the same events in the same
    /// release order (whatever the heaps' layouts).
    fn eq(&self, other: &Self) -> bool {
        self.delay_ns == other.delay_ns
            && self.newest_ns == other.newest_ns
            && self.next_seq == other.next_seq
            && self.len() == other.len()
            && self
                .sorted()
                .iter()
                .zip(other.sorted())
                .all(|(a, b)| a.key() == b.key() && a.item == b.item)
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a, T> {
    delay_ns: i64,
    newest_ns: i64,
    next_seq: u64,
    events: Vec<(i64, u64, &'a T)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot<T> {
    delay_ns: i64,
    newest_ns: i64,
    next_seq: u64,
    events: Vec<(i64, u64, T)>,
}

impl<T: Serialize> Serialize for JitterBuffer<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            delay_ns: self.delay_ns,
            newest_ns: self.newest_ns,
            next_seq: self.next_seq,
            events: self
                .sorted()
                .into_iter()
                .map(|e| (e.ts, e.seq, &e.item))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JitterBuffer<T> {
    /// Rejects insertion numbers not below `next_seq` or repeated: the release order would no
    /// longer be the order the events were pushed in.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let snap = Snapshot::<T>::deserialize(d)?;
        let mut seqs: Vec<u64> = snap.events.iter().map(|&(_, seq, _)| seq).collect();
        seqs.sort_unstable();
        if seqs.windows(2).any(|w| w[0] == w[1]) || seqs.last().is_some_and(|&s| s >= snap.next_seq)
        {
            return Err(D::Error::custom(
                "jitter buffer: event numbers must be distinct and below next_seq",
            ));
        }
        let heap = snap
            .events
            .into_iter()
            .map(|(ts, seq, item)| Reverse(Entry { ts, seq, item }))
            .collect();
        Ok(Self {
            delay_ns: snap.delay_ns,
            newest_ns: snap.newest_ns,
            heap,
            next_seq: snap.next_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{Admit, InputGuard};
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;

    fn items<T>(it: impl Iterator<Item = (i64, T)>) -> Vec<T> {
        it.map(|(_, x)| x).collect()
    }

    /// Python `test_jitter_buffer_releases_in_time_order` (test_indicators.py).
    #[test]
    fn releases_in_time_order() {
        let mut b = JitterBuffer::new(10);
        for (ts, x) in [(100, "a"), (95, "b"), (112, "c"), (99, "d")] {
            b.push(ts, x);
        }
        assert_eq!(b.newest_ns(), 112);
        assert_eq!(items(b.release()), ["b", "d", "a"]); // older than 112 - 10
        assert_eq!(b.len(), 1);
        assert_eq!(items(b.drain()), ["c"]);
        assert!(b.is_empty());
    }

    #[test]
    fn releases_only_what_is_older_than_the_horizon() {
        let mut b = JitterBuffer::new(10);
        b.push(100, 'a');
        b.push(110, 'b'); // exactly `delay_ns` older is not released
        assert_eq!(b.release().count(), 0);
        b.push(111, 'c');
        let mut got = vec![];
        b.release_to(|ts, x| got.push((ts, x)));
        assert_eq!(got, [(100, 'a')]);
        b.push(50, 'd'); // an older event does not move `newest_ns` back, and leaves at once next time
        assert_eq!(b.newest_ns(), 111);
        assert_eq!(b.release().collect::<Vec<_>>(), [(50, 'd')]);
    }

    #[test]
    fn events_of_the_same_time_leave_in_push_order() {
        let mut b = JitterBuffer::new(0);
        for (i, ts) in [5, 3, 5, 3, 5, 4].into_iter().enumerate() {
            b.push(ts, i);
        }
        assert_eq!(
            b.drain().collect::<Vec<_>>(),
            [(3, 1), (3, 3), (4, 5), (5, 0), (5, 2), (5, 4)]
        );
    }

    #[test]
    fn a_partly_taken_release_or_drain_leaves_the_rest() {
        let mut b = JitterBuffer::new(0);
        for ts in [1, 2, 3, 4] {
            b.push(ts, ts);
        }
        assert_eq!(b.release().next(), Some((1, 1)));
        assert_eq!(b.drain().next(), Some((2, 2)));
        assert_eq!(b.len(), 2);
        assert_eq!(items(b.release()), [3]);
        assert_eq!(items(b.drain()), [4]);
    }

    #[test]
    fn push_release_is_push_then_release_to() {
        let (mut a, mut b) = (JitterBuffer::new(3), JitterBuffer::new(3));
        let (mut out_a, mut out_b) = (vec![], vec![]);
        for (i, ts) in [10, 8, 14, 13, 11, 20, 20, 16, 30].into_iter().enumerate() {
            a.push_release(ts, i, |t, x| out_a.push((t, x)));
            b.push(ts, i);
            b.release_to(|t, x| out_b.push((t, x)));
            assert_eq!(out_a, out_b);
            assert_eq!(a, b);
        }
        assert_eq!(
            out_a,
            [
                (8, 1),
                (10, 0),
                (11, 4),
                (13, 3),
                (14, 2),
                (16, 7),
                (20, 5),
                (20, 6)
            ]
        );
    }

    #[test]
    fn horizon_is_exact_at_the_extremes() {
        let mut b = JitterBuffer::new(i64::MIN);
        b.push(i64::MAX, 0);
        // The horizon, i64::MAX - i64::MIN, is above every i64 (no overflow): released at once.
        assert_eq!(items(b.release()), [0]);
        assert!(b.is_empty());
        let mut b = JitterBuffer::new(i64::MAX);
        b.push(i64::MIN, 1);
        b.push(i64::MAX, 2);
        assert_eq!(items(b.release()), [1]); // i64::MIN < i64::MAX - i64::MAX
    }

    /// Python `test_a_message_late_within_the_jitter_buffer_reaches_the_indicators_in_time_order`
    /// (its guard and buffer): with a 1.5-s buffer, a trade 1.3 s older than the newest event is
    /// kept and applied before the later trades of its second.
    #[test]
    fn a_message_late_within_the_buffer_is_released_in_time_order() {
        let mut guard = InputGuard::new(1500 * MS);
        guard.newest_ns = 10 * S; // as after an event at 10 s (a fresh guard holds its first)
        let mut buffer = JitterBuffer::new(1500 * MS);
        let mut applied = vec![];
        let mut on_trade = |ts: i64, price: f64, applied: &mut Vec<i64>| {
            let ok = guard.trade_values_ok(price, 1.0)
                && guard.admit(ts, |_| unreachable!("nothing is held")) == Admit::Keep;
            if ok {
                buffer.push_release(ts, price, |t, _| applied.push(t));
            }
            ok
        };
        for ts in [10 * S + 200 * MS, 10 * S + 900 * MS, 11 * S + 800 * MS] {
            assert!(on_trade(ts, 100.0, &mut applied));
        }
        assert!(on_trade(10 * S + 500 * MS, 90.0, &mut applied)); // 1.3 s late: inside the buffer
        assert_eq!(applied, [10 * S + 200 * MS]); // only what is older than the newest by over 1.5 s
        assert!(on_trade(13 * S, 100.0, &mut applied));
        applied.extend(buffer.drain().map(|(t, _)| t));
        assert_eq!(
            applied,
            [
                10 * S + 200 * MS,
                10 * S + 500 * MS,
                10 * S + 900 * MS,
                11 * S + 800 * MS,
                13 * S
            ]
        );
        assert_eq!(guard.total_dropped(), 0);
    }

    #[test]
    fn snapshot_round_trips_through_json_with_its_order() {
        let mut b = JitterBuffer::new(10);
        for (ts, x) in [
            (100, "a"),
            (95, "b"),
            (112, "c"),
            (99, "d"),
            (112, "e"),
            (105, "f"),
        ] {
            b.push(ts, x.to_string());
        }
        assert_eq!(b.release().count(), 3);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"delay_ns":10,"newest_ns":112,"next_seq":6,"events":[[105,5,"f"],[112,2,"c"],[112,4,"e"]]}"#
        );
        let mut back: JitterBuffer<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        // The insertion number carries on: a new event of time 112 leaves after "c" and "e".
        for buf in [&mut b, &mut back] {
            buf.push(112, "g".to_string());
        }
        assert_eq!(back, b);
        assert_eq!(items(back.drain()), ["f", "c", "e", "g"]);
        assert_ne!(back, b);
    }

    #[test]
    fn snapshot_with_inconsistent_numbers_is_refused() {
        for json in [
            r#"{"delay_ns":1,"newest_ns":0,"next_seq":2,"events":[[1,2,0]]}"#,
            r#"{"delay_ns":1,"newest_ns":0,"next_seq":3,"events":[[1,1,0],[2,1,0]]}"#,
        ] {
            assert!(
                serde_json::from_str::<JitterBuffer<i32>>(json).is_err(),
                "{json}"
            );
        }
        let ok = r#"{"delay_ns":1,"newest_ns":0,"next_seq":3,"events":[[2,0,7],[1,2,8]]}"#;
        let mut b: JitterBuffer<i32> = serde_json::from_str(ok).unwrap();
        assert_eq!(items(b.drain()), [8, 7]);
    }

    #[test]
    fn equality_ignores_the_heap_layout() {
        let mut a = JitterBuffer::new(5);
        for (ts, x) in [(3, 'x'), (1, 'y'), (2, 'z'), (1, 'v'), (0, 'u')] {
            a.push(ts, x);
        }
        // Rebuilt from the sorted events: another heap layout, the same buffer.
        let b: JitterBuffer<char> =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a, b);
        let mut c = a.clone();
        c.push(0, 'w');
        assert_ne!(a, c);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The buffer releases exactly what a naive model releases: after each push, every event
        /// older than `newest - delay`, sorted by (time, push order); then the rest at the drain.
        #[test]
        fn releases_as_a_naive_sorted_model(
            pushes in prop::collection::vec(-20i64..200, 0..80),
            delay in -5i64..40,
            via_iterator in any::<bool>(),
        ) {
            let mut b = JitterBuffer::new(delay);
            let mut model: Vec<(i64, usize)> = vec![];
            let mut newest = 0;
            let (mut got, mut want) = (vec![], vec![]);
            for (i, &ts) in pushes.iter().enumerate() {
                if via_iterator {
                    b.push(ts, i);
                    got.extend(b.release());
                } else {
                    b.push_release(ts, i, |t, x| got.push((t, x)));
                }
                model.push((ts, i));
                newest = newest.max(ts);
                model.sort_unstable();
                let n = model.iter().take_while(|&&(t, _)| t < newest - delay).count();
                want.extend(model.drain(..n));
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(b.len(), model.len());
                prop_assert_eq!(b.newest_ns(), newest);
                let json = serde_json::to_string(&b).unwrap();
                let back: JitterBuffer<usize> = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &b);
            }
            got.extend(b.drain());
            want.append(&mut model);
            prop_assert_eq!(got, want);
        }

        /// Python `test_bad_values_and_shuffled_times_never_reach_an_indicator` (its guard and
        /// buffer): whatever the values and the order of the times, what the guard keeps (or
        /// releases from its hold) leaves the buffer in time order, and every other event is
        /// counted as dropped (once the end has taken or dropped what is still held).
        #[test]
        fn guarded_events_leave_in_time_order(
            events in prop::collection::vec(
                (
                    0..30 * S,
                    prop_oneof![3 => 1.0..2.0f64, 1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -1e-9])],
                    prop_oneof![3 => 0.0..5.0f64, 1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -1e-9])],
                    any::<bool>(),
                ),
                0..120,
            ),
        ) {
            let mut guard = InputGuard::new(S);
            let mut buffer = JitterBuffer::new(S);
            let mut applied = vec![];
            let mut accepted = 0u64;
            let mut held = std::collections::VecDeque::new();
            for &(ts, price, qty, is_book) in &events {
                let ts = ts + S;
                let values = if is_book {
                    guard.book_values_ok(&[(price, qty)], &[(price + 0.01, qty)], false)
                } else {
                    guard.trade_values_ok(price, qty)
                };
                let good = price.is_finite() && qty.is_finite() && price > 0.0 && qty >= 0.0;
                prop_assert!(!values || good); // a bad value is never accepted
                if !values {
                    continue;
                }
                let verdict = guard.admit(ts, |l| {
                    let t = held.remove(l.index).unwrap();
                    assert_eq!(t, l.ts_ns);
                    if l.released {
                        accepted += 1;
                        buffer.push_release(t, (), |t, ()| applied.push(t));
                    }
                });
                match verdict {
                    Admit::Keep => {
                        accepted += 1;
                        buffer.push_release(ts, (), |t, ()| applied.push(t));
                    }
                    Admit::Hold => held.push_back(ts),
                    Admit::Drop => {}
                }
            }
            guard.take_held(|l| {
                held.remove(l.index).unwrap();
                if l.released {
                    accepted += 1;
                    buffer.push(l.ts_ns, ());
                }
            });
            applied.extend(buffer.drain().map(|(t, ())| t));
            prop_assert_eq!(applied.len() as u64, accepted);
            prop_assert!(applied.windows(2).all(|w| w[0] <= w[1])); // in time order
            prop_assert_eq!(guard.total_dropped(), events.len() as u64 - accepted);
        }
    }
}
