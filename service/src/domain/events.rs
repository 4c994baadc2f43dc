//! The events of the outbox (docs/events.md): CloudEvents 1.0 in JSON structured mode, one
//! per ledger movement and per tier change. Attributes carry no personal data: `subject` is
//! the member's opaque id, `source` the region that wrote it; `data` has the movement's
//! points, references and resulting balance, never the member's external id or country, and
//! never the entry's free-form details (they name the acting token's subject).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// The prefix of every event type.
pub const TYPE_PREFIX: &str = "travel.loyalty.";

/// What happened, as the event's `type` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PointsEarned,
    PartnerBonusAwarded,
    PointsRedeemed,
    PointsReversed,
    PointsTransferred,
    PointsExpired,
    PointsExpiring,
    PointsAdjusted,
    HoldCreated,
    HoldCaptured,
    HoldVoided,
    HoldExpired,
    TierChanged,
    MemberErased,
    ReviewOpened,
    ReviewApproved,
    ReviewRejected,
    ReviewExpired,
}

impl EventType {
    pub const ALL: [EventType; 18] = [
        EventType::PointsEarned,
        EventType::PartnerBonusAwarded,
        EventType::PointsRedeemed,
        EventType::PointsReversed,
        EventType::PointsTransferred,
        EventType::PointsExpired,
        EventType::PointsExpiring,
        EventType::PointsAdjusted,
        EventType::HoldCreated,
        EventType::HoldCaptured,
        EventType::HoldVoided,
        EventType::HoldExpired,
        EventType::TierChanged,
        EventType::MemberErased,
        EventType::ReviewOpened,
        EventType::ReviewApproved,
        EventType::ReviewRejected,
        EventType::ReviewExpired,
    ];

    /// The type without [`TYPE_PREFIX`], e.g. `points.earned`.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::PointsEarned => "points.earned",
            EventType::PartnerBonusAwarded => "partner.bonus.awarded",
            EventType::PointsRedeemed => "points.redeemed",
            EventType::PointsReversed => "points.reversed",
            EventType::PointsTransferred => "points.transferred",
            EventType::PointsExpired => "points.expired",
            EventType::PointsExpiring => "points.expiring",
            EventType::PointsAdjusted => "points.adjusted",
            EventType::HoldCreated => "hold.created",
            EventType::HoldCaptured => "hold.captured",
            EventType::HoldVoided => "hold.voided",
            EventType::HoldExpired => "hold.expired",
            EventType::TierChanged => "tier.changed",
            EventType::MemberErased => "member.erased",
            EventType::ReviewOpened => "review.opened",
            EventType::ReviewApproved => "review.approved",
            EventType::ReviewRejected => "review.rejected",
            EventType::ReviewExpired => "review.expired",
        }
    }

    /// The CloudEvents `type`, e.g. `travel.loyalty.points.earned`.
    pub fn type_name(self) -> String {
        format!("{TYPE_PREFIX}{}", self.name())
    }

    /// The event of a ledger entry of `kind` (as stored) written for `reason`. The two
    /// movements that share a kind with another are told apart by the reasons the store
    /// gives them: a partner's webhook award and the sweep's expiry of a hold.
    pub fn of_entry(kind: &str, reason: &str) -> Option<Self> {
        Some(match (kind, reason) {
            ("earn", PARTNER_BONUS_REASON) => EventType::PartnerBonusAwarded,
            ("earn", _) => EventType::PointsEarned,
            ("redeem", _) => EventType::PointsRedeemed,
            ("reverse", _) => EventType::PointsReversed,
            ("transfer", _) => EventType::PointsTransferred,
            ("expire", _) => EventType::PointsExpired,
            ("adjust", _) => EventType::PointsAdjusted,
            ("hold", _) => EventType::HoldCreated,
            ("capture", _) => EventType::HoldCaptured,
            ("void", HOLD_EXPIRED_REASON) => EventType::HoldExpired,
            ("void", _) => EventType::HoldVoided,
            _ => return None,
        })
    }
}

/// The reason of a partner's webhook award (`store::partner_bonus`).
pub const PARTNER_BONUS_REASON: &str = "partner bonus";
/// The reason of a hold released by the expiry sweep (`store::holds`).
pub const HOLD_EXPIRED_REASON: &str = "hold expired";

/// The reason of a hold voided because its member was erased (`store::erasure`).
pub const ERASURE_VOID_REASON: &str = "hold voided on erasure";
/// The reason of the entry that forfeits an erased member's points (`store::erasure`).
pub const ERASURE_FORFEIT_REASON: &str = "points forfeited on erasure";

/// One event, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub kind: EventType,
    pub member_id: Uuid,
    /// The member's ledger seq this event follows from: the per-member order.
    pub member_seq: i64,
    pub region: String,
    pub time: DateTime<Utc>,
    pub data: Value,
}

impl Event {
    /// The CloudEvents 1.0 JSON of this event. `memberseq` is an extension attribute (an
    /// integer): a consumer orders one member's events by it.
    pub fn to_cloudevent(&self) -> Value {
        json!({
            "specversion": "1.0",
            "id": self.id,
            "source": format!("/regions/{}", self.region),
            "type": self.kind.type_name(),
            "subject": self.member_id,
            "time": self.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            "datacontenttype": "application/json",
            "memberseq": self.member_seq,
            "data": self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_kind_has_an_event_and_the_names_are_distinct() {
        let kinds = [
            "earn", "redeem", "reverse", "transfer", "expire", "adjust", "hold", "capture", "void",
        ];
        assert!(kinds.iter().all(|k| EventType::of_entry(k, "x").is_some()));
        assert_eq!(
            EventType::of_entry("earn", "partner bonus"),
            Some(EventType::PartnerBonusAwarded)
        );
        assert_eq!(
            EventType::of_entry("void", "hold expired"),
            Some(EventType::HoldExpired)
        );
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
    }

    #[test]
    fn every_event_type_is_one_a_partner_can_subscribe_to_and_back() {
        use loyalty_crds::partner::SubscribedEvent;
        for t in EventType::ALL {
            let named: SubscribedEvent = serde_json::from_value(t.name().into())
                .unwrap_or_else(|_| panic!("{} is not in the CRD", t.name()));
            assert_eq!(named.name(), t.name());
        }
        assert_eq!(SubscribedEvent::ALL.len(), EventType::ALL.len());
    }

    #[test]
    fn the_cloudevent_has_the_required_attributes_and_the_member_as_subject() {
        let member = Uuid::from_u128(7);
        let event = Event {
            id: Uuid::from_u128(1),
            kind: EventType::PointsEarned,
            member_id: member,
            member_seq: 3,
            region: "eu-west-1".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            data: json!({"points": 5}),
        };
        let ce = event.to_cloudevent();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["type"], "travel.loyalty.points.earned");
        assert_eq!(ce["source"], "/regions/eu-west-1");
        assert_eq!(ce["subject"], json!(member));
        assert_eq!(ce["time"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(ce["memberseq"], 3);
    }
}
