//! A booking's spend: the programme's one [`Money`] type (minor units of an ISO 4217
//! currency, shared with the CRDs), checked to be positive and bounded.

pub use loyalty_crds::common::{CurrencyCode, Money};

use super::Invalid;

/// The largest spend accepted in minor units (10^13, e.g. 100 billion EUR in cents).
/// Keeps every intermediate product of the earn calculation inside `i128` by a wide margin.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// A positive amount of money, at most [`MAX_AMOUNT_MINOR`] minor units. Whether the
/// programme knows the currency is decided against the rates table, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend(Money);

impl Spend {
    pub fn new(amount_minor: i64, currency: &str) -> Result<Self, Invalid> {
        let currency = CurrencyCode::new(currency).map_err(|_| {
            Invalid::new(
                "invalid_currency",
                "currency must be a three-letter upper-case ISO-4217 code",
            )
        })?;
        Ok(Self(Money {
            amount_minor: amount_minor_in_range(amount_minor)?,
            currency,
        }))
    }

    pub fn money(&self) -> &Money {
        &self.0
    }

    pub fn amount_minor(&self) -> i64 {
        self.0.amount_minor
    }

    pub fn currency(&self) -> &CurrencyCode {
        &self.0.currency
    }
}

/// An amount of money in minor units: positive, at most [`MAX_AMOUNT_MINOR`].
pub fn amount_minor_in_range(amount_minor: i64) -> Result<i64, Invalid> {
    if amount_minor <= 0 {
        return Err(Invalid::new(
            "invalid_amount",
            "amount_minor must be positive",
        ));
    }
    if amount_minor > MAX_AMOUNT_MINOR {
        return Err(Invalid::new(
            "amount_too_large",
            format!("amount_minor must be at most {MAX_AMOUNT_MINOR}"),
        ));
    }
    Ok(amount_minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_rejects_bad_amounts_and_codes() {
        assert_eq!(Spend::new(0, "EUR").unwrap_err().code, "invalid_amount");
        assert_eq!(Spend::new(-1, "EUR").unwrap_err().code, "invalid_amount");
        assert_eq!(
            Spend::new(i64::MAX, "EUR").unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(Spend::new(100, "eur").unwrap_err().code, "invalid_currency");
        assert_eq!(
            Spend::new(100, "EURO").unwrap_err().code,
            "invalid_currency"
        );
        assert_eq!(Spend::new(100, "EUR").unwrap().amount_minor(), 100);
    }
}
