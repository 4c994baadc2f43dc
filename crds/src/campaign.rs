//! `Campaign`: a marketing campaign that changes how many points a booking earns.
//!
//! Namespaced: marketing teams commit Campaigns to a Git repository that GitOps applies into
//! their namespace. The operator validates a Campaign ([`CampaignSpec::validate`]), writes its
//! spec as JSON into the database, and requeues at [`CampaignSpec::next_transition_after`].
//! The service deserializes the same [`CampaignSpec`] and, at earn time, applies the campaigns
//! for which [`CampaignSpec::applies_to`] holds.

mod eligibility;
mod overlap;
mod schedule;
mod validation;

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    ActivityKind, Channel, Condition, Money, PartnerCode, ProductType, RegionName, ResidencyGroup,
    Tier, Weekday,
};

pub use eligibility::{ActivityContext, EarnContext};
pub use overlap::{ExclusiveConflict, exclusive_conflict};
pub use schedule::TimeOfDay;

/// Condition types a `Campaign` reports.
pub mod conditions {
    /// The spec passed [`super::CampaignSpec::validate`].
    pub const VALID: &str = "Valid";
    /// The spec is written to the database at `status.dbVersion`.
    pub const PUBLISHED: &str = "Published";
    /// Valid and published: the service evaluates this generation of the campaign.
    pub const READY: &str = "Ready";
}

/// The largest multiplier a campaign may apply, in thousandths (10x).
pub const MAX_MULTIPLIER_MILLI: i32 = 10_000;
/// The smallest multiplier a campaign may apply, in thousandths (1x: no change).
pub const MIN_MULTIPLIER_MILLI: i32 = 1_000;
/// The largest flat bonus one campaign may grant per booking.
pub const MAX_BONUS_POINTS: i64 = 1_000_000;
/// The longest lot expiry a campaign may set, in days (ten years).
pub const MAX_LOT_EXPIRY_DAYS: i32 = 3_650;

/// A marketing campaign: when it runs, who is eligible, what it grants and how it combines
/// with other campaigns.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "loyalty.travel.example",
    version = "v1alpha1",
    kind = "Campaign",
    namespaced,
    shortname = "lcamp",
    category = "loyalty",
    status = "CampaignStatus",
    derive = "PartialEq",
    doc = "A marketing campaign: when it runs, who is eligible, what it grants and how it stacks with other campaigns.",
    printcolumn = r#"{"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Start", "type": "date", "jsonPath": ".spec.window.start"}"#,
    printcolumn = r#"{"name": "End", "type": "date", "jsonPath": ".spec.window.end"}"#,
    printcolumn = r#"{"name": "Next", "type": "date", "jsonPath": ".status.nextTransition", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CampaignSpec {
    /// The campaign's name as members see it, e.g. "Double points weekends".
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// What the campaign is for, for the people who maintain it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 2000))]
    pub description: String,
    /// When the campaign runs.
    pub window: CampaignWindow,
    /// Which bookings qualify. Every list that is empty or absent matches anything.
    #[serde(default)]
    pub eligibility: Eligibility,
    /// What a qualifying booking earns on top of its base points (for an activity campaign:
    /// on top of the activity's points).
    pub effect: Effect,
    /// How the campaign combines with other active campaigns.
    #[serde(default)]
    pub stacking: Stacking,
    /// Limits on what the campaign grants.
    #[serde(default)]
    pub caps: Caps,
    /// Days until the points this campaign grants expire, overriding the programme's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub lot_expiry_days: Option<i32>,
    /// Whether the campaign runs at all. `false` pauses it without deleting it.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// The campaign's time window and optional weekly recurrence.
///
/// `start` is inclusive and `end` exclusive: a campaign from `2026-07-01T00:00:00+02:00` to
/// `2026-08-01T00:00:00+02:00` covers all of July in Paris and not a second of August. Both
/// are absolute instants (write the offset); `timezone` only gives the recurrence its local
/// days and times.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
// `format: date-time` strings are CEL timestamps on the API server, so they compare as
// instants, whatever offsets they were written with.
#[x_kube(validation = ("self.end > self.start", "window.end must be after window.start"))]
pub struct CampaignWindow {
    /// The first instant of the campaign (inclusive), RFC 3339 with an offset.
    pub start: DateTime<Utc>,
    /// The first instant after the campaign (exclusive), RFC 3339 with an offset.
    pub end: DateTime<Utc>,
    /// The IANA timezone in which `recurrence` days and times are read, e.g. `Europe/Paris`.
    #[serde(default = "default_timezone")]
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z][A-Za-z0-9_+/-]*$"))]
    pub timezone: String,
    /// Restricts the window to some days of the week and hours of the day, in `timezone`.
    /// Absent: the whole window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
}

fn default_timezone() -> String {
    "UTC".into()
}

/// Weekly recurrence inside the window, in local time.
///
/// With no times, the campaign covers whole local days: `daysOfWeek: [Saturday, Sunday]` runs
/// from Saturday 00:00 to Monday 00:00 local time, whatever the UTC offset does in between.
/// An interval runs from `startTime` (inclusive) to `endTime` (exclusive) on each listed day;
/// local times skipped by a daylight-saving change simply do not happen.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "!has(self.startTime) || !has(self.endTime) || self.endTime > self.startTime",
    "recurrence.endTime must be after recurrence.startTime (an interval cannot cross midnight)"
))]
pub struct Recurrence {
    /// The days on which the campaign runs. Empty: every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 7), extend("x-kubernetes-list-type" = "set"))]
    pub days_of_week: Vec<Weekday>,
    /// Local time of day the campaign starts each listed day, `HH:MM`. Absent: `00:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<TimeOfDay>,
    /// Local time of day the campaign stops each listed day, `HH:MM` or `24:00`.
    /// Absent: `24:00` (midnight at the end of the day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<TimeOfDay>,
}

/// Which earns qualify. Each non-empty list must contain the earn's value; an empty list
/// matches anything, except `activities`: empty, the campaign is for bookings; listed, it is
/// for those activities and no booking, and the booking-only criteria (`productTypes`,
/// `partners`, `channels`, `minSpend`) must then be absent.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "!has(self.activities) || size(self.activities) == 0 || ((!has(self.productTypes) || size(self.productTypes) == 0) && (!has(self.partners) || size(self.partners) == 0) && (!has(self.channels) || size(self.channels) == 0) && !has(self.minSpend))",
    "a campaign for activities cannot require productTypes, partners, channels or minSpend: they describe bookings"
))]
pub struct Eligibility {
    /// Activities whose points the campaign adds to: referral, review, streak. Empty or
    /// absent: the campaign is for bookings and no activity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub activities: Vec<ActivityKind>,
    /// Product types that qualify: hotel, flight, car, experience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub product_types: Vec<ProductType>,
    /// Member tiers that qualify: basic, silver, gold, genius.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub tiers: Vec<Tier>,
    /// Residency groups whose members qualify, e.g. `eu`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub residency_groups: Vec<ResidencyGroup>,
    /// Home regions whose members qualify, e.g. `eu-west-1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"))]
    pub regions: Vec<RegionName>,
    /// Partner codes whose bookings qualify. Non-empty: only bookings through these partners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), extend("x-kubernetes-list-type" = "set"))]
    pub partners: Vec<PartnerCode>,
    /// Channels that qualify: web, app, call-center, partner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub channels: Vec<Channel>,
    /// The smallest booking amount that qualifies. A booking in another currency does not
    /// qualify: there is no currency conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_spend: Option<Money>,
}

/// What a qualifying booking earns. At least one of the two is required.
///
/// The multiplier is an integer in thousandths so that no float ever touches points:
/// `multiplierMilli: 2000` doubles the booking's base points (2x), `1500` is 1.5x. The
/// service applies it and rounds in one place, as its ledger documentation describes. On an
/// activity it multiplies the activity's points as its own caps left them, and the bonus is
/// per activity earn.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "has(self.multiplierMilli) || (has(self.bonusPoints) && self.bonusPoints > 0)",
    "effect needs multiplierMilli or a positive bonusPoints"
))]
pub struct Effect {
    /// Multiplier of the base points in thousandths, 1000 (1x) to 10000 (10x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1000, max = 10000))]
    pub multiplier_milli: Option<i32>,
    /// Flat points added per qualifying booking, 0 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000))]
    pub bonus_points: Option<i64>,
}

/// How a campaign combines with the other campaigns active for the same booking.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stacking {
    /// `Exclusive`: if it applies, no other campaign does (the highest priority exclusive
    /// wins). `BestOf` (default): only the best-paying `BestOf` campaign applies. `Additive`:
    /// applies on top of the others.
    #[serde(default)]
    pub mode: StackingMode,
    /// Breaks ties; higher goes first. -1000 to 1000, default 0.
    #[serde(default)]
    #[schemars(range(min = -1000, max = 1000))]
    pub priority: i32,
}

/// See [`Stacking::mode`].
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StackingMode {
    /// Applies alone.
    Exclusive,
    /// The best of the `BestOf` campaigns applies.
    #[default]
    BestOf,
    /// Applies on top of the others.
    Additive,
}

/// Limits on what a campaign grants. Absent limits do not apply.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Caps {
    /// The most points one member can earn from this campaign per `perMemberWindow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub per_member_points: Option<i64>,
    /// The period `perMemberPoints` counts over: Campaign (default), Day, Week or Month, in
    /// the campaign's timezone.
    #[serde(default)]
    pub per_member_window: CapWindow,
    /// The most points the campaign grants across all members; it stops applying after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub budget_points: Option<i64>,
}

/// The period a per-member cap counts over.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CapWindow {
    /// The whole campaign.
    #[default]
    Campaign,
    /// A local calendar day.
    Day,
    /// A local ISO week (Monday to Sunday).
    Week,
    /// A local calendar month.
    Month,
}

/// Where a campaign is in its life.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignPhase {
    /// Valid and published; not active yet (or between two recurrences).
    Scheduled,
    /// Applying to bookings now.
    Active,
    /// Past its window.
    Ended,
    /// Failed validation; see `reason`. Not published.
    Invalid,
    /// `enabled: false`.
    Disabled,
}

/// What the operator observed and did for a campaign.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CampaignStatus {
    /// Where the campaign is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CampaignPhase>,
    /// Why the campaign is in its phase, e.g. the validation issues of an Invalid campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version of the campaign row the operator last wrote to the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_version: Option<i64>,
    /// When the campaign next becomes active or inactive; the operator requeues then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_transition: Option<DateTime<Utc>>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Valid, Published and Ready.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl CampaignSpec {
    /// Whether the campaign applies to a booking made at `at` in context `ctx`: it is active
    /// then and the booking is eligible.
    pub fn applies_to(&self, ctx: &EarnContext<'_>, at: DateTime<Utc>) -> bool {
        self.is_active_at(at) && self.eligibility.matches(ctx)
    }

    /// Whether the campaign adds to an activity earn at `at` in context `ctx`: it is active
    /// then and lists the activity.
    pub fn applies_to_activity(&self, ctx: &ActivityContext<'_>, at: DateTime<Utc>) -> bool {
        self.is_active_at(at) && self.eligibility.matches_activity(ctx)
    }
}
