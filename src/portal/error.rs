//! Portal errors: what went wrong, on which method, whether to retry, and what the sysadmin
//! should do. Nothing here ever holds the webhook URL or its secret.

use thiserror::Error;

/// What a caller should make of an error (doc §1.4: classified by the `error` code, because
/// the HTTP statuses conflict between the docs and the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The webhook is unknown, deleted, its secret wrong, or HTTPS is required.
    Auth,
    /// The webhook lacks a scope.
    Scope,
    /// The method does not exist or is not callable through a webhook.
    MethodNotFound,
    /// The portal asked us to slow down.
    RateLimited,
    /// The entity (or the comment's owner) does not exist.
    NotFound,
    /// The portal refused the call's content; repeating it will not help.
    Business,
    /// A passing failure: network, 5xx, a cut or garbled answer.
    Transient,
    /// Our own settings are unusable (bad URL, unreadable CA file).
    Config,
    /// The answer was well-formed but not of the shape we expect.
    Protocol,
}

/// An error of a portal call. `method` is the portal method name (never the URL).
#[derive(Debug, Clone, Error)]
pub enum BitrixError {
    /// The portal answered with an error envelope (`error`, `error_description`).
    #[error("Bitrix24 method {method} failed with {}: {description} (HTTP {http_status})", code_label(.code))]
    Api {
        /// Portal method.
        method: String,
        /// The `error` code (may be empty: CRM business errors).
        code: String,
        /// The `error_description` text.
        description: String,
        /// HTTP status of the answer (200 for a sub-call of a batch).
        http_status: u16,
    },
    /// The request did not complete: connect error, timeout, reset, cut body, 5xx without an
    /// error envelope.
    #[error("Bitrix24 method {method}: transport error: {detail}")]
    Transport {
        /// Portal method.
        method: String,
        /// What happened (never contains the URL).
        detail: String,
    },
    /// The answer arrived but could not be understood.
    #[error("Bitrix24 method {method}: unexpected answer: {detail}")]
    Decode {
        /// Portal method.
        method: String,
        /// What did not fit.
        detail: String,
        /// True when the body itself was garbled (worth retrying), false when a well-formed
        /// result did not have the expected shape.
        garbled: bool,
    },
    /// A setting is unusable.
    #[error("[bitrix24] {key}: {detail}")]
    Config {
        /// The configuration key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
}

fn code_label(code: &str) -> String {
    if code.is_empty() {
        "an empty error code".to_string()
    } else {
        format!("error {code}")
    }
}

impl BitrixError {
    /// The kind of the error, by its remote code first (doc §1.4).
    pub fn kind(&self) -> ErrorKind {
        match self {
            BitrixError::Api {
                code,
                description,
                http_status,
                ..
            } => classify(code, description, *http_status),
            // An untrusted certificate will not fix itself: a configuration problem.
            BitrixError::Transport { detail, .. } if is_certificate_error(detail) => {
                ErrorKind::Config
            }
            BitrixError::Transport { .. } => ErrorKind::Transient,
            BitrixError::Decode { garbled: true, .. } => ErrorKind::Transient,
            BitrixError::Decode { garbled: false, .. } => ErrorKind::Protocol,
            BitrixError::Config { .. } => ErrorKind::Config,
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::RateLimited | ErrorKind::Transient)
    }

    /// The portal method the error belongs to (empty for configuration errors).
    pub fn method(&self) -> &str {
        match self {
            BitrixError::Api { method, .. }
            | BitrixError::Transport { method, .. }
            | BitrixError::Decode { method, .. } => method,
            BitrixError::Config { .. } => "",
        }
    }

    /// The remote `error` code, when the portal gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            BitrixError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A short hint for the sysadmin.
    pub fn hint(&self) -> &'static str {
        if let BitrixError::Transport { detail, .. } = self {
            if is_certificate_error(detail) {
                return "the portal's TLS certificate is not trusted: set [bitrix24] ca_file to \
                        its CA (PEM), or fix the certificate's host name";
            }
        }
        match self.kind() {
            ErrorKind::Auth => {
                "check [bitrix24] webhook_url: the inbound webhook was deleted or its secret is \
                 wrong (or the portal requires HTTPS)"
            }
            ErrorKind::Scope => "edit the inbound webhook and grant the crm, user and im scopes",
            ErrorKind::MethodNotFound => {
                "the portal does not offer this method to an inbound webhook: update the portal's \
                 modules or check [bitrix24] webhook_url's path"
            }
            ErrorKind::RateLimited => {
                "the portal is throttling us: lower [bitrix24] requests_per_second"
            }
            ErrorKind::NotFound => {
                "the CRM entity is gone (deleted or merged): the request will be routed again"
            }
            ErrorKind::Business => {
                "the portal refused the data: check the webhook user's CRM rights and the \
                 configured ids"
            }
            ErrorKind::Transient => "the portal or the network failed: the call will be retried",
            ErrorKind::Config => "fix the [bitrix24] setting named above",
            ErrorKind::Protocol => {
                "the portal answered in an unexpected shape: check the portal version"
            }
        }
    }

    /// The same error attributed to another method (a batch-wide failure reaches every caller
    /// under its own method name).
    pub(crate) fn for_method(&self, name: &str) -> Self {
        let mut copy = self.clone();
        match &mut copy {
            BitrixError::Api { method, .. }
            | BitrixError::Transport { method, .. }
            | BitrixError::Decode { method, .. } => *method = name.to_string(),
            BitrixError::Config { .. } => {}
        }
        copy
    }
}

/// Codes the portal uses for "slow down"; the call was not executed.
pub(crate) fn is_rate_code(code: &str) -> bool {
    matches!(
        code,
        "QUERY_LIMIT_EXCEEDED" | "OPERATION_TIME_LIMIT" | "OVERLOAD_LIMIT"
    )
}

fn classify(code: &str, description: &str, http_status: u16) -> ErrorKind {
    match code {
        "NO_AUTH_FOUND"
        | "INVALID_CREDENTIALS"
        | "INVALID_REQUEST"
        | "PORTAL_DELETED"
        | "expired_token"
        | "invalid_token" => ErrorKind::Auth,
        "insufficient_scope" => ErrorKind::Scope,
        "ERROR_METHOD_NOT_FOUND" | "WRONG_AUTH_TYPE" => ErrorKind::MethodNotFound,
        c if is_rate_code(c) => ErrorKind::RateLimited,
        "NOT_FOUND" | "OWNER_NOT_FOUND" => ErrorKind::NotFound,
        "" if description.trim().eq_ignore_ascii_case("not found") => ErrorKind::NotFound,
        _ if http_status >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Business,
    }
}

/// True when a transport failure is rustls refusing the portal's certificate.
fn is_certificate_error(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("certificate") || d.contains("unknownissuer") || d.contains("notvalidforname")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, description: &str, status: u16) -> BitrixError {
        BitrixError::Api {
            method: "crm.lead.get".into(),
            code: code.into(),
            description: description.into(),
            http_status: status,
        }
    }

    #[test]
    fn classified_by_code_not_status() {
        assert_eq!(api("INVALID_CREDENTIALS", "", 403).kind(), ErrorKind::Auth);
        assert_eq!(api("INVALID_CREDENTIALS", "", 401).kind(), ErrorKind::Auth);
        assert_eq!(api("insufficient_scope", "", 401).kind(), ErrorKind::Scope);
        assert_eq!(
            api("OVERLOAD_LIMIT", "", 401).kind(),
            ErrorKind::RateLimited
        );
        assert_eq!(
            api("ERROR_METHOD_NOT_FOUND", "", 404).kind(),
            ErrorKind::MethodNotFound
        );
        assert_eq!(api("", "Not found", 400).kind(), ErrorKind::NotFound);
        assert_eq!(api("OWNER_NOT_FOUND", "", 400).kind(), ErrorKind::NotFound);
        assert_eq!(api("", "Access denied.", 400).kind(), ErrorKind::Business);
        assert_eq!(api("ERROR_CORE", "SQL", 500).kind(), ErrorKind::Transient);
        assert!(api("QUERY_LIMIT_EXCEEDED", "", 503).is_transient());
        assert!(!api("NO_AUTH_FOUND", "", 401).is_transient());
    }

    #[test]
    fn display_names_method_and_code() {
        let text = api("INVALID_ARG_VALUE", "Empty comment", 400).to_string();
        assert!(text.contains("crm.lead.get") && text.contains("INVALID_ARG_VALUE"));
        assert!(api("", "Not found", 400)
            .to_string()
            .contains("empty error code"));
        assert!(api("NO_AUTH_FOUND", "", 401).hint().contains("webhook_url"));
    }
}
