//! Unit tests of the Secrets Manager source's parsing and settings; the source
//! itself is tested against moto_server in tests/secrets_manager.rs.
use super::*;
use dbt_tableau_engine::secrets::{
    DBT_WEBHOOK_KEY, ExposeSecret, TABLEAU_API_TOKEN_SECRET, TABLEAU_SITE_NAME, TABLEAU_SITE_URL,
    TableauCredentials,
};

fn origin() -> Origin {
    Origin("the secret test/secret".into())
}

fn nothing(_: &str) -> Option<String> {
    None
}

const FULL: &str = r#"{"DBT_WEBHOOK_KEY":"hook-value","TABLEAU_SITE_URL":"https://t.example.com/",
    "TABLEAU_SITE_NAME":"","TABLEAU_API_TOKEN_NAME":"dbt","TABLEAU_API_TOKEN_SECRET":"pat-value"}"#;

#[test]
fn parses_all_five_keys() {
    let secrets = parse(&origin(), FULL, &nothing).unwrap();
    assert_eq!(secrets.webhook_key.expose_secret(), "hook-value");
    let access = secrets.tableau.unwrap();
    assert_eq!(access.server, "https://t.example.com");
    assert_eq!(access.site, "");
    let TableauCredentials::PersonalAccessToken { name, secret } = access.credentials else {
        panic!("expected a PAT")
    };
    assert_eq!(name, "dbt");
    assert_eq!(secret.expose_secret(), "pat-value");
}

#[test]
fn missing_keys_come_from_the_fallback() {
    let text =
        r#"{"DBT_WEBHOOK_KEY":"k","TABLEAU_API_TOKEN_NAME":"dbt","TABLEAU_API_TOKEN_SECRET":"s"}"#;
    let fallback = |key: &str| match key {
        TABLEAU_SITE_URL => Some("https://fallback.example.com".to_owned()),
        TABLEAU_SITE_NAME => Some("finance".to_owned()),
        DBT_WEBHOOK_KEY => Some("must not win".to_owned()),
        _ => None,
    };
    let secrets = parse(&origin(), text, &fallback).unwrap();
    assert_eq!(secrets.webhook_key.expose_secret(), "k");
    let access = secrets.tableau.unwrap();
    assert_eq!(access.server, "https://fallback.example.com");
    assert_eq!(access.site, "finance");
}

#[test]
fn not_json_never_echoes_the_content() {
    for text in [
        "hunter2-plain-text",
        r#""hunter2-json-string""#,
        r#"["hunter2-in-array"]"#,
        r#"{"DBT_WEBHOOK_KEY":"hunter2-trunc"#,
        "",
    ] {
        let err = parse(&origin(), text, &nothing).unwrap_err();
        assert_eq!(err, SecretsError::NotJsonObject { origin: origin() });
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("test/secret"), "{shown}");
    }
}

#[test]
fn a_value_that_is_not_a_string_is_named() {
    let text = r#"{"DBT_WEBHOOK_KEY":12345}"#;
    let err = parse(&origin(), text, &|_: &str| Some("x".into())).unwrap_err();
    assert_eq!(
        err,
        SecretsError::InvalidValue {
            origin: origin(),
            key: DBT_WEBHOOK_KEY,
            why: "must be a JSON string"
        }
    );
    assert!(!err.to_string().contains("12345"));

    let text = r#"{"DBT_WEBHOOK_KEY":"k","TABLEAU_SITE_URL":"https://t","TABLEAU_SITE_NAME":"",
        "TABLEAU_API_TOKEN_NAME":"n","TABLEAU_API_TOKEN_SECRET":{"nested":"pat"}}"#;
    let secrets = parse(&origin(), text, &nothing).unwrap();
    let err = secrets.tableau.unwrap_err();
    assert!(
        matches!(
            err,
            SecretsError::InvalidValue {
                key: TABLEAU_API_TOKEN_SECRET,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn connected_app_keys_parse_and_a_non_string_one_is_named() {
    let text = r#"{"DBT_WEBHOOK_KEY":"k","TABLEAU_SITE_URL":"https://t","TABLEAU_SITE_NAME":"",
        "TABLEAU_CONNECTED_APP_CLIENT_ID":"cid","TABLEAU_CONNECTED_APP_SECRET_ID":"sid",
        "TABLEAU_CONNECTED_APP_SECRET_VALUE":"app-value","TABLEAU_USERNAME":"bot"}"#;
    let access = parse(&origin(), text, &nothing).unwrap().tableau.unwrap();
    let TableauCredentials::ConnectedApp { secret_value, .. } = &access.credentials else {
        panic!("expected a connected app")
    };
    assert_eq!(secret_value.expose_secret(), "app-value");

    let text = text.replace(r#""bot""#, "42");
    let err = parse(&origin(), &text, &nothing)
        .unwrap()
        .tableau
        .unwrap_err();
    assert_eq!(
        err,
        SecretsError::InvalidValue {
            origin: origin(),
            key: dbt_tableau_engine::secrets::TABLEAU_USERNAME,
            why: "must be a JSON string"
        }
    );
}

#[test]
fn ttl_setting() {
    assert_eq!(ttl_from(None).unwrap(), DEFAULT_TTL);
    assert_eq!(ttl_from(Some(" ")).unwrap(), DEFAULT_TTL);
    assert_eq!(ttl_from(Some("60")).unwrap(), Duration::from_secs(60));
    assert_eq!(ttl_from(Some("0")).unwrap(), Duration::ZERO);
    for bad in ["-1", "5m", "1.5"] {
        let err = ttl_from(Some(bad)).unwrap_err();
        assert!(err.to_string().contains(SECRET_TTL_VARIABLE), "{err}");
    }
}
