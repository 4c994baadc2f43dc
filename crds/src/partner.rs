//! `Partner`: an airline, hotel chain or other partner that awards bonus points.
//!
//! Namespaced, next to the Secret holding its credentials. The operator checks that the
//! Secret resolves and publishes the partner's rules; the service calls the partner with the
//! retry policy declared here.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ValidationIssue;
pub use crate::common::SecretKeyRef;
use crate::common::{Condition, PartnerCode, ProductType};

/// The most attempts a retry policy may declare.
pub const MAX_ATTEMPTS: u32 = 20;
/// The most webhook subscriptions a Partner may declare.
pub const MAX_WEBHOOKS: usize = 8;

/// Condition types a `Partner` reports.
pub mod conditions {
    /// The credentials Secret and key exist.
    pub const CREDENTIALS_RESOLVED: &str = "CredentialsResolved";
    /// The partner is valid, resolved and published.
    pub const READY: &str = "Ready";
}

/// A partner awarding bonus points on bookings made through it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "loyalty.travel.example",
    version = "v1alpha1",
    kind = "Partner",
    namespaced,
    shortname = "lptn",
    category = "loyalty",
    status = "PartnerStatus",
    derive = "PartialEq",
    doc = "A partner (airline, hotel chain) awarding bonus points on bookings made through it.",
    printcolumn = r#"{"name": "Code", "type": "string", "jsonPath": ".spec.partnerCode"}"#,
    printcolumn = r#"{"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Credentials", "type": "boolean", "jsonPath": ".status.credentialsResolved", "priority": 1}"#,
    printcolumn = r#"{"name": "Pending", "type": "integer", "jsonPath": ".status.deliveries.pending"}"#,
    printcolumn = r#"{"name": "Dead", "type": "integer", "jsonPath": ".status.deliveries.deadLetters"}"#,
    printcolumn = r#"{"name": "Last-Delivery", "type": "date", "jsonPath": ".status.deliveries.lastDeliveredAt", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PartnerSpec {
    /// The partner's name as members see it, e.g. "Air France".
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// The partner's code in bookings and ledger entries, e.g. `AF`: 2 to 16 uppercase letters
    /// or digits. Immutable, since ledger entries refer to it.
    #[x_kube(validation = ("self == oldSelf", "partnerCode is immutable"))]
    pub partner_code: PartnerCode,
    /// The partner's API base URL. https only.
    #[schemars(length(min = 9, max = 2048))]
    // Only standard CEL here (no Kubernetes URL library), so that the e2e stand-in API server
    // evaluates the rule exactly like a real one; `validate` checks the host as well.
    #[x_kube(validation = (
        "self.startsWith('https://') && !self.contains(' ')",
        "endpoint must be an absolute https:// URL"
    ))]
    pub endpoint: String,
    /// The Secret key (in the Partner's namespace) holding the API credentials.
    pub credentials_secret_ref: SecretKeyRef,
    /// How calls to the partner are retried.
    #[serde(default)]
    pub retry_policy: RetryPolicy,
    /// Bonus points the partner awards, by product type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub bonus_rules: Vec<BonusRule>,
    /// Whether bookings through the partner earn its bonuses. `false` pauses it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where the partner wants the platform's events delivered (Standard Webhooks, retried
    /// under `retryPolicy`). Names are unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub webhooks: Vec<WebhookSubscription>,
}

/// One webhook subscription: the events of some types, POSTed to `url`, signed with the
/// secret in `signingSecretRef`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscription {
    /// The subscription's name within the Partner: a DNS label, e.g. `bookings`.
    #[schemars(length(min = 1, max = 40), pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub name: String,
    /// The receiver's URL. https only.
    #[schemars(length(min = 9, max = 2048))]
    #[x_kube(validation = (
        "self.startsWith('https://') && !self.contains(' ') && size(self) > 8",
        "url must be an absolute https:// URL"
    ))]
    pub url: String,
    /// The event types delivered (names without the `travel.loyalty.` prefix). Empty: every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub event_types: Vec<SubscribedEvent>,
    /// The Secret key (in the Partner's namespace) holding the `whsec_…` signing secret, or two
    /// separated by whitespace during a rotation (each message is then signed with both).
    pub signing_secret_ref: SecretKeyRef,
}

/// An event type a subscription can name (docs/events.md has the catalogue).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscribedEvent {
    #[serde(rename = "points.earned")]
    PointsEarned,
    #[serde(rename = "partner.bonus.awarded")]
    PartnerBonusAwarded,
    #[serde(rename = "points.redeemed")]
    PointsRedeemed,
    #[serde(rename = "points.reversed")]
    PointsReversed,
    #[serde(rename = "points.transferred")]
    PointsTransferred,
    #[serde(rename = "points.expired")]
    PointsExpired,
    #[serde(rename = "points.expiring")]
    PointsExpiring,
    #[serde(rename = "points.adjusted")]
    PointsAdjusted,
    #[serde(rename = "hold.created")]
    HoldCreated,
    #[serde(rename = "hold.captured")]
    HoldCaptured,
    #[serde(rename = "hold.voided")]
    HoldVoided,
    #[serde(rename = "hold.expired")]
    HoldExpired,
    #[serde(rename = "tier.changed")]
    TierChanged,
    #[serde(rename = "member.erased")]
    MemberErased,
    #[serde(rename = "review.opened")]
    ReviewOpened,
    #[serde(rename = "review.approved")]
    ReviewApproved,
    #[serde(rename = "review.rejected")]
    ReviewRejected,
    #[serde(rename = "review.expired")]
    ReviewExpired,
}

impl SubscribedEvent {
    /// Every type, in catalogue order.
    pub const ALL: [SubscribedEvent; 18] = [
        SubscribedEvent::PointsEarned,
        SubscribedEvent::PartnerBonusAwarded,
        SubscribedEvent::PointsRedeemed,
        SubscribedEvent::PointsReversed,
        SubscribedEvent::PointsTransferred,
        SubscribedEvent::PointsExpired,
        SubscribedEvent::PointsExpiring,
        SubscribedEvent::PointsAdjusted,
        SubscribedEvent::HoldCreated,
        SubscribedEvent::HoldCaptured,
        SubscribedEvent::HoldVoided,
        SubscribedEvent::HoldExpired,
        SubscribedEvent::TierChanged,
        SubscribedEvent::MemberErased,
        SubscribedEvent::ReviewOpened,
        SubscribedEvent::ReviewApproved,
        SubscribedEvent::ReviewRejected,
        SubscribedEvent::ReviewExpired,
    ];

    /// The name, as the spec and the event's type (after `travel.loyalty.`) spell it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .expect("a unit variant serializes as its name")
    }
}

fn default_true() -> bool {
    true
}

/// Exponential backoff for calls to the partner: attempt `n` (from 1) waits
/// `min(maxBackoffMs, initialBackoffMs * (multiplierMilli / 1000)^(n-1))`, then jitter.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "self.maxBackoffMs >= self.initialBackoffMs",
    "maxBackoffMs must be at least initialBackoffMs"
))]
pub struct RetryPolicy {
    /// Attempts in total, the first included: 1 to 20.
    #[serde(default = "default_max_attempts")]
    #[schemars(range(min = 1, max = 20))]
    pub max_attempts: i32,
    /// The wait before the second attempt, in milliseconds.
    #[serde(default = "default_initial_backoff_ms")]
    #[schemars(range(min = 1, max = 60000))]
    pub initial_backoff_ms: i64,
    /// The longest wait between attempts, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    #[schemars(range(min = 1, max = 600000))]
    pub max_backoff_ms: i64,
    /// Growth of the wait per attempt in thousandths: 2000 doubles it. 1000 to 10000.
    #[serde(default = "default_backoff_multiplier_milli")]
    #[schemars(range(min = 1000, max = 10000))]
    pub multiplier_milli: i32,
    /// How the wait is randomised: None, Full (0 to the wait) or Equal (half plus 0 to half).
    #[serde(default)]
    pub jitter: Jitter,
    /// How long one attempt may take, in milliseconds.
    #[serde(default = "default_per_attempt_timeout_ms")]
    #[schemars(range(min = 1, max = 120000))]
    pub per_attempt_timeout_ms: i64,
}

fn default_max_attempts() -> i32 {
    5
}
fn default_initial_backoff_ms() -> i64 {
    200
}
fn default_max_backoff_ms() -> i64 {
    10_000
}
fn default_backoff_multiplier_milli() -> i32 {
    2_000
}
fn default_per_attempt_timeout_ms() -> i64 {
    2_000
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            multiplier_milli: default_backoff_multiplier_milli(),
            jitter: Jitter::default(),
            per_attempt_timeout_ms: default_per_attempt_timeout_ms(),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (the first attempt is 1 and waits nothing), before
    /// jitter, in milliseconds. Integer arithmetic, saturating at `maxBackoffMs`.
    /// Attempts past [`MAX_ATTEMPTS`] wait as long as attempt [`MAX_ATTEMPTS`] would.
    pub fn backoff_before_ms(&self, attempt: u32) -> i64 {
        if attempt <= 1 {
            return 0;
        }
        let mut wait = self.initial_backoff_ms;
        for _ in 2..attempt.min(MAX_ATTEMPTS) {
            wait = wait
                .saturating_mul(i64::from(self.multiplier_milli))
                .checked_div(1000)
                .unwrap_or(i64::MAX);
            if wait >= self.max_backoff_ms {
                break;
            }
        }
        wait.min(self.max_backoff_ms)
    }
}

/// How a retry wait is randomised.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// No randomisation.
    None,
    /// Uniform between 0 and the wait (AWS's "full jitter").
    #[default]
    Full,
    /// Half the wait plus uniform between 0 and half.
    Equal,
}

/// Bonus points for bookings of some product types through the partner. Exactly one of
/// `pointsPerBooking` and `multiplierMilli`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "has(self.pointsPerBooking) != has(self.multiplierMilli)",
    "a bonus rule needs exactly one of pointsPerBooking and multiplierMilli"
))]
pub struct BonusRule {
    /// The product types the rule applies to. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub product_types: Vec<ProductType>,
    /// Flat points per qualifying booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub points_per_booking: Option<i64>,
    /// Multiplier of the booking's base points in thousandths: 1500 = 1.5x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1000, max = 10000))]
    pub multiplier_milli: Option<i32>,
}

/// Whether the partner can be used.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerPhase {
    /// Valid, credentials resolved, published.
    Ready,
    /// Not usable; see the conditions.
    Error,
}

/// What the operator observed for a partner.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerStatus {
    /// Ready or Error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PartnerPhase>,
    /// Whether the credentials Secret and key exist. The value itself never appears in status.
    #[serde(default)]
    pub credentials_resolved: bool,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The delivery of events to the partner's webhooks, as of the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<DeliveryStatus>,
    /// CredentialsResolved and Ready.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Counts of the partner's deliveries, read from the database by the operator.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// Events waiting for delivery or being retried.
    pub pending: i64,
    /// Events whose last attempt failed (or whose receiver answered 410): replay them.
    pub dead_letters: i64,
    /// When the last event was delivered (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
}

impl PartnerSpec {
    /// Every problem the schema and CEL would reject, for specs that did not pass through
    /// the API server.
    pub fn validate(&self) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = Vec::new();
        if !crate::common::is_https_url(&self.endpoint) {
            issues.push(ValidationIssue::new(
                "spec.endpoint",
                "endpoint must be an absolute https:// URL",
            ));
        }
        let retry = &self.retry_policy;
        if !(1..=20).contains(&retry.max_attempts) {
            issues.push(ValidationIssue::new(
                "spec.retryPolicy.maxAttempts",
                "maxAttempts must be 1 to 20",
            ));
        }
        if retry.initial_backoff_ms < 1 || retry.max_backoff_ms < retry.initial_backoff_ms {
            issues.push(ValidationIssue::new(
                "spec.retryPolicy.maxBackoffMs",
                "maxBackoffMs must be at least initialBackoffMs, which must be positive",
            ));
        }
        if retry.multiplier_milli < 1000 {
            issues.push(ValidationIssue::new(
                "spec.retryPolicy.multiplierMilli",
                "multiplierMilli must be at least 1000 (1x)",
            ));
        }
        issues.extend(webhook_issues(&self.webhooks));
        for (i, rule) in self.bonus_rules.iter().enumerate() {
            if rule.points_per_booking.is_some() == rule.multiplier_milli.is_some() {
                issues.push(ValidationIssue::new(
                    format!("spec.bonusRules[{i}]"),
                    "a bonus rule needs exactly one of pointsPerBooking and multiplierMilli",
                ));
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

/// What the schema and CEL would reject in a Partner's webhooks.
fn webhook_issues(webhooks: &[WebhookSubscription]) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    if webhooks.len() > MAX_WEBHOOKS {
        issues.push(ValidationIssue::new(
            "spec.webhooks",
            format!("at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    for (i, hook) in webhooks.iter().enumerate() {
        if !crate::common::is_https_url(&hook.url) {
            issues.push(ValidationIssue::new(
                format!("spec.webhooks[{i}].url"),
                "url must be an absolute https:// URL",
            ));
        }
        if !is_dns_label(&hook.name) {
            issues.push(ValidationIssue::new(
                format!("spec.webhooks[{i}].name"),
                "name must be a DNS label of at most 40 characters",
            ));
        }
        if webhooks[..i].iter().any(|h| h.name == hook.name) {
            issues.push(ValidationIssue::new(
                format!("spec.webhooks[{i}].name"),
                "webhook names must be unique",
            ));
        }
    }
    issues
}

fn is_dns_label(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    (1..=40).contains(&name.len())
        && name.chars().all(ok_char)
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_the_multiplier_and_stops_at_the_maximum() {
        let policy = RetryPolicy::default();
        let waits: Vec<i64> = (1..=9).map(|n| policy.backoff_before_ms(n)).collect();
        assert_eq!(waits, [0, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }

    #[test]
    fn backoff_never_overflows_on_absurd_attempt_counts() {
        let policy = RetryPolicy {
            multiplier_milli: 10_000,
            max_backoff_ms: i64::MAX,
            ..RetryPolicy::default()
        };
        assert!(policy.backoff_before_ms(u32::MAX) > 0);
    }

    #[test]
    fn an_http_endpoint_and_an_ambiguous_bonus_rule_are_rejected() {
        let spec: PartnerSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Air France",
            "partnerCode": "AF",
            "endpoint": "http://api.airfrance.example",
            "credentialsSecretRef": { "name": "af", "key": "token" },
            "bonusRules": [{ "pointsPerBooking": 100, "multiplierMilli": 1500 }]
        }))
        .unwrap();
        let fields = issue_fields(&spec);
        assert_eq!(fields, ["spec.endpoint", "spec.bonusRules[0]"]);
    }

    fn issue_fields(spec: &PartnerSpec) -> Vec<String> {
        let issues = spec.validate().unwrap_err();
        issues.into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn a_plain_http_webhook_a_bad_name_and_a_duplicate_name_are_rejected() {
        let hook = |name: &str, url: &str| {
            serde_json::json!({"name": name, "url": url,
                "signingSecretRef": {"name": "af-hooks", "key": "bookings"}})
        };
        let spec: PartnerSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Air France",
            "partnerCode": "AF",
            "endpoint": "https://api.airfrance.example",
            "credentialsSecretRef": { "name": "af", "key": "token" },
            "webhooks": [
                hook("bookings", "https://hooks.airfrance.example/loyalty"),
                hook("plain", "http://hooks.airfrance.example/loyalty"),
                hook("Bad_Name", "https://hooks.airfrance.example/x"),
                hook("bookings", "https://hooks.airfrance.example/y"),
            ]
        }))
        .unwrap();
        let fields = issue_fields(&spec);
        assert_eq!(
            fields,
            [
                "spec.webhooks[1].url",
                "spec.webhooks[2].name",
                "spec.webhooks[3].name"
            ]
        );
    }

    #[test]
    fn subscribed_event_names_are_the_catalogue_names() {
        assert_eq!(SubscribedEvent::PointsEarned.name(), "points.earned");
        let parsed: SubscribedEvent = serde_json::from_value("tier.changed".into()).unwrap();
        assert_eq!(parsed, SubscribedEvent::TierChanged);
    }
}
