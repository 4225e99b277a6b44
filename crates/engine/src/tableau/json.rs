//! Small serde helpers for Tableau's JSON, which writes numbers as strings
//! (`"pageNumber":"1"`, `"code":"409093"`).

use serde::{Deserialize, Deserializer};

/// A string, or a number turned into its text: Tableau's docs say string, but a
/// proxy or a future version writing a number must not break parsing.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(serde_json::Number),
        Null(()),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
        Either::Null(()) => String::new(),
    })
}

/// A count written as `"2"` or `2`; anything unreadable counts as absent.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(string_or_number(d)?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Page {
        #[serde(default, deserialize_with = "count")]
        total: Option<u64>,
    }

    #[test]
    fn counts_as_strings_or_numbers() {
        let parse = |s: &str| serde_json::from_str::<Page>(s).unwrap().total;
        assert_eq!(parse(r#"{"total":"2"}"#), Some(2));
        assert_eq!(parse(r#"{"total":2}"#), Some(2));
        assert_eq!(parse(r#"{"total":null}"#), None);
        assert_eq!(parse(r#"{}"#), None);
    }
}
