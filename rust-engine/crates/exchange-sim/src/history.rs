//! The authoritative book together with a bounded ring of its recent past, so that a test can ask
//! "what was the venue's book at update id X?" and compare it with a client's book at the same id.
//!
//! The ring keeps, per applied update, what undoes it and the checksum after it; a past book is
//! rebuilt by undoing updates from the current one. Memory is bounded by the ring's capacity times
//! the size of one update.

use std::collections::VecDeque;

use crate::book::{Book, Diff, Undo};

/// Updates kept by default: one minute of 100-ms updates.
pub const DEFAULT_HISTORY: usize = 600;

#[derive(Debug, Clone)]
struct Entry {
    /// Update id before the update.
    before: u64,
    /// Update id after it (the event's `u`).
    after: u64,
    /// Checksum of the book after it.
    checksum: u64,
    undo: Undo,
}

/// The venue's book and its recent states.
#[derive(Debug, Clone)]
pub struct TrackedBook {
    book: Book,
    entries: VecDeque<Entry>,
    cap: usize,
    /// Checksum of the state before the oldest entry.
    base_checksum: u64,
}

impl TrackedBook {
    /// Starts from `book`, remembering up to `cap` updates.
    pub fn new(book: Book, cap: usize) -> Self {
        TrackedBook {
            base_checksum: book.checksum(),
            book,
            entries: VecDeque::with_capacity(cap.min(DEFAULT_HISTORY)),
            cap: cap.max(1),
        }
    }

    /// The current book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Applies `diff` as the update ending at id `last` (the event's `u`) and remembers it.
    pub fn apply(&mut self, diff: &Diff, last: u64) {
        let before = self.book.update_id;
        let undo = self.book.apply(diff, last);
        if self.entries.len() == self.cap {
            if let Some(old) = self.entries.pop_front() {
                self.base_checksum = old.checksum;
            }
        }
        self.entries.push_back(Entry {
            before,
            after: last,
            checksum: self.book.checksum(),
            undo,
        });
    }

    /// Update ids whose book can still be rebuilt: from the oldest remembered to the current.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries
            .front()
            .map(|e| e.before)
            .into_iter()
            .chain(self.entries.iter().map(|e| e.after))
            .chain(self.entries.is_empty().then_some(self.book.update_id))
    }

    /// The book as it was when its update id was `update_id`, if that state existed and is still
    /// remembered (ids inside an update's `[U, u)` never existed as a whole book).
    pub fn book_at(&self, update_id: u64) -> Option<Book> {
        if update_id == self.book.update_id {
            return Some(self.book.clone());
        }
        let oldest = self.entries.front()?.before;
        if update_id < oldest || update_id > self.book.update_id {
            return None;
        }
        let mut b = self.book.clone();
        for e in self.entries.iter().rev() {
            b.revert(&e.undo, e.before);
            if e.before == update_id {
                return Some(b);
            }
            if e.before < update_id {
                return None;
            }
        }
        None
    }

    /// Checksum ([`Book::checksum`]) of the book at `update_id`, if remembered; cheap.
    pub fn checksum_at(&self, update_id: u64) -> Option<u64> {
        if update_id == self.book.update_id {
            return Some(
                self.entries
                    .back()
                    .map_or(self.base_checksum, |e| e.checksum),
            );
        }
        if self.entries.front().is_some_and(|e| e.before == update_id) {
            return Some(self.base_checksum);
        }
        let i = self.entries.partition_point(|e| e.after < update_id);
        self.entries
            .get(i)
            .filter(|e| e.after == update_id)
            .map(|e| e.checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(t: &mut TrackedBook, price: u64, qty: u64, levels: u64) -> u64 {
        let mut diff = Diff::default();
        for k in 0..levels {
            diff.bids.push((price - k, qty));
        }
        let last = t.book().update_id + diff.len() as u64;
        t.apply(&diff, last);
        last
    }

    #[test]
    fn rebuilds_past_books_and_checksums() {
        let mut t = TrackedBook::new(Book::empty(100), 10);
        let mut states = vec![(100, t.book().clone())];
        for k in 1..=5 {
            let id = step(&mut t, 1000 + k, k, k);
            states.push((id, t.book().clone()));
        }
        for (id, b) in &states {
            assert_eq!(t.book_at(*id).as_ref(), Some(b), "id {id}");
            assert_eq!(t.checksum_at(*id), Some(b.checksum()), "id {id}");
        }
        // Ids inside an update's range never existed as a whole book.
        assert_eq!(t.book_at(102), None);
        assert_eq!(t.checksum_at(102), None);
        assert_eq!(t.book_at(99), None);
        assert_eq!(t.book_at(10_000), None);
        assert_eq!(
            t.ids().collect::<Vec<_>>(),
            states.iter().map(|s| s.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn forgets_beyond_capacity() {
        let mut t = TrackedBook::new(Book::empty(0), 3);
        let mut ids = vec![0];
        let mut books = vec![t.book().clone()];
        for k in 1..=6 {
            ids.push(step(&mut t, 100, k, 1));
            books.push(t.book().clone());
        }
        assert_eq!(t.book_at(ids[2]), None);
        for i in 3..=6 {
            assert_eq!(t.book_at(ids[i]).as_ref(), Some(&books[i]));
            assert_eq!(t.checksum_at(ids[i]), Some(books[i].checksum()));
        }
        assert_eq!(t.ids().count(), 4);
    }
}
