//! The engine's net position on disk: `<[persistence] engine_position_dir>/
//! engine-position-<SYMBOL>.json` in real mode, `engine-paper-<SYMBOL>.json` in paper mode, rewritten after each batch of fills that moved it and read back
//! at start, so an engine killed and started again flattens, and counts `[risk] max_positions` and
//! `max_position_notional` from, what it holds at the venue rather than from zero. A write goes to a
//! temporary file beside it, is synced (real mode), then renamed over it: a kill leaves the old file
//! or the new one, never part of one, and the folder is synced after the rename (durable past a
//! power cut, not only a kill). One file per symbol: engines of different symbols sharing the folder never write
//! each other's.
//!
//! The file also holds the ids of the latest [`COUNTED_TRADES`] trades counted in the position: after
//! a restart the executor reports again the fills of an order it takes over (from the venue's trade
//! list), and a fill counted before the restart must not be counted twice. And the reason of an
//! `EmergencyHalt` in force: an engine halted, killed and started again starts halted, refusing
//! orders until `Resume`, as it would have without the restart. And, in real mode, the flatten's
//! market sells ([`FlattenOrder`]) from just before they are sent until their fills are counted in
//! the position: an engine killed while a flatten's answer was out looks them up at the venue when
//! started again and counts what they sold, rather than holding (and selling again) coins already
//! sold. A file written before these were kept reads as holding none.
//!
//! In paper mode the venue is the engine's own paper account (venue `paper:<[feed] rest_url>`: an
//! account filled on a simulator's prices never meets another market's): the file also holds
//! that account ([`PaperAccount`]: its open orders and latest finished ones, its totals), rewritten
//! after every order placed, canceled or filled, so a paper engine killed and started again still
//! has its resting orders and its coins, as a venue would. Those writes are made in the background
//! ([`PositionStore::Background`]), off a paper order's round trip (a write here costs about as much
//! as the whole round trip), at most every [`BACKGROUND_COALESCE`] and not synced to the disk
//! (safe from a kill, not from a power cut). A fill or a halt is written before the engine answers
//! it ([`SaveBy::BeforeAnswering`]): the strategy records what it hears, and an engine killed after
//! that must start again knowing it. A kill loses at most the placements and cancels of the last few
//! tens of milliseconds.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use common::Dec;
use execution_engine::PaperAccount;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Trade ids kept with the position: far more fills than an order taken over after a restart has.
pub const COUNTED_TRADES: usize = 1000;

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    /// The symbol (a file renamed to another symbol's name is refused).
    symbol: String,
    /// The venue's REST URL (`[execution] rest_url`): a position held at one venue (a simulator, a
    /// testnet) is never taken for one at another.
    venue: String,
    /// Net base position.
    position: Dec,
    /// The latest trades counted in it, oldest first.
    counted_trades: VecDeque<u64>,
    /// When it was written, ns since the epoch.
    updated_ts_ns: u64,
    /// Paper mode: the paper account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paper: Option<PaperAccount>,
    /// The reason of the `EmergencyHalt` in force, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    halt: Option<String>,
    /// Real mode: the flatten's sells sent whose fills are not all counted in `position` yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    flatten_orders: Vec<FlattenOrder>,
}

/// A market sell of a flatten (real mode), kept in the file from before it is sent until it is
/// settled at the venue (refused, unknown to it, or final with every fill counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenOrder {
    /// Its client order id (`flatten-<ms>`, `flatten-<ms>-<n>`): the venue finds it by it.
    pub client_order_id: String,
    /// Its command id.
    pub command_id: String,
    /// Its quantity.
    pub quantity: Dec,
    /// When it was made, ns since the epoch.
    pub ts_ns: u64,
}

/// The venue of paper mode fed by the market at `feed_rest_url`, as the file names it.
pub fn paper_venue(feed_rest_url: &str) -> String {
    format!("paper:{feed_rest_url}")
}

/// What a file restores.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The net position and the trades counted in it.
    pub held: Held,
    /// Paper mode: the paper account.
    pub paper: Option<PaperAccount>,
    /// The reason of the `EmergencyHalt` in force when it was written, if one was.
    pub halt: Option<String>,
}

/// The net position, the trades counted in it, and the flatten's sells whose fills may not be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Net base position.
    pub position: Decimal,
    /// The latest trade ids counted in it, oldest first (at most [`COUNTED_TRADES`]).
    pub counted_trades: VecDeque<u64>,
    /// Real mode: the flatten's sells sent (or about to be) and not settled yet: until they are,
    /// what they sold may be missing from `position`.
    pub flattens: Vec<FlattenOrder>,
}

impl Held {
    /// Whether the trade `trade_id` is counted in the position already.
    pub fn counted(&self, trade_id: u64) -> bool {
        self.counted_trades.contains(&trade_id)
    }

    /// The position after the trade `trade_id`, which is counted from now on (the oldest trade
    /// is forgotten past [`COUNTED_TRADES`]).
    pub fn count(&mut self, trade_id: u64, position: Decimal) {
        self.position = position;
        self.counted_trades.push_back(trade_id);
        while self.counted_trades.len() > COUNTED_TRADES {
            self.counted_trades.pop_front();
        }
    }
}

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionFileError {
    /// Reading or writing failed.
    #[error("engine position {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not what this module writes.
    #[error("engine position {path} is not valid ({reason}); it holds the engine's net position at the venue: repair it, or delete it to start from no position")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The position file of one symbol.
#[derive(Debug, Clone)]
pub struct PositionFile {
    path: PathBuf,
    symbol: String,
    venue: String,
    /// Each write synced to the disk, and its folder after the rename.
    synced: bool,
}

impl PositionFile {
    /// The file of `symbol` at `venue` (its REST URL) in `dir` (made at the first write).
    pub fn new(dir: impl AsRef<Path>, symbol: &str, venue: &str) -> Self {
        Self::named(
            dir,
            &format!("engine-position-{symbol}.json"),
            symbol,
            venue,
        )
    }

    /// The paper account's file of `symbol` fed by the market at `feed_rest_url`: a file of its own,
    /// so paper sessions and real ones in one folder never read each other's.
    pub fn paper(dir: impl AsRef<Path>, symbol: &str, feed_rest_url: &str) -> Self {
        Self::named(
            dir,
            &format!("engine-paper-{symbol}.json"),
            symbol,
            &paper_venue(feed_rest_url),
        )
    }

    fn named(dir: impl AsRef<Path>, name: &str, symbol: &str, venue: &str) -> Self {
        PositionFile {
            path: dir.as_ref().join(name),
            symbol: symbol.to_owned(),
            venue: venue.to_owned(),
            synced: true,
        }
    }

    /// The same file written without syncing to the disk (paper mode: safe from a kill once
    /// written, not from a power cut).
    pub fn unsynced(mut self) -> Self {
        self.synced = false;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> PositionFileError {
        PositionFileError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The position saved and its trades; `None` when there is no file.
    ///
    /// # Errors
    /// The file cannot be read, is not valid, or is another symbol's.
    pub fn load(&self) -> Result<Option<Restored>, PositionFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let malformed = |reason: String| PositionFileError::Malformed {
            path: self.path.clone(),
            reason,
        };
        let saved: Saved = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if saved.symbol != self.symbol {
            return Err(malformed(format!(
                "it is {}'s, not {}'s",
                saved.symbol, self.symbol
            )));
        }
        if saved.venue != self.venue {
            return Err(malformed(format!(
                "it was written at {}, this engine trades at {}",
                saved.venue, self.venue
            )));
        }
        Ok(Some(Restored {
            held: Held {
                position: saved.position.0,
                counted_trades: saved.counted_trades,
                flattens: saved.flatten_orders,
            },
            paper: saved.paper,
            halt: saved.halt,
        }))
    }

    /// Saves `held` (and in paper mode the `paper` account) and the emergency `halt` in force at
    /// `now_ns`.
    ///
    /// # Errors
    /// The folder, the temporary file, the rename or the folder's sync failed.
    pub fn save(
        &self,
        held: &Held,
        paper: Option<&PaperAccount>,
        halt: Option<&str>,
        now_ns: u64,
    ) -> Result<(), PositionFileError> {
        let saved = Saved {
            symbol: self.symbol.clone(),
            venue: self.venue.clone(),
            position: Dec(held.position),
            counted_trades: held.counted_trades.clone(),
            updated_ts_ns: now_ns,
            paper: paper.cloned(),
            halt: halt.map(str::to_owned),
            flatten_orders: held.flattens.clone(),
        };
        let text = serde_json::to_string_pretty(&saved).map_err(|e| self.io(e.into()))?;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            if self.synced {
                f.sync_all()?;
            }
            fs::rename(&tmp, &self.path)?;
            if self.synced {
                fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| self.io(e))
    }
}

/// Where the engine keeps its position.
#[derive(Debug)]
pub enum PositionStore {
    /// Written before the answers it reflects go out (real mode: the position a restart flattens is
    /// on disk before anyone hears of its fill).
    Now(PositionFile),
    /// Written by a thread of its own, the latest state first (paper mode).
    Background(BackgroundSave),
}

/// When a save must be on disk, in the background store (the other writes at once anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveBy {
    /// Soon: coalesced with the states after it (an order placed or canceled: the venue's record of
    /// it is the engine's own, and a kill loses both alike).
    Soon,
    /// Before the engine answers: a fill, or a halt, is heard by the strategy, which records it; an
    /// engine killed after that must not start again without it.
    BeforeAnswering,
}

impl PositionStore {
    /// Saves `held`, the `paper` account and the emergency `halt` at `now_ns`. In the background
    /// store it is queued (a failure is counted and logged there), and with
    /// [`SaveBy::BeforeAnswering`] written before this returns.
    ///
    /// # Errors
    /// [`PositionStore::Now`]: the write failed.
    pub fn save(
        &self,
        held: &Held,
        paper: Option<PaperAccount>,
        halt: Option<&str>,
        now_ns: u64,
        by: SaveBy,
    ) -> Result<(), PositionFileError> {
        match self {
            PositionStore::Now(file) => file.save(held, paper.as_ref(), halt, now_ns),
            PositionStore::Background(b) => {
                let state = Waiting {
                    held: held.clone(),
                    paper,
                    halt: halt.map(str::to_owned),
                    now_ns,
                };
                match by {
                    SaveBy::Soon => b.submit(state),
                    SaveBy::BeforeAnswering => b.write_now(state),
                }
                Ok(())
            }
        }
    }
}

/// A state submitted to the background saver.
#[derive(Debug)]
pub struct Waiting {
    /// The net position.
    pub held: Held,
    /// The paper account.
    pub paper: Option<PaperAccount>,
    /// The emergency halt in force.
    pub halt: Option<String>,
    /// When it was submitted, ns since the epoch.
    pub now_ns: u64,
}

/// The state waiting to be written, whether the saver is stopping, and the states submitted and
/// written so far (a caller of [`BackgroundSave::write_now`] waits for its own).
#[derive(Debug, Default)]
struct Pending {
    next: Option<Waiting>,
    closing: bool,
    /// A caller waits: no coalescing pause.
    urgent: bool,
    submitted: u64,
    written: u64,
}

/// The longest [`BackgroundSave::write_now`] waits for its write (a stuck disk, a saver gone).
pub const WRITE_NOW_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long the background saver lets states pile up before it writes the latest: a burst of orders
/// costs one write, and the thread stays off the cores the order path needs.
pub const BACKGROUND_COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

/// A thread that writes a [`PositionFile`]: only the latest state submitted is written (a newer one
/// replaces one still waiting), at most once every [`BACKGROUND_COALESCE`]; dropped, it writes what
/// is still waiting, then stops.
#[derive(Debug)]
pub struct BackgroundSave {
    pending: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundSave {
    /// Starts the thread writing `file`; `failed` is called with each write's error.
    pub fn start(
        file: PositionFile,
        failed: impl Fn(&PositionFileError) + Send + 'static,
    ) -> io::Result<Self> {
        let pending = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let shared = Arc::clone(&pending);
        let thread = std::thread::Builder::new()
            .name("position-file".into())
            .spawn(move || loop {
                let (lock, wake) = &*shared;
                let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                while p.next.is_none() && !p.closing {
                    p = wake.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if !p.closing && !p.urgent {
                    drop(p);
                    std::thread::sleep(BACKGROUND_COALESCE);
                    p = lock.lock().unwrap_or_else(|e| e.into_inner());
                }
                let (next, closing, upto) = (p.next.take(), p.closing, p.submitted);
                p.urgent = false;
                drop(p);
                if let Some(w) = next {
                    if let Err(e) =
                        file.save(&w.held, w.paper.as_ref(), w.halt.as_deref(), w.now_ns)
                    {
                        failed(&e);
                    }
                } else if closing {
                    return;
                }
                // Written (or failed, told above): every state submitted up to it is settled.
                lock.lock().unwrap_or_else(|e| e.into_inner()).written = upto;
                wake.notify_all();
            })?;
        Ok(BackgroundSave {
            pending,
            thread: Some(thread),
        })
    }

    /// Queues `state`, replacing a state still waiting.
    pub fn submit(&self, state: Waiting) {
        let (lock, wake) = &*self.pending;
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        p.submitted += 1;
        p.next = Some(state);
        wake.notify_all();
    }

    /// Queues `state` and waits until it is written (no coalescing pause; at most
    /// [`WRITE_NOW_WAIT`]), so that what it holds is on disk before the caller goes on. The one
    /// writer keeps the states in order: an older state never lands after it.
    pub fn write_now(&self, state: Waiting) {
        let (lock, wake) = &*self.pending;
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        p.submitted += 1;
        let mine = p.submitted;
        p.next = Some(state);
        p.urgent = true;
        wake.notify_all();
        let deadline = std::time::Instant::now() + WRITE_NOW_WAIT;
        while p.written < mine {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::error!(
                    "position file: a write waited for was not done within {WRITE_NOW_WAIT:?}"
                );
                return;
            }
            p = wake
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for BackgroundSave {
    fn drop(&mut self) {
        let (lock, wake) = &*self.pending;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENUE: &str = "https://api.binance.com";

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn held(position: &str, trades: &[u64]) -> Held {
        Held {
            position: d(position),
            counted_trades: trades.iter().copied().collect(),
            flattens: Vec::new(),
        }
    }

    fn waiting(held: Held, now_ns: u64) -> Waiting {
        Waiting {
            held,
            paper: None,
            halt: None,
            now_ns,
        }
    }

    /// The position a file restores.
    fn restored(file: &PositionFile) -> Option<Held> {
        file.load().unwrap().map(|r| r.held)
    }

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "flashcrash-position-file-{}-{}",
            std::process::id(),
            common::time::now_ns()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// No file: none. A saved position and its trades read back exactly, in a file of its own per
    /// symbol; the folder is made; no temporary file is left. The trades kept are the latest.
    #[test]
    fn a_saved_position_reads_back_per_symbol() {
        let root = dir();
        let folder = root.join("state");
        let pol = PositionFile::new(&folder, "POLUSDT", VENUE);
        assert_eq!(restored(&pol), None);
        pol.save(&held("99.9", &[7, 9]), None, None, 1).unwrap();
        assert_eq!(restored(&pol), Some(held("99.9", &[7, 9])));
        let btc = PositionFile::new(&folder, "BTCUSDT", VENUE);
        assert_eq!(restored(&btc), None);
        btc.save(&held("-0.00012", &[1]), None, None, 2).unwrap();
        assert_eq!(restored(&pol), Some(held("99.9", &[7, 9])));
        assert_eq!(restored(&btc), Some(held("-0.00012", &[1])));
        pol.save(&held("0", &[7, 9, 11]), None, None, 3).unwrap();
        assert_eq!(restored(&pol), Some(held("0", &[7, 9, 11])));
        let mut names: Vec<_> = fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "engine-position-BTCUSDT.json",
                "engine-position-POLUSDT.json"
            ]
        );
        let text = fs::read_to_string(pol.path()).unwrap();
        assert!(text.contains("\"position\": \"0\""), "{text}");
        let mut full = Held {
            position: Decimal::ZERO,
            counted_trades: (0..COUNTED_TRADES as u64).collect(),
            flattens: Vec::new(),
        };
        full.count(5_000, d("1"));
        let counted = &full.counted_trades;
        assert_eq!((full.position, counted.len()), (d("1"), COUNTED_TRADES));
        assert_eq!((counted.front(), counted.back()), (Some(&1), Some(&5_000)));
        assert!(full.counted(5_000) && !full.counted(0));
        fs::remove_dir_all(root).unwrap();
    }

    /// The reason of an emergency halt in force reads back; once lifted, the file holds none (and
    /// names no `halt`, as files written before halts were kept, which still read).
    #[test]
    fn an_emergency_halt_in_force_reads_back() {
        let root = dir();
        let file = PositionFile::new(&root, "POLUSDT", VENUE);
        file.save(&held("5", &[1]), None, Some("drawdown"), 1)
            .unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(
            (back.held, back.halt.as_deref()),
            (held("5", &[1]), Some("drawdown"))
        );
        file.save(&held("5", &[1]), None, None, 2).unwrap();
        assert_eq!(file.load().unwrap().unwrap().halt, None);
        assert!(!fs::read_to_string(file.path()).unwrap().contains("halt"));
        fs::remove_dir_all(root).unwrap();
    }

    /// The flatten's sells kept read back; once settled, the file names none (as files written
    /// before they were kept, which still read, holding none).
    #[test]
    fn the_flatten_orders_kept_read_back() {
        let root = dir();
        let file = PositionFile::new(&root, "POLUSDT", VENUE);
        let mut h = held("99.9", &[1]);
        h.flattens.push(FlattenOrder {
            client_order_id: "flatten-1760000000000".into(),
            command_id: "halt-flatten".into(),
            quantity: Dec(d("99.9")),
            ts_ns: 1_760_000_000_000_000_000,
        });
        file.save(&h, None, Some("test"), 1).unwrap();
        assert_eq!(restored(&file), Some(h.clone()));
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.contains("\"flatten_orders\""), "{text}");
        h.flattens.clear();
        file.save(&h, None, Some("test"), 2).unwrap();
        assert!(!fs::read_to_string(file.path())
            .unwrap()
            .contains("flatten_orders"));
        fs::write(
            file.path(),
            "{\"symbol\": \"POLUSDT\", \"venue\": \"https://api.binance.com\", \"position\": \"5\", \"counted_trades\": [3], \"updated_ts_ns\": 1, \"halt\": \"old\"}",
        )
        .unwrap();
        assert_eq!(restored(&file), Some(held("5", &[3])));
        fs::remove_dir_all(root).unwrap();
    }

    /// A file that is not the engine's (damaged, edited, a number where a decimal string is
    /// expected, another symbol's, written at another venue: a simulator's position never becomes
    /// a live one) is an error naming it and saying what to do: the position it should hold is
    /// never taken as zero.
    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let root = dir();
        let file = PositionFile::new(&root, "POLUSDT", VENUE);
        for bad in [
            "{\"symbol\": \"POLUSDT\", \"venue\": \"https://api.binance.com\", \"position\": \"99.9\"",
            "{\"symbol\": \"POLUSDT\", \"venue\": \"https://api.binance.com\", \"position\": 99.9, \"counted_trades\": [], \"updated_ts_ns\": 1}",
            "{\"symbol\": \"POLUSDT\", \"venue\": \"https://api.binance.com\", \"position\": \"NaN\", \"counted_trades\": [], \"updated_ts_ns\": 1}",
            "{\"symbol\": \"BTCUSDT\", \"venue\": \"https://api.binance.com\", \"position\": \"1\", \"counted_trades\": [], \"updated_ts_ns\": 1}",
            "{\"symbol\": \"POLUSDT\", \"venue\": \"http://127.0.0.1:9443\", \"position\": \"1\", \"counted_trades\": [], \"updated_ts_ns\": 1}",
            "",
        ] {
            fs::write(file.path(), bad).unwrap();
            let e = file.load().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "engine position {} is not valid",
                    file.path().display()
                )),
                "{e}"
            );
            assert!(e.ends_with("delete it to start from no position"), "{e}");
        }
        fs::remove_dir_all(root).unwrap();
    }

    /// The background saver (unsynced, as in paper mode) writes the latest state submitted, and
    /// what is still waiting when it is dropped; a failed write is reported.
    #[test]
    fn the_background_saver_writes_the_latest_state() {
        let root = dir();
        let file = PositionFile::paper(&root, "POLUSDT", "http://127.0.0.1:9");
        let saver = BackgroundSave::start(file.clone().unsynced(), |e| panic!("{e}")).unwrap();
        for i in 1..=50u64 {
            saver.submit(waiting(held(&i.to_string(), &[i]), i));
        }
        drop(saver);
        assert_eq!(restored(&file), Some(held("50", &[50])));
        let failures = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&failures);
        let bad = PositionFile::paper(file.path(), "POLUSDT", "http://127.0.0.1:9"); // its folder is a file
        let saver = BackgroundSave::start(bad, move |_| *counted.lock().unwrap() += 1).unwrap();
        saver.submit(waiting(held("1", &[1]), 1));
        drop(saver);
        assert_eq!(*failures.lock().unwrap(), 1);
        fs::remove_dir_all(root).unwrap();
    }

    /// A state written now (a fill, a halt) is on disk when `write_now` returns, with the saver
    /// still running (a kill then loses nothing of it), and a state submitted before it never lands
    /// after it.
    #[test]
    fn a_state_written_now_is_on_disk_when_the_call_returns() {
        let root = dir();
        let file = PositionFile::paper(&root, "POLUSDT", "http://127.0.0.1:9");
        let saver = BackgroundSave::start(file.clone().unsynced(), |e| panic!("{e}")).unwrap();
        for i in 1..=20u64 {
            saver.submit(waiting(held(&i.to_string(), &[i]), i));
            saver.write_now(waiting(held(&(i + 100).to_string(), &[i + 100]), i + 100));
            assert_eq!(
                restored(&file),
                Some(held(&(i + 100).to_string(), &[i + 100])),
                "{i}"
            );
        }
        std::thread::sleep(2 * BACKGROUND_COALESCE);
        assert_eq!(restored(&file), Some(held("120", &[120])));
        drop(saver);
        fs::remove_dir_all(root).unwrap();
    }
}
