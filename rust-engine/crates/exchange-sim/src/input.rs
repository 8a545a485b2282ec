//! Reading recorded files line by line: gzip or plain (told apart by the gzip magic bytes, not the
//! file name), with a cap on line length so that one absurd line cannot exhaust memory, and without
//! assuming UTF-8 (a line that is not UTF-8 is handed over as bytes and rejected by the parser).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::LoadError;

/// The two bytes every gzip member starts with (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path`, decompressing it when it starts with the gzip magic bytes.
///
/// # Errors
/// [`LoadError::Open`] when the file cannot be opened or its first bytes cannot be read.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, LoadError> {
    let open_err = |source| LoadError::Open {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(open_err)?);
    let head = reader.fill_buf().map_err(open_err)?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::new(
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// One line as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without the line ending.
    Text(&'a [u8]),
    /// The line was longer than the cap; its bytes were discarded.
    TooLong,
}

/// Reads lines of at most `cap` bytes, reusing one buffer.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    cap: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader keeping at most `cap` bytes of a line.
    pub fn new(inner: R, cap: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            cap,
            number: 0,
        }
    }

    /// Number (from 1) of the line last returned.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The next line, `Ok(None)` at the end of the input.
    ///
    /// # Errors
    /// The underlying reader failed (for example a truncated or corrupt gzip stream).
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(chunk.len());
            let room = self.cap.saturating_sub(self.buf.len());
            if take > room {
                too_long = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            self.inner.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        let text = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
        Ok(Some(Line::Text(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_caps_length_and_strips_cr() {
        let data = b"abc\r\n0123456789\n\nlast";
        let mut r = LineReader::new(&data[..], 5);
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"abc")));
        assert_eq!(r.next_line().unwrap(), Some(Line::TooLong));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"last")));
        assert_eq!(r.number(), 4);
        assert_eq!(r.next_line().unwrap(), None);
    }

    #[test]
    fn tells_gzip_from_plain_by_magic_bytes() {
        let dir = std::env::temp_dir().join(format!("sim-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = b"line one\nline two\n";
        // A gzip file named .csv and a plain file named .gz: the name must not matter.
        let gz = dir.join("a.csv");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let plain = dir.join("b.gz");
        std::fs::write(&plain, text).unwrap();
        let empty = dir.join("c");
        std::fs::write(&empty, b"").unwrap();
        for p in [&gz, &plain] {
            let mut r = LineReader::new(open(p).unwrap(), 100);
            assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"line one")));
            assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"line two")));
            assert_eq!(r.next_line().unwrap(), None);
        }
        assert_eq!(
            LineReader::new(open(&empty).unwrap(), 10)
                .next_line()
                .unwrap(),
            None
        );
        assert!(matches!(
            open(&dir.join("missing")),
            Err(LoadError::Open { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
