//! The AWS SDK's HTTP client on the process's one reqwest client
//! ([`dbt_tableau_engine::tls::http`]): the same TLS configuration, roots and connection
//! pool as Tableau's and dbt Cloud's, instead of a second hyper + rustls stack
//! that reads the system's certificates again. The requests the function makes
//! (Secrets Manager's GetSecretValue, Step Functions' StartExecution) are small
//! JSON documents: bodies are sent and read whole.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::time::Duration;

/// The SDK's configuration (region, credentials and their providers,
/// endpoints) on `http`: loaded once per container, given to every AWS client.
/// Makes no network call: credentials are resolved on the first request.
pub async fn sdk_config(http: SharedHttpClient) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// The SDK's HTTP client on a reqwest client of its own (one per runtime).
pub fn http_client() -> SharedHttpClient {
    on(dbt_tableau_engine::tls::http())
}

/// The SDK's HTTP client on `http`, which the caller shares with its other
/// clients (one pool); an `Err` is answered to every request.
pub fn on(http: Result<reqwest::Client, String>) -> SharedHttpClient {
    SharedHttpClient::new(ReqwestClient { http })
}

#[derive(Debug, Clone)]
struct ReqwestClient {
    http: Result<reqwest::Client, String>,
}

impl HttpClient for ReqwestClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // reqwest has no per-request connect timeout (the client's is 3 s): a
        // read timeout, with the connect timeout, bounds the whole exchange. The
        // SDK's attempt and operation timeouts, which our clients set, apply
        // on top and are the real bound.
        let limit = settings
            .read_timeout()
            .map(|read| read + settings.connect_timeout().unwrap_or_default());
        SharedHttpConnector::new(ReqwestConnector {
            http: self.http.clone(),
            limit,
        })
    }
}

#[derive(Debug, Clone)]
struct ReqwestConnector {
    http: Result<reqwest::Client, String>,
    limit: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (http, limit) = (self.http.clone(), self.limit);
        HttpConnectorFuture::new(async move {
            let http = http.map_err(|e| ConnectorError::other(e.into(), None))?;
            let method = reqwest::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let body = request.body().bytes().ok_or_else(|| {
                ConnectorError::other("a streaming request body is not supported".into(), None)
            })?;
            let mut call = http.request(method, request.uri()).body(body.to_vec());
            for (name, value) in request.headers().iter() {
                call = call.header(name, value);
            }
            if let Some(limit) = limit {
                call = call.timeout(limit);
            }
            let response = call.send().await.map_err(connector_error)?;
            let status = StatusCode::try_from(response.status().as_u16())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = response.headers().clone();
            let bytes = response.bytes().await.map_err(connector_error)?;
            let mut answer = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in &headers {
                // A header that is not text is of no use to the SDK's parsers.
                if let Ok(value) = value.to_str() {
                    answer
                        .headers_mut()
                        .append(name.as_str().to_owned(), value.to_owned());
                }
            }
            Ok(answer)
        })
    }
}

/// Timeouts and I/O failures are transient to the SDK (retried); the rest not.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}
