//! The scanner against serde_json: the same values skipped and decoded, whatever
//! pieces the stream comes in.

use super::error::{Artifact, ExposuresError};
use super::reader_tests::sample_manifest;
use super::scan::Scanner;
use super::{read_manifest, read_run_results};
use std::io::Read;

/// Hands out at most `step` bytes per read, so values straddle every boundary.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

const VALUES: &[&str] = &[
    "0",
    "-12.5e+3",
    "true",
    "null",
    "\"\"",
    "\"plain text that runs past one word of eight bytes\"",
    r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 end""#,
    "\"caf\u{e9} \u{1F600}\"",
    "[]",
    "{}",
    r#"{"a": [1, 2, {"b": "}]"}], "c": null, "d": [[[]]], "e": "x\"y"}"#,
    r#"[{"k": "v"}, "s", 1.5, false, [null]]"#,
];

/// Skips `{"v": VALUE, "after": 1}` and reads the key after it.
fn skip_then_key(text: &str, step: usize) -> Result<Vec<u8>, ExposuresError> {
    let doc = format!("{{\"v\": {text} , \"after\": 1}}");
    let mut scan = Scanner::new(
        Trickle {
            bytes: doc.as_bytes(),
            step,
        },
        Artifact::Manifest,
    );
    let (mut key, mut first) = (Vec::new(), true);
    scan.object("an object")?;
    assert!(scan.key(&mut first, &mut key)?);
    scan.skip_value()?;
    assert!(scan.key(&mut first, &mut key)?);
    scan.skip_value()?;
    assert!(!scan.key(&mut first, &mut key)?);
    scan.finish()?;
    Ok(key)
}

#[test]
fn values_are_skipped_exactly_in_any_pieces() {
    for value in VALUES {
        serde_json::from_str::<serde_json::Value>(value).expect(value);
        for step in [1, 2, 3, 7, 8, 9, 64, 1 << 20] {
            assert_eq!(
                skip_then_key(value, step).unwrap_or_else(|e| panic!("{value} by {step}: {e}")),
                b"after",
                "{value} by {step}"
            );
        }
    }
}

#[test]
fn captured_values_and_decoded_strings_are_serdes() {
    for value in VALUES {
        for step in [1, 5, 1 << 20] {
            let mut scan = Scanner::new(
                Trickle {
                    bytes: value.as_bytes(),
                    step,
                },
                Artifact::Manifest,
            );
            let mut captured = Vec::new();
            scan.capture_value(&mut captured).unwrap();
            assert_eq!(captured, value.as_bytes());
            if let Ok(expected) = serde_json::from_str::<String>(value) {
                let mut scan = Scanner::new(
                    Trickle {
                        bytes: value.as_bytes(),
                        step,
                    },
                    Artifact::Manifest,
                );
                let mut decoded = Vec::new();
                scan.string(&mut decoded, "a string").unwrap();
                assert_eq!(String::from_utf8(decoded).unwrap(), expected);
            }
        }
    }
}

#[test]
fn broken_values_are_errors_never_panics() {
    for bad in [
        "\"unterminated",
        "\"ctrl \u{1} char\"",
        r#""bad \x escape""#,
        r#""bad \u12g4""#,
        "[1, 2",
        "{\"a\": [}",
        "[}",
        "@",
        "{\"a\": @}",
    ] {
        for step in [1, 3, 1 << 20] {
            assert!(skip_then_key(bad, step).is_err(), "{bad} by {step}");
        }
    }
}

#[test]
fn artifacts_read_alike_in_any_pieces() {
    let manifest = sample_manifest();
    let whole = read_manifest(manifest.as_bytes()).unwrap();
    let results = include_str!("../../../../tests/artifacts/build/run_results.json");
    let whole_results = read_run_results(results.as_bytes()).unwrap();
    for step in [1, 7, 4096] {
        let bytes = manifest.as_bytes();
        let view = read_manifest(Trickle { bytes, step }).unwrap();
        assert_eq!(view.exposures, whole.exposures);
        assert_eq!(view.graph.len(), whole.graph.len());
        let bytes = results.as_bytes();
        assert_eq!(
            read_run_results(Trickle { bytes, step }).unwrap(),
            whole_results
        );
    }
}
