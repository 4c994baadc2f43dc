//! Money in minor units with an ISO-4217 currency code.

use super::Invalid;

/// The largest spend accepted in minor units (10^13, e.g. 100 billion EUR in cents).
/// Keeps every intermediate product of the earn calculation inside `i128` by a wide margin.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// A three-letter upper-case ISO-4217 code. Whether the programme knows the currency is
/// decided against the rates table, not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "invalid_currency",
                "currency must be a three-letter upper-case ISO-4217 code",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A positive amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    amount_minor: i64,
    currency: CurrencyCode,
}

impl Money {
    pub fn new(amount_minor: i64, currency: &str) -> Result<Self, Invalid> {
        let currency = CurrencyCode::parse(currency)?;
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
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> &CurrencyCode {
        &self.currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rejects_bad_amounts_and_codes() {
        assert_eq!(Money::new(0, "EUR").unwrap_err().code, "invalid_amount");
        assert_eq!(Money::new(-1, "EUR").unwrap_err().code, "invalid_amount");
        assert_eq!(
            Money::new(i64::MAX, "EUR").unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(Money::new(100, "eur").unwrap_err().code, "invalid_currency");
        assert_eq!(
            Money::new(100, "EURO").unwrap_err().code,
            "invalid_currency"
        );
        assert_eq!(Money::new(100, "EUR").unwrap().amount_minor(), 100);
    }
}
