//! A JSON scanner that reads only what the decision needs, at byte speed.
//!
//! dbt's artifacts are mostly bulk the decision never looks at: models' SQL,
//! columns, macros, docs, each result's `compiled_code`. serde's streaming reader
//! pulls every byte through `Read` one at a time (~150 MB/s in the size-optimised
//! binary), which at a 128 MB Lambda's CPU share (128/1769 of a vCPU) is seconds
//! per 100 MB. This scanner works on a 64 KiB buffer: a skipped value is crossed by
//! tracking brackets, and string bodies (most of the bytes) eight bytes at a time
//! (SWAR: a word is checked for `"`, `\` and control characters at once). Nothing
//! is allocated for what is skipped; nesting costs one byte per level.
//!
//! Skipped values are checked for what can be checked cheaply: brackets match,
//! strings end and hold no control characters, escapes are valid, and only JSON's
//! scalar characters appear between them. The values kept are read exactly (small
//! ones, an exposure or `metadata`, are captured and handed to serde).

use super::error::{Artifact, ExposuresError};
use std::io::Read;

const BUFFER: usize = 64 << 10;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

pub(super) struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes before `buf[0]`, for the offsets errors name.
    before: u64,
    artifact: Artifact,
    /// Open brackets of the value being skipped (the closers expected).
    stack: Vec<u8>,
    /// When set, every byte consumed is copied here ([`Scanner::capture_value`]).
    capture: Option<Vec<u8>>,
}

/// Why [`Scanner::skip_value`]'s loop left the buffer.
enum Stop {
    Refill,
    Escape,
    Done,
    Bad(u8),
}

/// What the next value is, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Object,
    Array,
    String,
    Null,
    Other,
}

impl<R: Read> Scanner<R> {
    pub(super) fn new(reader: R, artifact: Artifact) -> Scanner<R> {
        Scanner {
            reader,
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            before: 0,
            artifact,
            stack: Vec::new(),
            capture: None,
        }
    }

    fn offset(&self) -> u64 {
        self.before + self.pos as u64
    }

    pub(super) fn malformed(&self, what: impl std::fmt::Display) -> ExposuresError {
        ExposuresError::Malformed {
            artifact: self.artifact,
            detail: format!("{what} at byte {}", self.offset()),
        }
    }

    fn eof(&self) -> ExposuresError {
        self.malformed("EOF while parsing a value")
    }

    /// Makes at least one unread byte available; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, ExposuresError> {
        if self.pos < self.end {
            return Ok(true);
        }
        self.before += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ExposuresError::Read {
                        artifact: self.artifact,
                        detail: e.to_string(),
                    });
                }
            }
        }
    }

    /// Consumes `buf[pos..pos + n]`, copying it when capturing.
    #[inline]
    fn advance(&mut self, n: usize) {
        if let Some(capture) = self.capture.as_mut() {
            capture.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        }
        self.pos += n;
    }

    /// The next byte that is not whitespace, not consumed; `None` at the end.
    pub(super) fn peek(&mut self) -> Result<Option<u8>, ExposuresError> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            let b = self.buf[self.pos];
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(Some(b));
            }
            self.advance(1);
        }
    }

    fn peek_some(&mut self) -> Result<u8, ExposuresError> {
        self.peek()?.ok_or_else(|| self.eof())
    }

    pub(super) fn kind(&mut self) -> Result<Kind, ExposuresError> {
        Ok(match self.peek_some()? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b'n' => Kind::Null,
            _ => Kind::Other,
        })
    }

    /// serde's words for what was found where `expected` should be.
    pub(super) fn invalid_type(&mut self, expected: &str) -> ExposuresError {
        let found = match self.peek() {
            Ok(Some(b'{')) => "map",
            Ok(Some(b'[')) => "sequence",
            Ok(Some(b'"')) => "string",
            Ok(Some(b'n')) => "null",
            Ok(Some(b't' | b'f')) => "boolean",
            Ok(Some(_)) => "number",
            Ok(None) => return self.eof(),
            Err(e) => return e,
        };
        self.malformed(format!("invalid type: {found}, expected {expected}"))
    }

    /// The end of the document: nothing but whitespace may follow.
    pub(super) fn finish(&mut self) -> Result<(), ExposuresError> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.malformed("trailing characters")),
        }
    }

    /// `null`, consumed.
    pub(super) fn null(&mut self) -> Result<(), ExposuresError> {
        self.literal(b"null")
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ExposuresError> {
        for &expected in word {
            if !self.fill()? {
                return Err(self.eof());
            }
            if self.buf[self.pos] != expected {
                return Err(self.malformed("expected ident"));
            }
            self.advance(1);
        }
        Ok(())
    }

    /// Opens an object (`{`), or says it is not one.
    pub(super) fn object(&mut self, expected: &str) -> Result<(), ExposuresError> {
        if self.peek_some()? != b'{' {
            return Err(self.invalid_type(expected));
        }
        self.advance(1);
        Ok(())
    }

    /// Opens an array (`[`), or says it is not one.
    pub(super) fn array(&mut self, expected: &str) -> Result<(), ExposuresError> {
        if self.peek_some()? != b'[' {
            return Err(self.invalid_type(expected));
        }
        self.advance(1);
        Ok(())
    }

    /// The next key of an object opened with [`Scanner::object`], decoded into
    /// `key` (which must then name a value, read or skipped); `false` at its `}`.
    /// `first`: no member has been read yet.
    pub(super) fn key(
        &mut self,
        first: &mut bool,
        key: &mut Vec<u8>,
    ) -> Result<bool, ExposuresError> {
        if !self.member(first, b'}')? {
            return Ok(false);
        }
        if self.peek_some()? != b'"' {
            return Err(self.malformed("key must be a string"));
        }
        key.clear();
        self.string_into(key)?;
        if self.peek_some()? != b':' {
            return Err(self.malformed("expected `:`"));
        }
        self.advance(1);
        Ok(true)
    }

    /// Whether an array opened with [`Scanner::array`] has another element (then
    /// read or skip it); `false` at its `]`.
    pub(super) fn element(&mut self, first: &mut bool) -> Result<bool, ExposuresError> {
        self.member(first, b']')
    }

    fn member(&mut self, first: &mut bool, close: u8) -> Result<bool, ExposuresError> {
        let b = self.peek_some()?;
        if b == close {
            self.advance(1);
            return Ok(false);
        }
        if !*first {
            if b != b',' {
                return Err(self.malformed(format!("expected `,` or `{}`", close as char)));
            }
            self.advance(1);
            if self.peek_some()? == close {
                return Err(self.malformed("trailing comma"));
            }
        }
        *first = false;
        Ok(true)
    }

    /// A string value, decoded (escapes resolved) and checked as UTF-8.
    pub(super) fn string(
        &mut self,
        out: &mut Vec<u8>,
        expected: &str,
    ) -> Result<(), ExposuresError> {
        if self.peek_some()? != b'"' {
            return Err(self.invalid_type(expected));
        }
        out.clear();
        self.string_into(out)?;
        if std::str::from_utf8(out).is_err() {
            return Err(self.malformed("invalid unicode in a string"));
        }
        Ok(())
    }

    /// At an opening quote: consumes the string, appending its decoded bytes to
    /// `out` (not checked as UTF-8 here).
    fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), ExposuresError> {
        self.advance(1);
        loop {
            let run = self.plain_run()?;
            out.extend_from_slice(&self.buf[self.pos..self.pos + run]);
            self.advance(run);
            if !self.fill()? {
                return Err(self.malformed("EOF while parsing a string"));
            }
            match self.buf[self.pos] {
                b'"' => {
                    self.advance(1);
                    return Ok(());
                }
                b'\\' => {
                    self.advance(1);
                    self.escape(Some(out))?;
                }
                0..=0x1f => {
                    return Err(self.malformed("control character found while parsing a string"));
                }
                // The run stopped at the buffer's end.
                _ => {}
            }
        }
    }

    /// How many bytes from `pos` are plain string content (no `"`, `\` or control
    /// character), within the buffer; 0 when the buffer is used up or the next
    /// byte is special.
    #[inline]
    fn plain_run(&mut self) -> Result<usize, ExposuresError> {
        if !self.fill()? {
            return Ok(0);
        }
        Ok(plain_end(&self.buf[..self.end], self.pos) - self.pos)
    }

    /// After a backslash: one escape, decoded into `out` when given.
    fn escape(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), ExposuresError> {
        if !self.fill()? {
            return Err(self.malformed("EOF while parsing a string"));
        }
        let b = self.buf[self.pos];
        self.advance(1);
        let plain = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4()?;
                let Some(out) = out.as_deref_mut() else {
                    return Ok(());
                };
                let code = if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: its low half must follow.
                    self.literal(b"\\u")
                        .map_err(|_| self.malformed("lone leading surrogate in hex escape"))?;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.malformed("lone leading surrogate in hex escape"));
                    }
                    0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                } else {
                    u32::from(unit)
                };
                let c = char::from_u32(code)
                    .ok_or_else(|| self.malformed("invalid unicode code point"))?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                return Ok(());
            }
            _ => return Err(self.malformed("invalid escape")),
        };
        if let Some(out) = out {
            out.push(plain);
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, ExposuresError> {
        let mut n = 0u16;
        for _ in 0..4 {
            if !self.fill()? {
                return Err(self.malformed("EOF while parsing a string"));
            }
            let digit = (self.buf[self.pos] as char)
                .to_digit(16)
                .ok_or_else(|| self.malformed("invalid escape"))?;
            self.advance(1);
            n = n * 16 + digit as u16;
        }
        Ok(n)
    }

    /// Consumes one value of any kind without building it. The hot loop: it
    /// runs over the buffer with local indices and only leaves it to refill, so
    /// it stays fast in the size-optimised binary too.
    pub(super) fn skip_value(&mut self) -> Result<(), ExposuresError> {
        if !matches!(self.peek_some()?, b'"' | b'{' | b'[') {
            return self.skip_scalar();
        }
        self.stack.clear();
        let mut in_string = false;
        loop {
            let (start, end) = (self.pos, self.end);
            let mut i = start;
            let mut stop = Stop::Refill;
            {
                let buf = &self.buf[..end];
                let stack = &mut self.stack;
                while i < end {
                    if in_string {
                        i = plain_end(buf, i);
                        if i == end {
                            break;
                        }
                        match buf[i] {
                            b'"' => {
                                in_string = false;
                                i += 1;
                                if stack.is_empty() {
                                    stop = Stop::Done;
                                    break;
                                }
                            }
                            // SQL is full of `\n` and `\"`: the common escapes are
                            // crossed here; `\u` and one cut by the buffer's end
                            // go the slow way.
                            b'\\' if i + 1 < end && SHORT_ESCAPE[buf[i + 1] as usize] => i += 2,
                            b'\\' => {
                                stop = Stop::Escape;
                                i += 1;
                                break;
                            }
                            _ => {
                                stop = Stop::Bad(buf[i]);
                                break;
                            }
                        }
                        continue;
                    }
                    let b = buf[i];
                    match b {
                        b'"' => in_string = true,
                        b'{' => stack.push(b'}'),
                        b'[' => stack.push(b']'),
                        b'}' | b']' => {
                            if stack.pop() != Some(b) {
                                stop = Stop::Bad(b);
                                break;
                            }
                            if stack.is_empty() {
                                i += 1;
                                stop = Stop::Done;
                                break;
                            }
                        }
                        _ if INSIDE[b as usize] => {}
                        _ => {
                            stop = Stop::Bad(b);
                            break;
                        }
                    }
                    i += 1;
                }
            }
            self.advance(i - start);
            match stop {
                Stop::Done => return Ok(()),
                Stop::Escape => self.escape(None)?,
                Stop::Bad(b) if in_string => {
                    return Err(self.malformed(format!(
                        "control character {b:#04x} found while parsing a string"
                    )));
                }
                Stop::Bad(b) => return Err(self.unexpected(b)),
                Stop::Refill => {
                    if !self.fill()? {
                        return Err(self.eof());
                    }
                }
            }
        }
    }

    /// A number, `true` or `false` as a whole value: its characters up to the
    /// first that is not one.
    fn skip_scalar(&mut self) -> Result<(), ExposuresError> {
        let first = self.buf[self.pos];
        if self.run_of(&SCALAR) == 0 {
            return Err(self.unexpected(first));
        }
        loop {
            let run = self.run_of(&SCALAR);
            self.advance(run);
            if self.pos < self.end || !self.fill()? {
                return Ok(());
            }
        }
    }

    #[inline]
    fn run_of(&self, class: &[bool; 256]) -> usize {
        self.buf[self.pos..self.end]
            .iter()
            .take_while(|&&c| class[c as usize])
            .count()
    }

    fn unexpected(&self, b: u8) -> ExposuresError {
        self.malformed(format!("unexpected character {:?}", char::from(b)))
    }

    /// Consumes one value, appending its JSON text to `out` (for a small value
    /// handed to serde afterwards).
    pub(super) fn capture_value(&mut self, out: &mut Vec<u8>) -> Result<(), ExposuresError> {
        self.peek_some()?;
        self.capture = Some(std::mem::take(out));
        let skipped = self.skip_value();
        *out = self.capture.take().unwrap_or_default();
        skipped
    }
}

/// The index of the first `"`, `\` or control character in `bytes` from `from`,
/// or `bytes.len()`: eight bytes per step (a byte is special when it equals `"`
/// or `\`, or is below 0x20; the tests below find the first such byte of a
/// little-endian word exactly).
#[inline(always)]
fn plain_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let special = special & HIGHS;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

const fn class(allowed: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = true;
        i += 1;
    }
    table
}

/// What may follow a backslash, `u` (four hex digits follow) aside.
static SHORT_ESCAPE: [bool; 256] = class(b"\"\\/bfnrt");
/// The characters of numbers and of `true`, `false`, `null`.
static SCALAR: [bool; 256] = class(b"0123456789+-.eEtrufalsn");
/// Those and what may come between values inside brackets: whitespace, `,`, `:`.
static INSIDE: [bool; 256] = class(b" \n\r\t,:0123456789+-.eEtrufalsn");
