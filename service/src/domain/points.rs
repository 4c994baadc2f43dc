//! Points: a strictly positive, bounded amount used in requests and movements.

use super::Invalid;

/// The largest number of points one operation may move. Bounding every amount keeps the
/// sums of many operations far from `i64::MAX`, so balance arithmetic cannot overflow in
/// practice; it is still checked everywhere.
pub const MAX_POINTS_PER_OPERATION: i64 = 1_000_000_000;

/// A positive number of points, at most [`MAX_POINTS_PER_OPERATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(i64);

impl Points {
    pub fn new(value: i64) -> Result<Self, Invalid> {
        if value <= 0 {
            return Err(Invalid::new("invalid_points", "points must be positive"));
        }
        if value > MAX_POINTS_PER_OPERATION {
            return Err(Invalid::new(
                "points_too_large",
                format!("points must be at most {MAX_POINTS_PER_OPERATION}"),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_reject_zero_negative_and_oversized_values() {
        assert_eq!(Points::new(0).unwrap_err().code, "invalid_points");
        assert_eq!(Points::new(-5).unwrap_err().code, "invalid_points");
        assert_eq!(Points::new(i64::MAX).unwrap_err().code, "points_too_large");
        assert_eq!(
            Points::new(MAX_POINTS_PER_OPERATION).unwrap().get(),
            MAX_POINTS_PER_OPERATION
        );
    }
}
