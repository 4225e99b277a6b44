//! Unit tests of the typed secrets: which keys make which credentials, and what
//! the errors say.
use super::*;
use std::collections::HashMap;

fn build(pairs: &[(&'static str, &str)]) -> Result<Secrets, SecretsError> {
    let map: HashMap<_, _> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    Secrets::from_lookup(&Origin("the test".into()), |k| map.get(k).cloned())
}

const ALL: [(&str, &str); 5] = [
    (DBT_WEBHOOK_KEY, "hook-key-value"),
    (TABLEAU_SITE_URL, "https://tableau.example.com/"),
    (TABLEAU_SITE_NAME, ""),
    (TABLEAU_API_TOKEN_NAME, "dbt"),
    (TABLEAU_API_TOKEN_SECRET, "pat-secret-value"),
];

#[test]
fn all_five_keys_give_tableau_access() {
    let secrets = build(&ALL).unwrap();
    let access = secrets.tableau.unwrap();
    assert_eq!(access.server, "https://tableau.example.com");
    assert_eq!(access.site, "");
}

#[test]
fn debug_never_prints_values() {
    let printed = format!("{:?}", build(&ALL).unwrap());
    assert!(
        !printed.contains("hook-key-value") && !printed.contains("pat-secret-value"),
        "{printed}"
    );
}

#[test]
fn webhook_key_alone_is_enough_for_a_dry_run() {
    let secrets = build(&ALL[..1]).unwrap();
    let err = secrets.tableau.unwrap_err();
    assert_eq!(
        err,
        SecretsError::MissingKey {
            origin: Origin("the test".into()),
            key: TABLEAU_SITE_URL
        }
    );
    assert!(
        err.to_string()
            .contains("TABLEAU_SITE_URL is missing from the test")
    );
}

#[test]
fn missing_webhook_key_is_an_error() {
    let err = build(&ALL[1..]).unwrap_err();
    assert!(
        err.to_string().starts_with("DBT_WEBHOOK_KEY is missing"),
        "{err}"
    );
}

#[test]
fn site_url_needs_a_scheme() {
    let mut pairs = ALL;
    pairs[1].1 = "tableau.example.com";
    let err = build(&pairs).unwrap().tableau.unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

const APP: [(&str, &str); 4] = [
    (TABLEAU_CONNECTED_APP_CLIENT_ID, "client-id-1"),
    (TABLEAU_CONNECTED_APP_SECRET_ID, "secret-id-1"),
    (TABLEAU_CONNECTED_APP_SECRET_VALUE, "app-secret-value"),
    (TABLEAU_USERNAME, "bot@example.com"),
];

fn with_app(
    pat: &[(&'static str, &'static str)],
    app: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut pairs = ALL[..3].to_vec();
    pairs.extend_from_slice(pat);
    pairs.extend_from_slice(app);
    pairs
}

#[test]
fn connected_app_keys_give_a_connected_app() {
    let secrets = build(&with_app(&[], &APP)).unwrap();
    let access = secrets.tableau.unwrap();
    let TableauCredentials::ConnectedApp {
        client_id,
        secret_id,
        secret_value,
        username,
    } = &access.credentials
    else {
        panic!("{access:?}")
    };
    assert_eq!(
        (client_id.as_str(), secret_id.as_str(), username.as_str()),
        ("client-id-1", "secret-id-1", "bot@example.com")
    );
    assert_eq!(secret_value.expose_secret(), "app-secret-value");
    let printed = format!("{access:?} {}", access.credentials.describe());
    assert!(!printed.contains("app-secret-value"), "{printed}");
    assert!(printed.contains("client-id-1"), "{printed}");
}

#[test]
fn both_sets_are_a_configuration_error() {
    let err = build(&with_app(&ALL[3..], &APP))
        .unwrap()
        .tableau
        .unwrap_err();
    assert_eq!(
        err,
        SecretsError::BothTableauCredentials {
            origin: Origin("the test".into())
        }
    );
    let text = err.to_string();
    for key in PAT_KEYS.iter().chain(&CONNECTED_APP_KEYS) {
        assert!(text.contains(key), "{text}");
    }
    assert!(text.contains("remove one"), "{text}");
}

#[test]
fn neither_set_names_both_options() {
    let err = build(&ALL[..3]).unwrap().tableau.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("connected app") && text.contains("personal access token"),
        "{text}"
    );
    assert!(
        text.contains("TABLEAU_API_TOKEN_NAME and TABLEAU_API_TOKEN_SECRET are missing"),
        "{text}"
    );
    assert!(text.contains("TABLEAU_USERNAME are missing"), "{text}");
}

#[test]
fn a_partial_set_names_its_missing_keys() {
    let err = build(&with_app(&[], &APP[..3]))
        .unwrap()
        .tableau
        .unwrap_err();
    assert_eq!(
        err,
        SecretsError::NoTableauCredentials {
            origin: Origin("the test".into()),
            pat_missing: PAT_KEYS.to_vec(),
            app_missing: vec![TABLEAU_USERNAME],
        }
    );
    assert!(
        err.to_string().contains("TABLEAU_USERNAME is missing"),
        "{err}"
    );

    let err = build(&with_app(&ALL[3..4], &[]))
        .unwrap()
        .tableau
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("TABLEAU_API_TOKEN_SECRET is missing"),
        "{err}"
    );
}

#[test]
fn a_complete_set_wins_over_a_partial_other_set() {
    let secrets = build(&with_app(&ALL[3..], &APP[3..])).unwrap();
    assert!(matches!(
        secrets.tableau.unwrap().credentials,
        TableauCredentials::PersonalAccessToken { .. }
    ));
}

#[test]
fn an_empty_connected_app_value_is_named() {
    let mut app = APP;
    app[3].1 = " ";
    let err = build(&with_app(&[], &app)).unwrap().tableau.unwrap_err();
    assert_eq!(err.to_string(), "TABLEAU_USERNAME in the test is empty");
}
